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

    @property
    def log_path(self) -> Path:
        return self.state_dir / f"{self.name}.stdout.log"

    def start(self, ready_timeout: float = 30.0) -> "Service":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        out = open(self.log_path, "ab")
        env = {**os.environ, **self.env} if self.env else None
        self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, env=env)
        out.close()
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceError(f"{self.name} exited with {self.proc.returncode} at start; "
                                   f"see {self.log_path}:\n{self._tail()}")
            if self.ready():
                log.info("%s ready on %s:%d", self.name, self.host, self.port)
                return self
            time.sleep(0.05)
        self.stop()
        raise ServiceError(f"{self.name} not ready on {self.host}:{self.port} after {ready_timeout}s; "
                           f"see {self.log_path}:\n{self._tail()}")

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


def mosquitto(state_dir: Path, port: int | None = None, host: str = "127.0.0.1") -> Service:
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port(host)
    conf = render("mosquitto.conf.tmpl", state_dir / "mosquitto.conf", port=port, host=host,
                  state_dir=state_dir, user=getpass.getuser())
    binary = require_binary("mosquitto", "mosquitto")
    return Service("mosquitto", [binary, "-c", str(conf)], state_dir, host, port)


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
    conf = render("influxdb.conf.tmpl", state_dir / "influxdb.conf", port=port, rpc_port=rpc_port, host=host,
                  state_dir=state_dir, auth_enabled="true" if auth else "false")
    binary = require_binary("influxd", "influxdb")
    return _Influx("influxdb", [binary, "-config", str(conf)], state_dir, host, port)


class _Snmpd(Service):
    def ready(self) -> bool:
        # UDP: ask for sysUpTime.0 with a raw v2c GET.
        from snmpwire.ber import encode_get_request_v2c, decode_message

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


def snmpd(state_dir: Path, addresses: list[str], port: int, community: str = "public",
          v3_user: str = "pantau-noc", v3_auth: str = "test-auth-pass", v3_priv: str = "test-priv-pass") -> _Snmpd:
    """net-snmp's snmpd on the given loopback addresses (passed as arguments, not agentAddress)."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    conf = render("snmpd.conf.tmpl", state_dir / "snmpd.conf", community=community, v3_user=v3_user,
                  v3_auth=v3_auth, v3_priv=v3_priv)
    binary = require_binary("snmpd", "snmpd")
    argv = [binary, "-f", "-Lf", str(state_dir / "snmpd.log"), "-C", "-c", str(conf),
            "-p", str(state_dir / "snmpd.pid"), "-M", "/usr/share/snmp/mibs",
            "--persistentDir=" + str(state_dir / "persist"), "-I", "-smux,mteTrigger,mteTriggerConf"]
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


def simulator(state_dir: Path, city: str, snmp_port: int, http_port: int | None = None,
              mqtt: tuple[str, int] | None = None, time_scale: float = 1.0, seed: int = 0,
              telemetry_interval_s: float = 10.0, trap_target: tuple[str, int] | None = None) -> _Simulator:
    """The simulated city as a child process (its own core for the SNMP agents)."""
    import sys

    state_dir = Path(state_dir)
    http_port = http_port or free_port()
    argv = [sys.executable, "-m", "pantau", "simulator", "run", "--city", str(city), "--snmp-port", str(snmp_port),
            "--http-port", str(http_port), "--time-scale", str(time_scale), "--seed", str(seed),
            "--telemetry-interval", str(telemetry_interval_s)]
    if mqtt:
        argv += ["--mqtt", f"{mqtt[0]}:{mqtt[1]}"]
    if trap_target:
        argv += ["--trap-target", f"{trap_target[0]}:{trap_target[1]}"]
    return _Simulator("simulator", argv, state_dir, "127.0.0.1", http_port)


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


def collector(state_dir: Path, city: str, influx_url: str, database: str = "pantau", snmp_port: int | None = None,
              trap_port: int | None = None, intervals: dict[str, float] | None = None,
              mqtt: tuple[str, int] | None = None, telemetry_interval_s: float = 10.0, grid_workers: int = 0,
              snmp: bool = True, time_scale: float = 1.0, egov_base_url: str | None = None,
              receivers: Path | None = None, env: dict[str, str] | None = None) -> _Collector:
    """``pantau collect`` as a child process (SNMP poller, trap receiver, health; grid MQTT → InfluxDB)."""
    import sys

    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    status = state_dir / "collector-status.json"
    status.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "pantau", "collect", "--city", str(city), "--influx", influx_url,
            "--database", database, "--status-file", str(status), "--state-dir", str(state_dir)]
    if mqtt:
        argv += ["--mqtt", f"{mqtt[0]}:{mqtt[1]}", "--telemetry-interval", f"{telemetry_interval_s:g}",
                 "--grid-workers", str(grid_workers)]
    if not snmp:
        argv.append("--no-snmp")
    if egov_base_url:
        argv += ["--egov-base-url", egov_base_url]
    else:
        argv.append("--no-egov")
    if receivers:
        argv += ["--receivers", str(receivers)]
    if time_scale != 1.0:
        argv += ["--time-scale", f"{time_scale:g}", "--snmp-timeout", f"{max(0.25, 1.0 / time_scale):g}"]
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


def snmpsim(state_dir: Path, recordings: dict[str, Path], port: int, v3_user: str = "pantau-sim",
            v3_auth: str = "sim-auth-pass", v3_priv: str = "sim-priv-pass") -> _Snmpsim:
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
    argv = [binary, f"--data-dir={data}", f"--cache-dir={cache}", f"--agent-udpv4-endpoint=127.0.0.1:{port}",
            f"--v3-user={v3_user}", f"--v3-auth-key={v3_auth}", "--v3-auth-proto=SHA", f"--v3-priv-key={v3_priv}",
            "--v3-priv-proto=AES", "--logging-method=null"]
    if os.geteuid() == 0:  # snmpsimd refuses to run as root: it drops to nobody
        nobody = pwd.getpwnam("nobody")
        os.chown(cache, nobody.pw_uid, nobody.pw_gid)
        for p in (state_dir, data):
            os.chmod(p, 0o755)
        argv += ["--process-user=nobody", "--process-group=nogroup"]
    svc = _Snmpsim("snmpsim", argv, state_dir, "127.0.0.1", port)
    svc.community = next(iter(recordings))
    return svc


def api(state_dir: Path, city: str, influx_url: str | None, port: int | None = None, host: str = "127.0.0.1",
        rate_per_s: float | None = None, burst: int | None = None, env: dict[str, str] | None = None) -> Service:
    """``pantau api`` as a child process (uvicorn, one worker) reading the collector's state folder."""
    import sys

    port = port or free_port()
    argv = [sys.executable, "-m", "pantau", "api", "--city", str(city), "--state-dir", str(state_dir),
            "--host", host, "--port", str(port)]
    if influx_url:
        argv += ["--influx", influx_url]
    if rate_per_s is not None:
        argv += ["--rate", f"{rate_per_s:g}"]
    if burst is not None:
        argv += ["--burst", str(burst)]
    svc = Service("api", argv, Path(state_dir) / "api", host, port, env=env)
    svc.url = f"http://{host}:{port}"
    return svc
