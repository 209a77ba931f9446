#!/usr/bin/env python3
"""Outage explainer accuracy: run every scenario in some folders, one after another, and tabulate.

Each scenario runs through ``pantau scenario run`` (its own InfluxDB, Mosquitto, simulated city,
collectors and explainer); the report gives passed/failed per expectation and, for every expected
incident, the detection delay = the moment the incident matched to it first had the right cause
and root (``detected_s`` of the judge, contract "Judging a run") − the first event on its root's
tree (scenario seconds). Further columns: inventory suspects found (of the exposed errors) /
false, and the availability the monitor accounted per cause (hotspot-minutes).

Usage: bench/explainer_accuracy.py [DIR ...] [--time-scale 10] [--only NAME,…]
       (default folders: ../shared/scenarios, ../shared/scenarios/world, scenarios/, scenarios/world/)
Ends with: RESULT passed=… total=… median_delay_s=…
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hotspots.inventory import load_inventory, resolve_city  # noqa: E402
from simulator.scenario import load_scenario  # noqa: E402


def fault_time(sc, root: str | None, inv) -> float | None:
    """The first event that could have caused an incident rooted at ``root``."""
    if not sc.events:
        return None
    if root is None:
        return sc.events[0].at
    below = (
        set(inv.hotspots_below(root))
        if root.split(":")[0] in ("substation", "feeder", "transformer", "switch")
        else set()
    )
    for ev in sc.events:
        if ev.action.endswith("_restore") or ev.action in ("telemetry_loss", "telemetry_delay", "maintenance_notice"):
            continue
        if ev.target == root:
            return ev.at
        tgt_below = set(inv.hotspots_below(ev.target)) if ev.target.split(":")[0] != "egov" else set()
        if below and tgt_below and (below <= tgt_below or tgt_below <= below):
            return ev.at
    return sc.events[0].at


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "dirs",
        type=Path,
        nargs="*",
        default=[
            ROOT.parent / "shared" / "scenarios",
            ROOT.parent / "shared" / "scenarios" / "world",
            ROOT / "scenarios",
            ROOT / "scenarios" / "world",
        ],
    )
    ap.add_argument("--time-scale", type=float, default=10.0)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    files = [f for d in args.dirs for f in sorted(d.glob("*.yaml"))]
    if args.only:
        keep = set(args.only.split(","))
        files = [f for f in files if f.stem in keep]
    rows = []
    delays = []
    out_dir = Path(tempfile.mkdtemp(prefix="pantau-accuracy-"))
    for f in files:
        sc, inv = load_scenario(f, inventory_loader=lambda c: load_inventory(resolve_city(c)))
        rep = out_dir / f"{f.stem}.json"
        t0 = time.time()
        rc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pantau",
                "scenario",
                "run",
                str(f),
                "--time-scale",
                f"{args.time_scale:g}",
                "--report",
                str(rep),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).returncode
        wall = time.time() - t0
        if not rep.exists():
            rows.append((f.stem, "error", "-", "-", f"exit {rc}", "-", "-", wall))
            continue
        r = json.loads(rep.read_text())
        dl = []
        inc_checks = [c for c in r["checks"] if c["expect"].startswith("incident cause=")]
        for exp, check in zip(sc.expect.incidents if sc.expect else [], inc_checks):
            detected = check.get("detected_s")
            if detected is None:  # not matched: the first moment any incident had the cause and root
                held = [
                    h["at_s"]
                    for i in r["incidents"]
                    for h in i.get("history", [])
                    if h["change"] not in ("closed", "merged")
                    and h["cause"] == exp.cause
                    and (exp.root is None or h["root"] == exp.root)
                ]
                detected = min(held) if held else None
            ft = fault_time(sc, exp.root, inv)
            if detected is not None and ft is not None:
                dl.append(detected - ft)
        delays += dl
        errors = r.get("world", {}).get("errors", [])
        said = {(s["hotspot"], s["field"]) for s in r.get("inventory_suspects", [])}
        exposed = {(e["hotspot"], e["field"]) for e in errors if e.get("exposed")}
        wrong = {(e["hotspot"], e["field"]) for e in errors}
        suspects = f"{len(exposed & said)}/{len(exposed)} / {len(said - wrong)}" if errors or said else "-"
        avail = ", ".join(f"{c}={v:g}" for c, v in (r.get("availability") or {}).items() if v) or "-"
        failed = [c["expect"] for c in r["checks"] if not c["passed"]]
        rows.append(
            (
                sc.name,
                "passed" if r["passed"] else "FAILED",
                len(r["incidents"]),
                ", ".join(f"{d:.0f}" for d in dl) or "-",
                "; ".join(failed)[:90],
                suspects,
                avail,
                wall,
            )
        )
        print(f"  {sc.name}: {'passed' if r['passed'] else 'FAILED'} {failed if failed else ''}", flush=True)
    passed = sum(1 for r in rows if r[1] == "passed")
    print()
    print(
        f"Explainer accuracy, {len(rows)} scenarios from {', '.join(map(str, args.dirs))}, "
        f"time scale {args.time_scale:g} "
        f"(reports in {out_dir})"
    )
    print(
        "| scenario | verdict | incidents | detection delay s (scenario) | failed checks "
        "| suspects found/exposed / false | availability hotspot-min by cause | wall s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]} | {r[6]} | {r[7]:.0f} |")
    med = statistics.median(delays) if delays else float("nan")
    print()
    print(f"RESULT passed={passed} total={len(rows)} median_delay_s={med:.1f} time_scale={args.time_scale:g}")
    return 0 if passed == len(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
