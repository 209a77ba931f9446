"""The NOC console (/noc) in Chromium against the running stack (tests/browser/conftest.py): the map
shows all 2,300 hotspots on the city's areas; a feeder trip turns its hotspots red and brings the
incident without a reload, and the operator acknowledges, annotates and silences it from the page;
the hotspot table filters and sorts; a hotspot's charts draw from InfluxDB; Bahasa Indonesia and
English; axe-core finds no serious or critical violation on any screen. Screenshots of every screen
go to docs/screens/noc-*.png.

Every fault injected here is restored before the test ends (tests/browser/test_citizen.py shares
the stack)."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.conftest import wait, wait_js

FEEDER = "TBR-03"  # not the citizens' test's feeder (SRD-04): the package shares one stack
AXE_SCREENS = [
    "map",
    "incidents",
    "hotspots",
    "hotspot/AP-0001",
    "grid",
    "services",
    "availability",
    "suspects",
    "wall",
]


def open_noc(page, api: str, key: str | None, route: str = "map"):
    """Open the console with the key already in this tab's sessionStorage (as after entering it)."""
    if key:
        page.add_init_script(f"sessionStorage.setItem('pantau-key', {json.dumps(key)})")
    page.goto(f"{api}/noc#/{route}")
    if key:
        page.wait_for_selector("body[data-view]", state="attached", timeout=20_000)


def shown_on_map(page) -> int:
    """Hotspots the map draws: single dots plus the members of every cluster."""
    return page.evaluate(
        """() => document.querySelectorAll('.map .dots circle.hs').length +
        [...document.querySelectorAll('.map .dots .cluster')].reduce((n, c) => n + Number(c.dataset.count), 0)"""
    )


def page_state(page) -> str:
    """What the page knew when a wait ran out: its live-stream state, the incident cards, its errors."""
    return (
        str(
            page.evaluate(
                """() => ({live: document.querySelector('#live')?.textContent,
            view: document.body.dataset.view, hash: location.hash,
            cards: [...document.querySelectorAll('ul.incs li.inc')].map(e => e.dataset.incident),
            down: document.querySelectorAll('.map .hi.st-down').length,
            events: document.body.dataset.events, incidentReads: document.body.dataset.incidentReads,
            incidentReadsFailed: document.body.dataset.incidentReadsFailed})"""
            )
        )
        + f" errors={page.errors}"
    )  # type: ignore[attr-defined]


def no_page_errors(page):
    assert not page.errors, page.errors  # type: ignore[attr-defined]


def test_map_shows_every_hotspot_on_the_city_areas(page, api, operator_key, screenshot):
    page.goto(f"{api}/noc")
    page.wait_for_selector("#key-input")
    screenshot(page, "noc-key")
    page.fill("#key-input", operator_key)
    page.click("#keyform button[type=submit]")
    page.wait_for_selector(".map[data-total='2300']", timeout=20_000)
    assert shown_on_map(page) == 2300
    legend = page.inner_text(".map .legend")
    assert "2.300 titik wifi" in legend, legend
    areas = httpx.get(f"{api}/api/v1/public/areas")
    if areas.status_code == 200:  # GET /public/areas (hotspots/areas.py): kelurahan cells, kecamatan borders
        doc = areas.json()
        assert page.locator(".map path.kel").count() == len(doc["kelurahan"]) == 177
        assert page.locator(".map .labels.kec text").count() == len(doc["kecamatan"])
    # zoomed out the hotspots are clustered; zoomed in every one is a dot of its own, still 2,300
    assert page.locator(".map .dots .cluster").count() > 0
    overlaps = page.evaluate(
        """() => { const rings = [...document.querySelectorAll('.map .dots .cluster')].map(g => {
            const r = g.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2, r.width / 2]; });
          let n = 0;
          for (let i = 0; i < rings.length; i++) for (let j = i + 1; j < rings.length; j++) {
            const [x1, y1, r1] = rings[i], [x2, y2, r2] = rings[j];
            if (Math.hypot(x1 - x2, y1 - y2) < r1 + r2 - 1) n++; }
          return n; }"""
    )
    assert overlaps == 0, f"{overlaps} pairs of cluster rings overlap"
    screenshot(page, "noc-map")
    for _ in range(3):
        page.click(".zoom button >> nth=0")
    wait_js(page, "document.querySelectorAll('.map .dots circle.hs').length === 2300")
    assert page.locator(".map .dots .cluster").count() == 0
    seen = page.evaluate(
        """() => { const m = document.querySelector('.map').getBoundingClientRect();
        const d = [...document.querySelectorAll('.map .dots circle.hs')].find(c => { const r = c.getBoundingClientRect();
          return r.left > m.left + 80 && r.right < m.right - 80 && r.top > m.top + 80 && r.bottom < m.bottom - 120; });
        return d.dataset.id; }"""
    )
    page.locator(f".map .dots circle.hs[data-id='{seen}']").click(force=True)  # its card
    page.wait_for_selector(f".map .popup:not([hidden]) a[href='#/hotspot/{seen}']")
    no_page_errors(page)


