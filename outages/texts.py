"""Incident explanations a citizen understands: Bahasa Indonesia first, English beside it."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

WIB = ZoneInfo("Asia/Jakarta")


def hhmm(t: float, sep: str = ".") -> str:
    return datetime.fromtimestamp(t, WIB).strftime(f"%H{sep}%M")


def _areas(areas: list[str], limit: int = 3) -> tuple[str, str]:
    names = [a.split("/")[-1] for a in areas]
    if not names:
        return "", ""
    if len(names) > limit:
        more = len(names) - limit
        return (
            ", ".join(names[:limit]) + f" dan {more} kelurahan lain",
            ", ".join(names[:limit]) + f" and {more} more kelurahan",
        )
    return ", ".join(names), ", ".join(names)


def explain(
    cause: str,
    root: str,
    root_name: str,
    since: float,
    affected: int,
    areas: list[str],
    inferred: bool = False,
    notice_reason: str = "",
    notice_end: float | None = None,
    on_battery: int = 0,
    detail: str = "",
    uncertain: list[tuple[str, str]] | tuple = (),
) -> dict[str, str]:
    """The citizen's text; ``uncertain`` holds (id, en) notes on what the decision was unsure of."""
    kind, _, ident = root.partition(":")
    a_id, a_en = _areas(areas)
    where_id = f" di {a_id}" if a_id else ""
    where_en = f" in {a_en}" if a_en else ""
    hits_id = f"; {affected} titik wifi{where_id} terdampak" if affected else (f"; wilayah{where_id}" if a_id else "")
    hits_en = f"; {affected} wifi hotspots{where_en} affected" if affected else (f"; area{where_en}" if a_en else "")
    if on_battery:
        hits_id += f" ({on_battery} lainnya masih menyala dengan baterai)"
        hits_en += f" ({on_battery} more still running on battery)"
    t_id, t_en = hhmm(since, "."), hhmm(since, ":")
    grid_id = {
        "substation": f"Gardu induk {root_name}",
        "feeder": f"Penyulang {ident}",
        "transformer": f"Gardu distribusi (trafo) {ident}",
    }
    grid_en = {
        "substation": f"Substation {root_name}",
        "feeder": f"Feeder {ident}",
        "transformer": f"Distribution transformer {ident}",
    }
    if cause == "power_grid":
        idt = f"{grid_id.get(kind, root)} padam sejak {t_id} WIB{hits_id}."
        ent = f"{grid_en.get(kind, root)} has been without power since {t_en} WIB{hits_en}."
        if inferred:
            idt += " Disimpulkan dari titik wifi yang padam bersamaan; data listrik tidak tersedia."
            ent += " Inferred from hotspots failing together; no grid telemetry available."
    elif cause == "planned_maintenance":
        until_id = f", dijadwalkan selesai {hhmm(notice_end, '.')} WIB" if notice_end else ""
        until_en = f", scheduled to end at {hhmm(notice_end, ':')} WIB" if notice_end else ""
        why = f" ({notice_reason})" if notice_reason else ""
        gi, ge = grid_id.get(kind, root), grid_en.get(kind, root)
        idt = (
            f"Pemeliharaan terencana PLN{why}: {gi[0].lower() + gi[1:]} dipadamkan sejak {t_id} WIB{until_id}{hits_id}."
        )
        ent = (
            f"PLN planned maintenance{why}: {ge[0].lower() + ge[1:]} switched off since {t_en} WIB{until_en}{hits_en}."
        )
    elif cause == "network_uplink":
        idt = (
            f"Gangguan jaringan: switch {ident} tidak terjangkau sejak {t_id} WIB{hits_id}. "
            f"Listrik di lokasi normal; teknisi jaringan menangani."
        )
        ent = f"Network fault: switch {ident} unreachable since {t_en} WIB{hits_en}. Power on site is normal."
    elif cause == "device":
        idt = f"Perangkat wifi {root_name}{where_id} tidak merespons sejak {t_id} WIB; listrik dan jaringan normal."
        ent = f"Wifi device {root_name}{where_en} not responding since {t_en} WIB; power and network are normal."
        if detail:
            idt += f" ({detail})"
            ent += f" ({detail})"
    elif cause == "service":
        idt = f"Layanan {root_name} sedang gangguan sejak {t_id} WIB; tim TI Pemkot menangani."
        ent = f"The {root_name} service has been failing since {t_en} WIB; the city's IT team is on it."
        if detail:
            idt += f" ({detail})"
            ent += f" ({detail})"
    else:
        idt = f"Titik wifi{where_id} padam sejak {t_id} WIB; penyebab belum dapat dipastikan{': ' + detail if detail else ''}."
        ent = f"Wifi{where_en} down since {t_en} WIB; cause not yet determined{': ' + detail if detail else ''}."
    if uncertain:
        idt += " Belum pasti: " + "; ".join(u[0] for u in uncertain) + "."
        ent += " Uncertain: " + "; ".join(u[1] for u in uncertain) + "."
    return {"id": idt, "en": ent}
