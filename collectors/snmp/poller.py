"""The hotspot poller: runs each device's compiled profile against it and turns answers into samples.

One poll of a hotspot = one exchange: a multi-column GETBULK walk (all its tables at once;
max-repetitions tuned from the rows seen last time) carrying the ``.0`` scalars as non-repeaters,
or, between walks, one GET of the scalars and the rows the last walk found (:class:`GetPlan`). The result becomes
``hotspot_poll`` / ``hotspot_if`` / ``hotspot_radio`` points for the sink, a health observation,
and (on a sysUpTime drop) a reboot event with the counter history reset, so no rate spikes.

A cycle polls every target once: start times are spread over ``spread`` × interval with a fixed
per-target offset plus jitter (no thundering herd); concurrency is bounded; one slow or broken
target only ever holds its own slot, for at most its timeout × retries. Switches and controllers
have slots of their own: the network's evidence is never queued behind a burst of hotspot polls.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import zlib
from dataclasses import dataclass, field
from typing import Callable

from collectors.sink import Point, Sink
from collectors.snmp.counters import CounterStats, CounterTracker
from collectors.snmp.engine import (
    V3,
    SnmpEngine,
    SnmpError,
    SnmpProtocolError,
    SnmpTimeout,
    Target,
    V2c,
    encode_varbind_list,
)
from collectors.snmp.profiles import Profile, ProfileSet, TablePlan
from hotspots.credentials import V2cCredentials, V3Credentials
from hotspots.health import DOWN, HealthTracker
from hotspots.inventory import Inventory
from snmpwire import ber

log = logging.getLogger("pantau.collectors.snmp")

NUMERIC_TAGS = {ber.INTEGER, ber.GAUGE32, ber.COUNTER32, ber.TIMETICKS, ber.COUNTER64}
TYPE_TAGS = {
    "integer": NUMERIC_TAGS,
    "gauge": NUMERIC_TAGS,
    "timeticks": {ber.TIMETICKS},
    "counter32": {ber.COUNTER32},
    "counter64": {ber.COUNTER64},
    "string": {ber.OCTET_STRING},
    "oid": {ber.OID},
}
SLOW_MS = 1000.0
HIGH_CPU = 95.0
REWALK_EVERY = 10  # polls by a device's GET plan between two walks of its tables
MAX_GET_CELLS = 80  # a device with more cells keeps walking (a GET answer stays well inside one datagram)


def security_of(creds) -> V2c | V3:
    if isinstance(creds, V2cCredentials):
        return V2c(creds.community.get_secret_value().encode())
    assert isinstance(creds, V3Credentials)
    return V3(
        creds.user,
        creds.auth_protocol,
        creds.auth_password.get_secret_value(),
        creds.priv_protocol,
        creds.priv_password.get_secret_value() if creds.priv_password else None,
    )


@dataclass(eq=False)
class PollTarget:
    """A device to poll with its profile, tags and history."""

    element: str  # "hotspot:AP-0042"
    ident: str
    target: Target
    profile: Profile
    tags: dict[str, str]
    offset: float  # fraction of the spread window where this target starts
    max_rep: int = 0  # tuned from the rows seen last time (0: use the profile's)
    counters: CounterTracker = field(default_factory=CounterTracker)
    last_uptime: float | None = None
    last_poll: float | None = None
    scalar_vbl: bytes = b""
    plan: GetPlan | None = None  # the rows the last walk found, asked for by GET until the next walk
    since_walk: int = 0  # polls by the plan since that walk


@dataclass(eq=False)
class GetPlan:
    """One GET for a device whose tables' rows are known (Zabbix items after low-level discovery,
    Cacti's reindexed data queries): the profile's scalars, then each (column, index) the last walk
    returned. Exactly the values a walk would bring, without the walk's overshoot (GETBULK repeats
    every column as often as the longest table has rows, plus one to see each column end: a UniFi
    AP's walk answers 81 varbinds where 45 are rows) and with no end-of-column checks. A cell that
    is gone (noSuch*) sends the device back to walking; so does a reboot, an error status and every
    REWALK_EVERY-th poll (new rows appear within that many polls)."""

    vbl: bytes  # the GET's varbind list: the scalars, then every cell
    n_scalars: int
    cells: list[tuple[tuple[int, ...], tuple[int, ...]]]  # (column, index), shared between devices (_CELLS)
    names: bytes  # every cell's OID content octets, joined: one comparison checks a whole answer

    @property
    def size(self) -> int:
        return self.n_scalars + len(self.cells)


@dataclass
class PollOutcome:
    ok: bool
    latency_ms: float
    error: str = ""
    error_kind: str = ""
    problems: list[str] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    rebooted: bool = False


@dataclass
class CycleStats:
    started: float = 0.0
    duration_s: float = 0.0
    polled: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0  # still being polled by the previous cycle
    timeouts: int = 0
    errors: dict[str, int] = field(default_factory=dict)


CONFIRM_FLOOR_S = 1.0  # real seconds between confirmation polls of a failing element, whatever the interval


class HotspotPoller:
    def __init__(
        self,
        inventory: Inventory,
        profiles: ProfileSet,
        engine: SnmpEngine,
        sink: Sink,
        health: HealthTracker | None = None,
        concurrency: int = 256,
        timeout: float = 1.0,
        retries: int = 1,
        port: int | None = None,
        address_map=None,
        include_switches: bool = True,
        confirm_failures: bool = True,
    ):
        self.inv = inventory
        self.profiles = profiles
        self.engine = engine
        self.sink = sink
        self.health = health or HealthTracker()
        self.concurrency = concurrency
        self.counter_stats = CounterStats()
        self.targets: dict[str, PollTarget] = {}
        self.switch_targets: dict[str, PollTarget] = {}
        self.owns: Callable[[str], bool] | None = None  # this node's share of the city (None: all)
        self.controllers: dict[str, PollTarget] = {}
        self.last_cycle = CycleStats()
        self.controller_clients: dict[str, int] = {}
        self.latency_ms: dict[str, float] = {}
        self.errors: dict[str, str] = {}
        # A failed poll of an element not yet down is confirmed at once (Nagios' retry_interval,
        # Zabbix's unreachable poller) instead of at the next cycles: "down" then takes about one
        # poll interval plus one poll's timeouts, not fail_threshold poll intervals — and it does
        # not stretch when cycles run late (a scaled scenario, a busy collector).
        self.confirm_failures = confirm_failures
        # Spaced over one poll interval (run_cycle learns it): a stall of the collector or the
        # network shorter than that still does not take an element down.
        self._interval_s: dict[str, float] = {}
        self.confirm_stats = {"confirm_polls": 0, "confirmed_down": 0, "cleared": 0, "recover_polls": 0}
        self._confirming: dict[str, asyncio.Task] = {}
        self._ok_at: dict[str, float] = {}  # send time of each target's newest answered poll
        self._inflight: set[str] = set()
        self.closing = False  # set first thing on shutdown: from then on results are not evidence
        self._sem = asyncio.Semaphore(concurrency)  # hotspots
        infra = asyncio.Semaphore(max(8, concurrency // 8))
        self._sems = {"hotspots": self._sem, "switches": infra, "controllers": infra}
        creds = inventory.credentials.profiles

        def tgt(name, address, snmp_port, cred):
            return Target(name, address, port or snmp_port, security_of(creds[cred]), timeout=timeout, retries=retries)

        for h in inventory.hotspots.values():
            prof = profiles.for_vendor(h.vendor)
            tags = {
                "city": inventory.city,
                "hotspot": h.id,
                "kecamatan": h.kecamatan,
                "kelurahan": h.kelurahan,
                "vendor": h.vendor,
                "switch": h.switch,
                "transformer": h.transformer,
                "feeder": inventory.transformers[h.transformer].feeder,
            }
            pt = PollTarget(
                f"hotspot:{h.id}",
                h.id,
                tgt(h.id, h.address, h.snmp_port, h.credentials),
                prof,
                tags,
                offset=(zlib.crc32(h.id.encode()) % 10007) / 10007,
            )
            pt.scalar_vbl = encode_varbind_list(prof.scalar_oids)
            self.targets[h.id] = pt
        generic = profiles.profiles.get("generic")
        if include_switches and generic is not None:
            for s in inventory.switches.values():
                tags = {"city": inventory.city, "switch": s.id, "role": s.role}
                pt = PollTarget(
                    f"switch:{s.id}",
                    s.id,
                    tgt(s.id, s.address, 161, s.credentials),
                    generic,
                    tags,
                    offset=(zlib.crc32(s.id.encode()) % 10007) / 10007,
                )
                pt.scalar_vbl = encode_varbind_list(generic.scalar_oids)
                self.switch_targets[s.id] = pt
        for c in inventory.controllers.values():
            prof = profiles.controller_profile(c.vendor)
            if prof is None:
                log.warning("no controller profile for %s (%s): its APs' radios are not polled", c.id, c.vendor)
                continue
            pt = PollTarget(
                f"controller:{c.id}",
                c.id,
                tgt(c.id, c.address, c.snmp_port, c.credentials),
                prof,
                {"city": inventory.city, "controller": c.id},
                offset=0.0,
            )
            self.controllers[c.id] = pt

    # --- one device --------------------------------------------------------------------------
    async def poll_device(self, pt: PollTarget, now: float | None = None) -> PollOutcome:
        t0 = time.monotonic()
        at = time.time() if now is None else now
        prof = pt.profile
        try:
            scalars = {}
            columns = prof.walk_columns
            plan = pt.plan
            if plan is not None and pt.since_walk < REWALK_EVERY:
                pt.since_walk += 1
                vbs, tables = await self._get_by_plan(pt, plan, columns)
            else:
                mr = pt.max_rep or max((t.max_repetitions for t in prof.tables.values()), default=1)
                if prof.scalars_bulk:
                    # one exchange: the scalars ride the first GETBULK of the walk as non-repeaters
                    vbs, tables = await self.engine.scalars_and_walk(pt.target, prof.scalar_oids, columns, mr)
                else:
                    vbs = await self.engine.get(pt.target, prof.scalar_oids, pt.scalar_vbl) if prof.scalar_oids else []
                    tables = await self.engine.walk(pt.target, columns, max_repetitions=mr) if columns else {}
                pt.plan = _plan_of(prof, tables)
                # the next walks of a city's devices spread over REWALK_EVERY cycles, not all at once
                pt.since_walk = 0 if plan is not None else int(pt.offset * REWALK_EVERY)
            for (name, spec), vb in zip(prof.scalars.items(), vbs):
                v = _typed(vb, spec.type)
                if v is not None:
                    scalars[name] = v * spec.scale if isinstance(v, (int, float)) and spec.scale != 1 else v
        except SnmpError as exc:
            latency = (time.monotonic() - t0) * 1000
            if not isinstance(exc, SnmpTimeout):
                pt.plan = None  # an error status (tooBig, genErr…) or a protocol error: walk next time
            return PollOutcome(False, latency, exc.detail, exc.kind)
        latency = (time.monotonic() - t0) * 1000
        out = PollOutcome(True, latency)
        rows_seen = max((len(v) for v in tables.values()), default=0)
        pt.max_rep = max(2, min(50, rows_seen + 1))
        # reboot: sysUpTime went backwards (or is smaller than the time since the last poll)
        uptime = scalars.get("sys_uptime_s")
        if uptime is not None and pt.last_uptime is not None and pt.last_poll is not None:
            if uptime + 1.0 < pt.last_uptime + (at - pt.last_poll) * 0.5 and uptime < pt.last_uptime:
                out.rebooted = True
                pt.counters.reset()
                pt.plan = None  # a rebooted device may number its rows anew
        if uptime is not None:
            pt.last_uptime, pt.last_poll = uptime, at
        time_ns = int(at * 1e9)
        is_hotspot = pt.element.startswith("hotspot:")
        poll_fields: dict = {"up": True, "latency_ms": round(latency, 2)}
        if uptime is not None:
            poll_fields["sys_uptime_s"] = float(uptime)
        for plan in prof.tables.values():
            rows = self._rows(pt, plan, tables, at, out)
            if plan.measurement:
                measurement = plan.measurement if is_hotspot else plan.measurement.replace("hotspot_", "switch_")
                for labels, fields, _raw in rows:
                    if fields:
                        out.points.append(Point(measurement, {**pt.tags, **labels}, fields, time_ns))
            for sname, s in plan.summary.items():
                v = _summarise(s, [r for _, _, r in rows])
                if v is not None:
                    poll_fields[sname] = round(v, 2)
        radios = _merge_radios([p for p in out.points if p.measurement == "hotspot_radio"], prof, time_ns)
        out.points = [p for p in out.points if p.measurement != "hotspot_radio"] + radios
        clients = [p.fields["clients"] for p in radios if "clients" in p.fields]
        if clients:
            poll_fields["clients"] = int(sum(clients))
        elif pt.ident in self.controller_clients:
            poll_fields["clients"] = self.controller_clients[pt.ident]
        if latency > SLOW_MS:
            out.problems.append(f"slow answer ({latency:.0f} ms)")
        if poll_fields.get("cpu_pct", 0) >= HIGH_CPU:
            out.problems.append(f"CPU at {poll_fields['cpu_pct']:.0f} %")
        down_ifs = [
            p.tags.get("ifname", "?")
            for p in out.points
            if is_hotspot and p.measurement == "hotspot_if" and p.fields.get("oper_up") is False
        ]
        if down_ifs:
            out.problems.append("interface down: " + ", ".join(down_ifs))
        out.points.insert(0, Point(_poll_measurement(pt), pt.tags, poll_fields, time_ns))
        return out

    async def _get_by_plan(
        self, pt: PollTarget, plan: GetPlan, columns: list[tuple[int, ...]]
    ) -> tuple[list, dict[tuple[int, ...], list]]:
        """The scalars and the known rows in one GET; a vanished cell drops the plan (walk next poll)."""
        pdu = await self.engine.request(pt.target, ber.GET, plan.vbl)
        vbs = pdu.varbinds
        if len(vbs) != plan.size:
            raise SnmpProtocolError(pt.target.name, f"GET of {plan.size} OIDs answered with {len(vbs)} varbinds")
        tables: dict[tuple[int, ...], list] = {c: [] for c in columns}
        n = plan.n_scalars
        cells = vbs[n:]
        intact = b"".join([vb.oid_raw for vb in cells]) == plan.names and all(vb.tag < 0x80 for vb in cells)
        for (col, index), vb in zip(plan.cells, cells):
            if not intact and (vb.tag >= 0x80 or vb.oid_raw != ber.oid_content(col + index)):
                continue  # noSuchInstance/noSuchObject (the row set changed) or not what was asked
            tables[col].append((index, vb))
        if not intact:
            pt.plan = None  # walk next poll
        return vbs[:n], tables

    def _rows(
        self, pt: PollTarget, plan: TablePlan, tables: dict, at: float, out: PollOutcome
    ) -> list[tuple[dict, dict, dict]]:
        """Turn walked columns into rows of (labels, stored fields, raw values) for one table."""
        by_index: dict[tuple, dict[str, object]] = {}
        fallback_vals: dict[tuple, dict[str, object]] = {}
        label_vals: dict[tuple, dict[str, object]] = {}
        for oid, (kind, name) in plan.walk.items():
            for index, vb in tables.get(oid, ()):
                if kind == "label":
                    label_vals.setdefault(index, {})[name] = _label_value(vb)
                    continue
                col = plan.columns[name]
                spec_type = col.type if kind == "col" else _fallback_type(col.type)
                v = _typed(vb, spec_type)
                if v is None:
                    if vb.tag < 0x80 and vb.tag != ber.NULL:
                        out.problems.append(f"{plan.name}.{name}: unexpected type 0x{vb.tag:02x}")
                    continue
                (by_index if kind == "col" else fallback_vals).setdefault(index, {})[name] = (v, spec_type)
        indexes = sorted(set(by_index) | set(fallback_vals) | set(label_vals))
        rows = []
        for index in indexes:
            vals = by_index.get(index, {})
            fb = fallback_vals.get(index, {})
            fields: dict[str, object] = {}
            raw: dict[str, object] = {}
            for name, col in plan.columns.items():
                if name in vals:
                    v, vtype = vals[name]
                    scale = col.scale
                elif name in fb:
                    v, vtype = fb[name]
                    scale = col.fallback.scale
                else:
                    continue
                if col.map is not None:
                    v = _map(col.map, v)
                    if v is None:
                        continue
                elif isinstance(v, (int, float)) and not isinstance(v, bool) and scale != 1:
                    v = v * scale
                raw[name] = (v, vtype)
            if plan.where is not None:
                w = raw.get(plan.where.column)
                if w is None or _as_text(w[0]) != str(plan.where.equals):
                    continue
            for name, col in plan.columns.items():
                if name not in raw:
                    continue
                v, vtype = raw[name]
                if col.rate is not None:
                    bits = 64 if vtype == "counter64" else 32
                    lim = None
                    if col.rate.limit and col.rate.limit in raw:
                        lim = float(raw[col.rate.limit][0])
                    r = pt.counters.rate((plan.name, index, name), int(v), bits, at, col.rate.multiplier, lim)
                    if r is not None:
                        fields[col.rate.field] = round(r, 3)
                if col.store:
                    fields[name] = v if isinstance(v, (bool, str)) else (int(v) if isinstance(v, int) else float(v))
            labels = {}
            for lname, lab in plan.labels.items():
                if lab.index is not None:
                    lv = index[lab.index] if lab.index < len(index) else None
                else:
                    lv = label_vals.get(index, {}).get(lname)
                lv = _label(lab, lv)
                if lv is None:
                    lv = ".".join(map(str, index))
                labels[lname] = str(lv)
            if not plan.labels:
                labels["index"] = ".".join(map(str, index))
            rows.append((labels, fields, {name: rv[0] for name, rv in raw.items()}))  # raw values: for summaries
        return rows

    # --- a cycle -----------------------------------------------------------------------------
    async def run_cycle(
        self, which: str = "hotspots", spread_s: float = 0.0, jitter_s: float = 0.0, interval_s: float | None = None
    ) -> CycleStats:
        """Poll every target of ``which`` (hotspots | switches | controllers) once."""
        if interval_s:
            self._interval_s[which] = interval_s
        targets = {"hotspots": self.targets, "switches": self.switch_targets, "controllers": self.controllers}[which]
        stats = CycleStats(started=time.time())
        t0 = time.monotonic()
        owns = self.owns
        order = sorted((pt for pt in targets.values() if owns is None or owns(pt.element)), key=lambda p: p.offset)
        tasks = []
        loop = asyncio.get_running_loop()
        for pt in order:
            if spread_s > 0:
                start_at = t0 + pt.offset * spread_s + (random.uniform(0, jitter_s) if jitter_s else 0.0)
                delay = start_at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            tasks.append(loop.create_task(self._bounded(pt, which, stats)))
        if tasks:
            await asyncio.gather(*tasks)
        stats.duration_s = time.monotonic() - t0
        self.last_cycle = stats
        self.sink.write(
            [
                Point(
                    "pantau_self",
                    {"component": "snmp", "target": which, "city": self.inv.city},
                    {
                        "cycle_s": round(stats.duration_s, 4),
                        "polled": stats.polled,
                        "ok": stats.ok,
                        "failed": stats.failed,
                        "timeouts": stats.timeouts,
                        "retries": self.engine.stats.retries,
                        "counter_wraps": self.counter_stats.wraps,
                        "counter_absurd": self.counter_stats.absurd,
                    },
                    int(stats.started * 1e9),
                )
            ]
        )
        return stats

    async def _bounded(self, pt: PollTarget, which: str, stats: CycleStats) -> None:
        if pt.ident in self._inflight or pt.ident in self._confirming:
            stats.skipped += 1  # its previous poll (a straggler of the last cycle) is still running
            return
        self._inflight.add(pt.ident)
        try:
            await self._bounded_poll(pt, which, stats)
        finally:
            self._inflight.discard(pt.ident)

    async def _bounded_poll(self, pt: PollTarget, which: str, stats: CycleStats) -> None:
        async with self._sems[which]:
            try:
                if which == "controllers":
                    await self.poll_controller(pt)
                    stats.polled += 1
                    stats.ok += 1
                    return
                await self.poll_and_record(pt, stats)
            except SnmpError as exc:
                stats.polled += 1
                stats.failed += 1
                stats.errors[exc.kind] = stats.errors.get(exc.kind, 0) + 1
                self.errors[pt.ident] = exc.detail
            except Exception as exc:  # contain anything unexpected to this one target
                log.exception("poll of %s failed unexpectedly", pt.element)
                stats.failed += 1
                self.errors[pt.ident] = f"internal error: {exc!r}"

    async def poll_and_record(self, pt: PollTarget, stats: CycleStats | None = None) -> PollOutcome:
        at = time.time()
        # No answer within the first try's timeout is already news: the confirmation polls start
        # then, while this poll still waits out its retry (timeouts are real seconds; a target
        # that answers late ends the confirmations with its answer).
        early = None
        if self.confirm_failures and self.health.get(pt.element).state != DOWN:
            early = asyncio.get_running_loop().call_later(pt.target.timeout, self._confirm_later, pt, at)
        try:
            out = await self.poll_device(pt, at)
        finally:
            if early is not None:
                early.cancel()
        self._record(pt, out, at, stats)
        if self.confirm_failures and not self.closing:
            if not out.ok:
                self._confirm_later(pt, at)
            elif self.health.get(pt.element).state == DOWN:
                self._recover_later(pt)
        return out

    def _record(self, pt: PollTarget, out: PollOutcome, at: float, stats: CycleStats | None = None) -> None:
        """Points, errors and health of one poll."""
        if self.closing:
            return  # a poll our own shutdown cut short says nothing about the device
        self.latency_ms[pt.ident] = out.latency_ms
        if stats is not None:
            stats.polled += 1
            if out.ok:
                stats.ok += 1
            else:
                stats.failed += 1
                stats.errors[out.error_kind] = stats.errors.get(out.error_kind, 0) + 1
                if out.error_kind == "timeout":
                    stats.timeouts += 1
        if out.ok:
            self._ok_at[pt.ident] = max(self._ok_at.get(pt.ident, 0.0), at)
            self.errors.pop(pt.ident, None)
            self.sink.write(out.points)
            if out.rebooted:
                self.health.rebooted(pt.element, at, f"sysUpTime dropped to {pt.last_uptime:.0f} s")
        else:
            self.errors[pt.ident] = out.error
            self.sink.write(
                [
                    Point(
                        _poll_measurement(pt),
                        pt.tags,
                        {"up": False, "latency_ms": round(out.latency_ms, 2), "error": out.error_kind},
                        int(at * 1e9),
                    )
                ]
            )
        self.health.observe(pt.element, out.ok, at, out.error, out.problems)

    def _confirm_later(self, pt: PollTarget, since: float) -> None:
        if self.closing or pt.ident in self._confirming or self.health.get(pt.element).state == DOWN:
            return
        self._confirming[pt.ident] = asyncio.get_running_loop().create_task(self._confirm(pt, since))

    async def _confirm(self, pt: PollTarget, since: float) -> None:
        """Confirm a failing element (Nagios' retry_interval): up to ``fail_threshold - 1`` more
        polls, sent ``delay`` apart without waiting for the one before — a dead target's poll
        waits out its timeouts (real seconds at every time scale) while the next goes out — until
        one answers or it is down."""
        which = "hotspots" if pt.ident in self.targets else "switches"
        sem = self._sems[which]
        interval = self._interval_s.get(which)
        # spread over one interval, at least CONFIRM_FLOOR_S of real time apart
        delay = max(CONFIRM_FLOOR_S, (interval or 0.0) / self.health.fail_threshold)
        tasks: list[asyncio.Task] = []

        async def one() -> None:
            out = await self._extra_poll(pt, sem)
            if out is not None and out.ok:
                self.confirm_stats["cleared"] += 1

        try:
            for i in range(max(0, self.health.fail_threshold - 1)):
                if i:
                    await asyncio.sleep(delay)
                h = self.health.get(pt.element)
                if h.state == DOWN or self.closing or self._ok_at.get(pt.ident, 0.0) >= since:
                    break  # down, or it answered a poll sent since the chain started
                self.confirm_stats["confirm_polls"] += 1
                tasks.append(asyncio.get_running_loop().create_task(one()))
            await asyncio.gather(*tasks)
            if self.health.get(pt.element).state == DOWN:
                self.confirm_stats["confirmed_down"] += 1
        finally:
            for t in tasks:
                t.cancel()
            self._confirming.pop(pt.ident, None)

    async def _extra_poll(self, pt: PollTarget, sem: asyncio.Semaphore) -> PollOutcome | None:
        """One poll outside the cycle (a confirmation of a failure or of a comeback), recorded as
        evidence; None when the engine refused it (the error is kept)."""
        async with sem:
            at = time.time()
            try:
                out = await self.poll_device(pt, at)
            except SnmpError as exc:
                self.errors[pt.ident] = exc.detail
                return None
            self._record(pt, out, at)
            return out

    def _recover_later(self, pt: PollTarget) -> None:
        if self.closing or pt.ident in self._confirming:
            return
        self._confirming[pt.ident] = asyncio.get_running_loop().create_task(self._confirm_recovery(pt))

    async def _confirm_recovery(self, pt: PollTarget) -> None:
        """A down element that answered again is re-polled soon — ``recover_threshold - 1`` more
        polls, each after the one before, spaced over about half an interval (at least
        CONFIRM_FLOOR_S apart) — until it is up or fails again: its comeback is known within about
        one interval instead of ``recover_threshold`` cycles, and does not stretch when cycles run
        late (a busy collector, a scaled scenario). Good polls in a row are still required."""
        which = "hotspots" if pt.ident in self.targets else "switches"
        sem = self._sems[which]
        interval = self._interval_s.get(which)
        delay = max(CONFIRM_FLOOR_S, (interval or 0.0) / max(2, self.health.recover_threshold))
        try:
            for _ in range(max(0, self.health.recover_threshold - 1)):
                await asyncio.sleep(delay)
                h = self.health.get(pt.element)
                if h.state != DOWN or h.goods == 0 or self.closing:
                    return  # up already, or failing again: the cycles go on from there
                self.confirm_stats["recover_polls"] += 1
                out = await self._extra_poll(pt, sem)
                if out is None or not out.ok:
                    return
        finally:
            self._confirming.pop(pt.ident, None)

    async def stop(self) -> None:
        """Stop taking results as evidence; cancel pending confirmations (the engine is closed by its owner)."""
        self.closing = True
        for t in list(self._confirming.values()):
            t.cancel()
        await asyncio.gather(*self._confirming.values(), return_exceptions=True)

    async def repoll(self, ident: str) -> PollOutcome | None:
        pt = self.targets.get(ident) or self.switch_targets.get(ident)
        if pt is None:
            return None
        async with self._sem if ident in self.targets else self._sems["switches"]:
            return await self.poll_and_record(pt)

    # --- wireless controllers ----------------------------------------------------------------
    async def poll_controller(self, pt: PollTarget) -> int:
        """Walk a WLC's AP and radio tables once; write hotspot_radio for every joined AP."""
        spec = pt.profile.controller
        prof = pt.profile
        at = time.time()
        ap_entry = tuple(int(x) for x in spec.ap_table.split("."))
        name_col = ap_entry + (spec.name_column,)
        cols = [name_col] + ([ap_entry + (spec.status_column,)] if spec.status_column else [])
        aps = await self.engine.walk(pt.target, cols, max_repetitions=40, max_rows=20000)
        names = {idx: _as_text(_label_value(vb)) for idx, vb in aps[name_col]}
        joined = (
            {idx for idx, vb in aps.get(cols[-1], []) if _typed(vb, "integer") == spec.joined_value}
            if spec.status_column
            else set(names)
        )
        tables = await self.engine.walk(pt.target, prof.walk_columns, max_repetitions=40, max_rows=20000)
        n = spec.index_length
        by_ap: dict[tuple, dict] = {}
        for oid, rows in tables.items():
            for index, vb in rows:
                by_ap.setdefault(index[:n], {}).setdefault(oid, []).append((index, vb))
        time_ns = int(at * 1e9)
        written = 0
        points = []
        for mac, cols_of_ap in by_ap.items():
            name = names.get(mac)
            if name is None or mac not in joined or name not in self.targets:
                continue
            ap = self.targets[name]
            out = PollOutcome(True, 0.0)
            radio_points = []
            for plan in prof.tables.values():
                for labels, fields, _raw in self._rows(ap, plan, cols_of_ap, at, out):
                    if plan.measurement and fields:
                        radio_points.append(Point(plan.measurement, {**ap.tags, **labels}, fields, time_ns))
            merged = _merge_radios(radio_points, prof, time_ns)
            self.controller_clients[name] = int(sum(p.fields.get("clients", 0) for p in merged))
            points.extend(merged)
            written += 1
        self.sink.write(points)
        return written


# ---------------------------------------------------------------------------- helpers


def _poll_measurement(pt: PollTarget) -> str:
    return "hotspot_poll" if pt.element.startswith("hotspot:") else "switch_poll"


_CELLS: dict[tuple, tuple] = {}  # (column, index) pairs, one object each for a city's devices


def _plan_of(prof: Profile, tables: dict[tuple[int, ...], list]) -> GetPlan | None:
    """The GET plan of what a walk found, or None when it would not fit one modest message. A
    plan keeps its encoded request and its cells' names in two byte strings and shares its
    (column, index) pairs with every device that has them: ~2 KB a device, not ~17 KB (ten
    cities' 23,000 plans as lists of OID tuples took a node's RSS from 469 to 905 MB)."""
    found = [(col, index, vb.oid_raw) for col in prof.walk_columns for index, vb in tables.get(col, ())]
    if not found or len(found) + len(prof.scalar_oids) > MAX_GET_CELLS:
        return None
    if len(_CELLS) > 100_000:
        _CELLS.clear()
    cells = [_CELLS.setdefault((col, index), (col, index)) for col, index, _ in found]
    oids = list(prof.scalar_oids) + [col + index for col, index, _ in found]
    return GetPlan(encode_varbind_list(oids), len(prof.scalar_oids), cells, b"".join(raw for _, _, raw in found))


def _typed(vb: ber.VarBind, vtype: str):
    """The varbind's value if its SNMP type fits the profile's declared type, else None."""
    if vb.tag not in TYPE_TAGS[vtype]:
        return None
    try:
        return ber.decode_value(vb.tag, vb.value_raw)
    except ber.BERError:
        return None


def _fallback_type(t: str) -> str:
    return "counter32" if t == "counter64" else t


def _label_value(vb: ber.VarBind):
    if vb.tag == ber.OCTET_STRING:
        try:
            return vb.value_raw.decode()
        except UnicodeDecodeError:
            return vb.value_raw.hex(":")
    if vb.tag in NUMERIC_TAGS:
        return int.from_bytes(vb.value_raw, "big", signed=vb.tag == ber.INTEGER)
    return None


def _as_text(v) -> str:
    if isinstance(v, tuple):
        return ".".join(map(str, v))
    if isinstance(v, bytes):
        return v.decode(errors="replace")
    return str(v)


def _map(mapping: dict, v):
    if v in mapping:
        return mapping[v]
    s = _as_text(v)
    for k, out in mapping.items():
        if str(k) == s:
            return out
    return None


def _label(lab, v):
    if v is None:
        return None
    if lab.map is not None:
        return _map(lab.map, v)
    if lab.ranges is not None:
        try:
            x = float(v)
        except (TypeError, ValueError):
            return None
        for lo, hi, name in lab.ranges:
            if lo <= x < hi:
                return name
        return None
    return _as_text(v)


def _summarise(s, vals: list[dict]):
    if s.percent:
        num = sum(float(v[s.percent[0]]) for v in vals if s.percent[0] in v and s.percent[1] in v)
        den = sum(float(v[s.percent[1]]) for v in vals if s.percent[0] in v and s.percent[1] in v)
        return 100.0 * num / den if den > 0 else None
    name = s.mean or s.sum or s.max
    xs = [float(v[name]) for v in vals if name in v and isinstance(v[name], (int, float))]
    if not xs:
        return None
    if s.mean:
        return sum(xs) / len(xs)
    if s.sum:
        return sum(xs)
    return max(xs)


def _merge_radios(points: list[Point], prof: Profile, time_ns: int) -> list[Point]:
    """Rows of several tables (radio + VAP tables) that share tags become one point per radio;
    duplicated fields combine as the profile's column says (sum of VAP clients, worst noise)."""
    combine = {}
    for plan in prof.tables.values():
        for name, col in plan.columns.items():
            combine[name] = col.combine
    merged: dict[tuple, dict] = {}
    counts: dict[tuple, dict] = {}
    tagsets: dict[tuple, dict] = {}
    for p in points:
        key = tuple(sorted(p.tags.items()))
        tagsets[key] = dict(p.tags)
        f = merged.setdefault(key, {})
        c = counts.setdefault(key, {})
        for k, v in p.fields.items():
            if k not in f:
                f[k] = v
                c[k] = 1
                continue
            how = combine.get(k, "last")
            if how == "sum":
                f[k] = f[k] + v
            elif how == "max":
                f[k] = max(f[k], v)
            elif how == "min":
                f[k] = min(f[k], v)
            elif how == "mean":
                f[k] = (f[k] * c[k] + v) / (c[k] + 1)
            else:
                f[k] = v
            c[k] += 1
    return [Point("hotspot_radio", tagsets[k], f, time_ns) for k, f in merged.items() if f]
