"""CORS (off by default), security headers, the per-token write rate limit, and secrets read from files."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.main import create_app
from app.security import TokenBuckets, app_csp, cors_origins_error
from app.settings import Settings
from tests.api_helpers import api_client, auth, make_token, showcase_split_request

SITE = "https://map.tiantai.example"


@pytest.fixture(scope="module")
def viewer_key(sample_settings_module):
    return make_token(sample_settings_module, "viewer", "reader")


@pytest.fixture(scope="module")
def client(sample_settings_module):
    with api_client(sample_settings_module) as c:
        yield c


def _csp(resp) -> dict[str, str]:
    return {d.split(" ", 1)[0]: d.partition(" ")[2] for d in resp.headers["content-security-policy"].split("; ")}


# --- CORS ------------------------------------------------------------------------------------------------------

def test_cors_is_off_by_default(client, viewer_key):
    resp = client.get("/api/v1/me", headers={"Origin": SITE, **auth(viewer_key)})
    assert resp.status_code == 200
    assert "access-control-allow-origin" not in resp.headers
    preflight = client.options("/api/v1/checks/split", headers={
        "Origin": SITE, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_for_a_configured_origin(sample_settings_module, viewer_key):
    settings = sample_settings_module.model_copy(update={"cors_origins": [SITE]})
    with api_client(settings) as c:
        resp = c.get("/api/v1/me", headers={"Origin": SITE, **auth(viewer_key)})
        assert resp.status_code == 200
        assert resp.headers["access-control-allow-origin"] == SITE
        assert "access-control-allow-credentials" not in resp.headers
        exposed = {h.strip().lower() for h in resp.headers["access-control-expose-headers"].split(",")}
        assert {"etag", "link", "content-crs", "retry-after", "x-request-id", "ratelimit-remaining"} <= exposed

        pre = c.options("/api/v1/checks/split", headers={
            "Origin": SITE, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"})
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == SITE
        assert "POST" in pre.headers["access-control-allow-methods"]
        allowed = pre.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed and "idempotency-key" in allowed

        other = c.get("/api/v1/me", headers={"Origin": "https://evil.example", **auth(viewer_key)})
        assert "access-control-allow-origin" not in other.headers
        refused = c.options("/api/v1/checks/split", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers


def test_cors_star_alone_means_any_origin(sample_settings_module):
    settings = sample_settings_module.model_copy(update={"cors_origins": ["*"]})
    with api_client(settings) as c:
        assert c.get("/healthz", headers={"Origin": "https://anywhere.example"}).headers[
            "access-control-allow-origin"] == "*"


@pytest.mark.parametrize("origins", [["*", SITE], [SITE + "/"], ["map.tiantai.example"], [SITE + "/app"]])
def test_unusable_cors_origins_are_refused(sample_settings_module, origins):
    assert cors_origins_error(origins) is not None
    with pytest.raises(ValueError, match="LANDGIS_CORS_ORIGINS"):
        create_app(sample_settings_module.model_copy(update={"cors_origins": origins}))


def test_cors_origins_from_the_environment(monkeypatch):
    from app.settings import Settings

    for raw, want in (("https://a.example, https://b.example:8443", ["https://a.example", "https://b.example:8443"]),
                      ('["https://a.example"]', ["https://a.example"]), ("*", ["*"]), ("", [])):
        monkeypatch.setenv("LANDGIS_CORS_ORIGINS", raw)
        assert Settings().cors_origins == want


def test_usable_cors_origins():
    assert cors_origins_error([SITE, "http://127.0.0.1:5173"]) is None
    assert cors_origins_error(["*"]) is None


# --- security headers --------------------------------------------------------------------------------------------

def _assert_html_headers(resp):
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/html")
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["x-frame-options"] == "DENY"
    assert resp.headers["referrer-policy"] == "same-origin"
    assert "geolocation=()" in resp.headers["permissions-policy"]
    csp = _csp(resp)
    assert csp["frame-ancestors"] == "'none'"
    assert csp["script-src"] == "'self'"
    assert "strict-transport-security" not in resp.headers  # plain http
    return csp


def test_headers_on_the_web_map(client):
    csp = _assert_html_headers(client.get("/"))
    assert "blob:" in csp["worker-src"] and "blob:" in csp["child-src"]
    assert {"data:", "blob:"} <= set(csp["img-src"].split())


def test_headers_on_an_ogc_html_page(client, viewer_key):
    _assert_html_headers(client.get("/ogc/collections", headers={"Accept": "text/html", **auth(viewer_key)}))


def test_headers_on_the_check_report(client, sample_settings_module, viewer_key):
    officer = auth(make_token(sample_settings_module, "officer", "王审查"))
    check = client.post("/api/v1/checks/split", params={"crs": "EPSG:4549"},
                        json=showcase_split_request(sample_settings_module), headers=officer)
    assert check.status_code == 200, check.text
    resp = client.get(f"/api/v1/checks/{check.json()['check_id']}/report", headers=auth(viewer_key))
    csp = _assert_html_headers(resp)
    assert "'unsafe-inline'" in csp["style-src"]  # the report's own <style>


def test_json_gets_nosniff_but_no_page_headers(client, viewer_key):
    resp = client.get("/api/v1/me", headers=auth(viewer_key))
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in resp.headers and "x-frame-options" not in resp.headers
    problem = client.get("/api/v1/me")
    assert problem.status_code == 401 and problem.headers["x-content-type-options"] == "nosniff"


def test_hsts_only_over_https(sample_settings_module):
    app = create_app(sample_settings_module)
    with TestClient(app, base_url="https://testserver") as c:
        assert c.get("/").headers["strict-transport-security"].startswith("max-age=")
        assert "strict-transport-security" in c.get("/healthz").headers
    with TestClient(app) as c:
        assert "strict-transport-security" not in c.get("/").headers


def test_basemap_host_is_allowed(sample_settings_module):
    settings = sample_settings_module.model_copy(
        update={"basemap_url": "https://{s}.tiles.example.cn/base/{z}/{x}/{y}.png"})
    csp = app_csp(settings)
    assert "img-src 'self' data: blob: https://*.tiles.example.cn" in csp
    assert "connect-src 'self' https://*.tiles.example.cn" in csp
    assert "tiles.example.cn" not in app_csp(sample_settings_module)


def test_api_docs_pages_need_nothing_from_outside_and_allow_exactly_their_inline_script(client):
    docs = client.get("/docs")
    scripts = re.findall(r"<script>(.*?)</script>", docs.text, re.S)
    assert scripts
    csp = _csp(docs)
    for script in scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp["script-src"]
    assert "'unsafe-inline'" not in csp["script-src"] and "https:" not in docs.headers["content-security-policy"]
    assert docs.headers["x-frame-options"] == "DENY"
    redoc = client.get("/redoc")
    assert "blob:" in _csp(redoc)["worker-src"] and "https:" not in redoc.headers["content-security-policy"]
    for page in (docs, redoc):  # every script and style the pages load is served here
        refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert refs and all(r.startswith("/") for r in refs), refs
        assert all(client.get(r).status_code == 200 for r in refs), refs


# --- write rate limit ----------------------------------------------------------------------------------------------

def test_write_rate_limit_per_token(sample_settings_module):
    settings = sample_settings_module.model_copy(update={"write_rate_per_minute": 6})  # burst: the minimum, 10
    first = auth(make_token(settings, "admin", "限流甲"))
    second = auth(make_token(settings, "admin", "限流乙"))
    with api_client(settings) as c:
        remaining = []
        for i in range(10):
            resp = c.post("/api/v1/tokens", json={"role": "viewer", "name": f"t{i}"}, headers=first)
            assert resp.status_code == 201, resp.text
            assert resp.headers["ratelimit-limit"] == "6"
            remaining.append(int(resp.headers["ratelimit-remaining"]))
        assert remaining == list(range(9, -1, -1))

        over = c.post("/api/v1/tokens", json={"role": "viewer", "name": "t10"}, headers=first)
        assert over.status_code == 429
        assert over.headers["content-type"] == "application/problem+json"
        assert int(over.headers["retry-after"]) >= 1
        body = over.json()
        assert body["code"] == "rate-limited" and body["detail_zh"] and body["detail_en"]
        assert c.get("/api/v1/tokens", headers=first).status_code == 200  # reads are not limited
        assert c.post("/api/v1/tokens", json={"role": "viewer", "name": "other"}, headers=second).status_code == 201
        anonymous = c.post("/api/v1/tokens", json={"role": "viewer", "name": "anon"})
        assert anonymous.status_code == 401 and "ratelimit-limit" not in anonymous.headers
        listed = c.get("/api/v1/tokens", headers=second).json()
    names = {t["name"] for t in listed["tokens"]}
    assert "t9" in names and "t10" not in names  # the refused request did not reach the database


def test_token_buckets_refill_and_stay_bounded():
    now = [0.0]
    buckets = TokenBuckets(60, 10, max_keys=3, clock=lambda: now[0])
    assert all(buckets.take(b"a")[0] for _ in range(10))
    allowed, left, retry = buckets.take(b"a")
    assert (allowed, left, retry) == (False, 0, 1)
    now[0] += 2.0  # one token a second
    assert [buckets.take(b"a")[0] for _ in range(3)] == [True, True, False]
    for key in (b"b", b"c", b"d"):
        buckets.take(key)
    assert len(buckets) == 3  # "a", the least recently used, was dropped
    assert buckets.take(b"a")[1] == 9


# --- secrets from files -----------------------------------------------------------------------------------------

SECRET_VARS = ("DATABASE_URL", "LANDGIS_DATABASE_URL", "DATABASE_READ_URL", "LANDGIS_DATABASE_READ_URL",
               "LANDGIS_SECRET_KEY", "DATABASE_URL_FILE", "DATABASE_READ_URL_FILE", "LANDGIS_SECRET_KEY_FILE",
               "LANDGIS_ENV")


@pytest.fixture()
def clean_env(monkeypatch):
    for name in SECRET_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_secrets_are_read_from_files(clean_env, tmp_path):
    (tmp_path / "db").write_text("postgresql://landgis:Fi1ePassw0rd@db.internal:5432/landgis\n", encoding="utf-8")
    (tmp_path / "ro").write_text("postgresql://reader:R3adPass@replica.internal/landgis", encoding="utf-8")
    (tmp_path / "key").write_text("  k3y-from-a-file\n", encoding="utf-8")
    clean_env.setenv("DATABASE_URL_FILE", str(tmp_path / "db"))
    clean_env.setenv("DATABASE_READ_URL_FILE", str(tmp_path / "ro"))
    clean_env.setenv("LANDGIS_SECRET_KEY_FILE", str(tmp_path / "key"))
    s = Settings(_env_file=None)
    assert s.database_url == "postgresql://landgis:Fi1ePassw0rd@db.internal:5432/landgis"
    assert s.read_url == "postgresql+psycopg://reader:R3adPass@replica.internal/landgis"
    assert s.secret_key == "k3y-from-a-file"


@pytest.mark.parametrize("plain", ["DATABASE_URL", "LANDGIS_DATABASE_URL"])
def test_the_plain_variable_wins_over_the_file(clean_env, tmp_path, plain):
    (tmp_path / "db").write_text("postgresql://from:file@h/db", encoding="utf-8")
    clean_env.setenv("DATABASE_URL_FILE", str(tmp_path / "db"))
    assert Settings(_env_file=None).database_url == "postgresql://from:file@h/db"
    clean_env.setenv(plain, "postgresql://from:env@h/db")
    assert Settings(_env_file=None).database_url == "postgresql://from:env@h/db"


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_an_unreadable_secret_file_is_a_clear_error(clean_env, tmp_path, kind):
    path = tmp_path / "nope" if kind == "missing" else tmp_path
    clean_env.setenv("LANDGIS_SECRET_KEY_FILE", str(path))
    with pytest.raises(ValueError) as info:
        Settings(_env_file=None)
    assert "LANDGIS_SECRET_KEY_FILE" in str(info.value) and str(path) in str(info.value)


def test_settings_never_show_secrets(clean_env, tmp_path):
    (tmp_path / "key").write_text("Very-S3cret-Key", encoding="utf-8")
    clean_env.setenv("LANDGIS_SECRET_KEY_FILE", str(tmp_path / "key"))
    s = Settings(_env_file=None, database_url="postgresql://landgis:Pa55word@db/landgis",
                 database_read_url="postgresql://reader:Rd-Pa55@replica/landgis")
    for text in (repr(s), str(s)):
        assert "Pa55word" not in text and "Rd-Pa55" not in text and "Very-S3cret-Key" not in text
        assert "***" in text
    assert "local_db_name='landgis'" in repr(s)  # the rest is still shown


def test_a_settings_error_does_not_quote_the_password(clean_env):
    with pytest.raises(ValidationError) as info:
        Settings(_env_file=None, env="production", database_url="postgresql://u:Pw9@h/d")
    assert "LANDGIS_SECRET_KEY" in str(info.value) and "Pw9" not in str(info.value)
