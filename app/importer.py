"""``landgis import``: write a validated source into the register in one transaction.

The file is read and checked by :func:`gis.sources.read_source`. Two ways in:

* **An empty register** (no parcels, holders or holder years) is loaded by ``_EmptyLoad``: rows are
  COPY-ed straight into the register's tables by a writer thread while the file is still being
  read, ids drawn from the sequences up front; a large load rebuilds secondary indexes, unique
  constraints and foreign keys once the rows are in (``_drop_secondary`` / ``_rebuild``).
* **Otherwise** the rows are COPY-ed into temporary staging tables and merged with set-based SQL
  (``_merge``):

  * a parcel identical to its current version (same ``row_hash`` over attributes, geometry,
    buildings, support land and holder; :mod:`app.rowhash`) is left alone, so importing a file twice
    changes nothing — it is dropped before anything is sent, as are holders whose years and name
    are stored already;
  * a changed parcel retires its current version (``valid_to``) and gets a new one — nothing is
    ever deleted;
  * a row with ``retired_on`` is history: it is added once as a retired version (or retires the
    current version of its code) and never changed by later imports;
  * rows overlapping other current parcels, or naming a code that was retired, are reported and
    skipped; with ``strict`` any bad row refuses the whole file.

Both give the same register (tests/test_import.py compares them table by table). Everything happens
inside one transaction, so an error leaves the database as it was. Measurements: bench/README.md,
"Import".
"""

from __future__ import annotations

import dataclasses
import queue
import struct
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Connection, text

from app.db import make_engine
from app.rowhash import (
    EWKB,
    ChildDigests,
    ewkb_layers,
    finish,
    is_legacy,
    legacy_row_hashes,
    own_hashes,
    row_hashes,
)
from app.settings import Settings
from gis.attributes import BUILDING_ATTRS, PARCEL_ATTRS, SUPPORT_ATTRS
from gis.jurisdiction import load_jurisdiction
from gis.sources import Issue, SourceData, per_object, read_source, release_memory

__all__ = ["ImportOptions", "ImportResult", "import_path", "print_report"]

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


def _list_literal(v) -> str | None:
    if not isinstance(v, list | tuple):
        return None
    return "{" + ",".join('"' + str(x).replace("\\", "\\\\").replace('"', '\\"') + '"' for x in v) + "}"


