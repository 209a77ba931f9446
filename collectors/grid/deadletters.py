"""Dead letters: every message Pantau could not accept, kept with its reason for the NOC.

One JSON object per line in ``<dir>/<process>.jsonl``: ``at`` (UTC), ``topic``, ``reason`` (a code
from :data:`collectors.grid.payloads.REASONS`), ``detail``, ``size`` and the payload (UTF-8 text,
or base64 with ``"encoding": "base64"``; cut to ``keep_bytes``). Files rotate at ``max_bytes``
(``.1`` … ``.<keep_files>``), so the store is bounded; the per-reason counters are not.
Dead letters are fsynced with the spool before their messages are acknowledged.
``pantau grid deadletters`` reads them.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections import Counter
from pathlib import Path


class DeadLetters:
    def __init__(
        self,
        directory: Path,
        name: str = "main",
        max_bytes: int = 32 << 20,
        keep_files: int = 3,
        keep_bytes: int = 2048,
    ):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / f"{name}.jsonl"
        self.max_bytes, self.keep_files, self.keep_bytes = max_bytes, keep_files, keep_bytes
        self.counts: Counter[str] = Counter()
        self._f = open(self.path, "a", encoding="utf-8")
        self._dirty = False

    def add(self, topic: str, payload: bytes, reason: str, detail: str) -> None:
        self.counts[reason] += 1
        rec = {
            "at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
            "topic": topic,
            "reason": reason,
            "detail": detail[:500],
            "size": len(payload),
        }
        body = payload[: self.keep_bytes]
        try:
            rec["payload"] = body.decode("utf-8")
        except UnicodeDecodeError:
            rec["payload"] = base64.b64encode(body).decode()
            rec["encoding"] = "base64"
        if len(payload) > self.keep_bytes:
            rec["truncated"] = True
        self._f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self._dirty = True

    def commit(self) -> None:
        if not self._dirty:
            return
        self._f.flush()
        os.fsync(self._f.fileno())
        self._dirty = False
        if self._f.tell() >= self.max_bytes:
            self._rotate()

    def _rotate(self) -> None:
        self._f.close()
        for i in range(self.keep_files - 1, 0, -1):
            src = self.path.with_suffix(f".jsonl.{i}")
            if src.exists():
                src.replace(self.path.with_suffix(f".jsonl.{i + 1}"))
        self.path.replace(self.path.with_suffix(".jsonl.1"))
        self._f = open(self.path, "a", encoding="utf-8")

    def close(self) -> None:
        self.commit()
        self._f.close()


def read_dead_letters(directory: Path, reason: str | None = None, limit: int = 50) -> list[dict]:
    """The newest dead letters of every process in ``directory`` (newest last)."""
    out = []
    for p in sorted(Path(directory).glob("*.jsonl*")):
        with open(p, encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if reason is None or rec.get("reason") == reason:
                    out.append(rec)
    out.sort(key=lambda r: r.get("at", ""))
    return out[-limit:]
