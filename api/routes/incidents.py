"""Incidents: open and past, with evidence; operators acknowledge and add notes."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query

from alerts.router import severity
from api.deps import Data, Operator, Viewer
from api.schemas import CAUSE, AckIn, IncidentDetail, IncidentOut, Note, NoteIn, Page, Problem
from outages.etr import estimate, history

router = APIRouter(
    prefix="/incidents", tags=["incidents (NOC)"], responses={401: {"model": Problem}, 403: {"model": Problem}}
)
IncidentId = Annotated[str, Path(max_length=80, description="e.g. INC-20261123-120100-3f2a")]


def incident_out(inc: dict, acked: set[str]) -> dict:
    return {
        "id": inc["id"],
        "city": inc["city"],
        "cause": inc["cause"],
        "root": inc["root"],
        "status": inc["status"],
        "severity": severity(inc),
        "confidence": inc["confidence"],
        "inferred": inc["inferred"],
        "opened_at": inc["opened_at"],
        "updated_at": inc["updated_at"],
        "closed_at": inc["closed_at"],
        "affected_hotspots": len(inc["affected"]),
        "areas": inc["areas"],
        "explanation": {"id": inc["explanation_id"], "en": inc["explanation_en"]},
        "merged_into": inc["merged_into"],
        "acknowledged": inc["id"] in acked,
    }


def _acked(data) -> set[str]:
    return {n["incident_id"] for n in data.state.notes() if n["kind"] == "ack"}


@router.get("", response_model=Page[IncidentOut], summary="Incidents, newest first")
def list_incidents(
    data: Data,
    _: Viewer,
    status: Literal["open", "closed", "all"] = "open",
    cause: CAUSE | None = None,
    kecamatan: Annotated[str | None, Query(max_length=20, description="kecamatan code")] = None,
    include_merged: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
):
    data.refresh()
    rows = [
        i
        for i in reversed(data.incidents)
        if (status == "all" or i["status"] == status)
        and (not cause or i["cause"] == cause)
        and (include_merged or not i["merged_into"])
        and (not kecamatan or any(a.split("/")[0] == kecamatan for a in i["areas"]))
    ]
    acked = _acked(data)
    return {
        "total": len(rows),
        "limit": limit,
        "offset": offset,
        "items": [incident_out(i, acked) for i in rows[offset : offset + limit]],
    }


@router.get(
    "/{incident_id}",
    response_model=IncidentDetail,
    summary="One incident with evidence, log and notes",
    responses={404: {"model": Problem}},
)
def get_incident(data: Data, _: Viewer, incident_id: IncidentId):
    data.refresh()
    inc = data.incident(incident_id)
    if inc is None:
        raise HTTPException(404, f"no incident {incident_id!r}")
    notes = data.state.notes(incident_id)
    doc = incident_out(inc, {incident_id} if any(n["kind"] == "ack" for n in notes) else set())
    doc.update(
        affected=inc["affected"],
        evidence=inc["evidence"],
        notes=notes,
        log=[{"at": r["at"], "change": r["change"], "detail": r["detail"]} for r in data.incidents_db.log(incident_id)],
        restore_estimate=estimate(data.inv, inc, history(data.incidents), data.notices(), time.time()),
    )
    return doc


def _exists(data, incident_id: str) -> None:
    data.refresh(force=True)
    if data.incident(incident_id) is None:
        raise HTTPException(404, f"no incident {incident_id!r}")


@router.post(
    "/{incident_id}/ack",
    response_model=Note,
    status_code=201,
    summary="Acknowledge an incident",
    responses={404: {"model": Problem}},
)
def ack_incident(data: Data, who: Operator, incident_id: IncidentId, body: AckIn | None = None):
    _exists(data, incident_id)
    note = data.state.add_note(incident_id, "ack", who["name"], (body.comment if body else "") or "acknowledged")
    data.invalidate()
    return note


@router.post(
    "/{incident_id}/notes",
    response_model=Note,
    status_code=201,
    summary="Add a note to an incident",
    responses={404: {"model": Problem}},
)
def add_note(data: Data, who: Operator, incident_id: IncidentId, body: NoteIn):
    _exists(data, incident_id)
    note = data.state.add_note(incident_id, "note", who["name"], body.text)
    data.invalidate()
    return note
