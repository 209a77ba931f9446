"""``collectors/grid.yaml``: the grid collector's topics, formats, limits and session, strictly loaded."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hotspots.datafile import DataFileError, Problem, read_yaml, validate

GRID_FILE = Path(__file__).resolve().parent.parent / "grid.yaml"
FIELDS = ("voltage_v", "current_a", "frequency_hz", "breaker_closed")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TopicConf(_Strict):
    topic: str
    qos: Literal[0, 1] = 1


class SparkplugConf(_Strict):
    enabled: bool = True
    namespace: Literal["spBv1.0"] = "spBv1.0"
    host_id: str = "pantau-{city}"
    metrics: dict[str, Literal["voltage_v", "current_a", "frequency_hz", "breaker_closed"]]


class Limits(_Strict):
    max_payload_bytes: Annotated[int, Field(gt=64, le=1 << 20)] = 4096
    max_future_s: Annotated[float, Field(ge=0)] = 300
    max_age_s: Annotated[float, Field(gt=0)] = 604800
    max_current_a: Annotated[float, Field(gt=0)] = 5000
    frequency_hz: tuple[float, float] = (45.0, 55.0)
    voltage_over_nominal: Annotated[float, Field(gt=1)] = 1.5


class StateConf(_Strict):
    stale_after_intervals: Annotated[float, Field(gt=1)] = 3
    energized_ratio: Annotated[float, Field(gt=0, lt=1)] = 0.5
    nominal_v: dict[Literal["feeder", "transformer"], Annotated[float, Field(gt=0)]]


class SessionConf(_Strict):
    client_id: str = "pantau-grid-{city}"
    session_expiry_s: Annotated[int, Field(ge=0, le=4294967295)] = 604800
    receive_maximum: Annotated[int, Field(ge=1, le=65535)] = 20000
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 15
    share_group: Annotated[str, Field(pattern=r"^[A-Za-z0-9_{}.-]+$")] = "pantau-{city}"
    worker_receive_maximum: Annotated[int, Field(ge=1, le=65535)] = 1000
    max_pending: Annotated[int, Field(ge=100)] = 20000
    batch_ms: Annotated[float, Field(gt=0, le=1000)] = 20


class GridFile(_Strict):
    telemetry: TopicConf
    maintenance: TopicConf
    gateway_status: TopicConf
    sparkplug: SparkplugConf
    limits: Limits = Limits()
    state: StateConf
    session: SessionConf = SessionConf()

    @model_validator(mode="after")
    def _telemetry_names_element(self):
        t = Template(self.telemetry.topic)
        if not {"kind", "id"} <= set(t.names):
            raise ValueError("telemetry.topic must have {kind} and {id} segments")
        return self


_SEG = re.compile(r"^\{([a-z_][a-z0-9_]*)\}$")


@dataclass(frozen=True, eq=False)
class Template:
    """``a/{x}/b/{y}`` → MQTT filter ``a/+/b/+`` and a parser topic → {x:…, y:…}."""

    text: str

    @property
    def segments(self) -> list[str]:
        return self.text.split("/")

    @property
    def names(self) -> list[str]:
        return [m.group(1) for s in self.segments if (m := _SEG.match(s))]

    def bind(self, **values: str) -> "Template":
        segs = [values[m.group(1)] if (m := _SEG.match(s)) and m.group(1) in values else s for s in self.segments]
        return Template("/".join(segs))

    def filter(self) -> str:
        return "/".join("+" if _SEG.match(s) else s for s in self.segments)

    @cached_property
    def _plan(self) -> tuple[int, list[tuple[int, str]], list[tuple[int, str]]]:
        segs = self.segments
        names = [(i, m.group(1)) for i, s in enumerate(segs) if (m := _SEG.match(s))]
        literals = [(i, s) for i, s in enumerate(segs) if not _SEG.match(s)]
        return len(segs), names, literals

    def parse(self, topic: str) -> dict[str, str] | None:
        n, names, literals = self._plan
        parts = topic.split("/")
        if len(parts) != n:
            return None
        for i, lit in literals:
            if parts[i] != lit:
                return None
        out = {}
        for i, name in names:
            if not parts[i]:
                return None
            out[name] = parts[i]
        return out


@dataclass(frozen=True, eq=False)
class GridConfig:
    """The loaded file, bound to one city."""

    file: GridFile
    city: str

    @cached_property
    def telemetry(self) -> Template:
        return Template(self.file.telemetry.topic).bind(city=self.city)

    @cached_property
    def maintenance(self) -> Template:
        return Template(self.file.maintenance.topic).bind(city=self.city)

    @cached_property
    def gateway_status(self) -> Template:
        return Template(self.file.gateway_status.topic).bind(city=self.city)

    def fmt(self, s: str) -> str:
        return s.replace("{city}", self.city)

    @property
    def limits(self) -> Limits:
        return self.file.limits

    @property
    def session(self) -> SessionConf:
        return self.file.session

    @property
    def sparkplug(self) -> SparkplugConf:
        return self.file.sparkplug


def load_grid_config(city: str, path: str | Path = GRID_FILE) -> GridConfig:
    data, lines = read_yaml(path)
    gf = validate(GridFile, data, lines)
    problems = []
    for key in ("telemetry", "maintenance", "gateway_status"):
        topic = getattr(gf, key).topic
        for seg in topic.split("/"):
            if ("{" in seg or "}" in seg) and not _SEG.match(seg):
                problems.append(
                    lines.problem((key, "topic"), f"segment {seg!r}: a template segment is a whole {{name}}")
                )
            if seg in ("+", "#"):
                problems.append(lines.problem((key, "topic"), "use {name} segments, not MQTT wildcards"))
    if problems:
        raise DataFileError(problems)
    return GridConfig(gf, city)


__all__ = ["GridConfig", "GridFile", "Template", "load_grid_config", "FIELDS", "DataFileError", "Problem"]
