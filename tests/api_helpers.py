"""Helpers for the API tests: an app client on given settings, and tokens per role."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import shapely
from fastapi.testclient import TestClient

from app.db import make_engine
from app.main import create_app
from app.services.tokens import create_token
from gis.rules.factories import company, feature, feature_collection

SAMPLE = Path(__file__).resolve().parents[1] / "sample_parcels"
SHOWCASE = json.loads((SAMPLE / "showcase.json").read_text(encoding="utf-8"))
AS_OF = "2025-06-30"
CONFIRMED = {"planning": True, "fire_safety": True, "environment": True, "contract_permits": True}


def make_token(settings, role: str, name: str | None = None) -> str:
    """A new API key with ``role`` (the key, as a client would send it)."""
    engine = make_engine(settings)
    try:
        return create_token(engine, role=role, name=name or f"test-{role}", actor="test")[1]
    finally:
        engine.dispose()


def sql_rows(engine, sql: str, **params) -> list:
    """The rows of one SQL query (the tests' own reference answers)."""
    from sqlalchemy import text

    with engine.connect() as conn:
        return conn.execute(text(sql), params).all()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@contextmanager
def api_client(settings):
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def split_lots(parent_wkb_geom, x_cut: float) -> dict:
    """Two lots of a parent cut at easting ``x_cut`` (EPSG:4549): W retained, E to a B-rated company."""
    parent = shapely.get_geometry(parent_wkb_geom, 0) if parent_wkb_geom.geom_type == "MultiPolygon" \
        else parent_wkb_geom
    minx, miny, maxx, maxy = parent.bounds
    west = shapely.intersection(parent, shapely.box(minx - 1, miny - 1, x_cut, maxy + 1))
    east = shapely.intersection(parent, shapely.box(x_cut, miny - 1, maxx + 1, maxy + 1))
    return feature_collection([feature(west, label="W", retained=True),
                               feature(east, label="E", transferee=company(rating="B"))])


def parcel_geometry(settings, code: str):
    from sqlalchemy import text

    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            wkb = conn.execute(text("SELECT ST_AsBinary(geom) FROM parcels WHERE parcel_code = :c "
                                    "AND valid_to IS NULL"), {"c": code}).scalar_one()
    finally:
        engine.dispose()
    return shapely.from_wkb(wkb)


def building_centroids_x(settings, code: str) -> list[float]:
    from sqlalchemy import text

    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(
                "SELECT ST_X(ST_Centroid(b.geom)) FROM buildings b JOIN parcels p ON p.id = b.parcel_id "
                "WHERE p.parcel_code = :c AND p.valid_to IS NULL ORDER BY b.number"), {"c": code}).scalars())
    finally:
        engine.dispose()


def showcase_split_request(settings, x_cut: float | None = None) -> dict:
    case = SHOWCASE["split_ok"]
    x = case["cut_line_epsg4549"][0][0] if x_cut is None else x_cut
    return {"as_of": AS_OF, "parcel": case["parcel_code"],
            "lots": split_lots(parcel_geometry(settings, case["parcel_code"]), x), "confirmations": CONFIRMED}
