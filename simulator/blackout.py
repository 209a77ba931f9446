"""A state folder that looks like a city in a blackout, without running the city: the evidence a
collector would have seen (substations tripped, a switch down, a planned maintenance notice) fed to
the real explainer, its incidents stored in the real incident store, and a ``live.json`` as the
collecting process writes it. Used by API tests and ``bench/citizen_api.py``."""

from __future__ import annotations

import json
import time
from pathlib import Path

from outages.explainer import Explainer, Settings
from outages.store import IncidentStore


def build(inv, state_dir: Path, substations: tuple[str, ...] = ("SRD", "PDL"), switch: str | None = None,
          notice_feeder: str | None = None, now: float | None = None) -> dict:
    """Writes incidents.sqlite and live.json into ``state_dir``; returns what it did."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    now = now or time.time()
    t0 = now - 900
    changed, logrows, evidence = {}, [], []

    def on_change(incs, log):
        for i in incs:
            changed[i.id] = i.row()
        logrows.extend(log)

    ex = Explainer(inv, Settings(poll_interval_s=30, telemetry_interval_s=10), on_change=on_change)

    def feed(at, kind, el, data):
        ex.feed(at, kind, el, data)
        evidence.append((at, kind, el, data))

    for h in inv.hotspots:
        feed(t0, "health", f"hotspot:{h}", {"kind": "state", "old": "unknown", "new": "up"})
    for s in inv.switches:
        feed(t0, "health", f"switch:{s}", {"kind": "state", "old": "unknown", "new": "up"})
    for kind in ("substation", "feeder", "transformer"):
        for ident in inv.of_kind(kind):
            feed(t0, "grid", f"{kind}:{ident}", {"new": "energized"})
    ex.tick(t0 + 1)
    down: set[str] = set()
    grid_state = {f"{k}:{i}": "energized" for k in ("feeder", "transformer") for i in inv.of_kind(k)}
    t1 = now - 600
    for sub in substations:
        feed(t1, "grid", f"substation:{sub}", {"new": "de-energized"})  # GridState derives it from its feeders
        for f, fd in inv.feeders.items():
            if fd.substation != sub:
                continue
            feed(t1, "grid", f"feeder:{f}", {"new": "de-energized"})
            grid_state[f"feeder:{f}"] = "de-energized"
            for t in inv.transformers_of_feeder.get(f, []):
                feed(t1, "grid", f"transformer:{t}", {"new": "de-energized"})
                grid_state[f"transformer:{t}"] = "de-energized"
        for h in inv.hotspots_below(f"substation:{sub}"):
            if inv.hotspots[h].ups_minutes == 0:
                feed(t1 + 30, "health", f"hotspot:{h}", {"kind": "state", "old": "up", "new": "down"})
                down.add(h)
    if switch:
        feed(t1 + 60, "health", f"switch:{switch}", {"kind": "state", "old": "up", "new": "down"})
        for h in inv.hotspots_of_switch.get(switch, []):
            feed(t1 + 70, "health", f"hotspot:{h}", {"kind": "state", "old": "up", "new": "down"})
            down.add(h)
    notices = []
    if notice_feeder:
        n = {"id": "PLN-UP3-0001", "element": f"feeder:{notice_feeder}", "start": now + 3600, "end": now + 4 * 3600,
             "reason": "Pemeliharaan jaringan 20 kV", "issuer": "PLN UP3 Semarang", "issued_at": now - 3600}
        feed(now - 3600, "notice", n["element"], n)
        notices.append(n)
    t = t1
    while t <= now:
        if ex.tick(t):
            evidence.append((t, "tick", "", {}))
        t += 5
    store = IncidentStore(state_dir / "incidents.sqlite")
    store.write(evidence, list(changed.values()), logrows)
    store.close()
    live = {"at": now, "city": inv.city,
            "hotspots": {h: ["down" if h in down else "up", t1 if h in down else t0, None if h in down else now, ""]
                         for h in inv.hotspots},
            "switches": {s: ["down" if s == switch else "up", t0, now, ""] for s in inv.switches},
            "grid": {"elements": {e: {"state": st, "since": t1 if st != "energized" else t0, "reason": "",
                                      "voltage_v": 0.0 if st != "energized" else 230.0,
                                      "breaker_closed": st == "energized", "last_seen": now}
                                  for e, st in grid_state.items()},
                     "notices": notices, "counts": {}, "gateways": {}},
            "egov": {slug: {"state": "up", "since": t0, "status_code": 200, "latency_ms": 12.0, "error": ""}
                     for slug in inv.egov},
            "status": {"last_cycle_s": 0.2}}
    (state_dir / "live.json").write_text(json.dumps(live))
    return {"down": len(down), "incidents": [r for r in changed.values() if not r["merged_into"]]}
