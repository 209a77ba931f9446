"""InfluxDB access: the only code in Pantau that speaks to InfluxDB.

The default backend uses InfluxDB's v1 HTTP API — line protocol to ``/write``, InfluxQL through
``/query``, Basic auth — the subset that works on 1.x (Debian's 1.6.7), 2.4+ (a bucket is
queryable through its DBRP mapping; the 1.x-compatible ``/write`` and ``/query`` endpoints) and
3.x. Version-specific set-up (databases, retention, downsampling) lives in
:mod:`store.provision`.

Collectors never import this module: they write :class:`~store.lineprotocol.Point` objects to
a sink (:mod:`store.sink`) or line protocol to a durable spool sink (:mod:`store.spool`), which the
store builds from an :class:`InfluxConf` (``InfluxConf.client()`` is the one way to an
:class:`InfluxV1`, for writers and for the API's history reader alike).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterable

import httpx

from store.lineprotocol import Point


class InfluxError(RuntimeError):
    """InfluxDB refused a request (bad data, bad query, auth). Not worth retrying as is."""


class InfluxUnavailable(InfluxError):
    """InfluxDB could not be reached or answered 5xx: retry later."""


class InfluxAuthRefused(InfluxUnavailable):
    """InfluxDB refuses Pantau's credentials (401/403).

    An outage, not bad data: writers keep what they hold (spool / buffer) and retry, so everything
    arrives once the credential is fixed. It is a kind of :class:`InfluxUnavailable` so that every
    retry loop treats it as one; status reports tell it apart (``InfluxState``)."""


REFUSED_CREDENTIALS = "InfluxDB refuses Pantau's credentials"


@dataclass(frozen=True)
class InfluxConf:
    """Where InfluxDB is and who Pantau is to it: 1.x user/password (Basic auth), or a 2.x/3.x token
    sent as ``Authorization: Token …`` on the v1-compatible ``/write`` and ``/query`` endpoints."""

    url: str = "http://127.0.0.1:8086"
    database: str = "pantau"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    retention_policy: str | None = None

    def __repr__(self) -> str:  # never print the secrets
        return (
            f"InfluxConf(url={self.url!r}, database={self.database!r}, username={self.username!r}, "
            f"password={'***' if self.password else None}, token={'***' if self.token else None})"
        )

    def client(self, timeout: float = 10.0) -> "InfluxV1":
        return InfluxV1(
            self.url,
            self.database,
            self.username,
            self.password,
            self.retention_policy,
            timeout=timeout,
            token=self.token,
        )

    def as_dict(self) -> dict:
        """For handing to a child process (secrets included: pass it over a pipe, never argv)."""
        return {
            "url": self.url,
            "database": self.database,
            "username": self.username,
            "password": self.password,
            "token": self.token,
            "retention_policy": self.retention_policy,
        }


class InfluxState:
    """What a writer last saw of InfluxDB: ``ok``, ``unavailable`` or ``credentials_refused``.
    ``set`` returns True when the state changed (log once per change, not once per retry)."""

    OK, UNAVAILABLE, REFUSED = "ok", "unavailable", "credentials_refused"

    def __init__(self) -> None:
        self.state = self.OK
        self.detail = ""
        self.since = time.time()

    def set(self, state: str, detail: str = "") -> bool:
        changed = state != self.state
        if changed:
            self.state, self.since = state, time.time()
        self.detail = detail
        return changed

    @classmethod
    def of(cls, exc: BaseException) -> str:
        return cls.REFUSED if isinstance(exc, InfluxAuthRefused) else cls.UNAVAILABLE

    @classmethod
    def worst(cls, states: Iterable[dict]) -> dict:
        """The worst of several writers' ``as_dict()`` states: refused, then unavailable, then ok."""
        order = {cls.REFUSED: 0, cls.UNAVAILABLE: 1, cls.OK: 2}
        return min(states, key=lambda s: order.get(s["state"], 1))

    def as_dict(self) -> dict:
        return {"state": self.state, "since": self.since, "detail": self.detail[:300]}


