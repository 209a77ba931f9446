"""Pantau's settings: one pydantic-settings object that every process reads.

Sources, lowest to highest priority:

1. the defaults below;
2. an optional YAML config file (``PANTAU_CONFIG_FILE`` or ``--config``; keys are the field names,
   unknown keys are refused with their line);
3. environment variables ``PANTAU_<FIELD>`` (e.g. ``PANTAU_INFLUX_PASSWORD``);
4. command-line flags.

Every secret is a ``SecretStr`` and has a ``<name>_file`` variant (``PANTAU_INFLUX_PASSWORD_FILE``)
that reads a mounted secret (Docker/systemd credentials). Paths derive from one state directory.
With ``env: production`` missing or placeholder secrets stop the start with a message naming the
variable. ``pantau config show`` prints the effective settings, secrets redacted, and where each
value came from.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "PANTAU_"
# Values people leave in example files. A production start refuses them for any secret.
PLACEHOLDER_SECRETS = {
    "",
    "changeme",
    "change-me",
    "change_me",
    "secret",
    "password",
    "admin",
    "pantau",
    "example",
    "placeholder",
    "xxx",
    "todo",
    "default",
}
SECRETS = ("influx_password", "influx_token", "mqtt_password", "database_password")


def _default_node() -> str:
    import re
    import socket

    return re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname().split(".")[0])[:40] or "node"


class SettingsError(ValueError):
    """The configuration cannot be used; the message names the variable(s)."""


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def is_placeholder(value: str) -> bool:
    v = value.strip().lower()
    return v in PLACEHOLDER_SECRETS or v.startswith(("changeme", "change-me", "<", "${")) or "placeholder" in v


class _ConfigFile(PydanticBaseSettingsSource):
    """The YAML config file, below the environment and flags."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None):
        super().__init__(settings_cls)
        self.path = path
        self.data = read_config_file(path) if path else {}

    def get_field_value(self, field, field_name):  # pragma: no cover - __call__ does the work
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.data)


