#!/usr/bin/env python3
"""Explainer cost against city size: synthetic evidence replayed at 2,300 / 23,000 / 230,000 hotspots.

The city is Semarang repeated side by side (ids suffixed, positions shifted; the topology of each
copy is Semarang's), one explainer for the whole of it — the hardest case: a deployment runs one
explainer per city. For each size, in one run, the current explainer and the one before this
change (``--peer REV``, read from git: it walked the whole city every tick) are given the same
evidence: a settled city (every element up and energized), then ticks of a quiet minute, then a
substation trip (its feeders and transformers de-energized, its hotspots down) decided to an
incident, then one device failure.

Columns: explainer init, a quiet tick, a tick during the big outage, the time from the trip's
evidence to the incident being opened (CPU, one tick per "second" of evidence), a tick with one
device fault — milliseconds, median over the ticks. The cost of a tick must follow the evidence
(the outage), not the city.

Usage: bench/explainer_scale.py [--sizes 1,10,100] [--peer HEAD~1]
Ends with: RESULT hotspots=… quiet_tick_ms=… outage_tick_ms=… decision_ms=… peer_quiet_tick_ms=…
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hotspots.inventory import Inventory, load_inventory, resolve_city  # noqa: E402
from outages import explainer as current  # noqa: E402


def replicate(base: Inventory, n: int) -> Inventory:
    """``n`` copies of ``base`` side by side as one city (copy 0 keeps the original ids)."""
    if n == 1:
        return base

    def sfx(ident: str | None, k: int) -> str | None:
        return ident if ident is None or k == 0 else f"{ident}x{k}"

    subs, feeders, trs, sws, hs = {}, {}, {}, {}, {}
    for k in range(n):
        dlat, dlon = (k // 10) * 0.25, (k % 10) * 0.25  # each copy ~25 km from the next
        for s in base.substations.values():
            x = dataclasses.replace(s, id=sfx(s.id, k), lat=s.lat + dlat, lon=s.lon + dlon)
            subs[x.id] = x
        for f in base.feeders.values():
            x = dataclasses.replace(f, id=sfx(f.id, k), substation=sfx(f.substation, k))
            feeders[x.id] = x
        for t in base.transformers.values():
            x = dataclasses.replace(t, id=sfx(t.id, k), feeder=sfx(t.feeder, k), lat=t.lat + dlat, lon=t.lon + dlon)
            trs[x.id] = x
        for s in base.switches.values():
            x = dataclasses.replace(s, id=sfx(s.id, k), parent=sfx(s.parent, k))
            sws[x.id] = x
        for h in base.hotspots.values():
            x = dataclasses.replace(
                h,
                id=sfx(h.id, k),
                switch=sfx(h.switch, k),
                transformer=sfx(h.transformer, k),
                lat=h.lat + dlat,
                lon=h.lon + dlon,
            )
            hs[x.id] = x
    return dataclasses.replace(
        base, substations=subs, feeders=feeders, transformers=trs, switches=sws, hotspots=hs, controllers={}
    )


def peer_module(rev: str):
    """The explainer as it was at ``rev`` (git), imported under another name."""
    src = subprocess.run(
        ["git", "show", f"{rev}:outages/explainer.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    f = Path(tempfile.mkdtemp()) / "explainer_peer.py"
    f.write_text(src)
    spec = importlib.util.spec_from_file_location("explainer_peer", f)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["explainer_peer"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def run(mod, inv: Inventory, sub: str) -> dict:
    s = mod.Settings(poll_interval_s=30, telemetry_interval_s=10)
    t = time.perf_counter()
    ex = mod.Explainer(inv, s)
    init_s = time.perf_counter() - t
    t0 = 1_800_000_000.0
    for h in inv.hotspots:
        ex.feed(t0, "health", f"hotspot:{h}", {"kind": "state", "old": "unknown", "new": "up"})
    for sw in inv.switches:
        ex.feed(t0, "health", f"switch:{sw}", {"kind": "state", "old": "unknown", "new": "up"})
    for kind in ("feeder", "transformer"):
        for ident in inv.of_kind(kind):
            ex.feed(t0, "grid", f"{kind}:{ident}", {"new": "energized"})

    def tick(at: float) -> float:
        a = time.perf_counter()
        ex.tick(at)
        return (time.perf_counter() - a) * 1000

    ex.tick(t0 + 1)
    quiet = [tick(t0 + 2 + i) for i in range(60)]
    # the substation trips: feeders and transformers de-energized, then their hotspots go dark
    tt = t0 + 100
    for f in inv.feeders_of_substation[sub]:
        ex.feed(tt, "grid", f"feeder:{f}", {"new": "de-energized"})
        for tr in inv.transformers_of_feeder.get(f, []):
            ex.feed(tt + 0.5, "grid", f"transformer:{tr}", {"new": "de-energized"})
    dark = [h for h in inv.hotspots_below(f"substation:{sub}") if inv.hotspots[h].ups_minutes == 0]
    for i, h in enumerate(dark):
        ex.feed(tt + 1 + i * 0.01, "health", f"hotspot:{h}", {"kind": "suspect"})
    outage, decided_ms, cpu = [], None, 0.0
    for i in range(40):
        if i == 5:
            for h in dark:
                ex.feed(tt + 6, "health", f"hotspot:{h}", {"kind": "state", "old": "up", "new": "down"})
        ms = tick(tt + 1 + i)
        outage.append(ms)
        cpu += ms
        if decided_ms is None and any(
            i.root.endswith(sub) or i.root == f"substation:{sub}" for i in ex.open_incidents()
        ):
            decided_ms = cpu
    # one device failure elsewhere
    other = next(h for h in inv.hotspots if h not in set(dark) and inv.hotspots[h].ups_minutes == 0)
    ex.feed(tt + 50, "health", f"hotspot:{other}", {"kind": "state", "old": "up", "new": "down"})
    device = [tick(tt + 50 + i) for i in range(40)]
    roots = sorted((i.cause, i.root) for i in ex.open_incidents())
    return {
        "init_s": init_s,
        "quiet_ms": statistics.median(quiet),
        "outage_ms": statistics.median(outage),
        "decision_ms": decided_ms,
        "device_ms": statistics.median(device),
        "dark": len(dark),
        "roots": roots,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,10,100", help="copies of Semarang (2,300 hotspots each)")
    ap.add_argument("--peer", default="6b2e408", help="git revision of the explainer to compare with")
    ap.add_argument("--substation", default="SRD")
    args = ap.parse_args()
    base = load_inventory(resolve_city("semarang"))
    peer = peer_module(args.peer)
    rows = []
    for n in [int(x) for x in args.sizes.split(",")]:
        inv = replicate(base, n)
        cur = run(current, inv, args.substation)
        pr = run(peer, inv, args.substation) if n <= 10 else None  # the peer at 230,000: minutes per tick
        assert pr is None or cur["roots"] == pr["roots"], (cur["roots"], pr["roots"])
        rows.append((len(inv.hotspots), cur, pr))
        print(f"  {len(inv.hotspots)} hotspots done", flush=True)
    print()
    print(
        "| hotspots | init s | quiet tick ms | outage tick ms (hotspots dark) | trip → incident, CPU ms | device tick ms "
        "| peer quiet tick ms | peer outage tick ms | peer trip → incident ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n, c, p in rows:
        print(
            f"| {n:,} | {c['init_s']:.2f} | {c['quiet_ms']:.3f} | {c['outage_ms']:.2f} ({c['dark']}) | "
            f"{c['decision_ms']:.1f} | {c['device_ms']:.3f} | "
            + (f"{p['quiet_ms']:.2f} | {p['outage_ms']:.2f} | {p['decision_ms']:.1f} |" if p else "- | - | - |")
        )
    n, c, p = rows[-1]
    print(
        f"RESULT hotspots={n} quiet_tick_ms={c['quiet_ms']:.3f} outage_tick_ms={c['outage_ms']:.2f} "
        f"decision_ms={c['decision_ms']:.1f} device_tick_ms={c['device_ms']:.3f} "
        f"peer_quiet_tick_ms={rows[1][2]['quiet_ms'] if len(rows) > 1 and rows[1][2] else float('nan'):.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
