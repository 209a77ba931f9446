#!/usr/bin/env python3
"""The citizens' "by kelurahan" endpoint during a blackout, next to a bare FastAPI hello-world.

Both are served the same way — uvicorn, one worker, uvloop + httptools, no access log — and loaded
by wrk on loopback with 64 connections, alternating runs (hello, citizen, hello, citizen, …) so
that a noisy machine hurts both alike. The citizen side is Pantau's real API process on a state
folder in a blackout (substations tripped, a switch down, a maintenance notice; incidents from the
real explainer) whose live view is rewritten every second as the collector does, so its
answers change and are rebuilt once a second during the run. wrk asks for every kelurahan in turn, each
request from another client address (``X-Forwarded-For`` from the trusted local proxy), so the
per-client rate limit is in the path but does not refuse anyone; any non-2xx answer is counted.

Usage: bench/citizen_api.py [--seconds 10] [--rounds 3] [--connections 64] [--threads 2]
Ends with: RESULT citizen_rps=… hello_rps=… ratio=… p99_ms=… hello_p99_ms=…
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from hotspots.inventory import load_inventory, resolve_city  # noqa: E402
from pantau import services  # noqa: E402
from store.db import in_state_dir, open_database  # noqa: E402
from store.live import LiveStore  # noqa: E402
from tests.fixtures.blackout import build  # noqa: E402

HELLO = """
from fastapi import FastAPI
app = FastAPI()

@app.get("/hello")
async def hello():
    return {"message": "Hello World"}
"""

LUA = """
local paths = {%s}
local n = #paths
local i = 0
local tid = 0
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end
function request()
  i = i + 1
  local k = i * 2 + tid
  local ip = "10." .. (k %% 250) .. "." .. (math.floor(k / 250) %% 250) .. "." .. (math.floor(k / 62500) %% 250 + 1)
  return wrk.format("GET", paths[(i %% n) + 1], {["X-Forwarded-For"] = ip})
