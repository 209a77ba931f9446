"""Silences (Alertmanager-style: matchers + time window + comment) and API keys (admin)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from api.deps import Admin, Data, Operator, Viewer
from api.schemas import KeyCreated, KeyIn, KeyOut, Problem, SilenceIn, SilenceOut

router = APIRouter(tags=["silences and keys (NOC)"], responses={401: {"model": Problem}, 403: {"model": Problem}})


@router.get("/silences", response_model=list[SilenceOut], summary="Silences (active, pending and expired)")
def list_silences(data: Data, _: Viewer):
    return data.state.silences()


@router.post(
    "/silences",
    response_model=SilenceOut,
    status_code=201,
    summary="Create a silence",
    responses={422: {"model": Problem}},
)
def create_silence(data: Data, who: Operator, body: SilenceIn):
    start = body.starts_at if body.starts_at is not None else time.time()
    if body.ends_at <= start:
        raise HTTPException(422, "ends_at must be after starts_at")
    if body.ends_at - start > 90 * 86400:
        raise HTTPException(422, "a silence may last at most 90 days")
    for m in body.matchers:
        if m.is_regex:
            import re

            try:
                re.compile(m.value)
            except re.error as exc:
                raise HTTPException(422, f"matcher {m.name}: bad regular expression ({exc})") from exc
    sid = data.state.add_silence(
        [m.model_dump() for m in body.matchers], start, body.ends_at, who["name"], body.comment
    )
    return next(s for s in data.state.silences() if s["id"] == sid)


@router.delete(
    "/silences/{silence_id}", status_code=204, summary="Expire a silence now", responses={404: {"model": Problem}}
)
def expire_silence(data: Data, _: Operator, silence_id: Annotated[str, Path(max_length=64)]):
    if not data.state.expire_silence(silence_id):
        raise HTTPException(404, f"no active silence {silence_id!r}")


@router.get("/keys", response_model=list[KeyOut], summary="API keys (never the keys themselves)")
def list_keys(data: Data, _: Admin):
    return data.state.keys()


@router.post("/keys", response_model=KeyCreated, status_code=201, summary="Create an API key (shown once)")
def create_key(data: Data, _: Admin, body: KeyIn):
    key_id, key = data.state.create_key(body.name, body.role, cities=body.cities)
    return {"key_id": key_id, "name": body.name, "role": body.role, "cities": body.cities, "key": key}


@router.delete("/keys/{key_id}", status_code=204, summary="Revoke an API key", responses={404: {"model": Problem}})
def revoke_key(data: Data, _: Admin, key_id: Annotated[str, Path(max_length=20)]):
    if not data.state.revoke_key(key_id):
        raise HTTPException(404, f"no active key {key_id!r}")
