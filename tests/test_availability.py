"""Availability accounted by cause (outages/availability.py) and restore estimates (outages/etr.py),
on hand-made incident stores: re-roots, merges, reopens, planned maintenance and its overrun,
overlapping incidents on one hotspot, month boundaries in WIB; the CLI's HTML report."""

from __future__ import annotations

from datetime import datetime

import pytest

from outages import etr
from outages.availability import (
    WIB,
    Accounting,
    DowntimeLedger,
    buckets,
    hotspot_minutes_by_cause,
    parse_period,
    rollup,
)
from outages.store import IncidentStore

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 5, 12, 0, tzinfo=WIB).timestamp()


def down(h, start, end=None, suspect=True):
    """Evidence of one outage: first failed poll at start, down 60 s later, up at end."""
    ev = []
    if suspect:
        ev.append((start, "health", f"hotspot:{h}", {"kind": "suspect", "old": "up", "new": "up"}))
    ev.append((start + (60 if suspect else 0), "health", f"hotspot:{h}", {"kind": "state", "old": "up", "new": "down"}))
    if end is not None:
        ev.append((end, "health", f"hotspot:{h}", {"kind": "state", "old": "down", "new": "up"}))
    return ev


def inc(iid, cause, root, opened, closed=None, affected=(), merged_into=None):
    return {
        "id": iid,
        "city": "semarang",
        "cause": cause,
        "root": root,
        "status": "closed" if closed is not None else "open",
        "confidence": 0.9,
        "inferred": False,
        "opened_at": opened,
        "updated_at": opened,
        "closed_at": closed,
        "affected": [f"hotspot:{h}" for h in affected],
        "areas": [],
        "explanation_id": "",
        "explanation_en": "",
        "evidence": [],
        "merged_into": merged_into,
        "detected_at": opened,
    }


def make_store(tmp_path, evidence, incidents, log):
    st = IncidentStore(tmp_path)  # the folder's pantau.sqlite
    evidence = sorted(evidence, key=lambda e: e[0])
    st.write([(T0 - 3600, "settings", "", {})] + evidence, incidents, log)
    return st


def minutes(st, t0=T0 - 3600, t1=T0 + 86400):
    return hotspot_minutes_by_cause(st, t0, t1)


def by_cause_of(st, h, t0=T0 - 3600, t1=T0 + 86400):
    acc = Accounting(st)
    out: dict[str, float] = {}
    for p in acc.pieces(t0, t1, now=t1):
        if p.hotspot == h:
            out[p.cause] = out.get(p.cause, 0) + (p.end - p.start) / 60
    return {k: round(v, 2) for k, v in out.items()}


def test_downtime_starts_at_the_first_failed_poll_and_lost_answers_are_not_downtime():
    led = DowntimeLedger()
    led.feed(100, "hotspot:A", {"kind": "suspect"})  # one lost answer: no down follows
    led.feed(500, "hotspot:A", {"kind": "suspect"})  # the real failure's first failed poll
    led.feed(560, "hotspot:A", {"kind": "state", "new": "down"})
    led.feed(900, "hotspot:A", {"kind": "state", "new": "degraded"})
    led.feed(950, "hotspot:B", {"kind": "suspect"})
    led.feed(990, "hotspot:B", {"kind": "state", "new": "up"})  # never down
    led.feed(1000, "hotspot:C", {"kind": "suspect"})
    led.feed(5000, "hotspot:C", {"kind": "state", "new": "down", "source": "trap"})  # trap: its moment
    led.feed(7000, "switch:S", {"kind": "state", "new": "down"})  # switches are not hotspots
    assert led.down_between(0, 6000) == {"A": [(500, 900)], "C": [(5000, 6000)]}
    led.feed(5500, "hotspot:C", {"kind": "state", "old": "unknown", "new": "down"})  # restart: still down
    led.feed(5800, "hotspot:C", {"kind": "state", "new": "up"})
    assert led.down_between(0, 9000)["C"] == [(5000, 5800)]