def _arrow_column(s: pd.Series, kind: str) -> pa.Array:
    """One column as an Arrow array of the type COPY (FORMAT csv) expects; missing values become nulls."""
    if kind in ("float", "int"):
        num = pd.to_numeric(s, errors="coerce")
        return pa.array(num.astype("Int64") if kind == "int" else num.astype("float64"), from_pandas=True)
    if kind == "bool":
        return pa.array(s.map({True: True, False: False}).astype("boolean"), from_pandas=True)
    if kind == "date":
        if pd.api.types.is_datetime64_dtype(s):  # the usual case; ``to_datetime`` costs 3 ms per call even then
            return pa.array(s.to_numpy().astype("datetime64[D]"), from_pandas=True)
        return pa.array(pd.to_datetime(s, errors="coerce"), from_pandas=True).cast(pa.date32())
    if kind == "timestamp":  # datetime64 in UTC
        return pa.array(s, from_pandas=True).cast(pa.timestamp("us", tz="UTC"))
    if kind == "list":
        return pa.array(per_object(s.to_numpy(dtype=object), _list_literal), type=pa.string(), from_pandas=True)
    if kind == "json":
        return pa.array([orjson.dumps(v).decode() if v is not None else None for v in s], type=pa.string())
    try:
        return pa.array(s, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array(s.map(lambda v: None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                              else str(v)), type=pa.string(), from_pandas=True)


def _extra_column(values, where: slice | np.ndarray, index: pd.Index, kind: str) -> pa.Array:
    if isinstance(values, EWKB):
        return values.arrow(where)
    return _arrow_column(pd.Series(values[where], index=index), kind)


_CSV = pacsv.WriteOptions(include_header=False, batch_size=4096)


def _copy_frame(conn: Connection, table: str, frame: pd.DataFrame, kinds: dict[str, str], advance=None,
                extra: dict[str, np.ndarray | list | EWKB] | None = None, order: np.ndarray | None = None) -> None:
    """COPY columns of ``frame`` (and ``extra`` arrays of the same length) in blocks, as CSV.

    Each block becomes an Arrow table written by Arrow's C++ CSV writer (strings quoted, so an
    empty string stays distinct from NULL). A thread formats block *n + 1* while this one sends
    block *n* (libpq and Arrow release the GIL, so both cores work); the queue between them holds
    at most two blocks, which bounds memory however slow the server is. ``order`` (positions)
    sends the rows in that order without a sorted copy of the frame.
    """
    if len(frame) == 0:
        return
    extra = extra or {}
    cols = list(kinds)
    chunk = 25_000
    blocks: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                blocks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for start in range(0, len(frame), chunk):
                where = slice(start, start + chunk) if order is None else order[start:start + chunk]
                block = frame.iloc[where]
                arrays = [_extra_column(extra[c], where, block.index, kinds[c]) if c in extra
                          else _arrow_column(block[c], kinds[c]) for c in cols]
                sink = pa.BufferOutputStream()
                pacsv.write_csv(pa.Table.from_arrays(arrays, names=cols), sink, _CSV)
                if not put((sink.getvalue(), len(block))):
                    return
            put(None)
        except BaseException as exc:  # handed to the sending thread, which raises it
            put(exc)

    worker = threading.Thread(target=produce, name=f"copy-{table}", daemon=True)
    worker.start()
    raw = conn.connection.driver_connection
    try:
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN (FORMAT csv)") as copy:
            while (item := blocks.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                data, n = item
                copy.write(memoryview(data))
                if advance:
                    advance(n)
    finally:
        stop.set()
        worker.join()


def _stage_parcels(conn: Connection, src: SourceData, hashes: list[str], wkb: dict[str, EWKB], advance) -> None:
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


def _stage_features(conn: Connection, src: SourceData, wkb: dict[str, EWKB]) -> None:
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
  SELECT holder_name AS name, holder_credit_code AS credit_code FROM stage_parcel_holders
   WHERE holder_name IS NOT NULL AND holder_credit_code IS NOT NULL
  UNION ALL
  SELECT holder_name, credit_code FROM stage_holder_years WHERE holder_name IS NOT NULL
) h ORDER BY credit_code, name COLLATE "C"
ON CONFLICT (credit_code) WHERE credit_code IS NOT NULL DO UPDATE SET name = excluded.name
  WHERE holders.name IS DISTINCT FROM excluded.name;
INSERT INTO holders (name)
SELECT DISTINCT holder_name FROM stage_parcel_holders WHERE holder_name IS NOT NULL AND holder_credit_code IS NULL
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


HOLDER_YEAR_KINDS = {"credit_code": "str", "holder_name": "str", "year": "int", "rating": "str", "tax_wan": "float",
                     "revenue_wan": "float", "value_added_wan": "float", "above_scale": "bool",
                     "compliance_flags": "list"}


def _stage_holder_years(conn: Connection, src: SourceData) -> None:
    conn.execute(
        text(
            "CREATE TEMP TABLE stage_holder_years (credit_code text, holder_name text, year int, rating text, "
            "tax_wan numeric, revenue_wan numeric, value_added_wan numeric, above_scale boolean, "
            "compliance_flags text[]) ON COMMIT DROP"
        )
    )
    hy = src.holder_years
    if len(hy):
        _copy_frame(conn, "stage_holder_years", hy, HOLDER_YEAR_KINDS)


def _stage_disposals(conn: Connection, src: SourceData) -> None:
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


# what a re-import compares the file with, each as one CSV text in UTF-8 bytes (a str of Chinese text
# takes 1.5× the memory): COPY TO sends a message per row, which psycopg hands over one by one (0.9 s
# of Python for 340,000 holder years, against 0.02 s for one value)
_CURRENT_DIGESTS = """
SELECT convert_to(string_agg(parcel_code || ',' || coalesce(row_hash, ''), E'\\n'), 'UTF8')
FROM parcels WHERE valid_to IS NULL
"""


def _quoted(expr: str) -> str:
    """SQL of ``expr`` as a CSV field: quoted text, or nothing for NULL."""
    return f"""coalesce('"' || replace({expr}, '"', '""') || '"', '')"""


def _plain(expr: str) -> str:
    return f"coalesce(({expr})::text, '')"


def _only_changed(conn: Connection, src: SourceData, wkb: dict[str, EWKB], hashes: list[str], registered: bytes):
    """Drop rows identical to what the register holds before anything is sent to the database.

    A current row whose code has a current version with the same hash, and a retired row whose code
    is already history (and not current), change nothing; their buildings and support land go too.
    ``registered`` holds every current digest (``_CURRENT_DIGESTS``; filtering by the file's codes
    cost 1.8 s: an array parameter of 200,000 strings, or a JSON one the planner cannot estimate and
    loops over). Returns the reduced source, EWKB arrays and hashes, and how many rows were dropped.
    """
    p = src.parcels
    codes = p["parcel_code"].to_numpy()
    current = p["retired_on"].isna().to_numpy()
    history = set(conn.execute(
        text("SELECT DISTINCT parcel_code FROM parcels "
             "WHERE parcel_code IN (SELECT jsonb_array_elements_text(CAST(:c AS jsonb)))"),
        {"c": orjson.dumps(codes[~current].tolist()).decode()}).scalars())
    by_code = pd.Series(codes)
    digests = _read_csv(registered, ["parcel_code", "row_hash"], {"parcel_code": pa.string(), "row_hash": pa.string()})
    at = pd.Index(digests.column("parcel_code").to_numpy(zero_copy_only=False)).get_indexer(codes)
    stored = np.append(digests.column("row_hash").to_numpy(zero_copy_only=False), None)[at]
    same = np.where(current, stored == np.asarray(hashes, dtype=object),
                    by_code.isin(history).to_numpy() & (at < 0))
    legacy = current & ~same & np.fromiter((is_legacy(h) for h in stored), dtype=bool, count=len(stored))
    if legacy.any():
        same[legacy] = stored[legacy] == np.asarray(_legacy_hashes(src, wkb, legacy), dtype=object)
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


# the columns of HOLDER_YEAR_KINDS, in its order; the flags as the text ``_changed_holder_years`` compares
_STORED_HOLDER_YEARS = f"""
SELECT convert_to(string_agg({" || ',' || ".join([
    _quoted("h.credit_code"), _quoted("h.name"), _plain("y.year"), _quoted("y.rating"), _plain("y.tax_wan"),
    _plain("y.revenue_wan"), _plain("y.value_added_wan"), _plain("y.above_scale"),
    _quoted("array_to_string(y.compliance_flags, ',')")])}, E'\\n'), 'UTF8')
FROM holder_years y JOIN holders h ON h.id = y.holder_id
"""


def _positions_of_pairs(codes: np.ndarray, years: np.ndarray, find_codes: np.ndarray, find_years: np.ndarray
                        ) -> np.ndarray:
    """For each (code, year) to find, the position of that pair among ``codes``/``years`` (unique pairs), or -1.

    Both are factorised together, unsorted, into one int64 key: a ``MultiIndex`` sorts its levels
    first, 0.5 s for the 340,000 holder years of the generated county against 0.1 s here. A missing
    code or year never matches.
    """
    n = len(codes)
    code_key, _ = pd.factorize(np.concatenate([codes, find_codes]))
    year_key, year_values = pd.factorize(np.concatenate([years, find_years]))
    key = code_key.astype("int64") * (len(year_values) + 1) + year_key
    key[(code_key < 0) | (year_key < 0)] = -1
    at = pd.Index(key[:n]).get_indexer(key[n:])
    at[key[n:] < 0] = -1
    return at


def _registered(conn: Connection) -> tuple[bytes, bytes]:
    """What a re-import compares the file with, as CSV text: every current digest, every stored holder year.

    Read while the file is still being read (``_import``): PostgreSQL builds the texts (~0.8 s for
    the generated 200,000-parcel county) while this thread waits without the GIL. The import lock
    keeps other imports, the only writers of holder years, out meanwhile; a parcel that an operation
    retires in between is found retired by the merge, as before. (A text value holds at most 1 GB,
    some 10 million holder years: far beyond a county's register.)
    """
    with conn.connection.driver_connection.cursor(binary=True) as cur:
        return tuple(cur.execute(sql).fetchone()[0] or b"" for sql in (_CURRENT_DIGESTS, _STORED_HOLDER_YEARS))


def _read_csv(data: bytes, names: list[str], types: dict[str, pa.DataType]) -> pa.Table:
    if not data:
        return pa.table({n: pa.array([], type=types.get(n, pa.string())) for n in names})
    return pacsv.read_csv(pa.py_buffer(data), read_options=pacsv.ReadOptions(column_names=names),
                          parse_options=pacsv.ParseOptions(newlines_in_values=True),
                          convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True,
                                                               quoted_strings_can_be_null=False))


