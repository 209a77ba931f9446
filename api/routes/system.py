"""Pantau's own health: ``/api/v1/system`` (JSON, viewer) and ``/metrics`` (Prometheus, public)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from api.deps import Data, Viewer
from api.schemas import Problem

router = APIRouter(tags=["system"])


@router.get(
    "/api/v1/system",
    summary="Pantau's own health (collectors, ingest, spool, alerts)",
    responses={401: {"model": Problem}, 403: {"model": Problem}},
)
def system(data: Data, _: Viewer) -> dict:
    data.refresh()
    st = data.live.get("status", {})
    return {
        "live_at": data.live.get("at"),
        "live_age_s": round(time.time() - data.live["at"], 1) if data.live.get("at") else None,
        "status": st,
    }


@router.get("/healthz", summary="Liveness and freshness of the collectors' view", include_in_schema=True)
def healthz(data: Data) -> dict:
    data.refresh()
    at = data.live.get("at")
    age = round(time.time() - at, 1) if at else None
    influx = data.live.get("status", {}).get("influx") or {"state": "unknown", "message": "collector not seen yet"}
    return {
        "ok": True,
        "collector_fresh": age is not None and age < 30,
        "live_age_s": age,
        "influx": {"state": influx.get("state"), "message": influx.get("message"), "since": influx.get("since")},
    }


def _family(kind, name: str, doc: str, label: str, samples: list[tuple[str, float]]):
    """A metric family of one label, one sample per value."""
    f = kind(name, doc, labels=[label])
    for value, x in samples:
        f.add_metric([value], x)
    return f


class LiveCollector:
    """Reads the collectors' live view at scrape time (no background state in the API)."""

    def __init__(self, data, app):
        self.data, self.app = data, app

    def collect(self):
        d = self.data
        d.refresh()
        live, st = d.live, d.live.get("status", {})
        g = GaugeMetricFamily("pantau_live_age_seconds", "Age of the collectors' live view")
        g.add_metric([], time.time() - live["at"] if live.get("at") else float("nan"))
        yield g
        g = GaugeMetricFamily("pantau_elements", "Hotspots and switches by health state", labels=["kind", "state"])
        for kind in ("hotspots", "switches"):
            counts: dict[str, int] = {}
            for v in live.get(kind, {}).values():
                counts[v[0]] = counts.get(v[0], 0) + 1
            for s in ("unknown", "up", "degraded", "down"):
                g.add_metric([kind[:-1] if kind == "hotspots" else "switch", s], counts.get(s, 0))
        yield g
        g = GaugeMetricFamily("pantau_poll_cycle_seconds", "Duration of the last SNMP poll cycle")
        if st.get("last_cycle_s") is not None:
            g.add_metric([], st["last_cycle_s"])
        yield g
        c = CounterMetricFamily("pantau_poll_cycles", "SNMP poll cycles run", labels=["job"])
        for job, n in (st.get("cycles") or {}).items():
            c.add_metric([job], n)
        yield c
        lag = st.get("loop_lag_ms") or {}
        yield _family(
            GaugeMetricFamily,
            "pantau_event_loop_lag_seconds",
            "How late the collector's event loop ran its callbacks over the last minute "
            "(an overloaded node: timeouts, probes and explainer rounds late)",
            "quantile",
            [(q, float(lag[q]) / 1000) for q in ("p50", "p99", "max") if q in lag],
        )
        yield _family(
            CounterMetricFamily,
            "pantau_gc_pause_seconds",
            "Time the collector stood still in garbage collections",
            "generation",
            [(gen, float(v.get("pause_s", 0.0))) for gen, v in sorted((st.get("gc") or {}).items())],
        )
        grid = st.get("grid") or {}
        main = grid.get("main") or {}
        ing = grid.get("ingest") or {}
        g = GaugeMetricFamily("pantau_ingest_lag_seconds", "Grid telemetry: age of the newest reading when written")
        if main.get("lag_s") is not None:
            g.add_metric([], float(main["lag_s"]))
        yield g
        g = GaugeMetricFamily("pantau_spool_backlog_bytes", "Grid spool bytes not yet in InfluxDB")
        g.add_metric([], float(ing.get("spool_backlog_bytes", 0)))
        yield g
        c = CounterMetricFamily("pantau_grid_messages", "Grid MQTT messages", labels=["outcome"])
        for k in ("received", "accepted", "dead"):
            c.add_metric([k], float(ing.get(k, 0)))
        yield c
        engine = st.get("engine") or {}
        c = CounterMetricFamily(
            "pantau_snmp_answers_refused",
            "SNMP answers refused: v3 below the requested "
            "security level (auth error), or unmatched (late, duplicated, spoofed)",
            labels=["reason"],
        )
        c.add_metric(["seclevel_mismatch"], float(engine.get("seclevel_mismatch", 0)))
        c.add_metric(["unmatched"], float(engine.get("unmatched", 0)))
        yield c
        traps = st.get("traps") or {}
        c = CounterMetricFamily(
            "pantau_traps_refused",
            "SNMP traps refused (bad community, unknown engine or user, "
            "wrong digest, below the user's security level, unknown source)",
            labels=["reason"],
        )
        for reason, n in sorted(
            {**(traps.get("rejected") or {}), "unknown_source": traps.get("unknown_source", 0)}.items()
        ):
            c.add_metric([reason], float(n))
        yield c
        influx = st.get("influx") or {}
        yield _family(
            GaugeMetricFamily,
            "pantau_influx_write_state",
            "What Pantau's writers last saw of InfluxDB (1 = current "
            "state): ok, unavailable, credentials_refused (InfluxDB refuses Pantau's credentials)",
            "state",
            [(s_, 1.0 if influx.get("state") == s_ else 0.0) for s_ in ("ok", "unavailable", "credentials_refused")],
        )
        g = GaugeMetricFamily("pantau_influx_credentials_refused", "1 while InfluxDB refuses Pantau's credentials")
        g.add_metric([], 1.0 if influx.get("state") == "credentials_refused" else 0.0)
        yield g
        sink = st.get("sink") or {}
        g = GaugeMetricFamily("pantau_queue_depth", "Points waiting to be written", labels=["queue"])
        g.add_metric(["sink"], float(sink.get("pending", 0)))
        yield g
        c = CounterMetricFamily(
            "pantau_sink_points", "Points written / dropped by the batching sink", labels=["outcome"]
        )
        c.add_metric(["written"], float(sink.get("written", 0)))
        c.add_metric(["dropped"], float(sink.get("dropped", 0)))
        yield c
        alerts = st.get("alerts") or {}
        c = CounterMetricFamily("pantau_webhook_failures", "Failed webhook delivery attempts", labels=["receiver"])
        for r, n in (alerts.get("failures") or {}).items():
            c.add_metric([r], float(n))
        yield c
        g = GaugeMetricFamily("pantau_outbox_pending", "Alert notifications not yet delivered", labels=["receiver"])
        for r, v in (alerts.get("outbox") or {}).items():
            g.add_metric([r], float(v.get("pending", 0)))
        yield g
        g = GaugeMetricFamily("pantau_incidents_open", "Open incidents by cause", labels=["cause"])
        counts = {}
        for i in d.open_incidents():
            if not i["merged_into"]:
                counts[i["cause"]] = counts.get(i["cause"], 0) + 1
        for cause in ("power_grid", "planned_maintenance", "network_uplink", "device", "service", "unknown"):
            g.add_metric([cause], counts.get(cause, 0))
        yield g
        g = GaugeMetricFamily("pantau_egov_up", "E-government service up (1) / down (0)", labels=["service"])
        for slug, v in (live.get("egov") or {}).items():
            g.add_metric([slug], 1.0 if v.get("state") in ("up", "degraded") else 0.0)
        yield g
        rl = self.app.state.ratelimit
        c = CounterMetricFamily("pantau_public_rate_limited", "Public requests refused by the rate limit")
        c.add_metric([], float(rl.limited))
        yield c
        c = CounterMetricFamily("pantau_public_cache_builds", "Rebuilds of the citizens' answers")
        c.add_metric([], float(self.app.state.public.builds))
        yield c


@router.get(
    "/metrics",
    summary="Prometheus metrics of Pantau's own health",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"example": "pantau_live_age_seconds 0.4\n"}}}},
)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)


def registry_for(data, app) -> CollectorRegistry:
    reg = CollectorRegistry()
    reg.register(LiveCollector(data, app))
    return reg
