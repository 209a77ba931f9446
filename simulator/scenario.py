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

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
    "snmp_loss": (("hotspot", "switch"), {"loss_pct": (float, True), "until_s": (float, False)}),
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


# The world (contract: "The world: noise and wrong inventories"): strict numbers, no bools or strings.
Pct100 = Annotated[float, Field(ge=0, le=100, strict=True)]


class InventoryErrors(_Strict):
    transformer_pct: Pct100 = 0.0
    switch_pct: Pct100 = 0.0


class WorldSpec(_Strict):
    snmp_loss_pct: Annotated[float, Field(ge=0, le=50, strict=True)] = 0.0
    background_down: Annotated[int, Field(ge=0, strict=True)] = 0
    telemetry_jitter_s: Annotated[float, Field(ge=0, strict=True)] = 0.0
    inventory_errors: InventoryErrors = InventoryErrors()


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


class ExpectSuspects(_Strict):
    min_found_pct: Pct100 | None = None
    max_false: Annotated[int, Field(ge=0, strict=True)] | None = None


class ExpectAvailability(_Strict):
    cause: Literal["power_grid", "planned_maintenance", "network_uplink", "device", "service", "unknown"]
    hotspot_minutes_between: tuple[
        Annotated[float, Field(ge=0, strict=True)], Annotated[float, Field(ge=0, strict=True)]
    ]

    @field_validator("hotspot_minutes_between")
    @classmethod
    def _ordered(cls, v):
        if v[0] > v[1]:
            raise ValueError("window is [least, most]")
        return v


class Expect(_Strict):
    incidents: list[ExpectIncident] = []
    forbid: list[Forbid] = []
    max_incidents: Annotated[int, Field(ge=0)] | None = None
    inventory_suspects: ExpectSuspects | None = None
    availability: list[ExpectAvailability] = []


class Scenario(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9-]+$")]
    description: str = ""
    city: str = "semarang"
    seed: int = 0
    duration_s: Annotated[float, Field(gt=0)]
    world: WorldSpec = WorldSpec()
    settings: Settings = Settings()
    events: list[Event] = []
    expect: Expect | None = None

    @model_validator(mode="after")
    def _sorted(self):
        ats = [e.at for e in self.events]
        if ats != sorted(ats):
            raise ValueError("events must be sorted by `at`")
        return self


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


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
        if ev.action == "snmp_loss" and _number(f.get("loss_pct")) and f["loss_pct"] > 100:
            problems.append(lines.problem(loc + ("loss_pct",), "loss_pct is a share of answers: 0..100"))
        if "until_s" in f and isinstance(f["until_s"], (int, float)) and f["until_s"] < ev.at:
            problems.append(lines.problem(loc + ("until_s",), "until_s lies before the event's own time"))
    if inv is not None and sc.world.background_down > len(inv.hotspots):
        problems.append(
            lines.problem(
                ("world", "background_down"), f"the {inv.city} inventory has only {len(inv.hotspots)} hotspots"
            )
        )
    if sc.expect and inv is not None:
        for i, f in enumerate(sc.expect.forbid):
            if f.root and not inv.has(f.root):
                problems.append(
                    lines.problem(("expect", "forbid", i, "root"), f"no element {f.root!r} in the {inv.city} inventory")
                )
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


CLOSES = ("closed", "merged")  # a merged incident stops being visible on its own: a close


def history_of(inc: dict) -> list[dict]:
    """An incident's history (report format); synthesized from opened_s/closed_s when absent."""
    if inc.get("history"):
        return inc["history"]
    out = [{"at_s": inc["opened_s"], "cause": inc["cause"], "root": inc["root"], "change": "opened"}]
    if inc.get("closed_s") is not None:
        out.append({"at_s": inc["closed_s"], "cause": inc["cause"], "root": inc["root"], "change": "closed"})
    return out


def held_at(inc: dict, cause: str, root: str | None) -> list[float]:
    """The moments the incident took on ``cause`` (and ``root``, when given), oldest first."""
    return [
        h["at_s"]
        for h in history_of(inc)
        if h["change"] not in CLOSES and h["cause"] == cause and (root is None or h["root"] == root)
    ]


