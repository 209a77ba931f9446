"""Hotspots: the list (filters, pages) and one hotspot with its recent metrics and state history."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query

from api.deps import Data, Viewer
from api.schemas import HotspotDetail, HotspotOut, Page, Problem
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
