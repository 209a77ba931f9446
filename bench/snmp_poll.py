#!/usr/bin/env python3
"""SNMP polling speed: Pantau's poll engine beside Prometheus' snmp_exporter and gufo-snmp, in one run.

All poll the same 10 OIDs (SNMPv2c GET) from the same net-snmp ``snmpd`` listening on N loopback
addresses (127.20.x.y, passed as command-line arguments). Each poller runs in its own process
while snmpd has the other core:

- snmp_exporter (Debian ``prometheus-snmp-exporter``, Go) with a hand-written ``snmp.yml`` module
  of the same OIDs, driven by ``wrk`` (64 connections) with a Lua script cycling the targets;
  one HTTP scrape = one poll.
- Pantau (collectors/snmp/engine.py) on the default asyncio loop (what ``pantau collect`` runs)
  and on uvloop, 256 polls in flight.
- gufo-snmp (Rust core, asyncio; one session per target), 256 in flight — the engine Pantau
  would otherwise use.
- ``cycle_2300_s``: wall time for Pantau to poll every target once (best of 3 cycles).

Usage: bench/snmp_poll.py [--seconds 6] [--targets 2300]
Ends with: RESULT pantau_polls_per_s=… exporter_polls_per_s=… ratio=… cycle_2300_s=…
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pantau import services  # noqa: E402

OIDS = [
    "1.3.6.1.2.1.1.1.0",
    "1.3.6.1.2.1.1.3.0",
    "1.3.6.1.2.1.1.5.0",
    "1.3.6.1.2.1.2.2.1.8.1",
    "1.3.6.1.2.1.2.2.1.10.1",
    "1.3.6.1.2.1.2.2.1.16.1",
    "1.3.6.1.2.1.2.2.1.14.1",
    "1.3.6.1.2.1.31.1.1.1.6.1",
    "1.3.6.1.2.1.31.1.1.1.10.1",
    "1.3.6.1.2.1.31.1.1.1.15.1",
]
COMMUNITY = "public"
EXPORTER_MODULE = """\
pantau:
  version: 2
  auth:
    community: {community}
  timeout: 2s
  retries: 1
  get:
{gets}
  metrics:
  - {{name: sysDescr, oid: 1.3.6.1.2.1.1.1, type: DisplayString, help: sysDescr}}
  - {{name: sysUpTime, oid: 1.3.6.1.2.1.1.3, type: gauge, help: sysUpTime}}
  - {{name: sysName, oid: 1.3.6.1.2.1.1.5, type: DisplayString, help: sysName}}
  - {{name: ifOperStatus, oid: 1.3.6.1.2.1.2.2.1.8, type: gauge, help: ifOperStatus, indexes: [{{labelname: ifIndex, type: gauge}}]}}
  - {{name: ifInOctets, oid: 1.3.6.1.2.1.2.2.1.10, type: counter, help: ifInOctets, indexes: [{{labelname: ifIndex, type: gauge}}]}}
  - {{name: ifOutOctets, oid: 1.3.6.1.2.1.2.2.1.16, type: counter, help: ifOutOctets, indexes: [{{labelname: ifIndex, type: gauge}}]}}
  - {{name: ifInErrors, oid: 1.3.6.1.2.1.2.2.1.14, type: counter, help: ifInErrors, indexes: [{{labelname: ifIndex, type: gauge}}]}}
  - {{name: ifHCInOctets, oid: 1.3.6.1.2.1.31.1.1.1.6, type: counter, help: ifHCInOctets, indexes: [{{labelname: ifIndex, type: gauge}}]}}
  - {{name: ifHCOutOctets, oid: 1.3.6.1.2.1.31.1.1.1.10, type: counter, help: ifHCOutOctets, indexes: [{{labelname: ifIndex, type: gauge}}]}}
  - {{name: ifHighSpeed, oid: 1.3.6.1.2.1.31.1.1.1.15, type: gauge, help: ifHighSpeed, indexes: [{{labelname: ifIndex, type: gauge}}]}}