def _judge_one(exp: ExpectIncident, inc: dict) -> tuple[list[str], float | None]:
    """What keeps ``inc`` from meeting ``exp`` (empty: it does) and its detection time."""
    held = held_at(inc, exp.cause, exp.root)
    if not held:
        return ["never had cause " + exp.cause + (f" and root {exp.root}" if exp.root else "")], None
    detected = held[0]
    problems = []
    o = exp.opened_between_s
    if o and not (o[0] <= detected <= o[1]):
        problems.append(f"first had {exp.cause}" + (f" at {exp.root}" if exp.root else "") + f" at {detected}s")
    c = exp.closed_between_s
    if c:
        hist = history_of(inc)
        closes = [h["at_s"] for h in hist if h["change"] in CLOSES]
        outside = [t for t in closes if not (c[0] <= t <= c[1])]
        if not closes:
            problems.append("never closed")
        elif outside:
            problems.append("closed at " + ", ".join(f"{t}s" for t in closes))
        if closes and hist[-1]["change"] not in CLOSES:
            problems.append(f"reopened at {hist[-1]['at_s']}s and still open at the end")
    n = inc.get("affected_truth", inc.get("affected_hotspots", 0))
    if exp.min_affected_hotspots is not None and n < exp.min_affected_hotspots:
        problems.append(f"affected {n} hotspots (truly below its root)")
    return problems, detected


def _match(ok: list[list[int]], n_inc: int) -> list[int | None]:
    """One incident per expectation: a maximum bipartite matching (augmenting paths, in file order)."""
    owner: list[int | None] = [None] * n_inc

    def augment(e: int, seen: set[int]) -> bool:
        for j in ok[e]:
            if j in seen:
                continue
            seen.add(j)
            if owner[j] is None or augment(owner[j], seen):
                owner[j] = e
                return True
        return False

    for e in range(len(ok)):
        augment(e, set())
    out: list[int | None] = [None] * len(ok)
    for j, e in enumerate(owner):
        if e is not None:
            out[e] = j
    return out


def _describe(exp: ExpectIncident) -> str:
    desc = f"incident cause={exp.cause}" + (f" root={exp.root}" if exp.root else "")
    if exp.opened_between_s:
        desc += f" opened in {list(exp.opened_between_s)}"
    if exp.closed_between_s:
        desc += f" closed in {list(exp.closed_between_s)}"
    if exp.min_affected_hotspots is not None:
        desc += f" affecting >= {exp.min_affected_hotspots} hotspots"
    return desc


def _liveness(run: dict) -> list[dict]:
    checks = []
    if "settled" in run:
        checks.append(
            {
                "expect": "city settled before t=0",
                "passed": bool(run["settled"]),
                "detail": run.get("settle_detail") or ("settled" if run["settled"] else "never settled"),
            }
        )
    if "collector_alive" in run:
        checks.append(
            {
                "expect": "collector alive at the end",
                "passed": bool(run["collector_alive"]),
                "detail": run.get("collector_detail") or ("alive" if run["collector_alive"] else "collector stopped"),
            }
        )
    return checks


def _check_suspects(exp: ExpectSuspects, run: dict) -> dict:
    desc = "inventory suspects" + (f" found >= {exp.min_found_pct:g}%" if exp.min_found_pct is not None else "")
    desc += f" false <= {exp.max_false}" if exp.max_false is not None else ""
    suspects = run.get("inventory_suspects")
    if suspects is None:
        return {"expect": desc, "passed": False, "detail": "monitor reports no inventory suspects"}
    errors = run.get("errors") or []
    wrong = {(e["hotspot"], e["field"]) for e in errors}
    exposed = {(e["hotspot"], e["field"]) for e in errors if e.get("exposed")}
    said = {(s["hotspot"], s["field"]) for s in suspects}
    found = exposed & said
    false = said - wrong
    problems = []
    pct = 100.0 * len(found) / len(exposed) if exposed else 100.0
    if exp.min_found_pct is not None and pct < exp.min_found_pct:
        problems.append(f"found {len(found)} of {len(exposed)} exposed errors ({pct:.0f}%)")
    if exp.max_false is not None and len(false) > exp.max_false:
        problems.append(f"{len(false)} false: " + ", ".join(f"{h} {f}" for h, f in sorted(false)[:10]))
    detail = "; ".join(problems) or (
        f"found {len(found)} of {len(exposed)} exposed errors ({pct:.0f}%), {len(false)} false"
        + ("" if exposed else " (no error was exposed)")
    )
    return {"expect": desc, "passed": not problems, "detail": detail}