def _changed_holder_years(hy: pd.DataFrame, stored_years: bytes) -> pd.DataFrame:
    """The holder-year rows of holders with anything new: a year or figure not stored, or a new name.

    A re-import would otherwise stage and upsert all of them (340,000 rows of the generated county,
    ~4 s of SQL that changes nothing). A holder is dropped only when every one of its rows equals the
    stored one (figures to the cent, as stored) under the stored name; everything else goes to the
    upsert, which decides exactly as before. ``stored_years`` is every stored row (``_registered``:
    one sequential pass; filtering by the file's 170,000 codes made the planner loop over an index).
    """
    if len(hy) == 0 or not stored_years:
        return hy
    stored = _read_csv(stored_years, list(HOLDER_YEAR_KINDS), {
        col: pa.bool_() if kind == "bool" else pa.string()
        for col, kind in HOLDER_YEAR_KINDS.items() if kind in ("str", "list", "bool")}).to_pandas()
    # each file row's stored row, compared one column at a time (a merged frame cost ~250 MB)
    at = _positions_of_pairs(stored["credit_code"].to_numpy(dtype=object), stored["year"].to_numpy(),
                             hy["credit_code"].to_numpy(dtype=object), hy["year"].to_numpy())
    found = at >= 0
    same = found.copy()
    at = at[found]
    flags = per_object(hy["compliance_flags"].to_numpy(dtype=object),
                       lambda f: ",".join(f) if isinstance(f, list | tuple) else None)
    for col in ("holder_name", "rating", "above_scale", "compliance_flags"):
        a = flags[found] if col == "compliance_flags" else hy[col].to_numpy(dtype=object)[found]
        b = stored[col].to_numpy(dtype=object)[at]
        eq = np.asarray(a == b, dtype=bool)
        ne = ~eq
        eq[ne] = pd.isna(a[ne]) & pd.isna(b[ne])  # missing on both sides (NaN is not equal to itself)
        same[found] &= eq
    for col in ("tax_wan", "revenue_wan", "value_added_wan"):
        a = pd.to_numeric(hy[col], errors="coerce").to_numpy(dtype="float64")[found]
        b = stored[col].to_numpy(dtype="float64")[at]
        same[found] &= (np.abs(a - b) < 1e-9) | (np.isnan(a) & np.isnan(b))
    del stored
    holder, holders = pd.factorize(hy["credit_code"].to_numpy(dtype=object), use_na_sentinel=False)
    changed = np.zeros(len(holders), dtype=bool)
    changed[holder[~same]] = True
    return hy[changed[holder]]


def _legacy_hashes(src: SourceData, wkb: dict[str, EWKB], rows: np.ndarray) -> list[str]:
    """The v1 digests of the parcel ``rows`` (a mask), for a register imported before v2.

    Such a register still re-imports as unchanged; its digests stay v1 until a row changes (an
    unchanged re-import writes nothing, not even a new digest).
    """
    parcels = src.parcels[rows]
    codes = set(parcels["parcel_code"])
    subset, geoms = {"parcels": parcels}, {"parcels": wkb["parcels"][rows]}
    for name in ("buildings", "support_land"):
        mine = getattr(src, name)["parcel_code"].isin(codes).to_numpy()
        subset[name], geoms[name] = getattr(src, name)[mine], wkb[name][mine]
    return legacy_row_hashes(dataclasses.replace(src, **subset), geoms)


