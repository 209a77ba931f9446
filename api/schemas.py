"""Response and request schemas of ``/api/v1`` (the OpenAPI document is generated from these)."""

from __future__ import annotations

from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")
CAUSE = Literal["power_grid", "planned_maintenance", "network_uplink", "device", "service", "unknown"]
HEALTH = Literal["unknown", "up", "degraded", "down"]
POWER = Literal["energized", "de-energized", "unknown"]


def ex(*examples):
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class Problem(BaseModel):
    model_config = ex({"detail": "API key missing: send it in the X-API-Key header"})
    detail: str | list | dict


class Page(BaseModel, Generic[T]):
    total: int
    limit: int
    offset: int
    items: list[T]


# --- hotspots -----------------------------------------------------------------------------------
class HotspotOut(BaseModel):
    model_config = ex(
        {
            "id": "AP-0001",
            "name": "Wifi Publik Banyumanik 0001",
            "kecamatan": "BNY",
            "kecamatan_name": "Banyumanik",
            "kelurahan": "Banyumanik",
            "lat": -7.069,
            "lon": 110.4237,
            "vendor": "ruckus",
            "model": "T310d",
            "address": "127.20.0.1",
            "switch": "SW-BNY-01",
            "transformer": "SRD-02-T05",
            "feeder": "SRD-02",
            "ups_minutes": 0,
            "state": "up",
            "since": 1795000000.0,
            "last_seen": 1795000030.0,
            "reason": "",
        }
    )
    id: str
    name: str
    kecamatan: str
    kecamatan_name: str
    kelurahan: str
    lat: float
    lon: float
    vendor: str
    model: str
    address: str
    switch: str
    transformer: str
    feeder: str
    ups_minutes: int
    state: HEALTH
    since: float | None
    last_seen: float | None
    reason: str


class StateChange(BaseModel):
    at: float
    kind: str
    value: str
    previous: str | None = None
    detail: str | None = None
    source: str | None = None


class HotspotDetail(HotspotOut):
    incidents: list[str] = Field(description="open incidents this hotspot belongs to")
    metrics: list[dict] = Field(description="recent polls (newest first): hotspot_poll fields from InfluxDB")
    history: list[StateChange] = Field(description="state changes, reboots and traps (newest first)")
    history_available: bool = Field(description="false when InfluxDB could not be asked")


SERIES_FIELDS = ("clients", "rx_bps", "tx_bps", "cpu_pct", "mem_pct", "rtt_ms", "up_ratio")


