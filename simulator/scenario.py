"""Fault scenarios (../shared/spec/scenarios.md): strict loading and replay against the city.

``load_scenario`` returns a validated :class:`Scenario` or raises DataFileError naming the line
and field of every problem: unknown keys, unknown actions, fields an action does not take,
targets of the wrong kind or missing from the city's inventory, unsorted events.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated, Any, Awaitable, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hotspots.datafile import DataFileError, Lines, Problem, parse_yaml, read_yaml, validate
from hotspots.inventory import Inventory

CAUSES = ("power_grid", "planned_maintenance", "network_uplink", "device", "service", "unknown")

# action -> (target kinds, {extra field: (type, required)})
ACTIONS: dict[str, tuple[tuple[str, ...], dict[str, tuple[type, bool]]]] = {
    "substation_trip": (("substation",), {}),
    "substation_restore": (("substation",), {}),
    "feeder_trip": (("feeder",), {}),
    "feeder_restore": (("feeder",), {}),
    "transformer_fail": (("transformer",), {}),
    "transformer_restore": (("transformer",), {}),
    "switch_fail": (("switch",), {}),
    "switch_restore": (("switch",), {}),
    "hotspot_fail": (("hotspot",), {}),
    "hotspot_restore": (("hotspot",), {}),
    "hotspot_reboot": (("hotspot",), {"down_s": (float, False)}),
    "telemetry_loss": (("feeder", "transformer"), {}),
    "telemetry_restore": (("feeder", "transformer"), {}),
    "telemetry_delay": (("feeder", "transformer"), {"delay_s": (float, True), "until_s": (float, False)}),
    "maintenance_notice": (
        ("feeder", "transformer"),
        {"start_s": (float, True), "end_s": (float, True), "reason": (str, False)},
    ),
    "flap": (("hotspot",), {"period_s": (float, False), "until_s": (float, False)}),
    "snmp_latency": (("hotspot", "switch"), {"delay_ms": (float, True), "until_s": (float, False)}),
    "egov_fail": (("egov",), {"mode": (str, False)}),
    "egov_restore": (("egov",), {}),
}
EGOV_MODES = ("error", "timeout")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Settings(_Strict):
    poll_interval_s: Annotated[float, Field(gt=0)] | None = None
    telemetry_interval_s: Annotated[float, Field(gt=0)] | None = None
    down_after_polls: Annotated[int, Field(ge=1)] | None = None
    up_after_polls: Annotated[int, Field(ge=1)] | None = None


class Event(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    at: Annotated[float, Field(ge=0)]
    action: str
    target: Annotated[str, Field(pattern=r"^[a-z]+:[A-Za-z0-9-]+$")]

    @property
    def fields(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ExpectIncident(_Strict):
    cause: Literal["power_grid", "planned_maintenance", "network_uplink", "device", "service", "unknown"]
    root: str | None = None
    opened_between_s: tuple[float, float] | None = None
    closed_between_s: tuple[float, float] | None = None
    min_affected_hotspots: Annotated[int, Field(ge=0)] | None = None


class Forbid(_Strict):
    cause: Literal["power_grid", "planned_maintenance", "network_uplink", "device", "service", "unknown"]
    root: str | None = None


class Expect(_Strict):
    incidents: list[ExpectIncident] = []
    forbid: list[Forbid] = []
    max_incidents: Annotated[int, Field(ge=0)] | None = None


class Scenario(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9-]+$")]
    description: str = ""
    city: str = "semarang"
    seed: int = 0
    duration_s: Annotated[float, Field(gt=0)]
    settings: Settings = Settings()
    events: list[Event] = []
    expect: Expect | None = None

    @model_validator(mode="after")
    def _sorted(self):
        ats = [e.at for e in self.events]
        if ats != sorted(ats):
            raise ValueError("events must be sorted by `at`")
        return self


def check_events(sc: Scenario, lines: Lines, inv: Inventory | None) -> list[Problem]:
    problems = []
    for i, ev in enumerate(sc.events):
        loc = ("events", i)
        if ev.action not in ACTIONS:
            problems.append(
                lines.problem(loc + ("action",), f"unknown action {ev.action!r}; known: {', '.join(sorted(ACTIONS))}")
            )
            continue
        kinds, extras = ACTIONS[ev.action]
        kind = ev.target.partition(":")[0]
        if kind not in kinds:
            problems.append(
                lines.problem(
                    loc + ("target",), f"{ev.action} takes a target of kind {' or '.join(kinds)}, not {kind!r}"
                )
            )
        elif inv is not None and not inv.has(ev.target):
            problems.append(lines.problem(loc + ("target",), f"no element {ev.target!r} in the {inv.city} inventory"))
        if ev.at > sc.duration_s:
            problems.append(lines.problem(loc + ("at",), f"event at {ev.at}s is after duration_s {sc.duration_s}"))
        for name, value in ev.fields.items():
            if name not in extras:
                allowed = ", ".join(extras) or "none"
                problems.append(lines.problem(loc + (name,), f"unknown field for {ev.action} (allowed: {allowed})"))
                continue
            typ, _ = extras[name]
            if typ is float and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
                problems.append(lines.problem(loc + (name,), "must be a non-negative number"))
            if typ is str and not isinstance(value, str):
                problems.append(lines.problem(loc + (name,), "must be a string"))
        for name, (_, required) in extras.items():
            if required and name not in ev.fields:
                problems.append(lines.problem(loc, f"{ev.action} needs field {name!r}"))
        if ev.action == "egov_fail" and ev.fields.get("mode", "error") not in EGOV_MODES:
            problems.append(lines.problem(loc + ("mode",), f"mode must be one of {', '.join(EGOV_MODES)}"))
        f = ev.fields
        if (
            ev.action == "maintenance_notice"
            and isinstance(f.get("start_s"), (int, float))
            and isinstance(f.get("end_s"), (int, float))
            and f["end_s"] <= f["start_s"]
        ):
            problems.append(lines.problem(loc + ("end_s",), "end_s must be after start_s"))
        if "until_s" in f and isinstance(f["until_s"], (int, float)) and f["until_s"] < ev.at:
            problems.append(lines.problem(loc + ("until_s",), "until_s lies before the event's own time"))
    if sc.expect and inv is not None:
        for i, inc in enumerate(sc.expect.incidents):
            if inc.root and not inv.has(inc.root):
                problems.append(
                    lines.problem(
                        ("expect", "incidents", i, "root"), f"no element {inc.root!r} in the {inv.city} inventory"
                    )
                )
            for key in ("opened_between_s", "closed_between_s"):
                w = getattr(inc, key)
                if w and w[0] > w[1]:
                    problems.append(lines.problem(("expect", "incidents", i, key), "window is [earliest, latest]"))
    return problems


def load_scenario(
    path: str | Path, inventory_loader: Callable[[str], Inventory] | None = None, text: str | None = None
) -> tuple[Scenario, Inventory | None]:
    """Load and check a scenario; with ``inventory_loader``, targets are checked against its city."""
    if text is not None:
        data, lines = parse_yaml(text, str(path))
    else:
        data, lines = read_yaml(path)
    if not isinstance(data, dict):
        raise DataFileError([Problem(str(path), 1, "", "a scenario is a YAML mapping")])
    sc = validate(Scenario, data, lines)
    inv = None
    if inventory_loader is not None:
        try:
            inv = inventory_loader(sc.city)
        except DataFileError as exc:
            raise DataFileError(
                [lines.problem(("city",), f"city {sc.city!r}: {p.message}") for p in exc.problems]
            ) from None
    problems = check_events(sc, lines, inv)
    if problems:
        raise DataFileError(problems)
    return sc, inv


async def replay(
    sc: Scenario,
    time_scale: float,
    apply: Callable[[dict], Awaitable[None]],
    start: float | None = None,
    on_event: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Apply the events at ``at / time_scale`` real seconds from ``start``. Returns what was applied."""
    start = time.monotonic() if start is None else start
    applied = []
    for ev in sc.events:
        delay = start + ev.at / time_scale - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        body = {"action": ev.action, "target": ev.target, **ev.fields, "_at": ev.at}
        await apply(body)
        rec = {
            "at_s": ev.at,
            "action": ev.action,
            "target": ev.target,
            "applied_s": round((time.monotonic() - start) * time_scale, 2),
        }
        applied.append(rec)
        if on_event:
            on_event(rec)
    return applied


