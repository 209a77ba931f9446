"""The sink interface collectors write to. Collectors never talk to InfluxDB themselves.

A sink accepts :class:`~store.lineprotocol.Point` objects (a pure data type with its encoder,
no I/O) and must not block the caller for long. The runtime wires a sink to the store
(:class:`store.sink.BatchingSink`); unit tests use :class:`MemorySink`.
"""

from __future__ import annotations

from typing import Iterable, Protocol

from store.lineprotocol import Point

__all__ = ["Point", "Sink", "MemorySink"]


class Sink(Protocol):
    def write(self, points: Iterable[Point]) -> None: ...


class MemorySink:
    """Keeps every point in a list (tests, dry runs)."""

    def __init__(self) -> None:
        self.points: list[Point] = []

    def write(self, points: Iterable[Point]) -> None:
        self.points.extend(points)
