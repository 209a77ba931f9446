"""E-government services: live probe state and uptime over 24 h / 7 d / 30 d (InfluxDB)."""

from __future__ import annotations

import time

from fastapi import APIRouter

from api.deps import Data, Viewer
from api.schemas import Problem, ServiceOut

router = APIRouter(
    prefix="/services",
    tags=["e-government services (NOC)"],
    responses={401: {"model": Problem}, 403: {"model": Problem}},
)
WINDOWS = {"24h": "24h", "7d": "7d", "30d": "30d"}
_cache: dict = {"at": 0.0, "uptime": {}}


def uptime(data) -> dict[str, dict[str, float | None]]:
    """mean(up) of every probe per service and window; cached 30 s."""
    if data.influx is None:
        return {}
    if time.monotonic() - _cache["at"] < 30:
        return _cache["uptime"]
    out: dict[str, dict[str, float | None]] = {}
    try:
        for name, win in WINDOWS.items():
            for r in data.influx.query(f"SELECT mean(up) FROM egov_probe WHERE time > now() - {win} GROUP BY service"):
                for row in r.rows():
                    svc = row.get("service")
                    if svc:
                        out.setdefault(svc, {})[name] = (
                            round(float(row["mean"]), 5) if row.get("mean") is not None else None
                        )
    except Exception:
        return _cache["uptime"]
    _cache.update(at=time.monotonic(), uptime=out)
    return out


@router.get("", response_model=list[ServiceOut], summary="Every e-government service's status and uptime")
def list_services(data: Data, _: Viewer):
    data.refresh()
    live = data.live.get("egov", {})
    up = uptime(data)
    out = []
    for slug, s in data.inv.egov.items():
        st = live.get(slug, {})
        out.append(
            {
                "id": slug,
                "name": s.name,
                "state": st.get("state", "unknown"),
                "since": st.get("since"),
                "status_code": st.get("status_code"),
                "latency_ms": st.get("latency_ms"),
                "cert_days_left": st.get("cert_days_left"),
                "error": st.get("error") or "",
                "sla_days": s.sla_days,
                "uptime": {w: up.get(slug, {}).get(w) for w in WINDOWS},
            }
        )
    return out
