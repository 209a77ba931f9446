"""The inventory of a city: grid, network and hotspots, loaded strictly from data files.

A city is a folder (see docs/inventory.md):

- ``inventory.yaml``   city facts, kecamatan/kelurahan, substations, feeders, transformers,
                       switches, e-government services, and the name of the hotspot list;
- ``hotspots.csv``     one row per access point, the shape of a NOC's asset spreadsheet;
- ``credentials.yaml`` named SNMP credential profiles (kept apart: they are secrets).

``load_inventory`` returns a fully cross-checked :class:`Inventory` or raises
:class:`~hotspots.datafile.DataFileError` listing every problem with file, line and field.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hotspots.credentials import CredentialSet, load_credentials
from hotspots.datafile import DataFileError, Lines, Problem, problems_from_validation, read_csv, read_yaml, validate

KINDS = ("substation", "feeder", "transformer", "switch", "hotspot", "egov")
VENDORS = ("mikrotik", "ubiquiti", "cisco", "ruckus")

ID_RULES = {
    "substation": re.compile(r"^[A-Z]{2,4}$"),
    "feeder": re.compile(r"^(?P<parent>[A-Z]{2,4})-\d{2}$"),
    "transformer": re.compile(r"^(?P<parent>[A-Z]{2,4}-\d{2})-T\d{2}$"),
    "switch": re.compile(r"^(SW-[A-Z]{2,4}-\d{2}|AGG-[A-Z]{2,4}|CORE-\d{2})$"),
    "hotspot": re.compile(r"^AP-\d{4,5}$"),
    "egov": re.compile(r"^[a-z0-9][a-z0-9-]*$"),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BBox(_Strict):
    lat: tuple[float, float]
    lon: tuple[float, float]

    def contains(self, lat: float, lon: float) -> bool:
        return self.lat[0] <= lat <= self.lat[1] and self.lon[0] <= lon <= self.lon[1]


class KecamatanModel(_Strict):
    code: Annotated[str, Field(pattern=r"^[A-Z]{2,4}$")]
    name: str
    kelurahan: list[str] = Field(min_length=1)


class SubstationModel(_Strict):
    id: str
    name: str
    lat: float
    lon: float


class FeederModel(_Strict):
    id: str
    substation: str


class TransformerModel(_Strict):
    id: str
    feeder: str
    kecamatan: str
    kelurahan: str
    lat: float
    lon: float
    kva: Annotated[int, Field(gt=0)] = 160


class SwitchModel(_Strict):
    id: str
    role: Literal["core", "aggregation", "access"]
    parent: str | None = None
    kecamatan: str | None = None
    address: str
    credentials: str
    lat: float | None = None
    lon: float | None = None

    @field_validator("address")
    @classmethod
    def _ip(cls, v: str) -> str:
        ipaddress.IPv4Address(v)
        return v


class ControllerModel(_Strict):
    """A wireless LAN controller: the APs of the vendors it manages report their radios through it."""

    id: Annotated[str, Field(pattern=r"^WLC-[0-9]{2}$")]
    vendor: Literal["cisco"]
    model: str
    address: str
    snmp_port: Annotated[int, Field(gt=0, lt=65536)] = 161
    credentials: str
    manages: list[Literal["cisco"]] = Field(min_length=1)

    @field_validator("address")
    @classmethod
    def _ip(cls, v: str) -> str:
        ipaddress.IPv4Address(v)
        return v


class EgovModel(_Strict):
    id: str
    name: str
    url: str
    keyword: str | None = None
    sla_days: Annotated[int, Field(gt=0)] | None = None


class CityModel(_Strict):
    city: Annotated[str, Field(pattern=r"^[a-z0-9-]+$")]
    display_name: str
    province: str
    timezone: str
    bbox: BBox
    hotspots_file: str = "hotspots.csv"
    credentials_file: str = "credentials.yaml"
    kecamatan: list[KecamatanModel] = Field(min_length=1)
    substations: list[SubstationModel] = Field(min_length=1)
    feeders: list[FeederModel] = Field(min_length=1)
    transformers: list[TransformerModel] = Field(min_length=1)
    switches: list[SwitchModel] = Field(min_length=1)
    controllers: list[ControllerModel] = []
    egov: list[EgovModel] = []


class HotspotRow(_Strict):
    id: str
    name: str
    kecamatan: str
    kelurahan: str
    lat: float
    lon: float
    vendor: Literal["mikrotik", "ubiquiti", "cisco", "ruckus"]
    model: str
    address: str
    snmp_port: Annotated[int, Field(ge=1, le=65535)] = 161
    credentials: str
    switch: str
    transformer: str
    ups_minutes: Annotated[int, Field(ge=0, le=1440)] = 0

    @field_validator("address")
    @classmethod
    def _ip(cls, v: str) -> str:
        ipaddress.IPv4Address(v)
        return v


HOTSPOT_COLUMNS_REQUIRED = [
    "id",
    "name",
    "kecamatan",
    "kelurahan",
    "lat",
    "lon",
    "vendor",
    "model",
    "address",
    "credentials",
    "switch",
    "transformer",
]
HOTSPOT_COLUMNS_OPTIONAL = ["snmp_port", "ups_minutes"]


# --- the loaded, cross-checked inventory -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Kecamatan:
    code: str
    name: str
    kelurahan: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Substation:
    id: str
    name: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Feeder:
    id: str
    substation: str


@dataclass(frozen=True, slots=True)
class Transformer:
    id: str
    feeder: str
    kecamatan: str
    kelurahan: str
    lat: float
    lon: float
    kva: int


@dataclass(frozen=True, slots=True)
class Switch:
    id: str
    role: str
    parent: str | None
    kecamatan: str | None
    address: str
    credentials: str
    lat: float | None
    lon: float | None


@dataclass(frozen=True, slots=True)
class Hotspot:
    id: str
    name: str
    kecamatan: str
    kelurahan: str
    lat: float
    lon: float
    vendor: str
    model: str
    address: str
    snmp_port: int
    credentials: str
    switch: str
    transformer: str
    ups_minutes: int

    @property
    def area(self) -> str:
        return f"{self.kecamatan}/{self.kelurahan}"


@dataclass(frozen=True, slots=True)
class Controller:
    id: str
    vendor: str
    model: str
    address: str
    snmp_port: int
    credentials: str
    manages: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EgovService:
    id: str
    name: str
    url: str
    keyword: str | None
    sla_days: int | None


@dataclass(frozen=True)
class Inventory:
    city: str
    display_name: str
    province: str
    timezone: str
    bbox: BBox
    kecamatan: dict[str, Kecamatan]
    substations: dict[str, Substation]
    feeders: dict[str, Feeder]
    transformers: dict[str, Transformer]
    switches: dict[str, Switch]
    hotspots: dict[str, Hotspot]
    egov: dict[str, EgovService]
    credentials: CredentialSet
    source: str = ""
    controllers: dict[str, Controller] = field(default_factory=dict)

    def of_kind(self, kind: str) -> dict:
        try:
            return {
                "substation": self.substations,
                "feeder": self.feeders,
                "transformer": self.transformers,
                "switch": self.switches,
                "hotspot": self.hotspots,
                "egov": self.egov,
            }[kind]
        except KeyError:
            raise KeyError(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}") from None

    def get(self, element_id: str):
        """Look up ``kind:ID`` (e.g. ``feeder:SRD-04``)."""
        kind, sep, ident = element_id.partition(":")
        if not sep:
            raise KeyError(f"element id {element_id!r} must be kind:ID")
        elements = self.of_kind(kind)
        if ident not in elements:
            raise KeyError(f"no {kind} {ident!r} in inventory {self.city}")
        return elements[ident]

    def has(self, element_id: str) -> bool:
        try:
            self.get(element_id)
            return True
        except KeyError:
            return False

    # Topology helpers, computed once.
    @cached_property
    def feeders_of_substation(self) -> dict[str, list[str]]:
        return _group((f.substation, f.id) for f in self.feeders.values())

    @cached_property
    def transformers_of_feeder(self) -> dict[str, list[str]]:
        return _group((t.feeder, t.id) for t in self.transformers.values())

    @cached_property
    def hotspots_of_transformer(self) -> dict[str, list[str]]:
        return _group((h.transformer, h.id) for h in self.hotspots.values())

    @cached_property
    def hotspots_of_switch(self) -> dict[str, list[str]]:
        return _group((h.switch, h.id) for h in self.hotspots.values())

    @cached_property
    def children_of_switch(self) -> dict[str, list[str]]:
        return _group((s.parent, s.id) for s in self.switches.values() if s.parent)

    # Cabling convention (docs/inventory.md): an access switch's ifIndex 1 is its uplink; ifIndex
    # 2, 3, ... serve its hotspots in inventory order.
    def port_of(self, hotspot_id: str) -> tuple[str, int]:
        sw = self.hotspots[hotspot_id].switch
        return sw, self.hotspots_of_switch[sw].index(hotspot_id) + 2

    def hotspot_on_port(self, switch_id: str, if_index: int) -> str | None:
        members = self.hotspots_of_switch.get(switch_id, [])
        i = if_index - 2
        return members[i] if 0 <= i < len(members) else None

    @cached_property
    def element_by_address(self) -> dict[str, str]:
        """Agent address → "hotspot:ID" / "switch:ID" / "controller:ID" (addresses are unique)."""
        out = {h.address: f"hotspot:{h.id}" for h in self.hotspots.values()}
        out.update({s.address: f"switch:{s.id}" for s in self.switches.values()})
        out.update({c.address: f"controller:{c.id}" for c in self.controllers.values()})
        return out

    def hotspots_below(self, element_id: str) -> list[str]:
        """Hotspots whose power or network path runs through ``element_id``."""
        kind, _, ident = element_id.partition(":")
        self.get(element_id)
        if kind == "hotspot":
            return [ident]
        if kind == "transformer":
            return list(self.hotspots_of_transformer.get(ident, []))
        if kind == "feeder":
            return [
                h for t in self.transformers_of_feeder.get(ident, []) for h in self.hotspots_of_transformer.get(t, [])
            ]
        if kind == "substation":
            return [h for f in self.feeders_of_substation.get(ident, []) for h in self.hotspots_below(f"feeder:{f}")]
        if kind == "switch":
            out = list(self.hotspots_of_switch.get(ident, []))
            for child in self.children_of_switch.get(ident, []):
                out.extend(self.hotspots_below(f"switch:{child}"))
            return out
        return []

    def switches_below(self, switch_id: str) -> list[str]:
        out = [switch_id]
        for child in self.children_of_switch.get(switch_id, []):
            out.extend(self.switches_below(child))
        return out

    def kelurahan_count(self) -> int:
        return sum(len(k.kelurahan) for k in self.kecamatan.values())

    def summary(self) -> dict[str, int]:
        return {
            "kecamatan": len(self.kecamatan),
            "kelurahan": self.kelurahan_count(),
            "substation": len(self.substations),
            "feeder": len(self.feeders),
            "transformer": len(self.transformers),
            "switch": len(self.switches),
            "hotspot": len(self.hotspots),
            "egov": len(self.egov),
        }


def _group(pairs) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in pairs:
        out.setdefault(k, []).append(v)
    return out


def element_id(kind: str, ident: str) -> str:
    return f"{kind}:{ident}"


def load_inventory(path: str | Path) -> Inventory:
    """Load a city folder (or its inventory.yaml). Raises DataFileError listing every problem."""
    path = Path(path)
    if path.is_dir():
        path = path / "inventory.yaml"
    data, lines = read_yaml(path)
    city = validate(CityModel, data, lines)
    base = path.parent
    problems: list[Problem] = []

    credentials = load_credentials(base / city.credentials_file)
    rows, row_lines = read_csv(base / city.hotspots_file, HOTSPOT_COLUMNS_REQUIRED, HOTSPOT_COLUMNS_OPTIONAL)
    hotspot_models: list[HotspotRow] = []
    for i, row in enumerate(rows):
        clean = {k: v for k, v in row.items() if v != "" or k in HOTSPOT_COLUMNS_REQUIRED}
        try:
            hotspot_models.append(HotspotRow.model_validate(clean))
        except ValidationError as exc:
            problems.extend(problems_from_validation(exc, row_lines, (i,)))
    if problems:
        raise DataFileError(problems)

    inv = _cross_check(city, hotspot_models, credentials, lines, row_lines, problems, str(base))
    if problems:
        raise DataFileError(problems)
    return inv


class _CrossCheck:
    """The cross-checks of one city's files: each method checks one section and reports into ``problems``."""

    def __init__(
        self, city: CityModel, credentials: CredentialSet, lines: Lines, row_lines: Lines, problems: list[Problem]
    ):
        self.city = city
        self.credentials = credentials
        self.lines = lines
        self.row_lines = row_lines
        self.problems = problems
        self.seen: dict[str, set[str]] = {k: set() for k in KINDS}
        self.kel_of: dict[str, set[str]] = {}
        self.addresses: dict[tuple[str, int], str] = {}  # (address, port) -> what uses it

    def bad(self, loc, msg, where: Lines | None = None) -> None:
        """Report a problem at ``loc`` of ``where`` (default: inventory.yaml)."""
        self.problems.append((self.lines if where is None else where).problem(loc, msg))

    def check_id(self, kind: str, ident: str, loc, where: Lines | None = None) -> bool:
        """Decide whether an id follows its kind's naming rule and is not a duplicate (then it is taken)."""
        if not ID_RULES[kind].match(ident):
            self.bad(loc, f"{kind} id {ident!r} does not follow the naming rule {ID_RULES[kind].pattern}", where)
            return False
        if ident in self.seen[kind]:
            self.bad(loc, f"duplicate {kind} id {ident!r}", where)
            return False
        self.seen[kind].add(ident)
        return True

    def check_area(self, kecamatan: str, kelurahan: str, loc, where: Lines | None = None) -> None:
        """Decide whether a kecamatan is known and the kelurahan lies in it."""
        if kecamatan not in self.kel_of:
            self.bad(loc + ("kecamatan",), f"unknown kecamatan {kecamatan!r}", where)
        elif kelurahan not in self.kel_of[kecamatan]:
            self.bad(loc + ("kelurahan",), f"kelurahan {kelurahan!r} is not in kecamatan {kecamatan}", where)

    def check_pos(self, lat, lon, loc, where: Lines | None = None) -> None:
        """Decide whether coordinates (when given) lie inside the city's bounding box."""
        if lat is not None and lon is not None and not self.city.bbox.contains(lat, lon):
            self.bad(loc + ("lat",), f"coordinates ({lat}, {lon}) lie outside the city's bounding box", where)

    def check_address(self, key: tuple[str, int], user: str, loc, shown: str, where: Lines | None = None) -> None:
        """Decide whether an SNMP address (and port) is still free; it is then taken by ``user``."""
        if key in self.addresses:
            self.bad(loc + ("address",), f"address {shown} already used by {self.addresses[key]}", where)
        self.addresses[key] = user

    def check_credentials(self, profile: str, loc, where: Lines | None = None) -> None:
        """Decide whether a credentials profile exists in credentials.yaml."""
        if profile not in self.credentials.profiles:
            self.bad(loc + ("credentials",), f"unknown credentials profile {profile!r}", where)

    def kecamatan(self) -> dict[str, Kecamatan]:
        """Decide whether kecamatan codes are unique and their kelurahan names unique within each."""
        kec = {}
        for i, k in enumerate(self.city.kecamatan):
            if k.code in kec:
                self.bad(("kecamatan", i, "code"), f"duplicate kecamatan code {k.code!r}")
            if len(set(k.kelurahan)) != len(k.kelurahan):
                self.bad(("kecamatan", i, "kelurahan"), "duplicate kelurahan name in one kecamatan")
            kec[k.code] = Kecamatan(k.code, k.name, tuple(k.kelurahan))
            self.kel_of[k.code] = set(k.kelurahan)
        return kec

    def substations(self) -> dict[str, Substation]:
        """Decide which substations are valid: well-named, unique, inside the city."""
        subs = {}
        for i, s in enumerate(self.city.substations):
            if self.check_id("substation", s.id, ("substations", i, "id")):
                self.check_pos(s.lat, s.lon, ("substations", i))
                subs[s.id] = Substation(s.id, s.name, s.lat, s.lon)
        return subs

    def feeders(self, subs: dict[str, Substation]) -> dict[str, Feeder]:
        """Decide whether each feeder hangs from a known substation whose code starts its id."""
        feeders = {}
        for i, f in enumerate(self.city.feeders):
            loc = ("feeders", i)
            if not self.check_id("feeder", f.id, loc + ("id",)):
                continue
            if f.substation not in subs:
                self.bad(loc + ("substation",), f"unknown substation {f.substation!r}")
            elif ID_RULES["feeder"].match(f.id).group("parent") != f.substation:
                self.bad(loc + ("id",), f"feeder id {f.id!r} must start with its substation code {f.substation}")
            feeders[f.id] = Feeder(f.id, f.substation)
        return feeders

    def transformers(self, feeders: dict[str, Feeder]) -> dict[str, Transformer]:
        """Decide whether each transformer hangs from a known feeder (its id's prefix) in a known area."""
        transformers = {}
        for i, t in enumerate(self.city.transformers):
            loc = ("transformers", i)
            if not self.check_id("transformer", t.id, loc + ("id",)):
                continue
            if t.feeder not in feeders:
                self.bad(loc + ("feeder",), f"unknown feeder {t.feeder!r}")
            elif ID_RULES["transformer"].match(t.id).group("parent") != t.feeder:
                self.bad(loc + ("id",), f"transformer id {t.id!r} must start with its feeder id {t.feeder}")
            self.check_area(t.kecamatan, t.kelurahan, loc)
            self.check_pos(t.lat, t.lon, loc)
            transformers[t.id] = Transformer(t.id, t.feeder, t.kecamatan, t.kelurahan, t.lat, t.lon, t.kva)
        return transformers

    def switches(self) -> dict[str, Switch]:
        """Decide whether each switch is well-named, in a known kecamatan, with known credentials, free address."""
        switches = {}
        for i, s in enumerate(self.city.switches):
            loc = ("switches", i)
            if not self.check_id("switch", s.id, loc + ("id",)):
                continue
            switches[s.id] = Switch(s.id, s.role, s.parent, s.kecamatan, s.address, s.credentials, s.lat, s.lon)
            if s.kecamatan is not None and s.kecamatan not in self.kel_of:
                self.bad(loc + ("kecamatan",), f"unknown kecamatan {s.kecamatan!r}")
            self.check_credentials(s.credentials, loc)
            self.check_pos(s.lat, s.lon, loc)
            self.check_address((s.address, 161), f"switch {s.id}", loc, s.address)
        return switches

    def switch_tree(self, switches: dict[str, Switch]) -> None:
        """Decide whether the switches form a tree: core at the top, access below the others, no cycles."""
        for i, s in enumerate(self.city.switches):
            loc = ("switches", i)
            if s.role == "core":
                if s.parent:
                    self.bad(loc + ("parent",), "a core switch has no parent")
            elif s.parent not in switches:
                self.bad(loc + ("parent",), f"unknown parent switch {s.parent!r}")
            elif s.role == "access" and switches[s.parent].role == "access":
                self.bad(loc + ("parent",), "an access switch hangs below an aggregation or core switch")
        # No cycles in the network tree.
        for sid in switches:
            hops, cur = 0, sid
            while cur and cur in switches and hops <= len(switches):
                cur, hops = switches[cur].parent, hops + 1
            if hops > len(switches):
                i = [s.id for s in self.city.switches].index(sid)
                self.bad(("switches", i, "parent"), f"switch {sid} is part of a cycle")

    def egov(self) -> dict[str, EgovService]:
        """Decide which e-government services are valid: well-named and unique."""
        egov = {}
        for i, e in enumerate(self.city.egov):
            if self.check_id("egov", e.id, ("egov", i, "id")):
                egov[e.id] = EgovService(e.id, e.name, e.url, e.keyword, e.sla_days)
        return egov

    def controllers(self) -> dict[str, Controller]:
        """Decide whether each controller is unique, with known credentials and a free address."""
        controllers = {}
        for i, c in enumerate(self.city.controllers):
            loc = ("controllers", i)
            if c.id in controllers:
                self.bad(loc + ("id",), f"duplicate controller id {c.id!r}")
            self.check_credentials(c.credentials, loc)
            self.check_address((c.address, c.snmp_port), f"controller {c.id}", loc, f"{c.address}:{c.snmp_port}")
            controllers[c.id] = Controller(
                c.id, c.vendor, c.model, c.address, c.snmp_port, c.credentials, tuple(c.manages)
            )
        return controllers

    def hotspots(
        self, rows: list[HotspotRow], switches: dict[str, Switch], transformers: dict[str, Transformer]
    ) -> dict[str, Hotspot]:
        """Decide whether each hotspot row has a known area, access switch, transformer, credentials, free address."""
        where = self.row_lines
        hotspots = {}
        for i, r in enumerate(rows):
            loc = (i,)
            if not self.check_id("hotspot", r.id, loc + ("id",), where):
                continue
            self.check_area(r.kecamatan, r.kelurahan, loc, where)
            self.check_pos(r.lat, r.lon, loc, where)
            if r.switch not in switches:
                self.bad(loc + ("switch",), f"unknown switch {r.switch!r}", where)
            elif switches[r.switch].role != "access":
                self.bad(loc + ("switch",), f"switch {r.switch!r} is not an access switch", where)
            if r.transformer not in transformers:
                self.bad(loc + ("transformer",), f"unknown transformer {r.transformer!r}", where)
            self.check_credentials(r.credentials, loc, where)
            self.check_address((r.address, r.snmp_port), f"hotspot {r.id}", loc, f"{r.address}:{r.snmp_port}", where)
            hotspots[r.id] = Hotspot(
                r.id,
                r.name,
                r.kecamatan,
                r.kelurahan,
                r.lat,
                r.lon,
                r.vendor,
                r.model,
                r.address,
                r.snmp_port,
                r.credentials,
                r.switch,
                r.transformer,
                r.ups_minutes,
            )
        return hotspots


