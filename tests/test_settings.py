"""The one settings object: sources and their order, secrets redacted, production refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pantau.settings import SettingsError, load_settings, origins, redacted

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for k in list(os.environ):
        if k.startswith("PANTAU_"):
            monkeypatch.delenv(k)


def test_order_flags_over_env_over_file(tmp_path, monkeypatch):
    cfg = tmp_path / "pantau.yaml"
    cfg.write_text("influx_url: http://file:8086\ninflux_database: fromfile\napi_port: 9001\nstate_dir: /srv/pantau\n")
    monkeypatch.setenv("PANTAU_CONFIG_FILE", str(cfg))
    monkeypatch.setenv("PANTAU_INFLUX_DATABASE", "fromenv")
    monkeypatch.setenv("PANTAU_API_PORT", "9002")
    s = load_settings(api_port=9003)
    assert (s.influx_url, s.influx_database, s.api_port) == ("http://file:8086", "fromenv", 9003)
    assert s.database == "sqlite:////srv/pantau/pantau.sqlite" and str(s.state_dir) == "/srv/pantau"
    o = origins(s, api_port=9003)
    assert o["api_port"] == "flag" and o["influx_database"] == "env PANTAU_INFLUX_DATABASE"
    assert o["influx_url"] == f"file {cfg}" and o["city"] == "default"


def test_config_file_typo_refused_with_its_line(tmp_path):
    cfg = tmp_path / "pantau.yaml"
    cfg.write_text("city: semarang\ninflux_pasword: x\n")
    with pytest.raises(SettingsError, match=r"pantau.yaml:2: 'influx_pasword'"):
        load_settings(config_file=cfg)


def test_bad_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("PANTAU_MQTT_PORT", "nope")
    with pytest.raises(SettingsError, match="PANTAU_MQTT_PORT"):
        load_settings()


def test_secret_file_variant_and_redaction(tmp_path, monkeypatch):
    (tmp_path / "pw").write_text("s3cret-from-file\n")
    monkeypatch.setenv("PANTAU_INFLUX_USERNAME", "writer")
    monkeypatch.setenv("PANTAU_INFLUX_PASSWORD_FILE", str(tmp_path / "pw"))
    s = load_settings()
    assert s.influx().password == "s3cret-from-file"
    assert (
        "s3cret" not in repr(s)
        and "s3cret" not in repr(s.influx())
        and "s3cret" not in json.dumps(redacted(s), default=str)
    )
    assert origins(s)["influx_password"].startswith("secret file (env PANTAU_INFLUX_PASSWORD_FILE")


@pytest.mark.parametrize(
    "env, named",
    [
        ({}, "PANTAU_INFLUX_USERNAME and PANTAU_INFLUX_PASSWORD"),
        (
            {"PANTAU_INFLUX_USERNAME": "w", "PANTAU_INFLUX_PASSWORD": "changeme"},
            "PANTAU_INFLUX_PASSWORD is a placeholder",
        ),
        ({"PANTAU_INFLUX_TOKEN": "<your-token>"}, "PANTAU_INFLUX_TOKEN is a placeholder"),
        (
            {"PANTAU_INFLUX_TOKEN": "t0k-real-1", "PANTAU_MQTT_HOST": "broker", "PANTAU_MQTT_USERNAME": "pantau"},
            "PANTAU_MQTT_PASSWORD is not set",
        ),
    ],
)
def test_production_refuses_missing_or_placeholder_secrets(monkeypatch, env, named):
    monkeypatch.setenv("PANTAU_ENV", "production")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SettingsError, match=named):
        load_settings()


def test_production_start_with_placeholder_fails_naming_the_variable(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANTAU_")}
    env.update(
        PANTAU_ENV="production",
        PANTAU_INFLUX_USERNAME="pantau-writer",
        PANTAU_INFLUX_PASSWORD="changeme",
        PANTAU_STATE_DIR=str(tmp_path),
    )
    for cmd in (["collect", "--no-snmp", "--no-egov"], ["api"]):
        p = subprocess.run([sys.executable, "-m", "pantau", *cmd], env=env, capture_output=True, text=True, timeout=60)
        assert p.returncode == 2, (cmd, p.stdout, p.stderr)
        assert "PANTAU_INFLUX_PASSWORD is a placeholder" in p.stderr
        assert "changeme" not in p.stderr


def test_config_show_redacts_and_says_where_from(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANTAU_")}
    env.update(PANTAU_INFLUX_USERNAME="w", PANTAU_INFLUX_PASSWORD="very-secret-pw")
    p = subprocess.run(
        [sys.executable, "-m", "pantau", "config", "show", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["influx_password"] == {"value": "**********", "source": "env PANTAU_INFLUX_PASSWORD"}
    assert doc["city"]["source"] == "default"
    assert "very-secret-pw" not in p.stdout


def test_database_url_takes_its_password_separately_and_is_redacted(monkeypatch, tmp_path):
    from pantau.settings import redacted

    pw = tmp_path / "dbpw"
    pw.write_text("s3cret-db-pass\n")
    monkeypatch.setenv("PANTAU_DATABASE_URL", "postgresql://pantau@db.example:5432/pantau")
    monkeypatch.setenv("PANTAU_DATABASE_PASSWORD_FILE", str(pw))
    s = load_settings()
    assert s.database == "postgresql+psycopg://pantau:s3cret-db-pass@db.example:5432/pantau"
    shown = redacted(s)
    assert "s3cret" not in str(shown) and shown["database_password"] == "**********"
    monkeypatch.delenv("PANTAU_DATABASE_PASSWORD_FILE")
    monkeypatch.setenv("PANTAU_DATABASE_URL", "postgresql://pantau:hunter2-real@db.example/pantau")
    assert "hunter2" not in str(redacted(load_settings()))
    monkeypatch.setenv("PANTAU_DATABASE_URL", "postgresql://pantau:changeme@db.example/pantau")
    monkeypatch.setenv("PANTAU_ENV", "production")
    monkeypatch.setenv("PANTAU_INFLUX_TOKEN", "a-real-token-1234")
    with pytest.raises(SettingsError, match="PANTAU_DATABASE_URL has a placeholder password"):
        load_settings()
