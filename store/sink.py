"""BatchingSink: the runtime's sink from collectors to InfluxDB.

Points are encoded at once (a bad point raises in the caller, with its measurement named),
queued, and written by one background thread in batches of up to ``batch_lines`` lines or
every ``flush_interval`` seconds. When InfluxDB is unreachable the batch is kept and retried
with exponential backoff (capped), so data waits and arrives later; the queue is bounded
(``max_buffered_lines``) and what could not be kept is counted in ``dropped``.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Iterable

from store.lineprotocol import Point
from store.timeseries import InfluxError, InfluxState, InfluxUnavailable, InfluxV1

log = logging.getLogger("pantau.store")


class BatchingSink:
    def __init__(
        self,
        db: InfluxV1,
        batch_lines: int = 5000,
        flush_interval: float = 1.0,
        max_buffered_lines: int = 2_000_000,
        max_backoff: float = 30.0,
    ):
        self.db = db
        self.batch_lines = batch_lines
        self.flush_interval = flush_interval
        self.max_buffered_lines = max_buffered_lines
        self.max_backoff = max_backoff
        self._buf: collections.deque[str] = collections.deque()
        self._cond = threading.Condition()
        self._stop = False
        self._inflight = 0
        self.written = 0
        self.dropped = 0
        self.rejected_batches = 0
        self.write_errors = 0
        self.available = True
        self.influx = InfluxState()
        self._thread = threading.Thread(target=self._run, name="influx-writer", daemon=True)
        self._thread.start()

    def write(self, points: Iterable[Point]) -> None:
        lines = [p.to_line() for p in points]
        if not lines:
            return
        with self._cond:
            room = self.max_buffered_lines - len(self._buf)
            if room < len(lines):
                self.dropped += len(lines) - max(room, 0)
                lines = lines[: max(room, 0)]
                log.error("InfluxDB buffer full (%d lines): dropping points", self.max_buffered_lines)
            self._buf.extend(lines)
            if len(self._buf) >= self.batch_lines:
                self._cond.notify()

    @property
    def pending(self) -> int:
        return len(self._buf) + self._inflight

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued so far is written; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._cond.notify()
        while self.pending and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.pending == 0

    def close(self, timeout: float = 10.0) -> None:
        self.flush(timeout)
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        backoff = 0.5
        while True:
            with self._cond:
                if not self._buf and not self._stop:
                    self._cond.wait(self.flush_interval)
                if self._stop and not self._buf:
                    return
                n = min(len(self._buf), self.batch_lines)
                batch = [self._buf.popleft() for _ in range(n)]
                self._inflight = n
            if not batch:
                continue
            try:
                self.db.write_lines(batch)
                self.written += len(batch)
                if self.influx.set(InfluxState.OK):
                    log.info("InfluxDB accepts Pantau's writes again; writing the backlog")
                self.available = True
                backoff = 0.5
            except InfluxUnavailable as exc:
                with self._cond:
                    self._buf.extendleft(reversed(batch))
                    self._inflight = 0
                if self.influx.set(InfluxState.of(exc), str(exc)):
                    log.warning("%s; keeping %d lines until it accepts them", exc, len(self._buf))
                self.available = False
                self.write_errors += 1
                time.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
            except InfluxError as exc:
                # The server refused the batch (e.g. a field type conflict). Retrying would fail
                # again: keep the count, log the reason once per batch.
                self.rejected_batches += 1
                log.error("InfluxDB rejected a batch of %d lines: %s", len(batch), exc)
            finally:
                self._inflight = 0
