"""Hotspots: the list (filters, pages), one hotspot with its recent metrics, its time series for
charts (InfluxDB, bucketed) and its state history (the evidence log and the availability accounting)."""

from __future__ import annotations

import re
import time
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request

from api.deps import Data, Viewer
from api.routes.availability import _accounting
from api.routes.incidents import _acked, incident_out
from api.schemas import SERIES_FIELDS, HotspotDetail, HotspotOut, HotspotSeries, HotspotStates, Page, Problem
from store.timeseries import quote_literal

router = APIRouter(
    prefix="/hotspots", tags=["hotspots (NOC)"], responses={401: {"model": Problem}, 403: {"model": Problem}}
)


def hotspot_out(data, h) -> dict:
    st = data.hotspot_state(h.id)
    return {
        "id": h.id,
        "name": h.name,
        "kecamatan": h.kecamatan,
        "kecamatan_name": data.inv.kecamatan[h.kecamatan].name,
        "kelurahan": h.kelurahan,
        "lat": h.lat,
        "lon": h.lon,
        "vendor": h.vendor,
        "model": h.model,
        "address": h.address,
        "switch": h.switch,
        "transformer": h.transformer,
        "feeder": data.inv.transformers[h.transformer].feeder,
        "ups_minutes": h.ups_minutes,
        **st,
    }


