"""The committed Tiantai sample loads completely, idempotently, with history and lineage."""

from __future__ import annotations

from pathlib import Path

import pyogrio
import pytest
from sqlalchemy import text

from app.importer import ImportOptions, import_path

SAMPLE = Path(__file__).resolve().parents[1] / "sample_parcels"


@pytest.fixture()
def loaded(db_settings, engine):
    result = import_path(db_settings, SAMPLE / "tiantai.gpkg", ImportOptions(actor="test"))
    return result


def test_sample_loads_every_layer(loaded, engine):
    layers = {name: pyogrio.read_dataframe(SAMPLE / "tiantai.gpkg", layer=name, read_geometry=False)
              for name in ("parcels", "buildings", "support_land", "holder_years", "disposals")}
    assert [i for i in loaded.issues if i.severity == "error"] == []
    assert loaded.counts["inserted"] == len(layers["parcels"])
    with engine.connect() as conn:
        count = dict(conn.execute(text(
            "SELECT 'current', count(*) FROM parcels WHERE valid_to IS NULL UNION ALL "
            "SELECT 'retired', count(*) FROM parcels WHERE valid_to IS NOT NULL UNION ALL "
            "SELECT 'buildings', count(*) FROM buildings UNION ALL SELECT 'support', count(*) FROM support_land "
            "UNION ALL SELECT 'years', count(*) FROM holder_years UNION ALL SELECT 'disposals', count(*) FROM disposals"
        )).all())
    retired = int(layers["parcels"]["retired_on"].notna().sum())
    assert count["current"] == len(layers["parcels"]) - retired >= 300
    assert count["retired"] == retired
    assert count["buildings"] == len(layers["buildings"])
    assert count["support"] == len(layers["support_land"])
    assert count["years"] == len(layers["holder_years"])
    assert count["disposals"] == len(layers["disposals"])


def test_sample_lineage_points_at_retired_parents(loaded, engine):
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT c.parcel_code, c.produced_by, p.parcel_code, p.valid_to IS NOT NULL "
            "FROM parcels c CROSS JOIN LATERAL unnest(c.parent_codes) AS pc(code) "
            "LEFT JOIN parcels p ON p.parcel_code = pc.code WHERE c.valid_to IS NULL")).all()
    assert rows, "the sample has split/merge children"
    assert {r[1] for r in rows} >= {"split", "merge"}
    assert all(r[2] is not None and r[3] for r in rows), "every parent is a retired version in the register"


def test_sample_reimport_changes_nothing(loaded, db_settings, engine):
    with engine.connect() as conn:
        before = conn.execute(text("SELECT id, row_hash, valid_to FROM parcels ORDER BY id")).all()
    again = import_path(db_settings, SAMPLE / "tiantai.gpkg", ImportOptions(actor="test"))
    assert again.counts["inserted"] == again.counts["updated"] == again.counts["retired"] == 0
    assert again.counts["holder_years"] == again.counts["disposals"] == 0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id, row_hash, valid_to FROM parcels ORDER BY id")).all() == before
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar() == 1


def test_contractor_shapefile_set_matches_geopackage(db_settings, engine):
    result = import_path(db_settings, SAMPLE / "shp" / "parcels.shp", ImportOptions(actor="test"))
    assert result.encoding == "GBK"
    assert [i for i in result.issues if i.severity == "error"] == []
    gpkg = pyogrio.read_dataframe(SAMPLE / "tiantai.gpkg", layer="parcels")
    gpkg = gpkg[gpkg["retired_on"].isna()].set_index("parcel_code")
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT p.parcel_code, p.name, p.town, p.ownership_nature, p.right_type, h.name, p.area_m2 "
            "FROM parcels p LEFT JOIN holders h ON h.id = p.holder_id WHERE p.valid_to IS NULL")).all()
    assert len(rows) == len(gpkg)
    for code, name, town, nature, right, holder, area in rows:
        ref = gpkg.loc[code]
        assert (name, town, holder) == (ref["name"], ref["town"], ref["holder_name"])
        assert (nature, right) == (ref["ownership_nature"], ref["right_type"])
        assert area == pytest.approx(ref.geometry.area, abs=0.01)
