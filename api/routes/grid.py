"""The grid as Pantau knows it (per substation, feeder, transformer) and PLN's maintenance notices."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query

from api.deps import Data, Viewer
from api.schemas import POWER, GridElement, NoticeOut, Page, Problem

router = APIRouter(tags=["grid (NOC)"], responses={401: {"model": Problem}, 403: {"model": Problem}})


def element_out(data, el: str, st: dict | None) -> dict:
    kind, _, ident = el.partition(":")
    inv = data.inv
    parent = None
    if kind == "transformer" and ident in inv.transformers:
        parent = f"feeder:{inv.transformers[ident].feeder}"
    elif kind == "feeder" and ident in inv.feeders:
        parent = f"substation:{inv.feeders[ident].substation}"
    st = st or {}
    return {
        "element": el,
        "kind": kind,
        "state": st.get("state", "unknown"),
        "since": st.get("since"),
        "reason": st.get("reason") or ("no telemetry yet" if not st else ""),
        "voltage_v": st.get("voltage_v"),
        "breaker_closed": st.get("breaker_closed"),
        "last_seen": st.get("last_seen"),
        "parent": parent,
    }


def _all(data) -> list[str]:
    inv = data.inv
    return (
        [f"substation:{s}" for s in inv.substations]
        + [f"feeder:{f}" for f in inv.feeders]
        + [f"transformer:{t}" for t in inv.transformers]
    )


@router.get("/grid", response_model=Page[GridElement], summary="Grid state per substation, feeder, transformer")
def list_grid(
    data: Data,
    _: Viewer,
    kind: Literal["substation", "feeder", "transformer"] | None = None,
    state: POWER | None = None,
    parent: Annotated[str | None, Query(max_length=60)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
):
    data.refresh()
    els = data.grid_elements()
    rows = [element_out(data, e, els.get(e)) for e in _all(data) if not kind or e.startswith(kind + ":")]
    rows = [r for r in rows if (not state or r["state"] == state) and (not parent or r["parent"] == parent)]
    return {"total": len(rows), "limit": limit, "offset": offset, "items": rows[offset : offset + limit]}


@router.get(
    "/grid/{element}", response_model=GridElement, summary="One grid element", responses={404: {"model": Problem}}
)
def get_grid(data: Data, _: Viewer, element: Annotated[str, Path(max_length=60, description="e.g. feeder:SRD-04")]):
    data.refresh()
    if element not in set(_all(data)):
        raise HTTPException(404, f"no grid element {element!r} (kind:ID, kinds substation, feeder, transformer)")
    return element_out(data, element, data.grid_elements().get(element))


@router.get("/notices", response_model=list[NoticeOut], summary="PLN maintenance notices (current and upcoming)")
def list_notices(data: Data, _: Viewer):
    data.refresh()
    now = time.time()
    return [
        {
            "id": n["id"],
            "element": n["element"],
            "start": n["start"],
            "end": n["end"],
            "reason": n.get("reason") or "",
            "issuer": n.get("issuer") or "",
            "active": n["start"] <= now <= n["end"],
        }
        for n in sorted(data.notices(), key=lambda n: n["start"])
    ]
