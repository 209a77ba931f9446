"""Deterministic generator of a city inventory from its facts file and geography file.

Inputs: the city facts (format of ``../shared/city/semarang.yaml``) and ``geography.yaml`` in the
output folder (kelurahan names, kecamatan centres, substation positions, generator knobs).
Output: ``inventory.yaml``, ``hotspots.csv`` and ``credentials.yaml`` — the same files an
operator of a real city writes by hand. The same inputs always give byte-identical files.

Topology choices make causes decidable: hotspots of one transformer are wired to more than one
access switch (street cabinets are filled by free port, not by power circuit), and an access
switch serves hotspots on several feeders.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import math
import random
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field

from hotspots.datafile import read_yaml, validate
from hotspots.inventory import BBox


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FactKecamatan(_Strict):
    code: str
    name: str


class FactSubstation(_Strict):
    code: str
    name: str


class FactEgov(_Strict):
    slug: str
    name: str
    sla_days: int | None = None


class CityFacts(_Strict):
    city: str
    display_name: str
    province: str
    timezone: str
    bbox: BBox
    hotspots: Annotated[int, Field(gt=0, le=60000)]
    kelurahan_total: int
    kecamatan: list[FactKecamatan]
    substations: list[FactSubstation]
    egov: list[FactEgov] = []


class GeoKecamatan(_Strict):
    center: tuple[float, float]
    radius_km: float
    weight: float = 1.0
    kelurahan: list[str]


class GeneratorKnobs(_Strict):
    min_feeders_per_substation: int = 6
    min_transformers_per_feeder: int = 3
    hotspots_per_transformer: int = 8
    hotspots_per_access_switch: int = 24
    min_access_switches_per_kecamatan: int = 2
    hotspot_network: str = "127.20.0.0/16"
    switch_network: str = "127.30.0.0/24"
    controller_network: str = "127.30.1.0/24"
    ups_share: float = 0.15
    egov_base_url: str = "http://127.0.0.1:18080"


class Geography(_Strict):
    seed: int = 1
    kecamatan: dict[str, GeoKecamatan]
    substations: dict[str, tuple[float, float]]
    generator: GeneratorKnobs = GeneratorKnobs()


# Vendor mix of a city's procurement: (vendor, model, share, credential profiles to draw from).
VENDOR_MIX = [
    ("mikrotik", ["cAP ac", "hAP ac2", "wAP ac"], 0.40, ["public-v2c", "public-v2c", "noc-v3-sha-aes"]),
    ("ubiquiti", ["UAP-AC-LR", "U6-Lite", "U6-Pro"], 0.30, ["public-v2c", "noc-v3-sha-aes"]),
    ("cisco", ["AIR-AP1815I", "C9115AXI"], 0.15, ["noc-v3-sha256-aes256"]),
    ("ruckus", ["R510", "R320", "T310d"], 0.15, ["noc-v3-sha-aes", "noc-v3-sha256-aes256"]),
]

KM_PER_DEG = 111.0


def _credentials_doc(city: str) -> dict:
    # The simulated city's credentials. A real city keeps this file out of version control.
    return {
        "profiles": {
            "public-v2c": {"version": "2c", "community": f"pantau-{city}"},
            "noc-v3-sha-aes": {
                "version": "3",
                "user": "pantau-noc",
                "auth_protocol": "SHA",
                "auth_password": f"{city}-auth-2026",
                "priv_protocol": "AES",
                "priv_password": f"{city}-priv-2026",
            },
            "noc-v3-sha256-aes256": {
                "version": "3",
                "user": "pantau-secure",
                "auth_protocol": "SHA-256",
                "auth_password": f"{city}-auth256-2026",
                "priv_protocol": "AES-256",
                "priv_password": f"{city}-priv256-2026",
            },
            "switch-v2c": {"version": "2c", "community": f"pantau-{city}-net"},
        }
    }


def _clip(lat: float, lon: float, bbox: BBox) -> tuple[float, float]:
    lat = min(max(lat, bbox.lat[0] + 0.001), bbox.lat[1] - 0.001)
    lon = min(max(lon, bbox.lon[0] + 0.001), bbox.lon[1] - 0.001)
    return round(lat, 6), round(lon, 6)


def _spread(center: tuple[float, float], radius_km: float, i: int, n: int) -> tuple[float, float]:
    """Sunflower placement: n points evenly over a disc."""
    golden = math.pi * (3 - math.sqrt(5))
    r = radius_km * math.sqrt((i + 0.5) / n) / KM_PER_DEG
    a = i * golden
    return center[0] + r * math.sin(a), center[1] + r * math.cos(a)


def _dist(a, b) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def _apportion(total: int, weights: list[float], minimum: int) -> list[int]:
    """Largest-remainder split of ``total`` by ``weights`` with a floor of ``minimum`` each."""
    n = len(weights)
    base = [minimum] * n
    rest = total - minimum * n
    if rest < 0:
        raise ValueError(f"cannot give {minimum} to each of {n} parts out of {total}")
    s = sum(weights)
    quotas = [rest * w / s for w in weights]
    counts = [int(q) for q in quotas]
    left = rest - sum(counts)
    order = sorted(range(n), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in order[:left]:
        counts[i] += 1
    return [b + c for b, c in zip(base, counts)]


def _check_geography(facts: CityFacts, geo: Geography) -> tuple[list[str], list[str]]:
    """Decide whether the geography matches the facts; return the kecamatan and substation codes."""
    codes = [k.code for k in facts.kecamatan]
    missing = [c for c in codes if c not in geo.kecamatan]
    if missing or set(geo.kecamatan) - set(codes):
        raise ValueError(f"geography kecamatan {sorted(geo.kecamatan)} do not match the facts {codes}")
    kel_total = sum(len(geo.kecamatan[c].kelurahan) for c in codes)
    if kel_total != facts.kelurahan_total:
        raise ValueError(f"geography lists {kel_total} kelurahan, the facts say {facts.kelurahan_total}")
    sub_codes = [s.code for s in facts.substations]
    if set(sub_codes) != set(geo.substations):
        raise ValueError("geography substations do not match the facts")
    return codes, sub_codes


def _place_kelurahan(facts: CityFacts, geo: Geography, codes: list[str], rng: random.Random) -> list[dict]:
    """Decide each kelurahan's centre, spacing and hotspot count (``{kec, name, pos, spacing_km, w, n}``)."""
    kel: list[dict] = []
    for c in codes:
        g = geo.kecamatan[c]
        for i, name in enumerate(g.kelurahan):
            lat, lon = _spread(g.center, g.radius_km, i, len(g.kelurahan))
            kel.append(
                {
                    "kec": c,
                    "name": name,
                    "pos": _clip(lat, lon, facts.bbox),
                    "spacing_km": g.radius_km / math.sqrt(len(g.kelurahan)),
                    "w": g.weight * (0.8 + 0.4 * rng.random()),
                }
            )
    counts = _apportion(facts.hotspots, [k["w"] for k in kel], 3)
    for k, n in zip(kel, counts):
        k["n"] = n
    return kel


