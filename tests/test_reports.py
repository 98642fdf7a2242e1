"""The case file of a recorded check: JSON record, printable HTML and PDF; the SVG map (gis.svgmap)."""

from __future__ import annotations

import io
import re
import sys
import uuid
from urllib.parse import quote

import pytest
import shapely
from pypdf import PdfReader
from shapely import box

from gis.rules.factories import company, feature, feature_collection
from gis.svgmap import MapShape, fit, nice_length, render_map
from tests.api_helpers import (
    AS_OF,
    SHOWCASE,
    api_client,
    auth,
    building_centroids_x,
    make_token,
    showcase_split_request,
)

CRS = {"crs": "EPSG:4549"}
NOT_IN_FORCE = "规则集在审查基准日不在有效期内"


@pytest.fixture(scope="module")
def client(sample_settings_module):
    with api_client(sample_settings_module) as c:
        yield c


@pytest.fixture(scope="module")
def officer(sample_settings_module):
    return auth(make_token(sample_settings_module, "officer", "王审查"))


@pytest.fixture(scope="module")
def viewer(sample_settings_module):
    return auth(make_token(sample_settings_module, "viewer", "reader"))


@pytest.fixture(scope="module")
def cut_check(client, officer, sample_settings_module):
    """A split, in force (as_of 2023-06-01), whose cut line runs through the parcel's last building."""
    code = SHOWCASE["split_ok"]["parcel_code"]
    req = showcase_split_request(sample_settings_module, building_centroids_x(sample_settings_module, code)[-1])
    req["as_of"] = "2023-06-01"
    resp = client.post("/api/v1/checks/split", params=CRS, json=req, headers=officer)
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert report["verdict"] == "fail" and report["rule_set"]["in_force_on_as_of"] is True
    split02 = next(r for r in report["results"] if r["rule"] == "SPLIT-02")
    assert split02["status"] == "fail" and split02["measured"]["cut"]
    return req, report, next(iter(split02["measured"]["cut"]))


@pytest.fixture(scope="module")
def stale_check(client, officer, sample_settings_module):
    """A passing split checked on 2025-06-01, when tiantai-2022 was no longer in force."""
    req = showcase_split_request(sample_settings_module)
    req["as_of"] = "2025-06-01"
    resp = client.post("/api/v1/checks/split", params=CRS, json=req, headers=officer)
    assert resp.status_code == 200, resp.text
    assert resp.json()["rule_set"]["in_force_on_as_of"] is False
    return resp.json()


def pdf_text(content: bytes) -> str:
    """The PDF's text without line breaks (table cells wrap Chinese titles anywhere)."""
    return "".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(content)).pages).replace("\n", "")


def test_recorded_check_as_json(client, viewer, cut_check):
    req, report, _ = cut_check
    resp = client.get(f"/api/v1/checks/{report['check_id']}", headers=viewer)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["id"] == report["check_id"] and body["operation"] == "split" and body["verdict"] == "fail"
    assert body["actor"].startswith("王审查")
    assert body["request"] == req
    assert body["report"] == report
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", body["at"])


def test_html_case_file(client, viewer, cut_check):
    _, report, building = cut_check
    resp = client.get(f"/api/v1/checks/{report['check_id']}/report", headers=viewer)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/html")
    html = resp.text
    table = html[html.index('class="rule-table"'):]
    table = table[:table.index("</table>")]
    for r in report["results"]:
        assert table.count(f'<td class="rule-id">{r["rule"]}</td>') == 1, r["rule"]
    assert 'class="rule status-fail" data-rule="SPLIT-02"' in table
    assert "不通过" in html and 'data-verdict="fail"' in html
    assert "王审查" in html and report["check_id"] in html
    assert report["rule_set"]["source"] in html
    assert NOT_IN_FORCE not in html
    assert "@page" in html and "counter(pages)" in html and "WenQuanYi Micro Hei" in html
    svg = html[html.index("<svg"):html.index("</svg>")]
    assert f'class="building offender" data-label="{building}"' in svg
    assert 'class="lot offender"' in svg or 'class="lot"' in svg
    assert 'class="scale-bar"' in svg and 'class="north-arrow"' in svg
    assert "{" not in re.sub(r"<style>.*?</style>", "", html, flags=re.S).replace("{:", ""), "raw JSON in the page"


