"""The committed synthetic Tiantai sample (sample_parcels/) and its generator. No database needed.

The category checks here re-derive RULES.md §3 from the committed facts, independently of the
generator, so a generator that writes an expectation its own facts do not support fails.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from shapely import STRtree
from shapely.ops import split as split_polygon

from gis.attributes import BUILDING_ATTRS, HOLDER_YEAR_ATTRS, PARCEL_ATTRS, QLXZ_CODES, SUPPORT_ATTRS
from gis.crs import CRS84, transform_geom
from gis.jurisdiction import load_jurisdiction
from sample_parcels.generate import SAMPLE_AS_OF, SAMPLE_DIR, generate, main

GPKG = SAMPLE_DIR / "tiantai.gpkg"
MU = 2000 / 3
CODE_RE = re.compile(r"^331023\d{6}GB\d{5}$")
DATE_COLS = [a.name for a in PARCEL_ATTRS if a.kind == "date"]


# --- loading -------------------------------------------------------------------------------------


def _dates(df: pd.DataFrame, cols) -> pd.DataFrame:
    for c in cols:
        df[c] = [None if pd.isna(v) else v.date() for v in df[c]]
    return df


@pytest.fixture(scope="module")
def parcels():
    return _dates(pyogrio.read_dataframe(GPKG, layer="parcels"), DATE_COLS)


@pytest.fixture(scope="module")
def current(parcels):
    return parcels[parcels["retired_on"].isna()].reset_index(drop=True)


@pytest.fixture(scope="module")
def buildings():
    return pyogrio.read_dataframe(GPKG, layer="buildings")


@pytest.fixture(scope="module")
def support():
    return pyogrio.read_dataframe(GPKG, layer="support_land")


@pytest.fixture(scope="module")
def years():
    return pyogrio.read_dataframe(GPKG, layer="holder_years")


@pytest.fixture(scope="module")
def expected():
    return pd.read_csv(SAMPLE_DIR / "expected_categories.csv", dtype=str)


@pytest.fixture(scope="module")
def showcase():
    return json.loads((SAMPLE_DIR / "showcase.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def outline():
    return load_jurisdiction().outline_storage


# --- layers, CRS, geometry -----------------------------------------------------------------------


def test_layers_and_columns():
    layers = dict(pyogrio.list_layers(GPKG))
    assert layers == {"parcels": "MultiPolygon", "buildings": "Polygon", "support_land": "Polygon",
                      "holder_years": None, "disposals": None}
    for layer, attrs in (("parcels", PARCEL_ATTRS), ("buildings", BUILDING_ATTRS),
                         ("support_land", SUPPORT_ATTRS), ("holder_years", HOLDER_YEAR_ATTRS)):
        info = pyogrio.read_info(GPKG, layer=layer)
        assert list(info["fields"]) == [a.name for a in attrs], layer
        types = dict(zip(info["fields"], zip(info["ogr_types"], info["ogr_subtypes"], strict=True), strict=True))
        for a in attrs:
            want = {"date": ("OFTDate", "OFSTNone"), "bool": ("OFTInteger", "OFSTBoolean"),
                    "float": ("OFTReal", "OFSTNone")}.get(a.kind)
            if want:
                assert types[a.name] == want, (layer, a.name, types[a.name])
        if info["geometry_type"]:
            assert info["crs"] == "EPSG:4549"
    assert list(pyogrio.read_info(GPKG, layer="disposals")["fields"]) == [
        "parcel_code", "method", "area_m2", "disposed_on", "note"]


def test_current_parcels_valid_inside_county_and_disjoint(current, outline):
    assert len(current) >= 300
    geoms = current.geometry.values
    assert shapely.is_valid(geoms).all()
    x0, y0, x1, y1 = current.total_bounds
    assert 560_000 < x0 < x1 < 625_000 and 3_200_000 < y0 < y1 < 3_250_000
    assert all(outline.contains(g) for g in geoms)
    left, right = STRtree(geoms).query(geoms, predicate="intersects")
    pairs = [(i, j) for i, j in zip(left, right, strict=True) if i < j]
    assert pairs, "some parcels share boundaries (split children, merge candidates)"
    overlaps = [shapely.intersection(geoms[i], geoms[j]).area for i, j in pairs]
    assert max(overlaps) == 0


def test_parcel_areas(current):
    mu = current.area / MU
    assert ((mu >= 8) & (mu <= 150)).mean() >= 0.9
    assert (mu > 200).sum() >= 2
    assert mu.min() >= 8


def test_declared_areas(parcels):
    rel = (parcels["declared_area_m2"] - parcels.area).abs() / parcels.area
    assert (rel < 0.005).mean() >= 0.9
    assert 3 <= (rel > 0.01).sum() <= 15


# --- codes ---------------------------------------------------------------------------------------

_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _credit_ok(code: str) -> bool:
    """GB 32100-2015, written out again here (weights 3^i mod 31, check = 31 − sum mod 31)."""
    if len(code) != 18 or any(c not in _CHARSET for c in code):
        return False
    total = sum(_CHARSET.index(c) * (3**i % 31) for i, c in enumerate(code[:17]))
    return _CHARSET[(31 - total % 31) % 31] == code[17]


def test_credit_check_helper_itself():
    assert _credit_ok("91350100M000100Y43")  # the standard's worked example
    assert _credit_ok("91110000600037341L")
    assert not _credit_ok("91350100M000100Y44")
    assert not _credit_ok("91350100M000100Y4")


def test_parcel_codes(parcels, current):
    jur = load_jurisdiction()
    assert all(CODE_RE.match(c) for c in parcels["parcel_code"])
    assert current["parcel_code"].is_unique
    assert parcels["parcel_code"].is_unique  # a code is never reused, not even by a later version
    for code, town in zip(parcels["parcel_code"], parcels["town"], strict=True):
        assert code[6:9] == jur.district_of(town), (code, town)
    children = parcels[parcels["parent_codes"].notna()]
    for code, parents in zip(children["parcel_code"], children["parent_codes"], strict=True):
        for p in parents.split(","):
            assert p in set(parcels["parcel_code"])
            if p[:12] == code[:12]:
                assert int(code[-5:]) > int(p[-5:])


def test_credit_codes(parcels, years):
    codes = set(parcels["holder_credit_code"].dropna()) | set(years["credit_code"])
    assert len(codes) > 200
    bad = [c for c in codes if not (c.startswith("91331023") and _credit_ok(c))]
    assert not bad
    names = parcels.dropna(subset=["holder_name"]).groupby("holder_credit_code")["holder_name"].nunique()
    assert (names == 1).all()


# --- buildings and support land ------------------------------------------------------------------


def test_buildings_inside_parcels_and_disjoint(current, buildings, expected):
    by_code = dict(zip(current["parcel_code"], current.geometry, strict=True))
    assert set(buildings["parcel_code"]) <= set(by_code)
    for code, group in buildings.groupby("parcel_code"):
        parcel = by_code[code]
        assert sorted(group["number"], key=int) == [str(i) for i in range(1, len(group) + 1)]
        for b in group.geometry:
            assert parcel.contains(b)
            assert parcel.boundary.distance(b) >= 3.0
        geoms = list(group.geometry)
        for i, a in enumerate(geoms):
            for b in geoms[i + 1:]:
                assert a.intersection(b).area == 0
        assert 1 <= len(group) <= 8
    built = set(buildings["parcel_code"])
    never = expected[expected["criterion"].isin(["approved_unsupplied", "not_started", "within_deadline"])]
    assert not set(never["parcel_code"]) & built
    production = expected[expected["criterion"].isin(["normal", "tax_per_mu", "low_far", "rating_d"])]
    assert set(production["parcel_code"]) <= built


def test_support_land(current, buildings, support, years):
    by_code = dict(zip(current["parcel_code"], current.geometry, strict=True))
    holder = dict(zip(current["parcel_code"], current["holder_credit_code"], strict=True))
    rating = {r.credit_code: r.rating for r in years[years["year"] == 2024].itertuples()}
    shares = []
    for code, geom in zip(support["parcel_code"], support.geometry, strict=True):
        parcel = by_code[code]
        assert parcel.contains(geom)
        shares.append(geom.area / parcel.area)
        if shares[-1] > 0.07:  # SUPPORT-01's 15 % allowance: A/B holders on ≥ 50 mu
            assert parcel.area >= 50 * MU and rating[holder[code]] in ("A", "B")
        for b in buildings[buildings["parcel_code"] == code].geometry:
            assert geom.contains(b) or geom.intersection(b).area == 0  # never cut a building
    shares = np.array(shares)
    assert len(support) >= 0.7 * buildings["parcel_code"].nunique()
    assert (shares <= 0.07).mean() >= 0.95
    assert ((shares > 0.07) & (shares <= 0.15)).sum() >= 2
    assert set(support["kind"]) == {"行政办公", "生活服务"}


# --- the exports ---------------------------------------------------------------------------------


def test_shapefiles_gbk_round_trip(parcels):
    folder = SAMPLE_DIR / "shp"
    for name in ("parcels", "buildings", "support_land"):
        for ext in ("shp", "shx", "dbf", "prj", "cpg"):
            assert (folder / f"{name}.{ext}").is_file()
        assert (folder / f"{name}.cpg").read_text().strip() == "GBK"
        assert "CGCS2000" in (folder / f"{name}.prj").read_text()
        assert pyogrio.read_info(folder / f"{name}.shp")["crs"] == "EPSG:4549"
    # the DBF really is GBK: a holder name is found as GBK bytes, not as UTF-8
    dbf = (folder / "parcels.dbf").read_bytes()
    some = parcels["holder_name"].dropna().iloc[0]
    assert some.encode("gbk") in dbf and some.encode("utf-8") not in dbf
    shp = pyogrio.read_dataframe(folder / "parcels.shp")
    fields = {a.name: a.shp for a in PARCEL_ATTRS}
    assert "SYQLX" not in shp.columns and "QLXZ" in shp.columns
    assert shp["QSXZ"].tolist() == parcels["ownership_nature"].tolist()
    assert list(shp["ZDDM"]) == list(parcels["parcel_code"])
    for name in ("name", "town", "holder_name", "approval_no", "contract_no", "remarks", "parent_codes",
                 "standard_land_indicators", "land_use"):
        got = shp[fields[name]].where(shp[fields[name]].notna(), None).tolist()
        assert got == parcels[name].tolist(), name
    for qlxz, own, right in zip(shp["QLXZ"], parcels["ownership_nature"], parcels["right_type"], strict=True):
        assert (qlxz is None and right is None) or QLXZ_CODES[qlxz] == (own, right)
    assert set(shp["BDFG"]) == {"是", "否"}
    assert (shp["BDFG"] == "是").tolist() == parcels["no_split"].tolist()
    assert np.allclose(shp.area, parcels.area)
    for _i, s_geom in enumerate(shp.geometry):
        assert s_geom.geom_type == "Polygon"
    assert (folder / "holder_years.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    zh = pd.read_csv(folder / "holder_years.csv", encoding="utf-8-sig", dtype=str)
    assert list(zh.columns) == [a.label_zh for a in HOLDER_YEAR_ATTRS]
    assert set(zh["是否规上"]) == {"是", "否"}


def test_geojson_crs84_and_lossless(parcels):
    folder = SAMPLE_DIR / "geojson"
    for name in ("parcels", "buildings", "support_land"):
        doc = json.loads((folder / f"{name}.geojson").read_text(encoding="utf-8"))
        assert doc["type"] == "FeatureCollection" and "crs" not in doc
        for feat in doc["features"][:50]:
            ring = feat["geometry"]["coordinates"][0]
            ring = ring[0] if feat["geometry"]["type"] == "MultiPolygon" else ring
            for lon, lat in ring:
                assert 120.69 < lon < 121.27 and 28.95 < lat < 29.36  # lon first
                assert round(lon, 7) == lon and round(lat, 7) == lat
    doc = json.loads((folder / "parcels.geojson").read_text(encoding="utf-8"))
    assert [f["properties"]["parcel_code"] for f in doc["features"]] == list(parcels["parcel_code"])
    geoms = shapely.from_geojson([json.dumps(f["geometry"]) for f in doc["features"]])
    back = transform_geom(geoms, CRS84, 4549)
    assert np.abs(shapely.area(back) - parcels.area.to_numpy()).max() <= 0.01
    props = pd.DataFrame([f["properties"] for f in doc["features"]])
    assert list(props.columns) == [a.name for a in PARCEL_ATTRS]
    assert props["supplied_on"].dropna().iloc[0] == parcels["supplied_on"].dropna().iloc[0].isoformat()
    assert props["no_split"].tolist() == parcels["no_split"].tolist()
    hy = pd.read_csv(folder / "holder_years.csv", dtype={"credit_code": str})
    assert list(hy.columns) == [a.name for a in HOLDER_YEAR_ATTRS]
    disp = pd.read_csv(folder / "disposals.csv")
    assert set(disp["method"]) <= {"收回", "收购储备", "协议转让", "兼并重组", "二次开发/技改"}
    assert set(disp["parcel_code"]) <= set(parcels["parcel_code"])
    assert disp["disposed_on"].between("2022-01-01", "2025-12-31").all()


# --- categories, re-derived from the facts -------------------------------------------------------


def _plus_years(d: date, n: int) -> date:
    try:
        return d.replace(year=d.year + n)
    except ValueError:
        return d.replace(year=d.year + n, day=28)


def _derive(row, per_mu: dict, fig: dict, as_of: date) -> tuple[str, str]:
    """RULES.md §3 with the Tiantai defaults; the first low-efficiency criterion that matches."""
    if row.supplied_on is None:
        return ("approved_unsupplied", "approved_unsupplied") if row.approved_on else ("none", "none")
    if row.construction_started_on is None:
        start = row.agreed_start_on or _plus_years(row.supplied_on, 1)
        if as_of > _plus_years(start, 1):
            return "supplied_unused", "not_started"
        return "none", "within_deadline"
    if row.production_started_on is None or row.production_started_on > as_of:
        under = (row.developed_area_m2 < row.geometry.area / 3
                 or row.invested_wan < 0.25 * row.planned_investment_wan)
        if under and row.halted_since and as_of >= _plus_years(row.halted_since, 1):
            return "supplied_unused", "halted_underdeveloped"
        return "none", "under_construction"
    code = row.holder_credit_code
    last, prev = fig[(code, 2024)], fig[(code, 2023)]
    if per_mu[(code, 2024)] <= 5:
        return "low_efficiency", "tax_per_mu"
    if all(f["revenue_wan"] >= 10000 and per_mu[(code, y)] <= 10 for y, f in ((2024, last), (2023, prev))):
        return "low_efficiency", "large_revenue_low_tax"
    if last["rating"] == "D":
        return "low_efficiency", "rating_d"
    if row.far_actual < 1.0:
        return "low_efficiency", "low_far"
    return "none", "normal"


def test_expected_categories_follow_from_the_facts(current, years, expected):
    assert list(expected.columns) == ["parcel_code", "category", "criterion"]
    assert sorted(expected["parcel_code"]) == sorted(current["parcel_code"])
    area_mu = (current.area / MU).groupby(current["holder_credit_code"]).sum()
    per_mu = {(r.credit_code, r.year): r.tax_wan / area_mu[r.credit_code] for r in years.itertuples()
              if r.credit_code in area_mu}
    fig = {(r.credit_code, r.year): {"revenue_wan": r.revenue_wan, "rating": r.rating} for r in years.itertuples()}
    want = expected.set_index("parcel_code")
    mismatches = []
    for row in current.itertuples():
        got = _derive(row, per_mu, fig, SAMPLE_AS_OF)
        exp = tuple(want.loc[row.parcel_code, ["category", "criterion"]])
        if got != exp:
            mismatches.append((row.parcel_code, exp, got))
    assert not mismatches, mismatches[:5]
    # the inclusive bound: some holders sit at exactly 5.00 万元/亩
    assert sum(1 for v in per_mu.values() if round(v, 2) == 5.0) >= 2


def test_category_quotas(current, expected):
    counts = expected.groupby("criterion").size()
    assert counts["approved_unsupplied"] >= 16
    assert counts["not_started"] >= 8 and counts["halted_underdeveloped"] >= 6
    for crit in ("tax_per_mu", "large_revenue_low_tax", "rating_d", "low_far"):
        assert counts[crit] >= 6, crit
    assert counts["normal"] >= 150
    assert set(expected["category"]) == {"approved_unsupplied", "supplied_unused", "low_efficiency", "none"}
    rows = current.set_index("parcel_code")
    unsupplied = rows.loc[expected.loc[expected["criterion"] == "approved_unsupplied", "parcel_code"]]
    age = [(SAMPLE_AS_OF - d).days / 365.25 for d in unsupplied["approved_on"]]
    assert sum(a < 2 for a in age) >= 8 and sum(a >= 2 for a in age) >= 8
    idle = rows.loc[expected.loc[expected["criterion"] == "not_started", "parcel_code"]]
    overdue = [(SAMPLE_AS_OF - _plus_years(d, 1)).days / 365.25 for d in idle["agreed_start_on"].dropna()]
    assert any(o < 1 for o in overdue) and any(1 <= o < 2 for o in overdue) and any(o >= 2 for o in overdue)


# --- lineage, special parcels, showcases ----------------------------------------------------------


def test_lineage(parcels, current):
    by_code = parcels.set_index("parcel_code")
    produced = current["produced_by"].value_counts()
    assert produced["split"] >= 6 and produced["merge"] >= 3 and produced["edge_plot"] >= 2
    assert set(current["produced_by"]) == {"original", "split", "merge", "edge_plot"}
    retired = parcels[parcels["retired_on"].notna()]
    assert len(retired) >= 3 + 6 + 2
    for row in current[current["produced_by"] != "original"].itertuples():
        parents = by_code.loc[row.parent_codes.split(",")]
        assert parents["retired_on"].notna().all()
        assert row.no_split == (row.produced_by in ("merge", "edge_plot"))
        if row.produced_by == "merge":
            assert len(parents) >= 2
            union = shapely.union_all(parents.geometry.values)
            assert union.symmetric_difference(row.geometry).area < 1e-6
            assert row.lease_end_on == min(parents["lease_end_on"])
        if row.produced_by == "edge_plot":
            assert row.geometry.contains(parents.geometry.iloc[0])
    for code, group in current[current["produced_by"] == "split"].groupby("parent_codes"):
        union = shapely.union_all(group.geometry.values)
        parent = by_code.loc[code, "geometry"]
        assert union.symmetric_difference(parent).area < 1e-6
        assert parent.equals(union) or shapely.equals(parent, union)
        assert by_code.loc[code, "produced_by"] == "original"


def test_special_parcels(current):
    zone = current["in_development_zone"]
    assert zone.mean() >= 0.6
    assert set(current.loc[zone, "town"]) == {"赤城街道", "始丰街道", "福溪街道"}
    assert {"平桥镇", "坦头镇", "三合镇", "洪畴镇", "白鹤镇", "石梁镇", "街头镇"} <= set(current["town"])
    assert current["town"].str.endswith("乡").any()
    std = current[current["standard_land"]]
    assert len(std) >= 10
    assert all(d >= date(2019, 1, 1) for d in std["supplied_on"])
    for text in std["standard_land_indicators"]:
        assert set(json.loads(text)) == {"亩均税收_万元", "容积率", "亩均投资_万元"}
    assert current.loc[~current["standard_land"], "standard_land_indicators"].isna().all()
    assert current["industrial_real_estate"].sum() == 1
    sold = current[(current["right_type"] == "出让") & (current["produced_by"] != "merge")]
    assert all(end == _plus_years(s, 50) for s, end in zip(sold["supplied_on"], sold["lease_end_on"], strict=True)
               if s is not None)
    assert all(date(2012, 1, 1) <= d <= date(2025, 12, 31) for d in current["approved_on"].dropna())
    assert all(date(2010, 1, 1) <= d <= date(2025, 12, 31) for d in current["supplied_on"].dropna())
    assert current["contract_no"].dropna().str.match(r"^331023\d{4}[AZ]\d{5}$|^天政划拨").all()
    assert current["approval_no"].dropna().str.match(r"^浙土字A〔\d{4}〕-\d{4}$").all()


def test_showcase_split_ok(current, buildings, support, years, showcase):
    sc = showcase["split_ok"]
    row = current.set_index("parcel_code").loc[sc["parcel_code"]]
    assert row["produced_by"] == "original" and row["right_type"] == "出让"
    assert row["completed_on"] <= date(2020, 12, 31) and row["production_started_on"] <= date(2021, 12, 31)
    assert 40 <= row.geometry.area / MU <= 50
    ratings = years.loc[years["credit_code"] == row["holder_credit_code"], "rating"]
    assert set(ratings) == {"A"}
    lots = list(split_polygon(row.geometry.geoms[0], shapely.LineString(sc["cut_line_epsg4549"])).geoms)
    assert len(lots) == 2
    blds = buildings[buildings["parcel_code"] == sc["parcel_code"]]
    sup = support[support["parcel_code"] == sc["parcel_code"]].geometry
    assert len(blds) == 4 and len(sup) == 1
    inside = [sorted(n for n, g in zip(blds["number"], blds.geometry, strict=True) if lot.contains(g))
              for lot in lots]
    assert sorted(inside) == [["1", "2"], ["3", "4"]]
    with_support = [lot for lot in lots if lot.contains(sup.iloc[0])]
    assert len(with_support) == 1
    assert all(round(lot.area, 2) >= 6666.67 for lot in lots)


def test_showcase_merge_and_edge(current, showcase):
    rows = current.set_index("parcel_code")
    a, b = (rows.loc[c] for c in showcase["merge_ok"]["parcel_codes"])
    assert a["produced_by"] == b["produced_by"] == "original"
    assert (a["ownership_nature"], a["right_type"]) == (b["ownership_nature"], b["right_type"])
    assert a["lease_end_on"] != b["lease_end_on"]
    shared = a.geometry.boundary.intersection(b.geometry.boundary)
    assert shared.length >= 50
    assert shapely.union_all([a.geometry, b.geometry]).geom_type == "Polygon"

    edge = showcase["edge_ok"]
    parcel = rows.loc[edge["parcel_code"], "geometry"]
    strip = shapely.from_wkt(edge["strip_wkt_epsg4549"])
    assert strip.area <= 0.10 * parcel.area
    assert parcel.boundary.intersection(strip.boundary).length > 50  # shares a full edge
    assert all(strip.intersection(g).area == 0 for g in current.geometry)
    assert shapely.union_all([parcel, strip]).geom_type in ("Polygon", "MultiPolygon")
    assert shapely.union_all([parcel.geoms[0], strip]).geom_type == "Polygon"

    for key, produced in (("produced_by_split", "split"), ("produced_by_merge", "merge"),
                          ("produced_by_edge_plot", "edge_plot")):
        assert all(rows.loc[c, "produced_by"] == produced for c in showcase[key])


def test_readme_names_the_showcases(showcase):
    readme = (SAMPLE_DIR / "README.md").read_text(encoding="utf-8")
    assert showcase["split_ok"]["parcel_code"] in readme
    assert all(c in readme for c in showcase["merge_ok"]["parcel_codes"])
    assert showcase["edge_ok"]["parcel_code"] in readme
    assert showcase["produced_by_split"][0] in readme and showcase["produced_by_merge"][0] in readme
    x = showcase["split_ok"]["cut_line_epsg4549"][0][0]
    assert f"{x:.0f}" in readme


# --- the generator -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def regenerated():
    return generate()


def _attrs(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(df.drop(columns="geometry")).reset_index(drop=True)


def test_regenerating_is_deterministic(regenerated):
    again = generate()
    for name in ("parcels", "buildings", "support_land"):
        a, b = getattr(regenerated, name), getattr(again, name)
        pd.testing.assert_frame_equal(_attrs(a), _attrs(b))
        assert (shapely.to_wkb(a.geometry.values) == shapely.to_wkb(b.geometry.values)).all()
    for name in ("holder_years", "disposals", "expected"):
        pd.testing.assert_frame_equal(getattr(regenerated, name), getattr(again, name))
    assert regenerated.showcase == again.showcase
    other = generate(seed=7)
    assert list(other.parcels["parcel_code"]) != list(regenerated.parcels["parcel_code"]) or not (
        shapely.to_wkb(other.parcels.geometry.values) == shapely.to_wkb(regenerated.parcels.geometry.values)).all()


def test_committed_files_are_what_the_generator_makes(regenerated, parcels, expected):
    """Catches committed files left stale after a change to the generator or the attribute table."""
    assert list(regenerated.parcels["parcel_code"]) == list(parcels["parcel_code"])
    mem = _attrs(regenerated.parcels)
    disk = _attrs(parcels)
    for a in PARCEL_ATTRS:
        left = [None if (v is None or (isinstance(v, float) and math.isnan(v))) else v for v in mem[a.name]]
        right = [None if (v is None or (isinstance(v, float) and math.isnan(v))) else v for v in disk[a.name]]
        assert left == right, a.name
    dist = shapely.hausdorff_distance(regenerated.parcels.geometry.values, parcels.geometry.values)
    assert dist.max() < 1e-6
    pd.testing.assert_frame_equal(regenerated.expected.reset_index(drop=True), expected)


def test_large_mode(tmp_path):
    data = generate(2000, seed=3)
    assert data.large and len(data.parcels) == 2000
    geoms = data.parcels.geometry.values
    left, right = STRtree(geoms).query(geoms, predicate="intersects")
    assert (left == right).all()
    assert data.parcels["parcel_code"].is_unique and data.parcels["parcel_code"].str.match(CODE_RE).all()
    assert list(data.parcels.columns[:-1]) == [a.name for a in PARCEL_ATTRS]
    mu = data.parcels.area / MU
    assert mu.between(2, 8).all()
    assert all(_credit_ok(c) for c in data.holder_years["credit_code"].unique())
    outline = load_jurisdiction().outline_storage
    assert all(outline.contains(g) for g in geoms[::50])
    by_code = dict(zip(data.parcels["parcel_code"], geoms, strict=True))
    assert all(by_code[c].contains(g) for c, g in zip(data.buildings["parcel_code"], data.buildings.geometry,
                                                      strict=True))
    assert data.buildings.groupby("parcel_code").size().between(1, 3).all()
    assert main(["--n", "2000", "--out", str(tmp_path), "--seed", "3"]) == 0
    out = tmp_path / "parcels.gpkg"
    assert dict(pyogrio.list_layers(out)) == {"parcels": "MultiPolygon", "buildings": "Polygon",
                                             "holder_years": None}
    assert pyogrio.read_info(out, layer="parcels")["features"] == 2000


def test_large_mode_needs_an_output_folder():
    with pytest.raises(SystemExit):
        main(["--n", "5000"])


def test_sample_files_stay_small():
    total = sum(p.stat().st_size for p in Path(SAMPLE_DIR).rglob("*") if p.is_file())
    assert total < 6_000_000


def test_as_of_is_fixed():
    assert date(2025, 6, 30) == SAMPLE_AS_OF


def test_two_parcel_holder_is_judged_on_all_its_land(current, years, showcase, expected):
    codes = showcase["low_tax_holder_with_two_parcels"]
    rows = current.set_index("parcel_code").loc[codes]
    assert rows["holder_credit_code"].nunique() == 1
    credit = rows["holder_credit_code"].iloc[0]
    assert (current["holder_credit_code"] == credit).sum() == 2
    tax = years[(years["credit_code"] == credit) & (years["year"] == 2024)]["tax_wan"].iloc[0]
    assert tax / (rows.area.sum() / MU) <= 5
    assert all(tax / (a / MU) > 5 for a in rows.area)  # per parcel it would look fine
    assert set(expected.set_index("parcel_code").loc[codes, "criterion"]) == {"tax_per_mu"}