def _assign_substations(
    kel: list[dict], sub_codes: list[str], subs_pos: dict[str, tuple], min_feeders: int
) -> tuple[dict[str, list[int]], dict[int, list[str]]]:
    """Decide which substations serve each kelurahan: the nearest, plus neighbours short of kelurahan."""
    by_sub: dict[str, list[int]] = {code: [] for code in sub_codes}
    for i, k in enumerate(kel):
        nearest = min(sub_codes, key=lambda s: _dist(subs_pos[s], k["pos"]))
        by_sub[nearest].append(i)
    # A substation with too few kelurahan also serves the nearest ones of its neighbours
    # (a kelurahan fed from two substations is common).
    kel_share: dict[int, list[str]] = {i: [] for i in range(len(kel))}
    for code in sub_codes:
        for i in by_sub[code]:
            kel_share[i].append(code)
    for code in sub_codes:
        if len(by_sub[code]) < min_feeders:
            extra = sorted(
                (i for i in range(len(kel)) if i not in by_sub[code]),
                key=lambda i: _dist(subs_pos[code], kel[i]["pos"]),
            )
            for i in extra[: min_feeders - len(by_sub[code])]:
                by_sub[code].append(i)
                kel_share[i].append(code)
    return by_sub, kel_share


def _transformer_plan(
    chunk: list[int], kel: list[dict], kel_share: dict[int, list[str]], knobs: GeneratorKnobs
) -> list[int]:
    """Decide how many transformers a feeder has: the kelurahan index of each, in order."""
    plan = []
    for i in chunk:
        hs = kel[i]["n"] / len(kel_share[i])
        plan += [i] * max(1, round(hs / knobs.hotspots_per_transformer))
    j = 0
    while len(plan) < knobs.min_transformers_per_feeder:
        plan.append(chunk[j % len(chunk)])
        j += 1
    return plan


