"""Availability accounted by cause (``outages.availability``): hotspot-minutes of downtime per cause,
rolled up by group and WIB calendar period, with and without planned maintenance; JSON or CSV."""

from __future__ import annotations

import csv
import io
import threading
import time
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response

from api.deps import Data, Viewer
from api.schemas import AVAIL_BY, AvailabilityOut, Problem
from outages.availability import CAUSES, WIB, Accounting, Period, parse_period, rollup

router = APIRouter(
    tags=["availability (NOC)"], responses={401: {"model": Problem}, 403: {"model": Problem}, 422: {"model": Problem}}
)
PeriodQ = Annotated[
    str | None,
    Query(
        max_length=13,
        pattern=r"^\d{4}-\d{2}(-\d{2}(T\d{2})?)?$",
        description="WIB calendar: 2026-11 (month), 2026-11-05 (day), 2026-11-05T14 (hour); default this month",
    ),
]
StepQ = Annotated[
    Literal["hour", "day", "month"] | None, Query(description="split the period into buckets (default: one)")
]
_lock = threading.Lock()


def _accounting(request: Request, data) -> Accounting:
    acc = getattr(request.app.state, "availability", None)
    if acc is None:
        with _lock:
            acc = getattr(request.app.state, "availability", None)
            if acc is None:
                acc = request.app.state.availability = Accounting(data.incidents_db)
    return acc


def _compute(request: Request, data, by: str, period: str | None, step: str | None) -> dict:
    now = time.time()
    try:
        p: Period = parse_period(period or datetime.fromtimestamp(now, WIB).strftime("%Y-%m"))
        acc = _accounting(request, data)
        first, _ = acc.watched()
        t1 = min(p.end, now)
        pieces = acc.pieces(p.start, t1, now)
        watched = (first, t1)
        rows = rollup(data.inv, pieces, by, p, step, watched)
        city = rollup(data.inv, pieces, "city", p, None, watched)[0]
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return {
        "by": by,
        "period": p.label,
        "step": step or p.step,
        "watched_from": max(first, p.start) if first is not None else None,
        "watched_to": t1 if first is not None else None,
        "city": city,
        "rows": rows,
    }


def _csv(doc: dict) -> Response:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        ["by", "group", "name", "period", "start_wib", "end_wib", "hotspots", "hotspot_minutes", "down_minutes"]
        + [f"down_{c}" for c in CAUSES]
        + ["availability_pct", "availability_excl_planned_pct"]
    )
    for r in doc["rows"]:
        w.writerow(
            [doc["by"], r["group"], r["name"], r["period"]]
            + [datetime.fromtimestamp(r[k], WIB).isoformat(timespec="minutes") for k in ("start", "end")]
            + [r["hotspots"], r["hotspot_minutes"], r["down_minutes"]]
            + [r["downtime_minutes"][c] for c in CAUSES]
            + ["" if r[k] is None else r[k] for k in ("availability_pct", "availability_excl_planned_pct")]
        )
    name = f"availability-{doc['by']}-{doc['period']}.csv"
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/availability",
    response_model=AvailabilityOut,
    summary="Availability by cause, per group and WIB period (format=csv for a spreadsheet)",
    responses={200: {"content": {"text/csv": {}}}},
)
def availability(
    request: Request,
    data: Data,
    _: Viewer,
    by: AVAIL_BY = "city",
    period: PeriodQ = None,
    step: StepQ = None,
    format: Literal["json", "csv"] = "json",
):
    doc = _compute(request, data, by, period, step)
    return _csv(doc) if format == "csv" else doc


@router.get(
    "/availability.csv",
    summary="Availability by cause as CSV (same parameters)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def availability_csv(
    request: Request, data: Data, _: Viewer, by: AVAIL_BY = "city", period: PeriodQ = None, step: StepQ = None
):
    return _csv(_compute(request, data, by, period, step))