def test_pdf_case_file(client, viewer, cut_check):
    _, report, _ = cut_check
    resp = client.get(f"/api/v1/checks/{report['check_id']}/report.pdf", headers=viewer)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/pdf"
    assert resp.content.startswith(b"%PDF")
    disposition = resp.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote('审查报告-' + report['check_id'] + '.pdf')}" in disposition
    text = pdf_text(resp.content)
    for r in report["results"]:
        assert r["rule"] in text, r["rule"]
    assert "以幢为最小分割单位" in text  # the CJK font is embedded and extractable
    assert "第 1 页" in text


def test_rule_set_not_in_force_warning(client, viewer, stale_check):
    html = client.get(f"/api/v1/checks/{stale_check['check_id']}/report", headers=viewer).text
    assert 'class="warning-box rule-set-not-in-force"' in html and NOT_IN_FORCE in html
    pdf = client.get(f"/api/v1/checks/{stale_check['check_id']}/report.pdf", headers=viewer)
    assert pdf.status_code == 200
    assert NOT_IN_FORCE in pdf_text(pdf.content)


def test_merge_and_edge_reports_render(client, officer, viewer):
    merge = client.post("/api/v1/checks/merge", json={"as_of": AS_OF, "parcels": SHOWCASE["merge_ok"]["parcel_codes"],
                                                      "holder": company(rating="B")}, headers=officer).json()
    html = client.get(f"/api/v1/checks/{merge['check_id']}/report", headers=viewer).text
    for code in SHOWCASE["merge_ok"]["parcel_codes"]:
        assert f'data-parcel="{code}"' in html
    assert html.count('<td class="rule-id">') == len(merge["results"])
    assert html.count('class="parent') == len(SHOWCASE["merge_ok"]["parcel_codes"])
    case = SHOWCASE["edge_ok"]
    moved = shapely.affinity.translate(shapely.from_wkt(case["strip_wkt_epsg4549"]), xoff=-30)
    edge = client.post("/api/v1/checks/edge-plots", params=CRS, headers=officer, json={
        "as_of": AS_OF, "parcel": case["parcel_code"], "plots": feature_collection([feature(moved, label="P1")]),
        "far_before": 1.0, "far_after": 1.3, "confirmations": {"industrial_guidance": True}}).json()
    assert {r["rule"]: r["status"] for r in edge["results"]}["EDGE-04"] == "fail"
    resp = client.get(f"/api/v1/checks/{edge['check_id']}/report", headers=viewer)
    assert resp.status_code == 200
    svg = resp.text[resp.text.index("<svg"):resp.text.index("</svg>")]
    assert 'class="lot offender" data-label="P1"' in svg
    assert 'class="marker offender"' in svg  # the overlap with the neighbour, from measured locations


def test_inline_split_report(client, officer, viewer):
    from gis.rules.factories import split_request

    report = client.post("/api/v1/checks/split", json=split_request(crs="EPSG:4549"), headers=officer).json()
    html = client.get(f"/api/v1/checks/{report['check_id']}/report", headers=viewer).text
    assert "申请内联宗地" in html and "331023003001GB00001" in html
    assert html.count('class="lot"') == 3 and 'data-verdict="pass"' in html


def test_pdf_without_weasyprint_is_a_503(client, viewer, cut_check, monkeypatch):
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import weasyprint → ImportError
    resp = client.get(f"/api/v1/checks/{cut_check[1]['check_id']}/report.pdf", headers=viewer)
    assert resp.status_code == 503 and resp.headers["content-type"] == "application/problem+json"
    assert "libpango-1.0-0" in resp.json()["detail_en"] and "fonts-wqy-microhei" in resp.json()["detail_zh"]


