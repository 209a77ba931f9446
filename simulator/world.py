"""The world of a scenario (contract: "The world: noise and wrong inventories"), drawn from its seed.

``draw_world`` decides, from the scenario's ``seed`` alone (same file, same world): which hotspots
are dead before t=0 (``background_down``), which inventory entries are wrong and what the truth
is (``inventory_errors``), plus the city-wide SNMP answer loss and the telemetry jitter.

The inventory the scenario names is the **truth**: the simulator runs it. The monitor is given the
city folder as the NOC's file says, written by ``write_listed_inventory``: the same folder with
the wrong transformer / access switch in the rows of the drawn hotspots (it loads and cross-checks
like the original: every listed element exists, a listed switch is an access switch).

``exposed`` tells which errors the run's faults exposed: an error is exposed when, for a stretch
of the run, the element the hotspot truly hangs on was dark (no power / unreachable) while the
listed one was not, or the other way round — for a transformer error, for longer than the
hotspot's UPS lasts (otherwise nothing observable differs). Background-down hotspots carry no
inventory errors and are never event targets.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hotspots.inventory import Inventory


@dataclass(frozen=True)
class InventoryError:
    hotspot: str  # hotspot id (AP-0412)
    field: str  # "transformer" | "switch"
    inventory: str  # what the file the monitor reads says
    truth: str  # what the simulator runs


@dataclass
class World:
    seed: int = 0
    snmp_loss_pct: float = 0.0
    telemetry_jitter_s: float = 0.0
    background_down: list[str] = field(default_factory=list)  # hotspot ids
    errors: list[InventoryError] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.snmp_loss_pct or self.telemetry_jitter_s or self.background_down or self.errors)

    def listed(self, kind: str) -> dict[str, str]:
        """hotspot id -> the element the inventory file names, for the wrong entries of ``kind``."""
        return {e.hotspot: e.inventory for e in self.errors if e.field == kind}

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict) -> "World":
        return cls(
            seed=int(d.get("seed", 0)),
            snmp_loss_pct=float(d.get("snmp_loss_pct", 0)),
            telemetry_jitter_s=float(d.get("telemetry_jitter_s", 0)),
            background_down=list(d.get("background_down", [])),
            errors=[InventoryError(**e) for e in d.get("errors", [])],
        )


def _dist2(a, b) -> float:
    dlat, dlon = a.lat - b.lat, (a.lon - b.lon) * math.cos(math.radians(a.lat))
    return dlat * dlat + dlon * dlon


def _wrong_transformer(inv: Inventory, hid: str, rng: random.Random) -> str | None:
    """Another transformer of the same feeder, or of a neighbouring feeder (one of the nearest)."""
    h = inv.hotspots[hid]
    true_t = inv.transformers[h.transformer]
    others = sorted((t for t in inv.transformers.values() if t.id != true_t.id), key=lambda t: (_dist2(h, t), t.id))
    same = [t.id for t in others if t.feeder == true_t.feeder][:3]
    other = [t.id for t in others if t.feeder != true_t.feeder][:3]
    if same and (not other or rng.random() < 0.5):
        return rng.choice(same)
    return rng.choice(other) if other else None


def _wrong_switch(inv: Inventory, hid: str, rng: random.Random) -> str | None:
    """Another access switch below the same aggregation switch."""
    sw = inv.switches[inv.hotspots[hid].switch]
    siblings = sorted(
        s.id for s in inv.switches.values() if s.parent == sw.parent and s.role == "access" and s.id != sw.id
    )
    return rng.choice(siblings) if siblings else None


def draw_world(spec, inv: Inventory, seed: int, events=()) -> World:
    """The world a scenario's ``world:`` mapping implies, drawn from ``seed`` (each knob its own stream)."""
    targets = {ev.target.partition(":")[2] for ev in events if ev.target.startswith("hotspot:")}
    pool = sorted(h for h in inv.hotspots if h not in targets)
    down = sorted(random.Random(f"{seed}/background_down").sample(pool, min(spec.background_down, len(pool))))
    pool = [h for h in pool if h not in set(down)]
    errors: list[InventoryError] = []
    errs = spec.inventory_errors
    for kind, pct, pick in (
        ("transformer", errs.transformer_pct, _wrong_transformer),
        ("switch", errs.switch_pct, _wrong_switch),
    ):
        n = round(pct / 100.0 * len(inv.hotspots))
        if n <= 0:
            continue
        rng = random.Random(f"{seed}/inventory_errors/{kind}")
        order = pool[:]
        rng.shuffle(order)
        chosen: list[InventoryError] = []
        for hid in order:
            if len(chosen) >= n:
                break
            listed = pick(inv, hid, rng)
            if listed:
                truth = getattr(inv.hotspots[hid], kind)
                chosen.append(InventoryError(hid, kind, listed, truth))
        taken = {e.hotspot for e in chosen}
        pool = [h for h in pool if h not in taken]  # one wrong column per hotspot
        errors += sorted(chosen, key=lambda e: e.hotspot)
    return World(
        seed=seed,
        snmp_loss_pct=float(spec.snmp_loss_pct),
        telemetry_jitter_s=float(spec.telemetry_jitter_s),
        background_down=down,
        errors=errors,
    )


