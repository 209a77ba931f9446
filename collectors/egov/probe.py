"""Probes of the city's e-government services, on the declared ``egov`` schedule (APScheduler).

Each probe is one HTTP GET of the service URL (city data) and checks: the status code, the
latency, the TLS certificate's expiry (https), and the content (a keyword in the body, or a JSON
field holding an expected value). Results go to the sink as ``egov_probe`` points (InfluxDB: uptime
over 24 h / 7 d / 30 d is ``mean(up)``); the service's health (up / degraded / down, with failure
and success thresholds) is a :class:`~hotspots.health.HealthTracker` whose events the outage
explainer turns into incidents with cause ``service`` (root ``egov:<slug>``).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from pydantic import BaseModel, ConfigDict, Field

from collectors.schedule import Job, load_jobs, schedule
from collectors.sink import Point, Sink
from hotspots.datafile import DataFileError, read_yaml, validate
from hotspots.health import HealthEvent, HealthTracker
from hotspots.inventory import Inventory

log = logging.getLogger("pantau.egov")
CONFIG_FILE = Path(__file__).resolve().parent.parent / "egov.yaml"
RUNS = {"egov.probe"}


class ProbeDefaults(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    timeout_s: Annotated[float, Field(gt=0)] = 5.0
    fail_threshold: Annotated[int, Field(ge=1)] = 3
    success_threshold: Annotated[int, Field(ge=1)] = 2
    expect_status: list[Annotated[int, Field(ge=100, le=599)]] = [200]
    slow_ms: Annotated[float, Field(gt=0)] = 2000.0
    cert_warn_days: Annotated[float, Field(ge=0)] = 14.0


class ServiceProbe(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    timeout_s: Annotated[float, Field(gt=0)] | None = None
    expect_status: list[Annotated[int, Field(ge=100, le=599)]] | None = None
    slow_ms: Annotated[float, Field(gt=0)] | None = None
    cert_warn_days: Annotated[float, Field(ge=0)] | None = None
    keyword: str | None = None
    json_field: str | None = None
    json_equals: str | int | float | bool | None = None
    ca_file: str | None = None


class ProbeFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    defaults: ProbeDefaults = ProbeDefaults()
    services: dict[str, ServiceProbe] = {}


def probe_file_of(inv: Inventory) -> Path:
    """The probe file of a city: its own ``cities/<city>/egov.yaml`` when it has one (its services'
    overrides are checked against its services), else ``collectors/egov.yaml``."""
    if inv.source:
        own = Path(inv.source) / "egov.yaml"
        if own.is_file():
            return own
    return CONFIG_FILE


def load_probe_config(path: str | Path = CONFIG_FILE, known: set[str] | None = None) -> ProbeFile:
    data, lines = read_yaml(path)
    pf = validate(ProbeFile, data, lines)
    if known is not None:
        bad = [
            lines.problem(
                ("services", s), f"unknown e-government service {s!r}; the city has: {', '.join(sorted(known))}"
            )
            for s in pf.services
            if s not in known
        ]
        if bad:
            raise DataFileError(bad)
    return pf


def rebase(url: str, base: str | None) -> str:
    """Point a service URL at another scheme://host:port[/prefix] (scenario runs, tests, a
    simulator serving several cities under /<city>)."""
    if not base:
        return url
    b, u = urlsplit(base), urlsplit(url)
    return urlunsplit((b.scheme, b.netloc, b.path.rstrip("/") + u.path, u.query, u.fragment))


def json_path(doc, path: str):
    cur = doc
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise KeyError(path)
    return cur


class EgovProber:
    def __init__(
        self,
        inv,
        sink: Sink,
        *,
        config: ProbeFile | None = None,
        base_url: str | None = None,
        intervals: dict[str, float] | None = None,
        timeout_s: float | None = None,
        confirm: bool = True,
    ):
        self.inv = inv
        self.confirm = confirm  # re-probe a failure at once (see _confirm)
        self.sink = sink
        self.conf = config or load_probe_config(probe_file_of(inv), known=set(inv.egov))
        d = self.conf.defaults
        self.health = HealthTracker(d.fail_threshold, d.success_threshold)
        self.health.listeners.append(self._store_event)
        from collectors.snmp.collector import ALL_RUNS

        self.jobs = [j for j in load_jobs(known=ALL_RUNS, overrides=intervals) if j.runs in RUNS]
        self.base_url = base_url
        self.timeout_override = timeout_s
        self.last: dict[str, dict] = {}
        self.scheduler: AsyncIOScheduler | None = None
        self.probes = 0
        self._clients: dict[str | None, httpx.Client] = {}
        self._lock = threading.Lock()
        # probes run on threads of their own (see _fetch): enough for every service's probes in flight
        self._pool = ThreadPoolExecutor(
            max_workers=max(4, len(inv.egov) * self.health.fail_threshold), thread_name_prefix="egov-probe"
        )
        self._runs: set[asyncio.Task] = set()  # scheduled runs still waiting for their answers
        self._inflight: dict[str, int] = {}  # probes of each service waiting for their answer
        self._confirmers: dict[str, asyncio.Task] = {}  # services being confirmed after a failure
        self._last_sent: dict[str, float] = {}  # send time of the newest result taken, per service

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        self.scheduler = AsyncIOScheduler()
        schedule(self.scheduler, self.jobs, {"egov.probe": self._run_job})
        self.scheduler.start()
        log.info(
            "e-gov probes: %d services every %s", len(self.inv.egov), ", ".join(f"{j.interval_s:g}s" for j in self.jobs)
        )

    async def stop(self) -> None:
        if self.scheduler:
            self.scheduler.shutdown(wait=False)
        pending = list(self._confirmers.values()) + list(self._runs)
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._pool.shutdown(wait=False, cancel_futures=True)  # a probe waiting out its timeout ends with it
        for c in self._clients.values():
            c.close()

    async def _run_job(self, job: Job) -> None:
        # the run only starts the probes: one waiting out a (real-seconds) timeout must not make
        # the scheduler skip the next runs of every service (max_instances)
        task = asyncio.get_running_loop().create_task(self.gather())
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)

    async def gather(self) -> list[dict]:
        """One scheduled run: probe every service whose probes in flight are fewer than the fail
        threshold (a probe waiting out its timeout does not hold the next one: timeouts are real
        seconds, intervals may be scaled)."""
        slugs = [s for s in self.inv.egov if self._inflight.get(s, 0) < self.health.fail_threshold]
        results = await asyncio.gather(*(self._probe_tracked(s) for s in slugs), return_exceptions=True)
        out = []
        for slug, r in zip(slugs, results):
            if isinstance(r, Exception):  # a bug in one probe must not stop the others
                log.exception("probe of %s failed", slug, exc_info=r)
                continue
            out.append(r)
        return out

    async def _probe_tracked(self, slug: str) -> dict:
        self._inflight[slug] = self._inflight.get(slug, 0) + 1
        try:
            res = await self.probe(slug)
        finally:
            self._inflight[slug] -= 1
        h = self.health.get(f"egov:{slug}")
        if self.confirm and not res["ok"] and h.state != "down" and h.fails == 1 and slug not in self._confirmers:
            t = asyncio.get_running_loop().create_task(self._confirm(slug))
            self._confirmers[slug] = t
            t.add_done_callback(lambda _t, s=slug: self._confirmers.pop(s, None))
        return res

    async def _confirm(self, slug: str) -> None:
        """A failed probe of a service not yet down is confirmed at once: ``fail_threshold - 1``
        more probes spaced over one interval (at least 1 s apart), each sent without waiting for
        the one before (as the SNMP poller confirms), so an outage is known in about one interval
        plus one timeout instead of ``fail_threshold`` intervals; a good answer ends it."""
        interval = min((j.interval_s for j in self.jobs), default=30.0)
        delay = max(1.0, interval / max(1, self.health.fail_threshold))
        el = f"egov:{slug}"
        tasks = []
        try:
            for i in range(self.health.fail_threshold - 1):
                if i:
                    await asyncio.sleep(delay)
                h = self.health.get(el)
                if h.state == "down" or h.fails == 0:
                    break
                tasks.append(asyncio.get_running_loop().create_task(self._probe_tracked(slug)))
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            for t in tasks:
                t.cancel()

    # --- one probe ------------------------------------------------------------------------------
    def _client(self, ca_file: str | None) -> httpx.Client:
        with self._lock:
            c = self._clients.get(ca_file)
            if c is None:
                verify = ssl.create_default_context(cafile=ca_file) if ca_file else True
                c = self._clients[ca_file] = httpx.Client(
                    verify=verify, follow_redirects=True, headers={"User-Agent": "Pantau-probe/1"}
                )
            return c

    def _fetch(self, ca_file: str | None, url: str, timeout: float) -> tuple[httpx.Response, float, str | None]:
        """One request, timed on a probe thread of its own: the latency is the service's, not the
        wait of a busy collector's event loop for its turn (a node polling a city at time scale 10
        saw its loop run 0.2–1 s late and reported every service slow: false 'degraded')."""
        t0 = time.perf_counter()
        with self._client(ca_file).stream("GET", url, timeout=timeout) as r:
            stream = r.extensions.get("network_stream")  # the certificate, while the connection is ours
            sslobj = stream.get_extra_info("ssl_object") if stream is not None else None
            cert = sslobj.getpeercert() if sslobj is not None else None
            r.read()
        latency_ms = (time.perf_counter() - t0) * 1000
        return r, latency_ms, (cert or {}).get("notAfter")

    async def probe(self, slug: str) -> dict:
        svc = self.inv.egov[slug]
        d, o = self.conf.defaults, self.conf.services.get(slug) or ServiceProbe()
        timeout = self.timeout_override or o.timeout_s or d.timeout_s
        expect = o.expect_status or d.expect_status
        slow_ms = o.slow_ms or d.slow_ms
        warn_days = d.cert_warn_days if o.cert_warn_days is None else o.cert_warn_days
        keyword = o.keyword or svc.keyword
        url = rebase(svc.url, self.base_url)
        el = f"egov:{slug}"
        t0 = time.perf_counter()
        at = time.time()
        res = {
            "service": slug,
            "at": at,
            "url": url,
            "ok": False,
            "status_code": None,
            "latency_ms": None,
            "cert_days_left": None,
            "error": "",
            "problems": [],
        }
        try:
            loop = asyncio.get_running_loop()
            r, latency_ms, not_after = await loop.run_in_executor(self._pool, self._fetch, o.ca_file, url, timeout)
            res["latency_ms"] = round(latency_ms, 1)
            res["status_code"] = r.status_code
            if not_after:
                res["cert_days_left"] = round((ssl.cert_time_to_seconds(not_after) - at) / 86400, 2)
            if r.status_code not in expect:
                res["error"] = f"HTTP {r.status_code}"
            elif keyword and keyword not in r.text:
                res["error"] = f"keyword {keyword!r} missing from the answer"
            elif o.json_field:
                try:
                    val = json_path(r.json(), o.json_field)
                except (ValueError, KeyError):
                    res["error"] = f"JSON field {o.json_field!r} missing"
                else:
                    if o.json_equals is not None and val != o.json_equals:
                        res["error"] = f"JSON field {o.json_field!r} is {val!r}, expected {o.json_equals!r}"
            if not res["error"]:
                res["ok"] = True
                if res["latency_ms"] > slow_ms:
                    res["problems"].append(f"slow answer {res['latency_ms']:.0f} ms")
                if res["cert_days_left"] is not None and res["cert_days_left"] < warn_days:
                    res["problems"].append(f"TLS certificate expires in {res['cert_days_left']:.1f} days")
        except httpx.TimeoutException:
            res["error"] = f"timeout after {timeout:g} s"
        except httpx.HTTPError as exc:
            res["error"] = f"{type(exc).__name__}: {exc}"[:200]
        except ssl.SSLError as exc:
            res["error"] = f"TLS: {exc}"[:200]
        if res["latency_ms"] is None:
            res["latency_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        self.probes += 1
        if at < self._last_sent.get(slug, 0.0):
            # overtaken by a newer probe's answer (an old one timing out after the service came
            # back): points are history, but health follows the newest answer only
            res["stale"] = True
        else:
            self._last_sent[slug] = at
            self.last[slug] = res
            self.health.observe(el, res["ok"], at, res["error"], res["problems"])
        fields = {"up": int(res["ok"]), "latency_ms": float(res["latency_ms"])}
        if res["status_code"] is not None:
            fields["status_code"] = int(res["status_code"])
        if res["cert_days_left"] is not None:
            fields["cert_days_left"] = float(res["cert_days_left"])
        self.sink.write([Point("egov_probe", {"service": slug, "city": self.inv.city}, fields, int(at * 1e9))])
        return res

    def _store_event(self, ev: HealthEvent) -> None:
        if ev.kind != "state":
            return
        self.sink.write(
            [
                Point(
                    "egov_event",
                    {"service": ev.element.partition(":")[2], "city": self.inv.city},
                    {"old": ev.old, "new": ev.new, "reason": ev.reason},
                    int(ev.at * 1e9),
                )
            ]
        )

    def status(self) -> dict:
        out = {}
        for slug, svc in self.inv.egov.items():
            h = self.health.get(f"egov:{slug}")
            last = self.last.get(slug, {})
            out[slug] = {
                "name": svc.name,
                "state": h.state,
                "since": h.since or None,
                "last_probe": last.get("at"),
                "status_code": last.get("status_code"),
                "latency_ms": last.get("latency_ms"),
                "cert_days_left": last.get("cert_days_left"),
                "error": last.get("error", ""),
                "problems": list(h.reasons),
                "sla_days": svc.sla_days,
            }
        return out
