"""Browser tests (marker ``browser``): Playwright for Python drives Debian's Chromium
(``/usr/bin/chromium`` through ``executable_path``; Playwright downloads no browser) against one
running stack — simulated city, collectors, explainer, ``pantau api`` — at time scale 10.

Shared by every browser test module: ``stack`` (started once for the package and stopped after its last test, so the rest of the suite does not run beside it), ``api`` (its URL),
``sim`` (the simulator's control URL), ``operator_key`` (an operator API key in the stack's state
database), ``browser`` (a headless Chromium), ``page`` (a fresh context and page per test) and
``screenshot(page, name)`` (saves ``docs/screens/<name>.png``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from collectors.schedule import load_jobs
from collectors.snmp.collector import ALL_RUNS
from pantau.stack import Stack
from tests.fixtures.keys import create_key
from tests.fixtures.waiting import wait  # noqa: F401 - the browser tests import it from here


def wait_js(page, expression: str, arg=None, timeout: float = 30_000, poll_ms: float = 50):
    """Evaluate ``expression`` (a JS function or expression, as ``page.evaluate`` takes it) every
    ``poll_ms`` until it returns something truthy, and return that; Playwright's TimeoutError after
    ``timeout`` ms.

    Not ``page.wait_for_function``: that one re-evaluates a string predicate with ``eval`` inside the
    page on its polls, and our pages' Content-Security-Policy (``script-src 'self'``, no
    ``'unsafe-eval'`` — as shipped) refuses that now and then (a race with Playwright's own
    evaluations, microsoft/playwright#36982): an ``EvalError`` failed test_switches_languages in
    CI. ``page.evaluate`` compiles through the DevTools protocol, which the page's CSP does not govern."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.monotonic() + timeout / 1000
    while True:
        try:  # an element not there yet (null.textContent) or a navigation under way: not yet
            got = page.evaluate(expression, arg)
        except PlaywrightError as exc:
            got = exc
        if got and not isinstance(got, PlaywrightError):
            return got
        if time.monotonic() >= deadline:
            raise PlaywrightTimeout(f"timed out after {timeout:g} ms waiting for {expression!r} (last: {got!r})")
        page.wait_for_timeout(poll_ms)


K = 10  # time scale: a 30 s poll interval is 3 s here
CHROMIUM = os.environ.get("PANTAU_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="package")
def stack(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/bootstrap.sh installs Debian's chromium")
    st = Stack(
        tmp_path_factory.mktemp("browserstack"),
        time_scale=K,
        collect=True,
        api=True,
        intervals={j.name: j.interval_s / K for j in load_jobs(known=ALL_RUNS)},
        seed=11,
    )
    st.start()
    try:
        api = st.api_svc.url
        wait(lambda: httpx.get(f"{api}/healthz").json()["collector_fresh"], 90, "the collector's live view")
        wait(lambda: httpx.get(f"{api}/api/v1/public/summary").json()["hotspots"]["up"] >= 2200, 120, "hotspots up")
        yield st
    finally:
        st.stop()


@pytest.fixture(scope="package")
def api(stack) -> str:
    return stack.api_svc.url


@pytest.fixture(scope="package")
def sim(stack) -> str:
    return stack.sim.url


@pytest.fixture(scope="package")
def operator_key(stack) -> str:
    return create_key(stack, "browser-test")


@pytest.fixture(scope="package")
def browser():
    """Headless Chromium; Playwright gives every launch a fresh, empty user-data-dir of its own."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture()
def page(browser):
    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, locale="id-ID", timezone_id="Asia/Jakarta")
    p = ctx.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    p.errors = errors  # type: ignore[attr-defined]
    yield p
    ctx.close()


@pytest.fixture(scope="package")
def screenshot():
    SCREENS.mkdir(parents=True, exist_ok=True)

    def shot(page, name: str, full_page: bool = False) -> Path:
        path = SCREENS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return shot