def write_listed_inventory(src: Path, dest: Path, world: World) -> Path:
    """Copy the city folder ``src`` to ``dest`` with the wrong entries written in hotspots.csv."""
    import yaml

    src = Path(src)
    if src.is_file():
        src = src.parent
    shutil.copytree(src, dest)
    meta = yaml.safe_load((src / "inventory.yaml").read_text(encoding="utf-8")) or {}
    csv_path = dest / meta.get("hotspots_file", "hotspots.csv")
    text = csv_path.read_text(encoding="utf-8")
    newline = "\r\n" if "\r\n" in text else "\n"
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    wrong = {(e.hotspot, e.field): e for e in world.errors}
    col = {name: header.index(name) for name in ("id", "transformer", "switch")}
    for row in rows[1:]:
        if not row:
            continue
        for kind in ("transformer", "switch"):
            e = wrong.get((row[col["id"]], kind))
            if e is not None:
                assert row[col[kind]] == e.truth, (e, row)
                row[col[kind]] = e.inventory
    out = io.StringIO()
    csv.writer(out, lineterminator=newline).writerows(rows)
    csv_path.write_text(out.getvalue(), encoding="utf-8")
    return dest


class _Grid:
    """Which transformers have power and which switches are reachable, as the events left them."""

    def __init__(self, inv: Inventory):
        self.inv = inv
        self.off: set[str] = set()  # element ids (kind:ID) that are tripped / failed

    def apply(self, action: str, target: str) -> None:
        if action.endswith(("_trip", "_fail")) and action != "hotspot_fail" and action != "egov_fail":
            self.off.add(target)
        elif action.endswith("_restore"):
            self.off.discard(target)

    def transformer_dark(self, tid: str) -> bool:
        t = self.inv.transformers[tid]
        f = self.inv.feeders[t.feeder]
        return bool({f"transformer:{tid}", f"feeder:{f.id}", f"substation:{f.substation}"} & self.off)

    def switch_dark(self, sid: str) -> bool:
        cur: str | None = sid
        while cur:
            if f"switch:{cur}" in self.off:
                return True
            cur = self.inv.switches[cur].parent
        return False


def exposed(world: World, inv: Inventory, events, duration_s: float) -> dict[tuple[str, str], bool]:
    """(hotspot, field) -> whether the run's faults exposed that wrong entry (module docstring)."""
    grid = _Grid(inv)
    out = {(e.hotspot, e.field): False for e in world.errors}
    differing = {k: 0.0 for k in out}  # how long the true and the listed element have differed, so far
    evs = sorted(events, key=lambda e: e.at)
    times = [e.at for e in evs] + [duration_s]
    for i, ev in enumerate(evs):
        grid.apply(ev.action, ev.target)
        span = times[i + 1] - ev.at
        if span <= 0:
            continue
        for e in world.errors:
            key = (e.hotspot, e.field)
            if e.field == "transformer":
                differs = grid.transformer_dark(e.truth) != grid.transformer_dark(e.inventory)
                need = inv.hotspots[e.hotspot].ups_minutes * 60.0
            else:
                differs = grid.switch_dark(e.truth) != grid.switch_dark(e.inventory)
                need = 0.0
            differing[key] = differing[key] + span if differs else 0.0
            if differs and differing[key] > need:
                out[key] = True
    return out
