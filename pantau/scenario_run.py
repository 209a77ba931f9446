"""``pantau scenario run``: replay a scenario file against the running system and judge the result.

Starts its own InfluxDB, Mosquitto and simulated city in a temporary state folder (so runs never
disturb each other or a demo), replays the events at ``at / time_scale``, waits out the duration,
then checks the expectations against the incidents the outage explainer opened and writes the
report. Exit codes: 0 every expectation held, 1 one failed, 2 bad file. With the environment
variable ``PANTAU_SCENARIO_KEEP=DIR`` the run's state (incident store, logs; not InfluxDB) is kept
in ``DIR/<name>-<t0>`` for a look afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import tempfile
import time
from dataclasses import asdict
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
from simulator.world import draw_world, exposed, write_listed_inventory
from store.db import DB_FILE, open_database
from store.live import LiveStore

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


def _hist_state(change: str, detail: dict, cur: tuple[str, str]) -> tuple[str, str]:
    """(cause, root) after one incident_log row (outages/store.py; outages/explainer.py writes them)."""
    cause, root = cur
    if change == "rerooted":
        return detail.get("cause", cause), detail.get("to", detail.get("root", root))
    return detail.get("cause", cause), detail.get("root", root)


def incident_history(row: dict, log: list[dict]) -> list[tuple[float, str, str, str]]:
    """Every change of one incident as (at epoch, cause, root, change), change one of
    opened|rerooted|merged|closed|reopened; an ``updated`` that changed cause or root is a re-rooting."""
    out: list[tuple[float, str, str, str]] = []
    cur = (row["cause"], row["root"])
    for entry in log:
        change, detail = entry["change"], entry.get("detail") or {}
        if not isinstance(detail, dict):
            detail = {}
        new = _hist_state(change, detail, cur)
        if change == "opened" and not out:
            cur = new
            out.append((entry["at"], *cur, "opened"))
            continue
        if change in ("closed", "merged", "reopened"):
            cur = new
            out.append((entry["at"], *cur, change))
            continue
        if new != cur:  # rerooted, updated (or a change this judge does not know) that moved cause / root
            cur = new
            out.append((entry["at"], *cur, "rerooted"))
    if not out:  # no log (an older store): what the row says
        out.append((row["opened_at"], row["cause"], row["root"], "opened"))
        if row.get("closed_at"):
            out.append((row["closed_at"], row["cause"], row["root"], "closed"))
    return out


def _truly_below(truth, root: str, affected: list[str]) -> int:
    """How many of an incident's hotspots truly hang below its root (the simulator's inventory)."""
    kind = root.partition(":")[0]
    if truth is None or kind not in ("substation", "feeder", "transformer", "switch") or not truth.has(root):
        return len(affected)
    below = set(truth.hotspots_below(root))
    return sum(1 for h in affected if h.partition(":")[2] in below)


def _report_one(r: dict, hist: list[tuple], t0: float, k: float, truth) -> dict:
    def s(at: float) -> float:
        return round((at - t0) * k, 1)

    closes = [at for at, _, _, ch in hist if ch in ("closed", "merged")]
    last = hist[-1]
    return {
        "id": r["id"],
        "cause": last[1],
        "root": last[2],
        "opened_s": s(hist[0][0]),
        "closed_s": s(closes[-1]) if closes and last[3] in ("closed", "merged") else None,
        "affected_hotspots": len(r["affected"]),
        "affected_truth": _truly_below(truth, last[2], r["affected"]),
        "affected_areas": r["areas"],
        "confidence": r["confidence"],
        "inferred": r["inferred"],
        "merged_into": r["merged_into"],
        "explanation": {"id": r["explanation_id"], "en": r["explanation_en"]},
        "evidence": r["evidence"],
        "history": [{"at_s": s(at), "cause": c, "root": rt, "change": ch} for at, c, rt, ch in hist],
    }


def split_incidents(
    rows: list[dict], logs: list[dict], t0: float, k: float, truth=None
) -> tuple[list[dict], list[dict]]:
    """(incidents that count, pre-existing incidents), report format, times in scenario seconds.

    Counted: every incident opened (or reopened) after t0, merged ones included, with its history
    from then on. Pre-existing: open at t0 (full history); if one is re-rooted after t0, the
    re-rooted incident counts from that moment (``from_preexisting``). Incidents opened and closed
    while the city settled are left out."""
    by_id: dict[str, list[dict]] = {}
    for entry in logs:
        by_id.setdefault(entry["incident_id"], []).append(entry)
    counted, pre = [], []
    for r in sorted(rows, key=lambda r: r["opened_at"]):
        hist = incident_history(r, by_id.get(r["id"], []))
        before = [h for h in hist if h[0] < t0]
        after = [h for h in hist if h[0] >= t0]
        if before and before[-1][3] not in ("closed", "merged"):
            pre.append(_report_one(r, hist, t0, k, truth))
            at_t0 = before[-1][1:3]
            moved = next((i for i, h in enumerate(after) if h[1:3] != at_t0 and h[3] == "rerooted"), None)
            if moved is not None:
                inc = _report_one(r, after[moved:], t0, k, truth)
                inc["from_preexisting"] = True
                counted.append(inc)
        elif after:
            counted.append(_report_one(r, after, t0, k, truth))
    counted.sort(key=lambda i: i["opened_s"])
    return counted, pre


def report_incidents(rows: list[dict], t0: float, k: float, logs: list[dict] | None = None, truth=None) -> list[dict]:
    """Incidents that count for the judge (``split_incidents``), report format."""
    return split_incidents(rows, logs or [], t0, k, truth)[0]


CAUSE_KEYS = ("power_grid", "planned_maintenance", "network_uplink", "device", "service", "unknown")


def _down_intervals(evidence, t0: float, t_end: float, max_gap: float) -> dict[str, list[tuple[float, float]]]:
    """Per hotspot, when the monitor had it down, clipped to [t0, t_end]: from its first failed poll
    (the ``suspect`` evidence just before the state went down, if within ``max_gap``) to up again."""
    suspect: dict[str, float] = {}
    down: dict[str, float] = {}
    out: dict[str, list[tuple[float, float]]] = {}
    for at, kind, element, data in evidence:
        if kind != "health" or not element.startswith("hotspot:"):
            continue
        h = element[8:]
        what = data.get("kind")
        if what == "suspect":
            suspect[h] = at
        elif what == "clear":
            suspect.pop(h, None)
        elif what == "state":
            new = data.get("new")
            if new == "down" and h not in down:
                s = suspect.get(h)
                down[h] = s if s is not None and 0 <= at - s <= max_gap else at
            elif new in ("up", "degraded") and h in down:
                out.setdefault(h, []).append((down.pop(h), at))
    for h, since in down.items():
        out.setdefault(h, []).append((since, t_end))
    clipped: dict[str, list[tuple[float, float]]] = {}
    for h, spans in out.items():
        for a, b in spans:
            a, b = max(a, t0), min(b, t_end)
            if b > a:
                clipped.setdefault(h, []).append((a, b))
    return clipped


def availability_from_incident_store(
    store: IncidentStore, t0: float, t_end: float, k: float, poll_interval_s: float
) -> dict[str, float]:
    """Hotspot-minutes of downtime per cause in [t0, t_end] (scenario minutes), from the incident store.

    Downtime: the monitor's own view (health evidence: first failed poll .. answering again).
    Each moment is attributed to the cause of the open incident that holds the hotspot (as root or
    affected) at that moment; a hotspot still booting after its incident closed stays with that
    incident's cause, and the first failed polls before the incident opened go to it too; downtime
    no incident explains is ``unknown``. Pre-existing incidents count
    from t0. TO BE SWITCHED to the product's accounting (outages/availability.py) once it exists."""
    rows = store.incidents()
    by_id: dict[str, list[dict]] = {}
    for entry in store.log():
        by_id.setdefault(entry["incident_id"], []).append(entry)
    # segments per hotspot: (start, end, cause, opened_at)
    segs: dict[str, list[tuple[float, float, str, float]]] = {}
    for r in rows:
        hist = incident_history(r, by_id.get(r["id"], []))
        members = set(h.partition(":")[2] for h in r["affected"])
        if r["root"].startswith("hotspot:"):
            members.add(r["root"][8:])
        for (at, cause, root, ch), nxt in zip(hist, hist[1:] + [(float("inf"), "", "", "")]):
            if ch in ("closed", "merged"):
                continue
            if root.startswith("hotspot:"):
                members.add(root[8:])
            for h in members:
                segs.setdefault(h, []).append((at, nxt[0], cause, r["opened_at"]))
    out = dict.fromkeys(CAUSE_KEYS, 0.0)
    for h, spans in _down_intervals(store.evidence(), t0, t_end, 4 * poll_interval_s).items():
        mine = segs.get(h, [])
        for a, b in spans:
            cuts = sorted({a, b, *(x for s in mine for x in s[:2] if a < x < b)})
            pieces = []
            for x, y in zip(cuts, cuts[1:]):
                mid = (x + y) / 2
                cover = sorted((s for s in mine if s[0] <= mid < s[1]), key=lambda s: s[3])
                pieces.append([y - x, cover[0][2] if cover else None])
            # a stretch no incident holds yet (first failed polls) or any more (booting after the close)
            # belongs to the incident next to it within the same outage; none at all: unknown
            for seq in (pieces, pieces[::-1]):
                cur = None
                for p in seq:
                    if p[1] is None:
                        p[1] = cur
                    cur = p[1]
            for span, cause in pieces:
                cause = cause or "unknown"
                out[cause if cause in out else "unknown"] += span * k / 60.0
    return {c: round(v, 1) for c, v in out.items()}


