"""The running system on the simulated city: InfluxDB, Mosquitto and the city, started in order
and stopped in reverse. Used by ``pantau demo``, ``pantau scenario run``, tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from pantau import services
from store.provision import provision_v1
from store.timeseries import InfluxV1


def port_free(port: int, kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def pick_snmp_port(preferred: int = 161) -> int:
    """161 when we may bind it (root) and it is free; otherwise a free high port."""
    # The simulator binds 127.20.x.y / 127.30.x.y, not 127.0.0.1: ask one of those (another run may hold them).
    if (preferred >= 1024 or os.geteuid() == 0) and port_free(preferred, socket.SOCK_DGRAM, "127.20.0.1") \
            and port_free(preferred, socket.SOCK_DGRAM, "127.0.0.1"):
        return preferred
    return services.free_port(kind=socket.SOCK_DGRAM)


@dataclass
class Stack:
    state_dir: Path
    city: str = "semarang"
    time_scale: float = 1.0
    seed: int = 0
    telemetry_interval_s: float = 10.0
    snmp_port: int | None = None
    influx_port: int | None = None
    mqtt_port: int | None = None
    http_port: int | None = None
    trap_target: tuple[str, int] | None = None
    collect: bool = False  # also run Pantau's collectors (pantau collect) against the city
    egov: bool = True      # the collectors probe the simulated e-gov services
    receivers: Path | None = None  # alert receivers file for the collectors
    api: bool = False      # also serve the API (pantau api) on the collectors' state
    api_port: int | None = None
    api_rate: float | None = None
    alerts_to_sim: bool = False  # demo: alerts go to the simulator's webhook sink (/_sim/webhooks)
    intervals: dict[str, float] | None = None
    influx: services.Service | None = None
    mosquitto: services.Service | None = None
    sim: services.Service | None = None
    collector: services.Service | None = None
    api_svc: services.Service | None = None
    db: InfluxV1 | None = None
    _started: list = field(default_factory=list)

    def start(self, progress=lambda msg: None) -> "Stack":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            progress("starting InfluxDB")
            self.influx = services.influxdb(self.state_dir / "influxdb", port=self.influx_port).start()
            self._started.append(self.influx)
            self.db = InfluxV1(self.influx.url, "pantau")
            provision_v1(self.db)
            progress("starting Mosquitto")
            self.mosquitto = services.mosquitto(self.state_dir / "mosquitto", port=self.mqtt_port).start()
            self._started.append(self.mosquitto)
            progress("starting the simulated city (2,300 SNMP agents, grid telemetry, e-gov services)")
            self.snmp_port = self.snmp_port or pick_snmp_port()
            trap_port = None
            if self.collect and self.trap_target is None:
                trap_port = services.free_port(kind=socket.SOCK_DGRAM)
                self.trap_target = ("127.0.0.1", trap_port)
            self.sim = services.simulator(self.state_dir / "simulator", self.city, self.snmp_port, self.http_port,
                                          mqtt=("127.0.0.1", self.mosquitto.port), time_scale=self.time_scale,
                                          seed=self.seed, telemetry_interval_s=self.telemetry_interval_s,
                                          trap_target=self.trap_target).start(ready_timeout=120)
            self._started.append(self.sim)
            if self.collect and self.receivers is None and self.alerts_to_sim:
                self.receivers = self.state_dir / "receivers.yaml"
                self.receivers.write_text(
                    "# Demo receivers: the simulator's webhook sink (see alerts/config.py, docs/alerts.md)\n"
                    f"external_url: http://127.0.0.1:{self.api_port or 8000}\n"
                    "receivers:\n"
                    f"  - {{name: demo-noc, url: '{self.sim.url}/_sim/webhook', format: alertmanager,\n"
                    "     hmac_secret: demo-hmac, group_wait_s: 10, group_interval_s: 30}\n"
                    "secrets:\n  demo-hmac: demo-only-not-a-secret\n")
            if self.collect:
                progress("starting Pantau's collectors (SNMP poller, traps, health; grid MQTT ingest and state)")
                self.collector = services.collector(self.state_dir / "collector", self.city, self.influx.url,
                                                    snmp_port=self.snmp_port, trap_port=trap_port,
                                                    intervals=self.intervals, mqtt=("127.0.0.1", self.mosquitto.port),
                                                    telemetry_interval_s=self.telemetry_interval_s / self.time_scale,
                                                    time_scale=self.time_scale,
                                                    egov_base_url=self.sim.url if self.egov else None,
                                                    receivers=self.receivers).start(ready_timeout=60)
                self._started.append(self.collector)
                if self.api:
                    progress("starting the API")
                    self.api_svc = services.api(self.state_dir / "collector", self.city, self.influx.url,
                                                port=self.api_port, rate_per_s=self.api_rate).start(ready_timeout=60)
                    self._started.append(self.api_svc)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for svc in reversed(self._started):
            with contextlib.suppress(Exception):
                svc.stop()
        self._started.clear()
        if self.db:
            self.db.close()
            self.db = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
