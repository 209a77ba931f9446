"""Run Pantau's own Mosquitto, InfluxDB and (for tests/benchmarks) net-snmp snmpd.

Each service gets its config rendered from ``config/*.tmpl`` into a state directory, runs as a
child process in its own session (so Ctrl-C in a terminal reaches Pantau first, which then stops
them in order), and is considered started only once it answers. The same code starts the demo,
the test fixtures and the benchmarks.
"""

from __future__ import annotations

import getpass
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("pantau.services")

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"


class ServiceError(RuntimeError):
    pass


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def render(template: str, dest: Path, **values) -> Path:
    text = (CONFIG_DIR / template).read_text()
    dest.write_text(text.format(**values))
    return dest


def require_binary(name: str, package: str) -> str:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and os.path.exists(candidate):
            return candidate
    raise ServiceError(f"{name} not found: install the Debian package {package} (make demo / make test do)")


@dataclass
class Service:
    name: str
    argv: list[str]
    state_dir: Path
    host: str
    port: int
    proc: subprocess.Popen | None = field(default=None, repr=False)
    env: dict[str, str] | None = field(default=None, repr=False)  # added to os.environ (secrets: never argv)
    user: str | None = field(default=None, repr=False)  # run as this system user (PostgreSQL refuses root)

    @property
    def log_path(self) -> Path:
        return self.state_dir / f"{self.name}.stdout.log"

    def start(self, ready_timeout: float = 30.0) -> "Service":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        out = open(self.log_path, "ab")
        env = {**os.environ, **self.env} if self.env else None
        self.proc = subprocess.Popen(
            self.argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
            **({"user": self.user, "group": self.user} if self.user else {}),
        )
        out.close()
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with {self.proc.returncode} at start; see {self.log_path}:\n{self._tail()}"
                )
            if self.ready():
                log.info("%s ready on %s:%d", self.name, self.host, self.port)
                return self
            time.sleep(0.05)
        self.stop()
        raise ServiceError(
            f"{self.name} not ready on {self.host}:{self.port} after {ready_timeout}s; "
            f"see {self.log_path}:\n{self._tail()}"
        )

    def ready(self) -> bool:
        return port_open(self.host, self.port)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if not self.running():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def kill(self) -> None:
        """SIGKILL, for fault tests."""
        if self.running():
            self.proc.kill()
            self.proc.wait(5)

    def _tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


@dataclass(frozen=True)
class BrokerSecurity:
    """Mosquitto as a city runs it (docs/production.md): TLS with a certificate signed by ``tls_dir``'s
    CA (``pantau.tlsca.make_ca``), no anonymous access, users and passwords, an ACL file."""

    tls_dir: Path
    users: dict[str, str]  # user → password (hashed into the broker's password_file)
    acl: Path


