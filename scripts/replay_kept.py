#!/usr/bin/env python3
"""Replay a kept scenario run (PANTAU_SCENARIO_KEEP=DIR) through the explainer as the code is now.

    scripts/replay_kept.py SCENARIO.yaml KEPT_DIR

Loads the inventory the monitor saw (the scenario's world applied to the city, as ``pantau
scenario run`` writes it), feeds the stored evidence to a fresh explainer with the settings the run
recorded, and prints every incident with its history: a seconds-long loop for explainer changes
instead of a minute-long scenario run. The live run stays the judge.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hotspots.inventory import load_inventory, resolve_city  # noqa: E402
from outages.explainer import Settings, replay  # noqa: E402
from outages.store import IncidentStore  # noqa: E402
from simulator.scenario import load_scenario  # noqa: E402
from simulator.world import draw_world, write_listed_inventory  # noqa: E402


def main() -> int:
    sc, _ = load_scenario(sys.argv[1])
    kept = Path(sys.argv[2])
    t0 = float(kept.name.rsplit("-", 1)[1])
    inv = load_inventory(resolve_city(sc.city))
    world = draw_world(sc.world, inv, sc.seed, sc.events)
    with tempfile.TemporaryDirectory() as tmp:
        if world.errors:
            inv = load_inventory(write_listed_inventory(resolve_city(sc.city), Path(tmp) / "listed", world))
    st = IncidentStore(kept / "collector", city=inv.city)  # its pantau.sqlite
    ev = st.evidence()
    settings = next((Settings(**d) for _, k, _, d in ev if k == "settings"), Settings())
    ex = replay(inv, [e for e in ev if e[1] != "settings"], settings)
    k = 10.0 if len(sys.argv) < 4 else float(sys.argv[3])
    for inc in sorted(ex.incidents.values(), key=lambda i: i.opened_at):
        print(
            f"{inc.id} {inc.cause} {inc.root} opened {(inc.opened_at - t0) * k:.1f}"
            f" closed {((inc.closed_at or t0) - t0) * k:.1f} affected {len(inc.affected)} merged {inc.merged_into}"
        )
        print("   ", "; ".join(inc.evidence[:4]))
    print("suspects:", [(r["hotspot"], r["field"], r["likely"]) for r in ex.suspects.rows()])
    return 0


if __name__ == "__main__":
    sys.exit(main())