BULK_MIN_ROWS = 20_000
_BULK_TABLES = ["holders", "parcels", "buildings", "support_land", "holder_years"]


def _drop_secondary(conn: Connection, tables: list[str]) -> list[tuple[str, str, str]]:
    """Drop the secondary indexes and foreign keys of ``tables``; returns ``(table, kind, definition)`` to rebuild.

    For a large first load: one sorted GiST/btree build and one set-based foreign-key validation per
    index and key after the rows are in, instead of 600,000 index insertions and lookups while they
    arrive (measured: parcels + buildings 12 s → 8 s). Unique constraints other than primary keys
    (buildings' numbers per parcel) are rebuilt with the indexes. The definitions come from the
    catalogue (``pg_get_indexdef`` / ``pg_get_constraintdef``), so the rebuilt objects have the same
    names and SQL. Primary keys and CHECKs stay. DDL is transactional in PostgreSQL: an
    error anywhere rolls the drops back with everything else. The drops take ACCESS EXCLUSIVE locks
    until commit — acceptable for a first load, which is why only an empty register gets this.
    """
    found = conn.execute(text(
        "SELECT i.indrelid::regclass::text, 'index', i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
        "FROM pg_index i WHERE i.indrelid = ANY(CAST(:t AS regclass[])) AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
        "  WHERE c.conrelid = i.indrelid AND c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x')) "
        "UNION ALL SELECT conrelid::regclass::text, CASE contype WHEN 'f' THEN 'key' ELSE 'index' END, "
        "  format('%I', conname), "
        "  format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname, pg_get_constraintdef(oid)) "
        "FROM pg_constraint WHERE contype IN ('f', 'u') AND conrelid = ANY(CAST(:t AS regclass[])) "
        "ORDER BY 2 DESC, 1, 3"),  # keys first: they may rest on a unique index
        {"t": tables}).all()
    for table, _, name, definition in found:
        constraint = definition.startswith("ALTER TABLE")
        conn.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT {name}" if constraint else f"DROP INDEX {name}"))
    return [(table, kind, definition) for table, kind, _, definition in found]


def _rebuild(conn: Connection, dropped: list[tuple[str, str, str]], kind: str, table: str | None = None) -> None:
    conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    for t, k, definition in dropped:
        if k == kind and table in (None, t):
            conn.execute(text(definition))


_EMPTY_SQL = ("SELECT NOT EXISTS (SELECT 1 FROM parcels) AND NOT EXISTS (SELECT 1 FROM holder_years) "
              "AND NOT EXISTS (SELECT 1 FROM holders)")
_PARCEL_DEFAULTS = {"standard_land": False, "industrial_real_estate": False, "no_split": False,
                    "produced_by": "original", "parent_codes": ()}
_STORED_PARCEL_ATTRS = [a for a in PARCEL_ATTRS if a.name not in ("holder_name", "holder_credit_code", "retired_on")]
_LOCAL_TZ = "Asia/Shanghai"  # dates in the source are local calendar days


def _morton_order(wkb: np.ndarray) -> np.ndarray:
    """Positions sorting 2D little-endian (Multi)Polygon WKB along a Z-order curve of its first vertex.

    Rows written in this order keep neighbours on neighbouring heap pages, as ``ORDER BY geom`` does
    for the merge; reading one vertex straight from the WKB costs ~0.1 s for 200,000 parcels where
    decoding them would cost ~0.3 s.
    """
    if len(wkb) == 0:
        return np.arange(0)
    offset = {3: 13, 6: 22}  # Polygon: order, type, rings, points; MultiPolygon adds order, type, count
    xy = np.array([struct.unpack_from("<2d", b, offset[b[1]]) for b in wkb])
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    cells = ((xy - lo) / np.maximum(hi - lo, 1e-9) * 65535).astype(np.uint64)

    def spread(v: np.ndarray) -> np.ndarray:
        for shift, mask in ((8, 0x00FF00FF), (4, 0x0F0F0F0F), (2, 0x33333333), (1, 0x55555555)):
            v = (v | (v << np.uint64(shift))) & np.uint64(mask)
        return v

    return np.argsort(spread(cells[:, 0]) | (spread(cells[:, 1]) << np.uint64(1)), kind="stable")


def _utc_midnight(dates: pd.Series) -> np.ndarray:
    """Midnight of each calendar day in Asia/Shanghai as naive UTC (``d::timestamp AT TIME ZONE 'Asia/Shanghai'``)."""
    local = pd.to_datetime(dates).dt.tz_localize(_LOCAL_TZ)
    return local.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()


def _validity(p: pd.DataFrame, now) -> tuple[np.ndarray, np.ndarray]:
    """valid_from / valid_to (naive UTC) of each row, as the merge computes them (see ``_insert_sql``).

    A current row starts now; a retired row (history in the file) ends on its retirement day and
    starts on its supply or approval day, never after it ends and never in the future.
    """
    now = pd.Timestamp(now).tz_convert("UTC").tz_localize(None).to_datetime64()
    ends = _utc_midnight(p["retired_on"])
    starts = _utc_midnight(p["supplied_on"].fillna(p["approved_on"]).fillna(p["retired_on"]))
    retired = ~np.isnat(ends)
    return np.where(retired, np.minimum(np.minimum(starts, ends), now), now), ends


def _filled(s: pd.Series, default) -> np.ndarray:
    """``coalesce(s, default)`` as an object array."""
    out = s.to_numpy(dtype=object, copy=True)
    missing = pd.isna(s).to_numpy()
    if isinstance(default, tuple):
        for i in np.flatnonzero(missing):
            out[i] = default
    else:
        out[missing] = default
    return out