def test_pinch_zooms_the_map_on_a_touch_screen(browser, api, operator_key):
    """A tablet on the NOC floor: two fingers spread on the map zoom it in around them (clusters
    open into dots), pinched together zoom out again; lifting the fingers is no click."""
    ctx = browser.new_context(
        viewport={"width": 1024, "height": 768},
        has_touch=True,
        is_mobile=False,
        locale="id-ID",
        timezone_id="Asia/Jakarta",
    )
    try:
        page = ctx.new_page()
        open_noc(page, api, operator_key)
        page.wait_for_selector(".map[data-total='2300']")
        box = page.locator(".map svg").first.bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        cdp = ctx.new_cdp_session(page)

        def pinch(d0: float, d1: float, steps: int = 12) -> None:
            def points(d):
                return [{"x": cx - d, "y": cy, "id": 0}, {"x": cx + d, "y": cy, "id": 1}]

            cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": points(d0)})
            for i in range(1, steps + 1):
                cdp.send(
                    "Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": points(d0 + (d1 - d0) * i / steps)}
                )
            cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})

        assert page.locator(".map .dots .cluster").count() > 0
        pinch(30, 150)  # spread: ×5
        wait_js(page, "document.querySelector('.map').classList.contains('zoomed')")
        wait_js(page, "document.querySelectorAll('.map .dots .cluster').length === 0")
        assert page.locator(".map .popup:not([hidden])").count() == 0, "a pinch is no click"
        pinch(150, 30)  # and back
        wait_js(page, "!document.querySelector('.map').classList.contains('zoomed')")
        assert page.locator(".map .dots .cluster").count() > 0
    finally:
        ctx.close()


