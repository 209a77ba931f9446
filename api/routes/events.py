"""Live changes as server-sent events: incidents (opened, updated, re-rooted, merged, closed,
reopened), hotspot and switch health changes, grid state changes. ``Last-Event-ID`` (or
``?after=``) resumes the incident stream where a client left off."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from api.deps import Data, Viewer
from api.schemas import Problem

router = APIRouter(tags=["live (NOC)"], responses={401: {"model": Problem}, 403: {"model": Problem}})


def _states(data) -> tuple[dict, dict, dict]:
    live = data.live
    g = (live.get("grid") or {}).get("elements", {})
    return (
        {k: v[0] for k, v in live.get("hotspots", {}).items()},
        {k: v[0] for k, v in live.get("switches", {}).items()},
        {k: v.get("state") for k, v in g.items()},
    )


def _incidents_by_id(data, wanted: set) -> dict:
    """The current incidents among ``wanted`` (runs in the thread pool: SQLite)."""
    return {i["id"]: i for i in data.incidents_db.incidents() if i["id"] in wanted}


@router.get("/events", response_class=EventSourceResponse, summary="Server-sent events of incident and state changes")
async def events(
    request: Request,
    data: Data,
    _: Viewer,
    after: Annotated[int | None, Query(ge=0, description="resume after this incident event id")] = None,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
    poll_s: Annotated[float, Query(ge=0.1, le=10)] = 0.5,
    max_s: Annotated[float | None, Query(gt=0, le=86400, description="end the stream after this long")] = None,
):
    start = after
    if start is None and last_event_id and last_event_id.isdigit():
        start = int(last_event_id)
    # State database reads and live view reloads run in the thread pool: this loop serves every request.
    if start is None:
        start = await asyncio.to_thread(data.incidents_db.last_log_id)
    await asyncio.to_thread(data.refresh, True)
    prev = _states(data)
    seen = data.version
    loop = asyncio.get_running_loop()
    t_end = loop.time() + max_s if max_s else None
    yield ServerSentEvent(event="hello", data={"incident_event_id": start, "hotspots": len(prev[0])})
    while t_end is None or loop.time() < t_end:
        if await request.is_disconnected():
            break
        rows = await asyncio.to_thread(data.incidents_db.log_since, start)
        current = {}
        if rows:
            current = await asyncio.to_thread(_incidents_by_id, data, {r["incident_id"] for r in rows})
        for row in rows:
            start = row["seq"]
            cur = current.get(row["incident_id"])
            yield ServerSentEvent(
                event="incident",
                id=str(row["seq"]),
                data={
                    "incident": row["incident_id"],
                    "change": row["change"],
                    "at": row["at"],
                    "cause": cur["cause"] if cur else None,
                    "root": cur["root"] if cur else None,
                    "status": cur["status"] if cur else None,
                    "explanation": {"id": cur["explanation_id"], "en": cur["explanation_en"]} if cur else None,
                },
            )
        # The view is shared by every request of this process: another request's read may be the
        # one that reloaded it, so the stream follows the view's version, not refresh()'s answer.
        await asyncio.to_thread(data.refresh)
        if data.version != seen:
            seen = data.version
            now = _states(data)
            for kind, old, new in (
                ("hotspot", prev[0], now[0]),
                ("switch", prev[1], now[1]),
                ("grid", prev[2], now[2]),
            ):
                for k, v in new.items():
                    if old.get(k) != v:
                        yield ServerSentEvent(
                            event=f"{kind}_state",
                            data={"element": k if kind == "grid" else f"{kind}:{k}", "old": old.get(k), "new": v},
                        )
            prev = now
        await asyncio.sleep(poll_s)