end
"""


def wrk(url_base: str, paths: list[str], seconds: int, connections: int, threads: int, tmp: Path) -> dict:
    script = tmp / f"wrk-{abs(hash(tuple(paths[:3])))}.lua"
    script.write_text(LUA % ", ".join(json.dumps(p) for p in paths))
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--latency",
            "-s",
            str(script),
            url_base,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def ms(label):
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v

    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return {
        "rps": rps,
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "errors": errors.group(1) if errors else "",
        "requests": total,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--static", action="store_true", help="no changes during the run (no rebuilds)")
    args = ap.parse_args()
    inv = load_inventory(resolve_city("semarang"))
    with tempfile.TemporaryDirectory(prefix="pantau-citizen-bench-") as tmpd:
        tmp = Path(tmpd)
        state = tmp / "state"
        info = build(inv, state, substations=("SRD", "PDL", "KLS", "SPL"), switch="SW-SMT-01", notice_feeder="KPK-01")
        # Every kelurahan, as a citizen would type it (ambiguous names with their kecamatan).
        counts: dict[str, int] = {}
        for k in inv.kecamatan.values():
            for kel in k.kelurahan:
                counts[kel] = counts.get(kel, 0) + 1
        paths = []
        for k in inv.kecamatan.values():
            for kel in k.kelurahan:
                p = "/api/v1/public/kelurahan/" + urllib.parse.quote(kel)
                if counts[kel] > 1:
                    p += "?kecamatan=" + urllib.parse.quote(k.name)
                paths.append(p)
        api = services.api(state, "semarang", None).start(ready_timeout=60)
        hello_py = tmp / "hello_app.py"
        hello_py.write_text(HELLO)
        hport = services.free_port()
        hello = services.Service(
            "hello",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "hello_app:app",
                "--app-dir",
                str(tmp),
                "--host",
                "127.0.0.1",
                "--port",
                str(hport),
                "--workers",
                "1",
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            tmp / "hello",
            "127.0.0.1",
            hport,
        ).start(30)
        stop = threading.Event()

        def collector_like():
            """The live view rewritten every second, as `pantau collect` does, with news each time:
            hotspots on UPS batteries in the dark area die one by one (so the answers really are rebuilt)."""
            live = LiveStore(open_database(in_state_dir(state)), inv.city, "bench")
            ups = [h for h in inv.hotspots_below("substation:SRD") if inv.hotspots[h].ups_minutes > 0]
            i = 0
            state_of: dict[str, str] = {}
            while not stop.is_set():
                h = ups[i % len(ups)]
                state_of[h] = "down" if state_of.get(h, "up") != "down" else "up"
                i += 1
                now = time.time()
                live.write(
                    [{"element": f"hotspot:{h}", "state": state_of[h], "since": now, "last_seen": now, "reason": ""}],
                    {"status:bench": {"at": now}},
                )
                stop.wait(1.0)

        writer = threading.Thread(target=collector_like, daemon=True)
        try:
            # Sanity: the blackout is visible, answers are small and public.
            base = f"http://127.0.0.1:{api.port}"
            aff = next(i for i in info["incidents"] if i["root"] == "substation:SRD")["areas"][0].split("/")[1]
            r = httpx.get(
                base + "/api/v1/public/kelurahan/" + urllib.parse.quote(aff), headers={"X-Forwarded-For": "10.0.0.1"}
            )
            doc = r.json()
            assert r.status_code == 200 and doc["status"] == "outage", r.text
            size = len(r.content)
            if not args.static:
                writer.start()
            wrk(base, paths[:20], 2, args.connections, args.threads, tmp)  # warm both
            wrk(f"http://127.0.0.1:{hport}", ["/hello"], 2, args.connections, args.threads, tmp)
            runs = {"hello": [], "citizen": []}
            for _ in range(args.rounds):
                runs["hello"].append(
                    wrk(f"http://127.0.0.1:{hport}", ["/hello"], args.seconds, args.connections, args.threads, tmp)
                )
                runs["citizen"].append(wrk(base, paths, args.seconds, args.connections, args.threads, tmp))
            m = httpx.get(base + "/metrics").text
            builds = float(re.search(r"^pantau_public_cache_builds_total ([\d.]+)", m, re.M).group(1))
            limited = float(re.search(r"^pantau_public_rate_limited_total ([\d.]+)", m, re.M).group(1))
        finally:
            stop.set()
            api.stop()
            hello.stop()
    print(
        f"\nCitizen API during a blackout ({len(info['incidents'])} incidents, {info['down']} hotspots down), "
        f"{len(paths)} kelurahan asked in turn; wrk -t{args.threads} -c{args.connections} -d{args.seconds}s; "
        f"uvicorn 1 worker, uvloop + httptools\n"
    )
    print(f"{'run':<10}{'server':<10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}{'non-2xx':>9}")
    for i in range(args.rounds):
        for name in ("hello", "citizen"):
            x = runs[name][i]
            print(
                f"{i + 1:<10}{name:<10}{x['rps']:>10.0f}{x['p50_ms']:>9.2f}{x['p99_ms']:>9.2f}{x['requests']:>10}"
                f"{x['non2xx']:>9}"
            )
    med = {k: {f: statistics.median(x[f] for x in v) for f in ("rps", "p50_ms", "p99_ms")} for k, v in runs.items()}
    ratio = med["citizen"]["rps"] / med["hello"]["rps"]
    p99_ratio = med["citizen"]["p99_ms"] / med["hello"]["p99_ms"]
    non2xx = sum(x["non2xx"] for x in runs["citizen"])
    print(
        f"\nmedian: citizen {med['citizen']['rps']:.0f} req/s p99 {med['citizen']['p99_ms']:.2f} ms; "
        f"hello {med['hello']['rps']:.0f} req/s p99 {med['hello']['p99_ms']:.2f} ms"
    )
    print(
        f"ratio {ratio:.2f} (target ≥ 0.8), p99 ratio {p99_ratio:.2f} (target ≤ 1.5); answer {size} bytes; "
        f"answers rebuilt {builds:.0f} times during the runs; rate-limited {limited:.0f}; non-2xx {non2xx}"
    )
    print(
        f"RESULT citizen_rps={med['citizen']['rps']:.0f} hello_rps={med['hello']['rps']:.0f} ratio={ratio:.2f} "
        f"p99_ms={med['citizen']['p99_ms']:.2f} hello_p99_ms={med['hello']['p99_ms']:.2f} "
        f"p99_ratio={p99_ratio:.2f} non2xx={non2xx} rebuilds={builds:.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
