"""Dependencies of the routes (``Annotated`` aliases): the data source, the public cache, and the
API key check with roles viewer < operator < admin.

Keys come in ``X-API-Key`` or ``Authorization: Bearer``. Missing or unknown → 401, valid but too
weak for the route → 403. A key is never echoed in an answer or written to a log.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.data import DataSource
from api.public import PublicCache

ROLE_RANK = {"viewer": 0, "operator": 1, "admin": 2}

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="Pantau API key (`pantau keys create`); or `Authorization: Bearer <key>`",
)
bearer = HTTPBearer(auto_error=False)


async def get_data(request: Request) -> DataSource:  # async: no thread hop per request
    return request.app.state.data


async def get_public(request: Request) -> PublicCache:
    return request.app.state.public


Data = Annotated[DataSource, Depends(get_data)]
Public = Annotated[PublicCache, Depends(get_public)]


def _principal(request: Request, key: str | None, cred: HTTPAuthorizationCredentials | None) -> dict:
    token = key or (cred.credentials if cred else None)
    if not token:
        raise HTTPException(
            401, "API key missing: send it in the X-API-Key header", headers={"WWW-Authenticate": "Bearer"}
        )
    data: DataSource = request.app.state.data
    who = data.state.verify_key(token, cache_s=2.0)  # a revoked key stops working within 2 s
    if who is None:
        raise HTTPException(401, "API key not valid (unknown or revoked)", headers={"WWW-Authenticate": "Bearer"})
    if who.get("cities") and data.inv.city not in who["cities"]:
        raise HTTPException(403, f"the key {who['name']!r} is for {', '.join(who['cities'])}, not {data.inv.city}")
    try:
        data.state.touch_key(who["key_id"], every_s=60.0)  # not a database write per request
    except Exception:
        pass
    request.state.principal = who
    return who


def require(role: str):
    def dep(
        request: Request,
        key: Annotated[str | None, Security(api_key_header)] = None,
        cred: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
    ) -> dict:
        who = _principal(request, key, cred)
        if ROLE_RANK[who["role"]] < ROLE_RANK[role]:
            raise HTTPException(403, f"this needs the {role} role; the key {who['name']!r} is {who['role']}")
        return who

    return dep


Viewer = Annotated[dict, Depends(require("viewer"))]
Operator = Annotated[dict, Depends(require("operator"))]
Admin = Annotated[dict, Depends(require("admin"))]
