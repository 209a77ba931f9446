"""The citizens' hottest question — "what about my kelurahan?" — answered in front of FastAPI.

A plain ASGI layer: for ``GET /api/v1/public/status`` (every kelurahan's status, what the citizens'
page polls) without parameters, and for ``GET /api/v1/public/kelurahan/<name>`` with at most ``lang`` and
``kecamatan`` as parameters and a name that matches exactly one kelurahan, it applies the same
per-client rate limit, ETag and headers as the FastAPI route and sends the pre-encoded answer,
skipping routing and parameter solving (measured: bench/citizen_api.py, ~0.65× → ≥ 0.8× of a bare
hello-world). Anything else — unknown or ambiguous names, other parameters, bad values — goes on
to the FastAPI route (:mod:`api.routes.public`), which is the reference and documents it.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from api.routes.public import HEADERS, MSG, accepts_gzip, gz_etag

PREFIX = "/api/v1/public/kelurahan/"
STATUS = "/api/v1/public/status"
_CC = HEADERS["Cache-Control"].encode()


class PublicFastPath:
    def __init__(self, app, state):
        self.app = app
        self.state = state  # the FastAPI app's state: public cache and rate limiter are created with it
        self._qs: dict[bytes, tuple | None] = {}
        self.served = 0

    def _params(self, qs: bytes):
        hit = self._qs.get(qs, False)
        if hit is not False:
            return hit
        out = None
        try:
            pairs = parse_qsl(qs.decode("latin-1"), keep_blank_values=True, strict_parsing=bool(qs))
            d = dict(pairs)
            if (
                len(d) == len(pairs)
                and set(d) <= {"lang", "kecamatan"}
                and d.get("lang", "id") in ("id", "en")
                and len(d.get("kecamatan", "")) <= 100
                and ("kecamatan" not in d or d["kecamatan"])
            ):
                out = (d.get("lang", "id"), d.get("kecamatan") or None)
        except (ValueError, UnicodeDecodeError):
            out = None
        if len(self._qs) > 10_000:
            self._qs.clear()
        self._qs[qs] = out
        return out

    async def __call__(self, scope, receive, send):
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and scope["path"] == STATUS
            and not scope["query_string"]
        ):
            pub = self.state.public
            pub.ensure()
            blob, etag, gzipped = pub.status
            await self._answer(scope, send, blob, etag, "id", gzipped)
            return
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].startswith(PREFIX):
            name = scope["path"][len(PREFIX) :]
            params = self._params(scope["query_string"]) if name and "/" not in name and len(name) <= 100 else None
            if params is not None:
                pub = self.state.public
                pub.ensure()
                areas, _ = pub.find(name, params[1])
                if len(areas) == 1:
                    key = (areas[0], params[0])
                    await self._answer(scope, send, pub.blobs[key], pub.etags[key], params[0])
                    return
        await self.app(scope, receive, send)

    async def _answer(self, scope, send, blob: bytes, etag_s: str, lang: str, gzipped: bytes | None = None) -> None:
        fwd = inm = enc = None
        for k, v in scope["headers"]:
            if k == b"x-forwarded-for":  # several headers are one list, in order
                fwd = v.decode("latin-1") if fwd is None else f"{fwd}, {v.decode('latin-1')}"
            elif k == b"if-none-match":
                inm = v
            elif k == b"accept-encoding":
                enc = v.decode("latin-1")
        rl = self.state.ratelimit
        client = scope.get("client")
        wait = rl.take(rl.client_of(client[0] if client else None, fwd))
        if wait:
            import json

            body = json.dumps({"detail": MSG["limited"][0 if lang == "id" else 1]}, ensure_ascii=False).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 429,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"retry-after", str(max(1, int(wait + 0.999))).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        extra: list[tuple[bytes, bytes]] = []
        if gzipped is not None:
            extra.append((b"vary", b"Accept-Encoding"))
            if accepts_gzip(enc):
                blob, etag_s = gzipped, gz_etag(etag_s)
                extra.append((b"content-encoding", b"gzip"))
        etag = etag_s.encode()
        self.served += 1
        if inm == etag:
            await send(
                {
                    "type": "http.response.start",
                    "status": 304,
                    "headers": [(b"etag", etag), (b"cache-control", _CC), *extra[:1]],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(blob)).encode()),
                    (b"etag", etag),
                    (b"cache-control", _CC),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": blob})
