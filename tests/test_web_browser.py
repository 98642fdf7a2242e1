"""The web map and officer workbench in a real browser (Debian Chromium driven by Playwright), on real PostGIS.

Steps follow a user: the map loads with its legend; a click opens a parcel; a viewer sees no workbench;
an officer uploads a survey coordinate list that cuts a building and sees SPLIT-02 fail with the building
highlighted; a valid split is executed and the map then shows the new lots; the report prints and its PDF
holds the rule table. Screenshots of each step land in ``test-artifacts/browser/``.
"""

from __future__ import annotations

import io
import json
import re

import pytest
import shapely

from tests.api_helpers import AS_OF, SHOWCASE, building_centroids_x, make_token, parcel_geometry, sql_rows
from tests.browser import ARTIFACTS, browser, chromium_available, click_lonlat, fly_to, shot, signed_in_page, wait_map
from tests.live_server import live_server

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not chromium_available(), reason="Debian chromium is not installed")]

SPLIT = SHOWCASE["split_ok"]
CODE = SPLIT["parcel_code"]


@pytest.fixture(scope="module")
def server(sample_settings_module):
    """Reads need a token here (the default); :func:`test_anonymous_read` serves the same data open."""
    with live_server(sample_settings_module) as live:
        yield live


@pytest.fixture(scope="module")
def chrome():
    with browser() as b:
        yield b


@pytest.fixture(scope="module")
def officer(open_settings):
    return make_token(open_settings, "officer", "王审查员")


def _lots(settings, x_cut: float) -> list[tuple[str, shapely.Polygon]]:
    parent = parcel_geometry(settings, CODE)
    minx, miny, maxx, maxy = parent.bounds
    west = shapely.intersection(parent, shapely.box(minx - 1, miny - 1, x_cut, maxy + 1))
    east = shapely.intersection(parent, shapely.box(x_cut, miny - 1, maxx + 1, maxy + 1))
    return [("W", west), ("E", east)]


def coordinate_list(lots: list[tuple[str, shapely.Polygon]]) -> bytes:
    """Lots as a survey contractor writes them: 地块号, 点号, X (northing), Y (easting) in EPSG:4549, GBK."""
    lines = ["地块号,点号,X,Y"]
    n = 0
    for label, poly in lots:
        for x, y in list(poly.exterior.coords)[:-1]:
            n += 1
            lines.append(f"{label},J{n},{y:.3f},{x:.3f}")
    return ("\r\n".join(lines) + "\r\n").encode("gbk")


def _open_workbench(page, server):
    page.goto(f"{server.url}/#workbench")
    wait_map(page)
    page.wait_for_function("window.landgis && window.landgis.workbench === true")
    page.click("nav#views button[data-view=workbench]")
    page.fill("#wb-q", CODE)
    page.click(f"#wb-results li[data-code='{CODE}']")
    page.wait_for_selector(f"#wb-parcels li:has-text('{CODE}')")
    page.fill("#wb-asof", AS_OF)


def _upload(page, name: str, data: bytes, mime: str = "text/csv"):
    page.set_input_files("#wb-file", files=[{"name": name, "mimeType": mime, "buffer": data}])
    page.wait_for_selector("#wb-lots tr[data-lot='E']")


def _run_check(page) -> str:
    for box in page.query_selector_all("#wb-confirmations input[type=checkbox]"):
        box.check()
    page.click("#wb-check")
    page.wait_for_selector("#wb-verdict .verdict")
    return page.get_attribute("#wb-verdict .verdict", "data-verdict")