def _new_holders(p: pd.DataFrame, hy: pd.DataFrame) -> pd.DataFrame:
    """The holders ``_HOLDERS_SQL`` would add to an empty table: one per credit code (the first name in
    code-point order) from the parcels ``p`` and the holder years ``hy``, and one per name the parcels
    give without a code."""
    coded = pd.concat([
        pd.DataFrame({"name": p["holder_name"].to_numpy(), "credit_code": p["holder_credit_code"].to_numpy()}),
        pd.DataFrame({"name": hy["holder_name"].to_numpy(), "credit_code": hy["credit_code"].to_numpy()}),
    ], ignore_index=True).dropna().drop_duplicates()
    # a code with several names keeps the first: sorting only those is ~0.6 s cheaper than sorting 170,000 pairs
    several = coded["credit_code"].duplicated(keep=False).to_numpy()
    if several.any():
        first = coded[several].sort_values(["credit_code", "name"], kind="stable").drop_duplicates("credit_code")
        coded = pd.concat([coded[~several], first], ignore_index=True)
    plain = p.loc[p["holder_name"].notna() & p["holder_credit_code"].isna(), "holder_name"].drop_duplicates()
    return pd.concat([coded, pd.DataFrame({"name": plain.to_numpy(), "credit_code": None})], ignore_index=True)


def _take_ids(conn: Connection, table: str, n: int) -> np.ndarray:
    """``n`` consecutive ids from the table's sequence in one call (200,000 ``nextval`` calls take ~1 s).

    The caller holds an EXCLUSIVE lock on ``table``, so no insert can draw from the sequence meanwhile.
    """
    if n == 0:
        return np.arange(0)
    last = conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                             f"nextval(pg_get_serial_sequence('{table}', 'id')) + :n - 1)"), {"n": n}).scalar()
    return np.arange(last - n + 1, last + 1, dtype="int64")


class _Writer:
    """The import's database work, run in submission order on one connection by a thread of its own.

    While the source is still being read and validated in the calling thread (Python, one core),
    PostgreSQL parses, checks and indexes what was already sent (its own process, the other core).
    After the first failure the remaining tasks are skipped; ``close`` raises it.
    """

    def __init__(self, conn: Connection):
        self.conn = conn
        self.tasks: queue.Queue = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="import-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (item := self.tasks.get()) is not None:
            task, future = item
            if self.error is not None:
                future.set_exception(self.error)
                continue
            try:
                future.set_result(task(self.conn))
            except BaseException as exc:  # kept for the calling thread, which raises it
                self.error = exc
                future.set_exception(exc)

    def submit(self, task: Callable[[Connection], object]) -> Future:
        if self.error is not None:
            raise self.error
        future: Future = Future()
        self.tasks.put((task, future))
        return future

    def stop(self) -> None:
        """Let the running task end, skip the rest, and wait for the thread (on any way out)."""
        if self.thread.is_alive():
            self.error = self.error or _Stopped()
            self.tasks.put(None)
            self.thread.join()

    def close(self) -> None:
        """Wait for every task; raise the first error."""
        if self.thread.is_alive():
            self.tasks.put(None)
            self.thread.join()
        if self.error is not None:
            raise self.error


class _Stopped(Exception):
    pass


_PARCEL_KINDS = {"id": "int", **{a.name: a.kind for a in _STORED_PARCEL_ATTRS}, "holder_id": "int", "geom": "str",
                 "extra": "json", "row_hash": "str", "source": "str", "valid_from": "timestamp",
                 "valid_to": "timestamp"}
_FEATURE_ATTRS = {"buildings": BUILDING_ATTRS, "support_land": SUPPORT_ATTRS}
_HOLDER_COPY = {"id": "int", "name": "str", "credit_code": "str"}
_HOLDER_YEAR_COPY = {"holder_id": "int", **{k: v for k, v in HOLDER_YEAR_KINDS.items()
                                            if k not in ("credit_code", "holder_name")}}


