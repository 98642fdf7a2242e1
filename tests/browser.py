"""Driving the web UI in Debian's Chromium with Playwright (the package's own browser download cannot work here).

Screenshots of each step go to ``test-artifacts/browser/`` (git-ignored) so a failed CI run can be looked at.
"""

from __future__ import annotations

import os
import shutil
import time
from contextlib import contextmanager
from functools import partial
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("LANDGIS_CHROMIUM", "/usr/bin/chromium")
# Flags as the machine's probe found necessary: no sandbox as root, and no background traffic to Google,
# which this closed network refuses.
ARGS = ["--no-sandbox", "--disable-gpu-sandbox", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-default-apps", "--disable-quic", "--use-angle=swiftshader",
        "--enable-unsafe-swiftshader"]


def chromium_available() -> bool:
    return shutil.which(CHROMIUM) is not None or Path(CHROMIUM).exists()


@contextmanager
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def signed_in_page(b, base_url: str, token: str | None, *, lang: str = "zh"):
    """A page whose session already holds ``token`` (as after signing in), console errors collected."""
    ctx = b.new_context(viewport={"width": 1400, "height": 860}, accept_downloads=True, locale="zh-CN")
    script = f"localStorage.setItem('landgis.lang', {lang!r});"
    if token:
        script += f"sessionStorage.setItem('landgis.token', {token!r});"
    ctx.add_init_script(script)
    page = ctx.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    # the service's Content-Security-Policy stays on: a blocked load or script is an error of the page
    page.on("console", lambda m: page.errors.append(m.text) if "Content Security Policy" in m.text else None)
    page.wait_for_function = partial(_wait_for_function, page)
    page.set_default_timeout(20_000)
    return page


def _wait_for_function(page, expression: str, arg=None, *, timeout: float = 20_000, **_):
    """``page.wait_for_function`` that works under the service's CSP (no ``'unsafe-eval'``).

    Playwright's own polls with ``eval()`` inside the page, which the policy forbids; ``page.evaluate``
    runs through the DevTools protocol, which it does not.
    """
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    deadline = time.monotonic() + timeout / 1000
    while True:
        try:
            value = page.evaluate(expression, arg)
            if value:
                return value
            error = None
        except PlaywrightError as exc:
            error = exc
        if time.monotonic() > deadline:
            raise PlaywrightTimeoutError(f"wait_for_function timed out: {expression}") from error
        time.sleep(0.05)


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def wait_map(page) -> float:
    """Wait until the parcels are drawn; the ms from navigation start to that moment (Performance API)."""
    page.wait_for_selector("body[data-map-ready='1']", timeout=30_000)
    return page.evaluate("performance.getEntriesByName('landgis:map-ready')[0].startTime")


def click_lonlat(page, lon: float, lat: float) -> None:
    """Click the map where ``lon, lat`` is drawn."""
    xy = page.evaluate("([lon, lat]) => { const p = window.landgis.map.project([lon, lat]);"
                       " const r = document.getElementById('map').getBoundingClientRect();"
                       " return [p.x + r.left, p.y + r.top]; }", [lon, lat])
    page.mouse.click(xy[0], xy[1])


def fly_to(page, lon: float, lat: float, zoom: float) -> None:
    page.evaluate("([lon, lat, z]) => window.landgis.map.jumpTo({center: [lon, lat], zoom: z})", [lon, lat, zoom])
    page.evaluate("() => new Promise((r) => { const m = window.landgis.map; if (m.loaded() && m.areTilesLoaded()) r();"
                  " else m.once('idle', () => r()); })")
