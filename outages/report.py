"""The availability report a city official reads (``pantau report availability --month 2026-11``):
one self-contained HTML file (inline CSS and SVG, no external assets, no script), Bahasa
Indonesia first with English beside it; figures from :func:`outages.availability.report_data`."""

from __future__ import annotations

from datetime import datetime
from html import escape

from outages.availability import CAUSES, WIB

CAUSE_WORDS = {
    "power_grid": ("pemadaman listrik PLN", "PLN power cuts"),
    "planned_maintenance": ("pemeliharaan terencana PLN", "planned PLN maintenance"),
    "network_uplink": ("gangguan jaringan", "network faults"),
    "device": ("kerusakan perangkat wifi", "wifi device faults"),
    "service": ("layanan daring", "online services"),
    "unknown": ("penyebab belum diketahui", "unknown causes"),
}
COLORS = {
    "power_grid": "#d9480f",
    "planned_maintenance": "#f59f00",
    "network_uplink": "#1c7ed6",
    "device": "#7048e8",
    "service": "#868e96",
    "unknown": "#adb5bd",
}
MONTHS_ID = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
             "November", "Desember")  # fmt: skip
MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December")  # fmt: skip
BY_WORDS = {
    "kelurahan": ("Kelurahan", "Kelurahan"),
    "switch": ("Switch jaringan", "Network switch"),
    "feeder": ("Penyulang PLN", "PLN feeder"),
    "hotspot": ("Titik wifi", "Wifi hotspot"),
}


def pct(x: float | None, lang: str, digits: int = 1) -> str:
    if x is None:
        return "–"
    s = f"{x:.{digits}f}"
    return (s.replace(".", ",") if lang == "id" else s) + " %"


def num(x: float, lang: str) -> str:
    s = f"{x:,.0f}"
    return s.replace(",", ".") if lang == "id" else s


def period_name(label: str, lang: str) -> str:
    parts = label.split("T")[0].split("-")
    months = MONTHS_ID if lang == "id" else MONTHS_EN
    name = f"{months[int(parts[1]) - 1]} {parts[0]}"
    if len(parts) == 3:
        name = f"{int(parts[2])} {name}"
    return name + (f", {label.split('T')[1]}.00 WIB" if "T" in label else "")


def shares(city: dict) -> list[tuple[str, float, float]]:
    """(cause, minutes, share of the downtime in %) — causes with downtime, largest first."""
    d = city["downtime_minutes"]
    total = sum(d.values())
    rows = [(c, d[c], 100.0 * d[c] / total) for c in CAUSES if total > 0 and d[c] > 0]
    return sorted(rows, key=lambda r: -r[1])


def headline(data: dict, lang: str) -> str:
    city = data["city"]
    sh = shares(city)
    if lang == "id":
        s = f"Ketersediaan wifi {pct(city['availability_pct'], 'id')}"
        s += f" (tanpa pemeliharaan terencana {pct(city['availability_excl_planned_pct'], 'id')})"
        if sh:
            s += "; " + ", ".join(f"{pct(p, 'id', 0)} waktu padam karena {CAUSE_WORDS[c][0]}" for c, _, p in sh)
        else:
            s += "; tidak ada waktu padam"
        return s + "."
    s = f"Wifi availability {pct(city['availability_pct'], 'en')}"
    s += f" ({pct(city['availability_excl_planned_pct'], 'en')} excluding planned maintenance)"
    if sh:
        s += "; " + ", ".join(f"{pct(p, 'en', 0)} of the downtime came from {CAUSE_WORDS[c][1]}" for c, _, p in sh)
    else:
        s += "; no downtime"
    return s + "."


