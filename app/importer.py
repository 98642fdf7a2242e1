"""``landgis import``: write a validated source into the register in one transaction.

The file is read and checked by :func:`gis.sources.read_source`; here the rows are COPY-ed into
temporary staging tables and merged with set-based SQL:

* a parcel identical to its current version (same ``row_hash`` over attributes, geometry,
  buildings, support land and holder) is left alone, so importing a file twice changes nothing;
* a changed parcel retires its current version (``valid_to``) and gets a new one — nothing is
  ever deleted;
* a row with ``retired_on`` is history: it is added once as a retired version (or retires the
  current version of its code) and never changed by later imports;
* rows overlapping other current parcels, or naming a code that was retired, are reported and
  skipped; with ``strict`` any bad row refuses the whole file.

Everything happens inside one transaction, so an error leaves the database as it was.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import shapely
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Connection, text

from app.db import make_engine
from app.settings import Settings
from gis.attributes import BUILDING_ATTRS, PARCEL_ATTRS, SUPPORT_ATTRS
from gis.jurisdiction import load_jurisdiction
from gis.sources import Issue, SourceData, read_source

__all__ = ["ImportOptions", "ImportResult", "import_path", "import_source", "print_report"]

HASHED_PARCEL_COLS = [a.name for a in PARCEL_ATTRS if a.name not in ("retired_on",)]
STAGE_PARCEL_TYPES = {
    "str": "text",
    "date": "date",
    "float": "float8",
    "int": "float8",
    "bool": "boolean",
    "json": "jsonb",
    "list": "text[]",
}
IMPORT_LOCK = 7_310_230_001  # pg_advisory_xact_lock key: one import at a time


@dataclass
class ImportOptions:
    crs: str | None = None
    mapping_file: Path | None = None
    layer: str | None = None
    encoding: str | None = None
    strict: bool = False
    actor: str = "cli"


@dataclass
class ImportResult:
    path: str
    source_crs: str | None
    encoding: str | None
    counts: dict[str, int] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    refused: bool = False
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return any(self.counts.get(k, 0) for k in ("inserted", "updated", "retired", "holder_years", "disposals"))

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "path": self.path,
                "source_crs": self.source_crs,
                "encoding": self.encoding,
                "counts": self.counts,
                "refused": self.refused,
                "seconds": round(self.seconds, 3),
                "issues": [i.as_dict() for i in self.issues],
            },
            option=orjson.OPT_INDENT_2,
        )


class _Refused(Exception):
    pass


_HASH_KEYS = ("landgis-parcel-1", "landgis-parcel-2")  # two 64-bit hashes → one 128-bit digest


def _hashable(df: pd.DataFrame, attrs, wkb: np.ndarray) -> pd.DataFrame:
    """Columns pandas can hash: dates as datetime64, lists and JSON as canonical text, geometry as WKB."""
    out = pd.DataFrame(index=df.index)
    kinds = {a.name: a.kind for a in attrs}
    for col in (c for c in df.columns if c in kinds and c != "retired_on"):
        kind, s = kinds[col], df[col]
        if kind == "date":
            out[col] = pd.to_datetime(s, errors="coerce")
        elif kind in ("list", "json"):
            out[col] = s.map(_canon)
        elif kind == "bool":
            out[col] = s.map({True: 1, False: 0}).astype("float64")
        else:
            out[col] = s
    out["_wkb"] = wkb
    return out


def _per_code(df: pd.DataFrame, attrs, wkb: np.ndarray, key: str) -> pd.Series:
    """An order-independent 64-bit digest of the features of each parcel code (sum of row hashes)."""
    if len(df) == 0:
        return pd.Series(dtype="uint64")
    h = pd.util.hash_pandas_object(_hashable(df, attrs, wkb), index=False, hash_key=key)
    codes = df["parcel_code"].to_numpy()
    order = np.argsort(codes, kind="stable")
    sorted_codes, values = codes[order], h.to_numpy()[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    with np.errstate(over="ignore"):
        sums = np.add.reduceat(values, starts)
    return pd.Series(sums, index=sorted_codes[starts])


def _row_hashes(src: SourceData, wkb: dict[str, np.ndarray]) -> list[str]:
    """A 128-bit digest per parcel row over everything the register stores about it.

    Vectorised (pandas' SipHash of each row), so 200,000 rows hash in well under a second.
    """
    p = src.parcels
    base = _hashable(p[HASHED_PARCEL_COLS], PARCEL_ATTRS, wkb["parcels"])
    digests = []
    codes = p["parcel_code"].to_numpy()
    for key in _HASH_KEYS:
        parts = {"parcel": pd.util.hash_pandas_object(base, index=False, hash_key=key).to_numpy()}
        for name, attrs in (("buildings", BUILDING_ATTRS), ("support_land", SUPPORT_ATTRS)):
            per = _per_code(getattr(src, name), attrs, wkb[name], key)
            parts[name] = per.reindex(codes).fillna(0).to_numpy(dtype="uint64")
        digests.append(pd.util.hash_pandas_object(pd.DataFrame(parts), index=False, hash_key=key).to_numpy())
    return [f"{a:016x}{b:016x}" for a, b in zip(digests[0], digests[1], strict=True)]


def _canon(v) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, dict):
        return orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()
    if isinstance(v, list | tuple | np.ndarray):
        return ",".join(map(str, v))
    return str(v)


def _py(v):
    """A value COPY can write: NaN → None, numpy scalars → Python."""
    if v is None:
        return None
    if isinstance(v, float) and np.isnan(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, dict):
        return orjson.dumps(v).decode()
    return v


def _copy(conn: Connection, table: str, columns: list[str], pg_types: list[str], rows, advance=None) -> None:
    """COPY Python rows (small tables)."""
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:
        cols = ", ".join(columns)
        with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            copy.set_types(pg_types)
            for n, row in enumerate(rows, 1):
                copy.write_row(row)
                if advance and n % 10_000 == 0:
                    advance(10_000)


_COPY_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))
NULL = "\\N"


def _copy_text(s: pd.Series, kind: str) -> pd.Series:
    """One column in COPY text format, built column-wise (much faster than row-wise adaptation)."""
    present = s.notna()
    if kind == "float":
        out = s.astype("float64").astype(str)
    elif kind == "bool":
        out = s.map({True: "t", False: "f"})
    elif kind == "date":
        out = pd.to_datetime(s, errors="coerce").dt.strftime("%Y-%m-%d")
        present = out.notna()
    elif kind == "list":
        out = s.map(lambda v: "{" + ",".join('"' + str(x).replace("\\", "\\\\").replace('"', '\\"') + '"'
                                             for x in v) + "}" if isinstance(v, list | tuple) else None)
        present = out.notna()
    elif kind == "json":
        out = s.map(lambda v: orjson.dumps(v).decode() if v is not None else None)
        present = out.notna()
    elif kind == "int":
        out = s.astype("Int64").astype(str)
    else:
        out = s.astype(str)
    if kind in ("str", "list", "json"):
        joined = "".join(out[present].tolist())
        for a, b in _COPY_ESCAPES:
            if a in joined:
                out = out.str.replace(a, b, regex=False)
    return out.where(present, NULL)


def _copy_frame(conn: Connection, table: str, frame: pd.DataFrame, kinds: dict[str, str], advance=None,
                extra: dict[str, np.ndarray | list] | None = None) -> None:
    """COPY columns of ``frame`` (and ``extra`` arrays of the same length) in blocks.

    Each block is formatted column-wise, so memory stays bounded and no copy of the frame is made.
    """
    if len(frame) == 0:
        return
    extra = extra or {}
    cols = list(kinds)
    raw = conn.connection.driver_connection
    chunk = 20_000
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
        for start in range(0, len(frame), chunk):
            block = frame.iloc[start:start + chunk]
            text_cols = [
                _copy_text(pd.Series(extra[c][start:start + chunk], index=block.index) if c in extra else block[c],
                           kinds[c]).to_numpy(dtype=object)
                for c in cols
            ]
            copy.write("\n".join("\t".join(parts) for parts in zip(*text_cols, strict=True)) + "\n")
            if advance:
                advance(len(block))


def _ewkb(src: SourceData, srid: int) -> dict[str, np.ndarray]:
    """Hex EWKB of every layer's geometry, computed once for hashing and staging."""
    return {name: shapely.to_wkb(shapely.set_srid(np.asarray(getattr(src, name).geometry.array), srid), hex=True,
                                 include_srid=True)
            for name in ("parcels", "buildings", "support_land")}


def _stage(conn: Connection, src: SourceData, hashes: list[str], wkb: dict[str, np.ndarray], advance) -> None:
    p = src.parcels
    attr_cols = [a.name for a in PARCEL_ATTRS]
    kinds = {a.name: a.kind for a in PARCEL_ATTRS}
    defs = ", ".join(f"{c} {STAGE_PARCEL_TYPES[kinds[c]]}" for c in attr_cols)
    conn.execute(text(
        f"CREATE TEMP TABLE stage_parcels (row int, {defs}, extra jsonb, row_hash text, geom geometry) ON COMMIT DROP"))
    _copy_frame(conn, "stage_parcels", p,
                {"row": "int", **kinds, "extra": "json", "row_hash": "str", "geom": "str"}, advance,
                extra={"row_hash": hashes, "geom": wkb["parcels"]})
    conn.execute(text("CREATE INDEX ON stage_parcels (parcel_code)"))
    conn.execute(text("ANALYZE stage_parcels"))

    for name, attrs in (("buildings", BUILDING_ATTRS), ("support_land", SUPPORT_ATTRS)):
        df = getattr(src, name)
        cols = [a.name for a in attrs]
        ktypes = {a.name: ("str" if a.kind == "str" else "float") for a in attrs}
        pg = {"str": "text", "float": "float8"}
        conn.execute(text(
            f"CREATE TEMP TABLE stage_{name} (row int, {', '.join(f'{c} {pg[ktypes[c]]}' for c in cols)}, "
            "geom geometry) ON COMMIT DROP"))
        if len(df) == 0:
            continue
        _copy_frame(conn, f"stage_{name}", df, {"row": "int", **ktypes, "geom": "str"}, extra={"geom": wkb[name]})


_HOLDERS_SQL = """
INSERT INTO holders (name, credit_code)
SELECT DISTINCT ON (credit_code) name, credit_code FROM (
  SELECT holder_name AS name, holder_credit_code AS credit_code FROM stage_parcels
   WHERE holder_name IS NOT NULL AND holder_credit_code IS NOT NULL
  UNION ALL
  SELECT holder_name, credit_code FROM stage_holder_years WHERE holder_name IS NOT NULL
) h ORDER BY credit_code, name
ON CONFLICT (credit_code) WHERE credit_code IS NOT NULL DO UPDATE SET name = excluded.name
  WHERE holders.name IS DISTINCT FROM excluded.name;
INSERT INTO holders (name)
SELECT DISTINCT holder_name FROM stage_parcels WHERE holder_name IS NOT NULL AND holder_credit_code IS NULL
ON CONFLICT (name) WHERE credit_code IS NULL DO NOTHING;
"""

_OVERLAP_SQL = """
SELECT s.row, s.parcel_code, p.parcel_code AS other, ST_Area(ST_Intersection(s.geom, p.geom)) AS area
FROM stage_parcels s
JOIN parcels p ON p.valid_to IS NULL AND p.geom && s.geom AND p.parcel_code <> s.parcel_code
WHERE s.retired_on IS NULL
  AND NOT EXISTS (SELECT 1 FROM stage_parcels s2 WHERE s2.parcel_code = p.parcel_code AND s2.retired_on IS NULL)
  AND (least(ST_XMax(s.geom), ST_XMax(p.geom)) - greatest(ST_XMin(s.geom), ST_XMin(p.geom)))
    * (least(ST_YMax(s.geom), ST_YMax(p.geom)) - greatest(ST_YMin(s.geom), ST_YMin(p.geom))) > :sliver
  AND ST_Area(ST_Intersection(s.geom, p.geom)) > :sliver
"""

_RETIRED_CODE_SQL = """
SELECT s.row, s.parcel_code FROM stage_parcels s
WHERE s.retired_on IS NULL
  AND NOT EXISTS (SELECT 1 FROM parcels p WHERE p.parcel_code = s.parcel_code AND p.valid_to IS NULL)
  AND EXISTS (SELECT 1 FROM parcels p WHERE p.parcel_code = s.parcel_code AND p.retired_by IS NOT NULL)
"""

_ACTIONS_SQL = """
CREATE TEMP TABLE stage_actions ON COMMIT DROP AS
SELECT s.row, s.parcel_code, cur.id AS current_id,
  CASE
    WHEN s.retired_on IS NULL AND cur.id IS NULL THEN 'insert'
    WHEN s.retired_on IS NULL AND cur.row_hash = s.row_hash THEN 'unchanged'
    WHEN s.retired_on IS NULL THEN 'update'
    WHEN cur.id IS NOT NULL THEN 'retire'
    WHEN EXISTS (SELECT 1 FROM parcels p WHERE p.parcel_code = s.parcel_code) THEN 'unchanged'
    ELSE 'insert_retired'
  END AS action
FROM stage_parcels s
LEFT JOIN parcels cur ON cur.parcel_code = s.parcel_code AND cur.valid_to IS NULL
"""

_RETIRE_SQL = """
UPDATE parcels p SET valid_to = greatest(p.valid_from,
    CASE WHEN s.retired_on IS NULL THEN now()
         ELSE (s.retired_on::timestamp AT TIME ZONE 'Asia/Shanghai') END)
FROM stage_actions a JOIN stage_parcels s ON s.row = a.row
WHERE p.id = a.current_id AND a.action IN ('update', 'retire')
"""


def _insert_sql(columns: list[str]) -> str:
    cols = ", ".join(columns)
    defaults = {
        "standard_land": "false",
        "industrial_real_estate": "false",
        "no_split": "false",
        "produced_by": "'original'",
        "parent_codes": "'{}'::text[]",
    }
    sel = ", ".join(f"coalesce(s.{c}, {defaults[c]})" if c in defaults else f"s.{c}" for c in columns)
    return f"""
CREATE TEMP TABLE new_versions ON COMMIT DROP AS
WITH ins AS (
  INSERT INTO parcels ({cols}, holder_id, geom, extra, row_hash, source, valid_from, valid_to)
  SELECT {sel}, coalesce(hc.id, hn.id), ST_Multi(s.geom), s.extra, s.row_hash, :source,
    CASE WHEN s.retired_on IS NULL THEN now()
         ELSE least(now(), (coalesce(s.supplied_on, s.approved_on, s.retired_on)::timestamp
                            AT TIME ZONE 'Asia/Shanghai'),
                    (s.retired_on::timestamp AT TIME ZONE 'Asia/Shanghai')) END,
    CASE WHEN s.retired_on IS NULL THEN NULL
         ELSE (s.retired_on::timestamp AT TIME ZONE 'Asia/Shanghai') END
  FROM stage_parcels s JOIN stage_actions a ON a.row = s.row
  LEFT JOIN holders hc ON hc.credit_code = s.holder_credit_code
  LEFT JOIN holders hn ON s.holder_credit_code IS NULL AND hn.credit_code IS NULL AND hn.name = s.holder_name
  WHERE a.action IN ('insert', 'update', 'insert_retired')
  ORDER BY s.geom  -- Hilbert order: neighbouring rows land in neighbouring GiST pages
  RETURNING id, parcel_code, valid_to IS NULL AS current
)
SELECT DISTINCT ON (parcel_code) id, parcel_code FROM ins ORDER BY parcel_code, current DESC
"""


_CHILDREN_SQL = {
    "buildings": """
INSERT INTO buildings (parcel_id, number, floors, height_m, floor_area_m2, use, geom)
SELECT n.id, b.number, b.floors::int, b.height_m, b.floor_area_m2, b.use, b.geom
FROM stage_buildings b JOIN new_versions n USING (parcel_code)
ORDER BY b.geom
""",
    "support_land": """
INSERT INTO support_land (parcel_id, kind, floor_area_m2, geom)
SELECT n.id, coalesce(b.kind, '行政办公'), b.floor_area_m2, b.geom
FROM stage_support_land b JOIN new_versions n USING (parcel_code)
ORDER BY b.geom
""",
}

_HOLDER_YEARS_SQL = """
INSERT INTO holder_years AS hy (holder_id, year, rating, tax_wan, revenue_wan, value_added_wan, above_scale,
                                compliance_flags)
SELECT h.id, s.year, s.rating, s.tax_wan, s.revenue_wan, s.value_added_wan, s.above_scale, s.compliance_flags
FROM stage_holder_years s JOIN holders h ON h.credit_code = s.credit_code
ON CONFLICT (holder_id, year) DO UPDATE SET rating = excluded.rating, tax_wan = excluded.tax_wan,
  revenue_wan = excluded.revenue_wan, value_added_wan = excluded.value_added_wan,
  above_scale = excluded.above_scale, compliance_flags = excluded.compliance_flags
WHERE (hy.rating, hy.tax_wan, hy.revenue_wan, hy.value_added_wan, hy.above_scale, hy.compliance_flags)
  IS DISTINCT FROM (excluded.rating, excluded.tax_wan, excluded.revenue_wan, excluded.value_added_wan,
                    excluded.above_scale, excluded.compliance_flags)
"""


def _stage_tables(conn: Connection, src: SourceData) -> None:
    conn.execute(
        text(
            "CREATE TEMP TABLE stage_holder_years (credit_code text, holder_name text, year int, rating text, "
            "tax_wan numeric, revenue_wan numeric, value_added_wan numeric, above_scale boolean, "
            "compliance_flags text[]) ON COMMIT DROP"
        )
    )
    hy = src.holder_years
    if len(hy):
        kinds = {"credit_code": "str", "holder_name": "str", "year": "int", "rating": "str", "tax_wan": "float",
                 "revenue_wan": "float", "value_added_wan": "float", "above_scale": "bool",
                 "compliance_flags": "list"}
        _copy_frame(conn, "stage_holder_years", hy, kinds)
    conn.execute(
        text(
            "CREATE TEMP TABLE stage_disposals (parcel_code text, method text, area_m2 float8, disposed_on date, "
            "note text) ON COMMIT DROP"
        )
    )
    d = src.disposals
    if len(d):
        cols = ["parcel_code", "method", "area_m2", "disposed_on", "note"]
        _copy(
            conn,
            "stage_disposals",
            cols,
            ["text", "text", "float8", "date", "text"],
            ([_py(v) for v in rec] for rec in d[cols].astype(object).to_numpy()),
        )


def _only_changed(conn: Connection, src: SourceData, wkb: dict[str, np.ndarray], hashes: list[str]):
    """Drop rows identical to what the register holds before anything is sent to the database.

    A current row whose code has a current version with the same hash, and a retired row whose code
    is already history (and not current), change nothing; their buildings and support land go too.
    Returns the reduced source, EWKB arrays and hashes, and how many rows were dropped.
    """
    p = src.parcels
    codes = p["parcel_code"].to_numpy()
    current = p["retired_on"].isna().to_numpy()
    registered = dict(conn.execute(
        text("SELECT parcel_code, row_hash FROM parcels WHERE valid_to IS NULL AND parcel_code = ANY(:c)"),
        {"c": codes.tolist()}).all())
    history = set(conn.execute(
        text("SELECT DISTINCT parcel_code FROM parcels WHERE parcel_code = ANY(:c)"),
        {"c": codes[~current].tolist()}).scalars())
    same = np.array([
        registered.get(code) == h if cur else (code in history and code not in registered)
        for code, h, cur in zip(codes, hashes, current, strict=True)
    ], dtype=bool)
    if not same.any():
        return src, wkb, hashes, 0
    keep = ~same
    kept_codes = set(codes[keep])
    frames = {"parcels": keep}
    for name in ("buildings", "support_land"):
        frames[name] = getattr(src, name)["parcel_code"].isin(kept_codes).to_numpy()
    reduced = dataclasses.replace(src, **{name: getattr(src, name)[mask] for name, mask in frames.items()})
    reduced_wkb = {name: wkb[name][mask] for name, mask in frames.items()}
    reduced_hashes = [h for h, k in zip(hashes, keep, strict=True) if k]
    return reduced, reduced_wkb, reduced_hashes, int(same.sum())


def import_source(
    conn: Connection,
    src: SourceData,
    opts: ImportOptions,
    *,
    srid: int,
    sliver_area_m2: float,
    advance: Callable[[int], None] | None = None,
) -> ImportResult:
    """Merge a read source into the register on ``conn`` (inside the caller's transaction)."""
    t0 = time.perf_counter()
    result = ImportResult(str(src.path), src.source_crs, src.encoding, issues=list(src.issues))
    if opts.strict and src.errors:
        result.refused = True
        raise _Refused(result)
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": IMPORT_LOCK})
    wkb = _ewkb(src, srid)
    hashes = _row_hashes(src, wkb)
    n_valid = len(src.parcels)
    src, wkb, hashes, n_same = _only_changed(conn, src, wkb, hashes)
    if advance:
        advance(n_same)
    _stage(conn, src, hashes, wkb, advance)
    _stage_tables(conn, src)

    bad_rows: dict[int, Issue] = {}
    for row, code, other, area in conn.execute(text(_OVERLAP_SQL), {"sliver": sliver_area_m2}):
        bad_rows.setdefault(
            row,
            Issue(
                "parcels",
                row,
                "overlap-existing",
                "error",
                f"与库中现有宗地 {other} 重叠 {area:.2f} ㎡",
                f"overlaps the registered parcel {other} by {area:.2f} m²",
                code,
            ),
        )
    for row, code in conn.execute(text(_RETIRED_CODE_SQL)):
        bad_rows.setdefault(
            row,
            Issue(
                "parcels",
                row,
                "code-retired",
                "error",
                f"宗地代码 {code} 已因分割/合并注销，代码不得重复使用",
                f"parcel code {code} was retired by an operation; codes are never reused",
                code,
            ),
        )
    result.issues.extend(bad_rows.values())
    if bad_rows:
        if opts.strict:
            result.refused = True
            raise _Refused(result)
        conn.execute(text("DELETE FROM stage_parcels WHERE row = ANY(:rows)"), {"rows": list(bad_rows)})

    conn.execute(text(_HOLDERS_SQL))
    conn.execute(text(_ACTIONS_SQL))
    actions = dict(conn.execute(text("SELECT action, count(*) FROM stage_actions GROUP BY action")).all())
    conn.execute(text(_RETIRE_SQL))
    conn.execute(
        text(
            _insert_sql(
                [a.name for a in PARCEL_ATTRS if a.name not in ("holder_name", "holder_credit_code", "retired_on")]
            )
        ),
        {"source": Path(src.path).name},
    )
    n_build = conn.execute(text(_CHILDREN_SQL["buildings"])).rowcount
    n_support = conn.execute(text(_CHILDREN_SQL["support_land"])).rowcount
    n_hy = conn.execute(text(_HOLDER_YEARS_SQL)).rowcount
    n_disp = conn.execute(
        text(
            "INSERT INTO disposals (parcel_code, method, area_m2, disposed_on, note) "
            "SELECT parcel_code, method, round(area_m2::numeric, 2), disposed_on, note FROM stage_disposals "
            "ON CONFLICT ON CONSTRAINT disposals_natural_uq DO NOTHING"
        )
    ).rowcount
    result.counts = {
        "read": src.rows_read.get("parcels", 0),
        "inserted": actions.get("insert", 0) + actions.get("insert_retired", 0),
        "updated": actions.get("update", 0),
        "retired": actions.get("retire", 0),
        "unchanged": actions.get("unchanged", 0) + n_same,
        "skipped": src.rows_read.get("parcels", 0) - n_valid + len(bad_rows),
        "buildings": n_build,
        "support_land": n_support,
        "holder_years": n_hy,
        "disposals": n_disp,
    }
    result.seconds = time.perf_counter() - t0
    if result.counts["inserted"] + result.counts["updated"] + result.counts["holder_years"] > 1000:
        # fresh statistics, or the planner keeps the estimates of an empty table (seq scans, 1 s pages)
        conn.execute(text("ANALYZE parcels, buildings, support_land, holders, holder_years"))
    if result.changed:
        conn.execute(
            text("INSERT INTO audit_log (actor, action, target, detail) VALUES (:a, 'import', :t, :d)"),
            {
                "a": opts.actor,
                "t": Path(src.path).name,
                "d": orjson.dumps(
                    {"counts": result.counts, "errors": len([i for i in result.issues if i.severity == "error"])}
                ).decode(),
            },
        )
    return result


def import_path(
    settings: Settings, path: Path, opts: ImportOptions, *, progress: bool = False, engine=None
) -> ImportResult:
    """Read ``path`` and import it in one transaction; returns the result (``refused`` if strict failed)."""
    jurisdiction = load_jurisdiction(settings.jurisdiction)
    t0 = time.perf_counter()
    own_engine = engine is None
    engine = engine or make_engine(settings)
    prog = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not progress,
        transient=False,
    )
    try:
        with prog:
            task = prog.add_task(f"读取 / reading {path.name}", total=None)
            src = read_source(
                path,
                jurisdiction=jurisdiction,
                crs=opts.crs,
                mapping_file=opts.mapping_file,
                layer=opts.layer,
                encoding=opts.encoding,
            )
            prog.update(
                task, description=f"写入 / writing {len(src.parcels)} parcels", total=len(src.parcels), completed=0
            )
            try:
                with engine.begin() as conn:
                    result = import_source(
                        conn,
                        src,
                        opts,
                        srid=jurisdiction.storage_epsg,
                        sliver_area_m2=jurisdiction.sliver_area_m2,
                        advance=lambda n: prog.advance(task, n),
                    )
            except _Refused as refused:
                result = refused.args[0]
            prog.update(task, completed=len(src.parcels))
    finally:
        if own_engine:
            engine.dispose()
    result.seconds = time.perf_counter() - t0
    return result