def read_config_file(path: Path) -> dict[str, Any]:
    """Strict: a mapping of known field names; a typo is refused with its line."""
    from hotspots.datafile import DataFileError, read_yaml  # strict YAML with line numbers

    try:
        doc, lines = read_yaml(Path(path))
    except DataFileError as exc:
        raise SettingsError(f"config file (PANTAU_CONFIG_FILE) {exc}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise SettingsError(f"config file {path}: must be a mapping of setting: value")
    known = set(Settings.model_fields) - {"config_file"}
    bad = [k for k in doc if k not in known]
    if bad:
        where = ", ".join(f"{path}:{lines.line_of((k,))}: {k!r}" for k in bad)
        raise SettingsError(f"unknown setting {where}; known: {', '.join(sorted(known))}")
    return dict(doc)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", case_sensitive=False, validate_default=True
    )

    env: Literal["development", "production"] = Field(
        "development", description="production refuses placeholder secrets"
    )
    config_file: Path | None = Field(None, description="YAML file with these settings (below env and flags)")
    city: str = Field(
        "semarang", description="city name or path to a city folder; several: comma-separated (semarang,batang)"
    )
    state_dir: Path = Field(
        Path(".pantau/collector"),
        description="the collecting process's state: spools, the SQLite state database, status",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    node_name: str = Field(
        default_factory=lambda: _default_node(),
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="this process's name among Pantau's nodes (cluster membership, who wrote what)",
    )
    roles: list[Literal["collect", "explain"]] = Field(
        default_factory=lambda: ["collect", "explain"],
        description="what this node does: collect (poll, ingest, probe) and/or explain (the city's "
        "explainer and alerts: one node active by a lease, the others standing by)",
    )
    lease_ttl_s: float = Field(5.0, gt=0.5, le=300, description="a silent explainer's lease expires after this")
    database_url: str | None = Field(
        None,
        description="state database: postgresql://user@host:port/db (several machines) or sqlite:///file; "
        "unset: STATE_DIR/pantau.sqlite",
    )
    database_password: SecretStr | None = Field(None, description="password for database_url (kept out of the URL)")
    database_password_file: Path | None = None

    influx_url: str = Field("http://127.0.0.1:8086", description="InfluxDB v1 HTTP API (/write, /query)")
    influx_database: str = "pantau"
    influx_username: str | None = Field(None, description="InfluxDB 1.x user (Basic auth)")
    influx_password: SecretStr | None = None
    influx_password_file: Path | None = None
    influx_token: SecretStr | None = Field(None, description="InfluxDB 2.x/3.x token (Authorization: Token)")
    influx_token_file: Path | None = None

    mqtt_host: str | None = Field(None, description="broker for grid telemetry; unset: no grid ingest")
    mqtt_port: int = Field(1883, ge=1, le=65535)
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_password_file: Path | None = None
    mqtt_tls: bool = False
    mqtt_ca_file: Path | None = Field(None, description="CA that signed the broker's certificate (verified)")
    grid_workers: int = Field(0, ge=0, le=16)
    telemetry_interval_s: float = Field(10.0, gt=0)

    snmp: bool = True
    snmp_port: int | None = Field(None, ge=1, le=65535, description="poll every agent on this port (simulator)")
    snmp_timeout_s: float = Field(1.0, gt=0)
    traps_listen: str | None = Field(None, description="HOST:PORT to receive SNMP traps on")
    profiles_dir: Path | None = None
    intervals: dict[str, float] = Field(default_factory=dict, description="job name → interval seconds")
    egov: bool = True
    egov_base_url: str | None = None
    receivers_file: Path | None = Field(None, description="alert receivers (webhooks, Alertmanager)")
    time_scale: float = Field(1.0, gt=0, le=100)
    event_loop: Literal["uvloop", "asyncio"] = Field(
        "uvloop", description="pantau collect's event loop (uvloop: ~1.7x the polls per core, bench/snmp_poll.py)"
    )

    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=1, le=65535)
    # Per client address. Indonesian carriers put thousands of phones behind one address (CGNAT):
    # 2,000 citizens asking at once from one address must get answers, and one address flooding
    # costs one replica ~1.5% of what it serves (bench/citizen_front.py sized these).
    public_rate: float = Field(200.0, ge=0, description="citizens' requests per second per client address")
    public_burst: int = Field(2000, ge=1, description="citizens' request burst per client address")
    trusted_proxies: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"], description="addresses/CIDRs whose X-Forwarded-For is believed"
    )

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        path = init_settings.init_kwargs.get("config_file") or os.environ.get(env_name("config_file"))
        return (init_settings, env_settings, _ConfigFile(settings_cls, Path(path) if path else None))

    @model_validator(mode="after")
    def _secrets_from_files(self):
        for name in SECRETS:
            f = getattr(self, f"{name}_file")
            if f is None:
                continue
            try:
                value = Path(f).read_text().rstrip("\r\n")
            except OSError as exc:
                raise ValueError(f"{env_name(name + '_file')}={f} cannot be read: {exc.strerror}") from None
            object.__setattr__(self, name, SecretStr(value))
        return self

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self):
        if self.env != "production":
            return self
        problems = []

        def bad(name: str) -> str | None:
            v: SecretStr | None = getattr(self, name)
            if v is None:
                return "is not set"
            if is_placeholder(v.get_secret_value()):
                return "is a placeholder"
            return None

        if self.influx_token is not None:
            if why := bad("influx_token"):
                problems.append(f"{env_name('influx_token')} {why}")
        elif not self.influx_username:
            problems.append(
                f"{env_name('influx_username')} and {env_name('influx_password')} "
                f"(or {env_name('influx_token')}) are not set"
            )
        elif why := bad("influx_password"):
            problems.append(f"{env_name('influx_password')} {why}")
        if self.database_password is not None and (why := bad("database_password")):
            problems.append(f"{env_name('database_password')} {why}")
        if self.database_url:
            import sqlalchemy as sa

            from store.db import url_of

            pw = sa.engine.make_url(url_of(self.database_url)).password
            if pw is not None and is_placeholder(str(pw)):
                problems.append(f"{env_name('database_url')} has a placeholder password")
        if self.mqtt_host:
            if not self.mqtt_username:
                problems.append(f"{env_name('mqtt_username')} is not set")
            if why := bad("mqtt_password"):
                problems.append(f"{env_name('mqtt_password')} {why}")
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems) + " (or their _FILE variants)")
        return self

    # --- derived --------------------------------------------------------------------------------
    @property
    def status_file(self) -> Path:
        return self.state_dir / "collector-status.json"

    @property
    def cities(self) -> list[str]:
        """The cities of this process, in order (the first is the default of the API)."""
        return [c.strip() for c in self.city.split(",") if c.strip()]

    @property
    def database(self) -> str:
        """The state database's URL, password included (never log it: :func:`store.db.redact`)."""
        from store.db import in_state_dir, url_of

        if not self.database_url:
            return in_state_dir(self.state_dir)
        url = url_of(self.database_url)
        if self.database_password is not None:
            import sqlalchemy as sa

            u = sa.engine.make_url(url).set(password=self.database_password.get_secret_value())
            url = u.render_as_string(hide_password=False)
        return url

    @property
    def grid_dir(self) -> Path:
        return self.state_dir / "grid"

    @property
    def deadletters_dir(self) -> Path:
        return self.grid_dir / "deadletters"

    def influx(self):
        from store.timeseries import InfluxConf

        return InfluxConf(
            self.influx_url,
            self.influx_database,
            self.influx_username,
            self.influx_password.get_secret_value() if self.influx_password else None,
            self.influx_token.get_secret_value() if self.influx_token else None,
        )

    def broker(self):
        from collectors.grid.mqtt import BrokerConf

        if not self.mqtt_host:
            return None
        return BrokerConf(
            self.mqtt_host,
            self.mqtt_port,
            self.mqtt_username,
            self.mqtt_password.get_secret_value() if self.mqtt_password else None,
            self.mqtt_tls,
            str(self.mqtt_ca_file) if self.mqtt_ca_file else None,
        )