def test_feeder_trip_turns_red_live_and_is_acknowledged_from_the_page(page, api, sim, operator_key, screenshot):
    h = {"X-API-Key": operator_key}
    on_feeder = httpx.get(f"{api}/api/v1/hotspots", params={"feeder": FEEDER, "limit": 1000}, headers=h).json()["items"]
    dark = {x["id"] for x in on_feeder if x["ups_minutes"] == 0}
    assert len(dark) > 10
    # the feeder energized and its hotspots answering as the NOC knows them before the trip (a fresh stack)
    wait(
        lambda: httpx.get(f"{api}/api/v1/grid/feeder:{FEEDER}", headers=h).json()["state"] == "energized",
        60,
        "the feeder energized",
    )
    wait(
        lambda: (
            not any(
                httpx.get(
                    f"{api}/api/v1/hotspots", params={"feeder": FEEDER, "state": st, "limit": 1}, headers=h
                ).json()["total"]
                for st in ("down", "unknown")
            )
        ),
        60,
        "the feeder's hotspots answering",
    )
    open_noc(page, api, operator_key)
    page.wait_for_selector(".map[data-total='2300']")
    page.evaluate("window.__sameDocument = true")
    silence_ids: list[str] = []
    inc_id = None
    try:
        httpx.post(
            f"{sim}/_sim/events", json={"action": "feeder_trip", "target": f"feeder:{FEEDER}"}
        ).raise_for_status()
        t0 = time.monotonic()
        on_api = wait(
            lambda: next(
                i
                for i in httpx.get(f"{api}/api/v1/incidents", headers=h).json()["items"]
                if i["root"] == f"feeder:{FEEDER}" and i["status"] == "open"
            ),
            45,
            "the feeder incident in the API",
        )
        t_api_incident = time.monotonic() - t0
        card = page.locator(f"ul.incs li.inc[data-incident='{on_api['id']}']")
        try:
            card.wait_for(timeout=15_000)
        except PlaywrightTimeout:
            raise AssertionError(f"incident {on_api['id']} not on the page: {page_state(page)}") from None
        t_incident = time.monotonic() - t0
        inc_id = card.get_attribute("data-incident")
        # the hotspots on the feeder turn red on the map (hotspot_state events), no reload
        card.locator("button").click()
        page.wait_for_selector(f".incdetail[data-incident='{inc_id}']")
        wait(
            lambda: (
                httpx.get(
                    f"{api}/api/v1/hotspots", params={"feeder": FEEDER, "state": "down", "limit": 1}, headers=h
                ).json()["total"]
                >= len(dark)
            ),
            60,
            "the feeder's hotspots down in the API",
        )
        t_api = time.monotonic() - t0
        try:
            wait_js(
                page, "n => document.querySelectorAll('.map .hi.st-down').length >= n", arg=len(dark), timeout=30_000
            )
        except PlaywrightTimeout:
            raise AssertionError(f"{len(dark)} hotspots not red on the page: {page_state(page)}") from None
        t_red = time.monotonic() - t0
        red = set(page.eval_on_selector_all(".map .hi.st-down", "els => els.map(e => e.dataset.id)"))
        assert dark <= red
        assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
        assert page.locator(".map .root text").text_content() == f"feeder:{FEEDER}"
        print(
            f"\nincident in the API {t_api_incident:.1f} s and on the page {t_incident:.1f} s after the trip; its {len(dark)} hotspots down in the API "
            f"after {t_api:.1f} s, red on the page after {t_red:.1f} s"
        )
        assert t_red - t_api < 10
        assert t_incident < 30
        detail = page.locator(".incdetail")
        assert "Listrik padam" in detail.inner_text() and f"Penyulang {FEEDER}" in detail.inner_text()
        assert detail.locator("ol.timeline li").count() >= 1 and detail.locator("ul.evidence li").count() >= 1
        # the ETR's basis in the console's language, worded from the API's numbers
        basis = detail.locator("dd.etr .etr-basis").inner_text()
        assert basis.startswith("Dasar:") and "listrik padam" in basis and "penyulang" in basis, basis
        screenshot(page, "noc-incident")

        # acknowledge from the page with the operator key: the NOC and the citizens see it handled
        page.fill("#ack-comment", "PLN UP3 dihubungi")
        page.click("button[data-action=ack]")
        page.wait_for_selector(".incdetail .inc-badges .ack", timeout=10_000)
        got = httpx.get(f"{api}/api/v1/incidents/{inc_id}", headers=h).json()
        assert got["acknowledged"] and got["notes"][0]["text"] == "PLN UP3 dihubungi"
        kec, kel = got["areas"][0].split("/")
        kec_name = next(x["kecamatan_name"] for x in on_feeder if x["kecamatan"] == kec)
        wait(
            lambda: any(
                o["incident"] == inc_id and o["handling"] == "acknowledged"
                for o in httpx.get(f"{api}/api/v1/public/kelurahan/{kel}", params={"kecamatan": kec_name}).json()[
                    "outages"
                ]
            ),
            10,
            "the citizens' 'sedang ditangani'",
        )
        # a note, and a silence of this incident's alerts for an hour
        page.fill("#note-text", "Teknisi menuju gardu")
        page.click("button[data-action=note]")
        page.wait_for_selector("ol.timeline li.note >> text=Teknisi menuju gardu", timeout=10_000)
        page.fill("#sil-comment", "PLN sudah tahu")
        page.click("button[data-action=silence]")
        page.wait_for_selector(".incdetail .msg.ok >> text=dibisukan", timeout=10_000)
        sils = [
            s
            for s in httpx.get(f"{api}/api/v1/silences", headers=h).json()
            if s["status"] == "active" and s["matchers"][0]["value"] == inc_id
        ]
        assert len(sils) == 1 and sils[0]["created_by"] == "browser-test"
        silence_ids = [s["id"] for s in sils]
        # the table shows the feeder's hotspots down
        page.goto(f"{api}/noc#/hotspots?feeder={FEEDER}&state=down")
        wait_js(
            page, "n => Number(document.querySelector('#hstable').dataset.rows) >= n", arg=len(dark), timeout=10_000
        )
        no_page_errors(page)
    finally:
        httpx.post(f"{sim}/_sim/events", json={"action": "feeder_restore", "target": f"feeder:{FEEDER}"})
        for sid in silence_ids:
            httpx.delete(f"{api}/api/v1/silences/{sid}", headers=h)
        if inc_id:  # leave the city as found for the other browser tests
            wait(
                lambda: httpx.get(f"{api}/api/v1/incidents/{inc_id}", headers=h).json()["status"] == "closed",
                90,
                "the feeder incident closed after the restore",
            )


