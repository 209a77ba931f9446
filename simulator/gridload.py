"""Grid telemetry load for benchmarks and fault tests: many feeders/transformers publishing QoS 1.

Two publishers:
- :class:`LinePublishers` — one ``mosquitto_pub -l -q 1`` per element (C, cheap: ~28,000 msg/s
  here), paced from Python. For throughput: what counts as published is what was written to a
  publisher that then exited cleanly (it waits for every PUBACK).
- :class:`AckedPublisher` — a paho publisher in its own process that counts a message as published
  only when the broker acknowledged it (PUBACK), and keeps retrying across broker restarts. For
  fault tests, where "published" must mean "the broker took it".

Every message gets a unique (element, ts) so InfluxDB's count equals the number of distinct
messages that arrived; duplicates (redeliveries) collapse onto the same point.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import time
from datetime import datetime, timezone


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def elements_of(inv, n: int | None = None) -> list[str]:
    els = [f"feeder:{f}" for f in inv.feeders] + [f"transformer:{t}" for t in inv.transformers]
    return els[:n] if n else els


def payload(inv, element: str, ms: int, seq: int, energized: bool = True) -> str:
    kind, _, ident = element.partition(":")
    nominal = 20000.0 if kind == "feeder" else 230.0
    d = {
        "element": element,
        "ts": iso_ms(ms),
        "voltage_v": nominal * (1.0 + (seq % 7) / 1000) if energized else 0.4,
        "current_a": 100.0 + seq % 50 if energized else 0.0,
        "frequency_hz": 50.0 if energized else 0.0,
        "breaker": "closed",
        "seq": seq,
        "gateway": "loadgen",
    }
    if kind == "feeder":
        d["substation"] = inv.feeders[ident].substation
    else:
        d["feeder"] = inv.transformers[ident].feeder
    return json.dumps(d, separators=(",", ":"))


def topic(city: str, element: str) -> str:
    kind, _, ident = element.partition(":")
    return f"pantau/{city}/grid/{kind}/{ident}/telemetry"


class Stamper:
    """Unique, increasing millisecond timestamps per element."""

    def __init__(self):
        self.last: dict[str, int] = {}

    def __call__(self, element: str) -> int:
        ms = int(time.time() * 1000)
        prev = self.last.get(element, 0)
        if ms <= prev:
            ms = prev + 1
        self.last[element] = ms
        return ms


class LinePublishers:
    def __init__(self, inv, port: int, elements: list[str], host: str = "127.0.0.1", client_prefix: str = "load"):
        if not shutil.which("mosquitto_pub"):
            raise RuntimeError("mosquitto_pub not found (Debian package mosquitto-clients)")
        self.inv = inv
        self.elements = elements
        self.stamp = Stamper()
        self.seq = 0
        self.procs = {}
        for i, el in enumerate(elements):
            self.procs[el] = subprocess.Popen(
                [
                    "mosquitto_pub",
                    "-h",
                    host,
                    "-p",
                    str(port),
                    "-q",
                    "1",
                    "-l",
                    "-t",
                    topic(inv.city, el),
                    "-i",
                    f"{client_prefix}-{os.getpid()}-{i}",
                    "-V",
                    "mqttv311",
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        self.written = 0
        self._i = 0

    def send(self, n: int) -> list[tuple[str, int]]:
        """Write the next ``n`` messages round-robin; returns their (element, ts_ms)."""
        sent = []
        els = self.elements
        for _ in range(n):
            el = els[self._i % len(els)]
            self._i += 1
            self.seq += 1
            ms = self.stamp(el)
            self.procs[el].stdin.write((payload(self.inv, el, ms, self.seq) + "\n").encode())
            sent.append((el, ms))
        for el in set(e for e, _ in sent):
            self.procs[el].stdin.flush()
        self.written += n
        return sent

    def paced(self, rate: float, seconds: float, on_tick=None) -> int:
        """Send at ``rate`` msg/s for ``seconds``; returns how many were written."""
        t0 = time.perf_counter()
        done = 0
        while True:
            el = time.perf_counter() - t0
            if el >= seconds:
                break
            due = int(rate * el) - done
            if due > 0:
                sent = self.send(min(due, 2000))
                done += len(sent)
                if on_tick:
                    on_tick(sent)
            else:
                time.sleep(0.002)
        return done

    def close(self, timeout: float = 60) -> bool:
        ok = True
        for p in self.procs.values():
            try:
                p.stdin.close()
            except BrokenPipeError:
                ok = False
        for p in self.procs.values():
            try:
                if p.wait(timeout) != 0:
                    ok = False
            except subprocess.TimeoutExpired:
                p.kill()
                ok = False
        return ok


def bad_payload(inv, element: str, k: int) -> tuple[str, bytes]:
    """The k-th kind of malformed message (cycling through every reason Pantau knows)."""
    ms = int(time.time() * 1000)
    good = json.loads(payload(inv, element, ms, k))
    variants = [
        ("invalid_json", json.dumps(good)[:40].encode()),
        ("invalid_json", b"\xff\xfe\x00garbage"),
        ("clock_skew", json.dumps({**good, "ts": "2025-01-01T00:00:00.000Z"}).encode()),
        ("not_finite", json.dumps(good).replace(str(good["voltage_v"]), "NaN", 1).encode()),
        ("absurd_value", json.dumps({**good, "voltage_v": -40.0}).encode()),
        ("topic_mismatch", json.dumps({**good, "element": "feeder:ZZZ-99"}).encode()),
        ("oversize", json.dumps({**good, "gateway": "x" * 6000}).encode()),
        ("schema", json.dumps({k2: v for k2, v in good.items() if k2 != "breaker"}).encode()),
        ("schema", json.dumps({**good, "current_a": "12"}).encode()),
    ]
    return variants[k % len(variants)]


def _acked_publisher(
    port: int,
    city_path: str,
    elements: list[str],
    rate: float,
    seconds: float,
    bad_every: int,
    result_q,
    stop_ev,
    client_id: str,
    count: int | None,
) -> None:
    import paho.mqtt.client as mqtt

    from hotspots.inventory import load_inventory

    inv = load_inventory(city_path)
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(200)
    c.max_queued_messages_set(0)
    import threading

    inflight: dict[int, tuple[str, int]] = {}
    early: set[int] = set()  # PUBACKs that beat the bookkeeping of their publish (paho's thread is quick)
    acked: list[tuple[str, int]] = []
    bad_acked = [0]
    lock = threading.Lock()

    def on_publish(client, userdata, mid, reason, props):
        with lock:
            item = inflight.pop(mid, None)
            if item is None:
                early.add(mid)
                return
        _count(item)

    def _count(item):
        if item[0] == "bad":
            bad_acked[0] += 1
        else:
            acked.append(item)

    def track(mid: int, item) -> None:
        with lock:
            if mid in early:
                early.discard(mid)
            else:
                inflight[mid] = item
                return
        _count(item)

    c.on_publish = on_publish
    c.reconnect_delay_set(0.1, 1.0)
    while True:
        try:
            c.connect("127.0.0.1", port, keepalive=5, clean_start=False)
            break
        except OSError:
            time.sleep(0.2)
    c.loop_start()
    stamp = Stamper()
    t0 = time.perf_counter()
    sent = 0
    seq = 0
    while time.perf_counter() - t0 < seconds and not stop_ev.is_set() and (count is None or sent < count):
        due = int(rate * (time.perf_counter() - t0)) - sent
        if due <= 0 or len(inflight) > 5000:
            time.sleep(0.002)
            continue
        for _ in range(min(due, 200, (count - sent) if count else 200)):
            sent += 1
            if bad_every and sent % bad_every == 0:
                el = elements[sent % len(elements)]
                _, b = bad_payload(inv, el, sent // bad_every)
                info = c.publish(topic(inv.city, el), b, qos=1)
                track(info.mid, ("bad", 0))
                continue
            el = elements[sent % len(elements)]
            seq += 1
            ms = stamp(el)
            info = c.publish(topic(inv.city, el), payload(inv, el, ms, seq), qos=1)
            track(info.mid, (el, ms))
    deadline = time.time() + 60
    while inflight and time.time() < deadline:
        time.sleep(0.05)
    c.loop_stop()
    c.disconnect()
    result_q.put({"acked": acked, "bad_acked": bad_acked[0], "unacked": len(inflight), "sent": sent})


class AckedPublisher:
    """Runs :func:`_acked_publisher` in a child process; ``result()`` → what the broker acknowledged."""

    def __init__(
        self,
        port: int,
        city_path: str,
        elements: list[str],
        rate: float,
        seconds: float,
        bad_every: int = 0,
        client_id: str = "pantau-loadgen",
        count: int | None = None,
    ):
        ctx = multiprocessing.get_context("spawn")
        self.q = ctx.Queue()
        self.stop_ev = ctx.Event()
        self.proc = ctx.Process(
            target=_acked_publisher,
            args=(port, city_path, elements, rate, seconds, bad_every, self.q, self.stop_ev, client_id, count),
            daemon=True,
        )
        self.proc.start()

    def result(self, timeout: float = 180) -> dict:
        r = self.q.get(timeout=timeout)
        self.proc.join(10)
        return r
