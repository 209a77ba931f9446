"""The running system on the simulated city: InfluxDB, Mosquitto and the city, started in order
and stopped in reverse. Used by ``pantau demo``, ``pantau scenario run``, tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from pantau import services
from store.provision import provision_users_v1, provision_v1
from store.timeseries import InfluxV1

# Broker and InfluxDB users of the secure stack (docs/production.md, config/mosquitto.acl).
MQTT_COLLECTOR, MQTT_GATEWAY = "pantau-collector", "simulator"
INFLUX_ADMIN, INFLUX_WRITER, INFLUX_READER = "admin", "pantau-collect", "pantau-api"
SECRET_NAMES = ("influx-admin", "influx-collect", "influx-api", "mqtt-collector", "mqtt-simulator", "alerts-hmac")


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
    if (
        (preferred >= 1024 or os.geteuid() == 0)
        and port_free(preferred, socket.SOCK_DGRAM, "127.20.0.1")
        and port_free(preferred, socket.SOCK_DGRAM, "127.0.0.1")
    ):
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
    egov: bool = True  # the collectors probe the simulated e-gov services
    receivers: Path | None = None  # alert receivers file for the collectors
    api: bool = False  # also serve the API (pantau api) on the collectors' state
    api_port: int | None = None
    api_rate: float | None = None
    alerts_to_sim: bool = False  # demo: alerts go to the simulator's webhook sink (/_sim/webhooks)
    intervals: dict[str, float] | None = None
    # The world of a scenario (simulator/world.py, as JSON) for the simulator, and the inventory the
    # monitor reads when it differs from the simulated truth (a city folder with the file's errors).
    world: str | None = None
    monitor_city: str | None = None
    # The production topology (docs/production.md) on loopback: InfluxDB with auth-enabled and
    # non-admin users, Mosquitto with TLS (a CA the stack makes for itself) + passwords + the ACL of
    # config/mosquitto.acl, the simulator publishing as its gateway user, and `pantau collect` /
    # `pantau api` configured by PANTAU_* environment only, in production mode.
    secure: bool = False
    # The state database of the collector and the API: None = the collector folder's SQLite file, or
    # — when PANTAU_TEST_DATABASE_SERVER names a PostgreSQL server (the test harness's, in the suite's
    # PostgreSQL pass) — a fresh database on that server for this stack.
    database_url: str | None = None
    influx: services.Service | None = None
    mosquitto: services.Service | None = None
    sim: services.Service | None = None
    collector: services.Service | None = None
    api_svc: services.Service | None = None
    db: InfluxV1 | None = None
    secrets: dict[str, Path] = field(default_factory=dict)  # secure: name → file (0600)
    tls_dir: Path | None = None
    collector_env: dict[str, str] = field(default_factory=dict)
    api_env: dict[str, str] = field(default_factory=dict)
    _started: list = field(default_factory=list)

    def secret(self, name: str) -> str:
        return self.secrets[name].read_text()

    def _make_secrets(self) -> None:
        import secrets as _secrets

        d = self.state_dir / "secrets"
        d.mkdir(mode=0o700, exist_ok=True)
        for name in SECRET_NAMES:
            f = d / name
            if not f.exists():  # kept across restarts: the servers' state holds them
                f.write_text(_secrets.token_urlsafe(24))
                f.chmod(0o600)
            self.secrets[name] = f

    def _start_influx(self) -> None:
        self.influx = services.influxdb(self.state_dir / "influxdb", port=self.influx_port, auth=self.secure).start()
        self._started.append(self.influx)
        if not self.secure:
            self.db = InfluxV1(self.influx.url, "pantau")
            provision_v1(self.db)
            return
        pw = self.secret("influx-admin")
        if not (self.state_dir / "influxdb" / ".admin-created").exists():
            # 1.x with auth-enabled allows exactly this one unauthenticated statement while no user exists.
            InfluxV1(self.influx.url, "pantau").query(
                f"CREATE USER {INFLUX_ADMIN} WITH PASSWORD '{pw}' WITH ALL PRIVILEGES"
            )
            (self.state_dir / "influxdb" / ".admin-created").touch()
        self.db = InfluxV1(self.influx.url, "pantau", INFLUX_ADMIN, pw)
        provision_v1(self.db)
        provision_users_v1(
            self.db,
            {
                INFLUX_WRITER: (self.secret("influx-collect"), "WRITE"),
                INFLUX_READER: (self.secret("influx-api"), "READ"),
            },
        )

    def _start_mosquitto(self) -> None:
        security = None
        if self.secure:
            from pantau.tlsca import make_ca

            self.tls_dir = self.state_dir / "tls"
            make_ca(self.tls_dir, days=30)
            acl = self.state_dir / "mosquitto.acl"
            acl.write_text(
                (services.CONFIG_DIR / "mosquitto.acl").read_text()
                + "\n# The simulated city's grid gateway (pantau/stack.py); it also plays PLN's notice publisher.\n"
                + f"user {MQTT_GATEWAY}\n"
                + "".join(
                    f"topic write pantau/{name}/grid/feeder/+/telemetry\n"
                    f"topic write pantau/{name}/grid/transformer/+/telemetry\n"
                    f"topic write pantau/{name}/grid/maintenance/#\n"
                    for name in self._city_names()
                )
            )
            security = services.BrokerSecurity(
                self.tls_dir,
                {MQTT_COLLECTOR: self.secret("mqtt-collector"), MQTT_GATEWAY: self.secret("mqtt-simulator")},
                acl,
            )
        self.mosquitto = services.mosquitto(
            self.state_dir / "mosquitto", port=self.mqtt_port, security=security
        ).start()
        self._started.append(self.mosquitto)

    def _city_names(self) -> list[str]:
        """The simulated cities' names (``city`` may list several: ``semarang,batang``)."""
        from hotspots.inventory import load_inventory, resolve_city

        return [load_inventory(resolve_city(c.strip())).city for c in self.city.split(",") if c.strip()]

    def _secure_env(self, state: Path, trap_port: int | None) -> None:
        """The EnvironmentFile of each unit (deploy/systemd/pantau.env.example), for this stack."""
        import json

        common = {
            "PANTAU_ENV": "production",
            "PANTAU_CITY": str(self.monitor_city or self.city),
            "PANTAU_STATE_DIR": str(state),
            "PANTAU_INFLUX_URL": self.influx.url,
            "PANTAU_INFLUX_DATABASE": "pantau",
        }
        env = {
            **common,
            "PANTAU_INFLUX_USERNAME": INFLUX_WRITER,
            "PANTAU_INFLUX_PASSWORD_FILE": str(self.secrets["influx-collect"]),
            "PANTAU_MQTT_HOST": "127.0.0.1",
            "PANTAU_MQTT_PORT": str(self.mosquitto.port),
            "PANTAU_MQTT_USERNAME": MQTT_COLLECTOR,
            "PANTAU_MQTT_PASSWORD_FILE": str(self.secrets["mqtt-collector"]),
            "PANTAU_MQTT_TLS": "true",
            "PANTAU_MQTT_CA_FILE": str(self.tls_dir / "ca.pem"),
            "PANTAU_TELEMETRY_INTERVAL_S": f"{self.telemetry_interval_s / self.time_scale:g}",
            "PANTAU_SNMP_PORT": str(self.snmp_port),
        }
        if trap_port:
            env["PANTAU_TRAPS_LISTEN"] = f"127.0.0.1:{trap_port}"
        if self.intervals:
            env["PANTAU_INTERVALS"] = json.dumps(self.intervals)
        if self.time_scale != 1.0:  # the SNMP timeout stays in real seconds (contract)
            env["PANTAU_TIME_SCALE"] = f"{self.time_scale:g}"
        if self.egov:
            env["PANTAU_EGOV_BASE_URL"] = self.sim.url
        else:
            env["PANTAU_EGOV"] = "false"
        if self.receivers:
            env["PANTAU_RECEIVERS_FILE"] = str(self.receivers)
            env["PANTAU_SECRET_ALERTS_HMAC"] = self.secret("alerts-hmac")
        if self.database_url:
            common["PANTAU_DATABASE_URL"] = env["PANTAU_DATABASE_URL"] = self.database_url
        self.collector_env = env
        self.api_port = self.api_port or services.free_port()
        self.api_env = {
            **common,
            "PANTAU_INFLUX_USERNAME": INFLUX_READER,
            "PANTAU_INFLUX_PASSWORD_FILE": str(self.secrets["influx-api"]),
            "PANTAU_API_HOST": "127.0.0.1",
            "PANTAU_API_PORT": str(self.api_port),
            "PANTAU_TRUSTED_PROXIES": '["127.0.0.1"]',
        }
        if self.api_rate is not None:
            self.api_env["PANTAU_PUBLIC_RATE"] = f"{self.api_rate:g}"

    def _database(self) -> None:
        server = os.environ.get("PANTAU_TEST_DATABASE_SERVER")
        if self.database_url or not server or not (self.collect or self.api):
            return
        import uuid

        import psycopg

        name = "stack_" + uuid.uuid4().hex[:12]
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.database_url = server.rsplit("/", 1)[0] + "/" + name

    @property
    def pantau_env(self) -> dict[str, str] | None:
        """Environment for the collector and the API processes (the state database)."""
        return {"PANTAU_DATABASE_URL": self.database_url} if self.database_url else None

    def start(self, progress=lambda msg: None) -> "Stack":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._database()
            if self.secure:
                self._make_secrets()
            progress("starting InfluxDB" + (" (auth-enabled, non-admin users)" if self.secure else ""))
            self._start_influx()
            progress("starting Mosquitto" + (" (TLS, passwords, ACL)" if self.secure else ""))
            self._start_mosquitto()
            progress("starting the simulated city (2,300 SNMP agents, grid telemetry, e-gov services)")
            self.snmp_port = self.snmp_port or pick_snmp_port()
            trap_port = None
            if self.collect and self.trap_target is None:
                trap_port = services.free_port(kind=socket.SOCK_DGRAM)
                self.trap_target = ("127.0.0.1", trap_port)
            self.sim = services.simulator(
                self.state_dir / "simulator",
                self.city,
                self.snmp_port,
                self.http_port,
                mqtt=("127.0.0.1", self.mosquitto.port),
                time_scale=self.time_scale,
                seed=self.seed,
                telemetry_interval_s=self.telemetry_interval_s,
                trap_target=self.trap_target,
                mqtt_username=MQTT_GATEWAY if self.secure else None,
                mqtt_password=self.secret("mqtt-simulator") if self.secure else None,
                mqtt_ca_file=self.tls_dir / "ca.pem" if self.secure else None,
                world=self.world,
            ).start(ready_timeout=120)
            self._started.append(self.sim)
            if self.collect and self.receivers is None and self.alerts_to_sim:
                self.receivers = self.state_dir / "receivers.yaml"
                self.receivers.write_text(
                    "# Demo receivers: the simulator's webhook sink (see alerts/config.py, docs/alerts.md)\n"
                    f"external_url: http://127.0.0.1:{self.api_port or 8000}\n"
                    "receivers:\n"
                    f"  - {{name: demo-noc, url: '{self.sim.url}/_sim/webhook', format: alertmanager,\n"
                    "     hmac_secret: alerts-hmac, group_wait_s: 10, group_interval_s: 30}\n"
                    + ("" if self.secure else "secrets:\n  alerts-hmac: demo-only-not-a-secret\n")
                )
            if self.collect:
                progress("starting Pantau's collectors (SNMP poller, traps, health; grid MQTT ingest and state)")
                if self.secure:
                    self._start_secure_pantau(trap_port)
                    return self
                self.collector = services.collector(
                    self.state_dir / "collector",
                    self.monitor_city or self.city,
                    self.influx.url,
                    snmp_port=self.snmp_port,
                    trap_port=trap_port,
                    intervals=self.intervals,
                    mqtt=("127.0.0.1", self.mosquitto.port),
                    telemetry_interval_s=self.telemetry_interval_s / self.time_scale,
                    time_scale=self.time_scale,
                    egov_base_url=self.sim.url if self.egov else None,
                    receivers=self.receivers,
                    env=self.pantau_env,
                ).start(ready_timeout=60)
                self._started.append(self.collector)
                if self.api:
                    progress("starting the API")
                    self.api_svc = services.api(
                        self.state_dir / "collector",
                        self.monitor_city or self.city,
                        self.influx.url,
                        port=self.api_port,
                        rate_per_s=self.api_rate,
                        env=self.pantau_env,
                    ).start(ready_timeout=60)
                    self._started.append(self.api_svc)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_secure_pantau(self, trap_port: int | None) -> None:
        state = self.state_dir / "collector"
        self._secure_env(state, trap_port)
        self.collector = services.pantau("collect", self.collector_env, state).start(ready_timeout=60)
        self._started.append(self.collector)
        if self.api:
            self.api_svc = services.pantau("api", self.api_env, state / "api").start(ready_timeout=60)
            self._started.append(self.api_svc)

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
