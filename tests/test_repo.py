"""The production path and the two commands are validated (Docker itself cannot run here)."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_docker_compose_is_valid_and_refers_to_existing_files():
    d = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert set(d["services"]) == {"influxdb", "mosquitto", "pantau", "api", "grafana"}
    for svc in d["services"].values():
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("./") and "$" not in src:
                assert (ROOT / src).exists(), src
    assert (ROOT / "Dockerfile").exists()
    conf = (ROOT / "config/mosquitto.docker.conf").read_text()
    assert "max_queued_messages 1000000" in conf and "persistence true" in conf and "{" not in conf


def test_readme_names_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci/run").read_text()


def test_dockerfile_copies_every_package_and_compose_runs_a_valid_command():
    import re

    import typer

    from pantau.cli import app

    include = re.search(r"include = \[(.*?)\]", (ROOT / "pyproject.toml").read_text()).group(1)
    packages = [p.strip().strip('"').rstrip("*") for p in include.split(",")]
    docker = (ROOT / "Dockerfile").read_text()
    for p in packages:
        assert f"COPY {p} {p}" in docker, f"Dockerfile does not copy {p}/"
    cmd = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["pantau"]["command"]
    assert cmd[:2] == ["pantau", "collect"]
    env = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["pantau"]["environment"]
    from pantau.settings import Settings

    unknown = {
        k
        for k in env
        if k.startswith("PANTAU_")
        and not k.startswith("PANTAU_SECRET_")
        and k.removeprefix("PANTAU_").lower() not in Settings.model_fields
    }
    assert not unknown, f"compose sets settings Pantau does not have: {unknown}"
    group = typer.main.get_command(app)
    sub = group.get_command(None, "collect")
    sub.make_context("collect", list(cmd[2:]))  # raises on an unknown option or a bad value
    api = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["api"]["command"]
    assert api[:2] == ["pantau", "api"]
    group.get_command(None, "api").make_context("api", list(api[2:]))
