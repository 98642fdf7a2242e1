"""Importer and exporter against a real PostGIS: round trips, idempotence, bad files."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from shapely.geometry import box
from sqlalchemy import create_engine, text

from app.exporter import export_register
from app.importer import ImportOptions, import_path
from gis.errors import GisInputError
from tests.factories import ORIGIN, bow_tie, buildings_for, grid_parcels, to_shapefile_gbk

SAMPLE_GPKG = Path(__file__).resolve().parents[1] / "sample_parcels" / "tiantai.gpkg"

SHP_FIELDS = {
    "parcel_code": "ZDDM", "name": "DKMC", "town": "XZQMC", "land_use": "TDYT", "holder_name": "QLR",
    "holder_credit_code": "TYXYDM", "declared_area_m2": "ZDMJ", "approved_on": "PZRQ", "supplied_on": "GDRQ",
    "completed_on": "JGRQ", "production_started_on": "TCRQ", "lease_end_on": "ZZRQ", "far_actual": "RJL",
}


def contractor_shapefile(folder: Path, *, n: int = 4, cpg: bool = True) -> Path:
    """Parcels as a survey contractor delivers them: cadastral field names, QLXZ code, GBK DBF."""
    p = grid_parcels(n=n)
    p = p.drop(columns=["ownership_nature", "right_type", "land_use_code"]).rename(columns=SHP_FIELDS)
    p["QLXZ"] = "102"
    p["BZ"] = "天台县经济开发区（福溪）测试数据"
    folder.mkdir(parents=True, exist_ok=True)
    to_shapefile_gbk(p, folder / "parcels.shp", cpg=cpg)
    b = buildings_for(grid_parcels(n=n)).rename(columns={"parcel_code": "ZDDM", "number": "ZH"})
    to_shapefile_gbk(b, folder / "buildings.shp", cpg=cpg)
    return folder / "parcels.shp"


def table_snapshot(engine) -> dict[str, list]:
    with engine.connect() as conn:
        return {
            t: conn.execute(text(f"SELECT * FROM {t} ORDER BY 1")).all()
            for t in ("holders", "holder_years", "parcels", "buildings", "support_land", "disposals", "audit_log")
        }


def run_import(settings, path, **kw):
    return import_path(settings, Path(path), ImportOptions(**kw))


def test_gbk_shapefile_round_trip_to_geopackage(db_settings, engine, tmp_path):
    shp = contractor_shapefile(tmp_path / "in")
    assert (tmp_path / "in" / "parcels.cpg").read_text().strip().upper() in ("GBK", "936", "CP936")
    result = run_import(db_settings, shp)
    assert result.counts["inserted"] == 4 and result.counts["buildings"] == 8, result.issues
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT p.name, p.town, p.ownership_nature, p.right_type, h.name, p.remarks, p.area_m2 "
            "FROM parcels p JOIN holders h ON h.id = p.holder_id WHERE parcel_code = '331023003001GB00001'")).one()
    assert row[:6] == ("测试地块1号", "福溪街道", "国有", "出让", "浙江天台测试机械有限公司1",
                       "天台县经济开发区（福溪）测试数据")
    assert row[6] == pytest.approx(8000.0, abs=0.01)

    out = tmp_path / "out.gpkg"
    export_register(db_settings, out)
    back = pyogrio.read_dataframe(out, layer="parcels").set_index("parcel_code").sort_index()
    src = grid_parcels(n=4).set_index("parcel_code").sort_index()
    for col in ("name", "town", "holder_name", "holder_credit_code", "land_use"):
        assert back[col].tolist() == src[col].tolist()
    assert back["ownership_nature"].eq("国有").all() and back["right_type"].eq("出让").all()
    assert (back["supplied_on"].astype(str).str.slice(0, 10) == "2016-05-01").all()
    diff = (shapely.area(back.geometry.values) - shapely.area(src.geometry.values))
    assert abs(diff).max() < 0.01
    assert (back["area_m2"] - src.geometry.area).abs().max() < 0.01
    assert len(pyogrio.read_dataframe(out, layer="buildings")) == 8


def test_import_is_idempotent(db_settings, engine, tmp_path):
    shp = contractor_shapefile(tmp_path / "in")
    first = run_import(db_settings, shp)
    before = table_snapshot(engine)
    second = run_import(db_settings, shp)
    assert first.counts["inserted"] == 4
    assert second.counts["inserted"] == 0 and second.counts["updated"] == 0 and second.counts["unchanged"] == 4
    assert table_snapshot(engine) == before


def test_changed_parcel_gets_new_version_and_keeps_history(db_settings, engine, tmp_path):
    p = grid_parcels(n=2)
    p.to_file(tmp_path / "v1.gpkg", layer="parcels")
    run_import(db_settings, tmp_path / "v1.gpkg")
    p.loc[0, "name"] = "改名后的地块"
    p.to_file(tmp_path / "v2.gpkg", layer="parcels")
    result = run_import(db_settings, tmp_path / "v2.gpkg")
    assert result.counts["updated"] == 1 and result.counts["unchanged"] == 1
    with engine.connect() as conn:
        versions = conn.execute(text(
            "SELECT name, valid_to IS NULL FROM parcels WHERE parcel_code = :c ORDER BY id"),
            {"c": p.loc[0, "parcel_code"]}).all()
    assert versions == [("测试地块1号", False), ("改名后的地块", True)]


def test_gbk_detected_without_cpg(db_settings, engine, tmp_path):
    shp = contractor_shapefile(tmp_path / "in", cpg=False)
    assert not shp.with_suffix(".cpg").exists()
    result = run_import(db_settings, shp)
    assert result.encoding in ("GBK", "GB18030")
    with engine.connect() as conn:
        names = conn.execute(text("SELECT name FROM parcels ORDER BY parcel_code")).scalars().all()
    assert names[0] == "测试地块1号"


def test_geojson_crs84_and_geopackage_declared_crs(db_settings, engine, tmp_path):
    p = grid_parcels(n=2)
    path = tmp_path / "parcels.geojson"
    p.to_crs(4490).to_file(path, driver="GeoJSON")
    result = run_import(db_settings, path)
    assert result.counts["inserted"] == 2
    with engine.connect() as conn:
        areas = conn.execute(text("SELECT area_m2 FROM parcels ORDER BY parcel_code")).scalars().all()
    assert areas == pytest.approx([8000.0, 8000.0], abs=0.01)


def test_zone_prefixed_eastings_are_recognised(db_settings, engine, tmp_path):
    p = grid_parcels(n=1)
    p = p.set_geometry(shapely.transform(p.geometry.values, lambda c: c + np.array([40_000_000, 0]))).set_crs(
        4549, allow_override=True)
    p.to_file(tmp_path / "prefixed.gpkg", layer="parcels")
    result = run_import(db_settings, tmp_path / "prefixed.gpkg")
    assert any(i.code == "zone-prefixed" for i in result.issues)
    with engine.connect() as conn:
        xmin = conn.execute(text("SELECT ST_XMin(geom) FROM parcels")).scalar()
    assert xmin == pytest.approx(ORIGIN[0])


def test_bad_rows_reported_with_row_numbers_and_skipped(db_settings, engine, tmp_path):
    p = grid_parcels(n=5)
    p.loc[1, "geometry"] = bow_tie(ORIGIN[0] + 100, ORIGIN[1])                       # row 2: self-intersection
    p.loc[3, "parcel_code"] = p.loc[2, "parcel_code"]                                # rows 3 and 4: duplicates
    p.loc[4, "geometry"] = box(700_000, 3_225_000, 700_100, 3_225_080)               # row 5: outside the county
    p = pd.concat([p, grid_parcels(n=1, start_seq=9, origin=(ORIGIN[0] + 50, ORIGIN[1]))])  # row 6 overlaps row 1
    p = p.set_crs(4549, allow_override=True)
    p.loc[p.index[-1], "declared_area_m2"] = 9000
    p.to_file(tmp_path / "bad.gpkg", layer="parcels")
    result = run_import(db_settings, tmp_path / "bad.gpkg")
    found = {(i.row, i.code) for i in result.issues if i.severity == "error"}
    assert (2, "invalid-geometry") in found
    assert (3, "duplicate-code") in found and (4, "duplicate-code") in found
    assert (5, "outside-county") in found
    assert (1, "overlap-in-file") in found and (6, "overlap-in-file") in found
    invalid = next(i for i in result.issues if i.code == "invalid-geometry")
    assert "Self-intersection" in invalid.message_en and "自相交" in invalid.message_zh
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM parcels")).scalar() == 0
    assert result.counts["skipped"] == 6


def test_strict_refuses_whole_file(db_settings, engine, tmp_path):
    p = grid_parcels(n=3)
    p.loc[2, "geometry"] = bow_tie(ORIGIN[0] + 200, ORIGIN[1])
    p.to_file(tmp_path / "one_bad.gpkg", layer="parcels")
    before = table_snapshot(engine)
    result = run_import(db_settings, tmp_path / "one_bad.gpkg", strict=True)
    assert result.refused
    assert table_snapshot(engine) == before
    lenient = run_import(db_settings, tmp_path / "one_bad.gpkg")
    assert not lenient.refused and lenient.counts["inserted"] == 2


def test_overlap_with_registered_parcel_is_skipped(db_settings, engine, tmp_path):
    grid_parcels(n=2).to_file(tmp_path / "a.gpkg", layer="parcels")
    run_import(db_settings, tmp_path / "a.gpkg")
    other = grid_parcels(n=1, start_seq=50, origin=(ORIGIN[0] + 150, ORIGIN[1] + 40))
    other.to_file(tmp_path / "b.gpkg", layer="parcels")
    result = run_import(db_settings, tmp_path / "b.gpkg")
    issue = next(i for i in result.issues if i.code == "overlap-existing")
    assert issue.row == 1 and "331023003001GB00002" in issue.message_en
    assert result.counts["inserted"] == 0


def test_warnings_do_not_skip(db_settings, engine, tmp_path):
    p = grid_parcels(n=2)
    p.loc[0, "declared_area_m2"] = 8200.0      # 2.5 % off
    p.loc[1, "town"] = "不存在镇"
    p.to_file(tmp_path / "warn.gpkg", layer="parcels")
    result = run_import(db_settings, tmp_path / "warn.gpkg")
    codes = {(i.row, i.code, i.severity) for i in result.issues}
    assert (1, "area-mismatch", "warning") in codes and (2, "unknown-town", "warning") in codes
    assert result.counts["inserted"] == 2
    with engine.connect() as conn:
        declared = conn.execute(text("SELECT declared_area_m2 FROM parcels ORDER BY parcel_code")).scalars().first()
    assert float(declared) == 8200.0


def test_mapping_file_for_unusual_fields(db_settings, engine, tmp_path):
    p = grid_parcels(n=1).rename(columns={"parcel_code": "地块代码X", "name": "MC"})
    p.to_file(tmp_path / "odd.gpkg", layer="parcels")
    mapping = tmp_path / "map.toml"
    mapping.write_text('[fields]\n"地块代码X" = "parcel_code"\nMC = "name"\n', encoding="utf-8")
    result = run_import(db_settings, tmp_path / "odd.gpkg", mapping_file=mapping)
    assert result.counts["inserted"] == 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM parcels")).scalar() == "测试地块1号"


def test_zipped_shapefile(db_settings, engine, tmp_path):
    shp = contractor_shapefile(tmp_path / "in")
    zpath = tmp_path / "delivery.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in shp.parent.iterdir():
            zf.write(f, f"成果/{f.name}")
    result = run_import(db_settings, zpath)
    assert result.counts["inserted"] == 4 and result.counts["buildings"] == 8


@pytest.mark.parametrize("case", ["corrupt", "no_crs", "far_crs", "swapped", "empty"])
def test_unusable_files_write_nothing(db_settings, engine, tmp_path, case):
    before = table_snapshot(engine)
    if case == "corrupt":
        path = tmp_path / "broken.gpkg"
        path.write_bytes(b"SQLite format 3\x00" + b"\x13" * 500)
        code = "unreadable-file"
    elif case == "no_crs":
        path = contractor_shapefile(tmp_path / "noprj")
        path.with_suffix(".prj").unlink()
        code = "no-crs"
    elif case == "far_crs":  # EPSG:4549 metres labelled as a UTM zone in Xinjiang
        path = tmp_path / "far.gpkg"
        grid_parcels(n=2).set_crs(32645, allow_override=True).to_file(path, layer="parcels")
        code = "outside-jurisdiction"
    elif case == "swapped":
        path = tmp_path / "swapped.geojson"
        g = grid_parcels(n=2).to_crs(4326)
        g = g.set_geometry(shapely.transform(g.geometry.values, lambda c: c[:, ::-1]))
        path.write_text(g.to_json(), encoding="utf-8")
        code = "axis-order-swapped"
    else:
        path = tmp_path / "empty.geojson"
        path.write_text(json.dumps({"type": "FeatureCollection", "features": []}), encoding="utf-8")
        code = "empty-file"
    with pytest.raises(GisInputError) as exc:
        run_import(db_settings, path)
    assert exc.value.code == code
    assert exc.value.detail_zh and exc.value.detail_en
    assert table_snapshot(engine) == before


def test_declared_crs_option_rescues_a_file_without_prj(db_settings, engine, tmp_path):
    path = contractor_shapefile(tmp_path / "noprj")
    path.with_suffix(".prj").unlink()
    result = run_import(db_settings, path, crs="EPSG:4549")
    assert result.counts["inserted"] == 4


def test_export_formats(db_settings, engine, tmp_path):
    run_import(db_settings, contractor_shapefile(tmp_path / "in"))
    export_register(db_settings, tmp_path / "out.zip")
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        names = set(zf.namelist())
        assert {"parcels.shp", "parcels.dbf", "parcels.cpg", "buildings.shp", "holder_years.csv"} <= names
        assert zf.read("parcels.cpg").decode().strip() == "GBK"
    shp_dir = tmp_path / "shp"
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        zf.extractall(shp_dir)
    back = pyogrio.read_dataframe(shp_dir / "parcels.shp")
    assert "ZDDM" in back.columns and back["DKMC"].iloc[0] == "测试地块1号"
    assert back["QSXZ"].iloc[0] == "国有"
    dbf = (shp_dir / "parcels.dbf").read_bytes()
    assert "测试地块1号".encode("gbk") in dbf

    export_register(db_settings, tmp_path / "out.csv", layer="parcels")
    raw = (tmp_path / "out.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    header = raw.decode("utf-8-sig").splitlines()[0]
    assert header.startswith("宗地代码,地块名称,乡镇(街道)")

    export_register(db_settings, tmp_path / "out.geojson", layer="parcels")
    fc = json.loads((tmp_path / "out.geojson").read_text(encoding="utf-8"))
    assert len(fc["features"]) == 4
    lon, lat = fc["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 120.6 < lon < 121.3 and 28.9 < lat < 29.4
    back = gpd.read_file(tmp_path / "out.geojson").to_crs(4549)
    # 1e-8° ≈ 1 mm: GeoJSON in degrees is not an exact round trip (GeoPackage is, above)
    assert (back.geometry.area - 8000).abs().max() < 0.2


@pytest.mark.parametrize("block", [None, 1, 3], ids=["whole-layer", "blocks-of-1", "blocks-of-3"])
def test_building_problems_reported_per_row(db_settings, engine, tmp_path, monkeypatch, block):
    """Large layers are read in blocks: the row numbers and file-wide checks must not notice."""
    if block:
        monkeypatch.setattr("gis.sources.FEATURE_BLOCK", block)
    p = grid_parcels(n=2)
    b = buildings_for(p)
    b.loc[1, "number"] = "1"                                         # row 2 repeats 幢号 1 of its parcel
    b.loc[2, "parcel_code"] = "331023003001GB09999"                  # row 3 names a parcel not in the file
    b.loc[3, "geometry"] = bow_tie(ORIGIN[0] + 120, ORIGIN[1] + 10, size=10)  # row 4 self-intersects
    _, miny, maxx, _ = p.geometry.iloc[1].bounds
    sticking_out = b.iloc[[0]].assign(parcel_code=p["parcel_code"].iloc[1], number="9",
                                      geometry=[box(maxx - 10, miny + 10, maxx + 10, miny + 20)])
    b = pd.concat([b, sticking_out], ignore_index=True)               # row 5: 100 m² outside its parcel
    p.to_file(tmp_path / "parcels.gpkg", layer="parcels")
    b.to_file(tmp_path / "parcels.gpkg", layer="buildings")
    result = run_import(db_settings, tmp_path / "parcels.gpkg")
    found = {(i.row, i.code) for i in result.issues if i.layer == "buildings"}
    assert found == {(2, "duplicate-number"), (3, "orphan"), (4, "invalid-geometry"), (5, "outside-parcel")}
    assert next(i for i in result.issues if i.code == "outside-parcel").message_en.startswith("100.00 m²")
    assert result.counts["buildings"] == 2
    with engine.connect() as conn:
        assert sorted(conn.execute(text("SELECT number FROM buildings")).scalars()) == ["1", "9"]


def test_blocks_are_read_ahead_in_order_and_not_held(tmp_path, monkeypatch):
    """Each block is read while the previous one is checked; a handed-over block is freed by its ``del``."""
    import weakref

    from gis.sources import _blocks

    monkeypatch.setattr("gis.sources.FEATURE_BLOCK", 3)
    b = buildings_for(grid_parcels(n=4))
    b.to_file(tmp_path / "b.gpkg", layer="buildings")
    got = []
    for start, frame in _blocks((tmp_path / "b.gpkg", "buildings"), None, len(b)):
        got.append((start, frame["number"].tolist()))
        ref = weakref.ref(frame)
        del frame
        assert ref() is None
    assert [start for start, _ in got] == list(range(0, len(b), 3))
    assert [n for _, numbers in got for n in numbers] == b["number"].tolist()


# ---------------------------------------------------------------- fast path of a large first import

_INDEXES_AND_KEYS = text(
    "SELECT 'index', indexname, indexdef FROM pg_indexes "
    "WHERE tablename IN ('holders', 'parcels', 'buildings', 'support_land', 'holder_years') "
    "UNION ALL SELECT 'constraint', conname, pg_get_constraintdef(oid) FROM pg_constraint "
    "WHERE conrelid = ANY('{holders,parcels,buildings,support_land,holder_years}'::regclass[]) ORDER BY 1, 2"
)


def test_bulk_first_import_rebuilds_indexes_and_keys_as_they_were(db_settings, engine, tmp_path, monkeypatch):
    """Into an empty register the secondary indexes and foreign keys are dropped and re-created."""
    import app.importer as importer

    monkeypatch.setattr(importer, "BULK_MIN_ROWS", 1)
    with engine.connect() as conn:
        before = conn.execute(_INDEXES_AND_KEYS).all()
    assert any(name == "parcels_geom_gix" for _, name, _ in before)
    assert any(name == "buildings_parcel_id_fkey" for _, name, _ in before)
    path = tmp_path / "p.gpkg"
    grid_parcels(n=6).to_file(path, layer="parcels", driver="GPKG")
    buildings_for(grid_parcels(n=6)).to_file(path, layer="buildings", driver="GPKG")
    first = run_import(db_settings, path)
    assert first.counts["inserted"] == 6 and first.counts["buildings"] == 12, first.issues
    with engine.connect() as conn:
        assert conn.execute(_INDEXES_AND_KEYS).all() == before
        linked = conn.execute(text("SELECT count(*) FROM buildings b JOIN parcels p ON p.id = b.parcel_id")).scalar()
        assert linked == 12
        assert conn.execute(text("SELECT bool_and(indisvalid AND indisready) FROM pg_index "
                                 "WHERE indrelid = 'parcels'::regclass")).scalar()
    snapshot = table_snapshot(engine)
    second = run_import(db_settings, path)  # not empty any more: the ordinary path, nothing changes
    assert second.counts["unchanged"] == 6 and not second.changed
    assert table_snapshot(engine) == snapshot


def test_bulk_first_import_failing_midway_leaves_schema_and_data_untouched(db_settings, engine, tmp_path,
                                                                          monkeypatch):
    import app.importer as importer

    monkeypatch.setattr(importer, "BULK_MIN_ROWS", 1)
    copy_frame = importer._copy_frame

    def failing_on_buildings(conn, table, *args, **kwargs):  # fails after the drops and the parcels' COPY
        if table == "buildings":
            conn.execute(text("SELECT 1 / 0"))
        return copy_frame(conn, table, *args, **kwargs)

    monkeypatch.setattr(importer, "_copy_frame", failing_on_buildings)
    with engine.connect() as conn:
        before = conn.execute(_INDEXES_AND_KEYS).all()
    path = tmp_path / "p.gpkg"
    grid_parcels(n=3).to_file(path, layer="parcels", driver="GPKG")
    buildings_for(grid_parcels(n=3)).to_file(path, layer="buildings", driver="GPKG")
    with pytest.raises(Exception, match="division by zero"):
        run_import(db_settings, path)
    with engine.connect() as conn:
        assert conn.execute(_INDEXES_AND_KEYS).all() == before
        assert conn.execute(text("SELECT count(*) FROM parcels")).scalar() == 0


_CONTENT_SQL = {
    "parcels": "SELECT to_jsonb(p) - '{id,holder_id,valid_from}'::text[] || jsonb_build_object("
               "'holder', h.name, 'holder_code', h.credit_code, "
               "'valid_from', CASE WHEN p.valid_to IS NULL THEN 'import' ELSE p.valid_from::text END) "
               "FROM parcels p LEFT JOIN holders h ON h.id = p.holder_id",
    "buildings": "SELECT to_jsonb(b) - '{id,parcel_id}'::text[] || jsonb_build_object("
                 "'parcel', p.parcel_code, 'current', p.valid_to IS NULL) "
                 "FROM buildings b JOIN parcels p ON p.id = b.parcel_id",
    "support_land": "SELECT to_jsonb(b) - '{id,parcel_id}'::text[] || jsonb_build_object("
                    "'parcel', p.parcel_code, 'current', p.valid_to IS NULL) "
                    "FROM support_land b JOIN parcels p ON p.id = b.parcel_id",
    "holders": "SELECT to_jsonb(h) - '{id,created_at}'::text[] FROM holders h",
    "holder_years": "SELECT to_jsonb(y) - 'holder_id' || jsonb_build_object('holder', h.credit_code) "
                    "FROM holder_years y JOIN holders h ON h.id = y.holder_id",
    "disposals": "SELECT to_jsonb(d) - '{id,created_at}'::text[] FROM disposals d",
}


def register_content(settings) -> dict[str, list[str]]:
    """Every stored row without surrogate ids (parents named by code), sorted: comparable across databases."""
    eng = create_engine(settings.sqlalchemy_url)
    try:
        with eng.connect() as conn:
            starts = conn.execute(text("SELECT DISTINCT valid_from FROM parcels WHERE valid_to IS NULL")).all()
            assert len(starts) <= 1, "current versions start at the import's time"
            return {t: sorted(json.dumps(v, sort_keys=True, ensure_ascii=False)
                              for v in conn.execute(text(q)).scalars())
                    for t, q in _CONTENT_SQL.items()}
    finally:
        eng.dispose()


def holder_corner_cases(folder: Path) -> Path:
    """The sample with the holders the first load must add after its early holder years: a parcel
    naming its code's holder with an earlier name, a code whose years carry no name (its years link
    only once the parcels name it), a holder without a code, and a code only the parcels know."""
    path = folder / "holders.gpkg"
    shutil.copy(SAMPLE_GPKG, path)
    parcels = gpd.read_file(path, layer="parcels")
    hy = pyogrio.read_dataframe(path, layer="holder_years")
    current = parcels.index[parcels["retired_on"].isna() & parcels["holder_credit_code"].isin(hy["credit_code"])]
    codes = parcels["holder_credit_code"]
    first, nameless, plain, only_parcels = (current[k] for k in (0, 10, 20, 30))
    parcels.loc[first, "holder_name"] = "0号公司"  # sorts before every Chinese name
    hy.loc[hy["credit_code"] == codes[nameless], "holder_name"] = None
    hy = hy[hy["credit_code"] != codes[only_parcels]]
    parcels.loc[plain, "holder_credit_code"] = None
    parcels.to_file(path, layer="parcels", driver="GPKG")
    pyogrio.write_dataframe(pd.DataFrame(hy), path, layer="holder_years", driver="GPKG")
    return path


@pytest.mark.parametrize("source", ["sample", "holder-corner-cases"])
@pytest.mark.parametrize("bulk", [False, True], ids=["indexes-kept", "indexes-rebuilt"])
def test_empty_register_load_equals_the_merge(db_settings, second_db_settings, monkeypatch, tmp_path, bulk, source):
    """The direct COPY into an empty register stores exactly what the staging merge stores (the sample:
    history, splits and merges, support land, holders, holder years, disposals)."""
    import app.importer as importer

    sample = SAMPLE_GPKG if source == "sample" else holder_corner_cases(tmp_path)
    monkeypatch.setattr(importer, "BULK_MIN_ROWS", 1 if bulk else 10**9)
    loaded = []
    real_finish = importer._EmptyLoad.finish
    monkeypatch.setattr(importer._EmptyLoad, "finish", lambda self, src: loaded.append(1) or real_finish(self, src))
    monkeypatch.setattr("gis.sources.FEATURE_BLOCK", 97)  # buildings stream to the database in blocks
    direct = run_import(db_settings, sample)
    assert loaded == [1]
    monkeypatch.undo()
    monkeypatch.setattr(importer, "_EMPTY_SQL", "SELECT false")  # as if the register held something
    merged = run_import(second_db_settings, sample)
    assert direct.counts == merged.counts and direct.counts["inserted"] > 300
    assert [i.as_dict() for i in direct.issues] == [i.as_dict() for i in merged.issues]
    ours, theirs = register_content(db_settings), register_content(second_db_settings)
    for table in _CONTENT_SQL:
        assert len(ours[table]) > 0, table
        assert ours[table] == theirs[table], table


def test_register_with_v1_digests_reimports_unchanged_and_a_change_still_shows(db_settings, engine, tmp_path):
    """A register imported before the v2 row hash (32-character digests) re-imports as unchanged, writes
    nothing (its digests stay v1), and a parcel changed in the file still gets a new version."""
    from app.rowhash import ewkb_layers, legacy_row_hashes
    from gis.jurisdiction import load_jurisdiction
    from gis.sources import read_source

    sample = SAMPLE_GPKG
    first = run_import(db_settings, sample)
    src = read_source(sample, jurisdiction=load_jurisdiction(db_settings.jurisdiction), compact=True)
    v1 = dict(zip(src.parcels["parcel_code"], legacy_row_hashes(src, ewkb_layers(src, 4549)), strict=True))
    current = src.parcels.loc[src.parcels["retired_on"].isna(), "parcel_code"].tolist()
    with engine.begin() as conn:
        conn.execute(text("UPDATE parcels SET row_hash = :h WHERE parcel_code = :c AND valid_to IS NULL"),
                     [{"h": v1[c], "c": c} for c in current])
    before = table_snapshot(engine)
    assert {len(h) for (h,) in [(r.row_hash,) for r in before["parcels"] if r.valid_to is None]} == {32}

    again = run_import(db_settings, sample)
    assert again.counts["unchanged"] == first.counts["inserted"] and not again.changed
    assert table_snapshot(engine) == before

    changed = gpd.read_file(sample, layer="parcels")
    code = current[0]
    changed.loc[changed["parcel_code"] == code, "name"] = "改名后的地块"
    path = tmp_path / "changed.gpkg"
    shutil.copy(sample, path)
    changed.to_file(path, layer="parcels", driver="GPKG")  # replaces that layer only
    third = run_import(db_settings, path)
    assert third.counts["updated"] == 1 and third.counts["unchanged"] == first.counts["inserted"] - 1, third.counts
    with engine.connect() as conn:
        name, digest = conn.execute(text("SELECT name, row_hash FROM parcels WHERE parcel_code = :c "
                                         "AND valid_to IS NULL"), {"c": code}).one()
    assert name == "改名后的地块" and len(digest) == 16


def _staged_holder_years(monkeypatch) -> list[pd.DataFrame]:
    """The holder years each later import sends to staging (what ``_changed_holder_years`` keeps)."""
    import app.importer as importer

    staged: list[pd.DataFrame] = []
    real = importer._changed_holder_years
    monkeypatch.setattr(importer, "_changed_holder_years",
                        lambda frame, stored: staged.append(out := real(frame, stored)) or out)
    return staged


def test_reimport_sends_only_holders_with_new_figures_or_names(db_settings, engine, tmp_path, monkeypatch):
    """Unchanged holder years are not staged again; a changed figure and a renamed holder still land."""
    sample = SAMPLE_GPKG
    run_import(db_settings, sample)
    hy = pyogrio.read_dataframe(sample, layer="holder_years")
    codes = hy["credit_code"].unique().tolist()
    first = hy.index[hy["credit_code"] == codes[0]][0]
    hy.loc[first, "tax_wan"] = float(hy.loc[first, "tax_wan"] or 0) + 1.5
    hy.loc[hy["credit_code"] == codes[1], "holder_name"] = "更名后的企业有限公司"
    path = tmp_path / "changed.gpkg"
    shutil.copy(sample, path)
    pyogrio.write_dataframe(hy, path, layer="holder_years")

    staged = _staged_holder_years(monkeypatch)
    result = run_import(db_settings, path)
    assert set(staged[0]["credit_code"]) == {codes[0], codes[1]}
    assert result.counts["holder_years"] == 1 and result.counts["inserted"] == result.counts["updated"] == 0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM holders WHERE credit_code = :c"),
                            {"c": codes[1]}).scalar() == "更名后的企业有限公司"
        years = conn.execute(text("SELECT count(*) FROM holder_years")).scalar()
    assert years == len(hy)
    again = run_import(db_settings, path)
    assert len(staged[1]) == 0 and not again.changed


def test_reimport_compares_names_with_quotes_commas_and_line_breaks(db_settings, engine, tmp_path, monkeypatch):
    """The stored holder years and digests come back as CSV text: names that need quoting compare equal."""
    hy = pyogrio.read_dataframe(SAMPLE_GPKG, layer="holder_years")
    code = hy["credit_code"].iloc[0]
    hy.loc[hy["credit_code"] == code, "holder_name"] = '天台县"双引号",逗号\n换行有限公司'
    path = tmp_path / "quoted.gpkg"
    shutil.copy(SAMPLE_GPKG, path)
    pyogrio.write_dataframe(hy, path, layer="holder_years")
    run_import(db_settings, path)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT name FROM holders WHERE credit_code = :c"), {"c": code}).scalar()
    assert '"' in stored and "," in stored and "\n" in stored

    staged = _staged_holder_years(monkeypatch)
    again = run_import(db_settings, path)
    assert len(staged) == 1 and len(staged[0]) == 0
    assert not again.changed and again.counts["unchanged"] == len(pyogrio.read_dataframe(SAMPLE_GPKG, layer="parcels"))


def test_positions_of_pairs_match_code_and_year_together():
    """The re-import's lookup of each file holder year among the stored ones (code and year both)."""
    from app.importer import _positions_of_pairs

    codes = np.array(["A", "A", "B", None, "C"], dtype=object)
    years = np.array([2024, 2025, 2024, 2024, 2023])
    find = np.array(["B", "A", "A", "C", "B", None, "D"], dtype=object)
    find_years = np.array([2024, 2025, 2023, 2023, 2025, 2024, 2024])
    assert _positions_of_pairs(codes, years, find, find_years).tolist() == [2, 1, -1, 4, -1, -1, -1]
    assert _positions_of_pairs(codes[:0], years[:0], find, find_years).tolist() == [-1] * 7


