"""The ``pantau`` command."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from hotspots.datafile import DataFileError
from hotspots.inventory import KINDS, load_inventory, resolve_city


def _logging(level: str) -> None:
    """The process's log: Pantau's state changes at ``level``; the HTTP client's line per request
    and the scheduler's two lines per job run only when debugging (at INFO they were most of a
    ten-city node's log: every InfluxDB write, every poll run)."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if level != "DEBUG":
        for name in ("httpx", "httpcore", "apscheduler.executors", "apscheduler.scheduler"):
            logging.getLogger(name).setLevel(logging.WARNING)


app = typer.Typer(
    help="Pantau: network and IoT operations monitor of a smart city.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
inventory_app = typer.Typer(help="City inventories: list, show, validate, generate.", no_args_is_help=True)
simulator_app = typer.Typer(help="The simulated city.", no_args_is_help=True)
scenario_app = typer.Typer(help="Fault scenarios (../shared/spec/scenarios.md).", no_args_is_help=True)
app.add_typer(inventory_app, name="inventory")
app.add_typer(simulator_app, name="simulator")
app.add_typer(scenario_app, name="scenario")
grid_app = typer.Typer(help="The grid as Pantau sees it (from a running `pantau collect`).", no_args_is_help=True)
app.add_typer(grid_app, name="grid")

out = Console()
err = Console(stderr=True)
console = Console()


def _inventory(city: str):
    try:
        return load_inventory(resolve_city(city))
    except DataFileError as exc:
        err.print(f"[red]inventory refused[/red]\n{exc}", highlight=False)
        raise typer.Exit(2)


@inventory_app.command("list")
def inventory_list(
    kind: str = typer.Option(..., "--kind", "-k", help=f"one of: {', '.join(KINDS)}"),
    city: str = typer.Option("semarang", help="city name or path to a city folder"),
    ids_only: bool = typer.Option(False, "--ids", help="print only the element ids"),
):
    """Print the elements of one kind (ids as scenario files name them)."""
    inv = _inventory(city)
    if kind not in KINDS:
        err.print(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
        raise typer.Exit(2)
    elements = inv.of_kind(kind)
    if ids_only or not sys.stdout.isatty():
        for ident in elements:
            print(f"{kind}:{ident}")
        return
    table = Table(title=f"{inv.display_name}: {len(elements)} {kind}")
    table.add_column("id")
    table.add_column("detail")
    for ident, el in elements.items():
        table.add_row(f"{kind}:{ident}", _detail(inv, kind, el))
    out.print(table)


def _detail(inv, kind, el) -> str:
    if kind == "hotspot":
        return f"{el.kelurahan}, {inv.kecamatan[el.kecamatan].name} | {el.vendor} {el.model} | {el.address} | sw {el.switch} | tx {el.transformer}"
    if kind == "feeder":
        return f"substation {el.substation}, {len(inv.transformers_of_feeder.get(el.id, []))} transformers, {len(inv.hotspots_below('feeder:' + el.id))} hotspots"
    if kind == "transformer":
        return f"feeder {el.feeder}, {el.kelurahan} ({el.kecamatan}), {el.kva} kVA, {len(inv.hotspots_of_transformer.get(el.id, []))} hotspots"
    if kind == "switch":
        return (
            f"{el.role}, parent {el.parent or '-'}, {el.address}, {len(inv.hotspots_below('switch:' + el.id))} hotspots"
        )
    if kind == "substation":
        return f"{el.name}, {len(inv.feeders_of_substation.get(el.id, []))} feeders"
    if kind == "egov":
        return f"{el.name} | {el.url}"
    return ""


@inventory_app.command("show")
def inventory_show(
    element_id: str = typer.Argument(..., help="kind:ID, e.g. hotspot:AP-0042 or feeder:SRD-04"),
    city: str = typer.Option("semarang"),
):
    """Show one element with its place in the power and network trees (credentials redacted)."""
    inv = _inventory(city)
    try:
        el = inv.get(element_id)
    except KeyError as exc:
        err.print(str(exc.args[0]))
        raise typer.Exit(1)
    kind = element_id.partition(":")[0]
    data = {k: getattr(el, k) for k in el.__slots__} if hasattr(el, "__slots__") else dict(el.__dict__)
    if kind == "hotspot":
        t = inv.transformers[el.transformer]
        f = inv.feeders[t.feeder]
        data["power_path"] = [f"substation:{f.substation}", f"feeder:{f.id}", f"transformer:{t.id}"]
        chain, cur = [], el.switch
        while cur:
            chain.append(f"switch:{cur}")
            cur = inv.switches[cur].parent
        data["network_path"] = list(reversed(chain))
        data["credentials"] = f"{el.credentials}: {inv.credentials.profiles[el.credentials].describe()}"
    elif kind in ("substation", "feeder", "transformer", "switch"):
        data["hotspots_below"] = len(inv.hotspots_below(element_id))
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@inventory_app.command("validate")
def inventory_validate(path: Path = typer.Argument(..., help="city folder or its inventory.yaml")):
    """Load an inventory strictly; print a summary or every problem (exit 2)."""
    try:
        inv = load_inventory(path)
    except DataFileError as exc:
        err.print(str(exc), highlight=False)
        raise typer.Exit(2)
    print(json.dumps({"city": inv.city, **inv.summary()}))


@inventory_app.command("generate")
def inventory_generate(
    facts: Path = typer.Argument(..., help="city facts file (format of shared/city/semarang.yaml)"),
    out_dir: Path = typer.Option(..., "--out", help="city folder (holds geography.yaml)"),
    geography: Optional[Path] = typer.Option(None, help="default: OUT/geography.yaml"),
):
    """Generate a city's inventory deterministically from its facts and geography."""
    from hotspots.generator import generate

    with out.status("generating inventory…"):
        try:
            counts = generate(facts, geography or out_dir / "geography.yaml", out_dir)
            load_inventory(out_dir)
        except (DataFileError, ValueError) as exc:
            err.print(f"[red]cannot generate[/red]: {exc}", highlight=False)
            raise typer.Exit(2)
    print(json.dumps(counts))


@simulator_app.command("run")
def simulator_run(
    city: str = typer.Option(
        "semarang", help="city name or folder; several: comma-separated (one process, one SNMP socket)"
    ),
    snmp_port: int = typer.Option(161),
    http_port: int = typer.Option(18080, help="e-gov services and the control API"),
    mqtt: Optional[str] = typer.Option(None, help="HOST:PORT of the broker for grid telemetry"),
    time_scale: float = typer.Option(1.0),
    seed: int = typer.Option(0),
    telemetry_interval: float = typer.Option(10.0, help="seconds between readings of one element"),
    trap_target: Optional[str] = typer.Option(None, help="HOST:PORT that receives SNMP traps"),
    mqtt_username: Optional[str] = typer.Option(
        None, help="broker user (gateway 'simulator'); its password from env PANTAU_SIM_MQTT_PASSWORD"
    ),
    mqtt_ca_file: Optional[Path] = typer.Option(None, help="TLS to the broker, verified against this CA"),
    world: Optional[str] = typer.Option(
        None, help="the world (simulator/world.py) as JSON, or @FILE holding it: loss, broken hotspots, jitter, errors"
    ),
    verbose: bool = typer.Option(False, "-v"),
):
    """Run the simulated city until interrupted."""
    from collectors.grid.mqtt import BrokerConf
    from simulator.runtime import run_city
    from simulator.world import World

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    invs = [_inventory(c.strip()) for c in city.split(",") if c.strip()]  # several: one simulator for all
    inv = invs[0]
    the_world = None
    if world:
        try:
            text = Path(world[1:]).read_text() if world.startswith("@") else world
            the_world = World.from_dict(json.loads(text))
            for hid in the_world.background_down + [e.hotspot for e in the_world.errors]:
                inv.get(f"hotspot:{hid}")
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise typer.BadParameter(f"--world: {exc}") from None
    broker = None
    if mqtt:
        mh, mp = _hostport(mqtt)
        broker = BrokerConf(
            mh,
            mp,
            mqtt_username,
            os.environ.get("PANTAU_SIM_MQTT_PASSWORD"),
            tls=mqtt_ca_file is not None,
            ca_file=str(mqtt_ca_file) if mqtt_ca_file else None,
        )
    try:
        asyncio.run(
            run_city(
                invs if len(invs) > 1 else inv,
                snmp_port,
                http_port,
                broker,
                time_scale=time_scale,
                seed=seed,
                telemetry_interval_s=telemetry_interval,
                trap_target=_hostport(trap_target) if trap_target else None,
                world=the_world,
            )
        )
    except OSError as exc:
        err.print(f"[red]simulator cannot start[/red]: {exc}")
        raise typer.Exit(1)


def _hostport(s: str) -> tuple[str, int]:
    host, _, port = s.rpartition(":")
    if not host or not port.isdigit():
        raise typer.BadParameter(f"{s!r} is not HOST:PORT")
    return host, int(port)


@scenario_app.command("check")
def scenario_check(file: Path):
    """Validate a scenario file against the contract and its city's inventory (exit 2 if bad)."""
    from simulator.scenario import load_scenario

    try:
        sc, _ = load_scenario(file, inventory_loader=lambda c: load_inventory(resolve_city(c)))
    except DataFileError as exc:
        err.print(str(exc), highlight=False)
        raise typer.Exit(2)
    print(json.dumps({"scenario": sc.name, "events": len(sc.events), "duration_s": sc.duration_s, "valid": True}))


@scenario_app.command("run")
def scenario_run(
    file: Path,
    time_scale: float = typer.Option(1.0, "--time-scale", min=0.1, max=100),
    report: Optional[Path] = typer.Option(None, "--report", help="write the JSON report here"),
    quiet: bool = typer.Option(False, "-q"),
):
    """Replay a scenario against the simulated city; exit 0 if every expectation held, 1 if not, 2 on a bad file."""
    from pantau.scenario_run import run_scenario

    raise typer.Exit(run_scenario(file, time_scale, report, quiet=quiet))


def _settings(**flags):
    """The one settings object (env ``PANTAU_*``, ``--config`` file, flags); exit 2 naming the variable."""
    from pantau.settings import SettingsError, load_settings

    try:
        return load_settings(**flags)
    except SettingsError as exc:
        print(f"configuration refused: {exc}", file=sys.stderr)  # plain: one line a log can grep
        raise typer.Exit(2)


CONFIG_OPT = typer.Option(None, "--config", help="YAML settings file (also PANTAU_CONFIG_FILE)")


@app.command("collect")
def collect(
    config: Optional[Path] = CONFIG_OPT,
    city: Optional[str] = typer.Option(None, help="city name or path to a city folder [PANTAU_CITY]"),
    influx: Optional[str] = typer.Option(None, help="InfluxDB URL, v1 /write and /query [PANTAU_INFLUX_URL]"),
    database: Optional[str] = typer.Option(None, help="[PANTAU_INFLUX_DATABASE]"),
    snmp_port: Optional[int] = typer.Option(
        None, help="poll every agent on this UDP port instead of the inventory's (the simulator on a high port)"
    ),
    traps: Optional[str] = typer.Option(None, help="HOST:PORT to receive SNMP traps on [PANTAU_TRAPS_LISTEN]"),
    interval: list[str] = typer.Option([], help="override a job's interval: NAME=SECONDS (repeatable)"),
    profiles: Optional[Path] = typer.Option(None, help="device profile folder (default: collectors/profiles)"),
    status_file: Optional[Path] = typer.Option(
        None, help="also write collector status JSON here every second (always: STATE_DIR/collector-status.json)"
    ),
    mqtt: Optional[str] = typer.Option(
        None, help="HOST:PORT of the MQTT broker: ingest grid telemetry [PANTAU_MQTT_HOST, PANTAU_MQTT_PORT]"
    ),
    mqtt_user: Optional[str] = typer.Option(
        None, help="[PANTAU_MQTT_USERNAME]; the password only from PANTAU_MQTT_PASSWORD(_FILE) or the config file"
    ),
    mqtt_tls: Optional[bool] = typer.Option(None, "--mqtt-tls", help="TLS to the broker [PANTAU_MQTT_TLS]"),
    mqtt_ca: Optional[Path] = typer.Option(None, help="CA file for --mqtt-tls [PANTAU_MQTT_CA_FILE]"),
    grid_workers: Optional[int] = typer.Option(
        None, help="extra ingest processes sharing the telemetry subscription ($share); 0 = in this process"
    ),
    telemetry_interval: Optional[float] = typer.Option(
        None, help="seconds between a grid element's readings (lost after 3 missed)"
    ),
    state_dir: Optional[Path] = typer.Option(
        None, help="spools, the SQLite state database (pantau.sqlite), status [PANTAU_STATE_DIR]"
    ),
    no_snmp: bool = typer.Option(False, "--no-snmp", help="grid only: no SNMP polling or traps"),
    snmp_timeout: Optional[float] = typer.Option(None, help="seconds to wait for an SNMP answer"),
    time_scale: Optional[float] = typer.Option(None, help="divide the explainer's fixed timings (scenario runs)"),
    no_egov: bool = typer.Option(False, "--no-egov", help="do not probe the e-government services"),
    egov_base_url: Optional[str] = typer.Option(
        None, help="probe the e-gov services at this scheme://host:port instead of their URLs' (the simulator)"
    ),
    receivers: Optional[Path] = typer.Option(None, help="alert receivers file [PANTAU_RECEIVERS_FILE]"),
    role: list[str] = typer.Option(
        [],
        help="collect and/or explain (repeatable; default both) [PANTAU_ROLES]: a city's explainer is "
        "active on one node, standing by on the others",
    ),
    node_name: Optional[str] = typer.Option(None, help="this node's name among Pantau's nodes [PANTAU_NODE_NAME]"),
    database_url: Optional[str] = typer.Option(
        None,
        help="state database URL (default STATE_DIR/pantau.sqlite) [PANTAU_DATABASE_URL]; its password "
        "only from PANTAU_DATABASE_PASSWORD(_FILE) or the URL in the environment",
    ),
    verbose: bool = typer.Option(False, "-v"),
):
    """Run Pantau's collectors (SNMP polling, traps, health; grid MQTT; explainer; alerts) until interrupted."""
    from pantau.service import run_collect

    overrides = {}
    for item in interval:
        name, _, secs = item.partition("=")
        try:
            overrides[name] = float(secs)
        except ValueError:
            err.print(f"--interval wants NAME=SECONDS, got {item!r}")
            raise typer.Exit(2)
    mh, mp = _hostport(mqtt) if mqtt else (None, None)
    st = _settings(
        config_file=config,
        city=city,
        influx_url=influx,
        influx_database=database,
        snmp_port=snmp_port,
        traps_listen=traps,
        intervals=overrides or None,
        profiles_dir=profiles,
        mqtt_host=mh,
        mqtt_port=mp,
        mqtt_username=mqtt_user,
        mqtt_tls=mqtt_tls,
        mqtt_ca_file=mqtt_ca,
        grid_workers=grid_workers,
        telemetry_interval_s=telemetry_interval,
        state_dir=state_dir,
        snmp=False if no_snmp else None,
        snmp_timeout_s=snmp_timeout,
        time_scale=time_scale,
        egov=False if no_egov else None,
        egov_base_url=egov_base_url,
        receivers_file=receivers,
        roles=role or None,
        node_name=node_name,
        database_url=database_url,
        log_level="DEBUG" if verbose else None,
    )
    _logging(st.log_level)
    invs = [_inventory(c) for c in st.cities]
    profile = os.environ.get("PANTAU_PROFILE")  # a file: cProfile of the event loop's thread, written at exit
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    try:
        if st.event_loop == "uvloop":
            import uvloop

            uvloop.run(run_collect(invs, st, status_file=status_file))
        else:
            asyncio.run(run_collect(invs, st, status_file=status_file))
    except DataFileError as exc:
        err.print(f"[red]configuration refused[/red]\n{exc}", highlight=False)
        raise typer.Exit(2)
    finally:
        if prof is not None and profile:
            prof.disable()
            prof.dump_stats(profile)


config_app = typer.Typer(help="Pantau's settings (env PANTAU_*, config file, flags).", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
def config_show(config: Optional[Path] = CONFIG_OPT, as_json: bool = typer.Option(False, "--json")):
    """The effective configuration, secrets redacted, and where each value came from."""
    from pantau.settings import env_name, origins, redacted

    st = _settings(config_file=config)
    vals, src = redacted(st), origins(st, config_file=config)
    if as_json:
        print(json.dumps({k: {"value": v, "source": src[k]} for k, v in vals.items()}, indent=1, default=str))
        return
    if not sys.stdout.isatty():
        for k, v in vals.items():
            print(f"{k} = {json.dumps(v, default=str)}    # {src[k]}")
        return
    t = Table(title=f"Pantau settings ({st.env})")
    for c in ("setting", "variable", "value", "from"):
        t.add_column(c)
    for k, v in vals.items():
        t.add_row(
            k, env_name(k), "-" if v is None else json.dumps(v, default=str) if not isinstance(v, str) else v, src[k]
        )
    out.print(t)


def _read_status(status_file: Path) -> dict:
    import json

    try:
        return json.loads(status_file.read_text())
    except (OSError, ValueError) as exc:
        err.print(f"cannot read {status_file} ({exc}); is `pantau collect --mqtt …` (or `make demo`) running?")
        raise typer.Exit(1)


@grid_app.command("state")
def grid_state(
    status_file: Optional[Path] = typer.Option(
        None, help="the collector's status file (default: STATE_DIR/collector-status.json)"
    ),
    all_elements: bool = typer.Option(False, "--all", help="also list energized elements (counts only by default)"),
    as_json: bool = typer.Option(False, "--json"),
):
    """Grid state per substation, feeder and transformer: energized / de-energized / unknown (telemetry lost)."""
    import json
    from datetime import datetime, timedelta, timezone

    st = _read_status(status_file or _settings().status_file).get("grid")
    if not st:
        err.print("this collector does not ingest grid telemetry (start it with --mqtt HOST:PORT)")
        raise typer.Exit(1)
    g = st["grid"]
    if as_json:
        print(json.dumps(g, indent=1))
        return
    wib = timezone(timedelta(hours=7))
    t = Table(title="Grid / Jaringan listrik")
    for c in ("kind", "energized / bertegangan", "de-energized / padam", "unknown / tanpa telemetri"):
        t.add_column(c)
    for kind, c in g["counts"].items():
        t.add_row(kind, str(c["energized"]), str(c["de-energized"]), str(c["unknown"]))
    console.print(t)
    rows = g["not_energized"]
    if rows:
        t = Table(title="Not energized / Tidak bertegangan")
        for c in ("element", "state", "since (WIB)", "reason"):
            t.add_column(c)
        for e, v in sorted(rows.items()):
            since = datetime.fromtimestamp(v["since"], wib).strftime("%H:%M:%S") if v["since"] else "-"
            t.add_row(e, v["state"], since, v["reason"])
        console.print(t)
    for n in g["notices"]:
        console.print(
            f"PLN notice {n['id']} {n['element']}: "
            f"{datetime.fromtimestamp(n['start'], wib):%d %b %H:%M} – {datetime.fromtimestamp(n['end'], wib):%H:%M} WIB"
            f" {n['reason']}"
        )
    ing = st["ingest"]
    console.print(
        f"ingest: {ing['received']:,} received, {ing['accepted']:,} accepted, {ing['dead']:,} dead letters "
        f"{ing['dead_by_reason'] or ''}, {ing['written']:,} written, spool backlog {ing['spool_backlog_bytes']:,} B"
    )


@app.command("incidents")
def incidents(
    db: Optional[str] = typer.Option(
        None,
        "--database",
        help="the state database: URL or SQLite file (default: PANTAU_DATABASE_URL or STATE_DIR/pantau.sqlite)",
    ),
    city: str = typer.Option("semarang", help="whose incidents"),
    all_: bool = typer.Option(False, "--all", help="closed ones too"),
    lang: str = typer.Option("id", help="explanation language: id or en"),
    as_json: bool = typer.Option(False, "--json"),
):
    """Incidents the outage explainer opened: cause, root, affected hotspots, explanation."""
    import json
    from datetime import datetime

    from outages.store import IncidentStore
    from outages.texts import WIB

    store = IncidentStore(_state_database(database=db), city=_city_name(city))
    rows = [r for r in store.incidents(None if all_ else "open") if not r["merged_into"]]
    if as_json:
        print(json.dumps(rows, indent=1, ensure_ascii=False))
        return
    t = Table(title="Insiden / Incidents")
    for c in ("id", "cause", "root", "opened (WIB)", "closed", "hotspots", "conf.", "explanation"):
        t.add_column(c)
    for r in rows:
        t.add_row(
            r["id"],
            r["cause"],
            r["root"],
            datetime.fromtimestamp(r["opened_at"], WIB).strftime("%d %b %H:%M:%S"),
            datetime.fromtimestamp(r["closed_at"], WIB).strftime("%H:%M:%S") if r["closed_at"] else "-",
            str(len(r["affected"])),
            f"{r['confidence']:.2f}",
            r["explanation_" + ("en" if lang == "en" else "id")],
        )
    console.print(t)


keys_app = typer.Typer(help="API keys (stored hashed; a key is shown once, at creation).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _state_database(state_dir: Optional[Path] = None, database: Optional[str] = None):
    """The state database a command reads: ``--database``, else PANTAU_DATABASE_URL, else
    STATE_DIR/pantau.sqlite (which must exist: a running ``pantau collect`` made it)."""
    from store.db import DB_FILE, open_database, redact

    st = _settings(state_dir=state_dir)
    url = database or st.database
    if "://" not in url or url.startswith("sqlite"):
        import sqlalchemy as sa

        from store.db import url_of

        path = sa.engine.make_url(url_of(url)).database
        if path and not Path(path).exists():
            err.print(
                f"no state database at {path} ({DB_FILE} of the state folder); is `pantau collect` "
                "(or `make demo`) running there? (PANTAU_DATABASE_URL / --database)"
            )
            raise typer.Exit(1)
    try:
        return open_database(url)
    except Exception as exc:
        err.print(f"cannot open the state database {redact(url)}: {exc}")
        raise typer.Exit(1) from None


def _city_name(city: str) -> str:
    """A city's name as rows carry it (a folder path names the city of its inventory)."""
    if "/" in city or city.endswith(".yaml"):
        return _inventory(city).city
    return city


def _statedb(state_dir: Optional[Path]):
    from store.state import StateDB

    return StateDB(_state_database(state_dir))


@keys_app.command("create")
def keys_create(
    name: str = typer.Argument(..., help="who or what uses the key, e.g. noc-shift-a, grafana"),
    role: str = typer.Option("viewer", help="viewer | operator | admin"),
    city: list[str] = typer.Option([], help="the cities the key may see (repeatable; default: every city)"),
    state_dir: Optional[Path] = typer.Option(None, help="[PANTAU_STATE_DIR]"),
):
    """Create an API key; prints it once (only its hash is kept)."""
    db = _statedb(state_dir)
    try:
        key_id, key = db.create_key(name, role, cities=city or None)
    except ValueError as exc:
        err.print(str(exc))
        raise typer.Exit(2)
    finally:
        db.close()
    err.print(f"key {key_id} ({name}, {role}) created; store it now, it cannot be shown again:")
    print(key)


@keys_app.command("list")
def keys_list(state_dir: Optional[Path] = typer.Option(None, help="[PANTAU_STATE_DIR]")):
    """API keys: id, name, role, created, revoked, last used (never the keys)."""
    from datetime import datetime

    from outages.texts import WIB

    db = _statedb(state_dir)
    rows = db.keys()
    db.close()
    t = Table(title="API keys")
    for c in ("key_id", "name", "role", "created (WIB)", "revoked", "last used"):
        t.add_column(c)
    fmt = lambda x: datetime.fromtimestamp(x, WIB).strftime("%Y-%m-%d %H:%M") if x else "-"  # noqa: E731
    for r in rows:
        t.add_row(r["key_id"], r["name"], r["role"], fmt(r["created_at"]), fmt(r["revoked_at"]), fmt(r["last_used_at"]))
    console.print(t)


@keys_app.command("revoke")
def keys_revoke(key_id: str, state_dir: Optional[Path] = typer.Option(None, help="[PANTAU_STATE_DIR]")):
    """Revoke an API key by its id."""
    db = _statedb(state_dir)
    ok = db.revoke_key(key_id)
    db.close()
    if not ok:
        err.print(f"no active key {key_id!r}")
        raise typer.Exit(1)
    err.print(f"key {key_id} revoked")


@app.command("api")
def api_cmd(
    config: Optional[Path] = CONFIG_OPT,
    city: Optional[str] = typer.Option(None, help="city name or path to a city folder [PANTAU_CITY]"),
    state_dir: Optional[Path] = typer.Option(
        None, help="the collecting process's state folder (pantau.sqlite when no --database-url) [PANTAU_STATE_DIR]"
    ),
    influx: Optional[str] = typer.Option(None, help="InfluxDB URL for history and uptime [PANTAU_INFLUX_URL]"),
    database: Optional[str] = typer.Option(None, help="[PANTAU_INFLUX_DATABASE]"),
    host: Optional[str] = typer.Option(None, help="[PANTAU_API_HOST]"),
    port: Optional[int] = typer.Option(None, help="[PANTAU_API_PORT]"),
    rate: Optional[float] = typer.Option(None, help="public requests per second per client [PANTAU_PUBLIC_RATE]"),
    burst: Optional[int] = typer.Option(None, help="public request burst per client [PANTAU_PUBLIC_BURST]"),
    trusted_proxy: Optional[list[str]] = typer.Option(
        None, help="addresses/CIDRs whose X-Forwarded-For is believed (repeatable) [PANTAU_TRUSTED_PROXIES]"
    ),
    access_log: bool = typer.Option(False, help="log every request (paths only; keys are headers, never logged)"),
    verbose: bool = typer.Option(False, "-v"),
):
    """Serve the API (NOC with keys, public for citizens, /metrics) with uvicorn."""
    import uvicorn

    from api.app import create_multi_app

    st = _settings(
        config_file=config,
        city=city,
        state_dir=state_dir,
        influx_url=influx,
        influx_database=database,
        api_host=host,
        api_port=port,
        public_rate=rate,
        public_burst=burst,
        trusted_proxies=trusted_proxy or None,
        log_level="DEBUG" if verbose else None,
    )
    _logging(st.log_level)
    invs = [_inventory(c) for c in st.cities]
    app_ = create_multi_app(
        invs,
        st.state_dir,
        st.influx(),
        rate_per_s=st.public_rate,
        burst=st.public_burst,
        trusted_proxies=set(st.trusted_proxies),
        background_refresh=True,
        database=st.database,
    )
    uvicorn.run(
        app_,
        host=st.api_host,
        port=st.api_port,
        loop="uvloop",
        http="httptools",
        access_log=access_log,
        log_level=st.log_level.lower(),
        proxy_headers=False,
    )


@grid_app.command("deadletters")
def grid_deadletters(
    directory: Optional[Path] = typer.Option(None, help="default: STATE_DIR/grid/deadletters"),
    reason: Optional[str] = typer.Option(None, help="only this reason code"),
    limit: int = typer.Option(20),
):
    """The newest grid messages Pantau refused, with their reasons (docs/grid.md)."""
    import json

    from collectors.grid.deadletters import read_dead_letters

    directory = directory or _settings().deadletters_dir
    if not directory.is_dir():
        err.print(f"no dead letters in {directory}")
        raise typer.Exit(1)
    for rec in read_dead_letters(directory, reason, limit):
        print(json.dumps(rec, ensure_ascii=False))


@app.command("demo")
def demo(
    state_dir: Path = typer.Option(Path(".pantau"), help="where services keep their data and logs"),
    time_scale: float = typer.Option(1.0),
    city: str = typer.Option(
        "semarang", help="the city, or several (semarang,batang: one deployment for all, /cities/<city>/)"
    ),
):
    """Start InfluxDB, Mosquitto and the simulated city; print where to look; Ctrl-C stops everything."""
    from pantau.demo import run_demo

    raise typer.Exit(run_demo(state_dir, time_scale, city))


@inventory_app.command("suspects")
def inventory_suspects(
    state_dir: Optional[Path] = typer.Option(None, help="the collector's state folder [PANTAU_STATE_DIR]"),
    city: str = typer.Option("semarang", help="city name or path to a city folder"),
    min_confidence: float = typer.Option(0.0, min=0.0, max=1.0, help="only suspects at least this sure"),
    csv_out: Optional[Path] = typer.Option(
        None, "--csv", help="write the suggested corrections for hotspots.csv to this file"
    ),
    as_json: bool = typer.Option(False, "--json", help="print every suspect with its evidence as JSON"),
):
    """Hotspots whose listed transformer or switch the evidence contradicts (the inventory is never
    changed by Pantau: review, then apply the CSV's suggestions to hotspots.csv)."""
    import csv as _csv

    from outages.store import IncidentStore
    from outages.suspects import corrections_csv_rows

    inv = _inventory(city)
    store = IncidentStore(_state_database(state_dir), city=inv.city)
    rows = [r for r in store.inventory_suspects(min_confidence) if r["hotspot"] in inv.hotspots]
    if csv_out:
        csv_out.parent.mkdir(parents=True, exist_ok=True)
        with csv_out.open("w", newline="", encoding="utf-8") as fh:
            _csv.writer(fh, lineterminator="\n").writerows(corrections_csv_rows(rows))
    if as_json:
        print(json.dumps(rows, indent=1, ensure_ascii=False))
    else:
        t = Table(title=f"inventory suspects: {len(rows)}")
        for c in ("hotspot", "field", "listed", "likely", "confidence", "incidents", "last evidence"):
            t.add_column(c)
        for r in rows:
            ev = r["evidence"][-1]["text"] if r["evidence"] else ""
            t.add_row(
                r["hotspot"],
                r["field"],
                r["inventory"],
                r["likely"] or "?",
                f"{r['confidence']:.2f}",
                str(r["incidents"]),
                ev,
            )
        out.print(t)
    if csv_out:
        print(f"written: {csv_out}")


report_app = typer.Typer(help="Reports for the city (self-contained HTML).", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("availability")
def report_availability(
    month: Optional[str] = typer.Option(None, "--month", help="YYYY-MM (WIB calendar)"),
    day: Optional[str] = typer.Option(None, "--day", help="YYYY-MM-DD instead of a month"),
    out_file: Path = typer.Option(Path("availability.html"), "--out", help="the HTML file to write"),
    state_dir: Optional[Path] = typer.Option(None, help="the collector's state folder (default: STATE_DIR)"),
    city: str = typer.Option("semarang", help="city name or path to a city folder"),
    as_json: bool = typer.Option(False, "--json", help="also print the figures as JSON"),
):
    """Availability by cause for a month (or day): an HTML report a city official can read."""
    import time as _time
    from datetime import datetime

    from outages.availability import WIB, Accounting, parse_period, report_data
    from outages.report import headline, render
    from outages.store import IncidentStore

    inv = _inventory(city)
    db = _state_database(state_dir)
    label = day or month or datetime.fromtimestamp(_time.time(), WIB).strftime("%Y-%m")
    try:
        period = parse_period(label)
    except ValueError as exc:
        err.print(str(exc))
        raise typer.Exit(2)
    acc = Accounting(IncidentStore(db, city=inv.city))
    try:
        data = report_data(acc, inv, period)
    finally:
        acc.close()
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(render(data, inv), encoding="utf-8")
    print(headline(data, "id"))
    print(headline(data, "en"))
    print(f"written: {out_file}")
    if as_json:
        doc = {k: v for k, v in data.items() if k != "period"}
        doc["period"] = period.label
        print(json.dumps(doc, indent=1, ensure_ascii=False))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