def _cross_check(
    city: CityModel,
    rows: list[HotspotRow],
    credentials: CredentialSet,
    lines: Lines,
    row_lines: Lines,
    problems: list[Problem],
    source: str,
) -> Inventory:
    """Cross-check the city's sections in a fixed order (problems go to ``problems``); build the Inventory."""
    check = _CrossCheck(city, credentials, lines, row_lines, problems)
    kec = check.kecamatan()
    subs = check.substations()
    feeders = check.feeders(subs)
    transformers = check.transformers(feeders)
    switches = check.switches()
    check.switch_tree(switches)
    egov = check.egov()
    controllers = check.controllers()
    hotspots = check.hotspots(rows, switches, transformers)
    return Inventory(
        city=city.city,
        display_name=city.display_name,
        province=city.province,
        timezone=city.timezone,
        bbox=city.bbox,
        kecamatan=kec,
        substations=subs,
        feeders=feeders,
        transformers=transformers,
        switches=switches,
        hotspots=hotspots,
        egov=egov,
        credentials=credentials,
        source=source,
        controllers=controllers,
    )


def cities_dir() -> Path:
    """The folder holding the cities shipped with Pantau (``cities/<name>/``)."""
    return Path(__file__).resolve().parent.parent / "cities"


def resolve_city(name_or_path: str | Path) -> Path:
    """A city name (``semarang``) or a path to a city folder / inventory file."""
    p = Path(name_or_path)
    if p.exists():
        return p
    candidate = cities_dir() / str(name_or_path)
    if (candidate / "inventory.yaml").exists():
        return candidate
    known = (
        sorted(d.name for d in cities_dir().iterdir() if (d / "inventory.yaml").exists())
        if cities_dir().exists()
        else []
    )
    raise DataFileError(
        [
            Problem(
                str(name_or_path),
                None,
                "city",
                f"no such city or inventory; known cities: {', '.join(known) or 'none'}",
            )
        ]
    )
