"""Delivery of the outbox: POST each notification until its receiver accepts it.

- Signed: ``X-Pantau-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`` with
  ``X-Pantau-Timestamp`` (receivers check both, refusing old timestamps against replays).
- ``X-Pantau-Delivery`` is the notification's id (an idempotency key for receivers).
- Per receiver in order: a failing oldest notification holds the later ones back.
- Retries with exponential backoff and jitter (``retry_min_s`` … ``retry_max_s``) on connection
  errors, timeouts, 5xx, 408 and 429 — for as long as it takes; the outbox is on disk, so neither a
  receiver down for hours nor Pantau restarting loses an alert. Any other 4xx is a configuration
  error: kept, counted as failed, retried at the slowest pace.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import time

import httpx

from alerts.config import ReceiverFile, expand_url, redact_url, secret
from alerts.router import AlertRouter
from store.state import StateDB

log = logging.getLogger("pantau.alerts")
INTERNAL = ("X-Pantau-Group-", "X-Pantau-Firing")


def sign(key: str, ts: str, body: bytes) -> str:
    return "sha256=" + hmac.new(key.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()


class AlertDelivery:
    def __init__(self, conf: ReceiverFile, state: StateDB, router: AlertRouter, tick_s: float = 0.5):
        self.conf = conf
        self.state = state
        self.router = router
        self.tick_s = tick_s
        self.client = httpx.AsyncClient()
        self.sent = 0
        self.failures: dict[str, int] = {r.name: 0 for r in conf.receivers}
        self._down: dict[str, bool] = {}
        self._task: asyncio.Task | None = None
        self.active = True  # routes and delivers only while this node's explainer is the city's active one

    def set_active(self, active: bool, incidents: list[dict]) -> None:
        """This node's explainer became (or stopped being) the city's active one. Becoming active,
        the router starts from what the outbox says each group last sent and from the current
        incidents: what the previous node had not sent yet goes out once, what it sent does not."""
        self.active = active
        if active:
            self.router.reset()
            self.router.on_incidents(incidents)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            if self.active:
                self.router.flush()
        except Exception:
            log.exception("final alert flush failed")
        await self.client.aclose()

    async def _run(self) -> None:
        while True:
            try:
                if not self.active:
                    await asyncio.sleep(self.tick_s)
                    continue
                self.router.flush()
                await self.deliver_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("alert delivery round failed (retried)")
            await asyncio.sleep(self.tick_s)

    async def deliver_due(self) -> int:
        receivers = {r.name: r for r in self.conf.receivers}
        blocked: set[str] = set()
        done = 0
        now = time.time()
        # The outbox is SQLite: its calls run in the thread pool, never on the loop that also runs
        # the collectors and the explainer (StateDB serialises them with its own lock).
        for row in await asyncio.to_thread(self.state.undelivered):
            r = receivers.get(row["receiver"])
            if r is None or row["receiver"] in blocked:
                continue
            if row["next_at"] > now:
                blocked.add(r.name)  # its oldest is waiting out a backoff: the later ones wait too
                continue
            ok = await self._send(r, row)
            if ok:
                done += 1
            else:
                blocked.add(r.name)  # keep this receiver's order: later ones wait for this one
        return done

    async def _send(self, r, row) -> bool:
        body = row["body"]
        headers = {k: v for k, v in row["headers"].items() if not k.startswith(INTERNAL)}
        ts = str(int(time.time()))
        headers["X-Pantau-Delivery"] = row["id"]
        headers["X-Pantau-Timestamp"] = ts
        if r.hmac_secret:
            headers["X-Pantau-Signature"] = sign(secret(self.conf, r.hmac_secret), ts, body)
        err, retry = "", True
        try:
            resp = await self.client.post(
                expand_url(self.conf, r.url), content=body, headers=headers, timeout=r.timeout_s
            )
            if 200 <= resp.status_code < 300:
                await asyncio.to_thread(self.state.delivered, row["id"])
                self.sent += 1
                if self._down.pop(r.name, False):
                    log.warning("receiver %s accepts notifications again", r.name)
                return True
            err = f"HTTP {resp.status_code}"
            retry = resp.status_code >= 500 or resp.status_code in (408, 429)
        except httpx.HTTPError as exc:
            err = f"{type(exc).__name__}: {exc}"
        self.failures[r.name] = self.failures.get(r.name, 0) + 1
        attempts = row["attempts"] + 1
        delay = r.retry_max_s if not retry else min(r.retry_max_s, r.retry_min_s * 2 ** min(attempts - 1, 20))
        delay *= random.uniform(0.8, 1.0)
        await asyncio.to_thread(self.state.failed, row["id"], time.time() + delay, err)
        if not self._down.get(r.name):
            self._down[r.name] = True
            log.warning(
                "receiver %s (%s) failed: %s; notification kept, retrying with backoff", r.name, redact_url(r.url), err
            )
        return False

    def status(self) -> dict:
        return {
            "sent": self.sent,
            "failures": dict(self.failures),
            "outbox": self.state.outbox_stats(),
            "groups": len(self.router.groups),
            "suppressed": self.router.suppressed,
        }
