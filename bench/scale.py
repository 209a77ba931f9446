#!/usr/bin/env python3
"""Ten cities (23,000 hotspots) polled every 60 s end to end into InfluxDB by 1, 2 and 3 nodes.

Real processes on loopback: PostgreSQL (the state database the nodes share), InfluxDB, Mosquitto,
one simulator process for all ten cities (Semarang and nine cities derived from it by the same
generator, ``hotspots.generator.derive_city``; one UDP socket for every device, IP_PKTINFO), and
N ``pantau collect --city <all ten>`` nodes splitting every city's hotspots and switches between
them (rendezvous over the live members, pantau/sharding.py).

For each N, once every hotspot is polled up and the shares settled, over a measurement window:
per-node CPU seconds per poll interval (utime + stime from /proc), the poll cycle wall time, the
hotspot polls per second InfluxDB received (against the target: hotspots / interval; a node that
cannot keep up skips cycles) and the CPU milliseconds per poll actually made, RSS per process. Then a substation trips in every city at
once: the time until every city's incident is open, and the explainers' longest tick. Side by
side in the same run: the bare poll engine's CPU for one GET to each of the 23,000 devices (the
floor any poller pays here).

Usage: bench/scale.py [--nodes 1,2,3] [--window 120] [--cities 10] [--profile DIR]
Ends with: RESULT hotspots=… nodes=… cycle_s=… points_per_s=… kept_up=… cpu_s_per_1000_hotspots=… explainer_ms=…
(cpu_s_per_1000_hotspots: the one-node CPU seconds per 1,000 polls made, all its work included)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from hotspots.generator import derive_city  # noqa: E402
from hotspots.inventory import load_inventory, resolve_city  # noqa: E402
from outages.store import IncidentStore  # noqa: E402
from pantau import services  # noqa: E402
from store.db import open_database  # noqa: E402
from store.live import LiveStore  # noqa: E402
from store.provision import provision_v1  # noqa: E402
from store.timeseries import InfluxV1  # noqa: E402

HZ = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / HZ  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_udp_any() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def threads_of(node) -> dict[str, float]:
    """CPU seconds by thread name of one node (its status file's ``threads_cpu_s``; process-wide),
    and as ``gc:genN`` the garbage collector's pause seconds so far (``gc``)."""
    for f in [node.state_dir / "collector-status.json", *node.state_dir.glob("*/collector-status.json")]:
        try:
            st = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        out = dict(st.get("threads_cpu_s") or {})
        for gen, g in (st.get("gc") or {}).items():
            out[f"gc:{gen}"] = float(g.get("pause_s", 0.0))
        return out
    return {}


def wait(fn, timeout: float, what: str, step: float = 1.0):
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        try:
            last = fn()
        except Exception as exc:  # noqa: BLE001 - keep waiting, say what it was
            last = repr(exc)
        if last is True or (last and not isinstance(last, str)):
            return last
        time.sleep(step)
    raise SystemExit(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})")


