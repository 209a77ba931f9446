#!/usr/bin/env python3
"""Grid ingest speed: QoS 1 telemetry through real Mosquitto into Pantau into real InfluxDB.

N simulated feeders/transformers (one ``mosquitto_pub -l -q 1`` each, paced from here) publish at
a rising rate. Each step lasts ``--step-seconds``; then the bench waits for the step's messages
to become queryable and counts them in InfluxDB (every message has a unique element + timestamp,
so count in InfluxDB = distinct messages that arrived). Latency publish → queryable is sampled on
one probe element by polling InfluxDB every 50 ms. A step is *sustained* when nothing is lost
(count = published), p99 ≤ 2 s and the publishers kept the offered rate.

Side by side in the same run: ``mosquitto_sub -q 1`` draining a burst of the same messages (the
broker's own limit on this machine).

Pantau runs as ``pantau collect --no-snmp`` (one process, the default), or with ``--workers W`` as
``--grid-workers W`` (W more processes on a shared subscription).

Usage: bench/mqtt_ingest.py [--rates 2000,4000,...] [--step-seconds 10] [--workers 0] [--elements 393]
Ends with: RESULT sustained_msgs_per_s=… lost=… p99_s=… mosquitto_sub_msgs_per_s=…
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hotspots.inventory import load_inventory, resolve_city  # noqa: E402
from pantau import services  # noqa: E402
from simulator.gridload import LinePublishers, elements_of  # noqa: E402
from store.provision import provision_v1  # noqa: E402
from store.timeseries import InfluxV1  # noqa: E402


class Prober(threading.Thread):
    """Polls InfluxDB for the newest visible point of the probe element; turns that into latencies."""

    def __init__(self, db: InfluxV1, element: str):
        super().__init__(daemon=True)
        self.db, self.element = db, element
        self.pending: list[int] = []  # probe ts (ms) published, not yet seen
        self.samples: list[float] = []
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()

    def published(self, sent):
        with self.lock:
            self.pending += [ms for el, ms in sent if el == self.element]

    def run(self):
        q = f"SELECT last(seq) FROM grid_telemetry WHERE element='{self.element}' AND time > now() - 10m"
        while not self.stop_ev.wait(0.05):
            try:
                rows = self.db.query(q, epoch="ms")[0].rows()
            except Exception:
                continue
            if not rows:
                continue
            newest = rows[0]["time"]
            now_ms = time.time() * 1000
            with self.lock:
                seen = [ms for ms in self.pending if ms <= newest]
                self.pending = [ms for ms in self.pending if ms > newest]
                self.samples += [(now_ms - ms) / 1000 for ms in seen]

    def take(self) -> list[float]:
        with self.lock:
            s, self.samples = self.samples, []
        return s


def count_between(db: InfluxV1, t0_ms: int, t1_ms: int) -> int:
    rows = db.query(f"SELECT count(seq) FROM grid_telemetry WHERE time >= {t0_ms}ms AND time <= {t1_ms}ms", epoch="ms")[
        0
    ].rows()
    return int(rows[0]["count"]) if rows else 0


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def mosquitto_sub_rate(port: int, inv, elements: list[str], n: int) -> float:
    sub = subprocess.Popen(
        [
            "mosquitto_sub",
            "-p",
            str(port),
            "-q",
            "1",
            "-t",
            f"pantau/{inv.city}/grid/+/+/telemetry",
            "-C",
            str(n),
            "-i",
            "bench-sub",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    pubs = LinePublishers(inv, port, elements, client_prefix="burst")
    first = [None]

    def reader():
        got = 0
        for _ in sub.stdout:
            if first[0] is None:
                first[0] = time.perf_counter()
            got += 1
        return got

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    t0 = time.perf_counter()
    pubs.send(n)
    pubs.close()
    sub.wait(120)
    t.join(5)
    return n / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="2000,4000,6000,8000,10000,12000,14000")
    ap.add_argument("--step-seconds", type=float, default=10)
    ap.add_argument("--workers", type=int, default=0, help="extra shared-subscription processes (default: one process)")
    ap.add_argument("--elements", type=int, default=0, help="0 = every feeder and transformer of the city")
    ap.add_argument("--city", default="semarang")
    ap.add_argument("--burst", type=int, default=100000)
    args = ap.parse_args()
    rates = [int(x) for x in args.rates.split(",")]
    city_path = resolve_city(args.city)
    inv = load_inventory(city_path)
    elements = elements_of(inv, args.elements or None)
    tmp = Path(tempfile.mkdtemp(prefix="pantau-bench-mqtt-"))
    influx = services.influxdb(tmp / "influxdb").start()
    mosq = services.mosquitto(tmp / "mosquitto").start()
    db = InfluxV1(influx.url, "pantau")
    provision_v1(db)
    coll = services.collector(
        tmp / "collector",
        str(city_path),
        influx.url,
        mqtt=("127.0.0.1", mosq.port),
        grid_workers=args.workers,
        snmp=False,
    ).start(ready_timeout=60)
    time.sleep(2.0)  # sessions and subscriptions up
    rows = []
    sustained = 0
    p99_at_sustained = float("nan")
    lost_total = 0
    try:
        pubs = LinePublishers(inv, mosq.port, elements)
        prober = Prober(db, elements[0])
        prober.start()
        for rate in rates:
            prober.take()
            t0_ms = int(time.time() * 1000)
            t0 = time.perf_counter()
            n = pubs.paced(rate, args.step_seconds, prober.published)
            offered_s = time.perf_counter() - t0
            t1_ms = max(pubs.stamp.last.values())
            deadline = time.time() + 20
            got = 0
            while time.time() < deadline:
                got = count_between(db, t0_ms, t1_ms)
                if got >= n:
                    break
                time.sleep(0.25)
            caught_up_s = time.time() - (t0_ms + offered_s * 1000) / 1000
            lat = prober.take()
            lost = max(0, n - got)
            lost_total += lost
            pub_rate = n / offered_s
            p50, p99 = pct(lat, 50), pct(lat, 99)
            ok = lost == 0 and p99 <= 2.0 and pub_rate >= 0.95 * rate
            if ok and rate > sustained:
                sustained, p99_at_sustained = rate, p99
            st = coll.status().get("grid", {}).get("ingest", {})
            rows.append((rate, pub_rate, n, got, lost, p50, p99, caught_up_s, st.get("dead", 0), "yes" if ok else "no"))
            print(
                f"  step {rate}/s: published {n} ({pub_rate:.0f}/s), in InfluxDB {got}, p50 {p50:.3f}s p99 {p99:.3f}s",
                flush=True,
            )
            if not ok and lost:
                break
        prober.stop_ev.set()
        pubs.close()
        coll.stop()
        sub_rate = mosquitto_sub_rate(mosq.port, inv, elements, args.burst)
    finally:
        for svc in (coll, mosq, influx):
            try:
                svc.stop()
            except Exception:
                pass
        db.close()

    print()
    print(
        f"Grid ingest, QoS 1, {len(elements)} elements, Pantau with {args.workers} worker process(es); "
        f"{args.step_seconds:g} s per step"
    )
    print(
        "| offered msg/s | published msg/s | published | in InfluxDB | lost | p50 s | p99 s | all queryable after s | dead letters | sustained |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r[0]:,} | {r[1]:,.0f} | {r[2]:,} | {r[3]:,} | {r[4]} | {r[5]:.3f} | {r[6]:.3f} | {r[7]:.2f} | {r[8]} | {r[9]} |"
        )
    print(f"| mosquitto_sub -q 1 (burst of {args.burst:,}) | {sub_rate:,.0f} msg/s | | | | | | | | |")
    print()
    print(
        f"RESULT sustained_msgs_per_s={sustained} lost={lost_total} p99_s={p99_at_sustained:.3f} "
        f"mosquitto_sub_msgs_per_s={sub_rate:.0f} workers={args.workers} elements={len(elements)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