@pytest.mark.parametrize("suffix", ["", "/report", "/report.pdf"])
def test_unknown_malformed_and_unauthenticated(client, viewer, cut_check, suffix):
    unknown = client.get(f"/api/v1/checks/{uuid.uuid4()}{suffix}", headers=viewer)
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["code"] == "unknown-check"
    malformed = client.get(f"/api/v1/checks/not-a-uuid{suffix}", headers=viewer)
    assert malformed.status_code == 404 and malformed.json()["code"] == "unknown-check"
    assert client.get(f"/api/v1/checks/{cut_check[1]['check_id']}{suffix}").status_code == 401


def test_openapi_media_types(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "text/html" in paths["/api/v1/checks/{check_id}/report"]["get"]["responses"]["200"]["content"]
    assert "application/pdf" in paths["/api/v1/checks/{check_id}/report.pdf"]["get"]["responses"]["200"]["content"]


# --- gis.svgmap ----------------------------------------------------------------------------------

def _viewbox(svg: str) -> list[float]:
    return [float(v) for v in re.search(r'viewBox="([^"]+)"', svg).group(1).split()]


def _path_ys(svg: str, label: str) -> list[float]:
    d = re.search(rf'data-label="{label}" d="([^"]+)"', svg).group(1)
    return [float(y) for y in re.findall(r"[ML]\S+ (\S+)", d)]


def _path_xs(svg: str, label: str) -> list[float]:
    d = re.search(rf'data-label="{label}" d="([^"]+)"', svg).group(1)
    return [float(x) for x in re.findall(r"[ML](\S+) ", d)]


def test_svg_fits_the_viewbox_with_margin():
    o = (603_000.0, 3_225_000.0)
    svg = render_map([MapShape("parent", box(o[0], o[1], o[0] + 300, o[1] + 120), label="P"),
                      MapShape("lot", box(o[0], o[1], o[0] + 150, o[1] + 120), label="A")],
                     width=600, height=400, margin=20)
    assert _viewbox(svg) == [0, 0, 600, 400]
    xs, ys = _path_xs(svg, "P"), _path_ys(svg, "P")
    assert min(xs) >= 20 and max(xs) <= 580 and min(ys) >= 20 and max(ys) <= 380
    assert max(xs) - min(xs) > 500  # the wide parcel fills the width
    assert (max(xs) - min(xs)) / (max(ys) - min(ys)) == pytest.approx(300 / 120, rel=0.01)  # one scale


def test_svg_north_is_up():
    o = (603_000.0, 3_225_000.0)
    svg = render_map([MapShape("lot", box(o[0], o[1], o[0] + 50, o[1] + 50), label="S"),
                      MapShape("lot", box(o[0], o[1] + 100, o[0] + 50, o[1] + 150), label="N")])
    assert max(_path_ys(svg, "N")) < min(_path_ys(svg, "S"))


def test_svg_scale_bar_and_highlight():
    o = (603_000.0, 3_225_000.0)
    svg = render_map([MapShape("parent", box(o[0], o[1], o[0] + 1000, o[1] + 400)),
                      MapShape("building", box(o[0] + 10, o[1] + 10, o[0] + 50, o[1] + 40), label="7", highlight=True),
                      MapShape("marker", shapely.Point(o[0] + 500, o[1] + 200), label="SPLIT-06", highlight=True)],
                     width=600, height=400, margin=20)
    length, px = (float(v) for v in re.search(r'data-length-m="([^"]+)" data-length-px="([^"]+)"', svg).groups())
    view = fit((o[0] - 21, o[1] - 21, o[0] + 1021, o[1] + 421), 600, 400, 20)
    assert length == 200 and px == pytest.approx(length * view.scale, abs=0.1)
    assert "200 m" in svg
    assert 'class="building offender" data-label="7"' in svg and 'stroke="#d62828"' in svg
    assert 'class="marker offender" data-label="SPLIT-06"' in svg
    assert [nice_length(v) for v in (0.7, 3, 99, 100, 2400)] == [0.5, 2, 50, 100, 2000]


def test_svg_empty_and_escaped():
    assert "无图形" in render_map([])
    svg = render_map([MapShape("lot", box(0, 0, 10, 10), label='<b>&"')])
    assert "<b>" not in svg and "&lt;b&gt;" in svg