def run_availability(store: IncidentStore, t0: float, t1: float, k: float, poll_interval_s: float):
    """The run's availability (hotspot-minutes per cause) and where it came from: the product's
    accounting (outages/availability.py) when this build has it, else the runner's own estimate."""
    try:
        from outages.availability import hotspot_minutes_by_cause
    except ImportError:
        hotspot_minutes_by_cause = None
    if hotspot_minutes_by_cause is not None:
        try:
            return hotspot_minutes_by_cause(store, t0, t1, time_scale=k), "outages.availability"
        except Exception as exc:  # noqa: BLE001 - the runner's estimate rather than no figure
            print(f"availability: product accounting failed ({exc!r}); using the runner's", file=sys.stderr)
    return (
        availability_from_incident_store(store, t0, t1, k, poll_interval_s),
        "pantau.scenario_run.availability_from_incident_store",
    )


def read_inventory_suspects(state_dir: Path, store: IncidentStore | None = None) -> list[dict] | None:
    """What the monitor suspects is wrong in its inventory, if it keeps such a list (else None).

    Looked for where the product may keep them: an ``inventory_suspects()`` / ``suspects()`` of the
    incident store, or ``inventory-suspects.json`` in the collector's state folder."""
    raw = None
    for name in ("inventory_suspects", "suspects"):
        fn = getattr(store, name, None) if store is not None else None
        if callable(fn):
            try:
                raw = fn()
            except Exception:  # noqa: BLE001 - a store without the table yet
                raw = None
            if raw is not None:
                break
    if raw is None:
        f = state_dir / "inventory-suspects.json"
        if f.exists():
            try:
                raw = json.loads(f.read_text())
            except ValueError:
                raw = None
    if raw is None:
        return None
    if isinstance(raw, dict):
        raw = raw.get("suspects", [])
    out = []
    for s in raw:
        s = dict(s)
        s["hotspot"] = str(s.get("hotspot", "")).partition(":")[2] or str(s.get("hotspot", ""))
        out.append(
            {
                "hotspot": s["hotspot"],
                "field": s.get("field"),
                "inventory": s.get("inventory"),
                "likely": s.get("likely"),
                "evidence": s.get("evidence"),
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
    k = time_scale
    interval = sc.settings.telemetry_interval_s or 10.0
    world = draw_world(sc.world, inv, sc.seed, sc.events)
    intervals = scaled_intervals(sc, k)
    poll = min((v for n, v in intervals.items() if "hotspot" in n), default=30.0 / k)
    with tempfile.TemporaryDirectory(prefix=f"pantau-{sc.name}-") as tmp:
        monitor_city, monitor_inv = None, inv
        if world.errors:  # the monitor reads the inventory as the file says; the simulator runs the truth
            listed = write_listed_inventory(resolve_city(sc.city), Path(tmp) / "city-as-listed", world)
            monitor_city, monitor_inv = str(listed), load_inventory(listed)
        with console.status("starting InfluxDB, Mosquitto and the simulated city…"):
            # A free high port of its own: runs never share agents with another run or a demo on 161.
            stack = Stack(
                Path(tmp),
                city=sc.city,
                time_scale=k,
                seed=sc.seed,
                telemetry_interval_s=interval,
                collect=True,
                intervals=intervals,
                snmp_port=services.free_port(kind=socket.SOCK_DGRAM),
                world=None if world.clean else world.to_json(),
                monitor_city=monitor_city,
            )
            stack.start()
            # a clean city settles at its first full poll; broken devices wait for their incidents
            settle_start = time.time()
            settled, settle_detail = _settle(stack, monitor_inv, Path(tmp), 60 * 6 / k + 60)
            settle_detail += f" (after {time.time() - settle_start:.0f} s)"
        try:
            applied, final, t0 = asyncio.run(_drive(sc, stack, k, console))
            time.sleep(1.0)  # the last decision and its write
            alive, alive_detail = _collector_alive(stack)
        finally:
            stack.stop()
        keep = os.environ.get("PANTAU_SCENARIO_KEEP")  # a folder to keep the run's state in (debugging)
        if keep:
            import shutil

            dest = Path(keep) / f"{sc.name}-{int(t0)}"
            shutil.copytree(tmp, dest, ignore=shutil.ignore_patterns("influxdb", "city-as-listed"))
            console.print(f"state kept in {dest}", highlight=False)
        # the collector's state database: its folder's pantau.sqlite, or the stack's PostgreSQL database
        store = IncidentStore(stack.database_url or Path(tmp) / "collector", city=inv.city)
        incidents, preexisting = split_incidents(store.incidents(), store.log(), t0, k, truth=inv)
        availability, availability_source = run_availability(store, t0, t0 + sc.duration_s / k, k, poll)
        suspects = read_inventory_suspects(Path(tmp) / "collector", store)
        store.close()
    exposure = exposed(world, inv, sc.events, sc.duration_s)
    errors = [{**asdict(e), "exposed": exposure[(e.hotspot, e.field)]} for e in world.errors]
    note = "" if EXPLAINER_AVAILABLE else "no outage explainer in this build yet: the run only reports"
    run = {
        "settled": settled,
        "settle_detail": settle_detail,
        "collector_alive": alive,
        "collector_detail": alive_detail,
        "inventory_suspects": suspects,
        "errors": errors,
        "availability": availability,
    }
    checks = evaluate(sc.expect, incidents, note, run)
    passed = all(c["passed"] for c in checks)
    report = {
        "scenario": sc.name,
        "passed": passed,
        "time_scale": time_scale,
        "incidents": incidents,
        "preexisting": preexisting,
        "checks": checks,
        "events": applied,
        "simulator": final,
        "explainer": EXPLAINER_AVAILABLE,
        "world": {
            "snmp_loss_pct": world.snmp_loss_pct,
            "telemetry_jitter_s": world.telemetry_jitter_s,
            "background_down": world.background_down,
            "errors": errors,
            "exposed_means": "the true and the listed element were in different states (dark / not) for a "
            "stretch of the run, longer than the hotspot's UPS for a transformer",
        },
        "inventory_suspects": suspects or [],
        "availability": availability,
        "availability_source": availability_source,
        "settled": settled,
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


def _open_incident_members(path: Path | str, city: str) -> set[str] | None:
    """Hotspots (ids) held by an open incident, as root or affected; None if the store is not readable yet."""
    if isinstance(path, Path) and not path.exists():
        return None
    try:
        rows = IncidentStore(path, city=city).incidents(status="open")
    except Exception:  # noqa: BLE001 - busy or not yet created by the collector
        return None
    out: set[str] = set()
    for r in rows:
        out.update(h.partition(":")[2] for h in r["affected"])
        if r["root"].startswith("hotspot:"):
            out.add(r["root"][8:])
    return out


def _live_states(db_file: Path | str, city: str) -> dict[str, str]:
    """Hotspot id -> state, as the collector's live view in its state database says (empty until
    it wrote one)."""
    if isinstance(db_file, Path) and not db_file.exists():
        return {}
    try:
        rows = LiveStore(open_database(db_file), city).elements("hotspot:")
    except Exception:  # noqa: BLE001 - not created yet by the collector
        return {}
    return {el[8:]: r["state"] for el, r in rows.items()}


def _settle(stack: Stack, inv, tmp: Path, timeout: float) -> tuple[bool, str]:
    """Scenarios start from a settled city: every hotspot polled up (or in an open incident, e.g. a
    broken device of the world) and the grid's state known. Returns (settled, detail)."""
    deadline = time.time() + timeout
    db_file = stack.database_url or tmp / "collector" / DB_FILE
    waiting = "no collector status yet"
    while time.time() < deadline:
        st = stack.collector.status()
        grid = st.get("grid", {}).get("grid", {}).get("counts", {})
        states = _live_states(db_file, inv.city)
        not_up = [h for h in inv.hotspots if states.get(h, "unknown") not in ("up", "degraded")]
        if states and not not_up and grid and all(c.get("unknown", 1) == 0 for c in grid.values()):
            return True, "every hotspot up"
        if states and grid and all(c.get("unknown", 1) == 0 for c in grid.values()) and len(not_up) < 200:
            held = _open_incident_members(db_file, inv.city)
            rest = [h for h in not_up if held is None or h not in held]
            if held is not None and not rest:
                return True, f"every hotspot up or in an open incident ({len(not_up)} not up)"
            waiting = f"{len(rest)} hotspot(s) neither up nor in an open incident, e.g. {', '.join(rest[:5])}"
        elif states:
            waiting = f"{len(not_up)} hotspot(s) not up" + ("" if grid else "; grid state unknown")
        time.sleep(0.5)
    return False, f"never settled within {timeout:.0f} s: {waiting}"


def _collector_alive(stack: Stack, stale_s: float = 10.0) -> tuple[bool, str]:
    """The collector's last status must be fresh at the end (it rewrites it every second)."""
    svc = stack.collector
    if svc is None:
        return False, "collector stopped: no collector"
    if not svc.running():
        return False, "collector stopped: its process has exited"
    f = getattr(svc, "status_file", None)
    if f is None or not Path(f).exists():
        return False, "collector stopped: no status file"
    age = time.time() - Path(f).stat().st_mtime
    if age > stale_s:
        return False, f"collector stopped: its last status is {age:.0f} s old"
    return True, f"status {age:.1f} s old"
