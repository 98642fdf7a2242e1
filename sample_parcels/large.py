"""Large mode: ``n`` plain rectangular parcels (2–8 mu) in a grid inside the county, vectorised.

Same schema as the committed sample, none of its stories: every parcel is an original, supplied
and in production, with 1–3 buildings. Built with numpy and shapely 2 array functions only (no
Python loop over parcels), for load tests of the importer, the database and the OGC endpoints.
Dates are ``datetime64[D]`` arrays here, not ``datetime.date`` objects.
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import STRtree

from gis.attributes import BUILDING_ATTRS, HOLDER_YEAR_ATTRS, PARCEL_ATTRS, SUPPORT_ATTRS
from gis.crs import CRS84, transformer
from gis.jurisdiction import Jurisdiction
from gis.units import MU_M2

from .county import DEV_ZONE_CENTER
from .ids import _TRADE_1, _TRADE_2, CREDIT_CHARSET, INDUSTRIES, PREFIXES

__all__ = ["build_large"]

EPSG = 4549
_CREDIT_W = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
_ORG_W = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_CHARSET_BYTES = np.frombuffer(CREDIT_CHARSET.encode("ascii"), dtype=np.uint8)
_INDICATORS = np.array([json.dumps(d, ensure_ascii=False) for d in (
    {"亩均税收_万元": 25, "容积率": 1.2, "亩均投资_万元": 250},
    {"亩均税收_万元": 30, "容积率": 1.5, "亩均投资_万元": 300},
    {"亩均税收_万元": 35, "容积率": 1.8, "亩均投资_万元": 350},
)], dtype=object)


def _cells(outline, n: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Centres of ``n`` square cells wholly inside ``outline``, nearest the 开发区 first."""
    minx, miny, maxx, maxy = outline.bounds
    pitch = min(90.0, float(np.sqrt(outline.area * 0.85 / n)))
    while True:
        xs = np.arange(minx + pitch / 2, maxx, pitch)
        ys = np.arange(miny + pitch / 2, maxy, pitch)
        cx, cy = (a.ravel() for a in np.meshgrid(xs, ys))
        h = pitch / 2
        inside = np.ones(cx.shape, dtype=bool)
        for dx, dy in ((-h, -h), (h, -h), (h, h), (-h, h)):
            inside &= shapely.contains_xy(outline, cx + dx, cy + dy)
        cx, cy = cx[inside], cy[inside]
        if len(cx) >= n:
            break
        pitch *= float(np.sqrt(len(cx) / n)) * 0.98
    zx, zy = transformer(CRS84, f"EPSG:{EPSG}").transform(*DEV_ZONE_CENTER)
    pick = np.argsort(np.hypot(cx - zx, cy - zy), kind="stable")[:n]
    pick = pick[np.lexsort((cx[pick], cy[pick]))]  # south to north, west to east
    return cx[pick], cy[pick], pitch


def _strs(*parts) -> np.ndarray:
    """Element-wise concatenation of string arrays / scalars into an object array."""
    out = np.asarray(parts[0]).astype(str)
    for p in parts[1:]:
        out = np.char.add(out, np.asarray(p).astype(str))
    return out.astype(object)


def _zfill(a: np.ndarray, width: int) -> np.ndarray:
    return np.char.zfill(a.astype(str), width)


