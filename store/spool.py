"""A durable, bounded, ordered spool of line-protocol lines in front of InfluxDB.

Write side (the ingest loop): ``append(lines)`` then ``commit()`` — after ``commit`` returns the
lines are on disk (fsync) and the caller may acknowledge the messages they came from.
Read side (one background thread, :class:`SpoolWriter`): reads committed lines in order, writes
them to InfluxDB in batches, and only then advances a persisted cursor. So:

- InfluxDB down: lines stay in the spool and are replayed in order when it returns;
- Pantau killed: on restart the writer resumes from the cursor; a torn (uncommitted, never
  acknowledged) tail is cut off; a batch written just before the kill may be written twice,
  which InfluxDB absorbs (same series + timestamp = same point);
- bounded: when the unsent part reaches ``max_bytes`` the spool reports ``full`` and the ingest
  stops acknowledging (the broker keeps the messages queued) instead of dropping anything.

Layout: ``<dir>/seg-<n>.lp`` files of up to ``segment_bytes`` each, and ``cursor`` =
``"<segment> <offset>"``. Lines InfluxDB refuses (HTTP 400: a type conflict, say) are moved to
``<dir>/rejected.lp`` with the reason logged, never silently dropped.

Collectors get neither class: the runtime hands them a :class:`SpoolSinks` (built from an
:class:`~store.timeseries.InfluxConf`), and each process opens its :class:`SpoolSink` — spool,
writer thread and InfluxDB client in one object whose write side is the spool's
(:class:`collectors.sink.DurableSink`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from store.timeseries import InfluxConf, InfluxError, InfluxState, InfluxUnavailable

log = logging.getLogger("pantau.spool")


class Spool:
    def __init__(self, directory: Path, max_bytes: int = 1 << 30, segment_bytes: int = 16 << 20):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self._lock = threading.Condition()
        self.cursor = self._load_cursor()
        segs = self._segments()
        if segs:
            self._seg = segs[-1]
        else:
            self._seg = max(self.cursor[0], 0)
        for s in segs:
            self._trim_torn_tail(s)
        self._f = open(self._path(self._seg), "ab")
        self._committed = {s: self._path(s).stat().st_size for s in self._segments()}
        self.appended_lines = 0
        self.committed_lines = 0

    # --- layout ---------------------------------------------------------------------------------
    def _path(self, seg: int) -> Path:
        return self.dir / f"seg-{seg:08d}.lp"

    def _segments(self) -> list[int]:
        out = []
        for p in self.dir.glob("seg-*.lp"):
            try:
                out.append(int(p.stem.split("-", 1)[1]))
            except ValueError:
                continue
        return sorted(out)

    def _load_cursor(self) -> tuple[int, int]:
        try:
            seg, off = (self.dir / "cursor").read_text().split()
            return int(seg), int(off)
        except (OSError, ValueError):
            segs = self._segments()
            return (segs[0] if segs else 0), 0

    def _trim_torn_tail(self, seg: int) -> None:
        p = self._path(seg)
        size = p.stat().st_size
        if not size:
            return
        with open(p, "rb+") as f:
            f.seek(max(0, size - 65536))
            tail = f.read()
            if tail.endswith(b"\n"):
                return
            cut = tail.rfind(b"\n")
            keep = size - len(tail) + cut + 1 if cut >= 0 else (0 if size <= 65536 else size)
            log.warning("spool %s: cutting a torn tail of %d bytes (never acknowledged)", p.name, size - keep)
            f.truncate(keep)

    # --- write side -----------------------------------------------------------------------------
    def append(self, lines: list[str]) -> None:
        if not lines:
            return
        self._f.write(("\n".join(lines) + "\n").encode())
        self.appended_lines += len(lines)

    def commit(self) -> None:
        """Make everything appended so far durable and visible to the writer."""
        self._f.flush()
        os.fsync(self._f.fileno())
        with self._lock:
            self._committed[self._seg] = self._f.tell()
            self.committed_lines = self.appended_lines
            if self._f.tell() >= self.segment_bytes:
                self._f.close()
                self._seg += 1
                self._f = open(self._path(self._seg), "ab")
                self._committed[self._seg] = 0
            self._lock.notify_all()

    @property
    def backlog_bytes(self) -> int:
        """Committed bytes not yet written to InfluxDB."""
        seg, off = self.cursor
        with self._lock:
            return sum(size - (off if s == seg else 0) for s, size in self._committed.items() if s >= seg)

    @property
    def full(self) -> bool:
        return self.backlog_bytes >= self.max_bytes

    def close(self) -> None:
        try:
            self.commit()
        except ValueError:
            pass
        self._f.close()

    # --- read side (the writer thread) ----------------------------------------------------------
    def read_batch(self, max_lines: int, wait: float) -> tuple[list[str], tuple[int, int]]:
        """Up to ``max_lines`` committed lines from the cursor, and the cursor after them."""
        with self._lock:
            seg, off = self.cursor
            if self._committed.get(seg, 0) <= off and not any(s > seg for s in self._committed):
                self._lock.wait(wait)
            seg, off = self.cursor
            end = self._committed.get(seg, 0)
            later = any(s > seg for s in self._committed)
        if off >= end:
            if later:  # this segment is finished: move on
                return [], (seg + 1, 0)
            return [], (seg, off)
        with open(self._path(seg), "rb") as f:
            f.seek(off)
            data = f.read(min(end - off, max_lines * 400 + 4096))
        cut = data.rfind(b"\n")
        if cut < 0:
            return [], (seg, off)
        chunk = data[: cut + 1]
        lines = chunk.decode().splitlines()
        if len(lines) > max_lines:
            lines = lines[:max_lines]
            chunk_len = sum(len(x.encode()) + 1 for x in lines)
        else:
            chunk_len = len(chunk)
        return lines, (seg, off + chunk_len)

    def advance(self, cursor: tuple[int, int]) -> None:
        old_seg = self.cursor[0]
        tmp = self.dir / "cursor.tmp"
        tmp.write_text(f"{cursor[0]} {cursor[1]}")
        tmp.replace(self.dir / "cursor")
        with self._lock:
            self.cursor = cursor
            for s in [s for s in self._committed if s < cursor[0]]:
                del self._committed[s]
        for s in range(old_seg, cursor[0]):
            if s != self._seg:
                try:
                    self._path(s).unlink()
                except FileNotFoundError:
                    pass

    def reject(self, lines: list[str], reason: str) -> None:
        with open(self.dir / "rejected.lp", "a") as f:
            f.write(f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {reason[:300]}\n")
            f.write("\n".join(lines) + "\n")


class SpoolWriter:
    """The one thread that drains a :class:`Spool` into InfluxDB, in order, waiting out outages."""

    def __init__(self, spool: Spool, db, batch_lines: int = 5000, max_backoff: float = 10.0, linger_s: float = 0.25):
        self.spool = spool
        self.db = db
        self.batch_lines = batch_lines
        # a short batch waits this long for more commits to join it: the ingest commits every few
        # messages, and one HTTP write per commit cost the writer thread ~7% of a core for one
        # city's ~40 readings/s (Telegraf's and influxdb-client's flush interval, kept short)
        self.linger_s = linger_s
        self.posts = 0
        self.max_backoff = max_backoff
        self.written = 0
        self.rejected = 0
        self.write_errors = 0
        self.available = True
        self.last_write_at = 0.0
        self.influx = InfluxState()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="spool-writer", daemon=True)

    def start(self) -> "SpoolWriter":
        self._thread.start()
        return self

    def stop(self, drain_timeout: float = 5.0) -> None:
        deadline = time.monotonic() + drain_timeout
        while self.spool.backlog_bytes and self.available and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stop.set()
        with self.spool._lock:
            self.spool._lock.notify_all()
        self._thread.join(5)

    def _run(self) -> None:
        backoff = 0.25
        while not self._stop.is_set():
            lines, nxt = self.spool.read_batch(self.batch_lines, wait=0.2)
            if not lines:
                if nxt != self.spool.cursor:
                    self.spool.advance(nxt)
                continue
            if len(lines) < self.batch_lines and self.linger_s > 0 and self.available:
                self._stop.wait(self.linger_s)
                lines, nxt = self.spool.read_batch(self.batch_lines, wait=0.0)  # from the same cursor
            try:
                self.posts += 1
                self.db.write_lines(lines)
            except InfluxUnavailable as exc:
                self.write_errors += 1
                if self.influx.set(InfluxState.of(exc), str(exc)):
                    log.warning("%s; spooling to %s (%d bytes waiting)", exc, self.spool.dir, self.spool.backlog_bytes)
                self.available = False
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            except InfluxError as exc:
                self.rejected += len(lines)
                log.error(
                    "InfluxDB refused %d spooled lines (kept in %s/rejected.lp): %s", len(lines), self.spool.dir, exc
                )
                self.spool.reject(lines, str(exc))
            else:
                self.written += len(lines)
                self.last_write_at = time.time()
                if self.influx.set(InfluxState.OK):
                    log.info(
                        "InfluxDB accepts Pantau's writes again; replaying the spool (%d bytes)",
                        self.spool.backlog_bytes,
                    )
                self.available = True
                backoff = 0.25
            self.spool.advance(nxt)


class SpoolSink:
    """One process's durable sink: a :class:`Spool`, the :class:`SpoolWriter` thread draining it and
    the InfluxDB client it writes with. Opened by :meth:`SpoolSinks.open`; ``close`` drains briefly,
    stops the writer and closes the spool and the client.

    Write side (the collector's): ``append``, ``commit`` (fsync: acknowledge after it returns),
    ``full``, ``backlog_bytes``. Status: ``written``, ``available`` and ``influx_state()`` (the
    writer's :class:`~store.timeseries.InfluxState`: credentials refused is an outage, waited out)."""

    def __init__(self, spool: Spool, db) -> None:
        self.spool = spool
        self.db = db
        self.writer = SpoolWriter(spool, db)

    def start(self) -> "SpoolSink":
        self.writer.start()
        return self

    @property
    def dir(self) -> Path:
        return self.spool.dir

    def append(self, lines: list[str]) -> None:
        self.spool.append(lines)

    def commit(self) -> None:
        self.spool.commit()

    @property
    def full(self) -> bool:
        return self.spool.full

    @property
    def backlog_bytes(self) -> int:
        return self.spool.backlog_bytes

    @property
    def written(self) -> int:
        return self.writer.written

    @property
    def available(self) -> bool:
        return self.writer.available

    def influx_state(self) -> dict:
        return self.writer.influx.as_dict()

    def close(self) -> None:
        self.writer.stop()
        self.spool.close()
        self.db.close()


@dataclass(frozen=True)
class SpoolSinks:
    """Where a collector that acknowledges after fsync (the grid ingest) gets its sinks: one
    :class:`SpoolSink` per process, ``<directory>/<name>``, each draining to the InfluxDB of
    ``influx``. The store builds the client and the writer; the collector only writes.

    Picklable, secrets included: a worker process gets it through multiprocessing's pipe (spawn),
    never argv, and opens its own sink."""

    influx: InfluxConf
    directory: Path
    max_bytes: int = 1 << 30

    def open(self, name: str) -> SpoolSink:
        spool = Spool(Path(self.directory) / name, max_bytes=self.max_bytes)
        return SpoolSink(spool, self.influx.client()).start()

    @staticmethod
    def worst(states: Iterable[dict]) -> dict:
        """The worst of several sinks' ``influx_state()`` (refused, then unavailable, then ok)."""
        return InfluxState.worst(states)