def svg_causes(city: dict) -> str:
    """One stacked bar: the downtime's share per cause, with a legend."""
    w, x, parts, legend = 640, 0.0, [], []
    for i, (c, m, p) in enumerate(shares(city)):
        bw = w * p / 100.0
        parts.append(f'<rect x="{x:.1f}" y="0" width="{bw:.1f}" height="28" fill="{COLORS[c]}"/>')
        x += bw
        legend.append(
            f'<rect x="0" y="{40 + 20 * i}" width="12" height="12" fill="{COLORS[c]}"/>'
            f'<text x="18" y="{50 + 20 * i}">{escape(CAUSE_WORDS[c][0])} / {escape(CAUSE_WORDS[c][1])}: '
            f"{pct(p, 'id', 0)} ({num(m, 'id')} titik-menit / hotspot-minutes)</text>"
        )
    h = 48 + 20 * max(1, len(legend))
    if not parts:
        parts.append(f'<rect x="0" y="0" width="{w}" height="28" fill="#2b8a3e"/>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
        f'aria-label="Waktu padam per penyebab / downtime by cause">{"".join(parts)}{"".join(legend)}</svg>'
    )


def svg_steps(steps: list[dict]) -> str:
    """Availability per day (or hour): one bar each, the scale from the worst bucket to 100 %."""
    vals = [r["availability_pct"] for r in steps]
    known = [v for v in vals if v is not None]
    lo = min([99.0] + known)
    lo = max(0.0, lo - (100 - lo) * 0.1)
    w, h, pad = 640, 180, 36
    bw = (w - pad) / max(1, len(steps))
    bars = []
    for i, (r, v) in enumerate(zip(steps, vals)):
        if v is None:
            continue
        bh = (h - 30) * (v - lo) / (100 - lo) if 100 > lo else h - 30
        color = "#2b8a3e" if v >= 99 else "#f08c00" if v >= 95 else "#c92a2a"
        label = r["period"][-2:]
        bars.append(
            f'<rect x="{pad + i * bw + 1:.1f}" y="{h - 20 - bh:.1f}" width="{max(1.0, bw - 2):.1f}" height="{bh:.1f}" '
            f'fill="{color}"><title>{escape(r["period"])}: {pct(v, "id", 2)}</title></rect>'
            f'<text x="{pad + i * bw + bw / 2:.1f}" y="{h - 6}" text-anchor="middle" font-size="9">{label}</text>'
        )
    axis = (
        f'<text x="0" y="14" font-size="10">100 %</text><text x="0" y="{h - 22}" font-size="10">'
        f"{pct(lo, 'id', 0)}</text>"
        f'<line x1="{pad}" y1="{h - 20}" x2="{w}" y2="{h - 20}" stroke="#495057"/>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
        f'aria-label="Ketersediaan per hari / availability per day">{axis}{"".join(bars)}</svg>'
    )


def _worst_table(by: str, rows: list[dict]) -> str:
    head = BY_WORDS[by]
    if not rows:
        return f"<h3>{head[0]} / {head[1]}</h3><p>Tidak ada waktu padam. / No downtime.</p>"
    trs = []
    for r in rows:
        d = r["downtime_minutes"]
        main = max(CAUSES, key=lambda c: d[c])
        trs.append(
            f"<tr><td>{escape(r['name'])}</td><td>{escape(r['group']) if r['group'] != r['name'] else ''}</td>"
            f"<td class=n>{r['hotspots']}</td><td class=n>{pct(r['availability_pct'], 'id', 2)}</td>"
            f"<td class=n>{num(r['down_minutes'], 'id')}</td>"
            f"<td>{escape(CAUSE_WORDS[main][0])} / {escape(CAUSE_WORDS[main][1])}</td></tr>"
        )
    return (
        f"<h3>{head[0]} / {head[1]}</h3><table><tr><th>Nama / Name</th><th>Kode / Id</th><th>Titik / Hotspots</th>"
        "<th>Ketersediaan / Availability</th><th>Titik-menit padam / Hotspot-minutes down</th>"
        f"<th>Penyebab utama / Main cause</th></tr>{''.join(trs)}</table>"
    )