def test_ewkb_blocks_are_what_postgis_and_shapely_write():
    """The SRID spliced into plain WKB gives exactly shapely's hex EWKB (which the row hash covers)."""
    from app.rowhash import EWKB as _EWKB

    shapes = np.array([box(0, 0, 10, 10), shapely.MultiPolygon([box(0, 0, 1, 1), box(2, 2, 3, 3)]),
                       box(0, 0, 10, 10).difference(box(2, 2, 4, 4)),
                       shapely.force_3d(box(5, 5, 6, 6), 7.0)], dtype=object)
    flat = shapely.force_2d(shapes)
    expected = shapely.to_wkb(shapely.set_srid(flat, 4549), hex=True, include_srid=True)
    ewkb = _EWKB.of(flat, 4549)
    assert ewkb.hex().tolist() == expected.tolist()
    assert ewkb.hex(1, 3).tolist() == expected[1:3].tolist()
    assert ewkb[np.array([True, False, False, True])].hex().tolist() == [expected[0], expected[3]]
    assert [h.upper() for h in ewkb.arrow().to_pylist()] == expected.tolist()  # the COPY's vectorised text
    assert [h.upper() for h in ewkb.arrow(np.array([3, 1])).to_pylist()] == [expected[3], expected[1]]
    assert ewkb.arrow(slice(2, 2)).to_pylist() == []


