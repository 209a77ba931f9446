"""The ``pantau`` command."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from hotspots.datafile import DataFileError
from hotspots.inventory import KINDS, load_inventory, resolve_city

app = typer.Typer(help="Pantau: network and IoT operations monitor of a smart city.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
inventory_app = typer.Typer(help="City inventories: list, show, validate, generate.", no_args_is_help=True)
simulator_app = typer.Typer(help="The simulated city.", no_args_is_help=True)
scenario_app = typer.Typer(help="Fault scenarios (../shared/spec/scenarios.md).", no_args_is_help=True)
app.add_typer(inventory_app, name="inventory")
app.add_typer(simulator_app, name="simulator")
app.add_typer(scenario_app, name="scenario")

out = Console()
err = Console(stderr=True)


def _inventory(city: str):
    try:
        return load_inventory(resolve_city(city))
    except DataFileError as exc:
        err.print(f"[red]inventory refused[/red]\n{exc}", highlight=False)
        raise typer.Exit(2)


@inventory_app.command("list")
def inventory_list(kind: str = typer.Option(..., "--kind", "-k", help=f"one of: {', '.join(KINDS)}"),
                   city: str = typer.Option("semarang", help="city name or path to a city folder"),
                   ids_only: bool = typer.Option(False, "--ids", help="print only the element ids")):
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
        return f"{el.role}, parent {el.parent or '-'}, {el.address}, {len(inv.hotspots_below('switch:' + el.id))} hotspots"
    if kind == "substation":
        return f"{el.name}, {len(inv.feeders_of_substation.get(el.id, []))} feeders"
    if kind == "egov":
        return f"{el.name} | {el.url}"
    return ""


@inventory_app.command("show")
def inventory_show(element_id: str = typer.Argument(..., help="kind:ID, e.g. hotspot:AP-0042 or feeder:SRD-04"),
                   city: str = typer.Option("semarang")):
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
def inventory_generate(facts: Path = typer.Argument(..., help="city facts file (format of shared/city/semarang.yaml)"),
                       out_dir: Path = typer.Option(..., "--out", help="city folder (holds geography.yaml)"),
                       geography: Optional[Path] = typer.Option(None, help="default: OUT/geography.yaml")):
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
def simulator_run(city: str = typer.Option("semarang"), snmp_port: int = typer.Option(161),
                  http_port: int = typer.Option(18080, help="e-gov services and the control API"),
                  mqtt: Optional[str] = typer.Option(None, help="HOST:PORT of the broker for grid telemetry"),
                  time_scale: float = typer.Option(1.0), seed: int = typer.Option(0),
                  telemetry_interval: float = typer.Option(10.0, help="seconds between readings of one element"),
                  trap_target: Optional[str] = typer.Option(None, help="HOST:PORT that receives SNMP traps"),
                  verbose: bool = typer.Option(False, "-v")):
    """Run the simulated city until interrupted."""
    from simulator.runtime import run_city

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    inv = _inventory(city)
    mh, mp = _hostport(mqtt) if mqtt else (None, None)
    try:
        asyncio.run(run_city(inv, snmp_port, http_port, mh, mp, time_scale=time_scale, seed=seed,
                             telemetry_interval_s=telemetry_interval,
                             trap_target=_hostport(trap_target) if trap_target else None))
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
def scenario_run(file: Path, time_scale: float = typer.Option(1.0, "--time-scale", min=0.1, max=100),
                 report: Optional[Path] = typer.Option(None, "--report", help="write the JSON report here"),
                 quiet: bool = typer.Option(False, "-q")):
    """Replay a scenario against the simulated city; exit 0 if every expectation held, 1 if not, 2 on a bad file."""
    from pantau.scenario_run import run_scenario

    raise typer.Exit(run_scenario(file, time_scale, report, quiet=quiet))


@app.command("collect")
def collect(city: str = typer.Option("semarang", help="city name or path to a city folder"),
            influx: str = typer.Option("http://127.0.0.1:8086", help="InfluxDB URL (v1 /write and /query API)"),
            database: str = typer.Option("pantau"),
            snmp_port: Optional[int] = typer.Option(None, help="poll every agent on this UDP port instead of the "
                                                               "inventory's (the simulator on a high port)"),
            traps: Optional[str] = typer.Option(None, help="HOST:PORT to receive SNMP traps on"),
            interval: list[str] = typer.Option([], help="override a job's interval: NAME=SECONDS (repeatable)"),
            profiles: Optional[Path] = typer.Option(None, help="device profile folder (default: collectors/profiles)"),
            status_file: Optional[Path] = typer.Option(None, help="write collector status JSON here every 2 s"),
            verbose: bool = typer.Option(False, "-v")):
    """Run Pantau's collectors (SNMP polling, traps, health) into InfluxDB until interrupted."""
    from pantau.service import run_collect
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    inv = _inventory(city)
    overrides = {}
    for item in interval:
        name, _, secs = item.partition("=")
        try:
            overrides[name] = float(secs)
        except ValueError:
            err.print(f"--interval wants NAME=SECONDS, got {item!r}")
            raise typer.Exit(2)
    try:
        asyncio.run(run_collect(inv, influx, database, snmp_port, _hostport(traps) if traps else None, overrides,
                                status_file, profiles))
    except DataFileError as exc:
        err.print(f"[red]configuration refused[/red]\n{exc}", highlight=False)
        raise typer.Exit(2)


@app.command("demo")
def demo(state_dir: Path = typer.Option(Path(".pantau"), help="where services keep their data and logs"),
         time_scale: float = typer.Option(1.0)):
    """Start InfluxDB, Mosquitto and the simulated city; print where to look; Ctrl-C stops everything."""
    from pantau.demo import run_demo

    raise typer.Exit(run_demo(state_dir, time_scale))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
