"""Shared fixtures: real Mosquitto, InfluxDB, snmpd and the simulated city on free loopback ports,
with temp dirs, started once per session and always stopped."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from hotspots.inventory import load_inventory, resolve_city
from pantau import services
from store.timeseries import InfluxV1

# The state database of the tests: SQLite files by default; PANTAU_TEST_DATABASE=postgresql runs
# the same tests against a PostgreSQL server the session starts (Debian's, like InfluxDB).
DB_BACKEND = os.environ.get("PANTAU_TEST_DATABASE", "sqlite")
if DB_BACKEND not in ("sqlite", "postgresql"):
    raise RuntimeError(f"PANTAU_TEST_DATABASE={DB_BACKEND!r}: sqlite or postgresql")

# Modules that never open the state database through the `database` fixtures or a Stack (their
# processes, if any, keep SQLite in a temp state folder; test_ha.py always runs on PostgreSQL): the
# PostgreSQL pass (`make test-pg`) leaves them out, since running them again would test nothing new.
NO_STATE_DATABASE = {
    "test_ber", "test_lineprotocol", "test_snmp_engine", "test_snmp_units", "test_snmp_traps",
    "test_snmp_collector", "test_simulator", "test_inventory", "test_grid", "test_grid_units",
    "test_egov", "test_pages", "test_nginx", "test_deploy", "test_influx_auth", "test_ratelimit",
    "test_deps", "test_ha",
}  # fmt: skip


def pytest_collection_modifyitems(config, items):
    # Tests that start no external process are unit tests unless marked otherwise.
    for item in items:
        if not any(m.name in ("unit", "integration") for m in item.iter_markers()):
            item.add_marker(pytest.mark.unit)
    if DB_BACKEND == "postgresql":
        out = [i for i in items if i.module.__name__.rpartition(".")[2] in NO_STATE_DATABASE]
        if out:
            config.hook.pytest_deselected(items=out)
            items[:] = [i for i in items if i not in out]


@pytest.fixture(scope="session")
def semarang():
    return load_inventory(resolve_city("semarang"))


@pytest.fixture(scope="session")
def postgres_service(tmp_path_factory):
    svc = services.start_postgresql(tmp_path_factory.mktemp("postgres"), fsync=False)
    yield svc
    svc.stop()


@pytest.fixture(scope="session", autouse=True)
def _stacks_on_postgresql(request):
    """PostgreSQL pass: every Stack (collector + API processes, scenario runs) gets a fresh database
    on the session's server (pantau/stack.py reads PANTAU_TEST_DATABASE_SERVER)."""
    if DB_BACKEND != "postgresql":
        yield
        return
    pg = request.getfixturevalue("postgres_service")
    os.environ["PANTAU_TEST_DATABASE_SERVER"] = pg.dsn("postgres")
    yield
    os.environ.pop("PANTAU_TEST_DATABASE_SERVER", None)


def _new_database(request, tmp_dir):
    """A fresh, empty state database URL (removed after its scope)."""
    from store.db import _OPEN, forget, in_state_dir

    if DB_BACKEND == "sqlite":
        url = in_state_dir(tmp_dir)
        yield url
    else:
        pg = request.getfixturevalue("postgres_service")
        name = "t_" + uuid.uuid4().hex[:12]
        url = pg.create_database(name)
        yield url
        from store.db import url_of

        db = _OPEN.get(url_of(url))
        if db is not None:
            forget(db)
        pg.drop_database(name)


@pytest.fixture()
def database(request, tmp_path):
    """A fresh state database for one test (URL)."""
    yield from _new_database(request, tmp_path)


@pytest.fixture(scope="module")
def module_database(request, tmp_path_factory):
    """A fresh state database for one module (URL)."""
    yield from _new_database(request, tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="session")
def influx_service(tmp_path_factory):
    svc = services.influxdb(tmp_path_factory.mktemp("influxdb")).start()
    yield svc
    svc.stop()


@pytest.fixture()
def influx(influx_service):
    """A fresh database per test on the shared server."""
    name = "t_" + uuid.uuid4().hex[:10]
    db = InfluxV1(influx_service.url, name)
    db.query(f'CREATE DATABASE "{name}"')
    yield db
    db.query(f'DROP DATABASE "{name}"')
    db.close()


@pytest.fixture(scope="session")
def mosquitto_service(tmp_path_factory):
    svc = services.mosquitto(tmp_path_factory.mktemp("mosquitto")).start()
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def trap_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.2)
    yield s
    s.close()


@pytest.fixture(scope="module")
def sim(tmp_path_factory, mosquitto_service, trap_socket):
    """The simulated Semarang: SNMP on a free UDP port on every 127.20.x.y / 127.30.0.x address.
    Module-scoped: a whole city at time scale 10 takes most of a core; left running for the rest of
    the session it starved later tests (the whole-city collector test missed its deadlines in CI)."""
    port = services.free_port(kind=socket.SOCK_DGRAM)
    svc = services.simulator(
        tmp_path_factory.mktemp("sim"),
        "semarang",
        port,
        mqtt=("127.0.0.1", mosquitto_service.port),
        time_scale=10,
        seed=1,
        telemetry_interval_s=10,
        trap_target=trap_socket.getsockname(),
    ).start(ready_timeout=120)
    svc.snmp_port = port
    yield svc
    svc.stop()
