"""Device profiles: what to poll from a vendor/model family, as data (``collectors/profiles/*.yaml``).

Loaded strictly (an unknown key, a symbolic OID, a bad type is an error with file:line, all
reported at once). A profile may ``extends`` another (tables and scalars merge, the child wins).
Format reference: docs/profiles.md.

At load time every profile is compiled into a :class:`PollPlan`: the scalar OIDs for one GET,
the table columns for one multi-column GETBULK walk, and for each returned varbind where its
value goes. The poller then only runs plans.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hotspots.datafile import DataFileError, Lines, Problem, read_yaml, validate

PROFILES_DIR = Path(__file__).resolve().parent.parent / "profiles"
OID_RE = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
ValueType = Literal["integer", "gauge", "counter32", "counter64", "timeticks", "string", "oid"]
MEASUREMENTS = ("hotspot_if", "hotspot_radio")


def _oid(v: Any) -> tuple[int, ...]:
    s = str(v)
    if not OID_RE.match(s):
        raise ValueError(f"{s!r} is not a numeric OID (dotted decimal, no MIB names)")
    return tuple(int(x) for x in s.split("."))


NumericOid = Annotated[str, Field(pattern=OID_RE.pattern)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Fallback(_Strict):
    """Where to read the value when the primary OID is missing (e.g. Counter32 when no Counter64)."""

    column: int | None = Field(default=None, gt=0)
    oid: NumericOid | None = None
    scale: float = 1.0

    @model_validator(mode="after")
    def _one(self):
        if (self.column is None) == (self.oid is None):
            raise ValueError("give exactly one of column or oid")
        return self


class Rate(_Strict):
    field: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    multiplier: float = 1.0
    limit: str | None = None  # another column of the row (same unit as rate): larger deltas are discarded


class Column(_Strict):
    column: int | None = Field(default=None, gt=0)
    oid: NumericOid | None = None
    type: ValueType
    scale: float = 1.0
    map: dict[Any, Any] | None = None
    fallback: Fallback | None = None
    rate: Rate | None = None
    store: bool = True
    combine: Literal["last", "sum", "max", "min", "mean"] = "last"

    @model_validator(mode="after")
    def _check(self):
        if (self.column is None) == (self.oid is None):
            raise ValueError("give exactly one of column or oid")
        if self.rate and self.type not in ("counter32", "counter64"):
            raise ValueError("rate needs a counter32 or counter64 column")
        return self


class Label(_Strict):
    column: int | None = Field(default=None, gt=0)
    oid: NumericOid | None = None
    index: int | None = Field(default=None, ge=0)  # position in the row index
    map: dict[Any, str] | None = None
    ranges: list[tuple[float, float, str]] | None = None

    @model_validator(mode="after")
    def _one(self):
        if sum(x is not None for x in (self.column, self.oid, self.index)) != 1:
            raise ValueError("give exactly one of column, oid or index")
        return self


class Where(_Strict):
    column: str
    equals: Any


class Summary(_Strict):
    mean: str | None = None
    sum: str | None = None
    max: str | None = None
    percent: tuple[str, str] | None = None

    @model_validator(mode="after")
    def _one(self):
        if sum(x is not None for x in (self.mean, self.sum, self.max, self.percent)) != 1:
            raise ValueError("give exactly one of mean, sum, max or percent")
        return self


class Table(_Strict):
    entry: NumericOid
    measurement: Literal["hotspot_if", "hotspot_radio"] | None = None
    max_repetitions: int = Field(default=10, gt=0, le=100)
    labels: dict[str, Label] = {}
    columns: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], Column]
    where: Where | None = None
    summary: dict[str, Summary] = {}

    @model_validator(mode="after")
    def _check(self):
        names = set(self.columns)
        for name, s in self.summary.items():
            for ref in filter(None, (s.mean, s.sum, s.max, *(s.percent or ()))):
                if ref not in names:
                    raise ValueError(f"summary {name} refers to unknown column {ref!r}")
        if self.where and self.where.column not in names:
            raise ValueError(f"where refers to unknown column {self.where.column!r}")
        for name, c in self.columns.items():
            if c.rate and c.rate.limit and c.rate.limit not in names:
                raise ValueError(f"column {name}: rate limit refers to unknown column {c.rate.limit!r}")
        if not self.measurement and not self.summary:
            raise ValueError("a table needs a measurement (one point per row) or a summary (or both)")
        return self


class Scalar(_Strict):
    oid: NumericOid
    type: ValueType
    scale: float = 1.0


class ControllerSpec(_Strict):
    ap_table: NumericOid
    name_column: int = Field(gt=0)
    status_column: int | None = Field(default=None, gt=0)
    joined_value: int = 1
    index_length: int = Field(gt=0)


class ProfileModel(_Strict):
    profile: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    description: str
    extends: str | None = None
    vendors: list[str] = []
    role: Literal["device", "controller"] = "device"
    controller: ControllerSpec | None = None
    scalars: dict[str, Scalar] = {}
    tables: dict[str, Table] = {}

    @model_validator(mode="after")
    def _check(self):
        if (self.role == "controller") != (self.controller is not None):
            raise ValueError("role: controller and a controller section go together")
        return self


# ---------------------------------------------------------------------------- compiled form


@dataclass(frozen=True)
class ColumnPlan:
    """One polled column: ``slot`` is its position in the walk's column list."""

    name: str
    oid: tuple[int, ...]
    type: str
    scale: float
    map: dict | None
    is_fallback_of: str | None = None
    spec: Column | None = None


