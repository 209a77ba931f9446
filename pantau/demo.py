"""``pantau demo``: the whole system on the simulated city, with directions for a first look."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from rich.console import Console
from rich.panel import Panel

from hotspots.inventory import load_inventory, resolve_city
from pantau.stack import Stack, port_free

console = Console()


def run_demo(state_dir: Path, time_scale: float = 1.0, city: str = "semarang") -> int:
    """``city`` may list several (``semarang,batang``: the multi-city mode): one simulator, one
    ``pantau collect`` and one ``pantau api`` for all of them, each city under ``/cities/<city>/``."""
    cities = [c.strip() for c in city.split(",") if c.strip()]
    invs = [load_inventory(resolve_city(c)) for c in cities]
    inv = invs[0]
    stack = Stack(
        state_dir.resolve(),
        city=",".join(cities),
        time_scale=time_scale,
        influx_port=8086 if port_free(8086) else None,
        mqtt_port=1883 if port_free(1883) else None,
        http_port=18080 if port_free(18080) else None,
        collect=True,
        api=True,
        api_port=8000 if port_free(8000) else None,
        alerts_to_sim=True,
        secure=True,
    )
    stopping = False

    def _stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        with console.status("starting…") as status:
            stack.start(progress=lambda m: status.update(m + "…"))
        v2c = next(h for h in inv.hotspots.values() if h.credentials == "public-v2c")
        v3 = next(h for h in inv.hotspots.values() if h.credentials == "noc-v3-sha-aes")
        v3b = next(h for h in inv.hotspots.values() if h.credentials == "noc-v3-sha256-aes256")
        c2 = inv.credentials.profiles["public-v2c"].community.get_secret_value()
        p3 = inv.credentials.profiles["noc-v3-sha-aes"]
        p3b = inv.credentials.profiles["noc-v3-sha256-aes256"]
        port = "" if stack.snmp_port == 161 else f":{stack.snmp_port}"
        mq = stack.mosquitto.port
        sec = stack.state_dir / "secrets"
        influx_auth = f"-u admin:$(cat {sec}/influx-admin)"
        mqtt_auth = f"--cafile {stack.tls_dir}/ca.pem -h 127.0.0.1 -u pantau-collector -P $(cat {sec}/mqtt-collector)"
        env_file = stack.state_dir / "pantau-collect.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in sorted(stack.collector_env.items())))
        env_file.chmod(0o600)
        lines = [
            f"[b]Pantau demo: {inv.display_name}[/b] — {len(inv.hotspots)} hotspots, {len(inv.feeders)} feeders, "
            f"{len(inv.transformers)} transformers, {len(inv.switches)} switches",
            "",
            "Run as production runs (docs/production.md): InfluxDB with auth (users admin, pantau-collect, pantau-api),",
            "Mosquitto with TLS (the demo's own CA), passwords and config/mosquitto.acl; `pantau collect` and",
            f"`pantau api` configured by PANTAU_* only (the collector's: {env_file}); secrets in {sec}/",
            "",
            f"InfluxDB    {stack.influx.url}  (database 'pantau'; data in {stack.influx.state_dir})",
            f"Mosquitto   mqtts://127.0.0.1:{mq}  (CA {stack.tls_dir}/ca.pem)",
            f"Simulator   SNMP on 127.20.x.y{port} (hotspots), 127.30.0.x{port} (switches); "
            f"e-gov + control API {stack.sim.url}",
            "",
            "[b]Try[/b]",
            f"  snmpget -v2c -c {c2} {v2c.address}{port} 1.3.6.1.2.1.1.5.0 1.3.6.1.2.1.1.3.0      # {v2c.id}, {v2c.vendor}",
            f"  snmpget -v3 -l authPriv -u {p3.user} -a SHA -A {p3.auth_password.get_secret_value()} "
            f"-x AES -X {p3.priv_password.get_secret_value()} {v3.address}{port} 1.3.6.1.2.1.1.3.0   # {v3.id}",
            f"  snmpbulkwalk -v3 -l authPriv -u {p3b.user} -a SHA-256 -A {p3b.auth_password.get_secret_value()} "
            f"-x AES-256 -X {p3b.priv_password.get_secret_value()} {v3b.address}{port} 1.3.6.1.2.1.2.2.1.10   # {v3b.id}",
            f"Collector   polls every hotspot (jobs: collectors/jobs.yaml); status {stack.collector.status_file}",
            "",
            f"  curl {influx_auth} -G {stack.influx.url}/query --data-urlencode db=pantau --data-urlencode "
            '"q=SELECT last(up), last(clients) FROM hotspot_poll WHERE time > now() - 5m GROUP BY hotspot" | head -c 600',
            f"  curl {influx_auth} -G {stack.influx.url}/query --data-urlencode db=pantau --data-urlencode "
            '"q=SELECT * FROM hotspot_event ORDER BY time DESC LIMIT 20"',
            f"  mosquitto_sub -p {mq} {mqtt_auth} -t 'pantau/semarang/grid/#' -v",
            f"  .venv/bin/pantau grid state --status-file {stack.collector.status_file}     # energized / de-energized / unknown",
            f"  .venv/bin/pantau grid deadletters --directory {stack.collector.state_dir}/grid/deadletters",
            f"  .venv/bin/pantau incidents --database {stack.collector.state_dir}/pantau.sqlite --all   # why it went dark",
            f"  curl {influx_auth} -G {stack.influx.url}/query --data-urlencode db=pantau --data-urlencode "
            '"q=SELECT count(voltage_v) FROM grid_telemetry WHERE time > now() - 1m GROUP BY kind"',
            f"  curl {stack.sim.url}/lapor-hendi/status",
            f'  curl -XPOST {stack.sim.url}/_sim/events -d \'{{"action":"feeder_trip","target":"feeder:SRD-04"}}\'',
            f'  curl -XPOST {stack.sim.url}/_sim/events -d \'{{"action":"telemetry_loss","target":"feeder:PDL-01"}}\'',
            "  .venv/bin/pantau scenario run ../shared/scenarios/feeder-trip.yaml --time-scale 10 --report reports/feeder-trip.json",
            "  .venv/bin/pantau inventory list --kind feeder",
            "",
            f"[b]API[/b]        {stack.api_svc.url}/api/v1/docs   (OpenAPI: /api/v1/openapi.json; metrics: /metrics)",
            f"  curl {stack.api_svc.url}/api/v1/public/summary",
            f"  curl {stack.api_svc.url}/api/v1/public/kelurahan/Sendangmulyo        # citizens: no key, Bahasa Indonesia",
            f"  curl '{stack.api_svc.url}/api/v1/public/kelurahan/Sendangmulyo?lang=en'",
            f"  KEY=$(.venv/bin/pantau keys create noc-demo --role operator --state-dir {stack.state_dir}/collector)",
            f"  curl -H \"X-API-Key: $KEY\" '{stack.api_svc.url}/api/v1/incidents?status=all'",
            f"  curl -H \"X-API-Key: $KEY\" '{stack.api_svc.url}/api/v1/hotspots?kecamatan=Tembalang&state=down'",
            f'  curl -H "X-API-Key: $KEY" {stack.api_svc.url}/api/v1/services     # e-gov probes and uptime',
            f'  curl -N -H "X-API-Key: $KEY" {stack.api_svc.url}/api/v1/events     # live (SSE)',
            f"  curl {stack.sim.url}/_sim/webhooks        # alerts delivered (Alertmanager v4, HMAC-signed)",
            "",
            "Ctrl-C stops everything.",
        ]
        if len(invs) > 1:
            lines[-1:-1] = [
                "[b]Cities[/b]   one simulator, one `pantau collect`, one `pantau api` for all; "
                f"each city's API and pages under /cities/<city>/ ({stack.api_svc.url}/api/v1/cities)",
                *(
                    f"  {i.display_name}: {len(i.hotspots)} hotspots — {stack.api_svc.url}/cities/{i.city}/   "
                    f"curl {stack.api_svc.url}/cities/{i.city}/api/v1/public/summary   "
                    f"(simulator: {stack.sim.url}/{i.city}/_sim/events)"
                    for i in invs
                ),
                "",
            ]
        console.print(Panel("\n".join(lines), title="Pantau", expand=False))
        while not stopping:
            for svc in (stack.influx, stack.mosquitto, stack.sim, stack.collector, stack.api_svc):
                if not svc.running():
                    console.print(f"[red]{svc.name} stopped unexpectedly[/red]; see {svc.log_path}")
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        console.print("stopping…")
        stack.stop()
    return 0
