"""The collector's own punctuality: LoopWatch measures how late the event loop runs and what the
garbage collector's pauses cost (the status file's ``loop_lag_ms`` and ``gc``)."""

from __future__ import annotations

import asyncio
import gc
import logging
import time

from pantau.service import LoopWatch


def test_a_stalled_loop_and_gc_pauses_are_measured_and_the_stall_logged_once(caplog):
    caplog.set_level(logging.WARNING, logger="pantau.service")

    async def run() -> dict:
        w = LoopWatch(every_s=0.05, warn_ms=200)
        w.start()
        await asyncio.sleep(0.5)
        time.sleep(0.4)  # a callback holding the loop, as a blocking call in a busy node would
        await asyncio.sleep(0.5)
        gc.collect()
        st = w.status()
        await w.stop()
        return st

    st = asyncio.run(run())
    assert st["loop_lag_ms"]["max"] >= 300, st
    assert st["loop_lag_ms"]["p50"] < 100, st
    assert st["gc"]["gen2"]["collections"] >= 1 and st["gc"]["gen2"]["pause_s"] > 0, st
    late = [r.getMessage() for r in caplog.records if "event loop" in r.getMessage()]
    assert len(late) == 2 and "late" in late[0] and "on time again" in late[1], late
    assert w_callbacks_removed()


def w_callbacks_removed() -> bool:
    return not any(getattr(cb, "__self__", None).__class__ is LoopWatch for cb in gc.callbacks)