def test_hotspot_table_filters_and_sorts(page, api, operator_key, screenshot):
    open_noc(page, api, operator_key, "hotspots")
    wait_js(page, "document.querySelector('#hstable') && document.querySelector('#hstable').dataset.rows === '2300'")
    rendered = page.locator("#hstable tbody tr:not(.spacer)").count()
    assert 10 < rendered < 200, rendered  # only the rows in sight are in the DOM
    page.select_option("#f-kecamatan", "TBL")
    page.select_option("#f-vendor", "mikrotik")
    rows = int(page.get_attribute("#hstable", "data-rows"))
    want = httpx.get(
        f"{api}/api/v1/hotspots",
        params={"kecamatan": "TBL", "vendor": "mikrotik", "limit": 1},
        headers={"X-API-Key": operator_key},
    ).json()["total"]
    assert rows == want > 0
    assert set(
        page.eval_on_selector_all("#hstable tbody tr[data-id] td:nth-child(4)", "e => e.map(x => x.textContent)")
    ) == {"Tembalang"}
    first = httpx.get(
        f"{api}/api/v1/hotspots",
        params={"kecamatan": "TBL", "vendor": "mikrotik", "limit": 1},
        headers={"X-API-Key": operator_key},
    ).json()["items"][0]
    page.fill("#f-q", first["kelurahan"])
    page.wait_for_timeout(400)  # the search waits for typing to pause
    page.click("#hstable th[data-col=id] button")
    page.click("#hstable th[data-col=id] button")
    page.wait_for_timeout(200)
    assert page.get_attribute("#hstable th[data-col=id]", "aria-sort") == "descending"
    ids = page.eval_on_selector_all("#hstable tbody tr[data-id]", "e => e.map(x => x.dataset.id)")
    assert ids and ids == sorted(ids, reverse=True) and first["id"] in ids
    assert int(page.get_attribute("#hstable", "data-rows")) < rows
    assert "kecamatan=TBL" in page.evaluate("location.hash")  # the filters are in the URL
    screenshot(page, "noc-hotspots")
    page.click(f"#hstable tbody tr[data-id='{ids[0]}'] a")
    page.wait_for_selector(f".hotspot[data-hotspot='{ids[0]}']")
    no_page_errors(page)


