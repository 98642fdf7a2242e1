"""Generate the deterministic synthetic Tiantai sample dataset.

    python -m sample_parcels.generate                       # the committed files, in sample_parcels/
    python -m sample_parcels.generate --n 200000 --out DIR  # large mode: DIR/parcels.gpkg

Small mode (``n`` ≤ 1000, default 320) builds the showcase county of :mod:`sample_parcels.county`
and writes ``tiantai.gpkg``, ``geojson/``, ``shp/``, ``expected_categories.csv`` and
``showcase.json``. Large mode (``n`` > 1000, or ``--large``) builds a plain grid of small parcels
for load tests (:mod:`sample_parcels.large`) and writes only ``parcels.gpkg``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from gis.attributes import BUILDING_ATTRS, HOLDER_YEAR_ATTRS, PARCEL_ATTRS, QLXZ_CODES, SUPPORT_ATTRS, Attr
from gis.crs import CRS84
from gis.jurisdiction import load_jurisdiction

from .county import PURPOSE_CATEGORY, SAMPLE_AS_OF, CountyBuild, build_county
from .geometry import to_lonlat

__all__ = [
    "DEFAULT_N",
    "DEFAULT_SEED",
    "DISPOSAL_COLUMNS",
    "EXPECTED_COLUMNS",
    "LARGE_THRESHOLD",
    "SAMPLE_AS_OF",
    "SAMPLE_DIR",
    "SampleData",
    "generate",
    "main",
    "write_large",
    "write_sample",
]

DEFAULT_N = 320
DEFAULT_SEED = 20250630
LARGE_THRESHOLD = 1000
SAMPLE_DIR = Path(__file__).parent
STORAGE_EPSG = 4549
EXPECTED_COLUMNS = ("parcel_code", "category", "criterion")
DISPOSAL_COLUMNS = ("parcel_code", "method", "area_m2", "disposed_on", "note")
DISPOSAL_METHODS = ("收回", "收购储备", "协议转让", "兼并重组", "二次开发/技改")
_DISPOSAL_KINDS = {"parcel_code": "str", "method": "str", "area_m2": "float", "disposed_on": "date", "note": "str"}


@dataclass
class SampleData:
    """The sample in memory: layers as (Geo)DataFrames in EPSG:4549, dates as ``datetime.date``."""

    parcels: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    support_land: gpd.GeoDataFrame
    holder_years: pd.DataFrame
    disposals: pd.DataFrame
    expected: pd.DataFrame  # parcel_code, category, criterion: the intended category of each current parcel
    showcase: dict = field(default_factory=dict)
    seed: int = DEFAULT_SEED
    large: bool = False

    @property
    def current(self) -> gpd.GeoDataFrame:
        """Current parcel versions (not retired)."""
        return self.parcels[self.parcels["retired_on"].isna()]


def _typed(rows: list[dict], kinds: dict[str, str], geometry=None, geom_type: str | None = None):
    """A (Geo)DataFrame with one column per ``kinds`` key, in that order and of that kind."""
    data = {}
    for name, kind in kinds.items():
        values = [r.get(name) for r in rows]
        if kind == "float":
            data[name] = np.array([np.nan if v is None else float(v) for v in values], dtype="float64")
        elif kind == "int":
            data[name] = np.array(values, dtype="int64")
        elif kind == "bool":
            data[name] = np.array([bool(v) for v in values], dtype=bool)
        else:
            data[name] = pd.Series(values, dtype=object)
    if geometry is None:
        return pd.DataFrame(data)
    geoms = np.array(geometry, dtype=object)
    if geom_type == "MultiPolygon":
        geoms = shapely.multipolygons(geoms.reshape(-1, 1))
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geoms, crs=STORAGE_EPSG), crs=STORAGE_EPSG)


def _kinds(attrs: tuple[Attr, ...]) -> dict[str, str]:
    return {a.name: a.kind for a in attrs}


def _frames(build: CountyBuild, seed: int) -> SampleData:
    parcel_rows = []
    for lot in build.lots:
        row = dict(lot.attrs)
        row.update(parcel_code=lot.code, town=lot.town,
                   holder_name=lot.holder.name if lot.holder else None,
                   holder_credit_code=lot.holder.credit_code if lot.holder else None)
        parcel_rows.append(row)
    parcels = _typed(parcel_rows, _kinds(PARCEL_ATTRS), [lot.world for lot in build.lots], "MultiPolygon")
    buildings = _typed(build.buildings, _kinds(BUILDING_ATTRS), [b["geometry"] for b in build.buildings])
    support = _typed(build.support, _kinds(SUPPORT_ATTRS), [s["geometry"] for s in build.support])
    years = [dict(y, credit_code=h.credit_code, holder_name=h.name) for h in build.holders for y in h.years]
    years.sort(key=lambda r: (r["credit_code"], r["year"]))
    holder_years = _typed(years, _kinds(HOLDER_YEAR_ATTRS))
    disposals = _typed(build.disposals, _DISPOSAL_KINDS)
    expected = pd.DataFrame(
        [(lot.code, *PURPOSE_CATEGORY[lot.purpose]) for lot in build.lots if lot.current],
        columns=list(EXPECTED_COLUMNS),
    )
    return SampleData(parcels, buildings, support, holder_years, disposals, expected, build.showcase, seed)


def generate(n: int = DEFAULT_N, seed: int = DEFAULT_SEED, *, large: bool | None = None) -> SampleData:
    """Build the sample in memory: the showcase county (``n`` ≤ 1000) or the large grid.

    The same ``(n, seed)`` always gives the same codes, attributes and geometries.
    """
    jur = load_jurisdiction("tiantai")
    if large is None:
        large = n > LARGE_THRESHOLD
    if large:
        from .large import build_large

        return build_large(n, seed, jur)
    return _frames(build_county(n, seed, jur), seed)


# --- writing ---------------------------------------------------------------------------------


def _ogr_column(values: pd.Series, kind: str, *, shp: bool = False) -> np.ndarray:
    if kind == "date":
        if np.issubdtype(values.dtype, np.datetime64):  # large mode keeps dates as datetime64
            return values.to_numpy().astype("datetime64[D]")
        return np.array([np.datetime64(v, "D") if isinstance(v, date) else np.datetime64("NaT")
                         for v in values], dtype="datetime64[D]")
    if kind == "bool":
        arr = values.to_numpy(dtype=bool)
        return np.where(arr, "是", "否").astype(object) if shp else arr
    if kind == "float":
        return values.to_numpy(dtype="float64")
    if kind == "int":
        return values.to_numpy(dtype="int64")
    return values.to_numpy(dtype=object)


def _write_layer(path: Path, df: pd.DataFrame, kinds: dict[str, str], *, layer: str | None = None,
                 driver: str = "GPKG", fields: dict[str, str] | None = None, geometry=None,
                 geometry_type: str | None = None, crs: str | None = None, shp: bool = False,
                 encoding: str | None = None, layer_options: dict | None = None) -> None:
    """Write with explicit field types (pyogrio's raw writer keeps dates as OFTDate)."""
    names = list(kinds)
    data = [_ogr_column(df[c], kinds[c], shp=shp) for c in names]
    out_names = [fields.get(c, c) for c in names] if fields else names
    wkb = None if geometry is None else shapely.to_wkb(np.asarray(geometry, dtype=object))
    pyogrio.raw.write(
        str(path), wkb, data, out_names, layer=layer, driver=driver, geometry_type=geometry_type,
        crs=crs, encoding=encoding, layer_options=layer_options,
    )


def write_gpkg(data: SampleData, path: Path, *, layers: tuple[str, ...] | None = None) -> None:
    """``parcels``, ``buildings``, ``support_land``, ``holder_years``, ``disposals`` in one GeoPackage."""
    path.unlink(missing_ok=True)
    crs = f"EPSG:{STORAGE_EPSG}"
    spec = {
        "parcels": (data.parcels, _kinds(PARCEL_ATTRS), "MultiPolygon"),
        "buildings": (data.buildings, _kinds(BUILDING_ATTRS), "Polygon"),
        "support_land": (data.support_land, _kinds(SUPPORT_ATTRS), "Polygon"),
        "holder_years": (data.holder_years, _kinds(HOLDER_YEAR_ATTRS), None),
        "disposals": (data.disposals, _DISPOSAL_KINDS, None),
    }
    for name in layers or tuple(spec):
        df, kinds, gtype = spec[name]
        _write_layer(path, df, kinds, layer=name, geometry=df.geometry.values if gtype else None,
                     geometry_type=gtype, crs=crs if gtype else None)


def write_geojson(data: SampleData, folder: Path) -> None:
    """RFC 7946 GeoJSON (CRS84, 7 decimals, no ``crs`` member) and UTF-8 CSV of the tables."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, df, attrs in (("parcels", data.parcels, PARCEL_ATTRS), ("buildings", data.buildings, BUILDING_ATTRS),
                            ("support_land", data.support_land, SUPPORT_ATTRS)):
        path = folder / f"{name}.geojson"
        path.unlink(missing_ok=True)
        _write_layer(path, df, _kinds(attrs), layer=name, driver="GeoJSON",
                     geometry=to_lonlat(df.geometry.values, STORAGE_EPSG), crs=CRS84,
                     geometry_type="MultiPolygon" if name == "parcels" else "Polygon",
                     layer_options={"RFC7946": "YES", "COORDINATE_PRECISION": "7", "WRITE_NAME": "NO"})
    _csv(data.holder_years, _kinds(HOLDER_YEAR_ATTRS)).to_csv(folder / "holder_years.csv", index=False,
                                                             encoding="utf-8")
    _csv(data.disposals, _DISPOSAL_KINDS).to_csv(folder / "disposals.csv", index=False, encoding="utf-8")


def _csv(df: pd.DataFrame, kinds: dict[str, str], *, zh_bool: bool = False) -> pd.DataFrame:
    out = df[list(kinds)].copy()
    for c, k in kinds.items():
        if k == "bool":
            out[c] = np.where(out[c], "是" if zh_bool else "true", "否" if zh_bool else "false")
        elif k == "date":
            out[c] = [v.isoformat() if isinstance(v, date) else None for v in out[c]]
    return out


def qlxz_code(ownership: str | None, right_type: str | None) -> str | None:
    """The QLXZ (权利性质) code of an ownership nature and right type, e.g. 国有 + 出让 → "102"."""
    return next((code for code, pair in QLXZ_CODES.items() if pair == (ownership, right_type)), None)


def write_shapefiles(data: SampleData, folder: Path) -> None:
    """Shapefiles as survey contractors deliver them: EPSG:4549, GBK DBF, abbreviated field names."""
    folder.mkdir(parents=True, exist_ok=True)
    crs = f"EPSG:{STORAGE_EPSG}"
    for name, df, attrs in (("parcels", data.parcels, PARCEL_ATTRS), ("buildings", data.buildings, BUILDING_ATTRS),
                            ("support_land", data.support_land, SUPPORT_ATTRS)):
        for old in folder.glob(f"{name}.*"):
            old.unlink()
        kinds = _kinds(attrs)
        fields = {a.name: a.shp for a in attrs}
        df = df.copy()
        if name == "parcels":
            # contractors deliver a QLXZ code instead of 使用权类型 (QSXZ stays: unsupplied land has no QLXZ)
            df["qlxz"] = [qlxz_code(o, r) for o, r in zip(df["ownership_nature"], df["right_type"], strict=True)]
            kinds = {k: v for k, v in kinds.items() if k != "right_type"}
            kinds["qlxz"] = "str"
            fields["qlxz"] = "QLXZ"
        geoms = df.geometry.values
        if name == "parcels":
            geoms = shapely.get_geometry(geoms, 0)  # one ring set per record: write Polygon shapes
        _write_layer(folder / f"{name}.shp", df, kinds, driver="ESRI Shapefile", fields=fields,
                     geometry=geoms, geometry_type="Polygon", crs=crs, shp=True, encoding="GBK",
                     layer_options={"DBF_DATE_LAST_UPDATE": SAMPLE_AS_OF.isoformat()})
        cpg = folder / f"{name}.cpg"
        if cpg.read_text().strip() != "GBK":
            raise RuntimeError(f"{cpg} does not declare GBK")
    zh = _csv(data.holder_years, _kinds(HOLDER_YEAR_ATTRS), zh_bool=True)
    zh.columns = [a.label_zh for a in HOLDER_YEAR_ATTRS]
    zh.to_csv(folder / "holder_years.csv", index=False, encoding="utf-8-sig")


def write_sample(data: SampleData, out: Path) -> None:
    """The committed layout: GeoPackage, GeoJSON + CSV, Shapefiles, expected categories, showcase."""
    out.mkdir(parents=True, exist_ok=True)
    # byte-identical reruns: GDAL stamps GeoPackages with the current time unless told otherwise
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": f"{SAMPLE_AS_OF.isoformat()}T00:00:00Z"})
    try:
        write_gpkg(data, out / "tiantai.gpkg")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})
    write_geojson(data, out / "geojson")
    write_shapefiles(data, out / "shp")
    data.expected.to_csv(out / "expected_categories.csv", index=False, encoding="utf-8")
    (out / "showcase.json").write_text(json.dumps(data.showcase, ensure_ascii=False, indent=2) + "\n",
                                       encoding="utf-8")


def write_large(data: SampleData, out: Path) -> Path:
    """Large mode: ``DIR/parcels.gpkg`` with layers parcels, buildings, holder_years."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "parcels.gpkg"
    write_gpkg(data, path, layers=("parcels", "buildings", "holder_years"))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sample_parcels.generate", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=DEFAULT_N, help="current parcels (default %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default %(default)s)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: sample_parcels/ in small mode; required in large mode)")
    parser.add_argument("--large", action="store_true", help=f"large mode even for n ≤ {LARGE_THRESHOLD}")
    args = parser.parse_args(argv)
    large = args.large or args.n > LARGE_THRESHOLD
    if large and args.out is None:
        parser.error("large mode needs --out DIR (its output is not committed)")
    t0 = time.perf_counter()
    data = generate(args.n, args.seed, large=large)
    t1 = time.perf_counter()
    if large:
        path = write_large(data, args.out)
    else:
        path = args.out or SAMPLE_DIR
        write_sample(data, path)
    t2 = time.perf_counter()
    n_current = len(data.current)
    print(f"{n_current} current parcels ({len(data.parcels)} versions), {len(data.buildings)} buildings, "
          f"{len(data.holder_years)} holder-years -> {path}")
    print(f"generate {t1 - t0:.1f} s, write {t2 - t1:.1f} s, total {t2 - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
