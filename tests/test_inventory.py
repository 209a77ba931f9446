import re
import shutil
from pathlib import Path

import pytest
import yaml

from hotspots.datafile import DataFileError
from hotspots.generator import generate
from hotspots.inventory import ID_RULES, load_inventory

ROOT = Path(__file__).resolve().parent.parent
SHARED_CITY = ROOT.parent / "shared" / "city" / "semarang.yaml"


def test_semarang_counts_and_id_rules(semarang):
    inv = semarang
    assert len(inv.hotspots) == 2300
    assert len(inv.kecamatan) == 16
    assert inv.kelurahan_count() == 177
    assert sorted(inv.hotspots) == [f"AP-{i:04d}" for i in range(1, 2301)]
    for kind in ("substation", "feeder", "transformer", "switch", "hotspot", "egov"):
        for ident in inv.of_kind(kind):
            assert ID_RULES[kind].match(ident), (kind, ident)
    assert all(len(v) >= 6 for v in inv.feeders_of_substation.values())
    assert set(inv.feeders_of_substation) == set(inv.substations)
    assert all(len(v) >= 3 for v in inv.transformers_of_feeder.values())
    assert set(inv.transformers_of_feeder) == set(inv.feeders)
    for code in inv.kecamatan:
        access = [s for s in inv.switches.values() if s.role == "access" and s.kecamatan == code]
        assert len(access) >= 2
        assert {s.id for s in access} >= {f"SW-{code}-01", f"SW-{code}-02"}
    # Every hotspot lies in the city, in a real kelurahan of its kecamatan.
    for h in inv.hotspots.values():
        assert inv.bbox.contains(h.lat, h.lon)
        assert h.kelurahan in inv.kecamatan[h.kecamatan].kelurahan


def test_ids_named_by_the_shared_scenarios_exist(semarang):
    for eid in ("feeder:SRD-04", "feeder:KLS-02", "switch:SW-TBL-01", "hotspot:AP-1234", "hotspot:AP-0042"):
        assert semarang.has(eid)


def test_topology_makes_causes_decidable(semarang):
    inv = semarang
    multi_switch = [t for t, hs in inv.hotspots_of_transformer.items() if len({inv.hotspots[h].switch for h in hs}) > 1]
    assert len(multi_switch) > 0.8 * len(inv.hotspots_of_transformer)
    multi_feeder = [
        s
        for s, hs in inv.hotspots_of_switch.items()
        if len({inv.transformers[inv.hotspots[h].transformer].feeder for h in hs}) > 1
    ]
    assert len(multi_feeder) > 0.8 * len(inv.hotspots_of_switch)


def test_vendor_mix_credentials_and_ups(semarang):
    hs = semarang.hotspots.values()
    assert {h.vendor for h in hs} == {"mikrotik", "ubiquiti", "cisco", "ruckus"}
    versions = {semarang.credentials.profiles[h.credentials].version for h in hs}
    assert versions == {"2c", "3"}
    ups = [h for h in hs if h.ups_minutes]
    assert 0.05 * 2300 < len(ups) < 0.3 * 2300


def test_credentials_are_redacted(semarang):
    prof = semarang.credentials.profiles["noc-v3-sha-aes"]
    secret = prof.auth_password.get_secret_value()
    assert secret not in repr(prof) and secret not in str(prof) and secret not in prof.describe()
    assert "**********" in repr(prof)


def test_generator_is_deterministic_and_matches_committed_files(tmp_path):
    out = tmp_path / "semarang"
    out.mkdir()
    shutil.copy(ROOT / "cities/semarang/geography.yaml", out / "geography.yaml")
    generate(ROOT / "cities/semarang/city.yaml", out / "geography.yaml", out)
    for name in ("inventory.yaml", "hotspots.csv", "credentials.yaml"):
        assert (out / name).read_bytes() == (ROOT / "cities/semarang" / name).read_bytes(), name