def test_reroot_gives_the_provisional_minutes_the_final_cause(tmp_path):
    # network_uplink at the switch for 2 minutes, then re-rooted to the feeder's power cut
    ev = down("AP-0001", T0, T0 + 600) + down("AP-0002", T0 + 5, T0 + 610)
    incs = [inc("I1", "power_grid", "feeder:SRD-02", T0 + 90, T0 + 540, ["AP-0001", "AP-0002"])]
    log = [
        ("I1", T0 + 90, "opened", {"cause": "network_uplink", "root": "switch:SW-BNY-01"}),
        ("I1", T0 + 210, "rerooted", {"from": "switch:SW-BNY-01", "to": "feeder:SRD-02", "cause": "power_grid"}),
        ("I1", T0 + 210, "updated", {"cause": "power_grid", "root": "feeder:SRD-02"}),
        ("I1", T0 + 540, "closed", {}),
    ]
    st = make_store(tmp_path, ev, incs, log)
    m = minutes(st)
    assert m["power_grid"] == pytest.approx(20.08, abs=0.01)  # 10 + 10.08 minutes, holdoff and booting included
    assert m["network_uplink"] == 0 and m["unknown"] == 0 and m["service"] == 0
    assert set(m) == {"power_grid", "planned_maintenance", "network_uplink", "device", "service", "unknown"}


def test_a_long_held_cause_keeps_its_minutes_when_swept_into_a_later_reroot(tmp_path):
    # a device dead for 3 hours, then its transformer loses power for 30 min (same incident re-rooted)
    ev = down("AP-0001", T0, T0 + 4 * 3600 + 60)
    incs = [inc("I1", "power_grid", "transformer:SRD-02-T05", T0 + 120, T0 + 4 * 3600, ["AP-0001"])]
    log = [
        ("I1", T0 + 120, "opened", {"cause": "device", "root": "hotspot:AP-0001"}),
        ("I1", T0 + 3 * 3600, "rerooted", {"to": "transformer:SRD-02-T05", "cause": "power_grid"}),
        ("I1", T0 + 4 * 3600, "closed", {}),
    ]
    st = make_store(tmp_path, ev, incs, log)
    assert by_cause_of(st, "AP-0001") == {"device": 180.0, "power_grid": 61.0}


def test_merged_incident_minutes_go_to_the_incident_it_was_merged_into(tmp_path):
    ev = down("AP-0001", T0, T0 + 900) + down("AP-0003", T0 + 30, T0 + 900)
    incs = [
        inc("DEV", "device", "hotspot:AP-0001", T0 + 100, T0 + 160, ["AP-0001"], merged_into="PWR"),
        inc("PWR", "power_grid", "transformer:SRD-02-T05", T0 + 160, T0 + 840, ["AP-0001", "AP-0003"]),
    ]
    log = [
        ("DEV", T0 + 100, "opened", {"cause": "device", "root": "hotspot:AP-0001"}),
        ("PWR", T0 + 160, "opened", {"cause": "power_grid", "root": "transformer:SRD-02-T05"}),
        ("DEV", T0 + 160, "merged", {"into": "PWR"}),
        ("PWR", T0 + 840, "closed", {}),
    ]
    st = make_store(tmp_path, ev, incs, log)
    assert by_cause_of(st, "AP-0001") == {"power_grid": 15.0}
    assert minutes(st)["device"] == 0


def test_reopen_is_a_new_episode_nothing_corrected_across_the_close(tmp_path):
    # flapping: unknown for 3 min, closed; down again, reopened as device
    ev = down("AP-0001", T0, T0 + 240) + down("AP-0001", T0 + 400, T0 + 1000)
    incs = [inc("I1", "device", "hotspot:AP-0001", T0 + 60, T0 + 960, ["AP-0001"])]
    log = [
        ("I1", T0 + 60, "opened", {"cause": "unknown", "root": "hotspot:AP-0001"}),
        ("I1", T0 + 230, "closed", {}),
        ("I1", T0 + 450, "reopened", {"root": "hotspot:AP-0001"}),
        ("I1", T0 + 450, "updated", {"cause": "device", "root": "hotspot:AP-0001"}),
        ("I1", T0 + 960, "closed", {}),
    ]
    st = make_store(tmp_path, ev, incs, log)
    assert by_cause_of(st, "AP-0001") == {"unknown": 4.0, "device": 10.0}


