"""The citizens' answers, built once per change and served from memory.

When the collectors' view or the incidents change, every kelurahan's answer (Bahasa Indonesia and
English) is rebuilt and encoded to JSON bytes once; a request is a dictionary lookup. During a
blackout half the city asks the same 177 questions: the cost stays one rebuild per change.

Nothing internal is in these answers: no addresses, credentials, evidence, element ids of the
network, or operators' notes — the outage's cause, since when, how many hotspots, the citizen's
explanation, whether someone is handling it, and planned maintenance.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import json
import math
import threading
import time
import unicodedata
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from api.schemas import PublicSummary
from hotspots.areas import areas as city_areas
from outages import etr

WIB = ZoneInfo("Asia/Jakarta")  # citizens' times; the API does not import the explainer's texts
LANGS: tuple[Literal["id", "en"], ...] = ("id", "en")

CAUSE_TEXT = {
    "power_grid": ("Listrik padam", "Power cut"),
    "planned_maintenance": ("Pemadaman terencana PLN", "Planned power maintenance"),
    "network_uplink": ("Gangguan jaringan internet", "Network fault"),
    "device": ("Perangkat wifi rusak", "Wifi device fault"),
    "service": ("Layanan daring terganggu", "Online service down"),
    "unknown": ("Gangguan, penyebab sedang diperiksa", "Outage, cause being investigated"),
}
HANDLING_TEXT = {
    "acknowledged": ("Sedang ditangani petugas", "Being handled by staff"),
    "detected": ("Terdeteksi otomatis, petugas sudah diberi tahu", "Detected automatically; staff have been alerted"),
    "planned": ("Pekerjaan terjadwal PLN", "Scheduled PLN work"),
}
STATUS_TEXT = {
    "normal": ("Normal", "Normal"),
    "outage": ("Ada gangguan", "Outage"),
    "maintenance": ("Pemeliharaan terjadwal", "Scheduled maintenance"),
}


def dumps(doc) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def norm(name: str) -> str:
    s = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return " ".join("".join(c if c.isalnum() else " " for c in s).split())


def iso(t: float | None) -> str:
    return datetime.fromtimestamp(t or 0, WIB).isoformat(timespec="seconds")


class PublicCache:
    def __init__(self, data):
        self._areas: tuple[bytes, str] | None = None
        self.data = data
        inv = data.inv
        self.inv = inv
        self.areas: list[tuple[str, str]] = []  # (kecamatan code, kelurahan)
        for code, k in inv.kecamatan.items():
            for kel in k.kelurahan:
                self.areas.append((code, kel))
        self.by_name: dict[str, list[tuple[str, str]]] = {}
        for a in self.areas:
            self.by_name.setdefault(norm(a[1]), []).append(a)
        self.kec_by_name = {norm(k.name): code for code, k in inv.kecamatan.items()}
        self.kec_by_name.update({norm(code): code for code in inv.kecamatan})
        self.hotspots_of: dict[tuple[str, str], list[str]] = {}
        pts: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for h in inv.hotspots.values():
            self.hotspots_of.setdefault((h.kecamatan, h.kelurahan), []).append(h.id)
            pts.setdefault((h.kecamatan, h.kelurahan), []).append((h.lat, h.lon))
        for t in inv.transformers.values():
            pts.setdefault((t.kecamatan, t.kelurahan), []).append((t.lat, t.lon))
        self.centroids = {a: (sum(p[0] for p in v) / len(v), sum(p[1] for p in v) / len(v)) for a, v in pts.items()}
        # grid element -> kelurahan it powers (for maintenance notices)
        self.areas_of_element: dict[str, set[tuple[str, str]]] = {}
        for t in inv.transformers.values():
            a = (t.kecamatan, t.kelurahan)
            f = inv.feeders[t.feeder]
            for el in (f"transformer:{t.id}", f"feeder:{t.feeder}", f"substation:{f.substation}"):
                self.areas_of_element.setdefault(el, set()).add(a)
        self._lock = threading.Lock()
        self._found: dict = {}
        self._refresher: asyncio.Task[None] | None = None
        self._stop = threading.Event()
        self.version = -1
        self.blobs: dict[tuple[tuple[str, str], str], bytes] = {}
        self.etags: dict[tuple[tuple[str, str], str], str] = {}
        self.summary: dict[str, bytes] = {}
        self.maintenance: dict[str, bytes] = {}
        self.built_at = 0.0
        self.builds = 0

    # --- lookups --------------------------------------------------------------------------------
    def areas_blob(self) -> tuple[bytes, str]:
        """``/public/areas``: the city's outlines (hotspots/areas.py), built on first use, pre-encoded."""
        if self._areas is None:
            blob = json.dumps(city_areas(self.inv), ensure_ascii=False, separators=(",", ":")).encode()
            self._areas = (blob, '"' + hashlib.sha1(blob).hexdigest()[:16] + '"')
        return self._areas

    def find(self, name: str, kecamatan: str | None = None) -> tuple[list[tuple[str, str]], list[str]]:
        """Matching areas, and suggestions when there is none (answers remembered: names repeat)."""
        key = (name, kecamatan)
        hit = self._found.get(key)
        if hit is None:
            hit = self._find(name, kecamatan)
            if len(self._found) > 20_000:
                self._found.clear()
            self._found[key] = hit
        return hit

    def _find(self, name: str, kecamatan: str | None = None) -> tuple[list[tuple[str, str]], list[str]]:
        cands = self.by_name.get(norm(name), [])
        if kecamatan:
            code = self.kec_by_name.get(norm(kecamatan))
            cands = [a for a in cands if a[0] == code]
        if cands:
            return cands, []
        sugg = difflib.get_close_matches(norm(name), list(self.by_name), n=3, cutoff=0.6)
        return [], [self.by_name[s][0][1] for s in sugg]

    def nearest(self, lat: float, lon: float) -> tuple[str, str] | None:
        b = self.inv.bbox
        margin = 0.05
        if not (
            min(b.lat) - margin <= lat <= max(b.lat) + margin and min(b.lon) - margin <= lon <= max(b.lon) + margin
        ):
            return None
        best, bd = None, math.inf
        coslat = math.cos(math.radians(lat))
        for a, (y, x) in self.centroids.items():
            d = (y - lat) ** 2 + ((x - lon) * coslat) ** 2
            if d < bd:
                best, bd = a, d
        return best

    # --- building -------------------------------------------------------------------------------
    def ensure(self) -> None:
        """Build now if nothing was built yet or no refresher runs; otherwise the refresher keeps it current."""
        if self._refresher is not None and self.version >= 0:
            return
        self.data.refresh()
        if self.version != self.data.version:
            with self._lock:
                if self.version != self.data.version:
                    self.build()

    def start_refresher(self, every_s: float = 0.5) -> None:
        """Keep the answers current from a task on the serving loop: a rebuild (~10 ms) runs between
        requests. (A thread would hold the GIL against the loop and stall every request while it
        runs: measured, p99 ×3.)"""
        import logging

        async def run():
            while not self._stop.is_set():
                await asyncio.sleep(every_s)
                try:
                    if self.data.refresh() or self.version != self.data.version:
                        self.build()
                except Exception:
                    logging.getLogger("pantau.api").exception("public cache rebuild failed (serving the last one)")

        self.ensure()
        self._refresher = asyncio.get_running_loop().create_task(run())

    def stop_refresher(self) -> None:
        self._stop.set()

    def _restore(self, open_: list[dict], incidents: list[dict], notices: list[dict], now: float) -> dict:
        """Each open incident's ETR in words (id, en) — only a schedule, or an estimate from enough
        restored incidents of its kind (``outages.etr``), never a guess from two or three."""
        out: dict[str, tuple[dict, ...]] = {}
        if not open_:
            return out
        hist = etr.history(incidents)
        for inc in open_:
            e = etr.estimate(self.inv, inc, hist, notices, now)
            if not e or not e["enough"] or e["from"] is None:
                continue
            words = etr.text(e, now)
            out[inc["id"]] = tuple(
                {
                    "kind": e["kind"],
                    "start": iso(e["from"]),
                    "end": iso(e["to"]),
                    "text": words[lang],
                    "estimate": e["kind"] == "estimate",
                }
                for lang in LANGS
            )
        return out

    def build(self) -> None:
        d, inv = self.data, self.inv
        version = d.version
        now = time.time()
        acked = {n["incident_id"] for n in d.state.notes() if n["kind"] == "ack"} if d.open_incidents() else set()
        by_area: dict[tuple[str, str], list[dict]] = {}
        for inc in d.open_incidents():
            if inc["merged_into"]:
                continue
            for area in inc["areas"]:
                kec, _, kel = area.partition("/")
                by_area.setdefault((kec, kel), []).append(inc)
        maint: dict[tuple[str, str], list[dict]] = {}
        upcoming = []
        for n in d.notices():
            if n["end"] < now:
                continue
            upcoming.append(n)
            for a in self.areas_of_element.get(n["element"], ()):
                maint.setdefault(a, []).append(n)
        restore = self._restore(d.open_incidents(), d.incidents, d.notices(), now)
        hs_live = d.live.get("hotspots", {})
        updated = iso(d.live.get("at") or now)
        blobs, etags = {}, {}
        city_up = city_down = 0
        for a in self.areas:
            ids = self.hotspots_of.get(a, [])
            up = sum(1 for i in ids if hs_live.get(i, ("unknown",))[0] in ("up", "degraded"))
            down = sum(1 for i in ids if hs_live.get(i, ("unknown",))[0] == "down")
            city_up += up
            city_down += down
            incs = sorted(by_area.get(a, []), key=lambda i: i["opened_at"])
            notices = maint.get(a, [])
            for li, lang in enumerate(("id", "en")):
                outages = []
                for inc in incs:
                    handling = (
                        "planned"
                        if inc["cause"] == "planned_maintenance"
                        else "acknowledged"
                        if inc["id"] in acked
                        else "detected"
                    )
                    outages.append(
                        {
                            "incident": inc["id"],
                            "cause": inc["cause"],
                            "cause_text": CAUSE_TEXT[inc["cause"]][li],
                            "since": iso(inc["opened_at"]),
                            "affected_hotspots": len(inc["affected"]),
                            "explanation": inc["explanation_id"] if lang == "id" else inc["explanation_en"],
                            "handling": handling,
                            "handling_text": HANDLING_TEXT[handling][li],
                            "restore": restore[inc["id"]][li] if inc["id"] in restore else None,
                        }
                    )
                ms = [
                    {
                        "start": iso(n["start"]),
                        "end": iso(n["end"]),
                        "reason": n.get("reason", ""),
                        "active": n["start"] <= now <= n["end"],
                    }
                    for n in sorted(notices, key=lambda n: n["start"])
                ]
                status = (
                    "outage"
                    if any(o["handling"] != "planned" for o in outages)
                    else "maintenance"
                    if outages or any(m["active"] for m in ms)
                    else "normal"
                )
                doc = {
                    "kelurahan": a[1],
                    "kecamatan": inv.kecamatan[a[0]].name,
                    "status": status,
                    "status_text": STATUS_TEXT[status][li],
                    "hotspots": {"total": len(ids), "up": up, "down": down},
                    "outages": outages,
                    "maintenance": ms,
                    "updated_at": updated,
                    "lang": lang,
                }
                blob = dumps(doc)  # the shape is PublicArea's (tests/test_schemathesis.py holds it to that)
                blobs[(a, lang)] = blob
                etags[(a, lang)] = '"' + hashlib.blake2b(blob, digest_size=8).hexdigest() + '"'
        by_cause: dict[str, int] = {}
        for inc in d.open_incidents():
            if not inc["merged_into"]:
                by_cause[inc["cause"]] = by_cause.get(inc["cause"], 0) + 1
        egov = d.live.get("egov", {})
        summary: dict[str, bytes] = {}
        maintenance: dict[str, bytes] = {}
        for lang in LANGS:
            svc = [
                {"name": s.name, "status": egov.get(slug, {}).get("state", "unknown")} for slug, s in inv.egov.items()
            ]
            n_out = sum(by_cause.values())
            text = (
                (f"{n_out} gangguan aktif" if n_out else "Semua normal")
                if lang == "id"
                else (f"{n_out} active outages" if n_out else "All normal")
            )
            summary[lang] = (
                PublicSummary(
                    city=inv.display_name,
                    status_text=text,
                    hotspots={"total": len(inv.hotspots), "up": city_up, "down": city_down},
                    outages=by_cause,
                    areas_affected=len(by_area),
                    services=svc,
                    maintenance_upcoming=len(upcoming),
                    updated_at=iso(d.live.get("at") or now),
                    lang=lang,
                )
                .model_dump_json()
                .encode()
            )
            maintenance[lang] = json.dumps(
                [
                    {
                        "start": iso(n["start"]),
                        "end": iso(n["end"]),
                        "reason": n.get("reason", ""),
                        "active": n["start"] <= now <= n["end"],
                        "kelurahan": sorted({k for _, k in self.areas_of_element.get(n["element"], ())}),
                    }
                    for n in sorted(upcoming, key=lambda n: n["start"])
                ],
                ensure_ascii=False,
                separators=(",", ":"),
            ).encode()
        self.blobs, self.etags, self.summary, self.maintenance = blobs, etags, summary, maintenance
        self.version = version
        self.built_at = now
        self.builds += 1