class _EmptyLoad:
    """Into an empty register: COPY straight into the register's tables, while the source is read.

    With nothing registered there is nothing to compare, retire or overlap, so the merge's staging
    tables and ``INSERT … SELECT`` (which parse, check and write every row twice) are skipped: ids
    come from the sequences up front, holders are resolved to ids here, and each row is written once
    by COPY, parcels in Z-order. Results equal the merge's (tests/test_import.py compares the two
    paths table by table). ``read_source`` hands over each layer as it is validated (``rows`` /
    ``done``), buildings block by block; the writer thread sends them meanwhile. The holder years
    come first, with the holders they name, while the parcels are still being checked; the holders
    only the parcels name follow once the parcels are in hand. Parcels are sent last: their row
    hash covers their buildings and support land. A large load (``BULK_MIN_ROWS`` rows in a layer)
    drops the secondary indexes and foreign keys first and rebuilds each table's indexes when it is
    done.
    """

    def __init__(self, writer: _Writer, *, srid: int, source: str, advance=None):
        self.writer = writer
        self.srid = srid
        self.source = source
        self.advance = advance
        self.parcels: pd.DataFrame | None = None
        self.bulk = False
        self.dropped: list[tuple[str, str, str]] = []  # by the writer, before any task that rebuilds
        self.counts = {"buildings": 0, "support_land": 0, "holder_years": 0}
        self.holder_years: list[pd.DataFrame] = []
        self.early: Future | None = None
        self.holders: Future | None = None
        self.after_parcels: list[Callable[[Connection], None]] = []

    def rows(self, layer: str, frame: pd.DataFrame) -> None:
        """Validated rows of ``layer`` (compacted: geometry as WKB), in file order."""
        if layer == "parcels":
            self._parcels(frame)
        elif layer in _FEATURE_ATTRS:
            self._features(layer, frame)
        elif layer == "holder_years" and len(frame):
            if self.early is not None:
                raise RuntimeError("holder years come before the parcels")
            self.holder_years.append(frame)

    def done(self, layer: str) -> None:
        if layer in _FEATURE_ATTRS and self.bulk:
            self.writer.submit(lambda c, t=layer: _rebuild(c, self.dropped, "index", t))
        elif layer == "holder_years":
            self._early_holders()

    def _parcels(self, p: pd.DataFrame) -> None:
        if self.parcels is not None:
            raise RuntimeError("parcels arrive in one piece")
        self.parcels = p
        n = len(p)
        if self.early is None:  # a source without holder years
            self._early_holders()
        # nothing here waits for the writer, which may still be storing the holder years
        self._go_bulk(n)
        self.order = _morton_order(p["wkb"].to_numpy())
        self.ids = np.empty(n, dtype="int64")

        def take(conn: Connection) -> None:
            self.ids[self.order] = _take_ids(conn, "parcels", n)
            self.now = conn.execute(text("SELECT now()")).scalar()

        self.taken = self.writer.submit(take)
        # buildings and support land belong to their code's current version (or its latest retired one)
        rank = np.empty(n, dtype="int64")
        rank[self.order] = np.arange(n)
        owner = pd.DataFrame({"code": p["parcel_code"].to_numpy(), "current": p["retired_on"].isna().to_numpy(),
                              "pos": np.arange(n), "rank": rank})
        owner = owner.sort_values(["current", "rank"], kind="stable").drop_duplicates("code", keep="last")
        self.owner = owner.set_index("code")
        self.children = ChildDigests(p["parcel_code"].to_numpy())
        self.holders = self.writer.submit(self._late_holders)

    def _go_bulk(self, rows: int) -> None:
        """From ``BULK_MIN_ROWS`` rows in a layer on: drop the secondary indexes and keys (once)."""
        if rows >= BULK_MIN_ROWS and not self.bulk:
            self.bulk = True
            self.writer.submit(lambda c: setattr(self, "dropped", _drop_secondary(c, _BULK_TABLES)))

    def _features(self, layer: str, f: pd.DataFrame) -> None:
        owner = f["parcel_code"].map(self.owner["pos"])
        keep = owner.notna().to_numpy()
        f, owner = (f, owner) if keep.all() else (f[keep], owner[keep])
        if len(f) == 0:
            return
        owner = owner.to_numpy(dtype="int64")
        order = np.argsort(f["parcel_code"].map(self.owner["rank"]).to_numpy(), kind="stable")
        kinds = {"parcel_id": "int", **{a.name: a.kind for a in _FEATURE_ATTRS[layer] if a.name != "parcel_code"},
                 "geom": "str"}
        extra = {"geom": EWKB(f["wkb"].to_numpy(), self.srid)}
        if layer == "buildings":
            extra["floors"] = np.rint(pd.to_numeric(f["floors"], errors="coerce").to_numpy(dtype="float64"))
        else:
            extra["kind"] = f["kind"].where(f["kind"].notna(), "行政办公").to_numpy(dtype=object)
        self.counts[layer] += len(f)
        self.children.add(layer, f, f["wkb"].to_numpy())

        def task(conn: Connection) -> None:  # after ``take``: the parcels have their ids
            _copy_frame(conn, layer, f, kinds, extra={**extra, "parcel_id": self.ids[owner]}, order=order)

        # with their foreign keys in place they must wait for their parcels
        self.writer.submit(task) if self.bulk else self.after_parcels.append(task)

    def _early_holders(self) -> None:
        """The holder years, which arrive first, and the holders they name (one per credit code, its first
        name in code-point order): stored while the parcels are still being validated."""
        hy = pd.concat(self.holder_years) if self.holder_years else pd.DataFrame(columns=[*HOLDER_YEAR_KINDS])
        self.holder_years = [hy]
        holders = _new_holders(pd.DataFrame({"holder_name": [], "holder_credit_code": []}), hy)
        self._go_bulk(len(hy))

        def load(conn: Connection) -> pd.DataFrame:
            holders["id"] = _take_ids(conn, "holders", len(holders))
            _copy_frame(conn, "holders", holders, _HOLDER_COPY)
            self._copy_years(conn, hy, pd.Series(holders["id"].to_numpy(), index=holders["credit_code"].to_numpy()))
            return holders

        self.early = self.writer.submit(load)

    def _copy_years(self, conn: Connection, hy: pd.DataFrame, by_code: pd.Series) -> None:
        """COPY the years whose credit code ``by_code`` knows."""
        ids = hy["credit_code"].map(by_code)
        linked = ids.notna().to_numpy()
        _copy_frame(conn, "holder_years", hy[linked], _HOLDER_YEAR_COPY,
                    extra={"holder_id": ids[linked].to_numpy(dtype="float64")})
        self.counts["holder_years"] += int(linked.sum())

    def _late_holders(self, conn: Connection) -> tuple[pd.Series, pd.Series]:
        """The holders only the parcels name, a code's name where a parcel gives an earlier one, and the
        years of those new holders: together with ``_early_holders`` exactly what ``_new_holders`` gives.
        Returns the holder ids by credit code and, for holders without one, by name."""
        early = self.early.result()  # the writer ran it before this task
        hy = self.holder_years[0]
        full = _new_holders(self.parcels, early.rename(columns={"name": "holder_name"}))
        known = pd.Series(early["name"].to_numpy(), index=early["credit_code"].to_numpy())
        before = full["credit_code"].map(known)
        new = full[before.isna().to_numpy()].reset_index(drop=True)
        renamed = full[(before.notna() & (before != full["name"])).to_numpy()]
        if len(renamed):
            conn.execute(text("UPDATE holders h SET name = r.name FROM unnest(CAST(:codes AS text[]), "
                              "CAST(:names AS text[])) AS r(code, name) WHERE h.credit_code = r.code"),
                         {"codes": renamed["credit_code"].tolist(), "names": renamed["name"].tolist()})
        new["id"] = _take_ids(conn, "holders", len(new))
        _copy_frame(conn, "holders", new, _HOLDER_COPY)
        if self.dropped:
            _rebuild(conn, self.dropped, "index", "holders")
        holders = pd.concat([early, new], ignore_index=True)
        coded = holders["credit_code"].notna()
        by_code = pd.Series(holders["id"][coded].to_numpy(), index=holders["credit_code"][coded].to_numpy())
        by_name = pd.Series(holders["id"][~coded].to_numpy(), index=holders["name"][~coded].to_numpy())
        new_coded = new["credit_code"].notna()
        self._copy_years(conn, hy, pd.Series(new["id"][new_coded].to_numpy(),
                                             index=new["credit_code"][new_coded].to_numpy()))
        if self.dropped:
            _rebuild(conn, self.dropped, "index", "holder_years")
        self.holder_years = []
        return by_code, by_name

    def finish(self, src: SourceData) -> dict[str, int]:
        """Send the parcels (with their row hashes), rebuild what was dropped, wait for the writer."""
        release_memory()
        p = self.parcels
        n = len(p)
        hashes = finish(own_hashes(p, p["wkb"].to_numpy()), self.children)
        by_code, by_name = self.holders.result()
        self.taken.result()
        credit = p["holder_credit_code"]
        holder_id = credit.map(by_code).where(credit.notna(), p["holder_name"].map(by_name)).to_numpy("float64")
        valid_from, valid_to = _validity(p, self.now)
        extra = {"id": self.ids, "holder_id": holder_id, "geom": EWKB(p["wkb"].to_numpy(), self.srid),
                 "row_hash": hashes, "source": np.full(n, self.source, dtype=object), "valid_from": valid_from,
                 "valid_to": valid_to, **{c: _filled(p[c], d) for c, d in _PARCEL_DEFAULTS.items()}}
        self.writer.submit(lambda c: _copy_frame(c, "parcels", p, _PARCEL_KINDS, self.advance, extra=extra,
                                                 order=self.order))
        for task in self.after_parcels:
            self.writer.submit(task)
        if self.bulk:
            self.writer.submit(lambda c: _rebuild(c, self.dropped, "index", "parcels"))
            self.writer.submit(lambda c: _rebuild(c, self.dropped, "key"))
        self.writer.close()
        return {**self.counts, "inserted": n}