def test_planned_maintenance_keeps_its_window_and_the_overrun_is_power_grid(tmp_path):
    ev = down("AP-0001", T0, T0 + 7200) + down("AP-0003", T0, T0 + 7200)
    incs = [inc("PM", "power_grid", "feeder:SRD-02", T0 + 5, T0 + 7100, ["AP-0001", "AP-0003"])]
    log = [
        ("PM", T0 + 5, "opened", {"cause": "planned_maintenance", "root": "feeder:SRD-02"}),
        ("PM", T0 + 3600, "updated", {"cause": "power_grid", "root": "feeder:SRD-02"}),  # window ended, still dark
        ("PM", T0 + 7100, "closed", {}),
    ]
    st = make_store(tmp_path, ev, incs, log)
    m = minutes(st)
    assert m["planned_maintenance"] == pytest.approx(120.0)  # 2 hotspots x 60 min (from their first failed poll)
    assert m["power_grid"] == pytest.approx(120.0)
    acc = Accounting(st)
    p = parse_period("2026-11-05")
    pieces = acc.pieces(p.start, p.end, now=p.end)
    row = next(r for r in rollup(st_inv(), pieces, "feeder", p) if r["group"] == "SRD-02")
    assert row["down_minutes"] == pytest.approx(240.0)
    total = row["hotspot_minutes"]
    assert row["availability_pct"] == pytest.approx(100 * (1 - 240 / total), abs=1e-3)
    assert row["availability_excl_planned_pct"] == pytest.approx(100 * (1 - 120 / (total - 120)), abs=1e-3)


def test_a_late_notice_corrects_a_short_power_grid_view(tmp_path):
    ev = down("AP-0001", T0, T0 + 3600)
    incs = [inc("PM", "planned_maintenance", "feeder:SRD-02", T0 + 5, T0 + 3500, ["AP-0001"])]
    log = [
        ("PM", T0 + 5, "opened", {"cause": "power_grid", "root": "feeder:SRD-02"}),
        ("PM", T0 + 65, "updated", {"cause": "planned_maintenance", "root": "feeder:SRD-02"}),
        ("PM", T0 + 3500, "closed", {}),
    ]
    st = make_store(tmp_path, ev, incs, log)
    assert by_cause_of(st, "AP-0001") == {"planned_maintenance": 60.0}


def test_overlapping_incidents_on_one_hotspot_power_first_then_the_earlier(tmp_path):
    # AP-0001's device incident is open all along; its transformer loses power for 10 minutes;
    # AP-0002 is behind a failed switch while the same power cut happens
    ev = down("AP-0001", T0, None) + down("AP-0002", T0 + 300, T0 + 1300)
    incs = [
        inc("DEV", "device", "hotspot:AP-0001", T0 + 90, None, ["AP-0001"]),
        inc("NET", "network_uplink", "switch:SW-BNY-01", T0 + 280, T0 + 1400, ["AP-0002"]),
        inc("PWR", "power_grid", "transformer:SRD-02-T05", T0 + 600, T0 + 1200, ["AP-0001", "AP-0002"]),
    ]
    log = [
        ("DEV", T0 + 90, "opened", {"cause": "device", "root": "hotspot:AP-0001"}),
        ("NET", T0 + 280, "opened", {"cause": "network_uplink", "root": "switch:SW-BNY-01"}),
        ("PWR", T0 + 600, "opened", {"cause": "power_grid", "root": "transformer:SRD-02-T05"}),
        ("PWR", T0 + 1200, "closed", {}),
        ("NET", T0 + 1400, "closed", {}),
    ]
    st = make_store(tmp_path, ev, incs, log)
    t1 = T0 + 3000
    assert by_cause_of(st, "AP-0001", t1=t1) == {"device": 40.0, "power_grid": 10.0}
    assert by_cause_of(st, "AP-0002", t1=t1) == {"network_uplink": 6.67, "power_grid": 10.0}
    assert sum(minutes(st, t1=t1).values()) == pytest.approx(50 + 1000 / 60, abs=0.02)  # never counted twice