"""
WRK_LUA = """\
local n = 0
local targets = {{{targets}}}
request = function()
  n = n + 1
  return wrk.format("GET", "/snmp?module=pantau&target=" .. targets[(n % #targets) + 1])
end
"""


def addresses(n: int) -> list[str]:
    return [f"127.20.{i // 250}.{i % 250 + 1}" for i in range(n)]


def oid_tuple(s: str) -> tuple[int, ...]:
    return tuple(int(x) for x in s.split("."))


# ---------------------------------------------------------------------------- Pantau


async def sustained(poll_one, n_targets: int, seconds: float, in_flight: int = 256) -> dict:
    """Keep ``in_flight`` polls going round-robin over the targets for ``seconds``; count them."""
    n = errs = 0
    end = time.monotonic() + seconds

    async def worker(i):
        nonlocal n, errs
        j = i
        while time.monotonic() < end:
            try:
                await poll_one(j % n_targets)
                n += 1
            except Exception:
                errs += 1
            j += in_flight

    t0 = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(in_flight)))
    return {"polls_per_s": n / (time.monotonic() - t0), "errors": errs}


def _pantau(addrs, port, seconds, loop_kind, q):
    if loop_kind == "uvloop":
        import uvloop

        uvloop.install()
    from collectors.snmp.engine import SnmpEngine, Target, V2c, encode_varbind_list, value_of

    oids = [oid_tuple(o) for o in OIDS]
    vbl = encode_varbind_list(oids)

    async def main():
        eng = await SnmpEngine().open()
        targets = [Target(a, a, port, V2c(COMMUNITY.encode()), timeout=2.0, retries=1) for a in addrs]
        # cycles: every target once, as fast as possible (what a poll run with spread 0 does)
        sem = asyncio.Semaphore(256)

        async def one(t):
            async with sem:
                vbs = await eng.get(t, oids, vbl)
                return [value_of(vb) for vb in vbs]

        cycles = []
        for _ in range(3):
            t0 = time.monotonic()
            res = await asyncio.gather(*(one(t) for t in targets), return_exceptions=True)
            cycles.append(time.monotonic() - t0)
            bad = sum(isinstance(r, Exception) for r in res)
        r = await sustained(lambda i: one(targets[i]), len(targets), seconds)
        eng.close()
        return {**r, "cycle_s": min(cycles), "cycle_errors": bad}

    q.put(asyncio.run(main()))


def _gufo(addrs, port, seconds, q):
    from gufo.snmp.aio.client import SnmpSession

    async def main():
        sessions = [SnmpSession(addr=a, port=port, community=COMMUNITY, timeout=2.0) for a in addrs]
        for s in sessions:
            await s.__aenter__()
        r = await sustained(lambda i: sessions[i].get_many(OIDS), len(sessions), seconds)
        for s in sessions:
            await s.__aexit__(None, None, None)
        return r

    q.put(asyncio.run(main()))


def in_process(fn, *args) -> dict:
    q = mp.Queue()
    p = mp.Process(target=fn, args=args + (q,))
    p.start()
    r = q.get(timeout=300)
    p.join()
    return r


# ---------------------------------------------------------------------------- snmp_exporter


def exporter(addrs, port, seconds, tmp: Path) -> dict:
    binary = shutil.which("prometheus-snmp-exporter")
    wrk = shutil.which("wrk")
    if not binary or not wrk:
        return {"polls_per_s": 0.0, "errors": 0, "note": "prometheus-snmp-exporter or wrk not installed"}
    conf = tmp / "snmp.yml"
    conf.write_text(EXPORTER_MODULE.format(community=COMMUNITY, gets="\n".join(f"  - {o}" for o in OIDS)))
    http = services.free_port()
    proc = subprocess.Popen(
        [binary, f"--config.file={conf}", f"--web.listen-address=127.0.0.1:{http}", "--log.level=error"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while not services.port_open("127.0.0.1", http):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"snmp_exporter did not start: {proc.stderr.read().decode()[-500:]}")
            time.sleep(0.1)
        import httpx

        body = httpx.get(
            f"http://127.0.0.1:{http}/snmp", params={"module": "pantau", "target": f"{addrs[0]}:{port}"}, timeout=10
        ).text
        sample_ok = "sysUpTime" in body and "ifHCInOctets" in body
        lua = tmp / "targets.lua"
        lua.write_text(WRK_LUA.format(targets=",".join(f'"{a}:{port}"' for a in addrs)))
        out = subprocess.run(
            [wrk, "-t2", "-c64", f"-d{seconds:.0f}s", "-s", str(lua), "--latency", f"http://127.0.0.1:{http}"],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        ).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        return {"polls_per_s": rps, "errors": int(non2xx.group(1)) if non2xx else 0, "sample_ok": sample_ok}
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=6)
    ap.add_argument("--targets", type=int, default=2300)
    args = ap.parse_args()
    addrs = addresses(args.targets)
    res = {}
    with tempfile.TemporaryDirectory(prefix="pantau-bench-") as tmp:
        tmp = Path(tmp)
        port = services.free_port(kind=socket.SOCK_DGRAM)
        snmpd = services.snmpd(tmp / "snmpd", addrs, port, community=COMMUNITY).start(ready_timeout=120)
        try:
            res["exporter"] = exporter(addrs, port, args.seconds, tmp)
            res["uvloop"] = in_process(_pantau, addrs, port, args.seconds, "uvloop")
            res["asyncio"] = in_process(_pantau, addrs, port, args.seconds, "asyncio")
            try:
                res["gufo"] = in_process(_gufo, addrs, port, args.seconds)
            except Exception as exc:  # optional peer
                res["gufo"] = {"polls_per_s": 0.0, "errors": 0, "note": str(exc)}
        finally:
            snmpd.stop()
    ex = res["exporter"]["polls_per_s"]
    print(
        f"\nSNMPv2c GET of {len(OIDS)} OIDs from net-snmp snmpd on {len(addrs)} loopback addresses, "
        f"{args.seconds:.0f}s each (2 cores: poller and snmpd one each)\n"
    )
    print(f"{'poller':<44}{'polls/s':>10}{'OIDs/s':>10}{'vs exporter':>13}{'errors':>8}")
    rows = [
        ("Prometheus snmp_exporter 0.21 (Go) + wrk", res["exporter"]),
        ("Pantau engine, asyncio (pantau collect)", res["asyncio"]),
        ("Pantau engine, uvloop", res["uvloop"]),
        ("gufo-snmp 0.13 (Rust core), asyncio", res["gufo"]),
    ]
    for name, r in rows:
        ratio = r["polls_per_s"] / ex if ex else float("nan")
        print(
            f"{name:<44}{r['polls_per_s']:>10.0f}{r['polls_per_s'] * len(OIDS):>10.0f}{ratio:>12.2f}x"
            f"{r['errors']:>8}  {r.get('note', '')}"
        )
    cyc = res["asyncio"]["cycle_s"]
    print(
        f"\nFull cycle over {len(addrs)} targets (Pantau, asyncio, best of 3): {cyc:.3f} s "
        f"({res['asyncio']['cycle_errors']} errors); uvloop: {res['uvloop']['cycle_s']:.3f} s"
    )
    print(
        "Issue target: Pantau >= 0.25x snmp_exporter, cycle <= 0.5 s. One exporter scrape = one poll of 10 OIDs;\n"
        "wrk and the exporter share the poller's core (that is how the exporter is used: HTTP per poll)."
    )
    pp = res["asyncio"]["polls_per_s"]
    print(
        f"RESULT pantau_polls_per_s={pp:.0f} exporter_polls_per_s={ex:.0f} "
        f"ratio={pp / ex if ex else 0:.2f} cycle_{len(addrs)}_s={cyc:.3f} gufo_polls_per_s={res['gufo']['polls_per_s']:.0f}"
    )


if __name__ == "__main__":
    main()