@dataclass
class TablePlan:
    name: str
    entry: tuple[int, ...]
    measurement: str | None
    max_repetitions: int
    columns: dict[str, Column]
    labels: dict[str, Label]
    label_oids: dict[str, tuple[int, ...]]
    where: Where | None
    summary: dict[str, Summary]
    # oid of every column to walk → (kind, name): kind is "col", "fallback" or "label"
    walk: dict[tuple[int, ...], tuple[str, str]] = field(default_factory=dict)

    def oid_of(self, c: Column | Fallback) -> tuple[int, ...]:
        return _oid(c.oid) if c.oid else self.entry + (c.column,)


@dataclass
class Profile:
    name: str
    description: str
    vendors: tuple[str, ...]
    role: str
    controller: ControllerSpec | None
    scalars: dict[str, Scalar]
    scalar_oids: list[tuple[int, ...]]
    tables: dict[str, TablePlan]
    source: str

    @property
    def walk_columns(self) -> list[tuple[int, ...]]:
        out: list[tuple[int, ...]] = []
        for t in self.tables.values():
            out.extend(t.walk)
        return out

    @property
    def scalars_bulk(self) -> bool:
        """Whether the scalars can ride the walk's first GETBULK as non-repeaters (each a ``.0``
        instance, so a GETNEXT of its object OID answers it): one exchange per poll, not two."""
        return bool(self.scalar_oids) and bool(self.tables) and all(o and o[-1] == 0 for o in self.scalar_oids)


def _compile(m: ProfileModel, scalars: dict, tables: dict, source: str) -> Profile:
    plans = {}
    for tname, t in tables.items():
        entry = _oid(t.entry)
        plan = TablePlan(
            tname,
            entry,
            t.measurement,
            t.max_repetitions,
            dict(t.columns),
            dict(t.labels),
            {},
            t.where,
            dict(t.summary),
        )
        for lname, lab in t.labels.items():
            if lab.index is None:
                o = _oid(lab.oid) if lab.oid else entry + (lab.column,)
                plan.label_oids[lname] = o
                plan.walk.setdefault(o, ("label", lname))
        for cname, c in t.columns.items():
            plan.walk.setdefault(plan.oid_of(c), ("col", cname))
            if c.fallback:
                plan.walk.setdefault(plan.oid_of(c.fallback), ("fallback", cname))
        plans[tname] = plan
    return Profile(
        m.profile,
        m.description,
        tuple(m.vendors),
        m.role,
        m.controller,
        scalars,
        [_oid(s.oid) for s in scalars.values()],
        plans,
        source,
    )


@dataclass
class ProfileSet:
    profiles: dict[str, Profile]

    def for_vendor(self, vendor: str) -> Profile:
        for p in self.profiles.values():
            if p.role == "device" and vendor in p.vendors:
                return p
        if "generic" in self.profiles:
            return self.profiles["generic"]
        raise KeyError(f"no profile for vendor {vendor!r}")

    def controller_profile(self, vendor: str) -> Profile | None:
        for p in self.profiles.values():
            if p.role == "controller" and (not p.vendors or vendor in p.vendors):
                return p
        return None

    def describe(self) -> list[dict]:
        return [
            {
                "profile": p.name,
                "vendors": list(p.vendors),
                "role": p.role,
                "scalars": len(p.scalar_oids),
                "columns": len(p.walk_columns),
                "source": p.source,
            }
            for p in self.profiles.values()
        ]


def load_profiles(directory: str | Path = PROFILES_DIR) -> ProfileSet:
    """Load and compile every ``*.yaml`` profile in ``directory``; all problems reported at once."""
    directory = Path(directory)
    models: dict[str, tuple[ProfileModel, Lines, str]] = {}
    problems: list[Problem] = []
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise DataFileError([Problem(str(directory), None, "", "no profile files (*.yaml) found")])
    for path in files:
        try:
            data, lines = read_yaml(path)
            m = validate(ProfileModel, data, lines)
        except DataFileError as exc:
            problems.extend(exc.problems)
            continue
        if m.profile in models:
            problems.append(
                lines.problem(("profile",), f"profile {m.profile!r} also defined in {models[m.profile][2]}")
            )
            continue
        # numeric OIDs inside maps: a column's oid is validated by pattern; check scale sanity here
        models[m.profile] = (m, lines, path.name)
    resolved: dict[str, Profile] = {}

    def resolve(name: str, chain: tuple[str, ...]) -> tuple[dict, dict]:
        m, lines, src = models[name]
        if m.extends is None:
            return dict(m.scalars), dict(m.tables)
        if m.extends in chain:
            raise ValueError(
                lines.problem(("extends",), f"profile inheritance cycle: {' → '.join(chain + (m.extends,))}")
            )
        if m.extends not in models:
            raise ValueError(lines.problem(("extends",), f"unknown profile {m.extends!r}"))
        s, t = resolve(m.extends, chain + (m.extends,))
        s.update(m.scalars)
        t.update(m.tables)
        return s, t

    for name, (m, _lines, src) in models.items():
        try:
            scalars, tables = resolve(name, (name,))
        except ValueError as exc:
            problems.append(exc.args[0] if isinstance(exc.args[0], Problem) else Problem(src, None, "", str(exc)))
            continue
        resolved[name] = _compile(m, scalars, tables, src)
    seen_vendor: dict[str, str] = {}
    for p in resolved.values():
        if p.role != "device":
            continue
        for v in p.vendors:
            if v in seen_vendor:
                problems.append(
                    Problem(p.source, None, "vendors", f"vendor {v!r} already claimed by profile {seen_vendor[v]!r}")
                )
            seen_vendor[v] = p.name
    if problems:
        raise DataFileError(problems)
    return ProfileSet(resolved)