def load_settings(**flags: Any) -> Settings:
    """The effective settings: flags (``None`` = not given) over env over the config file."""
    given = {k: v for k, v in flags.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        msgs = []
        for e in exc.errors():
            loc = ".".join(str(x) for x in e["loc"])
            name = f"{env_name(loc)} ({loc})" if loc else ""
            msgs.append(
                f"{name}: {e['msg'].removeprefix('Value error, ')}" if name else e["msg"].removeprefix("Value error, ")
            )
        raise SettingsError("; ".join(msgs)) from None


def origins(settings: Settings, **flags: Any) -> dict[str, str]:
    """Where each value came from: ``flag``, ``env PANTAU_…``, ``file PATH`` or ``default``."""
    given = {k for k, v in flags.items() if v is not None}
    file_keys = set(read_config_file(settings.config_file)) if settings.config_file else set()
    env = {k.upper() for k in os.environ}
    out = {}
    for name in Settings.model_fields:
        if name in given:
            out[name] = "flag"
        elif env_name(name) in env:
            out[name] = f"env {env_name(name)}"
        elif name in file_keys:
            out[name] = f"file {settings.config_file}"
        else:
            out[name] = "default"
        if name in SECRETS and getattr(settings, f"{name}_file", None) is not None:
            out[name] = f"secret file ({origins_of_file(name, given, env, file_keys)})"
    return out


def origins_of_file(name: str, given: set[str], env: set[str], file_keys: set[str]) -> str:
    f = f"{name}_file"
    if f in given:
        return "flag"
    if env_name(f) in env:
        return f"env {env_name(f)}"
    return "config file" if f in file_keys else "default"


def redacted(settings: Settings) -> dict[str, Any]:
    out = {}
    for name in Settings.model_fields:
        v = getattr(settings, name)
        if isinstance(v, SecretStr):
            v = "**********" if v.get_secret_value() else "(empty)"
        elif name == "database_url" and v:
            from store.db import redact, url_of

            v = redact(url_of(v))
        elif isinstance(v, Path):
            v = str(v)
        out[name] = v
    return out
