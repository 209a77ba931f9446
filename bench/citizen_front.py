#!/usr/bin/env python3
"""The citizens' endpoint through nginx in front of two ``pantau api`` replicas, against nginx
serving the same pre-encoded answer as a static file — in one run, at 64 and at 4,000 connections.

The state database holds a city in a blackout (tests/fixtures/blackout.py); both replicas read it.
nginx (Debian's) runs the shipped proxy settings (keep-alive upstream, X-Forwarded-For appended, the
citizens' answers cached for their own max-age of 5 s) — and beside it the same without the cache —
with two upstream servers and one location that serves the answer from a file. Clients are told
apart by the X-Forwarded-For they send (every request of the load comes from 127.0.0.1, so the
bench keys nginx's per-client limit on that header; production keys it on the client address).

Then carrier-grade NAT, both sides:
- 2,000 citizens behind one address (each asking once in the window) get their answers, not 429s;
- one address flooding as fast as it can (its own connections, no pause) beside the normal load
  from distinct addresses: the normal clients' p99 against the target (≤ 2× nginx's static p99).

Usage: bench/citizen_front.py [--seconds 10]
Ends with: RESULT rps_64=… static_rps_64=… ratio_64=… p99_64_ms=… static_p99_64_ms=… rps_4000=… …
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
from citizen_api import wrk  # noqa: E402

from hotspots.inventory import load_inventory, resolve_city  # noqa: E402
from pantau import services  # noqa: E402
from tests.fixtures.blackout import build  # noqa: E402

RATE, BURST = 200, 2000  # per client address: a carrier's NAT address carries thousands of citizens

ONE_CLIENT = """
local i = 0
local paths = {%s}
local n = #paths
function request()
  i = i + 1
  return wrk.format("GET", paths[(i %% n) + 1], {["X-Forwarded-For"] = "%s"})
end
"""


# as config/nginx/pantau.conf's citizens' location (the answers' own max-age=5)
CACHE = """
      proxy_cache pantau_public; proxy_cache_lock on; proxy_cache_lock_timeout 2s;
      proxy_cache_use_stale updating error timeout http_502 http_503; proxy_cache_background_update on;
      proxy_cache_revalidate on; add_header X-Cache $upstream_cache_status always;"""


def nginx_conf(d: Path, port: int, upstreams: list[int], static: Path, cache: bool = True) -> Path:
    tmp = d / "temp"
    tmp.mkdir(parents=True, exist_ok=True)
    servers = "\n".join(f"    server 127.0.0.1:{p};" for p in upstreams)
    conf = d / "nginx.conf"
    conf.write_text(f"""daemon off; pid {d}/nginx.pid; error_log {d}/error.log warn;
