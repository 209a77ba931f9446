"""Pantau's settings: one pydantic-settings object, environment variables prefixed ``PANTAU_``.

Secrets are ``SecretStr`` (printed as ``**********``). Settings that would be unsafe with a default
value in production (API signing keys, InfluxDB passwords) are refused when left at a known default
while ``PANTAU_ENV=production``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

KNOWN_DEFAULT_SECRETS = {"", "changeme", "change-me", "secret", "password", "admin", "pantau"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PANTAU_", env_file=".env", extra="ignore")

    env: str = "development"
    city: str = "semarang"
    state_dir: Path = Path(".pantau")

    influx_url: str = "http://127.0.0.1:8086"
    influx_database: str = "pantau"
    influx_username: str | None = None
    influx_password: SecretStr | None = None

    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883

    snmp_port: int = 161
    poll_interval_s: float = 60.0
    telemetry_interval_s: float = 10.0

    @model_validator(mode="after")
    def _refuse_default_secrets(self):
        if self.env == "production":
            if self.influx_username and (self.influx_password is None or
                                         self.influx_password.get_secret_value().lower() in KNOWN_DEFAULT_SECRETS):
                raise ValueError("PANTAU_INFLUX_PASSWORD is unset or a known default; refusing to start in production")
        return self