def engine_floor(invs, port: int) -> float:
    """CPU seconds of the bare poll engine for one GET of sysUpTime to every hotspot (v2c and v3)."""
    from collectors.snmp.engine import SnmpEngine, Target
    from collectors.snmp.poller import security_of

    async def go():
        async with SnmpEngine() as eng:
            targets = []
            for inv in invs:
                creds = inv.credentials.profiles
                for h in inv.hotspots.values():
                    targets.append(
                        Target(h.id, h.address, port, security_of(creds[h.credentials]), timeout=2.0, retries=1)
                    )
            sem = asyncio.Semaphore(512)

            async def one(t):
                async with sem:
                    try:
                        await eng.get(t, [(1, 3, 6, 1, 2, 1, 1, 3, 0)])
                    except Exception:  # noqa: BLE001
                        pass

            await asyncio.gather(*(one(t) for t in targets))  # warm: v3 discovery, keys
            t0 = time.process_time()
            await asyncio.gather(*(one(t) for t in targets))
            return time.process_time() - t0

    return asyncio.run(go())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", default="1,2,3")
    ap.add_argument("--window", type=float, default=120.0, help="seconds measured per node count")
    ap.add_argument("--cities", type=int, default=10)
    ap.add_argument("--interval", type=float, default=60.0, help="hotspot poll interval")
    ap.add_argument("--profile", default="", help="a folder: each node's cProfile (PANTAU_PROFILE) goes there")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pantau-scale-"))
    paths = [str(resolve_city("semarang"))]
    for i in range(2, args.cities + 1):
        out = tmp / "cities" / f"kota{i:02d}"
        derive_city(resolve_city("semarang"), out, f"kota{i:02d}", i)
        paths.append(str(out))
    invs = [load_inventory(p) for p in paths]
    n_hotspots = sum(len(i.hotspots) for i in invs)
    print(f"{len(invs)} cities, {n_hotspots} hotspots", flush=True)
    started = []
    try:
        pg = services.start_postgresql(tmp / "pg")
        started.append(pg)
        influx = services.influxdb(tmp / "influxdb").start()
        started.append(influx)
        db = InfluxV1(influx.url, "pantau")
        provision_v1(db)
        mosq = services.mosquitto(tmp / "mosquitto").start()
        started.append(mosq)
        port = free_udp_any()
        sim = services.simulator(
            tmp / "sim", ",".join(paths), port, mqtt=("127.0.0.1", mosq.port), telemetry_interval_s=10.0
        ).start(ready_timeout=300)
        started.append(sim)
        print(f"simulator up: RSS {rss_mb(sim.proc.pid):.0f} MB, fds {len(os.listdir(f'/proc/{sim.proc.pid}/fd'))}")
        floor = engine_floor(invs, port)
        print(f"bare engine: {floor:.2f} CPU s for one GET to each of {n_hotspots} devices", flush=True)
        rows = []
        explainer = None
        nodes_list = [int(x) for x in args.nodes.split(",")]
        for n in nodes_list:
            url = pg.create_database(f"scale{n}")
            nodes = []
            for k in range(n):
                env = {"PANTAU_DATABASE_URL": url, "PANTAU_NODE_NAME": f"node-{k + 1}"}
                if args.profile:  # cProfile of each node's event loop, written when it stops
                    env["PANTAU_PROFILE"] = str(Path(args.profile).resolve() / f"n{n}-node-{k + 1}.prof")
                nodes.append(
                    services.collector(
                        tmp / f"n{n}" / f"node-{k + 1}",
                        ",".join(paths),
                        influx.url,
                        snmp_port=port,
                        intervals={"hotspots": args.interval},
                        mqtt=("127.0.0.1", mosq.port),
                        egov_base_url=sim.url,
                        env=env,
                    ).start(ready_timeout=300)
                )
                started.append(nodes[-1])  # stopped first (SIGTERM: a profile is written on the way out)
            stores = [LiveStore(open_database(url), inv.city) for inv in invs]

            def all_up(stores=stores):
                up = 0
                for s in stores:
                    up += sum(1 for r in s.elements("hotspot:").values() if r["state"] in ("up", "degraded"))
                return up >= n_hotspots * 0.995 or f"{up} up"

            wait(all_up, 6 * args.interval, f"{n} node(s): every hotspot up", step=5)
            time.sleep(args.interval)  # one more cycle: shares and handovers settled
            c0 = {v.proc.pid: cpu_s(v.proc.pid) for v in nodes}
            th0 = {v.proc.pid: threads_of(v) for v in nodes}
            t0 = time.time()
            time.sleep(args.window)
            t1 = time.time()
            cpu = {pid: cpu_s(pid) - c for pid, c in c0.items()}
            for v in nodes:  # where each node's CPU went, by thread (the event loop is MainThread)
                th1, before = threads_of(v), th0[v.proc.pid]
                used = sorted(((c - before.get(k, 0.0), k) for k, c in th1.items()), reverse=True)
                pauses = {k: c for c, k in used if k.startswith("gc:")}
                used = [(c, k) for c, k in used if not k.startswith("gc:")]
                print(
                    f"  node pid {v.proc.pid} threads, % of a core: "
                    + ", ".join(f"{k} {100 * c / (t1 - t0):.1f}" for c, k in used[:8] if c > 0)
                    + "; garbage collector pauses, % of the window: "
                    + ", ".join(f"{k[3:]} {100 * c / (t1 - t0):.1f}" for k, c in sorted(pauses.items())),
                    flush=True,
                )
            q = f"SELECT count(up) FROM hotspot_poll WHERE time >= {int(t0 * 1000)}ms AND time < {int(t1 * 1000)}ms"
            polls = int((db.query(q, epoch="ms")[0].rows() or [{"count": 0}])[0]["count"])
            cycles = []
            for v in nodes:
                base = v.state_dir
                for f in [base / "collector-status.json", *base.glob("*/collector-status.json")]:
                    try:
                        st = json.loads(f.read_text())
                        if st.get("last_cycle_s") is not None:
                            cycles.append(st["last_cycle_s"])
                    except (OSError, ValueError):
                        pass
            per_cycle = {pid: c * args.interval / (t1 - t0) for pid, c in cpu.items()}
            rows.append(
                {
                    "nodes": n,
                    "cpu_per_cycle": per_cycle,
                    "cycle_s": max(cycles) if cycles else float("nan"),
                    "points_per_s": polls / (t1 - t0),
                    # CPU per poll actually made: an overloaded node skips cycles, so CPU per
                    # nominal cycle divided by the city's hotspots would flatter it
                    "cpu_ms_per_poll": sum(cpu.values()) / polls * 1000 if polls else float("nan"),
                    "rss": {pid: rss_mb(pid) for pid in cpu},
                    "sim_rss": rss_mb(sim.proc.pid),
                }
            )
            print(f"  {n} node(s): {rows[-1]}", flush=True)
            if n == nodes_list[-1]:
                incs = [IncidentStore(open_database(url), city=inv.city) for inv in invs]
                before = [{r["id"] for r in s.incidents()} for s in incs]
                trip = {}
                for inv in invs:
                    sub = sorted(inv.substations)[0]
                    path = "" if inv is invs[0] else f"/{inv.city}"
                    trip[inv.city] = time.time()
                    httpx.post(
                        f"{sim.url}{path}/_sim/events",
                        json={"action": "substation_trip", "target": f"substation:{sub}"},
                    ).raise_for_status()

                def opened(incs=incs, before=before, trip=trip):
                    out = {}
                    for inv, s, b in zip(invs, incs, before):
                        new = [r for r in s.incidents() if r["id"] not in b and r["cause"] == "power_grid"]
                        if new:
                            out[inv.city] = min(r["opened_at"] for r in new) - trip[inv.city]
                    return out

                deadline = time.monotonic() + 120
                after = opened()
                while len(after) < len(invs) and time.monotonic() < deadline:
                    time.sleep(1)
                    after = opened()
                if len(after) < len(invs):
                    print(f"  only {len(after)} of {len(invs)} cities' incidents open within 120 s", flush=True)
                ticks = []
                for v in nodes:
                    for f in [v.state_dir / "collector-status.json", *v.state_dir.glob("*/collector-status.json")]:
                        try:
                            ticks.append(json.loads(f.read_text())["incidents"].get("tick_ms_max", 0.0))
                        except (OSError, ValueError, KeyError):
                            pass
                explainer = {"trip_to_incident_s": after, "tick_ms_max": max(ticks) if ticks else float("nan")}
                print(f"  substation trip in every city: {explainer}", flush=True)
            for v in nodes:
                v.stop(60)  # ten cities' shutdown (flushes, the profile) takes a while
        print()
        print(
            f"| nodes | CPU s per {args.interval:g} s interval (each node) | cycle wall s | hotspot polls/s into InfluxDB "
            f"(target {n_hotspots / args.interval:.0f}) | CPU ms per poll (all nodes) | RSS MB (each node) | simulator RSS MB |"
        )
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['nodes']} | {', '.join(f'{c:.1f}' for c in r['cpu_per_cycle'].values())} | {r['cycle_s']:.1f} | "
                f"{r['points_per_s']:.0f} | {r['cpu_ms_per_poll']:.2f} | {', '.join(f'{m:.0f}' for m in r['rss'].values())} | {r['sim_rss']:.0f} |"
            )
        print(
            f"\nfloor: the bare engine, one GET to each of {n_hotspots} devices: {floor:.2f} CPU s ({floor / n_hotspots * 1000:.2f} per 1,000)"
        )
        if explainer:
            t = explainer["trip_to_incident_s"] or {"-": float("nan")}
            print(
                f"substation trip in all {len(invs)} cities at once: {len(explainer['trip_to_incident_s'])} of "
                f"{len(invs)} incidents open, {min(t.values()):.1f}-{max(t.values()):.1f} s "
                f"after the trips (telemetry every 10 s); longest explainer tick {explainer['tick_ms_max']:.1f} ms"
            )
        one = rows[0]
        print(
            f"RESULT hotspots={n_hotspots} nodes={','.join(str(r['nodes']) for r in rows)} cycle_s={one['cycle_s']:.1f} "
            f"points_per_s={one['points_per_s']:.0f} kept_up={one['points_per_s'] * args.interval / n_hotspots:.2f} "
            f"cpu_s_per_1000_hotspots={one['cpu_ms_per_poll']:.2f} "
            f"explainer_ms={explainer['tick_ms_max'] if explainer else float('nan'):.1f}"
        )
    finally:
        for s in reversed(started):
            s.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
