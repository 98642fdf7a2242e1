"""``DATABASE_READ_URL``: the read-only endpoints read there, everything else stays on ``DATABASE_URL``.

The "replica" here is a second database cloned from the sample, reached through a login role whose
transactions are read-only, with one parcel renamed so that a response shows which database answered.
A streaming replica behaves the same except that it follows the primary after its replication lag.
"""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.localdb import drop_database
from app.services.category_cache import ensure_fresh
from gis.rules import today
from tests.api_helpers import CONFIRMED, api_client, auth, make_token, showcase_split_request, sql_rows
from tests.conftest import _admin_exec, _clone

READER = "landgis_test_reader"
MARK = "（只读副本）"
CRS = {"crs": "http://www.opengis.net/def/crs/EPSG/0/4549"}


@pytest.fixture()
def replica(base_settings, sample_template, sample_settings):
    """(primary settings with DATABASE_READ_URL set, the renamed parcel's code, the replica's name)."""
    name, replica_settings = _clone(base_settings, sample_template)
    engine = create_engine(replica_settings.sqlalchemy_url)
    try:
        code = sql_rows(engine, "SELECT parcel_code FROM parcels WHERE valid_to IS NULL ORDER BY parcel_code")[0][0]
        with engine.begin() as conn:
            conn.execute(text("UPDATE parcels SET name = name || :m WHERE parcel_code = :c AND valid_to IS NULL"),
                         {"m": MARK, "c": code})
        ensure_fresh(engine, today())
    finally:
        engine.dispose()
    _admin_exec(base_settings, f"""DO $$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{READER}') THEN CREATE ROLE {READER} LOGIN; END IF;
    END $$""")
    _admin_exec(base_settings, f"ALTER ROLE {READER} SET default_transaction_read_only = on")
    with psycopg.connect(make_url(replica_settings.url_for(name)).set(drivername="postgresql")
                         .render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f"GRANT USAGE ON SCHEMA public TO {READER}")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER}")
    read_url = make_url(replica_settings.url_for(name)).set(username=READER).render_as_string(hide_password=False)
    yield sample_settings.model_copy(update={"database_read_url": read_url}), code, name
    _admin_exec(base_settings, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    drop_database(base_settings, name)


def _reader_sessions(settings, replica_name: str) -> set[str]:
    engine = create_engine(settings.sqlalchemy_url)
    try:
        return {r[0] for r in sql_rows(engine, "SELECT application_name FROM pg_stat_activity "
                                               "WHERE usename = :u AND datname = :d", u=READER, d=replica_name)}
    finally:
        engine.dispose()


def test_reads_go_to_the_read_url_and_writes_to_the_primary(replica):
    settings, code, replica_name = replica
    viewer, officer = make_token(settings, "viewer"), make_token(settings, "officer")
    with api_client(settings) as client:
        listing = client.get("/api/v1/parcels", params={"q": code}, headers=auth(viewer))
        assert listing.status_code == 200, listing.text
        assert [p["name"].endswith(MARK) for p in listing.json()["parcels"]] == [True]
        detail = client.get(f"/api/v1/parcels/{code}", headers=auth(viewer))
        assert detail.status_code == 200 and detail.json()["facts"]["name"].endswith(MARK)
        feature = client.get(f"/ogc/collections/parcels/items/{code}", headers=auth(viewer))
        assert feature.status_code == 200, feature.text
        assert feature.json()["properties"]["name"].endswith(MARK)
        for path in ("/api/v1/stats", "/api/v1/stats/summary", "/ogc/collections/low_efficiency/items?limit=5",
                     "/ogc/collections/parcels/tiles/WebMercatorQuad/13/6869/3366"):
            res = client.get(path, headers=auth(viewer))
            assert res.status_code in (200, 204), (path, res.status_code, res.text[:300])
        assert _reader_sessions(settings, replica_name) >= {"landgis-read", "landgis-ogc"}

        # writes, checks and their records are the primary's: the renamed parcel is not renamed there
        req = showcase_split_request(settings)
        done = client.post("/api/v1/operations/split", params=CRS, json={**req, "confirmations": CONFIRMED},
                           headers=auth(officer))
        assert done.status_code == 201, done.text
        op = client.get(f"/api/v1/operations/{done.json()['operation_id']}", headers=auth(viewer))
        assert op.status_code == 200
        child = done.json()["children"][0]["parcel_code"]
        # the read URL has not seen the write: a replica shows it only after its lag (here: never)
        assert client.get(f"/api/v1/parcels/{child}", headers=auth(viewer)).status_code == 404
    primary = create_engine(settings.sqlalchemy_url)
    try:
        assert sql_rows(primary, "SELECT count(*) FROM parcels WHERE parcel_code = :c AND name LIKE :m",
                        c=code, m=f"%{MARK}")[0][0] == 0
        assert sql_rows(primary, "SELECT count(*) FROM parcels WHERE parcel_code = :c", c=child)[0][0] == 1
    finally:
        primary.dispose()


def test_without_a_read_url_reads_use_the_primary(sample_settings):
    viewer = make_token(sample_settings, "viewer")
    with api_client(sample_settings) as client:
        assert client.app.state.read_engine is client.app.state.engine
        assert client.get("/api/v1/parcels?limit=1", headers=auth(viewer)).status_code == 200
