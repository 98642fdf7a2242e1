"""The engine on the sample register (sample_parcels/tiantai.gpkg) through a StoredLookup, as the web layer
will call it: the showcase split, merge and edge-plot cases, and lineage refusals."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import shapely

from gis.rules import StoredFeature, StoredLookup, StoredParcel, run_check
from gis.rules.factories import company, feature, feature_collection

SAMPLE = Path(__file__).resolve().parents[1] / "sample_parcels"
pytestmark = pytest.mark.skipif(not (SAMPLE / "tiantai.gpkg").exists(), reason="sample dataset not generated")
AS_OF = "2025-06-30"
CONFIRMED = {"planning": True, "fire_safety": True, "environment": True, "contract_permits": True}


def _clean(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if v is None or (isinstance(v, float) and v != v) or (hasattr(v, "to_pydatetime") and v != v):
            continue
        out[k] = v.to_pydatetime().date() if hasattr(v, "to_pydatetime") else v
    return out


class GpkgRegister:
    """StoredLookup over the sample GeoPackage (the service implements the same over PostGIS)."""

    def __init__(self, path: Path):
        import geopandas as gpd

        parcels = gpd.read_file(path, layer="parcels")
        self.parcels = parcels[parcels["retired_on"].isna()].set_index("parcel_code", drop=False)
        self.buildings = gpd.read_file(path, layer="buildings")
        self.support = gpd.read_file(path, layer="support_land")
        self.years = gpd.read_file(path, layer="holder_years")
        self.tree = shapely.STRtree(self.parcels.geometry.values)

    def holder(self, credit_code: str, *, year: int):
        rows = self.years[(self.years["credit_code"] == credit_code) & (self.years["year"] == year)]
        if rows.empty:
            return None
        r = rows.iloc[0]
        return {"name": r["holder_name"], "rating": r["rating"], "compliance_flags": r["compliance_flags"] or ""}

    def parcel(self, parcel_code: str, *, as_of: date):
        if parcel_code not in self.parcels.index:
            return None
        row = self.parcels.loc[parcel_code]
        props = _clean(row.drop("geometry").to_dict())
        props["holder"] = {"name": props.get("holder_name"), "credit_code": props.get("holder_credit_code")}
        feats = lambda df: [StoredFeature(_clean(r.drop("geometry").to_dict()), r.geometry)  # noqa: E731
                            for _, r in df[df["parcel_code"] == parcel_code].iterrows()]
        return StoredParcel(props, row.geometry, feats(self.buildings), feats(self.support))

    def parcels_intersecting(self, geometry, *, exclude, as_of):
        hits = self.tree.query(geometry, predicate="intersects")
        rows = self.parcels.iloc[hits]
        return [StoredFeature({"parcel_code": r["parcel_code"]}, r.geometry) for _, r in rows.iterrows()
                if r["parcel_code"] not in exclude]


@pytest.fixture(scope="module")
def register() -> GpkgRegister:
    return GpkgRegister(SAMPLE / "tiantai.gpkg")


@pytest.fixture(scope="module")
def showcase() -> dict:
    return json.loads((SAMPLE / "showcase.json").read_text(encoding="utf-8"))


def statuses(report: dict) -> dict:
    return {r["rule"]: r["status"] for r in report["results"]}


def _split_lots(register: GpkgRegister, code: str, x_cut: float) -> dict:
    parent = shapely.get_geometry(register.parcels.loc[code].geometry, 0)
    minx, miny, maxx, maxy = parent.bounds
    west = shapely.intersection(parent, shapely.box(minx - 1, miny - 1, x_cut, maxy + 1))
    east = shapely.intersection(parent, shapely.box(x_cut, miny - 1, maxx + 1, maxy + 1))
    return feature_collection([feature(west, label="W", retained=True),
                               feature(east, label="E", transferee=company(rating="B"))])


def test_register_is_a_stored_lookup(register):
    assert isinstance(register, StoredLookup)


def test_showcase_split(register, showcase):
    case = showcase["split_ok"]
    x_cut = case["cut_line_epsg4549"][0][0]
    req = {"as_of": AS_OF, "crs": "EPSG:4549", "parcel": case["parcel_code"],
           "lots": _split_lots(register, case["parcel_code"], x_cut), "confirmations": CONFIRMED}
    report = run_check("split", req, stored_lookup=register)
    st = statuses(report)
    assert report["rule_set"]["in_force_on_as_of"] is False  # the facts are of 2025; the policy ended 2023
    assert report["verdict"] == "pass", [(r["rule"], r["message_en"]) for r in report["results"]
                                         if r["status"] != "pass"]
    assert st["SPLIT-02"] == st["SPLIT-05"] == st["SPLIT-06"] == "pass"
    areas = {lot["label"]: lot["area_m2"] for lot in report["lots"]}
    assert areas == pytest.approx({"W": case["west_lot_area_m2"], "E": case["east_lot_area_m2"]}, abs=0.01)
    (r02,) = [r for r in report["results"] if r["rule"] == "SPLIT-02"]
    assert r02["measured"]["whole_buildings_per_lot"] == {"W": len(case["west_buildings"]),
                                                          "E": len(case["east_buildings"])}


def test_showcase_split_cutting_through_a_building_fails(register, showcase):
    case = showcase["split_ok"]
    parent = register.parcels.loc[case["parcel_code"]].geometry
    x_mid = float(shapely.centroid(register.buildings[register.buildings["parcel_code"] == case["parcel_code"]]
                                   .geometry.iloc[-1]).x)
    assert parent.bounds[0] < x_mid < parent.bounds[2]
    req = {"as_of": AS_OF, "crs": "EPSG:4549", "parcel": case["parcel_code"],
           "lots": _split_lots(register, case["parcel_code"], x_mid), "confirmations": CONFIRMED}
    st = statuses(run_check("split", req, stored_lookup=register))
    assert st["SPLIT-02"] == "fail"


@pytest.mark.parametrize(("kind", "rule"), [("produced_by_split", "SPLIT-07"), ("produced_by_merge", "SPLIT-08"),
                                            ("produced_by_edge_plot", "SPLIT-08")])
def test_lineage_refusals(register, showcase, kind, rule):
    code = showcase[kind][0]
    parent = register.parcels.loc[code].geometry
    x_mid = (parent.bounds[0] + parent.bounds[2]) / 2
    req = {"as_of": AS_OF, "crs": "EPSG:4549", "parcel": code, "lots": _split_lots(register, code, x_mid),
           "confirmations": CONFIRMED}
    assert statuses(run_check("split", req, stored_lookup=register))[rule] == "fail"


def test_showcase_merge(register, showcase):
    case = showcase["merge_ok"]
    req = {"as_of": AS_OF, "parcels": case["parcel_codes"], "holder": company(rating="B")}
    report = run_check("merge", req, stored_lookup=register)
    st = statuses(report)
    assert st["MERGE-01"] == st["MERGE-02"] == st["MERGE-06"] == "pass"
    (r02,) = [r for r in report["results"] if r["rule"] == "MERGE-02"]
    assert max(r02["measured"]["shared_edges_m"].values()) == pytest.approx(case["shared_edge_m"], abs=0.01)
    assert report["merged"]["lease_end_on"] == min(case["lease_end_on"])


@pytest.mark.parametrize("crs", ["EPSG:4549", "CRS84"])
def test_showcase_edge_plot(register, showcase, crs):
    case = showcase["edge_ok"]
    strip = shapely.from_wkt(case["strip_wkt_epsg4549"] if crs == "EPSG:4549" else case["strip_wkt_crs84"])
    if crs == "EPSG:4549":
        plots = feature_collection([feature(strip, crs="EPSG:4549", label="P1")])
    else:
        plots = feature_collection([{"type": "Feature", "properties": {"label": "P1"},
                                     "geometry": json.loads(shapely.to_geojson(strip))}])
    req = {"as_of": AS_OF, "parcel": case["parcel_code"], "plots": plots, "far_before": 1.0, "far_after": 1.3,
           "confirmations": {"industrial_guidance": True}}
    report = run_check("edge-plots", req, crs="EPSG:4549" if crs == "EPSG:4549" else None, stored_lookup=register)
    st = statuses(report)
    assert st["EDGE-01"] == st["EDGE-02"] == st["EDGE-04"] == "pass", report["results"]
    assert report["plots"][0]["area_m2"] == pytest.approx(case["strip_area_m2"], abs=0.01)