def test_awkward_text_survives_csv_copy(db_settings, engine, tmp_path):
    """Quotes, backslashes, tabs, newlines and commas in values and in unmapped (extra) fields."""
    p = grid_parcels(n=2)
    nasty = 'A "quoted", back\\slash\tand\nnewline'
    p.loc[0, "name"] = nasty
    p.loc[1, "name"] = "\\N"  # the text-format NULL marker is an ordinary value
    p["SURVEYOR"] = [nasty, None]
    path = tmp_path / "p.gpkg"
    p.to_file(path, layer="parcels", driver="GPKG")
    result = run_import(db_settings, path)
    assert result.counts["inserted"] == 2, result.issues
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT name, extra FROM parcels ORDER BY parcel_code")).all())
    assert set(rows) == {nasty, "\\N"}
    assert rows[nasty] == {"SURVEYOR": nasty} and rows["\\N"] == {}


def test_new_holders_take_the_first_name_of_a_code_as_the_merge_does():
    """One holder per credit code named by the first of its names in code-point order (``ORDER BY name
    COLLATE "C"`` in the merge), one per name given without a code."""
    from app.importer import _new_holders

    p = pd.DataFrame({"holder_name": ["乙公司", "甲公司", "无代码厂", None, "无代码厂"],
                      "holder_credit_code": ["C1", "C2", None, "C3", None]})
    hy = pd.DataFrame({"holder_name": ["B公司", "乙公司", None], "credit_code": ["C1", "C4", "C2"]})
    got = _new_holders(p, hy).sort_values("name").reset_index(drop=True)
    assert got.to_dict("records") == [
        {"name": "B公司", "credit_code": "C1"}, {"name": "乙公司", "credit_code": "C4"},
        {"name": "无代码厂", "credit_code": None}, {"name": "甲公司", "credit_code": "C2"},
    ]


