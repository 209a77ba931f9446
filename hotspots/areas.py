"""Outlines of a city's kelurahan and kecamatan, derived from the inventory alone.

No map tiles or boundary files exist offline, so the areas are drawn from where the city's devices
are: each kelurahan is the Voronoi cell of the centre of its hotspots (its transformers when it has
no hotspot), clipped to the city's outline — the convex hull of every device, widened by a margin.
The cells tile the city without gaps or overlaps, every hotspot lies in (or next to) its own
kelurahan's cell, and a kecamatan is the union of its kelurahan's cells; its boundary is returned as
the cell edges between kelurahan of different kecamatan plus the city's outline.

A cell is the outline clipped by one half-plane per other site (Sutherland–Hodgman on a convex
polygon; each edge remembers which site's bisector made it, which gives the kecamatan borders
without a polygon union). 177 kelurahan take ~0.1 s, once per inventory. SciPy's Voronoi leaves the
outer cells unbounded and would still need this clipping; Shapely would be a dependency for one
union.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Point = tuple[float, float]  # (x, y) in a local plane: x = lon · cos(lat0), y = lat (degrees)

MARGIN_DEG = 0.006  # how far the city's outline reaches beyond its outermost devices (~650 m)


@dataclass(frozen=True, slots=True)
class Cell:
    code: str  # "<kecamatan code>/<kelurahan name>", the hotspots' ``area``
    name: str
    kecamatan: str
    site: Point
    polygon: list[Point]
    edge_of: list[int | None]  # per edge (polygon[i] → polygon[i+1]): the neighbouring cell, None = outline
    hotspots: int


def _hull(points: list[Point]) -> list[Point]:
    """Convex hull, counter-clockwise (Andrew's monotone chain)."""
    pts = sorted(set(points))
    if len(pts) < 3:
        return pts

    def cross(o: Point, a: Point, b: Point) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[Point] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[Point] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def _widen(hull: list[Point], margin: float) -> list[Point]:
    """The hull moved outwards by ``margin`` along each vertex's direction from the centre."""
    cx = sum(p[0] for p in hull) / len(hull)
    cy = sum(p[1] for p in hull) / len(hull)
    out = []
    for x, y in hull:
        d = math.hypot(x - cx, y - cy) or 1.0
        out.append((x + (x - cx) / d * margin, y + (y - cy) / d * margin))
    return out


def _clip(poly: list[Point], labels: list[int | None], a: Point, c: float, j: int):
    """Keep the part of a convex polygon with a·p ≤ c; the new edge along the line is labelled ``j``."""
    n = len(poly)
    out: list[Point] = []
    out_labels: list[int | None] = []
    for i in range(n):
        p, q = poly[i], poly[(i + 1) % n]
        fp = a[0] * p[0] + a[1] * p[1] - c
        fq = a[0] * q[0] + a[1] * q[1] - c
        if fp <= 0:
            out.append(p)
            if fq <= 0:
                out_labels.append(labels[i])
            else:  # leaves: the edge up to the crossing keeps its label, the line follows
                t = fp / (fp - fq)
                out_labels.append(labels[i])
                out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
                out_labels.append(j)
        elif fq <= 0:  # enters: from the crossing on, the rest of the edge keeps its label
            t = fp / (fp - fq)
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
            out_labels.append(labels[i])
    return out, out_labels


def cells(inv) -> tuple[list[Cell], list[Point], float]:
    """Every kelurahan's cell, the city's outline and the plane's ``cos(lat0)``."""
    lat0 = (inv.bbox.lat[0] + inv.bbox.lat[1]) / 2
    k = math.cos(math.radians(lat0))
    pts: dict[tuple[str, str], list[Point]] = {}
    for h in inv.hotspots.values():
        pts.setdefault((h.kecamatan, h.kelurahan), []).append((h.lon * k, h.lat))
    for t in inv.transformers.values():
        if (t.kecamatan, t.kelurahan) not in pts:
            pts.setdefault((t.kecamatan, t.kelurahan), [])
    tpts: dict[tuple[str, str], list[Point]] = {}
    for t in inv.transformers.values():
        tpts.setdefault((t.kecamatan, t.kelurahan), []).append((t.lon * k, t.lat))
    every = [p for v in pts.values() for p in v] + [p for v in tpts.values() for p in v]
    outline = _widen(_hull(every), MARGIN_DEG)
    sites: list[tuple[tuple[str, str], Point, int]] = []
    for code, kec in inv.kecamatan.items():
        for kel in kec.kelurahan:
            own = pts.get((code, kel)) or tpts.get((code, kel))
            if not own:
                continue  # nothing of the city's stands there: no cell to draw
            site = (sum(p[0] for p in own) / len(own), sum(p[1] for p in own) / len(own))
            sites.append(((code, kel), site, len(pts.get((code, kel), []))))
    out: list[Cell] = []
    for i, ((kec, kel), s, n) in enumerate(sites):
        poly, labels = list(outline), [None] * len(outline)
        others = sorted(range(len(sites)), key=lambda j: (sites[j][1][0] - s[0]) ** 2 + (sites[j][1][1] - s[1]) ** 2)
        for j in others:
            if j == i:
                continue
            o = sites[j][1]
            d2 = (o[0] - s[0]) ** 2 + (o[1] - s[1]) ** 2
            reach = max((p[0] - s[0]) ** 2 + (p[1] - s[1]) ** 2 for p in poly) if poly else 0.0
            if d2 > 4 * reach:
                break  # every farther site's bisector lies beyond the cell
            if d2 == 0:
                continue  # the same centre (two kelurahan on one spot): the first keeps it
            a = (o[0] - s[0], o[1] - s[1])
            c = ((o[0] ** 2 + o[1] ** 2) - (s[0] ** 2 + s[1] ** 2)) / 2
            poly, labels = _clip(poly, labels, a, c, j)
            if not poly:
                break
        out.append(Cell(f"{kec}/{kel}", kel, kec, s, poly, labels, n))
    return out, outline, k


def areas(inv) -> dict:
    """The document ``GET /api/v1/public/areas`` serves (lat/lon, 5 decimals ≈ 1 m)."""
    cs, outline, k = cells(inv)

    def ll(p: Point) -> list[float]:
        return [round(p[1], 5), round(p[0] / k, 5)]

    kelurahan = []
    borders: list[list[list[float]]] = []
    for i, c in enumerate(cs):
        area = 0.0
        cx = cy = 0.0
        n = len(c.polygon)
        for m in range(n):
            (x0, y0), (x1, y1) = c.polygon[m], c.polygon[(m + 1) % n]
            w = x0 * y1 - x1 * y0
            area += w
            cx += (x0 + x1) * w
            cy += (y0 + y1) * w
        label = (cx / (3 * area), cy / (3 * area)) if abs(area) > 1e-12 else c.site
        kelurahan.append(
            {
                "code": c.code,
                "name": c.name,
                "kecamatan": c.kecamatan,
                "polygon": [ll(p) for p in c.polygon],
                "label": ll(label),
                "hotspots": c.hotspots,
            }
        )
        for m, j in enumerate(c.edge_of):
            if j is None or (j > i and cs[j].kecamatan != c.kecamatan):
                borders.append([ll(c.polygon[m]), ll(c.polygon[(m + 1) % n])])
    kec_pts: dict[str, list[Point]] = {}
    for h in inv.hotspots.values():
        kec_pts.setdefault(h.kecamatan, []).append((h.lat, h.lon))
    kecamatan = [
        {
            "code": code,
            "name": kec.name,
            "label": [
                round(sum(p[0] for p in kec_pts[code]) / len(kec_pts[code]), 5),
                round(sum(p[1] for p in kec_pts[code]) / len(kec_pts[code]), 5),
            ],
        }
        for code, kec in inv.kecamatan.items()
        if kec_pts.get(code)
    ]
    lats = [p[1] for p in outline]
    lons = [p[0] / k for p in outline]
    return {
        "city": inv.city,
        "method": "Voronoi cells of each kelurahan's hotspots, clipped to the city's devices' hull",
        "bbox": [round(min(lats), 5), round(min(lons), 5), round(max(lats), 5), round(max(lons), 5)],
        "outline": [ll(p) for p in outline],
        "kelurahan": kelurahan,
        "kecamatan": kecamatan,
        "borders": borders,
    }
