"""The sink interfaces collectors write to. Collectors never talk to InfluxDB themselves.

A :class:`Sink` accepts :class:`~store.lineprotocol.Point` objects (a pure data type with its
encoder, no I/O) and must not block the caller for long. The runtime wires a sink to the store
(:class:`store.sink.BatchingSink`); unit tests use :class:`MemorySink`.

A :class:`DurableSink` is for a collector that may acknowledge its input only once it is on disk
(the grid ingest: MQTT QoS 1 acked after fsync). The store provides it
(:class:`store.spool.SpoolSink`, opened per process from a :class:`store.spool.SpoolSinks` the
runtime builds from the InfluxDB settings) and drains it to InfluxDB in order; unit tests of
the ingest pass a bare :class:`store.spool.Spool`, which has the write side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Protocol

from store.lineprotocol import Point

__all__ = ["Point", "Sink", "DurableSink", "DurableSinks", "MemorySink"]


class Sink(Protocol):
    def write(self, points: Iterable[Point]) -> None: ...


class DurableSink(Protocol):
    """``append`` line protocol, then ``commit``: when it returns the lines are durable and their
    messages may be acknowledged. While ``full`` the collector stops acknowledging. ``written``
    counts lines InfluxDB took, ``available`` is false while it cannot write; ``influx_state()`` is what the writer last saw of InfluxDB
    (``{"state": "ok" | "unavailable" | "credentials_refused", "since", "detail"}``)."""

    @property
    def dir(self) -> Path: ...

    @property
    def full(self) -> bool: ...

    @property
    def backlog_bytes(self) -> int: ...

    @property
    def written(self) -> int: ...

    @property
    def available(self) -> bool: ...

    def append(self, lines: list[str]) -> None: ...

    def commit(self) -> None: ...

    def influx_state(self) -> dict: ...

    def close(self) -> None: ...


class DurableSinks(Protocol):
    """Opens a process's :class:`DurableSink` by name (``main``, ``w0``, …). Picklable: a worker
    process receives it and opens its own."""

    def open(self, name: str) -> DurableSink: ...

    def worst(self, states: Iterable[dict]) -> dict: ...


class MemorySink:
    """Keeps every point in a list (tests, dry runs)."""

    def __init__(self) -> None:
        self.points: list[Point] = []

    def write(self, points: Iterable[Point]) -> None:
        self.points.extend(points)