@router.get("", response_model=Page[HotspotOut], summary="List hotspots with their health")
def list_hotspots(
    data: Data,
    _: Viewer,
    kecamatan: Annotated[str | None, Query(max_length=100, description="code (TBL) or name")] = None,
    kelurahan: Annotated[str | None, Query(max_length=100)] = None,
    state: Literal["unknown", "up", "degraded", "down"] | None = None,
    vendor: Annotated[str | None, Query(max_length=50)] = None,
    switch: Annotated[str | None, Query(max_length=50)] = None,
    feeder: Annotated[str | None, Query(max_length=50)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
):
    data.refresh()
    inv = data.inv
    kec = None
    if kecamatan:
        kec = next((c for c, k in inv.kecamatan.items() if kecamatan.lower() in (c.lower(), k.name.lower())), "?")
    out = []
    for h in inv.hotspots.values():
        if kec and h.kecamatan != kec:
            continue
        if kelurahan and h.kelurahan.lower() != kelurahan.lower():
            continue
        if vendor and h.vendor != vendor:
            continue
        if switch and h.switch != switch:
            continue
        if feeder and inv.transformers[h.transformer].feeder != feeder:
            continue
        if state and data.hotspot_state(h.id)["state"] != state:
            continue
        out.append(h)
    return {
        "total": len(out),
        "limit": limit,
        "offset": offset,
        "items": [hotspot_out(data, h) for h in out[offset : offset + limit]],
    }


@router.get(
    "/{hotspot_id}",
    response_model=HotspotDetail,
    summary="One hotspot: health, metrics, history",
    responses={404: {"model": Problem}},
)
def get_hotspot(
    data: Data,
    _: Viewer,
    hotspot_id: Annotated[str, Path(max_length=50)],
    minutes: Annotated[int, Query(ge=1, le=10080, description="how far back metrics go")] = 60,
):
    data.refresh()
    h = data.inv.hotspots.get(hotspot_id)
    if h is None:
        raise HTTPException(404, f"no hotspot {hotspot_id!r}")
    doc = hotspot_out(data, h)
    doc["incidents"] = [i["id"] for i in data.open_incidents() if f"hotspot:{h.id}" in i["affected"]]
    doc["metrics"], doc["history"], doc["history_available"] = [], [], False
    if data.influx:
        try:
            lit = quote_literal(h.id)
            doc["metrics"] = data.influx.query_rows(
                f"SELECT * FROM hotspot_poll WHERE hotspot = {lit} AND time > now() - {minutes}m "
                f"ORDER BY time DESC LIMIT 500",
                epoch="s",
            )
            rows = data.influx.query_rows(
                f"SELECT * FROM hotspot_event WHERE hotspot = {lit} ORDER BY time DESC LIMIT 200", epoch="s"
            )
            doc["history"] = [
                {
                    "at": float(r["time"]),
                    "kind": r.get("kind") or "",
                    "value": str(r.get("value")),
                    "previous": r.get("previous"),
                    "detail": r.get("detail"),
                    "source": r.get("source"),
                }
                for r in rows
            ]
            doc["history_available"] = True
        except Exception:
            pass
    return doc


HotspotId = Annotated[str, Path(max_length=50)]
# Wireless interfaces (radios) carry the same bytes as the wired uplink: traffic is the wired ones.
_RADIO_IF = re.compile(r"^(wlan|ath|wifi|radio|lo)", re.I)


def _hotspot(data, hotspot_id: str):
    data.refresh()
    h = data.inv.hotspots.get(hotspot_id)
    if h is None:
        raise HTTPException(404, f"no hotspot {hotspot_id!r}")
    return h


def _round(v) -> float | None:
    return None if v is None else round(float(v), 3)


def _step(minutes: int, points: int) -> int:
    """A bucket of whole seconds, at least 10 s, giving at most ``points`` buckets."""
    raw = max(10, -(-minutes * 60 // points))
    for nice in (10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400):
        if nice >= raw:
            return nice
    return raw


@router.get(
    "/{hotspot_id}/series",
    response_model=HotspotSeries,
    summary="One hotspot's time series for charts: clients, traffic, CPU/memory, RTT, polls answered",
    responses={404: {"model": Problem}},
)
def hotspot_series(
    data: Data,
    _: Viewer,
    hotspot_id: HotspotId,
    minutes: Annotated[int, Query(ge=5, le=10080, description="how far back (at most 7 days)")] = 60,
    points: Annotated[int, Query(ge=10, le=2000, description="at most this many buckets")] = 300,
):
    h = _hotspot(data, hotspot_id)
    step = _step(minutes, points)
    now = time.time()
    t0 = (now - minutes * 60) // step * step
    doc = {"hotspot": h.id, "from": t0, "to": now, "step_s": step, "available": False, "time": [], "series": {}}
    cols: dict[float, dict[str, float | None]] = {}
    if data.influx:
        lit = quote_literal(h.id)
        where = f"hotspot = {lit} AND time >= {int(t0)}s AND time <= {int(now)}s"
        try:
            for r in data.influx.query_rows(
                # mean() of a boolean is an error in InfluxDB 1.x: polls answered = 1 - failed / all
                "SELECT mean(clients) AS clients, mean(cpu_pct) AS cpu_pct, mean(mem_pct) AS mem_pct, "
                f"mean(latency_ms) AS rtt_ms, count(up) AS polls, count(error) AS failed FROM hotspot_poll "
                f"WHERE {where} GROUP BY time({step}s) fill(none)",
                epoch="s",
            ):
                row = {k: r.get(k) for k in ("clients", "cpu_pct", "mem_pct", "rtt_ms")}
                polls = r.get("polls") or 0
                row["up_ratio"] = 1.0 - (r.get("failed") or 0) / polls if polls else None
                cols.setdefault(float(r["time"]), {}).update(row)
            res = data.influx.query(
                f"SELECT mean(in_bps) AS rx_bps, mean(out_bps) AS tx_bps FROM hotspot_if WHERE {where} "
                f"GROUP BY time({step}s), ifname fill(none)",
                epoch="s",
            )
            for part in res:
                for r in part.rows():
                    if _RADIO_IF.match(str(r.get("ifname") or "")):
                        continue
                    row = cols.setdefault(float(r["time"]), {})
                    for k in ("rx_bps", "tx_bps"):
                        if r.get(k) is not None:
                            row[k] = (row.get(k) or 0.0) + float(r[k])
            doc["available"] = True
        except Exception:
            cols = {}
    times = sorted(t for t in cols if t >= t0)
    doc["time"] = times
    doc["series"] = {f: [_round(cols[t].get(f)) for t in times] for f in SERIES_FIELDS}
    return doc


@router.get(
    "/{hotspot_id}/states",
    response_model=HotspotStates,
    summary="One hotspot's state history: health changes, downtime by cause, its incidents",
    responses={404: {"model": Problem}},
)
def hotspot_states(
    request: Request,
    data: Data,
    _: Viewer,
    hotspot_id: HotspotId,
    minutes: Annotated[int, Query(ge=5, le=44640, description="how far back (at most 31 days)")] = 1440,
):
    h = _hotspot(data, hotspot_id)
    now = time.time()
    t0 = now - minutes * 60
    changes, pieces = _accounting(request, data).hotspot(h.id, t0, now, now)
    # the state at the window's start is the last change before it
    state: str = "unknown"
    spans: list[dict] = []
    for at, kind, _old, new, _r, _s in changes:
        if kind != "state" or new not in ("up", "degraded", "down", "unknown"):
            continue
        if at <= t0:
            state = new
            continue
        if new != state:
            start = spans[-1]["end"] if spans else t0
            spans.append({"start": start, "end": at, "state": state})
            state = new
    spans.append({"start": spans[-1]["end"] if spans else t0, "end": None, "state": state})
    spans = [s for s in spans if s["end"] is None or s["end"] > s["start"]]
    element = f"hotspot:{h.id}"
    acked = _acked(data)
    incs = [
        incident_out(i, acked)
        for i in reversed(data.incidents)
        if (element in i["affected"] or i["root"] == element) and (i["closed_at"] is None or i["closed_at"] >= t0)
    ]
    return {
        "hotspot": h.id,
        "from": t0,
        "to": now,
        "state": data.hotspot_state(h.id)["state"],
        "spans": spans,
        "changes": [
            {"at": at, "kind": kind, "value": str(new or kind), "previous": old, "detail": reason, "source": src}
            for at, kind, old, new, reason, src in reversed(changes)
            if at >= t0
        ],
        "downtime": [
            {"start": p.start, "end": p.end, "cause": p.cause, "incident": p.incident} for p in pieces if p.end > t0
        ],
        "incidents": incs,
    }
