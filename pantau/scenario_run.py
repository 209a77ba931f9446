"""``pantau scenario run``: replay a scenario file against the running system and judge the result.

Starts its own InfluxDB, Mosquitto and simulated city in a temporary state folder (so runs never
disturb each other or a demo), replays the events at ``at / time_scale``, waits out the duration,
then checks the expectations against the incidents the outage explainer opened and writes the
report. Exit codes: 0 every expectation held, 1 one failed, 2 bad file.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from hotspots.datafile import DataFileError
from hotspots.inventory import load_inventory, resolve_city
from outages.store import IncidentStore
from pantau import services
from pantau.stack import Stack
from simulator.scenario import evaluate, load_scenario, replay

EXPLAINER_AVAILABLE = True


def scaled_intervals(sc, k: float) -> dict[str, float]:
    """Every declared job's interval divided by the time scale (the scenario's poll interval for hotspots)."""
    from collectors.schedule import load_jobs
    from collectors.snmp.collector import ALL_RUNS as RUNS

    out = {j.name: j.interval_s / k for j in load_jobs(known=set(RUNS))}
    if sc.settings.poll_interval_s:
        for j in load_jobs(known=set(RUNS)):
            if j.runs == "snmp.hotspots":
                out[j.name] = sc.settings.poll_interval_s / k
    return out


def report_incidents(rows: list[dict], t0: float, k: float) -> list[dict]:
    """Incidents in the report's format, times in scenario seconds."""
    out = []
    for r in rows:
        if r["opened_at"] < t0 or r["merged_into"]:
            continue  # merged: a provisional view of a cause that another incident carries
        out.append(
            {
                "id": r["id"],
                "cause": r["cause"],
                "root": r["root"],
                "opened_s": round((r["opened_at"] - t0) * k, 1),
                "closed_s": round((r["closed_at"] - t0) * k, 1) if r["closed_at"] else None,
                "affected_hotspots": len(r["affected"]),
                "affected_areas": r["areas"],
                "confidence": r["confidence"],
                "inferred": r["inferred"],
                "merged_into": r["merged_into"],
                "explanation": {"id": r["explanation_id"], "en": r["explanation_en"]},
                "evidence": r["evidence"],
            }
        )
    return out


def run_scenario(file: Path, time_scale: float, report_path: Path | None, quiet: bool = False) -> int:
    import signal

    # SIGTERM unwinds like Ctrl-C, so the stack (its own process group) is always stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    console = Console(stderr=True, quiet=quiet)
    try:
        sc, inv = load_scenario(file, inventory_loader=lambda c: load_inventory(resolve_city(c)))
    except DataFileError as exc:
        print(f"scenario refused: {exc}", file=sys.stderr)
        return 2
    interval = sc.settings.telemetry_interval_s or 10.0
    with tempfile.TemporaryDirectory(prefix=f"pantau-{sc.name}-") as tmp:
        with console.status("starting InfluxDB, Mosquitto and the simulated city…"):
            # A free high port of its own: runs never share agents with another run or a demo on 161.
            stack = Stack(
                Path(tmp),
                city=sc.city,
                time_scale=time_scale,
                seed=sc.seed,
                telemetry_interval_s=interval,
                collect=True,
                intervals=scaled_intervals(sc, time_scale),
                snmp_port=services.free_port(kind=socket.SOCK_DGRAM),
            )
            stack.start()
            _wait_all_up(stack, inv, 60 * 3 / time_scale + 30)
        try:
            applied, final, t0 = asyncio.run(_drive(sc, stack, time_scale, console))
            time.sleep(1.0)  # the last decision and its write
        finally:
            stack.stop()
        store = IncidentStore(Path(tmp) / "collector" / "incidents.sqlite")
        incidents = report_incidents(store.incidents(), t0, time_scale)
        store.close()
    note = "" if EXPLAINER_AVAILABLE else "no outage explainer in this build yet: the run only reports"
    checks = evaluate(sc.expect, incidents, note)
    passed = all(c["passed"] for c in checks)
    report = {
        "scenario": sc.name,
        "passed": passed,
        "time_scale": time_scale,
        "incidents": incidents,
        "checks": checks,
        "events": applied,
        "simulator": final,
        "explainer": EXPLAINER_AVAILABLE,
    }
    if report_path:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    for c in checks:
        mark = "[green]PASS[/green]" if c["passed"] else "[red]FAIL[/red]"
        console.print(f"{mark} {c['expect']}: {c['detail']}", highlight=False)
    console.print(
        f"scenario {sc.name}: {'passed' if passed else 'failed'} "
        f"({len(applied)} events replayed at time scale {time_scale})",
        highlight=False,
    )
    return 0 if passed else 1


async def _drive(sc, stack: Stack, k: float, console: Console):
    async with httpx.AsyncClient(base_url=stack.sim.url, timeout=10) as client:

        async def apply(body: dict) -> None:
            r = await client.post("/_sim/events", json=body)
            if r.status_code != 200:
                raise RuntimeError(f"simulator refused {body}: {r.text}")

        start = time.monotonic()
        t0 = time.time()
        duration = sc.duration_s / k
        with Progress(
            TextColumn(f"{sc.name}"),
            BarColumn(),
            TextColumn("{task.fields[t]:>6.0f}s / {task.total:.0f}s"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("replay", total=sc.duration_s, t=0.0)

            async def tick():
                while True:
                    t = (time.monotonic() - start) * k
                    progress.update(task, completed=min(t, sc.duration_s), t=min(t, sc.duration_s))
                    await asyncio.sleep(0.25)

            ticker = asyncio.create_task(tick())
            applied = await replay(sc, k, apply, start=start)
            rest = start + duration - time.monotonic()
            if rest > 0:
                await asyncio.sleep(rest)
            ticker.cancel()
        final = (await client.get("/_sim/state")).json()
    return applied, final, t0


def _wait_all_up(stack: Stack, inv, timeout: float) -> None:
    """Scenarios start from a settled city: every hotspot polled up and the grid's state known."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = stack.collector.status()
        health = st.get("health", {})
        grid = st.get("grid", {}).get("grid", {}).get("counts", {})
        if (
            health.get("up", 0) + health.get("degraded", 0) >= len(inv.hotspots) + len(inv.switches)
            and grid
            and all(c.get("unknown", 1) == 0 for c in grid.values())
        ):
            return
        time.sleep(0.5)
