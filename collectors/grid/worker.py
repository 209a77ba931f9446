"""A shared-subscription ingest worker process (``GridCollector(workers=N)``).

Each worker joins ``$share/<group>/<telemetry filter>`` with its own fixed client id and
persistent session, its own durable sink (spool and writer, opened from the ``spools`` the main
process hands over), and sends a compact digest of every accepted reading (and its counters) to
the main process, which owns the grid state. It dies with its parent (``PR_SET_PDEATHSIG``), so
a killed Pantau never leaves a worker holding the session.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
from pathlib import Path


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def worker_main(params: dict, conn) -> None:
    _die_with_parent()
    if os.getppid() == 1:
        return
    logging.basicConfig(
        level=params.get("log_level", logging.INFO),
        format=f"%(asctime)s %(levelname)s %(name)s[w{params['index']}]: %(message)s",
    )
    try:
        asyncio.run(_run(params, conn))
    except KeyboardInterrupt:
        pass


async def _run(params: dict, conn) -> None:
    from collectors.grid.config import load_grid_config
    from collectors.grid.deadletters import DeadLetters
    from collectors.grid.ingest import Ingest
    from collectors.grid.mqtt import BrokerConf, MqttSession
    from hotspots.inventory import load_inventory

    inv = load_inventory(params["city_path"])
    cfg = load_grid_config(inv.city, params["grid_file"])
    state = Path(params["state_dir"])
    name = f"w{params['index']}"
    spool = params["spools"].open(name)
    dead = DeadLetters(state / "deadletters", name)
    ingest = Ingest(cfg, inv, spool, dead)
    s = cfg.session
    session = MqttSession(
        BrokerConf(**params["broker"]),
        f"{cfg.fmt(s.client_id)}-{name}",
        [(f"$share/{cfg.fmt(s.share_group)}/{cfg.telemetry.filter()}", cfg.file.telemetry.qos)],
        session_expiry_s=s.session_expiry_s,
        receive_maximum=s.worker_receive_maximum,
        keepalive=s.keepalive_s,
        max_pending=s.max_pending,
    )
    session.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def send(kind, body):
        try:
            conn.send((kind, body))
        except (BrokenPipeError, OSError):
            stop.set()

    def on_outcome(out):
        if out.readings:
            send("r", [r.digest() for r in out.readings])

    async def report():
        while True:
            st = ingest.stats()
            st.update(
                session=session.stats(),
                written=spool.written,
                influx_available=spool.available,
                influx=spool.influx_state(),
            )
            send("s", st)
            if os.getppid() == 1:
                stop.set()
            await asyncio.sleep(0.2 if not session.subscribed.is_set() else 1.0)

    tasks = [asyncio.create_task(ingest.run(session, on_outcome, s.batch_ms / 1000)), asyncio.create_task(report())]
    await stop.wait()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await session.stop()
    spool.close()
    dead.close()
