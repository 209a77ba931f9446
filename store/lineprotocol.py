"""InfluxDB line protocol: the one encoder every write goes through.

Rules (InfluxDB 1.x/2.x/3.x line protocol):
- measurement: escape ``,`` and space;
- tag keys, tag values, field keys: escape ``,``, ``=`` and space; empty tag values are dropped
  (InfluxDB rejects them);
- string field values: double-quoted, escape ``"`` and ``\\``;
- integers get the ``i`` suffix; never ``u`` (unsigned is not accepted by 1.x);
- floats must be finite (NaN and inf are rejected here, not by the server mid-batch);
- booleans ``true``/``false``; timestamps are integers in the write's precision.

Newlines are not representable in keys or tag values; they raise ``ValueError``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

FieldValue = float | int | bool | str

_MEAS = str.maketrans({",": r"\,", " ": r"\ "})
_KEY = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})


def _check(s: str, what: str) -> None:
    if "\n" in s or "\r" in s:
        raise ValueError(f"{what} {s!r} contains a newline")


def escape_measurement(s: str) -> str:
    _check(s, "measurement")
    if not s:
        raise ValueError("empty measurement name")
    return s.translate(_MEAS)


def escape_key(s: str, what: str = "key") -> str:
    _check(s, what)
    return s.translate(_KEY)


def encode_field_value(v: FieldValue) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        if not -(2**63) <= v < 2**63:
            raise ValueError(f"integer field {v} does not fit in int64")
        return f"{v}i"
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"float field {v} is not finite")
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"unsupported field type {type(v).__name__}")


@dataclass(slots=True)
class Point:
    measurement: str
    tags: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, FieldValue] = field(default_factory=dict)
    time_ns: int | None = None

    def to_line(self) -> str:
        return encode_line(self.measurement, self.tags, self.fields, self.time_ns)


# Tag keys and values repeat on every point (city, kecamatan, hotspot, …): each is checked and
# escaped once. Bounded: cleared when it holds this many strings.
_TAG_CACHE_MAX = 100_000
_tag_pairs: dict[tuple[str, str], str] = {}


def _tag_pair(k: str, v: str) -> str:
    got = _tag_pairs.get((k, v))
    if got is None:
        got = f",{escape_key(k, 'tag key')}={escape_key(v, 'tag value')}"
        if len(_tag_pairs) >= _TAG_CACHE_MAX:
            _tag_pairs.clear()
        _tag_pairs[(k, v)] = got
    return got


# Measurements and field keys are a small fixed set (one per profile column): checked and
# escaped once, like the tag pairs.
_names: dict[str, str] = {}
_field_keys: dict[str, str] = {}


def _measurement(m: str) -> str:
    got = _names.get(m)
    if got is None:
        got = escape_measurement(m)
        if len(_names) >= _TAG_CACHE_MAX:
            _names.clear()
        _names[m] = got
    return got


def _field(k: str, v: FieldValue) -> str:
    key = _field_keys.get(k)
    if key is None:
        key = escape_key(k, "field key") + "="
        if len(_field_keys) >= _TAG_CACHE_MAX:
            _field_keys.clear()
        _field_keys[k] = key
    # the exact common types first; subclasses (and errors) take the general path
    if type(v) is float and math.isfinite(v):
        return key + repr(v)
    if type(v) is int and -(2**63) <= v < 2**63:
        return f"{key}{v}i"
    return key + encode_field_value(v)


def encode_line(
    measurement: str, tags: Mapping[str, str], fields: Mapping[str, FieldValue], time_ns: int | None = None
) -> str:
    if not fields:
        raise ValueError(f"point of {measurement!r} has no fields")
    parts = [_measurement(measurement)]
    for k in sorted(tags):  # sorted tags: InfluxDB's preferred order, cheaper on the server
        v = tags[k]
        if v is None or v == "":
            continue
        parts.append(_tag_pair(k, v if type(v) is str else str(v)))
    parts.append(" ")
    parts.append(",".join([_field(k, v) for k, v in fields.items()]))
    line = "".join(parts)
    if time_ns is not None:
        line += f" {int(time_ns)}"
    return line