def test_map_loads_with_legend_counts(server, chrome, officer, open_db):
    page = signed_in_page(chrome, server.url, officer)
    page.goto(server.url + "/")
    ms = wait_map(page)
    page.wait_for_selector("#legend tr[data-cat='none'] td[data-count]")
    expected = dict(sql_rows(open_db, "SELECT c.category, count(*) FROM parcels p JOIN parcel_categories c "
                                      "ON c.parcel_id = p.id WHERE p.valid_to IS NULL GROUP BY 1"))
    for cat in ("approved_unsupplied", "supplied_unused", "low_efficiency", "none"):
        shown = page.get_attribute(f"#legend tr[data-cat='{cat}'] td[data-count]", "data-count")
        assert int(shown) == expected.get(cat, 0), cat
    cells = page.evaluate("window.landgis.map.queryRenderedFeatures({layers: ['overview-fill']})"
                          ".reduce((s, f) => s + f.properties.n, 0)")
    assert cells == sum(expected.values())  # the county view: the overview grid counts every parcel once
    assert page.errors == []
    shot(page, "01-map-legend")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "first-paint-sample.json").write_text(json.dumps({"map_ready_ms": ms}), encoding="utf-8")


def test_filter_changes_legend_and_map(server, chrome, officer, open_db):
    page = signed_in_page(chrome, server.url, officer)
    page.goto(server.url + "/")
    wait_map(page)
    town = sql_rows(open_db, "SELECT town FROM parcels WHERE valid_to IS NULL GROUP BY town "
                             "ORDER BY count(*) DESC")[0][0]
    want = sql_rows(open_db, "SELECT count(*) FROM parcels WHERE valid_to IS NULL AND town = :t", t=town)[0][0]
    page.select_option("#f-town", town)
    page.wait_for_function(f"document.querySelector('#legend').textContent.includes('{want:,}'.replace(/,/g, ','))")
    total = page.evaluate("[...document.querySelectorAll('#legend td[data-count]')]"
                          ".reduce((s, td) => s + Number(td.dataset.count), 0)")
    assert total == want
    page.wait_for_function(f"window.landgis.map.queryRenderedFeatures({{layers: ['overview-fill']}})"
                           f".reduce((s, f) => s + f.properties.n, 0) === {want}")
    shot(page, "02-filter-town")


def test_click_parcel_opens_panel(server, chrome, officer, open_db):
    lon, lat = sql_rows(open_db, "SELECT ST_X(q), ST_Y(q) FROM (SELECT ST_Transform(ST_PointOnSurface(geom), 4326) q "
                                 "FROM parcels WHERE parcel_code = :c AND valid_to IS NULL) s", c=CODE)[0]
    page = signed_in_page(chrome, server.url, officer)
    page.goto(server.url + "/")
    wait_map(page)
    fly_to(page, lon, lat, 17)
    click_lonlat(page, lon, lat)
    page.wait_for_selector("[data-testid=panel-code]")
    assert page.inner_text("[data-testid=panel-code]") == CODE
    assert "亩" in page.inner_text("#panel-body")
    shot(page, "03-parcel-panel")
    page.click("#lang")
    page.wait_for_function("document.querySelector('#panel-body').textContent.includes('Lineage')")
    assert page.inner_text("nav#views button[data-view=map]") == "Map"


def test_sign_in_and_roles(server, chrome, open_settings):
    viewer = make_token(open_settings, "viewer", "规划科")
    page = signed_in_page(chrome, server.url, None)
    page.goto(server.url + "/")
    page.wait_for_selector("#signin[open]")
    page.fill("#signin-token", "lgk_not_a_real_key")
    page.click("#signin-form button[type=submit]")
    page.wait_for_function("document.querySelector('#signin-error').textContent.length > 0")
    shot(page, "04-sign-in-refused")
    page.fill("#signin-token", viewer)
    page.click("#signin-form button[type=submit]")
    wait_map(page)
    assert "规划科" in page.inner_text("#who")
    assert page.is_hidden("nav#views button[data-view=workbench]")


def test_anonymous_read_needs_no_sign_in(chrome, open_settings):
    with live_server(open_settings) as live:
        page = signed_in_page(chrome, live.url, None)
        page.goto(live.url + "/")
        wait_map(page)
        assert page.is_hidden("#signin")
        assert page.inner_text("#who") == "匿名浏览"
        assert page.is_hidden("nav#views button[data-view=workbench]")