def render(data: dict, inv) -> str:
    p = data["period"]
    city = data["city"]
    w0, w1 = data["watched"]
    fmt = "%d-%m-%Y %H.%M"
    watched = (
        f"{datetime.fromtimestamp(max(w0, p.start), WIB).strftime(fmt)} – {datetime.fromtimestamp(w1, WIB).strftime(fmt)} WIB"
        if w0 is not None
        else "–"
    )
    causes_rows = "".join(
        f"<tr><td><span class=sw style='background:{COLORS[c]}'></span>{escape(CAUSE_WORDS[c][0])} / "
        f"{escape(CAUSE_WORDS[c][1])}</td><td class=n>{num(city['downtime_minutes'][c], 'id')}</td>"
        f"<td class=n>{pct(100.0 * city['downtime_minutes'][c] / city['down_minutes'], 'id', 1) if city['down_minutes'] else '–'}</td></tr>"
        for c in CAUSES
        if c != "service"
    )
    worst = "".join(_worst_table(by, rows) for by, rows in data["worst"].items())
    title_id = f"Laporan Ketersediaan Wifi Publik {escape(inv.display_name)} — {period_name(p.label, 'id')}"
    title_en = f"Public wifi availability, {escape(inv.display_name)} — {period_name(p.label, 'en')}"
    return f"""<!doctype html>
<html lang="id"><head><meta charset="utf-8"><title>{title_id}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:760px;margin:2em auto;padding:0 1em;color:#212529}}
h1{{font-size:1.5em;margin-bottom:.1em}} .en{{color:#495057}} .lead{{font-size:1.15em}}
table{{border-collapse:collapse;width:100%;margin:.5em 0 1.5em}} td,th{{border-bottom:1px solid #dee2e6;padding:.3em .4em;text-align:left;font-size:.9em}}
td.n{{text-align:right;font-variant-numeric:tabular-nums}} .sw{{display:inline-block;width:.8em;height:.8em;margin-right:.4em}}
.big{{font-size:2.4em;font-weight:700}} svg text{{font-size:12px;fill:#212529}} footer{{color:#868e96;font-size:.8em;margin-top:2em}}
</style></head><body>
<h1>{title_id}</h1><p class=en>{title_en}</p>
<p><span class=big>{pct(city["availability_pct"], "id")}</span><br>
ketersediaan wifi / wifi availability · {city["hotspots"]} titik wifi / hotspots · diamati / watched {watched}</p>
<p class=lead>{escape(headline(data, "id"))}</p>
<p class="lead en">{escape(headline(data, "en"))}</p>
<h2>Waktu padam per penyebab <span class=en>/ Downtime by cause</span></h2>
{svg_causes(city)}
<table><tr><th>Penyebab / Cause</th><th>Titik-menit / Hotspot-minutes</th><th>Bagian / Share</th></tr>{causes_rows}
<tr><th>Jumlah / Total</th><th class=n>{num(city["down_minutes"], "id")}</th><th></th></tr></table>
<p>Tanpa pemeliharaan terencana PLN (dikeluarkan dari waktu padam dan dari waktu pengamatan): <b>{pct(city["availability_excl_planned_pct"], "id", 2)}</b>.
<span class=en>Excluding planned PLN maintenance (removed from both downtime and watched time): <b>{pct(city["availability_excl_planned_pct"], "en", 2)}</b>.</span></p>
<h2>Ketersediaan per {"hari" if p.step == "month" else "jam"} <span class=en>/ Availability per {"day" if p.step == "month" else "hour"}</span></h2>
{svg_steps(data["steps"])}
<h2>10 elemen terburuk <span class=en>/ The 10 worst elements</span></h2>
{worst}
<footer>Dihitung oleh Pantau dari bukti kesehatan tiap titik wifi dan riwayat insiden (setiap menit padam diberikan ke penyebab
insiden yang menjelaskannya). / Computed by Pantau from each hotspot's health evidence and the incident history (every minute
of downtime goes to the cause of the incident that explains it). Dibuat / generated {datetime.fromtimestamp(data["now"], WIB).strftime(fmt)} WIB.</footer>
</body></html>
"""
