#!/usr/bin/env python3
"""SNMP capacity of the simulated city, next to net-snmp's snmpd, in one run.

Both servers listen on the same 2,300 hotspot loopback addresses (127.20.x.y, different UDP
ports); one load client in its own process sends SNMPv2c GETs of 10 OIDs round-robin over the
2,300 targets, keeping a window of requests in flight, and counts answers per second. The client
is pre-encoded raw UDP so that it is not the bottleneck; each server gets the other core.

Usage: bench/simulator_snmp.py [--seconds 6] [--window 64] [--targets 2300]
Ends with: RESULT sim_req_per_s=… snmpd_req_per_s=… ratio=…
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import select
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hotspots.inventory import load_inventory, resolve_city  # noqa: E402
from pantau import services  # noqa: E402
from snmpwire import ber  # noqa: E402

OIDS = [
    (1, 3, 6, 1, 2, 1, 1, 1, 0),
    (1, 3, 6, 1, 2, 1, 1, 3, 0),
    (1, 3, 6, 1, 2, 1, 1, 5, 0),
    (1, 3, 6, 1, 2, 1, 2, 2, 1, 8, 1),
    (1, 3, 6, 1, 2, 1, 2, 2, 1, 10, 1),
    (1, 3, 6, 1, 2, 1, 2, 2, 1, 16, 1),
    (1, 3, 6, 1, 2, 1, 2, 2, 1, 14, 1),
    (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 1),
    (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 10, 1),
    (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 15, 1),
]


def _client(targets, community, seconds, window, out):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    pkts = [ber.encode_get_request_v2c(community, i + 1, OIDS) for i in range(len(targets))]
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    n = len(targets)
    i = answered = lost = bad = in_flight = 0
    varbinds_ok = 0
    start = time.monotonic()
    end = start + seconds
    last_rx = start
    checked = 0
    while True:
        now = time.monotonic()
        if now >= end:
            break
        while in_flight < window:
            sock.sendto(pkts[i % n], targets[i % n])
            i += 1
            in_flight += 1
        if not poller.poll(50):
            if time.monotonic() - last_rx > 0.5:
                lost += in_flight
                in_flight = 0
            continue
        while True:
            try:
                data = sock.recv(65535)
            except BlockingIOError:
                break
            answered += 1
            in_flight -= 1
            last_rx = time.monotonic()
            if checked < 200:  # decode a sample: answers must be complete and well-formed
                checked += 1
                msg = ber.decode_message(data)
                if msg.pdu.error_status == 0 and len(msg.pdu.varbinds) == len(OIDS):
                    varbinds_ok += 1
                else:
                    bad += 1
    out.put(
        {
            "answered": answered,
            "seconds": time.monotonic() - start,
            "lost": lost,
            "sent": i,
            "sample_ok": varbinds_ok,
            "sample_bad": bad,
        }
    )


def measure(targets, community, seconds, window) -> dict:
    q = mp.Queue()
    warm = mp.Process(target=_client, args=(targets, community, 1.0, window, q))
    warm.start()
    q.get()
    warm.join()
    p = mp.Process(target=_client, args=(targets, community, seconds, window, q))
    p.start()
    r = q.get()
    p.join()
    r["req_per_s"] = r["answered"] / r["seconds"]
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=6)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--targets", type=int, default=2300)
    args = ap.parse_args()
    inv = load_inventory(resolve_city("semarang"))
    v2c = [h for h in inv.hotspots.values()][: args.targets]
    addresses = [h.address for h in v2c]
    community = inv.credentials.profiles["public-v2c"].community.get_secret_value()
    sim_targets_v2c = [h for h in v2c if h.credentials == "public-v2c"]
    results = {}
    with tempfile.TemporaryDirectory(prefix="pantau-bench-") as tmp:
        sim_port = services.free_port(kind=socket.SOCK_DGRAM)
        sim = services.simulator(Path(tmp) / "sim", "semarang", sim_port).start(ready_timeout=120)
        try:
            results["simulator"] = measure(
                [(h.address, sim_port) for h in sim_targets_v2c], community, args.seconds, args.window
            )
        finally:
            sim.stop()
        snmpd_port = services.free_port(kind=socket.SOCK_DGRAM)
        snmpd = services.snmpd(Path(tmp) / "snmpd", addresses, snmpd_port, community="public").start(ready_timeout=60)
        try:
            results["snmpd"] = measure([(a, snmpd_port) for a in addresses], "public", args.seconds, args.window)
        finally:
            snmpd.stop()
    print(
        f"\nSNMPv2c GET of {len(OIDS)} OIDs, round-robin over loopback agents, window {args.window}, "
        f"{args.seconds:.0f}s per server (2 cores: client and server one each)\n"
    )
    print(f"{'server':<28}{'agents':>8}{'req/s':>10}{'lost':>8}{'sample ok':>11}")
    rows = [
        ("Pantau simulator (asyncio)", len(sim_targets_v2c), results["simulator"]),
        ("net-snmp snmpd 5.9 (C)", len(addresses), results["snmpd"]),
    ]
    for name, n, r in rows:
        print(
            f"{name:<28}{n:>8}{r['req_per_s']:>10.0f}{r['lost']:>8}{r['sample_ok']:>7}/{r['sample_ok'] + r['sample_bad']}"
        )
    ratio = results["simulator"]["req_per_s"] / max(1.0, results["snmpd"]["req_per_s"])
    print(f"\nsimulator / snmpd = {ratio:.2f}   (issue target: simulator >= 3,000 req/s)")
    print(
        f"RESULT sim_req_per_s={results['simulator']['req_per_s']:.0f} "
        f"snmpd_req_per_s={results['snmpd']['req_per_s']:.0f} ratio={ratio:.2f}"
    )


if __name__ == "__main__":
    main()
