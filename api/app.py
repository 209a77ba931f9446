"""The FastAPI application: ``/api/v1`` (NOC with API keys, public for citizens), ``/metrics``.

Run with ``pantau api`` (uvicorn, uvloop/httptools). One process reads the state the collecting
process writes (the live view and incidents in the state database: store/db.py, store/live.py) and InfluxDB for history.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware

from api.data import DataSource
from api.fastpath import PublicFastPath
from api.public import PublicCache, gz, status_html
from api.ratelimit import RateLimiter
from api.routes import (
    availability,
    events,
    grid,
    hotspots,
    incidents,
    inventory,
    public,
    services,
    silences,
    system,
)
from api.routes.public import accepts_gzip, gz_etag
from api.schemas import Problem
from store.timeseries import InfluxConf

log = logging.getLogger("pantau.api")

DESCRIPTION = """Pantau — Semarang's network and IoT operations monitor.

* **NOC** endpoints need an API key (`X-API-Key: pk_…` or `Authorization: Bearer pk_…`) with a role:
  `viewer` reads, `operator` also acknowledges, annotates and silences, `admin` also manages keys.
  Create one with `pantau keys create NAME --role viewer`. Missing or unknown key: 401; too weak: 403.
* **Public** endpoints (`/api/v1/public/…`) answer citizens without a key, in Bahasa Indonesia
  (`lang=en` for English), rate limited per client.