def test_downtime_no_incident_explains_is_unknown(tmp_path):
    st = make_store(tmp_path, down("AP-0001", T0, T0 + 120), [], [])
    assert minutes(st)["unknown"] == pytest.approx(2.0)


def test_month_and_day_boundaries_are_wib(tmp_path):
    start = datetime(2026, 11, 30, 23, 30, tzinfo=WIB).timestamp()  # 16:30 UTC: still November in UTC too
    ev = down("AP-0001", start, start + 3600)
    incs = [inc("I1", "device", "hotspot:AP-0001", start + 60, start + 3500, ["AP-0001"])]
    log = [
        ("I1", start + 60, "opened", {"cause": "device", "root": "hotspot:AP-0001"}),
        ("I1", start + 3500, "closed", {}),
    ]
    st = make_store(tmp_path, ev, incs, log)
    acc = Accounting(st)
    nov, dec = parse_period("2026-11"), parse_period("2026-12")
    assert datetime.fromtimestamp(nov.end, WIB).strftime("%Y-%m-%d %H:%M") == "2026-12-01 00:00"
    for p, want in ((nov, 30.0), (dec, 30.0)):
        city = rollup(st_inv(), acc.pieces(p.start, p.end, now=p.end), "city", p)[0]
        assert city["downtime_minutes"]["device"] == pytest.approx(want)
    days = rollup(st_inv(), acc.pieces(nov.start, nov.end, now=nov.end), "city", nov, "day")
    assert len(days) == 30 and days[-1]["period"] == "2026-11-30"
    assert days[-1]["down_minutes"] == pytest.approx(30.0) and days[-2]["down_minutes"] == 0
    hours = buckets(parse_period("2026-12-01"), "hour")
    assert len(hours) == 24 and hours[0].label == "2026-12-01T00"
    # the hour granularity sees the 30 minutes in 00:00–01:00 WIB
    d1 = parse_period("2026-12-01")
    hrs = rollup(st_inv(), acc.pieces(d1.start, d1.end, now=d1.end), "kecamatan", d1, "hour")
    assert next(r for r in hrs if r["group"] == "BNY" and r["period"] == "2026-12-01T00")["down_minutes"] == 30.0
    with pytest.raises(ValueError):
        parse_period("2026-13")
    with pytest.raises(ValueError):
        buckets(parse_period("2026-11-05"), "month")


def test_rollups_by_every_group_and_watched_time(tmp_path):
    ev = down("AP-0001", T0, T0 + 600)
    incs = [inc("I1", "device", "hotspot:AP-0001", T0 + 60, T0 + 590, ["AP-0001"])]
    st = make_store(tmp_path, ev, incs, [("I1", T0 + 60, "opened", {"cause": "device", "root": "hotspot:AP-0001"})])
    acc = Accounting(st)
    p = parse_period("2026-11-05")
    pieces = acc.pieces(p.start, p.end, now=p.end)
    inv = st_inv()
    want = {"kelurahan": "BNY/Banyumanik", "kecamatan": "BNY", "vendor": "ruckus", "switch": "SW-BNY-01",
            "feeder": "SRD-02", "transformer": "SRD-02-T05", "city": "semarang", "hotspot": "AP-0001"}  # fmt: skip
    for by, key in want.items():
        rows = rollup(inv, pieces, by, p, watched=acc.watched())
        row = next(r for r in rows if r["group"] == key)
        assert row["downtime_minutes"]["device"] == pytest.approx(10.0), by
    city = rollup(inv, pieces, "city", p, watched=(T0 - 3600, p.end))[0]
    assert city["hotspot_minutes"] == pytest.approx(len(inv.hotspots) * (p.end - (T0 - 3600)) / 60)


