"""Inventory suspects (``outages.suspects``): hotspots whose listed transformer or switch the
evidence contradicts, with the likely right element and the evidence; JSON, or CSV of suggested
corrections for ``hotspots.csv``. Pantau never changes the inventory itself."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from api.deps import Data, Viewer
from api.schemas import Problem, SuspectOut
from outages.suspects import corrections_csv_rows

router = APIRouter(
    prefix="/inventory",
    tags=["inventory (NOC)"],
    responses={401: {"model": Problem}, 403: {"model": Problem}, 422: {"model": Problem}},
)
MinConf = Annotated[float, Query(ge=0.0, le=1.0, description="only suspects at least this sure (0..1)")]
FieldQ = Annotated[Literal["transformer", "switch"] | None, Query(description="only this inventory column")]


def _rows(data, min_confidence: float, field: str | None) -> list[dict]:
    rows = data.incidents_db.inventory_suspects(min_confidence)
    return [r for r in rows if r["hotspot"] in data.inv.hotspots and (field is None or r["field"] == field)]


def _csv(rows: list[dict]) -> Response:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(corrections_csv_rows(rows))
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="hotspots-corrections.csv"'},
    )


@router.get(
    "/suspects",
    response_model=list[SuspectOut],
    summary="Inventory rows the evidence contradicts, most confident first (format=csv: suggested corrections)",
    responses={200: {"content": {"text/csv": {}}}},
)
def suspects(
    data: Data,
    _: Viewer,
    min_confidence: MinConf = 0.0,
    field: FieldQ = None,
    format: Literal["json", "csv"] = "json",
):
    rows = _rows(data, min_confidence, field)
    return _csv(rows) if format == "csv" else rows


@router.get(
    "/suspects.csv",
    summary="Suggested corrections for hotspots.csv as CSV (same parameters)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def suspects_csv(data: Data, _: Viewer, min_confidence: MinConf = 0.0, field: FieldQ = None):
    return _csv(_rows(data, min_confidence, field))
