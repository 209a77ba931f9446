"""Rates from SNMP counters, done right.

- Counter64 preferred (the profile falls back to Counter32 per row when the agent lacks it).
- A Counter32 that goes backwards wrapped once: delta + 2^32. A Counter64 never wraps in
  practice: going backwards is a counter reset (discontinuity), no rate.
- A switch between 32- and 64-bit sources, or a reboot (caller: :meth:`CounterTracker.reset`),
  restarts the series: no rate until the next sample.
- A rate above the row's limit (ifSpeed for octets: delta larger than ifSpeed × Δt) is discarded
  and counted as ``absurd``, never stored.
"""

from __future__ import annotations

from dataclasses import dataclass

WRAP32 = 2**32


@dataclass
class CounterStats:
    rates: int = 0
    wraps: int = 0
    resets: int = 0
    absurd: int = 0


class CounterTracker:
    """Last value per counter key for one target."""

    __slots__ = ("last", "stats")

    def __init__(self, stats: CounterStats | None = None):
        self.last: dict[tuple, tuple[int, int, float]] = {}
        self.stats = stats or CounterStats()

    def reset(self) -> None:
        self.last.clear()

    def rate(
        self, key: tuple, value: int, bits: int, t: float, multiplier: float = 1.0, limit: float | None = None
    ) -> float | None:
        """Per-second rate × multiplier since the previous sample of ``key``, or None."""
        prev = self.last.get(key)
        self.last[key] = (value, bits, t)
        if prev is None:
            return None
        pv, pbits, pt = prev
        dt = t - pt
        if pbits != bits or dt <= 0:
            self.stats.resets += 1
            return None
        delta = value - pv
        if delta < 0:
            if bits == 32:
                delta += WRAP32
                self.stats.wraps += 1
            else:
                self.stats.resets += 1
                return None
        r = delta / dt * multiplier
        if limit is not None and limit > 0 and r > limit * 1.02:  # 2 %: poll-time jitter
            self.stats.absurd += 1
            return None
        self.stats.rates += 1
        return r