def test_holder_years_without_a_compliance_flag_column_import_with_no_flags(db_settings, engine, tmp_path):
    """A contractor's holder-year table may lack the compliance-flag column: its years still import,
    with no flags (it failed with a TypeError)."""
    path = tmp_path / "no-flags.gpkg"
    shutil.copy(SAMPLE_GPKG, path)
    hy = pyogrio.read_dataframe(path, layer="holder_years")
    pyogrio.write_dataframe(pd.DataFrame(hy.drop(columns=["compliance_flags"])), path, layer="holder_years",
                            driver="GPKG")
    result = run_import(db_settings, path)
    assert result.counts["holder_years"] == len(hy)
    with engine.connect() as conn:
        flags = conn.execute(text("SELECT DISTINCT compliance_flags FROM holder_years")).scalars().all()
    assert flags == [[]]


def test_compliance_flags_are_canonical_and_an_unknown_one_refuses_its_row(db_settings, tmp_path):
    """Chinese or English flag names, in any order and separator, become the canonical English set; a
    row naming a flag that does not exist is reported and skipped."""
    from gis.jurisdiction import load_jurisdiction
    from gis.sources import read_source

    path = tmp_path / "flags.gpkg"
    shutil.copy(SAMPLE_GPKG, path)
    hy = pyogrio.read_dataframe(path, layer="holder_years")
    hy["compliance_flags"] = ""
    hy.loc[0, "compliance_flags"] = "环保；能耗"
    hy.loc[1, "compliance_flags"] = "energy, environment"
    hy.loc[2, "compliance_flags"] = "安全、噪音"
    pyogrio.write_dataframe(pd.DataFrame(hy), path, layer="holder_years", driver="GPKG")
    src = read_source(path, jurisdiction=load_jurisdiction(db_settings.jurisdiction), compact=True)
    rows = src.holder_years.set_index("row")["compliance_flags"]
    assert rows[1] == rows[2] == ["energy", "environment"] and rows[4] == []
    assert 3 not in rows.index and len(rows) == len(hy) - 1
    assert [(i.row, i.code) for i in src.issues if i.layer == "holder_years"] == [(3, "bad-holder-year")]