def test_upload_that_cuts_a_building_fails_split02_and_highlights_it(server, chrome, officer, open_settings):
    xs = building_centroids_x(open_settings, CODE)
    lots = _lots(open_settings, xs[0])
    page = signed_in_page(chrome, server.url, officer)
    _open_workbench(page, server)
    _upload(page, "界址点坐标.csv", coordinate_list(lots))
    assert _run_check(page) == "fail"
    assert page.get_attribute("#rules tr[data-rule='SPLIT-02']", "data-status") == "fail"
    highlighted = page.get_attribute("#wb-verdict", "data-highlighted").split(",")
    assert any(h.startswith("building:") for h in highlighted), highlighted
    n_hl = page.evaluate("window.landgis.map.querySourceFeatures('wb-hl').length")
    assert n_hl >= 1
    shot(page, "05-split02-fails-building-highlighted")


def test_valid_split_executes_report_and_new_lots_on_map(server, chrome, officer, open_settings, open_db):
    lots = _lots(open_settings, SPLIT["cut_line_epsg4549"][0][0])
    page = signed_in_page(chrome, server.url, officer)
    _open_workbench(page, server)
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"label": label},
         "geometry": json.loads(shapely.to_geojson(shapely.transform(poly, lambda c: c[:, ::-1])))}
        for label, poly in lots]}
    page.set_input_files("#wb-file", files=[{"name": "lots.geojson", "mimeType": "application/geo+json",
                                              "buffer": json.dumps({**fc, "crs": {"type": "name", "properties": {
                                                  "name": "urn:ogc:def:crs:EPSG::4549"}}}).encode()}])
    page.wait_for_selector("#wb-lots tr[data-lot='E']")
    page.fill("#wb-lots input[name=tname]", "浙江天台受让机械有限公司")
    page.fill("#wb-lots input[name=tcode]", "91331023MA2X000010")
    page.fill("#wb-lots input[name=trating]", "B")
    verdict = _run_check(page)
    assert verdict in ("pass", "needs_review"), page.inner_text("#rules")
    assert page.get_attribute("#rules tr[data-rule='SPLIT-04']", "data-status") == "pass"
    shot(page, "06-valid-split-checked")

    # the report: printable page in a new tab, and the PDF with the rule table
    with page.expect_popup() as popup:
        page.click("#wb-print")
    report = popup.value
    report.wait_for_url(re.compile(r"^blob:"))
    report.wait_for_load_state()
    assert "SPLIT-04" in report.content()
    report.screenshot(path=str(ARTIFACTS / "07-report-page.png"), full_page=False)
    report.close()
    with page.expect_download() as dl:
        page.click("#wb-pdf")
    pdf_path = ARTIFACTS / "report.pdf"
    dl.value.save_as(pdf_path)
    from pypdf import PdfReader

    pdf_text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf_path.read_bytes())).pages)
    for rule in ("SPLIT-01", "SPLIT-02", "SPLIT-04", "SPLIT-06", "SPLIT-11"):
        assert rule in pdf_text

    page.click("#wb-execute")
    page.click("#confirm-ok")
    page.wait_for_selector("#wb-children li")
    children = page.eval_on_selector_all("#wb-children a[data-code]", "els => els.map((e) => e.dataset.code)")
    assert len(children) == 2
    stored = {r[0] for r in sql_rows(open_db, "SELECT parcel_code FROM parcels WHERE valid_to IS NULL "
                                              "AND produced_by = 'split' AND :p = ANY(parent_codes)", p=CODE)}
    assert set(children) == stored
    page.evaluate("() => new Promise((r) => window.landgis.map.once('idle', () => r()))")
    shown = page.evaluate("(codes) => window.landgis.map.querySourceFeatures('parcels', {sourceLayer: 'parcels'})"
                          ".map((f) => f.properties.parcel_code).filter((c) => codes.includes(c))", children)
    assert set(shown) == set(children)
    gone = page.evaluate("(c) => window.landgis.map.querySourceFeatures('parcels', {sourceLayer: 'parcels'})"
                         ".filter((f) => f.properties.parcel_code === c).length", CODE)
    assert gone == 0
    shot(page, "08-executed-new-lots")
    page.click(f"#wb-children a[data-code='{children[0]}']")
    page.wait_for_selector("[data-testid=lineage] a[data-code]")
    assert CODE in page.inner_text("[data-testid=lineage]")
    shot(page, "09-child-lineage")
    assert page.errors == []


