"""The OGC API's HTML pages: browsers (Accept: text/html) and ``?f=html`` get Chinese-first pages with
working links; clients without an Accept header (OWSLib) keep getting JSON from the same URLs."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.api_helpers import api_client

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
PARCELS = "工业用地宗地"

PAGES = [
    ("/ogc", "图层集合"),
    ("/ogc/conformance", "符合性声明"),
    ("/ogc/collections", PARCELS),
    ("/ogc/collections/parcels", PARCELS),
    ("/ogc/collections/parcels/items?limit=5", PARCELS),
    ("/ogc/collections/parcels/queryables", "可查询属性"),
    ("/ogc/collections/parcels/schema", "要素模式"),
    ("/ogc/collections/parcels/sortables", "可排序属性"),
    ("/ogc/api", "路径"),
]


class _Links(HTMLParser):
    """Every ``<a href>`` of a page (entities decoded) with its rel, and the ``<html lang>``."""

    def __init__(self):
        super().__init__()
        self.anchors: list[tuple[str, str | None]] = []
        self.lang: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "a" and a.get("href"):
            self.anchors.append((a["href"], a.get("rel")))


def parse(html: str) -> _Links:
    p = _Links()
    p.feed(html)
    return p


def _f(href: str) -> list[str]:
    return parse_qs(urlsplit(href).query).get("f", [])


@pytest.fixture(scope="module")
def client(sample_settings_module):
    settings = sample_settings_module.model_copy(update={"anonymous_read": True})
    with api_client(settings) as c:
        yield c


@pytest.fixture(scope="module")
def feature_id(client) -> str:
    resp = client.get("/ogc/collections/parcels/items", params={"limit": 1})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["features"][0]["id"])


def _html_page(client, url: str, how: str) -> str:
    if how == "accept":
        resp = client.get(url, headers=BROWSER)
    else:
        resp = client.get(url + ("&" if "?" in url else "?") + "f=html")
    assert resp.status_code == 200, resp.text[:2000]
    assert resp.headers["content-type"].startswith("text/html")
    assert parse(resp.text).lang == "zh-CN"
    return resp.text


@pytest.mark.parametrize("how", ["accept", "f"])
@pytest.mark.parametrize(("url", "text"), PAGES)
def test_page_is_html_in_chinese(client, url, text, how):
    html = _html_page(client, url, how)
    assert text in html
    assert "首页" in html
    # the JSON link of the header points at the same resource with f=json
    json_links = [h for h, _ in parse(html).anchors if _f(h) == ["json"]]
    assert json_links and all(urlsplit(h).path == urlsplit(url).path for h in json_links)


@pytest.mark.parametrize(("url", "_text"), PAGES)
def test_same_url_without_accept_is_json(client, url, _text):
    resp = client.get(url)
    assert resp.status_code == 200
    assert "html" not in resp.headers["content-type"]
    assert "json" in resp.headers["content-type"]
    resp.json()


@pytest.mark.parametrize("how", ["accept", "f"])
def test_item_page(client, feature_id, how):
    url = f"/ogc/collections/parcels/items/{feature_id}"
    html = _html_page(client, url, how)
    assert feature_id in html
    assert "宗地代码" in html and "乡镇(街道)" in html  # Chinese property labels
    assert "<svg" in html and "顶点数" in html
    hrefs = [h for h, _ in parse(html).anchors]
    assert any(urlsplit(h).path.endswith("/ogc/collections/parcels/items") and _f(h) == ["html"] for h in hrefs)
    resp = client.get(url)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/geo+json")
    assert str(resp.json()["id"]) == feature_id


def test_items_page_links_items_and_next_page_in_html(client):
    html = _html_page(client, "/ogc/collections/parcels/items?limit=5", "f")
    anchors = parse(html).anchors
    item_links = [h for h, _ in anchors if "/ogc/collections/parcels/items/" in h]
    assert len(item_links) == 5 and all(_f(h) == ["html"] for h in item_links)
    ids = [str(f["id"]) for f in client.get("/ogc/collections/parcels/items?limit=5").json()["features"]]
    assert [urlsplit(h).path.rsplit("/", 1)[1] for h in item_links] == ids
    assert "宗地代码" in html and "地块名称" in html  # Chinese column headers from the collection's props
    nexts = sorted({h for h, rel in anchors if rel == "next"})  # the pager is above and below the table
    assert len(nexts) == 1
    q = parse_qs(urlsplit(nexts[0]).query)
    assert q["f"] == ["html"] and q["limit"] == ["5"] and q["cursor"]
    # following it gives the next page, as HTML, with a way back
    page2 = client.get(nexts[0])
    assert page2.status_code == 200 and page2.headers["content-type"].startswith("text/html")
    anchors2 = parse(page2.text).anchors
    ids2 = [urlsplit(h).path.rsplit("/", 1)[1] for h, _ in anchors2 if "/ogc/collections/parcels/items/" in h]
    assert ids2 and not set(ids2) & set(ids)
    prevs = sorted({h for h, rel in anchors2 if rel == "prev"})
    assert len(prevs) == 1 and _f(prevs[0]) == ["html"]


def test_landing_and_collection_pages_link_onwards_in_html(client):
    anchors = [h for h, _ in parse(_html_page(client, "/ogc", "accept")).anchors]
    assert any(urlsplit(h).path.endswith("/ogc/collections/parcels") and _f(h) == ["html"] for h in anchors)
    assert any(urlsplit(h).path.endswith("/ogc/conformance") and _f(h) == ["html"] for h in anchors)
    anchors = [h for h, _ in parse(_html_page(client, "/ogc/collections/parcels", "accept")).anchors]
    for tail in ("items", "queryables", "schema"):
        assert any(urlsplit(h).path.endswith(f"/parcels/{tail}") and _f(h) == ["html"] for h in anchors), tail


def test_schema_pages_list_properties_with_roles(client):
    html = _html_page(client, "/ogc/collections/parcels/schema", "f")
    assert "primary-geometry" in html and "primary-instant" in html and "宗地代码" in html
    html = _html_page(client, "/ogc/collections/parcels/queryables", "f")
    assert "供地日期" in html and "town" in html


def test_api_page_resolves_shared_parameters(client):
    html = _html_page(client, "/ogc/api", "accept")
    assert "/collections/parcels/items" in html
    # limit is a $ref to components.parameters: its Chinese description is shown, not the reference
    assert "每页要素数" in html and "#/components/parameters" not in html
    assert client.get("/ogc/api.html").headers["content-type"].startswith("text/html")
