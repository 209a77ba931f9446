"""Inventory suspects (#13 item 4): from hand-made evidence through the explainer, accumulated over
incidents, stored, reloaded after a restart, served by the API (JSON and the corrections CSV) and
listed by ``pantau inventory suspects``. The inventory itself is never changed."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from outages.explainer import Settings, replay
from outages.store import IncidentStore
from outages.suspects import SuspectBook, corrections_csv_rows
from store.db import forget
from store.state import StateDB
from tests.test_explainer import T0, City, _dark, _non_ups

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def inv(semarang):
    return semarang


def _stray_run(inv, t0: float, tr: str = "BSB-02-T01"):
    """A transformer with telemetry loses power; one hotspot listed under a feeder mate goes dark
    with its hotspots (its row is wrong: it hangs on ``tr``)."""
    c = City(inv)
    t = f"transformer:{tr}"
    other = next(x for x in inv.transformers_of_feeder[inv.transformers[tr].feeder] if x != tr)
    stray = _non_ups(inv, f"transformer:{other}")[0]
    c.grid(t0 + 61, t, "de-energized")
    _dark(c, t0 + 70, t)
    c.health(t0 + 72, stray, "state", "down")
    c.run(t0 + 61, t0 + 200, 2)
    return c, t, other, stray


def test_a_hotspot_dark_with_another_transformer_is_suspected_there(inv):
    c, t, other, stray = _stray_run(inv, T0)
    rows = c.ex.suspects.rows()
    assert [(r["hotspot"], r["field"], r["inventory"], r["likely"]) for r in rows] == [
        (stray[8:], "transformer", other, t[12:])
    ]
    r = rows[0]
    assert r["incidents"] == 1 and r["kinds"] == ["joined"] and 0.4 < r["confidence"] < 0.6
    assert r["evidence"][0]["incident"] == c.incidents()[0].id and other in r["evidence"][0]["text"]
    # each incident counts once, however many ticks re-decided it
    c.run(T0 + 200, T0 + 260, 1)
    assert c.ex.suspects.rows()[0]["incidents"] == 1
    # the inventory is untouched
    assert inv.hotspots[stray[8:]].transformer == other
    # and replay of the stored evidence finds the same suspects
    again = replay(inv, c.log, Settings(poll_interval_s=30, telemetry_interval_s=10))
    assert [(s["hotspot"], s["likely"]) for s in again.suspects.rows()] == [(stray[8:], t[12:])]


def test_a_hotspot_answering_under_a_dark_transformer_is_suspected_without_a_likely_element(inv):
    c = City(inv)
    t = "transformer:SRD-02-T05"
    c.grid(T0 + 20, t, "unknown")
    hs = _non_ups(inv, t)
    for h in hs[1:]:
        c.health(T0 + 70, h, "state", "down")
    c.run(T0 + 70, T0 + 150, 2)
    assert c.ex.suspects.rows() == []  # not polled since: no proof yet
    c.answered(T0 + 120, hs[0])
    c.run(T0 + 150, T0 + 200, 2)
    rows = c.ex.suspects.rows()
    assert [(r["hotspot"], r["field"], r["likely"], r["kinds"]) for r in rows] == [
        (hs[0][8:], "transformer", None, ["stayed_up"])
    ]
    assert rows[0]["confidence"] < 0.4  # weaker than a joined hotspot


def test_switch_tree_suspect_names_the_sibling_switch(inv):
    c = City(inv)
    sw = "SW-TBL-01"
    sibling = next(s for s in inv.children_of_switch[inv.switches[sw].parent] if s != sw)
    stray = inv.hotspots_of_switch[sibling][0]
    c.health(T0 + 70, f"switch:{sw}", "state", "down")
    for h in inv.hotspots_of_switch[sw]:
        c.health(T0 + 75, f"hotspot:{h}", "state", "down")
    c.health(T0 + 78, f"hotspot:{stray}", "state", "down")
    c.run(T0 + 70, T0 + 300, 2)
    assert [(r["hotspot"], r["field"], r["inventory"], r["likely"]) for r in c.ex.suspects.rows()] == [
        (stray, "switch", sibling, sw)
    ]


def test_confidence_grows_with_repetitions_and_the_likely_element_is_the_majority(inv):
    book = SuspectBook(inv)
    h = next(iter(sorted(inv.hotspots)))
    listed = inv.hotspots[h].transformer
    others = [x for x in sorted(inv.transformers) if x != listed][:2]
    confs = []
    for k in range(4):
        root = others[0] if k != 2 else others[1]
        book.observe(f"INC-{k}", T0 + k, "power_grid", f"transformer:{root}", {f"hotspot:{h}"}, set())
        confs.append(book.rows()[0]["confidence"])
    assert confs == sorted(confs) and confs[0] < confs[-1] and confs[-1] < 1
    r = book.rows()[0]
    assert r["likely"] == others[0] and r["votes"] == {others[0]: 3, others[1]: 1} and r["incidents"] == 4
    # a finding that agrees with the row is no contradiction; a device incident says nothing of the row
    book2 = SuspectBook(inv)
    book2.observe("INC-x", T0, "power_grid", f"transformer:{listed}", {f"hotspot:{h}"}, set())
    book2.observe("INC-y", T0, "device", f"hotspot:{h}", {f"hotspot:{h}"}, set())
    assert book2.rows() == []


def test_suspects_survive_a_restart_and_keep_accumulating(inv, database):
    from outages.service import ExplainerService

    c, t, other, stray = _stray_run(inv, T0)
    st = IncidentStore(database)
    st.write([], [], [], c.ex.suspects.take_changed())
    assert c.ex.suspects.take_changed() == []  # taken once
    forget(st.db)
    st = IncidentStore(database)
    svc = ExplainerService(inv, st, Settings(poll_interval_s=30, telemetry_interval_s=10))
    assert [r["hotspot"] for r in svc.ex.suspects.rows()] == [stray[8:]]
    # a second incident later (another run of the same explainer state) counts on top
    svc.ex.suspects.observe("INC-later", T0 + 5000, "power_grid", t, {stray}, set())
    svc.decide()
    rows = st.inventory_suspects()
    assert rows[0]["incidents"] == 2 and rows[0]["confidence"] > 0.7
    assert st.inventory_suspects(min_confidence=0.9) == []
    st.close()


def test_a_withdrawn_suspect_leaves_the_store_and_a_restart_still_withdraws(inv, database):
    """Suspects of an incident's provisional root go when it is re-rooted: from the stored rows too,
    and after a restart (the roots they were noted under are stored with them)."""
    c, t, other, stray = _stray_run(inv, T0)
    st = IncidentStore(database)
    st.write([], [], [], c.ex.suspects.take_changed())
    inc = c.incidents()[0]
    assert [r["hotspot"] for r in st.inventory_suspects()] == [stray[8:]]
    forget(st.db)
    st = IncidentStore(database)
    book = SuspectBook(inv)
    book.load(st.inventory_suspects())
    book.decided(inc.id, inc.root)  # the same root: nothing withdrawn
    assert book.take_changed() == [] and len(book.rows()) == 1
    book.decided(inc.id, f"feeder:{inv.transformers[t[12:]].feeder}")
    gone = book.take_changed()
    assert [(r["hotspot"], r["incidents"]) for r in gone] == [(stray[8:], 0)]
    st.write([], [], [], gone)
    assert st.inventory_suspects() == [] and book.rows() == []
    st.close()


def test_corrections_csv_has_one_line_per_suspect(inv):
    c, t, other, stray = _stray_run(inv, T0)
    lines = corrections_csv_rows(c.ex.suspects.rows())
    assert lines[0][:4] == ["id", "field", "current", "suggested"]
    assert lines[1][:4] == [stray[8:], "transformer", other, t[12:]]
    assert lines[1][6].endswith("WIB")
    assert corrections_csv_rows(c.ex.suspects.rows(), min_confidence=0.99) == [lines[0]]


@pytest.fixture
def state_folder(inv, tmp_path, database):
    c, t, other, stray = _stray_run(inv, T0)
    st = IncidentStore(database)
    st.write([], [i.row() for i in c.incidents()], [], c.ex.suspects.take_changed())
    sdb = StateDB(database)
    key = sdb.create_key("test-viewer", "viewer")[1]
    return tmp_path, key, (t, other, stray), database


def test_api_serves_suspects_as_json_and_csv_to_the_noc_only(inv, state_folder):
    d, key, (t, other, stray), database = state_folder
    app = create_app(inv, d, rate_per_s=100, burst=100, trusted_proxies={"testclient"}, database=database)
    with TestClient(app) as c:
        assert c.get("/api/v1/inventory/suspects").status_code == 401
        r = c.get("/api/v1/inventory/suspects", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.text
        assert [(s["hotspot"], s["inventory"], s["likely"]) for s in r.json()] == [(stray[8:], other, t[12:])]
        assert r.json()[0]["evidence"][0]["kind"] == "joined"
        r = c.get("/api/v1/inventory/suspects?format=csv", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(r.text)))
        assert rows[1][:4] == [stray[8:], "transformer", other, t[12:]]
        r = c.get("/api/v1/inventory/suspects.csv?field=switch", headers={"Authorization": f"Bearer {key}"})
        assert len(list(csv.reader(io.StringIO(r.text)))) == 1  # header only
        bad = c.get("/api/v1/inventory/suspects?min_confidence=2", headers={"Authorization": f"Bearer {key}"})
        assert bad.status_code == 422


def test_cli_lists_suspects_and_writes_the_corrections_csv(inv, state_folder, tmp_path):
    d, _, (t, other, stray), database = state_folder
    out = tmp_path / "fix.csv"
    env = {**os.environ, "PANTAU_DATABASE_URL": database}
    p = subprocess.run(
        [sys.executable, "-m", "pantau", "inventory", "suspects", "--state-dir", str(d), "--csv", str(out), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout[: p.stdout.rindex("]") + 1])
    assert [(s["hotspot"], s["likely"]) for s in doc] == [(stray[8:], t[12:])]
    assert list(csv.reader(out.open()))[1][:4] == [stray[8:], "transformer", other, t[12:]]
    missing = subprocess.run(
        [sys.executable, "-m", "pantau", "inventory", "suspects", "--state-dir", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1 and "no state database" in missing.stderr