def _build_feeders(
    kel: list[dict],
    sub_codes: list[str],
    subs_pos: dict[str, tuple],
    by_sub: dict[str, list[int]],
    kel_share: dict[int, list[str]],
    knobs: GeneratorKnobs,
    rng: random.Random,
    bbox: BBox,
) -> tuple[list[dict], list[dict], dict[int, list[int]]]:
    """Decide the feeders of each substation (sectors of its kelurahan) and their transformers."""
    feeders: list[dict] = []
    transformers: list[dict] = []
    tx_of_kel: dict[int, list[int]] = {i: [] for i in range(len(kel))}
    for code in sub_codes:
        members = by_sub[code]
        sp = subs_pos[code]
        members.sort(key=lambda i: (math.atan2(kel[i]["pos"][0] - sp[0], kel[i]["pos"][1] - sp[1]), i))
        n_feeders = max(knobs.min_feeders_per_substation, math.ceil(len(members) / 3))
        chunks = [
            members[j * len(members) // n_feeders : (j + 1) * len(members) // n_feeders] for j in range(n_feeders)
        ]
        for fi, chunk in enumerate(chunks, start=1):
            fid = f"{code}-{fi:02d}"
            feeders.append({"id": fid, "substation": code})
            for ti, i in enumerate(_transformer_plan(chunk, kel, kel_share, knobs), start=1):
                k = kel[i]
                d = k["spacing_km"] * 0.5 / KM_PER_DEG
                pos = _clip(k["pos"][0] + rng.uniform(-d, d), k["pos"][1] + rng.uniform(-d, d), bbox)
                transformers.append(
                    {
                        "id": f"{fid}-T{ti:02d}",
                        "feeder": fid,
                        "kecamatan": k["kec"],
                        "kelurahan": k["name"],
                        "lat": pos[0],
                        "lon": pos[1],
                        "kva": rng.choice([100, 160, 200, 250, 400]),
                    }
                )
                tx_of_kel[i].append(len(transformers) - 1)
    return feeders, transformers, tx_of_kel


def _place_hotspots(kel: list[dict], tx_of_kel: dict[int, list[int]], rng: random.Random, bbox: BBox) -> list[dict]:
    """Decide hotspot positions around their kelurahan and which of its transformers feeds each."""
    hotspots: list[dict] = []
    for i, k in enumerate(kel):
        pts = []
        for h in range(k["n"]):
            d = k["spacing_km"] * 0.6
            lat, lon = _spread(k["pos"], d, h, k["n"])
            jitter = 0.15 / KM_PER_DEG
            pts.append(_clip(lat + rng.uniform(-jitter, jitter), lon + rng.uniform(-jitter, jitter), bbox))
        txs = tx_of_kel[i]
        # Sort points by angle so each transformer gets a contiguous sector of the kelurahan.
        order = sorted(range(len(pts)), key=lambda p: math.atan2(pts[p][0] - k["pos"][0], pts[p][1] - k["pos"][1]))
        for rank, p in enumerate(order):
            tx = txs[rank * len(txs) // len(pts)]
            hotspots.append({"kec": k["kec"], "kel": k["name"], "pos": pts[p], "tx": tx})
    return hotspots


def _build_switches(
    codes: list[str], geo: Geography, hotspots: list[dict], bbox: BBox
) -> tuple[list[dict], dict[str, list[dict]]]:
    """Decide the switch tree: one core, one aggregation and several access switches per kecamatan."""
    knobs = geo.generator
    snet = list(ipaddress.ip_network(knobs.switch_network).hosts())
    switches: list[dict] = [{"id": "CORE-01", "role": "core", "address": str(snet[0]), "credentials": "switch-v2c"}]
    access_of_kec: dict[str, list[dict]] = {}
    for c in codes:
        switches.append(
            {
                "id": f"AGG-{c}",
                "role": "aggregation",
                "parent": "CORE-01",
                "kecamatan": c,
                "address": str(snet[len(switches)]),
                "credentials": "switch-v2c",
            }
        )
        members = [h for h in hotspots if h["kec"] == c]
        n_sw = max(knobs.min_access_switches_per_kecamatan, round(len(members) / knobs.hotspots_per_access_switch))
        g = geo.kecamatan[c]
        access_of_kec[c] = []
        for s in range(n_sw):
            lat, lon = _clip(*_spread(g.center, g.radius_km * 0.8, s, n_sw), bbox)
            sw = {
                "id": f"SW-{c}-{s + 1:02d}",
                "role": "access",
                "parent": f"AGG-{c}",
                "kecamatan": c,
                "address": str(snet[len(switches)]),
                "credentials": "switch-v2c",
                "lat": lat,
                "lon": lon,
            }
            switches.append(sw)
            access_of_kec[c].append(sw)
    return switches, access_of_kec


def _wire_hotspots(hotspots: list[dict], access_of_kec: dict[str, list[dict]]) -> None:
    """Decide each hotspot's access switch (sets ``switch``): nearest cabinet, every third the second nearest."""
    # Each hotspot goes to its nearest cabinet, every third one to the second nearest
    # (where the nearest had no free port): a transformer's hotspots span switches.
    for n, h in enumerate(hotspots):
        cands = sorted(access_of_kec[h["kec"]], key=lambda s: (_dist((s["lat"], s["lon"]), h["pos"]), s["id"]))
        h["switch"] = cands[1]["id"] if (n % 3 == 2 and len(cands) > 1) else cands[0]["id"]


def _device_rows(
    hotspots: list[dict], transformers: list[dict], knobs: GeneratorKnobs, rng: random.Random
) -> list[dict]:
    """Decide each hotspot's device: vendor, model, credentials, UPS and address (rows of hotspots.csv)."""
    hnet = ipaddress.ip_network(knobs.hotspot_network)
    base = int(hnet.network_address)
    shares = [v[2] for v in VENDOR_MIX]
    rows = []
    for n, h in enumerate(hotspots, start=1):
        vendor, models, _, creds = rng.choices(VENDOR_MIX, weights=shares)[0]
        ups = rng.choice([15, 30, 45, 60]) if rng.random() < knobs.ups_share else 0
        addr = ipaddress.IPv4Address(base + ((n - 1) // 250) * 256 + (n - 1) % 250 + 1)
        if addr not in hnet:
            raise ValueError(f"hotspot network {hnet} too small for {len(hotspots)} hotspots")
        rows.append(
            {
                "id": f"AP-{n:04d}",
                "name": f"Wifi Publik {h['kel']} {n:04d}",
                "kecamatan": h["kec"],
                "kelurahan": h["kel"],
                "lat": h["pos"][0],
                "lon": h["pos"][1],
                "vendor": vendor,
                "model": rng.choice(models),
                "address": str(addr),
                "snmp_port": 161,
                "credentials": rng.choice(creds),
                "switch": h["switch"],
                "transformer": transformers[h["tx"]]["id"],
                "ups_minutes": ups,
            }
        )
    return rows


def _inventory_doc(
    facts: CityFacts,
    geo: Geography,
    subs_pos: dict[str, tuple],
    feeders: list[dict],
    transformers: list[dict],
    switches: list[dict],
) -> dict:
    """Decide the content of inventory.yaml, in its key order."""
    knobs = geo.generator
    bbox = facts.bbox
    return {
        "city": facts.city,
        "display_name": facts.display_name,
        "province": facts.province,
        "timezone": facts.timezone,
        "bbox": {"lat": list(bbox.lat), "lon": list(bbox.lon)},
        "hotspots_file": "hotspots.csv",
        "credentials_file": "credentials.yaml",
        "kecamatan": [
            {"code": k.code, "name": k.name, "kelurahan": list(geo.kecamatan[k.code].kelurahan)}
            for k in facts.kecamatan
        ],
        "substations": [
            {"id": s.code, "name": s.name, "lat": subs_pos[s.code][0], "lon": subs_pos[s.code][1]}
            for s in facts.substations
        ],
        "feeders": feeders,
        "transformers": transformers,
        "switches": switches,
        # One wireless LAN controller in the data centre; Cisco APs report their radios through it.
        "controllers": [
            {
                "id": "WLC-01",
                "vendor": "cisco",
                "model": "AIR-CT5520-K9",
                "address": str(ipaddress.ip_network(knobs.controller_network)[1]),
                "credentials": "noc-v3-sha-aes",
                "manages": ["cisco"],
            }
        ],
        "egov": [
            {
                "id": e.slug,
                "name": e.name,
                "url": f"{knobs.egov_base_url}/{e.slug}/status",
                "keyword": "ok",
                **({"sla_days": e.sla_days} if e.sla_days else {}),
            }
            for e in facts.egov
        ],
    }


def _write_files(out: Path, facts: CityFacts, geo: Geography, inventory: dict, rows: list[dict]) -> None:
    """Write inventory.yaml, credentials.yaml and hotspots.csv into ``out`` (created if missing)."""
    out.mkdir(parents=True, exist_ok=True)
    header = (
        f"# Inventory of {facts.display_name}, generated by `pantau inventory generate` from the city facts\n"
        f"# and geography.yaml (seed {geo.seed}). Format: docs/inventory.md. Hotspots: {inventory['hotspots_file']}.\n"
    )
    (out / "inventory.yaml").write_text(header + _dump(inventory), encoding="utf-8")
    (out / "credentials.yaml").write_text(
        "# SNMP credential profiles of the simulated city (a real city keeps this file secret).\n"
        + _dump(_credentials_doc(facts.city)),
        encoding="utf-8",
    )
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0].keys()), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    (out / "hotspots.csv").write_text(buf.getvalue(), encoding="utf-8")


def generate(facts_path: str | Path, geography_path: str | Path, out_dir: str | Path) -> dict[str, int]:
    """Generate the city's inventory files into ``out_dir``. Returns element counts."""
    data, lines = read_yaml(facts_path)
    facts = validate(CityFacts, data, lines)
    gdata, glines = read_yaml(geography_path)
    geo = validate(Geography, gdata, glines)
    knobs = geo.generator
    # One random stream for the whole city: the steps below draw from it in a fixed order.
    rng = random.Random(geo.seed)
    bbox = facts.bbox
    codes, sub_codes = _check_geography(facts, geo)

    # 1. Kelurahan centres and hotspot counts.
    kel = _place_kelurahan(facts, geo, codes, rng)
    # 2. Kelurahan to substations (nearest), then feeders and transformers.
    subs_pos = {code: tuple(geo.substations[code]) for code in sub_codes}
    by_sub, kel_share = _assign_substations(kel, sub_codes, subs_pos, knobs.min_feeders_per_substation)
    feeders, transformers, tx_of_kel = _build_feeders(kel, sub_codes, subs_pos, by_sub, kel_share, knobs, rng, bbox)
    # 3. Hotspots: positions around their kelurahan, split among the kelurahan's transformers.
    hotspots = _place_hotspots(kel, tx_of_kel, rng, bbox)
    # 4. Network: one core, one aggregation switch per kecamatan, access switches per kecamatan.
    switches, access_of_kec = _build_switches(codes, geo, hotspots, bbox)
    _wire_hotspots(hotspots, access_of_kec)
    # 5. Devices: vendor, model, credentials, UPS, address.
    rows = _device_rows(hotspots, transformers, knobs, rng)

    inventory = _inventory_doc(facts, geo, subs_pos, feeders, transformers, switches)
    _write_files(Path(out_dir), facts, geo, inventory, rows)
    return {
        "kecamatan": len(codes),
        "kelurahan": len(kel),
        "substation": len(sub_codes),
        "feeder": len(feeders),
        "transformer": len(transformers),
        "switch": len(switches),
        "hotspot": len(rows),
        "egov": len(facts.egov),
    }


class _Dumper(yaml.SafeDumper):
    pass


def _flow_small(dumper, data):
    # One line per element (feeders, transformers, switches): diff-friendly and readable.
    flow = all(not isinstance(v, (dict, list)) or (isinstance(v, list) and len(v) <= 2) for v in data.values())
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=flow and len(data) <= 10)


_Dumper.add_representer(dict, _flow_small)


def _dump(doc) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=200)


