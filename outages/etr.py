"""When will it be back: an estimated time of restoration (ETR) for an open incident.

- ``planned_maintenance``: the end of the PLN notice covering the incident's root (the element or
  one of its power ancestors) — a schedule, not an estimate.
- Any other cause: from the history of **restored** incidents (closed, not merged into another) of
  the same cause and root kind (``power_grid`` on a ``feeder``, ``device`` on a ``hotspot``, …):
  of those that lasted longer than this one has so far (an outage already 2 h old is compared with
  outages that lasted more than 2 h), the median duration and the inter-quartile range, counted
  from the incident's opening. Shown to citizens only with at least ``MIN_HISTORY`` such incidents,
  always labelled as an estimate; the NOC sees the basis (n, median, quartiles) in any case.
"""

from __future__ import annotations

from datetime import datetime
from statistics import median
from zoneinfo import ZoneInfo

WIB = ZoneInfo("Asia/Jakarta")
MIN_HISTORY = 5


def kind_of(root: str) -> str:
    return root.partition(":")[0]


def history(incidents: list[dict]) -> dict[tuple[str, str], list[float]]:
    """Durations (s) of restored incidents by (cause, root kind), sorted."""
    out: dict[tuple[str, str], list[float]] = {}
    for i in incidents:
        if i.get("status") != "closed" or i.get("merged_into") or i.get("closed_at") is None:
            continue
        d = i["closed_at"] - i["opened_at"]
        if d > 0:
            out.setdefault((i["cause"], kind_of(i["root"])), []).append(d)
    for v in out.values():
        v.sort()
    return out


def _quantile(xs: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (xs sorted)."""
    if len(xs) == 1:
        return xs[0]
    pos = q * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def power_ancestors(inv, root: str) -> list[str]:
    """The element and its power parents (transformer → feeder → substation)."""
    kind, _, ident = root.partition(":")
    out = [root]
    if kind == "hotspot" and ident in inv.hotspots:
        kind, ident = "transformer", inv.hotspots[ident].transformer
        out.append(f"transformer:{ident}")
    if kind == "transformer" and ident in inv.transformers:
        kind, ident = "feeder", inv.transformers[ident].feeder
        out.append(f"feeder:{ident}")
    if kind == "feeder" and ident in inv.feeders:
        out.append(f"substation:{inv.feeders[ident].substation}")
    return out


def notice_for(inv, inc: dict, notices: list[dict]) -> dict | None:
    els = power_ancestors(inv, inc["root"])
    best = None
    for n in notices:
        if n.get("element") in els and n.get("start", 0) - 60 <= inc["opened_at"] <= n.get("end", 0) + 60:
            if best is None or n["end"] > best["end"]:
                best = n
    return best


def estimate(
    inv, inc: dict, hist: dict[tuple[str, str], list[float]], notices: list[dict], now: float, min_n: int = MIN_HISTORY
) -> dict | None:
    """The ETR of an open incident with its basis, or None (closed, or nothing to go on).

    ``{"kind": "planned"|"estimate", "at", "from", "to", "n", "median_s", "q1_s", "q3_s",
    "enough": bool, "history": int, "basis": str}`` — times UNIX seconds; ``enough``: may be shown to
    citizens; ``history``: restored incidents of the same cause and root kind; ``basis``: the same in
    English words (the NOC console words it in its own language from the numbers)."""
    if inc.get("status") != "open":
        return None
    if inc["cause"] == "planned_maintenance":
        n = notice_for(inv, inc, notices)
        if n:
            return {
                "kind": "planned",
                "at": n["end"],
                "from": n["end"],
                "to": n["end"],
                "n": 0,
                "median_s": None,
                "q1_s": None,
                "q3_s": None,
                "enough": True,
                "history": 0,
                "basis": f"PLN notice {n.get('id', '')} ends {_hhmm(n['end'], ':')} WIB",
            }
    key = (inc["cause"], kind_of(inc["root"]))
    elapsed = max(0.0, now - inc["opened_at"])
    past = [d for d in hist.get(key, []) if d > elapsed]
    total = len(hist.get(key, []))
    if not past:
        return {
            "kind": "estimate",
            "at": None,
            "from": None,
            "to": None,
            "n": 0,
            "median_s": None,
            "q1_s": None,
            "q3_s": None,
            "enough": False,
            "history": total,
            "basis": f"{total} restored {key[0]} incident(s) on a {key[1]}, none lasting longer than this one so far",
        }
    med, q1, q3 = median(past), _quantile(past, 0.25), _quantile(past, 0.75)
    t0 = inc["opened_at"]
    return {
        "kind": "estimate",
        "at": t0 + med,
        "from": max(now, t0 + q1),
        "to": max(now, t0 + q3),
        "n": len(past),
        "median_s": round(med, 1),
        "q1_s": round(q1, 1),
        "q3_s": round(q3, 1),
        "enough": len(past) >= min_n,
        "history": total,
        "basis": (
            f"{len(past)} of {total} restored {key[0]} incident(s) on a {key[1]} lasted longer than this one so far: "
            f"median {med / 60:.0f} min, inter-quartile {q1 / 60:.0f}–{q3 / 60:.0f} min"
        ),
    }


def _hhmm(t: float, sep: str = ".") -> str:
    return datetime.fromtimestamp(t, WIB).strftime(f"%H{sep}%M")


def _day(t: float, now: float, lang: str) -> str:
    d, today = datetime.fromtimestamp(t, WIB).date(), datetime.fromtimestamp(now, WIB).date()
    if d == today:
        return ""
    months = (
        ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")
        if lang == "id"
        else ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    )
    return f"{d.day} {months[d.month - 1]} "


def text(e: dict, now: float) -> dict[str, str]:
    """Citizens' words for an ETR: Bahasa Indonesia and English, times in WIB."""
    if e["kind"] == "planned":
        at = e["at"]
        return {
            "id": f"Dijadwalkan pulih {_day(at, now, 'id')}{_hhmm(at)} WIB (jadwal pemeliharaan PLN)",
            "en": f"Scheduled to be back by {_day(at, now, 'en')}{_hhmm(at, ':')} WIB (PLN maintenance schedule)",
        }
    a, b = e["from"], e["to"]
    if _hhmm(a) == _hhmm(b):
        rid = f"{_day(a, now, 'id')}{_hhmm(a)}"
        ren = f"{_day(a, now, 'en')}{_hhmm(a, ':')}"
    else:
        rid = f"{_day(a, now, 'id')}{_hhmm(a)}–{_day(b, now, 'id') if _day(b, now, 'id') != _day(a, now, 'id') else ''}{_hhmm(b)}"
        ren = f"{_day(a, now, 'en')}{_hhmm(a, ':')}–{_day(b, now, 'en') if _day(b, now, 'en') != _day(a, now, 'en') else ''}{_hhmm(b, ':')}"
    return {
        "id": f"Perkiraan pulih {rid} WIB (perkiraan dari {e['n']} gangguan serupa sebelumnya, bukan janji)",
        "en": f"Estimated back {ren} WIB (an estimate from {e['n']} similar past outages, not a promise)",
    }