def _begin(conn: Connection) -> bool:
    """Take the import lock; True if the register is empty, which then stays so until this import commits."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": IMPORT_LOCK})
    # the merge sorts and hashes 200,000-row sets (by geometry, by code): with the default 4 MB they
    # spill to disk (EXPLAIN ANALYZE: 116 MB external merge for the parcels, 140 MB for buildings)
    conn.execute(text("SET LOCAL work_mem = '256MB'"))
    if not conn.execute(text(_EMPTY_SQL)).scalar():
        return False
    # writers wait until the first load commits (see _take_ids); readers see the empty register meanwhile
    conn.execute(text("LOCK TABLE holders, parcels IN EXCLUSIVE MODE"))
    return bool(conn.execute(text(_EMPTY_SQL)).scalar())


def _refusal(src: SourceData, issues: list[Issue]) -> _Refused:
    return _Refused(ImportResult(str(src.path), src.source_crs, src.encoding, issues=issues, refused=True))


def _refuse_if_strict(src: SourceData, opts: ImportOptions) -> None:
    if opts.strict and src.errors:
        raise _refusal(src, list(src.issues))


def _import(conn: Connection, read: Callable[[_EmptyLoad | None], SourceData], opts: ImportOptions, *, source: str,
            srid: int, sliver_area_m2: float, advance=None, on_read=None) -> ImportResult:
    """Lock, then read (into the empty-register loader, or whole for the merge) and write."""
    t0 = time.perf_counter()
    if _begin(conn):
        writer = _Writer(conn)
        try:
            load = _EmptyLoad(writer, srid=srid, source=source, advance=advance)
            src = read(load)
            if on_read:
                on_read(src)
            _refuse_if_strict(src, opts)
            counts = load.finish(src)
        finally:
            writer.stop()
        return _conclude(conn, src, opts, counts, [], t0)
    reader = _Writer(conn)  # the connection is idle while the file is read: what it is compared with comes meanwhile
    try:
        registered = reader.submit(_registered)
        src = read(None)
        reader.close()
    finally:
        reader.stop()
    if on_read:
        on_read(src)
    _refuse_if_strict(src, opts)
    wkb = ewkb_layers(src, srid)
    counts, bad = _merge(conn, src, wkb, row_hashes(src, wkb), opts, source=source,
                         sliver_area_m2=sliver_area_m2, registered=registered.result(), advance=advance)
    return _conclude(conn, src, opts, counts, bad, t0)


def _conclude(conn: Connection, src: SourceData, opts: ImportOptions, counts: dict[str, int], bad: list[Issue],
              t0: float) -> ImportResult:
    """Disposals, the counts, fresh planner statistics and the audit entry of an import."""
    result = ImportResult(str(src.path), src.source_crs, src.encoding, issues=[*src.issues, *bad])
    source = Path(src.path).name
    _stage_disposals(conn, src)
    n_valid = len(src.parcels)
    n_bad = len(bad)
    n_disp = conn.execute(
        text(
            "INSERT INTO disposals (parcel_code, method, area_m2, disposed_on, note) "
            "SELECT parcel_code, method, round(area_m2::numeric, 2), disposed_on, note FROM stage_disposals "
            "ON CONFLICT ON CONSTRAINT disposals_natural_uq DO NOTHING"
        )
    ).rowcount
    result.counts = {
        "read": src.rows_read.get("parcels", 0),
        "inserted": counts.get("inserted", 0),
        "updated": counts.get("updated", 0),
        "retired": counts.get("retired", 0),
        "unchanged": counts.get("unchanged", 0),
        "skipped": src.rows_read.get("parcels", 0) - n_valid + n_bad,
        "buildings": counts.get("buildings", 0),
        "support_land": counts.get("support_land", 0),
        "holder_years": counts.get("holder_years", 0),
        "disposals": n_disp,
    }
    result.seconds = time.perf_counter() - t0
    if result.counts["inserted"] + result.counts["updated"] + result.counts["holder_years"] > 1000:
        # fresh statistics, or the planner keeps the estimates of an empty table (seq scans, 1 s pages)
        # a sample of 9,000 rows (statistics target 30) instead of 30,000: 0.3 s instead of 1 s for the
        # 200,000-parcel county, and as good for the service's filters (20-odd towns, codes, dates)
        conn.execute(text("SET LOCAL default_statistics_target = 30"))
        conn.execute(text("ANALYZE parcels, buildings, support_land, holders, holder_years"))
    if result.changed:
        conn.execute(
            text("INSERT INTO audit_log (actor, action, target, detail) VALUES (:a, 'import', :t, :d)"),
            {
                "a": opts.actor,
                "t": source,
                "d": orjson.dumps(
                    {"counts": result.counts, "errors": len([i for i in result.issues if i.severity == "error"])}
                ).decode(),
            },
        )
    return result


def _merge(conn: Connection, src: SourceData, wkb: dict[str, EWKB], hashes: list[str], opts: ImportOptions, *,
           source: str, sliver_area_m2: float, registered: tuple[bytes, bytes],
           advance=None) -> tuple[dict[str, int], list[Issue]]:
    """Into a register that holds parcels: stage the rows and merge them with set-based SQL.

    ``registered``: ``_registered`` of this transaction, read before the file was.
    """
    digests, stored_years = registered
    src, wkb, hashes, n_same = _only_changed(conn, src, wkb, hashes, digests)
    release_memory()
    _stage_features(conn, src, wkb)
    _stage_holder_years(conn, dataclasses.replace(src, holder_years=_changed_holder_years(src.holder_years,
                                                                                         stored_years)))
    if advance:
        advance(n_same)
    _stage_parcels(conn, src, hashes, wkb, advance)
    release_memory()

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
    if bad_rows:
        if opts.strict:
            raise _refusal(src, [*src.issues, *bad_rows.values()])
        conn.execute(text("DELETE FROM stage_parcels WHERE row = ANY(:rows)"), {"rows": list(bad_rows)})

    conn.execute(text("CREATE TEMP TABLE stage_parcel_holders ON COMMIT DROP AS "
                      "SELECT DISTINCT holder_name, holder_credit_code FROM stage_parcels"))
    conn.execute(text(_HOLDERS_SQL))
    conn.execute(text(_ACTIONS_SQL))
    actions = dict(conn.execute(text("SELECT action, count(*) FROM stage_actions GROUP BY action")).all())
    conn.execute(text(_RETIRE_SQL))
    conn.execute(
        text(_insert_sql([a.name for a in _STORED_PARCEL_ATTRS])),
        {"source": source},
    )
    return {
        "inserted": actions.get("insert", 0) + actions.get("insert_retired", 0),
        "updated": actions.get("update", 0),
        "retired": actions.get("retire", 0),
        "unchanged": actions.get("unchanged", 0) + n_same,
        "buildings": conn.execute(text(_CHILDREN_SQL["buildings"])).rowcount,
        "support_land": conn.execute(text(_CHILDREN_SQL["support_land"])).rowcount,
        "holder_years": conn.execute(text(_HOLDER_YEARS_SQL)).rowcount,
    }, list(bad_rows.values())


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
    def read(sink: _EmptyLoad | None) -> SourceData:
        return read_source(path, jurisdiction=jurisdiction, crs=opts.crs, mapping_file=opts.mapping_file,
                           layer=opts.layer, encoding=opts.encoding, compact=True, sink=sink)

    try:
        with prog:
            task = prog.add_task(f"导入 / importing {path.name}", total=None)
            try:
                with engine.begin() as conn:
                    result = _import(
                        conn,
                        read,
                        opts,
                        source=path.name,
                        srid=jurisdiction.storage_epsg,
                        sliver_area_m2=jurisdiction.sliver_area_m2,
                        advance=lambda n: prog.advance(task, n),
                        on_read=lambda src: prog.update(task, total=len(src.parcels), completed=0),
                    )
            except _Refused as refused:
                result = refused.args[0]
            prog.update(task, completed=prog.tasks[0].total or 0)
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