def derive_city(src_dir: str | Path, out_dir: str | Path, name: str, index: int) -> dict[str, int]:
    """A synthetic city made by the same code from another's facts and geography (a city is data):
    ``src_dir``'s city moved ``index`` steps east (0.3° each), renamed ``name``, with its own
    address ranges (hotspots 127.<20+i>.0.0/16, switches 127.<30+i>.0.0/24, its controller
    127.<30+i>.1.0/24 for index 2..9; 127.<40+i>, 127.<60+i> for 10..19) and its own random seed,
    generated into ``out_dir``. Used for the ten-city scale runs (bench/scale.py); ``index`` 0 and 1
    are Semarang's and Batang's ranges."""
    if not 2 <= index <= 19:
        raise ValueError("index 2..19: 127.20-21 / 127.30-31 are Semarang's and Batang's")
    hnet, snet = (20 + index, 30 + index) if index < 10 else (40 + index, 60 + index)
    src, out = Path(src_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    facts = yaml.safe_load((src / "city.yaml").read_text(encoding="utf-8"))
    geo = yaml.safe_load((src / "geography.yaml").read_text(encoding="utf-8"))
    dlon = 0.3 * index
    facts["city"] = name
    facts["display_name"] = f"{facts['display_name']} (kota uji skala {index:02d} / scale-test city)"
    facts["bbox"]["lon"] = [round(x + dlon, 4) for x in facts["bbox"]["lon"]]
    for kec in geo["kecamatan"].values():
        kec["center"] = [kec["center"][0], round(kec["center"][1] + dlon, 4)]
    geo["substations"] = {k: [v[0], round(v[1] + dlon, 4)] for k, v in geo["substations"].items()}
    geo["seed"] = int(geo.get("seed", 1)) * 100 + index
    knobs = geo.setdefault("generator", {})
    knobs["hotspot_network"] = f"127.{hnet}.0.0/16"
    knobs["switch_network"] = f"127.{snet}.0.0/24"
    knobs["controller_network"] = f"127.{snet}.1.0/24"
    (out / "city.yaml").write_text(yaml.safe_dump(facts, sort_keys=False, allow_unicode=True), encoding="utf-8")
    (out / "geography.yaml").write_text(yaml.safe_dump(geo, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return generate(out / "city.yaml", out / "geography.yaml", out)
