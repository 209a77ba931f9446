"""Citizens' endpoints: public, no key, Bahasa Indonesia first (``lang=en`` for English).

Answers come from :class:`api.public.PublicCache` (pre-encoded, rebuilt once per change), with an
ETag (``If-None-Match`` → 304) and a short ``Cache-Control`` so a CDN or browser can help too; every
client is rate limited (429 + ``Retry-After``).
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from api.schemas import Problem, PublicArea, PublicAreaRef, PublicAreas, PublicSummary

router = APIRouter(
    prefix="/public",
    tags=["public (citizens)"],
    responses={429: {"model": Problem, "description": "too many requests from this client"}},
)
Lang = Annotated[Literal["id", "en"], Query(description="id = Bahasa Indonesia (default), en = English")]
HEADERS = {"Cache-Control": "public, max-age=5"}
MSG = {
    "not_found": ("Kelurahan tidak ditemukan", "No such kelurahan"),
    "ambiguous": (
        "Nama kelurahan ada di lebih dari satu kecamatan; sebutkan kecamatan",
        "This kelurahan name exists in more than one kecamatan; give the kecamatan",
    ),
    "outside": ("Lokasi di luar wilayah kota", "Location outside the city"),
    "limited": ("Terlalu banyak permintaan, coba lagi sebentar", "Too many requests, try again shortly"),
}


def _err(status: int, key: str, lang: str, extra: dict | None = None, headers: dict | None = None) -> Response:
    li = 0 if lang == "id" else 1
    body = {"detail": MSG[key][li], **(extra or {})}
    return Response(json.dumps(body, ensure_ascii=False), status, media_type="application/json", headers=headers)


def _limited(request: Request, lang: str) -> Response | None:
    rl = request.app.state.ratelimit
    client = rl.client_of(
        request.client.host if request.client else None, ", ".join(request.headers.getlist("x-forwarded-for")) or None
    )
    wait = rl.take(client)
    if wait:
        return _err(429, "limited", lang, headers={"Retry-After": str(max(1, int(wait + 0.999)))})
    return None


def _send(request: Request, blob: bytes, etag: str | None = None) -> Response:
    if etag and request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag, **HEADERS})
    h = dict(HEADERS)
    if etag:
        h["ETag"] = etag
    return Response(blob, media_type="application/json", headers=h)


@router.get(
    "/kelurahan/{name}",
    response_model=PublicArea,
    summary="Is there an outage in my kelurahan?",
    responses={404: {"model": Problem}, 409: {"model": Problem}},
)
async def by_kelurahan(
    request: Request,
    name: str,
    lang: Lang = "id",
    kecamatan: Annotated[
        str | None, Query(max_length=100, description="name or code, when the kelurahan name exists twice")
    ] = None,
):
    r = _limited(request, lang)
    if r:
        return r
    pub = request.app.state.public  # not a dependency: the hot path skips dependency solving
    pub.ensure()
    areas, sugg = pub.find(name[:100], kecamatan)
    if not areas:
        return _err(404, "not_found", lang, {"suggestions": sugg})
    if len(areas) > 1:
        return _err(409, "ambiguous", lang, {"kecamatan": [pub.inv.kecamatan[a[0]].name for a in areas]})
    key = (areas[0], lang)
    return _send(request, pub.blobs[key], pub.etags[key])


@router.get(
    "/location",
    response_model=PublicArea,
    summary="Is there an outage where I am? (coordinates)",
    responses={404: {"model": Problem}},
)
async def by_location(
    request: Request,
    lat: Annotated[float, Query(ge=-90, le=90)],
    lon: Annotated[float, Query(ge=-180, le=180)],
    lang: Lang = "id",
):
    r = _limited(request, lang)
    if r:
        return r
    pub = request.app.state.public  # not a dependency: the hot path skips dependency solving
    pub.ensure()
    area = pub.nearest(lat, lon)
    if area is None:
        return _err(404, "outside", lang)
    key = (area, lang)
    return _send(request, pub.blobs[key], pub.etags[key])


@router.get("/kelurahan", response_model=list[PublicAreaRef], summary="Every kelurahan Pantau answers for")
async def list_kelurahan(request: Request):
    r = _limited(request, "id")
    if r:
        return r
    pub = request.app.state.public
    return [{"kelurahan": kel, "kecamatan": pub.inv.kecamatan[code].name} for code, kel in pub.areas]


@router.get(
    "/areas",
    response_model=PublicAreas,
    summary="Kelurahan and kecamatan outlines for a map (derived from where the city's devices are)",
)
async def areas(request: Request):
    r = _limited(request, "id")
    if r:
        return r
    blob, etag = request.app.state.public.areas_blob()
    resp = _send(request, blob, etag)
    resp.headers["Cache-Control"] = "public, max-age=3600"  # changes only with the inventory
    return resp


@router.get("/summary", response_model=PublicSummary, summary="The city at a glance")
async def summary(request: Request, lang: Lang = "id"):
    r = _limited(request, lang)
    if r:
        return r
    pub = request.app.state.public  # not a dependency: the hot path skips dependency solving
    pub.ensure()
    return _send(request, pub.summary[lang])


@router.get(
    "/maintenance",
    summary="Planned PLN maintenance, now and coming",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": [
                        {
                            "start": "2026-11-24T09:00:00+07:00",
                            "end": "2026-11-24T13:00:00+07:00",
                            "reason": "Pemeliharaan jaringan",
                            "active": False,
                            "kelurahan": ["Lamper Kidul"],
                        }
                    ]
                }
            }
        }
    },
    response_model=list[dict],
)
async def maintenance(request: Request, lang: Lang = "id") -> Response:
    r = _limited(request, lang)
    if r:
        return r
    pub = request.app.state.public  # not a dependency: the hot path skips dependency solving
    pub.ensure()
    return _send(request, pub.maintenance[lang])