def evaluate(expect: Expect | None, incidents: list[dict], note: str = "", run: dict | None = None) -> list[dict]:
    """Judge a run (contract: "Judging a run").

    ``incidents``: every incident the monitor opened after t=0 (merged ones included; pre-existing
    ones left out, or only from their re-rooting on), report format with ``history``, times in
    scenario seconds. ``run``: what the runner knows besides — ``settled`` / ``collector_alive``
    (with ``*_detail``), ``inventory_suspects`` (None: the monitor keeps none), ``errors`` (the
    truth, with ``exposed``), ``availability`` (hotspot-minutes per cause). A dead run fails
    whatever else held; expectations are matched one to one; ``forbid`` looks at whole histories.
    """
    run = run or {}
    checks: list[dict] = _liveness(run)
    if expect is None:
        return checks
    judged = [[_judge_one(exp, inc) for inc in incidents] for exp in expect.incidents]
    ok = [[j for j, (problems, _) in enumerate(row) if not problems] for row in judged]
    matched = _match(ok, len(incidents))
    for e, exp in enumerate(expect.incidents):
        j = matched[e]
        check = {"expect": _describe(exp), "passed": j is not None}
        if j is not None:
            inc, detected = incidents[j], judged[e][j][1]
            check["detail"] = f"incident {inc['id']} first had it at {detected}s"
            check.update(incident=inc["id"], detected_s=detected)
        else:
            taken = [incidents[i]["id"] for i in ok[e]]
            partial = [(incidents[i], judged[e][i]) for i in range(len(incidents)) if judged[e][i][1] is not None]
            if taken:
                why = f"incident {', '.join(taken)} meets it but is matched to another expectation"
            elif partial:
                why = "; ".join(f"incident {inc['id']}: " + ", ".join(p) for inc, (p, _) in partial)
            else:
                why = f"no incident ever had cause {exp.cause}" + (f" and root {exp.root}" if exp.root else "")
            check["detail"] = why + (f" ({note})" if note else "")
        checks.append(check)
    for f in expect.forbid:
        desc = f"no incident cause={f.cause}" + (f" root={f.root}" if f.root else "")
        bad = []  # (incident, the first history entry with the forbidden cause / root)
        for i in incidents:
            first = next(
                (
                    h
                    for h in history_of(i)
                    if h["change"] not in CLOSES and h["cause"] == f.cause and (f.root is None or h["root"] == f.root)
                ),
                None,
            )
            if first is not None:
                bad.append((i, first))
        seen = ", ".join(f"{i['id']} ({h['root']} at {h['at_s']}s)" for i, h in bad)
        checks.append({"expect": desc, "passed": not bad, "detail": f"seen: {seen}" if bad else "none seen"})
    if expect.max_incidents is not None:
        checks.append(
            {
                "expect": f"at most {expect.max_incidents} incident(s)",
                "passed": len(incidents) <= expect.max_incidents,
                "detail": f"{len(incidents)} seen"
                + (": " + ", ".join(f"{i['cause']} {i['root']}" for i in incidents) if incidents else ""),
            }
        )
    if expect.inventory_suspects is not None:
        checks.append(_check_suspects(expect.inventory_suspects, run))
    avail = run.get("availability")
    for a in expect.availability:
        lo, hi = a.hotspot_minutes_between
        desc = f"availability {a.cause} in [{lo:g}, {hi:g}] hotspot-minutes"
        if avail is None:
            checks.append({"expect": desc, "passed": False, "detail": "no availability accounting for this run"})
            continue
        v = float(avail.get(a.cause, 0.0))
        checks.append({"expect": desc, "passed": lo <= v <= hi, "detail": f"{v:g} hotspot-minutes"})
    return checks