* Times are UNIX seconds (UTC) in NOC answers and ISO 8601 in WIB (+07:00) in public answers.
"""


_INLINE = re.compile(rb"<(script|style)>(.*?)</\1>", re.S)


def page_with_headers(path: Path) -> tuple[bytes, dict[str, str]]:
    """A page and its security headers: a CSP that allows only the page's own inline script and
    style (by hash) and requests to Pantau itself — no external assets, no injected script runs."""
    body = path.read_bytes()
    hashes: dict[bytes, list[str]] = {b"script": [], b"style": []}
    for kind, text in _INLINE.findall(body):
        hashes[kind].append("'sha256-" + base64.b64encode(hashlib.sha256(text).digest()).decode() + "'")
    csp = (
        "default-src 'none'; script-src 'self' "
        + " ".join(hashes[b"script"])
        + "; style-src 'self' "
        + " ".join(hashes[b"style"])
        + "; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    return body, {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Permissions-Policy": "geolocation=(self), camera=(), microphone=()",
    }


def create_app(
    inv,
    state_dir: Path,
    influx: InfluxConf | None = None,
    rate_per_s: float = 5.0,
    burst: int = 30,
    trusted_proxies: set[str] | None = None,
    background_refresh: bool = False,
    database: str | None = None,
) -> FastAPI:
    """``background_refresh``: a thread keeps the citizens' answers current (``pantau api``); without
    it they are rebuilt on the request that notices a change (tests: deterministic)."""
    app = FastAPI(
        title="Pantau API",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        responses={400: {"model": Problem, "description": "malformed request (e.g. a body that is not JSON)"}},
    )
    data = DataSource(inv, state_dir, influx, database=database)
    app.state.data = data
    app.state.public = PublicCache(data)
    if background_refresh:

        @app.on_event("startup")
        async def _refresher():
            data.listen()  # PostgreSQL: the writers' NOTIFY wakes the next refresh at once
            app.state.public.start_refresher()

        # The inventory and the first answers live as long as the process: out of the collector's
        # way (a full collection over them is a 40 ms pause in the middle of a blackout's traffic).
        import gc

        gc.collect()
        gc.freeze()
    app.state.ratelimit = RateLimiter(rate_per_s, burst, trusted_proxies or {"127.0.0.1", "::1"})
    app.state.registry = system.registry_for(data, app)
    # Public first: the citizens' routes are the hot path, matched before the others.
    for r in (
        public.router,
        hotspots.router,
        incidents.router,
        grid.router,
        services.router,
        silences.router,
        events.router,
        availability.router,
        inventory.router,
    ):
        app.include_router(r, prefix="/api/v1")
    app.include_router(system.router)

    app.add_middleware(PublicFastPath, state=app.state)

    pages = next(
        (p for p in (Path(__file__).resolve().parent.parent / "dashboards", Path.cwd() / "dashboards") if p.is_dir()),
        Path("dashboards"),
    )

    # The pages' ES modules, styles and vendored libraries (scripts/vendor-frontend.sh): same origin
    # only, gzipped for clients that accept it (the citizens' page's modules: 40 KB → 11 KB; nginx
    # passes them on as they are, config/nginx/pantau.conf).
    app.mount(
        "/static",
        GZipMiddleware(StaticFiles(directory=pages / "static", check_dir=False), minimum_size=1024),
        name="static",
    )

    citizen_html, noc_html = page_with_headers(pages / "citizen.html"), page_with_headers(pages / "noc.html")
    citizen_built: dict[int, tuple[bytes, str, bytes]] = {}

    @app.get("/", include_in_schema=False)
    def citizen_page(request: Request):
        # The city's status is in the page itself (its words and the map's data): a phone on a slow
        # network shows the first answer with the first response, not after three more round trips.
        pub = app.state.public
        pub.ensure()
        built = citizen_built.get(pub.version)
        if built is None:
            body = status_html(citizen_html[0], pub.status_doc, pub.status[0])
            built = (body, '"p-' + hashlib.blake2b(body, digest_size=8).hexdigest() + '"', gz(body))
            citizen_built.clear()
            citizen_built[pub.version] = built
        body, etag, gzipped = built
        headers = {**citizen_html[1], "Cache-Control": "public, max-age=5", "Vary": "Accept-Encoding"}
        use_gz = accepts_gzip(request.headers.get("accept-encoding"))
        headers["ETag"] = gz_etag(etag) if use_gz else etag
        if request.headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
        if use_gz:
            body = gzipped
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type="text/html; charset=utf-8", headers=headers)

    @app.get("/noc", include_in_schema=False)
    def noc_page():
        body, headers = noc_html
        return Response(body, media_type="text/html; charset=utf-8", headers={**headers, "Cache-Control": "no-store"})

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError):
        # Say what is wrong without echoing the input back (it may hold a key or personal data).
        errs = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()
        ]
        return JSONResponse({"detail": errs}, status_code=422)

    return app


def create_multi_app(invs: list, state_dir: Path, influx: InfluxConf | None = None, **kw) -> FastAPI:
    """Several cities in one process: the first city's app at ``/`` (its citizens' page, its API
    under ``/api/v1``), and every city's at ``/cities/<city>/`` (page, NOC page, API), each with its
    own data, caches and keys check (a key scoped to other cities gets 403). One city: its app."""
    apps = {inv.city: create_app(inv, state_dir, influx, **kw) for inv in invs}
    root = apps[invs[0].city] if len(invs) == 1 else create_app(invs[0], state_dir, influx, **kw)
    if len(invs) == 1:
        return root
    from fastapi.responses import RedirectResponse

    for city, sub in apps.items():

        @root.get(f"/cities/{city}", include_in_schema=False)
        def _slash(city: str = city):
            return RedirectResponse(f"/cities/{city}/", status_code=308)

        root.mount(f"/cities/{city}", sub)

    @root.get("/api/v1/cities", tags=["public (citizens)"], summary="The cities this deployment serves")
    def cities():
        return [{"city": inv.city, "name": inv.display_name, "path": f"/cities/{inv.city}/"} for inv in invs]

    if kw.get("background_refresh"):

        @root.on_event("startup")
        async def _sub_refreshers():  # a mounted app gets no startup event of its own
            for sub in apps.values():
                sub.state.data.listen()
                sub.state.public.start_refresher()

    return root