def test_scenario_window_and_time_scale(tmp_path):
    ev = down("AP-0001", T0, T0 + 600)
    incs = [inc("I1", "device", "hotspot:AP-0001", T0 + 60, T0 + 590, ["AP-0001"])]
    st = make_store(tmp_path, ev, incs, [("I1", T0 + 60, "opened", {"cause": "device", "root": "hotspot:AP-0001"})])
    st.close()
    m = hotspot_minutes_by_cause(tmp_path, T0 + 300, T0 + 900, time_scale=10)
    assert m["device"] == pytest.approx(50.0)  # 5 real minutes in the window x 10


# --- ETR ---------------------------------------------------------------------------------------
def test_etr_planned_uses_the_notice_end(semarang):
    now = T0 + 600
    i = inc("PM", "planned_maintenance", "transformer:SRD-02-T05", T0, None)
    notice = {"id": "PLN-1", "element": "feeder:SRD-02", "start": T0 - 30, "end": T0 + 3 * 3600, "reason": "x"}
    e = etr.estimate(semarang, i, {}, [notice], now)
    assert e["kind"] == "planned" and e["at"] == T0 + 3 * 3600 and e["enough"]
    assert etr.text(e, now)["id"] == "Dijadwalkan pulih 15.00 WIB (jadwal pemeliharaan PLN)"


def test_etr_estimate_from_restored_incidents_of_the_same_kind(semarang):
    past = [inc(f"P{k}", "power_grid", f"feeder:F{k}", T0 - 86400 * k, T0 - 86400 * k + d * 60)
            for k, d in enumerate([20, 30, 40, 50, 60, 70, 80], start=1)]  # fmt: skip
    past += [
        inc("M", "power_grid", "feeder:X", T0 - 9e5, T0 - 9e5 + 9000, merged_into="P1"),  # merged: not a restore
        inc("T", "power_grid", "transformer:X", T0 - 9e5, T0 - 9e5 + 60),  # another root kind
        inc("O", "power_grid", "feeder:Y", T0 - 60),  # still open
    ]
    hist = etr.history(past)
    assert hist[("power_grid", "feeder")] == [1200, 1800, 2400, 3000, 3600, 4200, 4800]
    now_inc = inc("NOW", "power_grid", "feeder:SRD-02", T0, None)
    e = etr.estimate(semarang, now_inc, hist, [], T0 + 60)
    assert e["n"] == 7 and e["enough"] and e["median_s"] == 3000
    assert (e["q1_s"], e["q3_s"]) == (2100, 3900)  # inter-quartile, interpolated
    assert etr.text(e, T0 + 60)["id"].startswith("Perkiraan pulih 12.35–13.05 WIB")
    assert "estimate" in etr.text(e, T0 + 60)["en"]
    # 45 minutes in: only outages longer than that count, and 4 are too few to show citizens
    e = etr.estimate(semarang, now_inc, hist, [], T0 + 2700)
    assert e["n"] == 4 and not e["enough"] and e["median_s"] == 3900
    assert e["history"] == 7, "the NOC words the basis from n of history"
    # older than any: nothing to estimate from
    e = etr.estimate(semarang, now_inc, hist, [], T0 + 6000)
    assert e["n"] == 0 and not e["enough"] and e["at"] is None and e["history"] == 7


