"""JSON grid payloads: schema, validation and the reasons a message becomes a dead letter.

Telemetry (``pantau/<city>/grid/<kind>/<id>/telemetry``, QoS 1)::

    {"element": "feeder:SRD-04", "substation": "SRD", "ts": "2026-11-23T05:01:00.000Z",
     "voltage_v": 20012.5, "current_a": 131.2, "frequency_hz": 50.01, "breaker": "closed",
     "seq": 412, "gateway": "simulator"}

``element``, ``ts``, ``voltage_v``, ``current_a``, ``frequency_hz`` and ``breaker`` are required;
``seq``, ``gateway`` and the parent (``substation`` for a feeder, ``feeder`` for a transformer)
are optional; any other key is an error. Maintenance notices (retained,
``pantau/<city>/grid/maintenance/<kind>/<id>``; an empty retained payload withdraws it)::

    {"id": "PLN-SRD-04-1", "element": "feeder:SRD-04", "start": "…Z", "end": "…Z",
     "reason": "Pemeliharaan jaringan", "issued_at": "…Z", "issuer": "PLN UP3 Semarang"}

Every check failing yields a :class:`Rejected` with a short ``reason`` code (counted per code)
and a human ``detail``; see docs/grid.md for the list.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from collectors.grid.config import GridConfig
from collectors.grid.state import Notice, Reading

REASONS = (
    "oversize",
    "invalid_json",
    "schema",
    "not_finite",
    "absurd_value",
    "unknown_element",
    "topic_mismatch",
    "clock_skew",
    "bad_topic",
    "sparkplug_decode",
    "sparkplug_sequence",
    "sparkplug_unknown_alias",
)


class Rejected(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class TelemetryJson(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)
    element: Annotated[str, Field(max_length=80)]
    ts: Annotated[str, Field(max_length=40)]
    voltage_v: float
    current_a: float
    frequency_hz: float
    breaker: Literal["open", "closed"]
    seq: Annotated[int, Field(ge=0)] | None = None
    gateway: Annotated[str, Field(max_length=64)] | None = None
    substation: Annotated[str, Field(max_length=40)] | None = None
    feeder: Annotated[str, Field(max_length=40)] | None = None


class NoticeJson(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)
    id: Annotated[str, Field(min_length=1, max_length=80)]
    element: str
    start: str
    end: str
    reason: Annotated[str, Field(max_length=500)] = ""
    issued_at: str | None = None
    issuer: Annotated[str, Field(max_length=120)] = ""


def parse_time(s: str, what: str = "ts") -> float:
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise Rejected("schema", f"{what} {s!r} is not an ISO 8601 time") from None
    if dt.tzinfo is None:
        raise Rejected("schema", f"{what} {s!r} has no time zone (use Z or +07:00)")
    return dt.timestamp()


def _schema_error(exc: ValidationError) -> Rejected:
    errs = exc.errors(include_url=False)
    e = errs[0]
    loc = ".".join(str(x) for x in e["loc"]) or "payload"
    if e["type"] == "json_invalid":
        return Rejected("invalid_json", e["msg"])
    if e["type"] == "finite_number":
        return Rejected("not_finite", f"{loc}: {e['msg']}")
    more = f" (+{len(errs) - 1} more)" if len(errs) > 1 else ""
    return Rejected("schema", f"{loc}: {e['msg']}{more}")


class Validator:
    """Checks payloads for one city's inventory and limits; raises :class:`Rejected`."""

    def __init__(self, cfg: GridConfig, inv, clock=None):
        import time

        self.cfg = cfg
        self.inv = inv
        self.lim = cfg.limits
        self.nominal = dict(cfg.file.state.nominal_v)
        self.clock = clock or time.time

    def element_of(self, tags: dict[str, str]) -> str:
        kind, ident = tags.get("kind", ""), tags.get("id", "")
        if kind == "feeder" and ident in self.inv.feeders:
            return f"feeder:{ident}"
        if kind == "transformer" and ident in self.inv.transformers:
            return f"transformer:{ident}"
        raise Rejected("unknown_element", f"no feeder or transformer {kind}:{ident} in inventory {self.inv.city}")

    def check_time(self, ts: float, what: str = "ts") -> None:
        now = self.clock()
        if ts > now + self.lim.max_future_s:
            raise Rejected("clock_skew", f"{what} is {ts - now:.0f} s in the future")
        if ts < now - self.lim.max_age_s:
            raise Rejected("clock_skew", f"{what} is {(now - ts) / 3600:.1f} h old")

    def check_values(self, element: str, voltage: float | None, current: float | None, freq: float | None) -> None:
        kind = element.partition(":")[0]
        vmax = self.nominal[kind] * self.lim.voltage_over_nominal
        if voltage is not None and not 0 <= voltage <= vmax:
            raise Rejected("absurd_value", f"voltage_v {voltage:g} outside 0..{vmax:g} for a {kind}")
        if current is not None and not 0 <= current <= self.lim.max_current_a:
            raise Rejected("absurd_value", f"current_a {current:g} outside 0..{self.lim.max_current_a:g}")
        lo, hi = self.lim.frequency_hz
        if freq is not None and freq != 0 and not lo <= freq <= hi:
            raise Rejected("absurd_value", f"frequency_hz {freq:g} outside {lo:g}..{hi:g} (or 0)")

    def telemetry(self, tags: dict[str, str], payload: bytes) -> Reading:
        if len(payload) > self.lim.max_payload_bytes:
            raise Rejected("oversize", f"{len(payload)} bytes > {self.lim.max_payload_bytes}")
        element = self.element_of(tags)
        try:
            m = TelemetryJson.model_validate_json(payload)
        except ValidationError as exc:
            raise _schema_error(exc) from None
        if m.element != element:
            raise Rejected("topic_mismatch", f"payload element {m.element!r} but topic names {element!r}")
        kind, _, ident = element.partition(":")
        if kind == "feeder" and m.substation is not None and m.substation != self.inv.feeders[ident].substation:
            raise Rejected(
                "topic_mismatch",
                f"feeder {ident} is on substation {self.inv.feeders[ident].substation}, payload says {m.substation}",
            )
        if kind == "transformer" and m.feeder is not None and m.feeder != self.inv.transformers[ident].feeder:
            raise Rejected(
                "topic_mismatch",
                f"transformer {ident} is on feeder {self.inv.transformers[ident].feeder}, payload says {m.feeder}",
            )
        ts = parse_time(m.ts)
        self.check_time(ts)
        self.check_values(element, m.voltage_v, m.current_a, m.frequency_hz)
        return Reading(
            element, ts, m.voltage_v, m.current_a, m.frequency_hz, m.breaker == "closed", m.seq, m.gateway, "json"
        )

    def notice(self, tags: dict[str, str], payload: bytes) -> Notice | None:
        """None for an empty payload (a withdrawn notice)."""
        if not payload:
            return None
        if len(payload) > self.lim.max_payload_bytes:
            raise Rejected("oversize", f"{len(payload)} bytes > {self.lim.max_payload_bytes}")
        element = self.element_of(tags)
        try:
            m = NoticeJson.model_validate_json(payload)
        except ValidationError as exc:
            raise _schema_error(exc) from None
        if m.element != element:
            raise Rejected("topic_mismatch", f"payload element {m.element!r} but topic names {element!r}")
        start, end = parse_time(m.start, "start"), parse_time(m.end, "end")
        if not end > start:
            raise Rejected("schema", "end must be after start")
        return Notice(
            m.id, element, start, end, m.reason, m.issuer, parse_time(m.issued_at, "issued_at") if m.issued_at else None
        )


def finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
