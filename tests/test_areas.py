"""Kelurahan cells and kecamatan borders drawn from the inventory (hotspots/areas.py)."""

from __future__ import annotations

import pytest

from hotspots.areas import areas, cells

pytestmark = pytest.mark.unit


def _area(poly):
    n = len(poly)
    return sum(poly[i][0] * poly[(i + 1) % n][1] - poly[(i + 1) % n][0] * poly[i][1] for i in range(n)) / 2


def _inside(poly, p):
    n = len(poly)
    return all(
        (poly[(i + 1) % n][0] - poly[i][0]) * (p[1] - poly[i][1])
        - (poly[(i + 1) % n][1] - poly[i][1]) * (p[0] - poly[i][0])
        >= -1e-12
        for i in range(n)
    )


def test_cells_tile_the_city_and_hold_their_own_hotspots(semarang):
    cs, outline, k = cells(semarang)
    assert len(cs) == len({h.area for h in semarang.hotspots.values()}) == 177
    assert all(_area(c.polygon) > 0 for c in cs), "counter-clockwise, not degenerate"
    assert sum(_area(c.polygon) for c in cs) == pytest.approx(_area(outline), rel=1e-9), "no gap, no overlap"
    by = {c.code: c for c in cs}
    own = sum(_inside(by[h.area].polygon, (h.lon * k, h.lat)) for h in semarang.hotspots.values())
    assert own / len(semarang.hotspots) > 0.95, f"only {own} hotspots lie in their own kelurahan's cell"
    # every edge between two cells is known from both sides
    for i, c in enumerate(cs):
        for j in c.edge_of:
            assert j is None or i in cs[j].edge_of, (c.code, cs[j].code if j is not None else None)


def test_kecamatan_borders_separate_kecamatan_only(semarang):
    doc = areas(semarang)
    cs, _, k = cells(semarang)
    inner = sum(
        1 for i, c in enumerate(cs) for j in c.edge_of if j is not None and j > i and cs[j].kecamatan != c.kecamatan
    )
    outer = sum(1 for c in cs for j in c.edge_of if j is None)
    assert len(doc["borders"]) == inner + outer and inner > 0 and outer >= 3
    same = sum(
        1 for i, c in enumerate(cs) for j in c.edge_of if j is not None and j > i and cs[j].kecamatan == c.kecamatan
    )
    assert same > 0, "edges inside a kecamatan exist and are not borders"
    names = {k["name"] for k in doc["kecamatan"]}
    assert names == {kec.name for kec in semarang.kecamatan.values()}