def test_statistics_page_draws_charts(server, chrome, officer):
    page = signed_in_page(chrome, server.url, officer)
    page.goto(server.url + "/#stats")
    page.wait_for_selector("#stats-view[data-ready='1']")
    assert page.evaluate("document.querySelectorAll('#stats-view canvas').length") >= 5
    page.fill("#stats-asof", AS_OF)
    page.dispatch_event("#stats-asof", "change")
    page.wait_for_function(f"document.querySelector('#stats-asof').value === '{AS_OF}'")
    shot(page, "10-statistics")


def test_draw_a_lot_on_the_map(server, chrome, officer, open_db):
    """Drawing: four clicks and a double-click make a lot; dragging a vertex changes its area."""
    page = signed_in_page(chrome, server.url, officer)
    page.goto(server.url + "/#workbench")
    wait_map(page)
    page.wait_for_function("window.landgis && window.landgis.workbench === true")
    page.click("nav#views button[data-view=workbench]")
    page.click("input[name=op][value='edge-plots']")
    code = sql_rows(open_db, "SELECT parcel_code FROM parcels WHERE valid_to IS NULL "
                             "ORDER BY parcel_code LIMIT 1")[0][0]
    page.fill("#wb-q", code)
    page.click(f"#wb-results li[data-code='{code}']")
    page.wait_for_selector(f"#wb-parcels li:has-text('{code}')")
    box = page.eval_on_selector("#map", "e => { const r = e.getBoundingClientRect(); return [r.left, r.top]; }")
    page.click("#wb-draw")
    for dx, dy in ((100, 100), (220, 100), (220, 200)):
        page.mouse.click(box[0] + dx, box[1] + dy)
    page.mouse.dblclick(box[0] + 100, box[1] + 200)
    page.wait_for_selector("#wb-lots tr[data-lot='A']")
    before = page.inner_text("#wb-lots tr[data-lot='A'] td.num")
    page.wait_for_function("window.landgis.map.queryRenderedFeatures({layers: ['wb-draw-vertex']}).length >= 4")
    page.mouse.move(box[0] + 220, box[1] + 200)
    page.mouse.down()
    page.mouse.move(box[0] + 300, box[1] + 260, steps=5)
    page.mouse.up()
    after = page.inner_text("#wb-lots tr[data-lot='A'] td.num")
    assert before != after
    shot(page, "11-drawn-lot")


def test_static_files_need_no_internet(server):
    import urllib.request

    html = urllib.request.urlopen(server.url + "/").read().decode()
    assert "http://" not in html and "https://" not in html
    for js in ("app.js", "map.js", "workbench.js", "stats.js", "panel.js", "draw.js", "api.js", "i18n.js"):
        src = urllib.request.urlopen(f"{server.url}/static/js/{js}").read().decode()
        assert "https://" not in src and "http://" not in src, js



def test_api_docs_render_from_the_service_alone(server, chrome):
    """Swagger UI and ReDoc draw the API from the vendored scripts: no request leaves the service, no CSP error."""
    page = signed_in_page(chrome, server.url, None)
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(server.url) or r.url.startswith(("data:", "blob:"))
            else outside.append(r.url))
    page.goto(server.url + "/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "天台县" in page.inner_text(".swagger-ui .info .title")
    assert page.locator(".opblock-tag").count() >= 5  # the API's tags, drawn from /openapi.json
    shot(page, "docs-swagger")
    page.goto(server.url + "/redoc")
    page.wait_for_selector("h1")
    page.wait_for_function("document.querySelectorAll('[data-section-id]').length > 10")
    assert "天台县" in page.inner_text("h1")
    shot(page, "docs-redoc")
    assert outside == [] and page.errors == []
