"""The grid ingest pipeline: MQTT messages in, spooled line protocol + grid evidence out.

One :class:`Ingest` per process (the main collector, and each shared-subscription worker):

    session.take() → process(batch) → spool.append + dead letters → commit (fsync) → ack → evidence

``process`` is pure CPU: it routes each message by topic (telemetry, maintenance notice, gateway
status, Sparkplug B), validates it, and turns it into line protocol, evidence for the grid state,
or a dead letter with its reason. Nothing raises out of it: one bad message never stops the rest.
``run`` is the loop; acknowledgement waits for the fsync, and while the spool is full nothing is
acknowledged (the broker keeps the messages).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from collectors.grid.config import GridConfig
from collectors.grid.deadletters import DeadLetters
from collectors.grid.mqtt import MqttSession, Msg
from collectors.grid.payloads import Rejected, Validator
from collectors.grid.sparkplug import SparkplugHost
from collectors.grid.state import Notice, Reading
from collectors.sink import DurableSink
from store.lineprotocol import encode_field_value, encode_line

log = logging.getLogger("pantau.grid.ingest")


@dataclass
class Outcome:
    lines: list[str] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    notices: list[tuple[str, Notice | None]] = field(default_factory=list)  # (element, notice or withdrawn)
    gateways: list[tuple[str, bool, float]] = field(default_factory=list)  # (gateway, online, at)
    stale: list[str] = field(default_factory=list)
    rebirths: list[tuple[str, str]] = field(default_factory=list)
    dead: int = 0


class Ingest:
    def __init__(
        self,
        cfg: GridConfig,
        inv,
        spool: DurableSink,
        dead: DeadLetters,
        sparkplug: SparkplugHost | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.cfg = cfg
        self.inv = inv
        self.spool = spool
        self.dead = dead
        self.sparkplug = sparkplug
        self.clock = clock
        self.validator = Validator(cfg, inv, clock)
        self.t_telemetry = cfg.telemetry
        self.t_maint = cfg.maintenance
        self.t_status = cfg.gateway_status
        self._prefix: dict[tuple[str, str], str] = {}
        self.received = 0
        self.accepted = 0
        self.dead_count = 0
        self.last_lag_s = 0.0
        self.commit_s = 0.0

    # --- line protocol --------------------------------------------------------------------------
    def _tags(self, element: str, source: str) -> str:
        key = (element, source)
        p = self._prefix.get(key)
        if p is None:
            kind, _, ident = element.partition(":")
            tags = {"element": element, "kind": kind, "id": ident, "city": self.inv.city, "source": source}
            if kind == "feeder":
                tags["substation"] = self.inv.feeders[ident].substation
            else:
                t = self.inv.transformers[ident]
                tags.update(
                    feeder=t.feeder,
                    substation=self.inv.feeders[t.feeder].substation,
                    kecamatan=t.kecamatan,
                    kelurahan=t.kelurahan,
                )
            line = encode_line("grid_telemetry", tags, {"x": 1})
            p = line[: line.rfind(" ")]
            self._prefix[key] = p
        return p

    def line_of(self, r: Reading) -> str:
        fields = []
        for name in ("voltage_v", "current_a", "frequency_hz"):
            v = getattr(r, name)
            if v is not None:
                fields.append(f"{name}={encode_field_value(float(v))}")
        if r.breaker_closed is not None:
            fields.append(f"breaker_closed={'true' if r.breaker_closed else 'false'}")
        if r.seq is not None:
            fields.append(f"seq={int(r.seq)}i")
        if not fields:
            fields.append("empty=true")
        return f"{self._tags(r.element, r.source)} {','.join(fields)} {round(r.ts * 1000) * 1_000_000}"

    # --- routing --------------------------------------------------------------------------------
    def process(self, batch: list[Msg]) -> Outcome:
        out = Outcome()
        now = self.clock()
        lag = 0.0
        for m in batch:
            self.received += 1
            try:
                self._one(m, out, now)
            except Rejected as r:
                self.dead.add(m.topic, m.payload, r.reason, r.detail)
                out.dead += 1
            except Exception as exc:  # a bug must cost one message, not the stream; keep it to inspect
                log.exception("grid message on %s failed unexpectedly", m.topic)
                self.dead.add(m.topic, m.payload, "internal_error", repr(exc))
                out.dead += 1
        for r in out.readings:
            lag = max(lag, now - r.ts)
        self.last_lag_s = lag
        self.accepted += len(out.readings)
        self.dead_count += out.dead
        return out

    def _one(self, m: Msg, out: Outcome, now: float) -> None:
        topic = m.topic
        tags = self.t_telemetry.parse(topic)
        if tags is not None:
            r = self.validator.telemetry(tags, m.payload)
            out.readings.append(r)
            out.lines.append(self.line_of(r))
            return
        tags = self.t_maint.parse(topic)
        if tags is not None:
            n = self.validator.notice(tags, m.payload)
            element = self.validator.element_of(tags)
            out.notices.append((element, n))
            if n is not None:
                fields = {"id": n.id, "start_s": n.start, "end_s": n.end, "reason": n.reason, "issuer": n.issuer}
                out.lines.append(
                    encode_line(
                        "grid_maintenance",
                        {"element": element, "city": self.inv.city},
                        fields,
                        round((n.issued_at or now) * 1000) * 1_000_000,
                    )
                )
            return
        tags = self.t_status.parse(topic)
        if tags is not None:
            text = m.payload.decode("utf-8", "replace").strip().lower()
            if text not in ("online", "offline"):
                raise Rejected("schema", f"gateway status must be 'online' or 'offline', got {text[:40]!r}")
            gw = tags.get("gateway", "")
            out.gateways.append((gw, text == "online", now))
            out.lines.append(
                encode_line(
                    "grid_gateway",
                    {"gateway": gw, "city": self.inv.city},
                    {"online": text == "online"},
                    round(now * 1000) * 1_000_000,
                )
            )
            return
        if self.sparkplug and topic.startswith(self.sparkplug.ns + "/"):
            res = self.sparkplug.handle(topic, m.payload)
            if res.rebirth:
                out.rebirths.append(res.rebirth)
            out.stale += res.stale
            for r in res.readings:
                out.readings.append(r)
                out.lines.append(self.line_of(r))
            if res.rejected:
                raise res.rejected
            return
        raise Rejected("bad_topic", f"no grid topic matches {topic!r}")

    # --- the loop -------------------------------------------------------------------------------
    def commit(self) -> None:
        t0 = time.perf_counter()
        self.spool.commit()
        self.dead.commit()
        self.commit_s = time.perf_counter() - t0

    async def run(self, session: MqttSession, on_outcome: Callable[[Outcome], None], batch_s: float = 0.02) -> None:
        loop = asyncio.get_running_loop()
        full_logged = False
        while True:
            batch = await session.take(timeout=0.25)
            if not batch:
                continue
            out = self.process(batch)
            self.spool.append(out.lines)
            while self.spool.full:
                if not full_logged:
                    log.error(
                        "spool %s full (%d bytes): not acknowledging; the broker keeps the messages",
                        self.spool.dir,
                        self.spool.backlog_bytes,
                    )
                    full_logged = True
                await asyncio.sleep(0.5)
            full_logged = False
            await loop.run_in_executor(None, self.commit)
            session.ack(batch)
            try:
                on_outcome(out)
            except Exception:
                log.exception("grid evidence handler failed")
            if len(batch) < 100:
                await asyncio.sleep(batch_s)  # light load: let a few more arrive per fsync

    def stats(self) -> dict:
        return {
            "received": self.received,
            "accepted": self.accepted,
            "dead": self.dead_count,
            "dead_by_reason": dict(self.dead.counts),
            "spool_backlog_bytes": self.spool.backlog_bytes,
            "lag_s": round(self.last_lag_s, 3),
            "commit_ms": round(self.commit_s * 1000, 2),
        }