def print_report(result: ImportResult, console: Console) -> None:
    """The validation report: counts, then every issue with its layer and row number."""
    counts = Table(title=f"导入 / import: {Path(result.path).name}  ({result.seconds:.2f} s)")
    counts.add_column("项目 / item")
    counts.add_column("数量 / count", justify="right")
    labels = {
        "read": "读取 read",
        "inserted": "新增 inserted",
        "updated": "更新(新版本) updated",
        "retired": "注销 retired",
        "unchanged": "未变 unchanged",
        "skipped": "跳过 skipped",
        "buildings": "幢 buildings",
        "support_land": "配套用地 support land",
        "holder_years": "企业年度数据 holder years",
        "disposals": "盘活记录 disposals",
    }
    for key, label in labels.items():
        counts.add_row(label, str(result.counts.get(key, 0)))
    console.print(counts)
    if result.issues:
        table = Table(title="校验报告 / validation report")
        for col in ("级别 severity", "图层 layer", "行 row", "宗地代码 code", "问题 problem"):
            table.add_column(col)
        order = {"error": 0, "warning": 1}
        for issue in sorted(result.issues, key=lambda i: (order[i.severity], i.layer, i.row or 0)):
            style = "red" if issue.severity == "error" else "yellow"
            table.add_row(
                f"[{style}]{issue.severity}[/{style}]",
                issue.layer,
                str(issue.row or ""),
                issue.parcel_code or "",
                f"{issue.message_zh} / {issue.message_en}",
            )
        console.print(table)
    if result.refused:
        console.print(
            "[red]--strict：文件有错误，整个文件未导入 / the file has errors and was refused as a whole[/red]"
        )