@dataclass
class QueryResult:
    """One InfluxQL statement's series: ``[{name, tags, columns, values}]``."""

    series: list[dict[str, Any]]

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for s in self.series:
            for v in s.get("values", []):
                row = dict(zip(s["columns"], v))
                row.update(s.get("tags") or {})
                out.append(row)
        return out


class InfluxV1:
    """Minimal, correct client for the v1 HTTP API (thread-safe; one connection pool)."""

    def __init__(
        self,
        url: str,
        database: str,
        username: str | None = None,
        password: str | None = None,
        retention_policy: str | None = None,
        timeout: float = 10.0,
        token: str | None = None,
    ):
        self.url = url.rstrip("/")
        self.database = database
        self.retention_policy = retention_policy
        auth = (username, password or "") if username else None
        headers = {"Authorization": f"Token {token}"} if token else None
        self._client = httpx.Client(base_url=self.url, auth=auth, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _request(self, method: str, path: str, **kw) -> httpx.Response:
        try:
            r = self._client.request(method, path, **kw)
        except httpx.TransportError as exc:
            raise InfluxUnavailable(f"InfluxDB at {self.url} unreachable: {exc}") from exc
        if r.status_code >= 500:
            raise InfluxUnavailable(f"InfluxDB {path} answered {r.status_code}: {r.text[:300]}")
        if r.status_code in (401, 403):
            raise InfluxAuthRefused(f"{REFUSED_CREDENTIALS} ({r.status_code} on {path}): {r.text[:200]}")
        if r.status_code == 404 and "database not found" in r.text:
            # Not bad data either: the database is missing (provisioning, a typo in the setting).
            raise InfluxUnavailable(f"InfluxDB {path}: {r.text[:200]} (PANTAU_INFLUX_DATABASE={self.database!r})")
        if r.status_code >= 400:
            raise InfluxError(f"InfluxDB {path} refused the request ({r.status_code}): {r.text[:500]}")
        return r

    def ping(self) -> bool:
        try:
            return self._client.get("/ping").status_code == 204
        except httpx.TransportError:
            return False

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ping():
                return
            time.sleep(0.1)
        raise InfluxUnavailable(f"InfluxDB at {self.url} not ready after {timeout}s")

    def write_lines(self, lines: Iterable[str] | bytes, precision: str = "ns") -> None:
        body = lines if isinstance(lines, bytes) else "\n".join(lines).encode()
        if not body:
            return
        params = {"db": self.database, "precision": precision}
        if self.retention_policy:
            params["rp"] = self.retention_policy
        self._request("POST", "/write", params=params, content=body)

    def write(self, points: Iterable[Point], precision: str = "ns") -> None:
        self.write_lines((p.to_line() for p in points), precision)

    def query(self, q: str, epoch: str | None = "ns", database: str | None = None) -> list[QueryResult]:
        """Run InfluxQL; returns one QueryResult per statement. Statement errors raise InfluxError."""
        params = {"q": q, "db": database or self.database}
        if epoch:
            params["epoch"] = epoch
        method = "GET" if q.lstrip().upper().startswith(("SELECT", "SHOW")) else "POST"
        r = self._request(method, "/query", params=params)
        body = r.json()
        if "error" in body:
            raise InfluxError(body["error"])
        out = []
        for res in body.get("results", []):
            if "error" in res:
                raise InfluxError(f"{res['error']} (in: {q[:200]})")
            out.append(QueryResult(res.get("series", [])))
        return out

    def query_rows(self, q: str, **kw) -> list[dict[str, Any]]:
        res = self.query(q, **kw)
        return res[0].rows() if res else []

    def server_version(self) -> str:
        r = self._client.get("/ping")
        return r.headers.get("X-Influxdb-Version", "unknown")


def quote_ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