# --- the CLI report ----------------------------------------------------------------------------
def test_cli_report_writes_html_with_the_figures(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from pantau.cli import app

    ev = down("AP-0001", T0, T0 + 3600) + down("AP-0002", T0, T0 + 1800) + down("AP-0003", T0, T0 + 600)
    incs = [
        inc("PWR", "power_grid", "transformer:SRD-02-T05", T0 + 60, T0 + 3500, ["AP-0001", "AP-0003"]),
        inc("NET", "network_uplink", "switch:SW-BNY-01", T0 + 60, T0 + 1700, ["AP-0002"]),
    ]
    log = [
        ("PWR", T0 + 60, "opened", {"cause": "power_grid", "root": "transformer:SRD-02-T05"}),
        ("NET", T0 + 60, "opened", {"cause": "network_uplink", "root": "switch:SW-BNY-01"}),
    ]
    make_store(tmp_path, ev, incs, log).close()
    out = tmp_path / "r" / "report.html"
    monkeypatch.setenv("PANTAU_STATE_DIR", str(tmp_path))
    r = CliRunner().invoke(app, ["report", "availability", "--month", "2026-11", "--out", str(out)])
    assert r.exit_code == 0, r.output
    html = out.read_text()
    # 70 power + 30 network hotspot-minutes: 70 % / 30 %
    assert "70 % waktu padam karena pemadaman listrik PLN, 30 % waktu padam karena gangguan jaringan" in html
    assert "70 % of the downtime came from PLN power cuts" in html
    assert "Ketersediaan wifi" in r.output and "Wifi availability" in r.output
    assert "<svg" in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in html and "src=" not in html and "href=" not in html
    assert "Kelurahan" in html and "SW-BNY-01" in html and "SRD-02" in html and "November 2026" in html
    r = CliRunner().invoke(app, ["report", "availability", "--month", "2026-13", "--out", str(out)])
    assert r.exit_code == 2


_INV = None


def st_inv():
    global _INV
    if _INV is None:
        from hotspots.inventory import load_inventory, resolve_city

        _INV = load_inventory(resolve_city("semarang"))
    return _INV


def test_todays_availability_points_for_dashboards(tmp_path):
    """``availability_today`` (pantau/service.py, the Grafana city overview): the WIB day so far,
    minutes per cause with their share, and the availability with and without planned maintenance
    — the same figures as the roll-up."""
    from pantau.service import availability_points

    ev = down("AP-0001", T0, T0 + 600) + down("AP-0002", T0, T0 + 1200)
    incs = [
        inc("I1", "device", "hotspot:AP-0001", T0 + 60, T0 + 590, ["AP-0001"]),
        inc("I2", "planned_maintenance", "feeder:SRD-02", T0 + 60, T0 + 1190, ["AP-0002"]),
    ]
    log = [
        ("I1", T0 + 60, "opened", {"cause": "device", "root": "hotspot:AP-0001"}),
        ("I2", T0 + 60, "opened", {"cause": "planned_maintenance", "root": "feeder:SRD-02"}),
    ]
    st = make_store(tmp_path, ev, incs, log)
    inv = st_inv()
    now = T0 + 3600
    pts = {p.tags["cause"]: p for p in availability_points(inv, Accounting(st), now)}
    assert {p.measurement for p in pts.values()} == {"availability_today"}
    assert {p.time_ns for p in pts.values()} == {int(now * 1e9)}
    assert pts["device"].fields["down_minutes"] == pytest.approx(10.0)
    assert pts["planned_maintenance"].fields["down_minutes"] == pytest.approx(20.0)
    assert pts["device"].fields["share_pct"] == pytest.approx(33.33, abs=0.01)
    assert pts["power_grid"].fields == {"down_minutes": 0.0, "share_pct": 0.0}
    day = parse_period("2026-11-05")
    watched = (now - (T0 - 3600)) / 60 * len(inv.hotspots)  # the store's evidence starts an hour before T0
    a = pts["all"].fields
    assert a["hotspot_minutes"] == pytest.approx(watched) and a["down_minutes"] == pytest.approx(30.0)
    assert a["availability_pct"] == pytest.approx(100 * (1 - 30 / watched), abs=1e-3)
    assert a["availability_excl_planned_pct"] == pytest.approx(100 * (1 - 10 / (watched - 20)), abs=1e-3)
    assert day.start < T0 - 3600  # the whole watched span lies in the WIB day
    for p in pts.values():
        p.to_line()  # valid line protocol
