import json
import subprocess
import sys
from pathlib import Path

import pytest

from hotspots.datafile import DataFileError
from hotspots.inventory import load_inventory, resolve_city
from simulator.scenario import ACTIONS, Expect, evaluate, load_scenario

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "scenarios"
PANTAU = [sys.executable, "-m", "pantau"]


def _load(text: str, name="made-up.yaml"):
    return load_scenario(name, inventory_loader=lambda c: load_inventory(resolve_city(c)), text=text)


@pytest.mark.skipif(not SHARED.exists(), reason="../shared not beside the checkout")
@pytest.mark.parametrize("path", sorted(SHARED.glob("*.yaml")) if SHARED.exists() else [], ids=lambda p: p.name)
def test_shared_scenarios_are_valid(path):
    sc, inv = load_scenario(path, inventory_loader=lambda c: load_inventory(resolve_city(c)))
    assert sc.events and inv.city == "semarang"


BASE = """name: made-up
city: semarang
duration_s: 120
events:
  - {at: 10, action: feeder_trip, target: "feeder:SRD-04"}
"""


@pytest.mark.parametrize(
    "body, line, needle",
    [
        (BASE.replace("feeder_trip", "feeder_tirp"), 5, "unknown action 'feeder_tirp'"),
        (BASE.replace("feeder:SRD-04", "feeder:SRD-99"), 5, "no element 'feeder:SRD-99'"),
        (BASE.replace("feeder:SRD-04", "switch:SW-TBL-01"), 5, "feeder_trip takes a target of kind feeder"),
        (BASE.replace('"feeder:SRD-04"}', '"feeder:SRD-04", down_s: 3}'), 5, "unknown field for feeder_trip"),
        (BASE.replace("duration_s", "duraton_s"), 3, "unknown field"),
        (BASE + '  - {at: 5, action: feeder_restore, target: "feeder:SRD-04"}\n', 1, "sorted"),
        (
            BASE + '  - {at: 20, action: maintenance_notice, target: "feeder:SRD-04", start_s: 50}\n',
            6,
            "needs field 'end_s'",
        ),
        (BASE + '  - {at: 20, action: egov_fail, target: "egov:lapor-hendi", mode: slow}\n', 6, "mode must be one of"),
        (BASE + 'expect:\n  incidents:\n    - {cause: power_cut, root: "feeder:SRD-04"}\n', 8, "cause"),
        ("name: x\nevents: [\n", 3, "invalid YAML"),
    ],
)
def test_bad_scenarios_are_refused_with_line(body, line, needle):
    with pytest.raises(DataFileError) as exc:
        _load(body)
    text = str(exc.value)
    assert needle in text and f"made-up.yaml:{line}" in text, text


def test_every_action_of_the_contract_is_known():
    spec = ROOT.parent / "shared" / "spec" / "scenarios.md"
    if spec.exists():
        import re

        named = set(re.findall(r"`([a-z_]+)`", spec.read_text().split("### Actions")[1].split("###")[0]))
        assert {a for a in named if "_" in a or a == "flap"} - {
            "down_s",
            "delay_s",
            "until_s",
            "start_s",
            "end_s",
            "period_s",
            "delay_ms",
            "ups_minutes",
        } <= set(ACTIONS)


def test_evaluate_expectations():
    exp = Expect.model_validate(
        {
            "incidents": [
                {
                    "cause": "power_grid",
                    "root": "feeder:SRD-04",
                    "opened_between_s": [60, 150],
                    "closed_between_s": [300, 420],
                }
            ],
            "forbid": [{"cause": "device"}],
            "max_incidents": 1,
        }
    )
    good = [
        {
            "id": "i1",
            "cause": "power_grid",
            "root": "feeder:SRD-04",
            "opened_s": 75,
            "closed_s": 330,
            "affected_hotspots": 24,
        }
    ]
    assert all(c["passed"] for c in evaluate(exp, good))
    late = [dict(good[0], opened_s=200)]
    assert not evaluate(exp, late)[0]["passed"]
    storm = good + [{"id": "i2", "cause": "device", "root": "hotspot:AP-0001", "opened_s": 80}]
    res = evaluate(exp, storm)
    assert [c["passed"] for c in res] == [True, False, False]
    assert not evaluate(exp, [])[0]["passed"]


@pytest.mark.integration
@pytest.mark.xfail(
    strict=False,
    reason="KNOWN DEFECT, open (issue #12/#13 notes): on this machine in Dec 2026 the "
    "simulator saturates a core (a third of it in paho's loop_write) and SNMP answers arrive after the "
    "engine's retry (engine 'unmatched' grows), so switch-fail's network incident opens late; reproduced "
    "at the pre-#12 commit ba8e513 too. To be found, not retried.",
)
def test_scenario_run_replays_a_shared_file_and_the_explainer_passes(tmp_path):
    report = tmp_path / "r.json"
    r = subprocess.run(
        PANTAU
        + ["scenario", "run", str(SHARED / "switch-fail.yaml"), "--time-scale", "10", "--report", str(report), "-q"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    data = json.loads(report.read_text())
    assert r.returncode == 0 and data["passed"], data["checks"]
    inc = data["incidents"][0]
    assert (inc["cause"], inc["root"]) == ("network_uplink", "switch:SW-TBL-01") and inc["affected_hotspots"] >= 10
    assert inc["explanation"]["id"].startswith("Gangguan jaringan: switch SW-TBL-01") and inc["explanation"]["en"]
    assert data["scenario"] == "switch-fail" and data["time_scale"] == 10
    assert [e["action"] for e in data["events"]] == ["switch_fail", "switch_restore"]
    for e in data["events"]:
        assert abs(e["applied_s"] - e["at_s"]) < 10  # scenario seconds, i.e. < 1 s of real time
    assert data["simulator"]["switches_failed"] == [] and data["simulator"]["hotspots_answering"] == 2300
    assert data["checks"] and {c["expect"] for c in data["checks"]} >= {"at most 1 incident(s)"}


@pytest.mark.integration
def test_scenario_run_refuses_a_typo_with_exit_2(tmp_path):
    f = tmp_path / "typo.yaml"
    f.write_text(BASE.replace("feeder_trip", "feeder_trp"))
    r = subprocess.run(PANTAU + ["scenario", "run", str(f)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 2
    assert f"{f}:5" in r.stderr and "feeder_trp" in r.stderr