def evaluate(expect: Expect | None, incidents: list[dict], note: str = "") -> list[dict]:
    """Check a run's incidents (report format, times in scenario seconds) against the expectations."""
    checks: list[dict] = []
    if expect is None:
        return checks
    for exp in expect.incidents:
        desc = f"incident cause={exp.cause}" + (f" root={exp.root}" if exp.root else "")
        if exp.opened_between_s:
            desc += f" opened in {list(exp.opened_between_s)}"
        if exp.closed_between_s:
            desc += f" closed in {list(exp.closed_between_s)}"
        if exp.min_affected_hotspots is not None:
            desc += f" affecting >= {exp.min_affected_hotspots} hotspots"
        candidates = [i for i in incidents if i["cause"] == exp.cause and (exp.root is None or i["root"] == exp.root)]
        ok, why = False, f"no incident with cause {exp.cause}" + (f" and root {exp.root}" if exp.root else "")
        for inc in candidates:
            problems = []
            o = exp.opened_between_s
            if o and not (o[0] <= inc["opened_s"] <= o[1]):
                problems.append(f"opened at {inc['opened_s']}s")
            c = exp.closed_between_s
            if c and (inc.get("closed_s") is None or not (c[0] <= inc["closed_s"] <= c[1])):
                problems.append(f"closed at {inc.get('closed_s')}")
            if exp.min_affected_hotspots is not None and inc.get("affected_hotspots", 0) < exp.min_affected_hotspots:
                problems.append(f"affected {inc.get('affected_hotspots', 0)} hotspots")
            if not problems:
                ok, why = True, f"incident {inc['id']} opened at {inc['opened_s']}s"
                break
            why = f"incident {inc['id']}: " + ", ".join(problems)
        checks.append({"expect": desc, "passed": ok, "detail": why + ("" if ok or not note else f" ({note})")})
    for f in expect.forbid:
        desc = f"no incident cause={f.cause}" + (f" root={f.root}" if f.root else "")
        bad = [i for i in incidents if i["cause"] == f.cause and (f.root is None or i["root"] == f.root)]
        checks.append(
            {
                "expect": desc,
                "passed": not bad,
                "detail": "none seen" if not bad else "seen: " + ", ".join(f"{i['id']} ({i['root']})" for i in bad),
            }
        )
    if expect.max_incidents is not None:
        checks.append(
            {
                "expect": f"at most {expect.max_incidents} incident(s)",
                "passed": len(incidents) <= expect.max_incidents,
                "detail": f"{len(incidents)} seen",
            }
        )
    return checks
