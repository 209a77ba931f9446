"""Ways to run Pantau as a service, checked with the tools that run them: systemd units
(`systemd-analyze verify`), the compose file (`docker-compose config`), Prometheus' scrape config and
Pantau's alerting rules (`promtool`), and a real Prometheus scraping `pantau api`'s /metrics."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from hotspots.inventory import resolve_city
from pantau import services

ROOT = Path(__file__).resolve().parent.parent
PROM = ROOT / "config" / "prometheus"


def _run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, **kw)


@pytest.mark.unit
def test_promtool_checks_config_rules_and_rule_tests():
    for argv in (
        ["promtool", "check", "config", str(PROM / "prometheus.yml")],
        ["promtool", "check", "rules", str(PROM / "pantau-rules.yml")],
        ["promtool", "test", "rules", str(PROM / "pantau-rules.test.yml")],
    ):
        p = _run(argv)
        assert p.returncode == 0 and "SUCCESS" in p.stdout + p.stderr, (argv, p.stdout, p.stderr)


@pytest.mark.unit
def test_systemd_units_verify_cleanly(tmp_path):
    root = tmp_path / "root"
    (root / "opt/pantau/.venv/bin").mkdir(parents=True)
    exe = root / "opt/pantau/.venv/bin/pantau"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    names = sorted(p.name for p in (ROOT / "deploy/systemd").glob("*.service"))
    assert names == ["pantau-api.service", "pantau-collect.service"]
    for n in names:
        text = (ROOT / "deploy/systemd" / n).read_text()
        for opt in (
            "EnvironmentFile=/etc/pantau/pantau.env",
            "Restart=on-failure",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "RestartPreventExitStatus=2",
        ):
            assert opt in text, (n, opt)
        (units / n).write_text(text)
    p = _run(["systemd-analyze", "verify", f"--root={root}", *[str(units / n) for n in names]])
    assert p.returncode == 0 and not p.stderr.strip() and not p.stdout.strip(), p.stdout + p.stderr
    # the checker is not a rubber stamp: an unknown option is reported
    (units / names[0]).write_text((units / names[0]).read_text().replace("[Service]", "[Service]\nRestrat=always"))
    p = _run(["systemd-analyze", "verify", f"--root={root}", str(units / names[0])])
    assert "Restrat" in p.stderr


@pytest.mark.unit
def test_env_example_holds_only_real_settings():
    from pantau.settings import Settings

    for line in (ROOT / "deploy/systemd/pantau.env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key = line.split("=", 1)[0]
            assert key.removeprefix("PANTAU_").lower() in Settings.model_fields, key


@pytest.mark.unit
def test_compose_file_is_valid_for_docker_compose(tmp_path):
    env = {
        **os.environ,
        "INFLUX_PASSWORD": "x",
        "INFLUX_TOKEN": "x",
        "MQTT_PASSWD_FILE": str(tmp_path),
        "MQTT_TLS_DIR": str(tmp_path),
        "MQTT_PASSWORD": "x",
        "NOC_HMAC": "x",
        "LAPOR_HMAC": "x",
        "TELEGRAM_TOKEN": "x",
        "SLACK_PATH": "x",
        "GRAFANA_ADMIN_PASSWORD": "x",
        "GRAFANA_INFLUX_TOKEN": "x",
    }
    p = _run(["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"], env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    for required in ("INFLUX_TOKEN", "GRAFANA_ADMIN_PASSWORD"):
        p = _run(
            ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
            env={k: v for k, v in env.items() if k != required},
            cwd=tmp_path,
        )
        assert p.returncode != 0 and required in p.stderr


@pytest.mark.unit
def test_compose_grafana_is_pinned_read_only_and_on_loopback(tmp_path):
    """The grafana service: a pinned image, provisioning and dashboards mounted read-only from the
    repository's dashboards/grafana, published on loopback only, no literal secret."""
    import yaml

    g = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["grafana"]
    image, _, tag = g["image"].partition(":")
    assert image == "grafana/grafana-oss" and tag[:1].isdigit() and tag.count(".") == 2, g["image"]
    mounts = {v.split(":")[1]: v for v in g["volumes"]}
    for target, src in [
        ("/etc/grafana/provisioning/datasources", "./dashboards/grafana/provisioning/datasources"),
        ("/etc/grafana/provisioning/dashboards", "./dashboards/grafana/provisioning/dashboards"),
        ("/var/lib/grafana/dashboards/pantau", "./dashboards/grafana/dashboards"),
    ]:
        assert mounts[target] == f"{src}:{target}:ro"
        assert (ROOT / src).is_dir()
    assert g["ports"] == ["127.0.0.1:3000:3000"]
    env = g["environment"]
    assert env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    assert env["GRAFANA_INFLUX_PASSWORD"].startswith("${GRAFANA_INFLUX_TOKEN:?")
    # what the data source file reads from the environment, the service sets
    ds = (ROOT / "dashboards/grafana/provisioning/datasources/pantau.yaml").read_text()
    import re

    used = set(re.findall(r"\$\{(\w+)\}", re.sub(r"(?m)^\s*#.*$", "", ds)))
    assert used and used <= set(env), used - set(env)


@pytest.mark.integration
def test_real_prometheus_scrapes_pantau_metrics(semarang, tmp_path):
    state = tmp_path / "collector"
    api = services.api(state, str(resolve_city("semarang")), None).start(ready_timeout=60)
    port = services.free_port()
    conf = tmp_path / "prometheus.yml"
    text = (PROM / "prometheus.yml").read_text().replace("scrape_interval: 15s", "scrape_interval: 1s")
    text = text.replace('"127.0.0.1:8000"', f'"127.0.0.1:{api.port}"').replace(
        "pantau-rules.yml", str(PROM / "pantau-rules.yml")
    )
    conf.write_text(text)
    prom = services.Service(
        "prometheus",
        [
            "prometheus",
            f"--config.file={conf}",
            f"--storage.tsdb.path={tmp_path}/tsdb",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        tmp_path,
        "127.0.0.1",
        port,
    )
    prom.start(ready_timeout=60)
    try:

        def q(expr):
            r = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": expr}).json()
            return r["data"]["result"]

        deadline = time.time() + 30
        while time.time() < deadline and not q('up{job="pantau"} == 1'):
            time.sleep(0.5)
        assert q('up{job="pantau"} == 1'), "Prometheus scraped Pantau's /metrics"
        while time.time() < deadline and not q("pantau_influx_credentials_refused"):
            time.sleep(0.5)
        assert [r["metric"]["city"] for r in q("pantau_influx_credentials_refused")] == ["semarang"]
        rules = httpx.get(f"http://127.0.0.1:{port}/api/v1/rules").json()["data"]["groups"]
        assert {r["name"] for g in rules for r in g["rules"]} >= {
            "PantauInfluxCredentialsRefused",
            "PantauCollectorStale",
        }
    finally:
        prom.stop()
        api.stop()