class HotspotSeries(BaseModel):
    """Columns for a chart (uPlot's layout): ``time`` and one list per field, ``null`` where the
    bucket has no value (the hotspot did not answer)."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "hotspot": "AP-0001",
                    "from": 1795000000.0,
                    "to": 1795003600.0,
                    "step_s": 60,
                    "available": True,
                    "time": [1795000000.0, 1795000060.0],
                    "series": {
                        "clients": [12.0, 14.5],
                        "rx_bps": [812000.0, 790000.0],
                        "tx_bps": [120000.0, 98000.0],
                        "cpu_pct": [22.0, 25.5],
                        "mem_pct": [41.0, 41.0],
                        "rtt_ms": [3.1, 2.8],
                        "up_ratio": [1.0, 1.0],
                    },
                }
            ]
        },
    )
    hotspot: str
    from_: float = Field(alias="from")
    to: float
    step_s: int = Field(description="bucket width: the range divided into at most `points` buckets")
    available: bool = Field(description="false when InfluxDB could not be asked")
    time: list[float] = Field(description="bucket starts, UNIX s")
    series: dict[str, list[float | None]] = Field(
        description="per bucket: clients (mean), rx_bps / tx_bps (wired interfaces summed), cpu_pct, mem_pct, "
        "rtt_ms (poll round trip), up_ratio (share of polls answered)"
    )


class StateSpan(BaseModel):
    start: float
    end: float | None = Field(description="None: still in this state")
    state: HEALTH


class DowntimePiece(BaseModel):
    start: float
    end: float
    cause: CAUSE
    incident: str | None


# --- incidents ----------------------------------------------------------------------------------
class Note(BaseModel):
    model_config = ex(
        {
            "id": 1,
            "incident_id": "INC-20261123-120100-3f2a",
            "at": 1795000000.0,
            "kind": "ack",
            "author": "noc-shift-a",
            "text": "PLN dihubungi",
        }
    )
    id: int
    incident_id: str
    at: float
    kind: Literal["ack", "note"]
    author: str
    text: str


class IncidentOut(BaseModel):
    model_config = ex(
        {
            "id": "INC-20261123-120100-3f2a",
            "city": "semarang",
            "cause": "power_grid",
            "root": "feeder:SRD-04",
            "status": "open",
            "severity": "critical",
            "confidence": 0.95,
            "inferred": False,
            "opened_at": 1795000000.0,
            "updated_at": 1795000060.0,
            "closed_at": None,
            "affected_hotspots": 57,
            "areas": ["TBL/Sendangmulyo"],
            "explanation": {
                "id": "Penyulang SRD-04 padam sejak 12.01 WIB; 57 titik wifi di Sendangmulyo terdampak.",
                "en": "Feeder SRD-04 has been without power since 12:01 WIB; 57 wifi hotspots "
                "in Sendangmulyo affected.",
            },
            "merged_into": None,
            "acknowledged": True,
        }
    )
    id: str
    city: str
    cause: CAUSE
    root: str
    status: Literal["open", "closed"]
    severity: Literal["info", "warning", "critical"]
    confidence: float
    inferred: bool
    opened_at: float
    updated_at: float
    closed_at: float | None
    affected_hotspots: int
    areas: list[str]
    explanation: dict[str, str]
    merged_into: str | None
    acknowledged: bool


class IncidentLog(BaseModel):
    at: float
    change: str
    detail: dict | list | str | None


class RestoreEstimate(BaseModel):
    kind: Literal["planned", "estimate"]
    at: float | None = Field(description="median (estimate) or the notice's end (planned), UNIX s")
    from_: float | None = Field(alias="from")
    to: float | None
    n: int = Field(description="restored incidents of this cause and root kind that lasted longer than this one so far")
    median_s: float | None
    q1_s: float | None
    q3_s: float | None
    enough: bool = Field(description="enough history to show citizens")
    history: int = Field(
        0, description="restored incidents of this cause and root kind (n counts those of them that lasted longer)"
    )
    basis: str = Field(description="the basis in English words (n, history, median and quartiles)")
    model_config = ConfigDict(populate_by_name=True)


class IncidentDetail(IncidentOut):
    affected: list[str]
    evidence: list[str]
    log: list[IncidentLog]
    notes: list[Note]
    restore_estimate: RestoreEstimate | None = Field(
        None, description="when it will be back (open incidents): the notice's end, or an estimate with its basis"
    )


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"comment": "PLN UP3 dihubungi"}]})
    comment: Annotated[str, Field(max_length=2000)] = ""


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"text": "Teknisi menuju lokasi"}]})
    text: Annotated[str, Field(min_length=1, max_length=2000)]


class HotspotStates(BaseModel):
    """A hotspot's history from the state database: its health changes as the collecting nodes stored
    them in the evidence log, and its downtime attributed to incidents (the availability accounting)."""

    model_config = ConfigDict(populate_by_name=True)
    hotspot: str
    from_: float = Field(alias="from")
    to: float
    state: HEALTH = Field(description="now")
    spans: list[StateSpan] = Field(description="state per interval within the window, oldest first")
    changes: list[StateChange] = Field(description="state changes and reboots within the window, newest first")
    downtime: list[DowntimePiece] = Field(description="down intervals within the window and the cause they count for")
    incidents: list[IncidentOut] = Field(description="incidents that listed this hotspot, newest first")


# --- grid, notices, services ----------------------------------------------------------------------
class GridElement(BaseModel):
    model_config = ex(
        {
            "element": "feeder:SRD-04",
            "kind": "feeder",
            "state": "de-energized",
            "since": 1795000000.0,
            "reason": "breaker open",
            "voltage_v": 0.0,
            "breaker_closed": False,
            "last_seen": 1795000010.0,
            "parent": "substation:SRD",
        }
    )
    element: str
    kind: Literal["substation", "feeder", "transformer"]
    state: POWER
    since: float | None
    reason: str
    voltage_v: float | None
    breaker_closed: bool | None
    last_seen: float | None
    parent: str | None


class NoticeOut(BaseModel):
    model_config = ex(
        {
            "id": "PLN-2026-1123-01",
            "element": "feeder:PDL-03",
            "start": 1795000000.0,
            "end": 1795010000.0,
            "reason": "Pemeliharaan jaringan",
            "issuer": "PLN UP3 Semarang",
            "active": False,
        }
    )
    id: str
    element: str
    start: float
    end: float
    reason: str
    issuer: str
    active: bool


class ServiceOut(BaseModel):
    model_config = ex(
        {
            "id": "lapor-hendi",
            "name": "Lapor Hendi (aduan warga)",
            "state": "up",
            "since": 1795000000.0,
            "status_code": 200,
            "latency_ms": 12.5,
            "cert_days_left": None,
            "error": "",
            "sla_days": 5,
            "uptime": {"24h": 1.0, "7d": 0.998, "30d": 0.999},
        }
    )
    id: str
    name: str
    state: HEALTH
    since: float | None
    status_code: int | None
    latency_ms: float | None
    cert_days_left: float | None
    error: str
    sla_days: int | None
    uptime: dict[str, float | None]


# --- silences, keys ---------------------------------------------------------------------------------
class Matcher(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Literal["cause", "root", "severity", "kecamatan", "city", "incident_id", "alertname"]
    value: Annotated[str, Field(min_length=1, max_length=200)]
    is_regex: bool = False
    is_equal: bool = True


class SilenceIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "matchers": [{"name": "root", "value": "feeder:PDL-03"}],
                    "starts_at": 1795000000.0,
                    "ends_at": 1795014400.0,
                    "comment": "Pemeliharaan PLN terjadwal",
                }
            ]
        },
    )
    matchers: Annotated[list[Matcher], Field(min_length=1, max_length=20)]
    starts_at: Annotated[float, Field(ge=0, le=1e11)] | None = None
    ends_at: Annotated[float, Field(ge=0, le=1e11)]
    comment: Annotated[str, Field(min_length=1, max_length=2000)]


class SilenceOut(BaseModel):
    id: str
    matchers: list[Matcher]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    created_at: float
    status: Literal["pending", "active", "expired"]


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "grafana", "role": "viewer"}]})
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9 ._-]+$")]
    role: Literal["viewer", "operator", "admin"]
    cities: list[Annotated[str, Field(pattern=r"^[a-z0-9-]{1,64}$")]] | None = Field(
        None, max_length=100, description="the cities the key may see; omitted: every city"
    )


class KeyOut(BaseModel):
    key_id: str
    name: str
    role: str
    cities: list[str] | None = None
    created_at: float
    revoked_at: float | None
    last_used_at: float | None


class KeyCreated(BaseModel):
    key_id: str
    name: str
    role: str
    cities: list[str] | None = None
    key: str = Field(description="shown once; only its hash is stored")


# --- public -------------------------------------------------------------------------------------------
class PublicRestore(BaseModel):
    kind: Literal["planned", "estimate"]
    start: str = Field(description="ISO 8601, WIB (+07:00): earliest")
    end: str = Field(description="ISO 8601, WIB (+07:00): latest")
    text: str = Field(description="e.g. 'Perkiraan pulih 14.30–15.10 WIB (perkiraan …)'")
    estimate: bool = Field(description="true: estimated from past outages, not a schedule")


class PublicOutage(BaseModel):
    incident: str
    cause: CAUSE
    cause_text: str
    since: str = Field(description="ISO 8601, WIB (+07:00)")
    affected_hotspots: int
    explanation: str
    handling: Literal["acknowledged", "detected", "planned"]
    handling_text: str
    restore: PublicRestore | None = Field(
        None, description="when it will be back: PLN's schedule, or an estimate (only with enough history)"
    )


class PublicMaintenance(BaseModel):
    start: str
    end: str
    reason: str
    active: bool


class PublicArea(BaseModel):
    model_config = ex(
        {
            "kelurahan": "Sendangmulyo",
            "kecamatan": "Tembalang",
            "status": "outage",
            "status_text": "Ada gangguan",
            "hotspots": {"total": 14, "up": 2, "down": 12},
            "outages": [
                {
                    "incident": "INC-20261123-120100-3f2a",
                    "cause": "power_grid",
                    "cause_text": "Listrik padam",
                    "since": "2026-11-23T12:01:00+07:00",
                    "affected_hotspots": 57,
                    "explanation": "Penyulang SRD-04 padam sejak 12.01 WIB; 57 titik wifi di Sendangmulyo terdampak.",
                    "handling": "acknowledged",
                    "handling_text": "Sedang ditangani petugas",
                }
            ],
            "maintenance": [],
            "updated_at": "2026-11-23T12:03:10+07:00",
            "lang": "id",
        }
    )
    kelurahan: str
    kecamatan: str
    status: Literal["normal", "outage", "maintenance"]
    status_text: str
    hotspots: dict[str, int]
    outages: list[PublicOutage]
    maintenance: list[PublicMaintenance]
    updated_at: str
    lang: Literal["id", "en"]


class PublicAreaRef(BaseModel):
    kelurahan: str
    kecamatan: str


class AreaCell(BaseModel):
    code: str = Field(description="kecamatan code / kelurahan name (a hotspot's area)")
    name: str
    kecamatan: str = Field(description="kecamatan code")
    polygon: list[list[float]] = Field(description="[lat, lon] vertices, counter-clockwise")
    label: list[float] = Field(description="[lat, lon] where to write the name")
    hotspots: int


class AreaLabel(BaseModel):
    code: str
    name: str
    label: list[float]


class PublicAreas(BaseModel):
    """Outlines for a map without tiles (hotspots/areas.py): kelurahan cells and kecamatan borders."""

    city: str
    method: str
    bbox: list[float] = Field(description="[min lat, min lon, max lat, max lon]")
    outline: list[list[float]]
    kelurahan: list[AreaCell]
    kecamatan: list[AreaLabel]
    borders: list[list[list[float]]] = Field(description="segments [[lat, lon], [lat, lon]] between kecamatan")


class StatusRow(BaseModel):
    code: str = Field(description="kecamatan code / kelurahan name, as in `/public/areas`")
    status: Literal["normal", "outage", "maintenance"]
    total: int = Field(description="public wifi hotspots in the kelurahan")
    up: int
    down: int
    causes: list[CAUSE] | None = Field(None, description="causes of its open outages (only when there are)")
    handled: bool | None = Field(None, description="every open outage is acknowledged by staff or planned work")
    since: str | None = Field(None, description="ISO 8601, WIB: the oldest open outage's start")
    planned: str | None = Field(None, description="ISO 8601, WIB: the start of the next planned maintenance")


class StatusMaintenance(PublicMaintenance):
    kelurahan: list[str] = Field(description="codes of the kelurahan it touches")


class PublicStatus(BaseModel):
    """Every kelurahan at once, for a map: language-neutral (the page has the words), rebuilt once per
    change, ETag and gzip."""

    model_config = ex(
        {
            "city": "Kota Semarang",
            "updated_at": "2026-11-23T12:03:10+07:00",
            "hotspots": {"total": 2300, "up": 2243, "down": 57},
            "kelurahan_by_status": {"normal": 176, "outage": 1, "maintenance": 0},
            "outages": {"power_grid": 1},
            "services": [{"name": "Lapor Hendi", "status": "up"}],
            "maintenance": [],
            "kelurahan": [
                {
                    "code": "TBL/Sendangmulyo",
                    "status": "outage",
                    "total": 14,
                    "up": 2,
                    "down": 12,
                    "causes": ["power_grid"],
                    "handled": True,
                    "since": "2026-11-23T12:01:00+07:00",
                },
                {"code": "TBL/Tembalang", "status": "normal", "total": 13, "up": 13, "down": 0},
            ],
        }
    )
    city: str
    updated_at: str
    hotspots: dict[str, int]
    kelurahan_by_status: dict[str, int]
    outages: dict[str, int] = Field(description="open outages by cause")
    services: list[dict[str, str]]
    maintenance: list[StatusMaintenance]
    kelurahan: list[StatusRow]


class PublicSummary(BaseModel):
    city: str
    status_text: str
    hotspots: dict[str, int]
    outages: dict[str, int] = Field(description="open outages by cause")
    areas_affected: int
    services: list[dict[str, str]]
    maintenance_upcoming: int
    updated_at: str
    lang: Literal["id", "en"]


# --- availability and restore estimates (issue #13) ------------------------------------------------
AVAIL_BY = Literal["hotspot", "kelurahan", "kecamatan", "vendor", "switch", "transformer", "feeder", "city"]


class AvailabilityRow(BaseModel):
    group: str = Field(description="the group's key: kecamatan code, kelurahan KEC/Name, switch id, …")
    name: str
    period: str = Field(description="the bucket, WIB: 2026-11, 2026-11-05 or 2026-11-05T14")
    start: float
    end: float
    hotspots: int
    hotspot_minutes: float = Field(description="hotspot-minutes watched in the bucket")
    downtime_minutes: dict[str, float] = Field(description="hotspot-minutes of downtime per cause")
    down_minutes: float
    availability_pct: float | None
    availability_excl_planned_pct: float | None = Field(
        description="planned maintenance excluded from downtime and time (Zabbix SLA / LibreNMS style)"
    )


class AvailabilityOut(BaseModel):
    by: AVAIL_BY
    period: str
    step: Literal["hour", "day", "month"]
    watched_from: float | None
    watched_to: float | None
    city: AvailabilityRow
    rows: list[AvailabilityRow]


class SuspectEvidence(BaseModel):
    at: float
    incident: str
    kind: Literal["joined", "stayed_up"]
    root: str
    text: str


class SuspectOut(BaseModel):
    """A hotspot whose listed transformer or switch the evidence contradicts."""

    hotspot: str
    field: Literal["transformer", "switch"]
    inventory: str = Field(description="what hotspots.csv says")
    likely: str | None = Field(description="the element it most likely hangs on (None: not known yet)")
    confidence: float
    incidents: int = Field(description="incidents whose evidence contradicted the row")
    kinds: list[Literal["joined", "stayed_up"]]
    first_at: float
    last_at: float
    incident_ids: list[str]
    votes: dict[str, int]
    evidence: list[SuspectEvidence]
