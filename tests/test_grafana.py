"""Grafana dashboards as code (dashboards/grafana/): the committed JSON is what build.py makes, every
dashboard validates against Grafana's published dashboard JSON schema (vendored in
dashboards/grafana/schema/), the provisioning holds no secret — and every panel's, annotation's and
variable's query, with its variables substituted and Grafana's macros expanded as Grafana does, runs
against a real InfluxDB filled by a short simulated run at time scale 10 and returns data."""

from __future__ import annotations

import importlib.util
import json
import re
import time
from pathlib import Path

import httpx
import jsonschema_rs
import pytest
import yaml

from tests.fixtures.waiting import wait

ROOT = Path(__file__).resolve().parent.parent
GRAFANA = ROOT / "dashboards" / "grafana"
K = 10


def _build_module():
    spec = importlib.util.spec_from_file_location("pantau_grafana_build", GRAFANA / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


build = _build_module()


def dashboards() -> dict[str, dict]:
    return {name: json.loads(text) for name, text in build.build().items()}


# --- Grafana's query interpolation, as the InfluxDB data source does it ------------------------------
# (public/app/plugins/datasource/influxdb: interpolateQueryExpr and escapeRegex; the $timeFilter and
# $__interval of its InfluxQL backend; rangeutil.roundInterval for the automatic interval.)
_REGEX_SPECIALS = re.compile(r"[\\^$*+?.()|[\]{}/]")


def escape_regex(value: str) -> str:
    return _REGEX_SPECIALS.sub(lambda m: "\\" + m.group(0), value)


def format_value(values: list[str], multi: bool, in_regex: bool) -> str:
    """A variable's value as Grafana writes it into an InfluxQL query: several values (multi or
    All) as an escaped alternation, one value escaped when it stands in a regex, numbers as they are."""
    if len(values) == 1 and re.fullmatch(r"-?\d+(\.\d+)?", values[0]):
        return values[0]
    if multi or len(values) > 1:
        escaped = [escape_regex(v) for v in values]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
    return escape_regex(values[0]) if in_regex else values[0]


_STEPS_MS = [  # (upper bound of the raw interval, rounded interval), Grafana's roundInterval
    (10, 1), (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000),
    (3500, 2000), (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000), (45000, 30000),
    (90000, 60000), (210000, 120000), (450000, 300000), (750000, 600000), (1050000, 900000),
    (1500000, 1200000), (2700000, 1800000), (5400000, 3600000), (9000000, 7200000),
    (16200000, 10800000), (24300000, 21600000), (43200000, 43200000), (86400000, 86400000),
]  # fmt: skip


def interval_ms(range_ms: int, max_data_points: int = 1000, min_interval_ms: int = 10_000) -> int:
    raw = range_ms / max_data_points
    rounded = next((r for bound, r in _STEPS_MS if raw <= bound), 604800000)
    return max(rounded, min_interval_ms)  # the data source's timeInterval is the floor


def ms_to_text(ms: int) -> str:
    for unit, size in (("d", 86400000), ("h", 3600000), ("m", 60000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def expand(query: str, variables: dict[str, tuple[list[str], bool]], from_ms: int, to_ms: int) -> str:
    """``variables``: name → (values, multi-or-All). Macros first, then ``$var`` / ``${var}``."""
    iv = interval_ms(to_ms - from_ms)
    q = query.replace("$__interval_ms", str(iv)).replace("$__interval", ms_to_text(iv))
    time_filter = f"time >= {from_ms}ms and time <= {to_ms}ms"
    q = q.replace("$__timeFilter", time_filter).replace("$timeFilter", time_filter)
    regex_spans = [m.span() for m in re.finditer(r"=~\s*/(?:[^/\\]|\\.)*/", q)]

    def sub(m: re.Match) -> str:
        name = m.group(1) or m.group(2)
        if name not in variables:
            return m.group(0)
        values, multi = variables[name]
        in_regex = any(a <= m.start() < b for a, b in regex_spans)
        return format_value(values, multi, in_regex)

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", sub, q)


@pytest.mark.unit
def test_expand_does_what_grafana_does():
    v = {"city": (["semarang"], False), "kel": (["Kauman", "Pekunden"], True), "k": (["a/b.c"], False)}
    q = expand('SELECT x FROM m WHERE "city" =~ /^$city$/ AND "kel" =~ /^$kel$/ AND $timeFilter', v, 0, 3_600_000)
    assert (
        q
        == 'SELECT x FROM m WHERE "city" =~ /^semarang$/ AND "kel" =~ /^(Kauman|Pekunden)$/ AND time >= 0ms and time <= 3600000ms'
    )
    assert expand('"k" =~ /^$k$/', v, 0, 1) == r'"k" =~ /^a\/b\.c$/'  # a slash would end the regex
    assert expand("'$k'", v, 0, 1) == "'a/b.c'"  # outside a regex: as it is
    assert expand("GROUP BY time($__interval) -- $__interval_ms", v, 0, 24 * 3_600_000) == "GROUP BY time(1m) -- 60000"
    assert expand("time($__interval)", v, 0, 600_000) == "time(10s)"  # the data source's 10 s floor


# --- unit: the files ----------------------------------------------------------------------------
@pytest.mark.unit
def test_committed_dashboards_are_what_build_py_makes():
    built = build.build()
    committed = {p.name: p.read_text() for p in (GRAFANA / "dashboards").glob("*.json")}
    assert set(committed) == set(built) == {f"{n}.json" for n in build.DASHBOARDS}
    for name, text in built.items():
        assert committed[name] == text, f"{name} differs from build.py's: run dashboards/grafana/build.py"
    assert build.main(["--check"]) == 0


@pytest.fixture(scope="module")
def validator():
    schema = json.loads((GRAFANA / "schema" / "dashboard.jsonschema.json").read_text())
    return jsonschema_rs.validator_for(schema)


@pytest.mark.unit
def test_every_dashboard_validates_against_grafanas_published_schema(validator):
    for name, d in dashboards().items():
        errors = [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in validator.iter_errors(d)]
        assert not errors, f"{name}: {errors[:5]}"
    # the schema is not a rubber stamp: what Grafana would not load is refused
    d = dashboards()["hotspot.json"]
    bad = [
        dict(d, panels=[dict(d["panels"][0], gridPos={"h": 8, "w": 30, "x": 0, "y": 0})]),  # wider than the grid
        dict(d, templating={"list": [dict(d["templating"]["list"][0], type="query-ish")]}),  # unknown variable type
        dict(d, refresh=30),  # an interval is a string
        {k: v for k, v in d.items() if k != "schemaVersion"},  # required
        dict(d, panels=[dict(d["panels"][0], gridpos=d["panels"][0]["gridPos"])]),  # a misspelt key
    ]
    for b in bad:
        assert not validator.is_valid(b)


MEASUREMENTS = set(re.findall(r"^\| `(\w+)`(?:, `(\w+)`)? \|", (ROOT / "docs/schema.md").read_text(), re.M))


def queries(d: dict):
    """(where, query) of every panel target, annotation and variable of a dashboard."""
    for p in d["panels"]:
        for t in p.get("targets", []):
            yield f"panel {p['title']!r} {t['refId']}", t["query"]
    for a in d["annotations"]["list"]:
        if "target" in a:
            yield f"annotation {a['name']!r}", a["target"]["query"]
    for v in d["templating"]["list"]:
        yield f"variable {v['name']}", v["query"]


@pytest.mark.unit
def test_dashboards_are_pantaus_and_filter_by_city():
    documented = {m for pair in MEASUREMENTS for m in pair if m}
    assert {"hotspot_poll", "incident", "grid_deadletters"} <= documented
    uids = set()
    for name, d in dashboards().items():
        assert d["uid"].startswith("pantau-") and d["uid"] not in uids and len(d["uid"]) <= 40
        uids.add(d["uid"])
        assert "pantau" in d["tags"] and d["schemaVersion"] == build.SCHEMA_VERSION and d["title"]
        first = d["templating"]["list"][0]
        assert first["name"] == "city" and 'WITH KEY = "city"' in first["query"], name
        assert [p["id"] for p in d["panels"]] == list(range(1, len(d["panels"]) + 1))
        for where, q in queries(d):
            for m in re.findall(r'FROM "(\w+)"', q):
                assert m in documented, f"{name} {where}: {m} is not a measurement of docs/schema.md"
            if where != "variable city":
                assert '"city" =~ /^$city$/' in q, f"{name} {where} does not filter by city"
            if q.startswith("SELECT"):
                assert "$timeFilter" in q or "time > now() -" in q or "GROUP BY time(" not in q, where
                if "GROUP BY time(" in q:
                    assert "GROUP BY time($__interval)" in q, f"{name} {where}: fixed interval"
        for p in d["panels"]:
            assert p["datasource"] == build.DS and p["title"]
            assert all(t["datasource"] == build.DS and t["rawQuery"] for t in p["targets"])
            if p["type"] == "timeseries":
                assert p["fieldConfig"]["defaults"].get("unit"), f"{name} {p['title']!r} has no unit"


@pytest.mark.unit
def test_provisioning_names_the_dashboards_and_holds_no_secret():
    ds = yaml.safe_load((GRAFANA / "provisioning/datasources/pantau.yaml").read_text())["datasources"][0]
    assert ds["type"] == "influxdb" and ds["uid"] == build.DS["uid"] and ds["jsonData"]["version"] == "InfluxQL"
    assert re.fullmatch(r"\$\{\w+\}", ds["jsonData"]["dbName"]) and re.fullmatch(r"\$\{\w+\}", ds["url"])
    assert re.fullmatch(r"\$\{\w+\}", ds["user"]) and re.fullmatch(r"\$\{\w+\}", ds["secureJsonData"]["password"])
    assert "password" not in ds and "basicAuthPassword" not in ds  # only in secureJsonData, from the environment
    prov = yaml.safe_load((GRAFANA / "provisioning/dashboards/pantau.yaml").read_text())["providers"][0]
    assert prov["type"] == "file" and prov["allowUiUpdates"] is False
    assert prov["options"]["path"] == "/var/lib/grafana/dashboards/pantau"


# --- unit: what the dashboards read is written --------------------------------------------------
@pytest.mark.unit
def test_snmp_points_and_events_carry_the_city_and_the_area(semarang):
    from collectors.sink import MemorySink
    from collectors.snmp.collector import SnmpCollector
    from collectors.snmp.poller import HotspotPoller
    from collectors.snmp.profiles import load_profiles
    from hotspots.health import HealthEvent

    poller = HotspotPoller(semarang, load_profiles(), None, MemorySink())
    h = semarang.hotspots["AP-0042"]
    assert poller.targets["AP-0042"].tags == {
        "city": "semarang", "hotspot": "AP-0042", "kecamatan": h.kecamatan, "kelurahan": h.kelurahan,
        "vendor": h.vendor, "switch": h.switch, "transformer": h.transformer,
        "feeder": semarang.transformers[h.transformer].feeder,
    }  # fmt: skip
    assert all(t.tags["city"] == "semarang" for t in [*poller.switch_targets.values(), *poller.controllers.values()])
    sink = MemorySink()
    coll = SnmpCollector(semarang, sink)
    coll._store_event(HealthEvent("hotspot:AP-0042", 10.0, "state", "up", "down", "3 polls unanswered"))
    coll._store_event(HealthEvent("switch:CORE-01", 11.0, "state", "unknown", "up", ""))
    hs, sw = sink.points
    assert hs.measurement == "hotspot_event" and hs.tags == {
        "hotspot": "AP-0042", "kind": "state", "source": "poll", "city": "semarang",
        "kecamatan": h.kecamatan, "kelurahan": h.kelurahan,
    }  # fmt: skip
    assert hs.fields == {"value": "down", "previous": "up", "detail": "3 polls unanswered", "lat": h.lat, "lon": h.lon}
    assert sw.measurement == "network_event" and sw.tags["city"] == "semarang" and "lat" not in sw.fields


@pytest.mark.unit
def test_grid_events_carry_substation_and_feeder(semarang):
    from types import SimpleNamespace

    from collectors.grid.collector import GridCollector
    from collectors.grid.state import GridEvent
    from collectors.sink import MemorySink

    fake = SimpleNamespace(inv=semarang, sink=MemorySink())
    t = next(iter(semarang.transformers.values()))
    sub = semarang.feeders[t.feeder].substation
    for el in (f"transformer:{t.id}", f"feeder:{t.feeder}", f"substation:{sub}"):
        GridCollector._event_to_sink(fake, GridEvent(el, 1.0, "energized", "de-energized", "breaker open"))
    tr, fd, ss = (p.tags for p in fake.sink.points)
    assert tr["feeder"] == fd["feeder"] == t.feeder and tr["substation"] == fd["substation"] == ss["substation"] == sub
    assert "feeder" not in ss and {p.tags["city"] for p in fake.sink.points} == {"semarang"}


@pytest.mark.unit
def test_dead_letters_are_written_per_reason_zeros_too(semarang):
    from types import SimpleNamespace

    from collectors.grid.collector import GridCollector
    from collectors.grid.payloads import REASONS
    from collectors.sink import MemorySink

    stats = {"received": 9, "accepted": 7, "dead": 2, "spool_backlog_bytes": 0, "lag_s": 0.2}
    fake = SimpleNamespace(
        inv=semarang,
        sink=MemorySink(),
        ingest=SimpleNamespace(stats=lambda: dict(stats, dead_by_reason={"schema": 2})),
        worker_stats={1: dict(stats, dead_by_reason={})},
    )
    GridCollector._self_metrics(fake)
    dead = {
        (p.tags["process"], p.tags["reason"]): p.fields["count"]
        for p in fake.sink.points
        if p.measurement == "grid_deadletters"
    }
    assert dead[("main", "schema")] == 2 and dead[("w1", "schema")] == 0 and dead[("main", "oversize")] == 0
    assert {r for _, r in dead} == set(REASONS)
    selfs = [p for p in fake.sink.points if p.measurement == "pantau_self"]
    assert [p.tags for p in selfs] == [{"component": "grid", "process": n, "city": "semarang"} for n in ("main", "w1")]


@pytest.mark.unit
def test_incident_and_alert_points():
    from pantau.service import HOTSPOTS_FIELD_MAX, alert_points, incident_points

    inc = {
        "id": "INC-1", "city": "semarang", "cause": "power_grid", "root": "feeder:SRD-04", "status": "open",
        "affected": ["hotspot:AP-0001", "switch:SW-1", "hotspot:AP-0002"], "explanation_en": "Feeder SRD-04 tripped",
        "confidence": 0.9, "opened_at": 100.0, "updated_at": 105.5,
    }  # fmt: skip
    (p,) = incident_points([inc])
    assert p.measurement == "incident" and p.tags == {"city": "semarang", "incident": "INC-1", "cause": "power_grid"}
    assert p.fields["hotspots"] == "AP-0001,AP-0002" and p.fields["affected"] == 3 and p.fields["status"] == "open"
    assert p.time_ns == 105_500_000_000
    many = dict(inc, affected=[f"hotspot:AP-{i:05d}" for i in range(20000)])
    (big,) = incident_points([many])
    assert len(big.fields["hotspots"]) <= HOTSPOTS_FIELD_MAX and big.fields["hotspots"].split(",")[-1].startswith("AP-")
    assert all(len(h) == 8 for h in big.fields["hotspots"].split(","))  # cut between ids, never inside one
    pts = alert_points(
        "semarang", {"sent": 4, "failures": {"noc": 2, "lapor": 0}, "outbox": {"noc": {"pending": 1}}}, 7.0
    )
    assert pts[0].fields == {"sent": 4} and [q.tags.get("receiver") for q in pts] == [None, "lapor", "noc"]
    assert pts[2].fields == {"failures": 2, "outbox_pending": 1, "outbox_failed_attempts": 0}
    assert all(q.tags["component"] == "alerts" and q.tags["city"] == "semarang" for q in pts)


# --- integration: every query against InfluxDB after a short simulated run -----------------------
@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """The whole system at time scale 10 (collectors, explainer, alerts to the simulator's webhook
    sink) for about two minutes, with a PLN maintenance notice and a feeder trip: InfluxDB then holds
    every measurement the dashboards read."""
    from collectors.schedule import load_jobs
    from collectors.snmp.collector import ALL_RUNS
    from pantau.stack import Stack

    st = Stack(
        tmp_path_factory.mktemp("grafana"),
        time_scale=K,
        collect=True,
        alerts_to_sim=True,
        intervals={j.name: j.interval_s / K for j in load_jobs(known=ALL_RUNS)},
        seed=3,
    )
    t0 = time.time()
    st.start()
    try:
        db = st.db

        def count(q):
            rows = db.query_rows(q)
            return rows[0][next(k for k in rows[0] if k != "time")] if rows else 0

        wait(lambda: count("SELECT count(\"value\") FROM hotspot_event WHERE kind = 'state'") >= 2200, 120, "states")
        wait(lambda: count('SELECT count("voltage_v") FROM grid_telemetry') > 0, 30, "grid telemetry")
        sim = st.sim.url
        for ev in (
            {"action": "maintenance_notice", "target": "feeder:PDL-03", "start_s": 3000, "end_s": 4000,
             "reason": "Pemeliharaan trafo"},
            {"action": "feeder_trip", "target": "feeder:SRD-04"},
        ):  # fmt: skip
            httpx.post(f"{sim}/_sim/events", json=ev).raise_for_status()
        wait(lambda: count("SELECT count(\"status\") FROM incident WHERE cause = 'power_grid'"), 60, "the incident")
        wait(lambda: count('SELECT count("id") FROM grid_maintenance'), 30, "the maintenance notice")
        wait(lambda: count("SELECT count(\"sent\") FROM pantau_self WHERE component = 'alerts'") >= 2, 40, "alerts")
        wait(
            lambda: count("SELECT count(\"availability_pct\") FROM availability_today WHERE cause = 'all'"),
            70,
            "today's availability (written every minute by the active explainer's node)",
        )
        # rates and differences (grid messages per second, dead letters per interval) need samples in
        # several intervals: the grid's own metrics come every 10 s once its ingest runs
        wait(
            lambda: count("SELECT count(\"lag_s\") FROM pantau_self WHERE component = 'grid'") >= 4, 60, "grid metrics"
        )
        yield st, int(t0 * 1000) - 60_000, int(time.time() * 1000) + 1000
    finally:
        st.stop()


def run(db, q: str) -> list[dict]:
    """The series of one query (an error raises: the query does not parse or is refused)."""
    (res,) = db.query(q, epoch="ms")
    return res.series


def variable_values(db, v: dict, chosen: dict, span: tuple[int, int]) -> list[str]:
    series = run(db, expand(v["query"], chosen, *span))
    return sorted({row[1] for s in series for row in s["values"]})


def empty_parts(db, d: dict, chosen: dict, span: tuple[int, int], skip_annotations=()) -> tuple[list, list]:
    """Run every panel target and annotation of a dashboard (a query that does not parse raises);
    returns the panels and annotations without data, and the targets without data."""
    empty, empty_targets = [], []
    for p in d["panels"]:
        got = 0
        for t in p.get("targets", []):
            n = sum(len(s["values"]) for s in run(db, expand(t["query"], chosen, *span)))
            got += n
            if not n:
                empty_targets.append(f"{p['title']!r} {t['refId']}")
        if not got:
            empty.append(p["title"])
    for a in d["annotations"]["list"]:
        if "target" in a and a["name"] not in skip_annotations:
            if not run(db, expand(a["target"]["query"], chosen, *span)):
                empty.append(f"annotation {a['name']}")
    return empty, empty_targets


@pytest.mark.integration
def test_every_query_of_every_dashboard_returns_data(filled, semarang):
    st, from_ms, to_ms = filled
    db, span = st.db, (from_ms, to_ms)
    report, failures = [], []
    for name, d in dashboards().items():
        chosen: dict[str, tuple[list[str], bool]] = {}
        for v in d["templating"]["list"]:
            values = variable_values(db, v, chosen, span)
            assert values, f"{name}: variable {v['name']} has no values"
            # "All" where the variable offers it (Grafana sends every value), else the first value
            chosen[v["name"]] = (values, True) if v["includeAll"] else (values[:1], False)
            report.append(f"{name}: ${v['name']} = {len(values)} values")
        assert chosen["city"] == (["semarang"], False)
        if name != "hotspot.json":
            empty, empty_targets = empty_parts(db, d, chosen, span)
            if empty:
                failures.append(f"{name}: no data in {empty}")
            report.append(f"{name}: panels without data: {empty or 'none'}; targets without: {empty_targets or 'none'}")
            continue
        # The hotspot dashboard: the incident annotation has data for a hotspot the feeder trip took
        # down; every panel has data for a hotspot whose vendor reports every metric (radios' noise
        # and channel utilisation are vendor-specific: docs/profiles.md).
        offered = variable_values(db, d["templating"]["list"][3], chosen, span)
        affected = _hotspots_of_the_incident(db, offered)
        chosen["hotspot"] = ([affected[0]], False)
        (anno,) = [a for a in d["annotations"]["list"] if a["name"] == "Incidents"]
        assert run(db, expand(anno["target"]["query"], chosen, *span)), f"no incident annotation for {affected[0]}"
        tried = {}
        for hs in (affected + [h for h in offered if h not in affected])[:300]:
            chosen["hotspot"] = ([hs], False)
            empty, empty_targets = empty_parts(db, d, chosen, span, skip_annotations=("Incidents",))
            tried[hs] = empty
            if not empty:
                break
        if empty:
            failures.append(f"{name}: no hotspot has data in every panel: {dict(list(tried.items())[:10])}")
        vendors = {h: semarang.hotspots[h].vendor for h in tried}
        report.append(
            f"{name}: hotspot {hs} ({vendors[hs]}): panels without data: {empty or 'none'} after {len(tried)} "
            f"tried; targets without: {empty_targets or 'none'}; incident annotation on {affected[0]}"
        )
        for h, e in list(tried.items())[:-1][:8]:
            report.append(f"  {h} ({vendors[h]}) lacks {e}")
    print("\n".join(report))
    assert not failures, failures


def _hotspots_of_the_incident(db, offered: list[str]) -> list[str]:
    """The hotspots the feeder incident affected that the chained variable offers."""
    rows = db.query_rows("SELECT last(\"hotspots\") AS h FROM incident WHERE cause = 'power_grid' GROUP BY incident")
    affected = {h for r in rows for h in (r["h"] or "").split(",") if h}
    out = [h for h in offered if h in affected]
    assert out, "the hotspot variable offers none of the incident's hotspots"
    return out


@pytest.mark.integration
def test_chained_variables_narrow_down(filled):
    st, from_ms, to_ms = filled
    db, span = st.db, (from_ms, to_ms)
    d = dashboards()["hotspot.json"]
    city, kecamatan, kelurahan, hotspot = d["templating"]["list"]
    chosen = {"city": (variable_values(db, city, {}, span)[:1], False)}
    all_kec = variable_values(db, kecamatan, chosen, span)
    chosen["kecamatan"] = (all_kec, True)
    all_kel = variable_values(db, kelurahan, chosen, span)
    chosen["kecamatan"] = (all_kec[:1], True)
    some_kel = variable_values(db, kelurahan, chosen, span)
    assert len(all_kec) > 10 and 0 < len(some_kel) < len(all_kel) and set(some_kel) < set(all_kel)
    chosen["kelurahan"] = (some_kel[:1], True)
    hs = variable_values(db, hotspot, chosen, span)
    rows = db.query_rows(
        f"SELECT last(\"up\") FROM hotspot_poll WHERE kelurahan = '{some_kel[0]}' AND kecamatan = '{all_kec[0]}' "
        "GROUP BY hotspot"
    )
    assert hs and set(hs) == {r["hotspot"] for r in rows}