def _credit_codes(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct 91331023… codes with GB 11714 and GB 32100 check characters."""
    body = rng.choice(90_000_000, size=n, replace=False) + 10_000_000
    digits = (body[:, None] // 10 ** np.arange(7, -1, -1)) % 10
    c9 = 11 - (digits @ _ORG_W) % 11
    org_check = np.where(c9 == 10, CREDIT_CHARSET.index("X"), np.where(c9 == 11, 0, c9))
    head = np.broadcast_to(np.array([9, 1, 3, 3, 1, 0, 2, 3]), (n, 8))
    vals = np.column_stack([head, digits, org_check])
    check = (31 - (vals @ _CREDIT_W) % 31) % 31
    ascii_codes = _CHARSET_BYTES[np.column_stack([vals, check])]
    return np.ascontiguousarray(ascii_codes).view("S18").ravel().astype(str).astype(object)


def _names(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    t1, t2 = np.array(list(_TRADE_1)), np.array(list(_TRADE_2))
    ind = np.array([i for i, _ in INDUSTRIES])
    pre = np.array(PREFIXES)
    sizes = (len(pre), len(t1), len(t2), len(t1), len(ind))
    combo = rng.choice(int(np.prod(sizes)), size=n, replace=False)
    idx = np.unravel_index(combo, sizes)
    trade = np.char.add(np.char.add(t1[idx[1]], t2[idx[2]]), t1[idx[3]])
    short = np.char.add(trade, ind[idx[4]])
    return _strs(pre[idx[0]], short, "有限公司"), short.astype(object)


def _typed_empty(attrs) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({a.name: pd.Series([], dtype=object) for a in attrs},
                            geometry=gpd.GeoSeries([], crs=EPSG), crs=EPSG)


def build_large(n: int, seed: int, jur: Jurisdiction):
    """The large-mode :class:`~sample_parcels.generate.SampleData` (parcels, buildings, holder_years)."""
    from .generate import SampleData

    rng = np.random.default_rng(seed)
    outline = jur.outline_storage
    cx, cy, pitch = _cells(outline, n)

    # parcels: a rectangle strictly inside its cell, so neighbours are ≥ 2 m apart
    w = np.round(pitch * rng.uniform(0.5, 0.8, n), 2)
    h = np.round(pitch * rng.uniform(0.5, 0.8, n), 2)
    x0 = np.round(cx - pitch / 2 + 1 + rng.uniform(0, 1, n) * (pitch - 2 - w), 2)
    y0 = np.round(cy - pitch / 2 + 1 + rng.uniform(0, 1, n) * (pitch - 2 - h), 2)
    polys = shapely.box(x0, y0, x0 + w, y0 + h)
    area = shapely.area(polys)

    # buildings: 1–3 side by side, 4 m setback, 6 m apart
    nb = rng.integers(1, 4, n)
    pi = np.repeat(np.arange(n), nb)
    j = np.arange(nb.sum()) - np.repeat(np.cumsum(nb) - nb, nb)
    bw = (w[pi] - 8 - 6 * (nb[pi] - 1)) / nb[pi]
    bx0 = x0[pi] + 4 + j * (bw + 6)
    by0 = y0[pi] + 4
    bh = (h[pi] - 8) * rng.uniform(0.5, 0.9, len(pi))
    bpolys = shapely.box(np.round(bx0, 2), np.round(by0, 2), np.round(bx0 + bw, 2), np.round(by0 + bh, 2))
    floors = rng.integers(1, 5, len(pi))
    b_floor_area = np.round(shapely.area(bpolys) * floors, 2)
    floor_area = np.round(np.bincount(pi, weights=b_floor_area, minlength=n), 2)

    # codes: 地籍区 of the nearest town centre, 20 000 parcels per 地籍子区
    to_xy = transformer(CRS84, f"EPSG:{EPSG}")
    centres = np.array([to_xy.transform(*t.center) for t in jur.towns])
    zone = to_xy.transform(*DEV_ZONE_CENTER)
    town_idx = np.argmin(np.hypot(cx[:, None] - centres[:, 0], cy[:, None] - centres[:, 1]), axis=1)
    k = pd.Series(town_idx).groupby(town_idx).cumcount().to_numpy()
    districts = np.array([t.district for t in jur.towns])
    codes = _strs(jur.county_code, districts[town_idx], _zfill(k // 20000 + 1, 3), "GB",
                  _zfill(k % 20000 + 1, 5))

    # holders: most have one parcel
    n_h = max(1, int(n * 0.85))
    owner = np.concatenate([rng.permutation(n_h), rng.integers(0, n_h, n - n_h)])
    credit = _credit_codes(rng, n_h)
    names, shorts = _names(rng, n_h)

    # dates
    day = lambda lo, hi, size=n: rng.integers(lo, hi + 1, size).astype("timedelta64[D]")  # noqa: E731
    supplied = np.datetime64("2010-01-01") + day(0, 4017)
    approved = np.where(supplied >= np.datetime64("2012-09-01"), supplied - day(60, 600), np.datetime64("NaT"))
    approved = np.where(approved < np.datetime64("2012-03-01"), np.datetime64("2012-03-01"), approved)
    approved = approved.astype("datetime64[D]")
    agreed = supplied + day(90, 240)
    started = agreed + day(0, 120)
    completed = started + day(420, 900)
    production = completed + day(15, 150)
    months = supplied.astype("datetime64[M]")
    lease_end = (months + 600).astype("datetime64[D]") + (supplied - months.astype("datetime64[D]"))
    year_str = supplied.astype("datetime64[Y]").astype(int) + 1970
    standard = (supplied >= np.datetime64("2019-01-01")) & (rng.random(n) < 0.5)
    mu = area / MU_M2

    parcels = {
        "parcel_code": codes,
        "name": _strs(shorts[owner], "生产基地"),
        "town": np.array([t.name for t in jur.towns], dtype=object)[town_idx],
        "land_use": np.full(n, "工业用地", dtype=object),
        "land_use_code": np.full(n, "0601", dtype=object),
        "ownership_nature": np.full(n, "国有", dtype=object),
        "right_type": np.full(n, "出让", dtype=object),
        "holder_name": names[owner],
        "holder_credit_code": credit[owner],
        "declared_area_m2": np.round(area * (1 + rng.uniform(-0.003, 0.003, n)), 2),
        "approval_no": np.where(np.isnat(approved), None,
                                _strs("浙土字A〔", approved.astype("datetime64[Y]").astype(int) + 1970, "〕-",
                                      _zfill(rng.integers(1, 400, n), 4))),
        "approved_on": approved,
        "supplied_on": supplied,
        "contract_no": _strs("331023", year_str, "A2", _zfill(rng.integers(1000, 9999, n), 4)),
        "agreed_start_on": agreed,
        "agreed_completion_on": agreed + day(540, 1080),
        "construction_started_on": started,
        "completed_on": completed,
        "production_started_on": production,
        "halted_since": np.full(n, np.datetime64("NaT"), dtype="datetime64[D]"),
        "lease_end_on": lease_end,
        "developed_area_m2": np.round(area, 2),
        "far_planned": np.round(rng.uniform(1.2, 2.0, n), 1),
        "far_actual": np.round(floor_area / area, 2),
        "floor_area_m2": floor_area,
        "invested_wan": np.round(mu * rng.uniform(150, 500, n), 1),
        "planned_investment_wan": np.round(mu * rng.uniform(150, 450, n), 1),
        "standard_land": standard,
        "standard_land_indicators": np.where(standard, _INDICATORS[rng.integers(0, 3, n)], None),
        "industrial_real_estate": np.zeros(n, dtype=bool),
        "in_development_zone": np.hypot(cx - zone[0], cy - zone[1]) < 2500,
        "produced_by": np.full(n, "original", dtype=object),
        "parent_codes": np.full(n, None, dtype=object),
        "no_split": np.zeros(n, dtype=bool),
        "retired_on": np.full(n, np.datetime64("NaT"), dtype="datetime64[D]"),
        "remarks": np.full(n, None, dtype=object),
    }
    assert list(parcels) == [a.name for a in PARCEL_ATTRS]
    parcels_gdf = gpd.GeoDataFrame(parcels, geometry=gpd.GeoSeries(shapely.multipolygons(polys.reshape(-1, 1)),
                                                                   crs=EPSG), crs=EPSG)

    buildings = gpd.GeoDataFrame({
        "parcel_code": codes[pi],
        "number": (j + 1).astype(str).astype(object),
        "floors": floors.astype("int64"),
        "height_m": np.round(floors * 4.5 + 1.5, 1),
        "floor_area_m2": b_floor_area,
        "use": np.full(len(pi), "厂房", dtype=object),
    }, geometry=gpd.GeoSeries(bpolys, crs=EPSG), crs=EPSG)
    assert list(buildings.columns[:-1]) == [a.name for a in BUILDING_ATTRS]

    # holder-years: 2023 and 2024, tax per mu of the holder's parcels
    h_mu = np.bincount(owner, weights=mu, minlength=n_h)
    hy = np.repeat(np.arange(n_h), 2)
    t = np.clip(rng.lognormal(np.log(18), 0.6, len(hy)), 1, 80)
    tax = np.round(t * h_mu[hy], 2)
    revenue = np.round(tax / rng.uniform(0.03, 0.07, len(hy)), 1)
    holder_years = pd.DataFrame({
        "credit_code": credit[hy],
        "holder_name": names[hy],
        "year": np.tile([2023, 2024], n_h).astype("int64"),
        "rating": np.select([t >= 30, t >= 15, t > 5], ["A", "B", "C"], "D").astype(object),
        "tax_wan": tax,
        "revenue_wan": revenue,
        "value_added_wan": np.round(revenue * rng.uniform(0.18, 0.32, len(hy)), 1),
        "above_scale": revenue >= 2000,
        "compliance_flags": np.full(len(hy), "", dtype=object),
    })
    assert list(holder_years.columns) == [a.name for a in HOLDER_YEAR_ATTRS]

    left, right = STRtree(polys).query(polys, predicate="intersects")
    assert np.all(left == right), "large-mode parcels overlap"
    assert np.all(shapely.contains(polys[pi], bpolys)), "a building leaves its parcel"

    return SampleData(
        parcels=parcels_gdf, buildings=buildings, support_land=_typed_empty(SUPPORT_ATTRS),
        holder_years=holder_years,
        disposals=pd.DataFrame({c: pd.Series([], dtype=object)
                                for c in ("parcel_code", "method", "area_m2", "disposed_on", "note")}),
        expected=pd.DataFrame({c: pd.Series([], dtype=object) for c in ("parcel_code", "category", "criterion")}),
        seed=seed, large=True,
    )