worker_processes 1; worker_rlimit_nofile 20000;
events {{ worker_connections 10000; }}
http {{ access_log off; client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  # as config/nginx/pantau.conf, keyed on X-Forwarded-For here (every load client is 127.0.0.1)
  limit_req_zone $http_x_forwarded_for zone=citizens:20m rate={RATE}r/s;
  proxy_cache_path {d}/cache levels=1:2 keys_zone=pantau_public:10m max_size=200m inactive=10m use_temp_path=off;
  upstream pantau_api {{
{servers}
    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{port} reuseport backlog=8192;
    location = /static/answer.json {{ alias {static}; default_type application/json; }}
    location /api/v1/public/ {{
      limit_req zone=citizens burst={BURST} nodelay; limit_req_status 429;{CACHE if cache else ""}
      proxy_pass http://pantau_api; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }}
  }}
}}
""")
    return conf


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    args = ap.parse_args()
    inv = load_inventory(resolve_city("semarang"))
    with tempfile.TemporaryDirectory(prefix="pantau-front-") as tmpd:
        tmp = Path(tmpd)
        tmp.chmod(0o755)  # nginx's workers (nobody) read the static answer from here: a 0700 dir is 403s
        state = tmp / "state"
        build(inv, state, substations=("SRD", "PDL", "KLS", "SPL"), switch="SW-SMT-01")
        kel = next(iter(inv.kecamatan.values())).kelurahan[0]
        path = "/api/v1/public/kelurahan/" + urllib.parse.quote(kel)
        started = []
        try:
            ports = []
            for _ in range(2):
                a = services.api(state, "semarang", None, rate_per_s=RATE, burst=BURST).start(ready_timeout=60)
                started.append(a)
                ports.append(a.port)
            answer = httpx.get(f"http://127.0.0.1:{ports[0]}{path}", headers={"X-Forwarded-For": "10.9.9.9"})
            assert answer.status_code == 200 and answer.json()["status"] == "outage", answer.text
            static = tmp / "answer.json"
            static.write_bytes(answer.content)
            static.chmod(0o644)
            bases = {}
            for name, cache in (("nginx", True), ("nginx-nocache", False)):
                nport = services.free_port()
                conf = nginx_conf(tmp / name, nport, ports, static, cache=cache)
                ng = services.Service(
                    name, [services.require_binary("nginx", "nginx-light"), "-c", str(conf), "-p", str(tmp / name)],
                    tmp / name, "127.0.0.1", nport,
                ).start(ready_timeout=30)  # fmt: skip
                started.append(ng)
                bases[cache] = f"http://127.0.0.1:{nport}"
            base = bases[True]  # the shipped configuration (config/nginx/pantau.conf: cached)
            hit = httpx.get(base + path, headers={"X-Forwarded-For": "10.9.9.8"})
            hit = httpx.get(base + path, headers={"X-Forwarded-For": "10.9.9.8"})
            assert hit.headers.get("x-cache") == "HIT" and hit.content == answer.content, hit.headers
            rows = {}
            for conns in (64, 4000):
                threads = 2
                wrk(base, [path], 2, conns, threads, tmp)  # warm
                api_r = wrk(base, [path], args.seconds, conns, threads, tmp)
                raw_r = wrk(bases[False], [path], args.seconds, conns, threads, tmp)
                st_r = wrk(base, ["/static/answer.json"], args.seconds, conns, threads, tmp)
                if st_r["non2xx"]:
                    raise SystemExit(f"the static peer answered {st_r['non2xx']} non-2xx: no comparison ({st_r})")
                rows[conns] = (api_r, st_r, raw_r)
                print(f"  {conns} connections: pantau {api_r}  uncached {raw_r}  static {st_r}", flush=True)
            # --- CGNAT: 2,000 citizens behind one address, each asking once ---------------------
            nat = "100.64.7.7"
            t0 = time.time()
            codes: dict[int, int] = {}
            with httpx.Client(base_url=base, limits=httpx.Limits(max_connections=50)) as c:
                for _ in range(2000):
                    r = c.get(path, headers={"X-Forwarded-For": nat})
                    codes[r.status_code] = codes.get(r.status_code, 0) + 1
            nat_s = time.time() - t0
            # --- one address flooding beside the normal load ------------------------------------
            script = tmp / "flood.lua"
            script.write_text(ONE_CLIENT % (json.dumps(path), "100.64.9.9"))
            flood = subprocess.Popen(
                ["wrk", "-t", "1", "-c", "64", "-d", f"{args.seconds + 4}s", "-s", str(script), base],
                stdout=subprocess.PIPE,
                text=True,
            )
            time.sleep(2)
            others = wrk(base, [path], args.seconds, 64, 1, tmp)
            fout = flood.communicate(timeout=args.seconds + 60)[0]
            f_total = int(re.search(r"(\d+) requests in", fout).group(1))
            f_non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", fout)
            f_limited = int(f_non2xx.group(1)) if f_non2xx else 0
        finally:
            for s in reversed(started):
                s.stop()
    print()
    print(
        "| connections | pantau (nginx → 2 replicas, shipped: 5 s cache) req/s | p99 ms | nginx static req/s | p99 ms "
        "| ratio req/s | p99 ratio | pantau non-2xx / socket errors | without the cache: req/s | p99 ms | non-2xx / socket errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for conns, (a, s, raw) in rows.items():
        print(
            f"| {conns} | {a['rps']:.0f} | {a['p99_ms']:.1f} | {s['rps']:.0f} | {s['p99_ms']:.1f} | "
            f"{a['rps'] / s['rps']:.2f} | {a['p99_ms'] / s['p99_ms']:.2f} | {a['non2xx']} / {a['errors'] or 'none'} | "
            f"{raw['rps']:.0f} | {raw['p99_ms']:.1f} | {raw['non2xx']} / {raw['errors'] or 'none'} |"
        )
    target_p99 = 2 * rows[64][1]["p99_ms"]
    print(
        f"\nCGNAT: 2,000 citizens behind {nat} in {nat_s:.1f} s: {codes} (limit {RATE}/s, burst {BURST} per address)\n"
        f"flood from one address: {f_total} requests, {f_limited} refused (429); meanwhile the other clients "
        f"{others['rps']:.0f} req/s, p99 {others['p99_ms']:.1f} ms (target ≤ {target_p99:.1f} ms = 2× nginx static p99 at 64)"
    )
    a64, s64, r64 = rows[64]
    a4k, s4k, r4k = rows[4000]
    print(
        f"RESULT rps_64={a64['rps']:.0f} static_rps_64={s64['rps']:.0f} ratio_64={a64['rps'] / s64['rps']:.2f} "
        f"p99_64_ms={a64['p99_ms']:.1f} static_p99_64_ms={s64['p99_ms']:.1f} rps_4000={a4k['rps']:.0f} "
        f"static_rps_4000={s4k['rps']:.0f} ratio_4000={a4k['rps'] / s4k['rps']:.2f} p99_4000_ms={a4k['p99_ms']:.1f} "
        f"static_p99_4000_ms={s4k['p99_ms']:.1f} nocache_rps_64={r64['rps']:.0f} nocache_rps_4000={r4k['rps']:.0f} "
        f"nocache_p99_4000_ms={r4k['p99_ms']:.1f} nat_429={codes.get(429, 0)} flood_others_p99_ms={others['p99_ms']:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