def test_hotspot_page_draws_its_charts_and_history(page, api, operator_key, screenshot):
    h = {"X-API-Key": operator_key}
    series = wait(
        lambda: (lambda d: d if d["available"] and len(d["time"]) >= 3 else None)(
            httpx.get(f"{api}/api/v1/hotspots/AP-0001/series", params={"minutes": 60}, headers=h).json()
        ),
        60,
        "a few buckets of AP-0001's polls in InfluxDB",
    )
    assert any(v is not None for v in series["series"]["rtt_ms"])
    assert any(v is not None for v in series["series"]["clients"])
    open_noc(page, api, operator_key, "hotspot/AP-0001")
    page.wait_for_selector("figure.chart .uplot canvas")
    assert page.locator("figure.chart .uplot").count() == 4
    assert {c for c in page.eval_on_selector_all("figure.chart", "e => e.map(x => x.dataset.chart)")} == {
        "clients",
        "traffic",
        "cpumem",
        "rtt",
    }
    # the state band: one rect per span of /states (attached, not 'visible': a span of a few
    # seconds in an hour is a sliver Chromium may not count as visible)
    page.wait_for_selector("svg.band rect[class^='st-']", state="attached")
    drawn = {
        c[3:]
        for c in page.eval_on_selector_all("svg.band rect[class^='st-']", "e => e.map(x => x.getAttribute('class'))")
    }
    spans = httpx.get(f"{api}/api/v1/hotspots/AP-0001/states", params={"minutes": 60}, headers=h).json()["spans"]
    assert drawn and drawn <= {"up", "degraded", "down", "unknown"}, drawn
    assert drawn & {s["state"] for s in spans}, (drawn, spans)
    assert "AP-0001" in page.inner_text(".hshead h2")
    page.wait_for_timeout(300)
    screenshot(page, "noc-hotspot")
    page.click("button[data-minutes='360']")
    wait_js(page, "location.hash.endsWith('minutes=360')")
    page.wait_for_selector("figure.chart .uplot canvas")
    no_page_errors(page)


def test_switches_languages(page, api, operator_key, screenshot):
    open_noc(page, api, operator_key, "map")
    assert page.inner_text("#nav a[data-route=map]") == "Peta" and page.get_attribute("html", "lang") == "id"
    page.click("#lang")
    wait_js(page, "document.documentElement.lang === 'en'")
    assert page.inner_text("#nav a[data-route=map]") == "Map"
    wait_js(page, "document.querySelector('.map .legend').textContent.includes('2,300 wifi hotspots')")
    screenshot(page, "noc-map-en")
    page.goto(f"{api}/noc#/grid")
    page.wait_for_selector("#gridtree li")
    assert "energized" in page.inner_text(".summary")
    page.click("#lang")
    wait_js(page, "document.documentElement.lang === 'id'")
    page.wait_for_selector("#gridtree li")
    assert "bertegangan" in page.inner_text(".summary")
    no_page_errors(page)


@pytest.mark.parametrize("route", AXE_SCREENS)
def test_accessibility_of_every_screen(page, api, operator_key, screenshot, route):
    open_noc(page, api, operator_key, route)
    ready = {
        "map": ".map[data-total='2300']",
        "incidents": ".listbox > *",
        "hotspots": "#hstable tbody tr[data-id]",
        "hotspot/AP-0001": "figure.chart",
        "grid": "#gridtree li",
        "services": "#services .svc",
        "availability": "#availability table",
        "suspects": "#suspects > *",
        "wall": ".wallgrid .map[data-total='2300']",
    }[route]
    page.wait_for_selector(ready, timeout=20_000)
    page.wait_for_timeout(500)
    if route == "grid":  # one substation opened down to its transformers
        page.click("#gridtree details summary >> nth=0", position={"x": 4, "y": 8})
        page.click("#gridtree details[open] details summary >> nth=0", position={"x": 4, "y": 8})
    name = {"hotspot/AP-0001": "hotspot-a11y"}.get(route, route)
    if route in ("grid", "services", "availability", "suspects", "wall", "incidents"):
        screenshot(page, f"noc-{name}")
    page.add_script_tag(url=f"{api}/static/vendor/axe.min.js")
    violations = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"""
    )
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not bad, json.dumps(bad, indent=1)
    no_page_errors(page)