def mosquitto(
    state_dir: Path, port: int | None = None, host: str = "127.0.0.1", security: BrokerSecurity | None = None
) -> Service:
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port(host)
    conf = render(
        "mosquitto.conf.tmpl",
        state_dir / "mosquitto.conf",
        port=port,
        host=host,
        state_dir=state_dir,
        user=getpass.getuser(),
    )
    if security is not None:
        passwd = state_dir / "passwd"
        passwd.write_text("".join(f"{u}:{pw}\n" for u, pw in security.users.items()))
        passwd.chmod(0o600)
        subprocess.run(
            [require_binary("mosquitto_passwd", "mosquitto"), "-U", str(passwd)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        t = Path(security.tls_dir)
        text = conf.read_text().replace(
            "allow_anonymous true\n",
            (
                f"cafile {t / 'ca.pem'}\ncertfile {t / 'server.pem'}\nkeyfile {t / 'server.key'}\n"
                f"allow_anonymous false\npassword_file {passwd}\nacl_file {security.acl}\n"
            ),
        )
        assert "allow_anonymous false" in text, "config/mosquitto.conf.tmpl changed its anchor"
        conf.write_text(text)
    binary = require_binary("mosquitto", "mosquitto")
    return Service("mosquitto", [binary, "-c", str(conf)], state_dir, host, port)


class _Nginx(Service):
    cache_dir: Path | None = None

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        if self.cache_dir is not None and not self.running():
            shutil.rmtree(self.cache_dir, ignore_errors=True)


def _worker_writable_dir(prefix: str) -> Path:
    """A folder nginx's workers can write: started as root, they run as ``nobody``, and a test's
    state folder (pytest's are 0700) is out of their reach — so a fresh one under /tmp, theirs."""
    import pwd
    import tempfile

    d = Path(tempfile.mkdtemp(prefix=prefix))
    d.chmod(0o755)
    if os.geteuid() == 0:
        pw = pwd.getpwnam("nobody")
        os.chown(d, pw.pw_uid, pw.pw_gid)
    return d


def nginx(
    state_dir: Path,
    upstream_port: int | list[int],
    tls_dir: Path,
    port: int | None = None,
    public_rate: tuple[int, int] | None = None,
) -> _Nginx:
    """Debian's nginx with Pantau's shipped site (config/nginx/pantau.conf): TLS terminated with the
    certificate in ``tls_dir``, ``X-Forwarded-For`` appended, proxying to ``pantau api`` (one port,
    or a list of replicas' ports: the upstream's servers). ``public_rate`` = (requests/s, burst)
    replaces the site's per-address limit of citizens' questions (a load test from one address)."""
    state_dir = Path(state_dir)
    (state_dir / "temp").mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    tls_dir = Path(tls_dir)
    ports = [upstream_port] if isinstance(upstream_port, int) else list(upstream_port)
    cache_dir = _worker_writable_dir("pantau-nginx-cache-")
    site = (CONFIG_DIR / "nginx" / "pantau.conf").read_text()
    site = (
        re.sub(
            r"server 127\.0\.0\.1:8000([^;]*);",
            lambda m: " ".join(f"server 127.0.0.1:{p}{m.group(1)};" for p in ports),
            site,
            count=1,
        )
        .replace("listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl;")
        .replace("/etc/pantau/tls/fullchain.pem", str(tls_dir / "server.pem"))
        .replace("/etc/pantau/tls/privkey.pem", str(tls_dir / "server.key"))
        .replace("/var/cache/nginx/pantau", str(cache_dir))
    )
    if public_rate is not None:
        site = re.sub(
            r"zone=pantau_citizens:20m rate=\d+r/s", f"zone=pantau_citizens:20m rate={public_rate[0]}r/s", site
        )
        site = re.sub(r"zone=pantau_citizens burst=\d+", f"zone=pantau_citizens burst={public_rate[1]}", site)
        if f"rate={public_rate[0]}r/s" not in site or f"burst={public_rate[1]} " not in site:
            raise ServiceError("config/nginx/pantau.conf lost the citizens' limit_req anchors")
    if (
        any(site.count(f"server 127.0.0.1:{p}") != 1 for p in ports)
        or f"127.0.0.1:{port} ssl" not in site
        or str(cache_dir) not in site
    ):
        raise ServiceError("config/nginx/pantau.conf lost the anchors services.nginx rewrites")
    tmp = state_dir / "temp"
    conf = state_dir / "nginx.conf"
    conf.write_text(f"""daemon off; pid {state_dir}/nginx.pid; error_log {state_dir}/nginx.error.log warn;
events {{ worker_connections 1024; }}
http {{ access_log off; client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
{site}
}}
""")
    binary = require_binary("nginx", "nginx-light")
    ng = _Nginx(
        "nginx",
        [binary, "-c", str(conf), "-p", str(state_dir), "-e", f"{state_dir}/nginx.error.log"],
        state_dir,
        "127.0.0.1",
        port,
    )
    ng.cache_dir = cache_dir
    return ng


class _HttpReady(Service):
    path: str = "/-/ready"

    def ready(self) -> bool:
        import httpx

        try:
            return httpx.get(f"http://{self.host}:{self.port}{self.path}", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def prometheus(
    state_dir: Path,
    targets: list[str],
    port: int | None = None,
    scrape_interval: str = "15s",
    scheme: str = "http",
    ca_file: Path | None = None,
    alertmanager: str | None = None,
) -> _HttpReady:
    """Debian's Prometheus with Pantau's shipped scrape config and rules (config/prometheus/),
    scraping ``targets`` (HOST:PORT of ``pantau api``, or of nginx with ``scheme="https"``)."""
    import json

    import yaml

    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    doc = yaml.safe_load((CONFIG_DIR / "prometheus" / "prometheus.yml").read_text())
    doc["global"]["scrape_interval"] = scrape_interval
    doc["rule_files"] = [str(CONFIG_DIR / "prometheus" / "pantau-rules.yml")]
    job = next(j for j in doc["scrape_configs"] if j["job_name"] == "pantau")
    job["static_configs"][0]["targets"] = targets
    job["scheme"] = scheme
    if ca_file:
        job["tls_config"] = {"ca_file": str(ca_file)}
    if alertmanager:
        doc["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    else:
        doc.pop("alerting", None)
    conf = state_dir / "prometheus.yml"
    conf.write_text(json.dumps(doc))
    binary = require_binary("prometheus", "prometheus")
    return _HttpReady(
        "prometheus",
        [
            binary,
            f"--config.file={conf}",
            f"--storage.tsdb.path={state_dir}/tsdb",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        state_dir,
        "127.0.0.1",
        port,
    )


def alertmanager(state_dir: Path, webhook_url: str, port: int | None = None, group_wait: str = "1s") -> _HttpReady:
    """Debian's prometheus-alertmanager routing everything to one webhook (the NOC's pager)."""
    import json

    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    conf = state_dir / "alertmanager.yml"
    conf.write_text(
        json.dumps(
            {
                "route": {
                    "receiver": "noc-hook",
                    "group_by": ["incident_id"],
                    "group_wait": group_wait,
                    "group_interval": "1s",
                    "repeat_interval": "1h",
                },
                "receivers": [{"name": "noc-hook", "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}],
            }
        )
    )
    binary = require_binary("prometheus-alertmanager", "prometheus-alertmanager")
    return _HttpReady(
        "alertmanager",
        [
            binary,
            f"--config.file={conf}",
            f"--storage.path={state_dir}/data",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        state_dir,
        "127.0.0.1",
        port,
    )


class _Influx(Service):
    def ready(self) -> bool:
        import httpx

        try:
            return httpx.get(f"http://{self.host}:{self.port}/ping", timeout=0.5).status_code == 204
        except httpx.HTTPError:
            return False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def influxdb(state_dir: Path, port: int | None = None, host: str = "127.0.0.1", auth: bool = False) -> _Influx:
    """InfluxDB 1.x; ``auth``: ``auth-enabled = true`` (create the admin user first: 1.x allows
    that one unauthenticated ``CREATE USER … WITH ALL PRIVILEGES``)."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port(host)
    rpc_port = free_port(host)
    conf = render(
        "influxdb.conf.tmpl",
        state_dir / "influxdb.conf",
        port=port,
        rpc_port=rpc_port,
        host=host,
        state_dir=state_dir,
        auth_enabled="true" if auth else "false",
    )
    binary = require_binary("influxd", "influxdb")
    return _Influx("influxdb", [binary, "-config", str(conf)], state_dir, host, port)


@dataclass
class _Postgres(Service):
    password: str = field(default="", repr=False)
    database: str = "pantau"
    data_dir: Path | None = None
    cleanup: Path | None = None  # a directory made for a root-run server, removed at stop

    def ready(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.dsn("postgres"), connect_timeout=1):
                return True
        except psycopg.Error:
            return False

    def dsn(self, database: str | None = None) -> str:
        return f"postgresql://pantau:{self.password}@{self.host}:{self.port}/{database or self.database}"

    @property
    def url(self) -> str:
        """The database URL Pantau takes (``PANTAU_DATABASE_URL``)."""
        return self.dsn()

    def create_database(self, name: str) -> str:
        """A fresh database on this server; returns its URL."""
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        if self.cleanup is not None and not self.running():
            shutil.rmtree(self.cleanup, ignore_errors=True)

    def restart(self, down_s: float = 2.0) -> None:
        """Stop the server (its clients lose their connections), stay down ``down_s``, start it
        again on the same port with the same data (a primary switchover, as clients see it)."""
        Service.stop(self)
        time.sleep(down_s)
        self.start()


def _pg_bin(name: str) -> str:
    """A PostgreSQL server binary of the Debian package (newest major version installed)."""
    base = Path("/usr/lib/postgresql")
    for v in sorted(
        (p for p in base.glob("*") if (p / "bin" / name).exists()), key=lambda p: int(p.name), reverse=True
    ):
        return str(v / "bin" / name)
    raise ServiceError(f"{name} not found under {base}: install the Debian package postgresql (make bootstrap does)")


def postgresql(state_dir: Path, port: int | None = None, host: str = "127.0.0.1", fsync: bool = True) -> _Postgres:
    """PostgreSQL (Debian's) with its own cluster: ``initdb`` with a generated password for the
    superuser ``pantau`` (scram-sha-256 on TCP), listening on ``host:port`` only, a database
    ``pantau``. PostgreSQL refuses to run as root: as root the cluster lives in a directory of its
    own owned by the ``postgres`` system user (the Debian package creates it), removed at stop.
    ``fsync=False`` is for throwaway test clusters only."""
    import secrets
    import tempfile

    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port(host)
    user = None
    cleanup = None
    if os.geteuid() == 0:
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            raise ServiceError("running as root needs the system user postgres (Debian package postgresql)") from None
        user = "postgres"
        cleanup = Path(tempfile.mkdtemp(prefix="pantau-pg-"))
        os.chown(cleanup, pw.pw_uid, pw.pw_gid)
        data = cleanup / "data"
    else:
        data = state_dir / "pgdata"
    password = secrets.token_urlsafe(18)
    if not (data / "PG_VERSION").exists():
        pwfile = (cleanup or state_dir) / "pw"
        pwfile.write_text(password)
        if user:
            os.chown(pwfile, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
        r = subprocess.run(
            [
                _pg_bin("initdb"),
                "-D",
                str(data),
                "-U",
                "pantau",
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=peer",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            capture_output=True,
            text=True,
            **({"user": user, "group": user} if user else {}),
        )
        pwfile.unlink()
        if r.returncode != 0:
            raise ServiceError(f"initdb failed: {r.stderr.strip()[-500:]}")
        (state_dir / "postgres-password").write_text(password)
    else:
        password = (state_dir / "postgres-password").read_text()
    argv = [
        _pg_bin("postgres"), "-D", str(data), "-c", f"listen_addresses={host}", "-c", f"port={port}",
        "-c", f"unix_socket_directories={data}", "-c", "max_connections=300", "-c", "shared_buffers=64MB",
        "-c", f"fsync={'on' if fsync else 'off'}", "-c", f"synchronous_commit={'on' if fsync else 'off'}",
        "-c", "full_page_writes=on", "-c", "log_min_messages=warning",
    ]  # fmt: skip
    svc = _Postgres("postgres", argv, state_dir, host, port, user=user)
    svc.password, svc.data_dir, svc.cleanup = password, data, cleanup
    return svc


def start_postgresql(state_dir: Path, **kw) -> _Postgres:
    """Start :func:`postgresql` and create the ``pantau`` database."""
    svc = postgresql(state_dir, **kw)
    svc.start()
    import psycopg

    with psycopg.connect(svc.dsn("postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'pantau'").fetchone():
            conn.execute('CREATE DATABASE "pantau"')
    return svc


class _Snmpd(Service):
    def ready(self) -> bool:
        # UDP: ask for sysUpTime.0 with a raw v2c GET.
        from snmpwire.ber import decode_message, encode_get_request_v2c

        pkt = encode_get_request_v2c(self.community, 1, [(1, 3, 6, 1, 2, 1, 1, 3, 0)])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.3)
            try:
                s.sendto(pkt, (self.host, self.port))
                data, _ = s.recvfrom(65535)
                decode_message(data)
                return True
            except OSError:
                return False

    community: str = "public"


def snmpd(
    state_dir: Path,
    addresses: list[str],
    port: int,
    community: str = "public",
    v3_user: str = "pantau-noc",
    v3_auth: str = "test-auth-pass",
    v3_priv: str = "test-priv-pass",
) -> _Snmpd:
    """net-snmp's snmpd on the given loopback addresses (passed as arguments, not agentAddress)."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    conf = render(
        "snmpd.conf.tmpl",
        state_dir / "snmpd.conf",
        community=community,
        v3_user=v3_user,
        v3_auth=v3_auth,
        v3_priv=v3_priv,
    )
    binary = require_binary("snmpd", "snmpd")
    argv = [
        binary,
        "-f",
        "-Lf",
        str(state_dir / "snmpd.log"),
        "-C",
        "-c",
        str(conf),
        "-p",
        str(state_dir / "snmpd.pid"),
        "-M",
        "/usr/share/snmp/mibs",
        "--persistentDir=" + str(state_dir / "persist"),
        "-I",
        "-smux,mteTrigger,mteTriggerConf",
    ]
    argv += [f"udp:{a}:{port}" for a in addresses]
    svc = _Snmpd("snmpd", argv, state_dir, addresses[0], port)
    svc.community = community
    return svc


class _Simulator(Service):
    def ready(self) -> bool:
        import httpx

        try:
            return httpx.get(f"http://{self.host}:{self.port}/_sim/health", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def simulator(
    state_dir: Path,
    city: str,
    snmp_port: int,
    http_port: int | None = None,
    mqtt: tuple[str, int] | None = None,
    time_scale: float = 1.0,
    seed: int = 0,
    telemetry_interval_s: float = 10.0,
    trap_target: tuple[str, int] | None = None,
    mqtt_username: str | None = None,
    mqtt_password: str | None = None,
    mqtt_ca_file: Path | None = None,
    world: str | None = None,
) -> _Simulator:
    """The simulated city as a child process (its own core for the SNMP agents).

    ``world``: the world as JSON (simulator/world.py), written to the state folder and passed as
    ``--world @FILE``."""
    import sys

    state_dir = Path(state_dir)
    http_port = http_port or free_port()
    argv = [
        sys.executable,
        "-m",
        "pantau",
        "simulator",
        "run",
        "--city",
        str(city),
        "--snmp-port",
        str(snmp_port),
        "--http-port",
        str(http_port),
        "--time-scale",
        str(time_scale),
        "--seed",
        str(seed),
        "--telemetry-interval",
        str(telemetry_interval_s),
    ]
    if mqtt:
        argv += ["--mqtt", f"{mqtt[0]}:{mqtt[1]}"]
    if trap_target:
        argv += ["--trap-target", f"{trap_target[0]}:{trap_target[1]}"]
    if mqtt_username:
        argv += ["--mqtt-username", mqtt_username]
    if mqtt_ca_file:
        argv += ["--mqtt-ca-file", str(mqtt_ca_file)]
    if world:
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / "world.json").write_text(world)
        argv += ["--world", f"@{state_dir / 'world.json'}"]
    env = {"PANTAU_SIM_MQTT_PASSWORD": mqtt_password} if mqtt_password else None
    return _Simulator("simulator", argv, state_dir, "127.0.0.1", http_port, env=env)


class _Collector(Service):
    status_file: Path | None = None

    def ready(self) -> bool:
        return self.status_file is not None and self.status_file.exists()

    def status(self) -> dict:
        import json

        try:
            return json.loads(self.status_file.read_text())
        except (OSError, ValueError):
            return {}


def collector(
    state_dir: Path,
    city: str,
    influx_url: str,
    database: str = "pantau",
    snmp_port: int | None = None,
    trap_port: int | None = None,
    intervals: dict[str, float] | None = None,
    mqtt: tuple[str, int] | None = None,
    telemetry_interval_s: float = 10.0,
    grid_workers: int = 0,
    snmp: bool = True,
    time_scale: float = 1.0,
    egov_base_url: str | None = None,
    receivers: Path | None = None,
    env: dict[str, str] | None = None,
) -> _Collector:
    """``pantau collect`` as a child process (SNMP poller, trap receiver, health; grid MQTT → InfluxDB)."""
    import sys

    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    status = state_dir / "collector-status.json"
    status.unlink(missing_ok=True)
    argv = [
        sys.executable,
        "-m",
        "pantau",
        "collect",
        "--city",
        str(city),
        "--influx",
        influx_url,
        "--database",
        database,
        "--status-file",
        str(status),
        "--state-dir",
        str(state_dir),
    ]
    if mqtt:
        argv += [
            "--mqtt",
            f"{mqtt[0]}:{mqtt[1]}",
            "--telemetry-interval",
            f"{telemetry_interval_s:g}",
            "--grid-workers",
            str(grid_workers),
        ]
    if not snmp:
        argv.append("--no-snmp")
    if egov_base_url:
        argv += ["--egov-base-url", egov_base_url]
    else:
        argv.append("--no-egov")
    if receivers:
        argv += ["--receivers", str(receivers)]
    if time_scale != 1.0:
        # the SNMP timeout stays in real seconds at every time scale (contract, "Running one")
        argv += ["--time-scale", f"{time_scale:g}"]
    if snmp_port:
        argv += ["--snmp-port", str(snmp_port)]
    if trap_port:
        argv += ["--traps", f"127.0.0.1:{trap_port}"]
    for name, secs in (intervals or {}).items():
        argv += ["--interval", f"{name}={secs:g}"]
    svc = _Collector("collector", argv, state_dir, "127.0.0.1", trap_port or 0, env=env)
    svc.status_file = status
    return svc


class _Snmpsim(_Snmpd):
    pass


def snmpsim(
    state_dir: Path,
    recordings: dict[str, Path],
    port: int,
    v3_user: str = "pantau-sim",
    v3_auth: str = "sim-auth-pass",
    v3_priv: str = "sim-priv-pass",
) -> _Snmpsim:
    """snmpsim (Debian package) serving recordings of real devices: community (v2c) or context
    name (v3) = the recording's name. ``recordings``: name → .snmprec file (may be .gz)."""
    import gzip
    import pwd

    state_dir = Path(state_dir)
    data = state_dir / "data"
    cache = state_dir / "cache"
    data.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    for name, src in recordings.items():
        raw = gzip.decompress(src.read_bytes()) if src.suffix == ".gz" else src.read_bytes()
        (data / f"{name}.snmprec").write_bytes(raw)
    binary = require_binary("snmpsimd", "snmpsim")
    argv = [
        binary,
        f"--data-dir={data}",
        f"--cache-dir={cache}",
        f"--agent-udpv4-endpoint=127.0.0.1:{port}",
        f"--v3-user={v3_user}",
        f"--v3-auth-key={v3_auth}",
        "--v3-auth-proto=SHA",
        f"--v3-priv-key={v3_priv}",
        "--v3-priv-proto=AES",
        "--logging-method=null",
    ]
    if os.geteuid() == 0:  # snmpsimd refuses to run as root: it drops to nobody
        nobody = pwd.getpwnam("nobody")
        os.chown(cache, nobody.pw_uid, nobody.pw_gid)
        for p in (state_dir, data):
            os.chmod(p, 0o755)
        argv += ["--process-user=nobody", "--process-group=nogroup"]
    svc = _Snmpsim("snmpsim", argv, state_dir, "127.0.0.1", port)
    svc.community = next(iter(recordings))
    return svc


def api(
    state_dir: Path,
    city: str,
    influx_url: str | None,
    port: int | None = None,
    host: str = "127.0.0.1",
    rate_per_s: float | None = None,
    burst: int | None = None,
    env: dict[str, str] | None = None,
) -> Service:
    """``pantau api`` as a child process (uvicorn, one worker) reading the collector's state folder."""
    import sys

    port = port or free_port()
    argv = [
        sys.executable,
        "-m",
        "pantau",
        "api",
        "--city",
        str(city),
        "--state-dir",
        str(state_dir),
        "--host",
        host,
        "--port",
        str(port),
    ]
    if influx_url:
        argv += ["--influx", influx_url]
    if rate_per_s is not None:
        argv += ["--rate", f"{rate_per_s:g}"]
    if burst is not None:
        argv += ["--burst", str(burst)]
    svc = Service("api", argv, Path(state_dir) / "api", host, port, env=env)
    svc.url = f"http://{host}:{port}"
    return svc


def pantau(command: str, env: dict[str, str], log_dir: Path) -> Service:
    """``pantau collect`` or ``pantau api`` configured as docs/production.md says: by ``PANTAU_*``
    environment only (``env``: the unit's EnvironmentFile), no flags."""
    import sys

    if command not in ("collect", "api"):
        raise ValueError(command)
    argv = [sys.executable, "-m", "pantau", command]
    if command == "collect":
        state = Path(env["PANTAU_STATE_DIR"])
        status = state / "collector-status.json"
        status.unlink(missing_ok=True)
        svc = _Collector("collector", argv, Path(log_dir), "127.0.0.1", 0, env=env)
        svc.status_file = status
        return svc
    host, port = env.get("PANTAU_API_HOST", "127.0.0.1"), int(env.get("PANTAU_API_PORT", "8000"))
    svc = Service("api", argv, Path(log_dir), host, port, env=env)
    svc.url = f"http://{host}:{port}"  # type: ignore[attr-defined]
    return svc