@pytest.mark.skipif(not SHARED_CITY.exists(), reason="../shared not beside the checkout")
def test_city_facts_copy_agrees_with_shared_file():
    ours = yaml.safe_load((ROOT / "cities/semarang/city.yaml").read_text())
    shared = yaml.safe_load(SHARED_CITY.read_text())
    for key in (
        "city",
        "display_name",
        "province",
        "timezone",
        "bbox",
        "hotspots",
        "kelurahan_total",
        "kecamatan",
        "substations",
    ):
        assert ours[key] == shared[key], key
    assert [e["slug"] for e in ours["egov"]] == [e["slug"] for e in shared["egov"]]
    assert ours["egov"][0]["name"] == "Perizinan Online (KRK, IPTB, IUMK)"


def test_second_city_from_the_same_code():
    batang = load_inventory(ROOT / "cities/batang")
    assert batang.city == "batang"
    assert len(batang.hotspots) == 240
    assert all(len(v) >= 6 for v in batang.feeders_of_substation.values())
    assert batang.has("feeder:BTG-01") and not batang.has("feeder:SRD-04")


def _copy_city(tmp_path) -> Path:
    d = tmp_path / "city"
    shutil.copytree(ROOT / "cities/semarang", d)
    return d


def _csv_edit(d: Path, fn):
    p = d / "hotspots.csv"
    lines = p.read_text().splitlines()
    p.write_text("\n".join(fn(lines)) + "\n")


@pytest.mark.parametrize(
    "edit, line, needle",
    [
        (
            lambda ls: [ls[0].replace(",switch,", ",")] + [re.sub(r",SW-[A-Z]+-\d+,", ",", row) for row in ls[1:]],
            1,
            "required column is missing",
        ),
        (lambda ls: ls[:11] + [ls[10]] + ls[11:], 12, "duplicate hotspot id 'AP-0010'"),
        (
            lambda ls: (
                ls[:5] + [ls[5].replace(",SW-BNY-01,", ",SW-BNY-99,").replace(",SW-BNY-02,", ",SW-BNY-99,")] + ls[6:]
            ),
            6,
            "unknown switch 'SW-BNY-99'",
        ),
        (lambda ls: ls[:3] + [re.sub(r",-7\.\d+,110\.\d+,", ",-6.5,110.4,", ls[3])] + ls[4:], 4, "outside the city"),
        (lambda ls: ls[:7] + [ls[7].replace(",161,", ",not-a-port,")] + ls[8:], 8, "snmp_port"),
    ],
)
def test_broken_hotspot_list_is_refused_with_line(tmp_path, edit, line, needle):
    d = _copy_city(tmp_path)
    _csv_edit(d, edit)
    with pytest.raises(DataFileError) as exc:
        load_inventory(d)
    text = str(exc.value)
    assert needle in text
    assert f"hotspots.csv:{line}" in text


def test_broken_inventory_yaml_is_refused_with_line(tmp_path):
    d = _copy_city(tmp_path)
    p = d / "inventory.yaml"
    text = p.read_text().replace("- {id: SRD-04, substation: SRD}", "- {id: SRD-04, substation: SRD, colour: red}")
    p.write_text(text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "colour: red" in ln)
    with pytest.raises(DataFileError) as exc:
        load_inventory(d)
    assert f"inventory.yaml:{line} [feeders." in str(exc.value) and "unknown field" in str(exc.value)


def test_unknown_credentials_and_bad_yaml(tmp_path):
    d = _copy_city(tmp_path)
    _csv_edit(d, lambda ls: ls[:2] + [ls[2].replace(ls[2].split(",")[10], "nope")] + ls[3:])
    with pytest.raises(DataFileError, match="unknown credentials profile 'nope'"):
        load_inventory(d)
    d2 = _copy_city(tmp_path / "b")
    (d2 / "credentials.yaml").write_text(
        "profiles:\n  x: {version: 3, user: u, auth_protocol: MD5, auth_password: abcdefgh}\n"
    )
    with pytest.raises(DataFileError, match=r"credentials.yaml:2"):
        load_inventory(d2)
    (d2 / "credentials.yaml").write_text("profiles: [unclosed\n")
    with pytest.raises(DataFileError, match="invalid YAML"):
        load_inventory(d2)
