"""Items requests → one parameterised SQL statement whose rows are finished GeoJSON features.

PostGIS writes every feature's JSON (``ST_AsGeoJSON`` for the geometry, ``row_to_json`` of a LATERAL
row for the properties, the id and a self link concatenated around them); Python only joins the
bytes. Paging is by key: the ``next`` / ``prev`` links carry an opaque cursor holding the boundary
row's sort values (``sortby`` columns, then the feature id), and the statement asks for the rows
after (or before) them — so page 200 costs what page 1 costs. ``offset`` is still honoured.
Values from the client only ever reach SQL as bind parameters (psycopg ``%(name)s``).
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import orjson
import shapely

from app.errors import ProblemError
from app.ogc.collections import Collection, Prop
from app.services.parcels import bbox_to_storage
from gis.crs import CRS84_URI, crs_uri, parse_crs

__all__ = ["CRS_OUTPUT", "DEFAULT_LIMIT", "MAX_LIMIT", "ItemsQuery", "OutputCrs", "output_crs"]

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000


@dataclass(frozen=True)
class OutputCrs:
    uri: str
    srid: int | None  # None: the storage CRS, no transform
    flip: bool  # authority axis order is north/lat first
    decimals: int


#: CRS a client may ask for (Part 2), storage CRS first after CRS84, with the digits that keep ~1 mm–1 cm.
CRS_OUTPUT: dict[str, OutputCrs] = {o.uri: o for o in (
    OutputCrs(CRS84_URI, 4326, False, 7),
    OutputCrs(crs_uri(4549), None, True, 6),
    OutputCrs(crs_uri(4490), 4490, True, 7),
    OutputCrs(crs_uri(4326), 4326, True, 7),
    OutputCrs(crs_uri(4528), 4528, True, 6),
    OutputCrs(crs_uri(3857), 3857, False, 2),
)}
STORAGE_CRS = crs_uri(4549)


def _bad(param: str, zh: str, en: str, code: str = "invalid-parameter") -> ProblemError:
    return ProblemError(400, code, zh, en, pointer=f"/query/{param}")


def output_crs(value: str | None, param: str = "crs") -> OutputCrs:
    if value is None or not value.strip():
        return CRS_OUTPUT[CRS84_URI]
    ref = parse_crs(value.strip())
    out = CRS_OUTPUT.get(ref.uri)
    if out is None:
        raise _bad(param, f"不支持的坐标参考系 {value}；可用：{', '.join(CRS_OUTPUT)}",
                   f"unsupported CRS {value}; supported: {', '.join(CRS_OUTPUT)}", code="unsupported-crs")
    return out


def geometry_sql(expr: str, out: OutputCrs) -> str:
    """The geometry as GeoJSON wants it: reprojected, in authority axis order; CRS84 rings counterclockwise
    (RFC 7946 §3.1.6 right-hand rule)."""
    g = expr if out.srid is None else f"ST_Transform({expr}, {out.srid})"
    if out.uri == CRS84_URI:
        return f"ST_ForcePolygonCCW({g})"
    return f"ST_FlipCoordinates({g})" if out.flip else g


def _cast(value: str, prop: Prop, param: str) -> Any:
    """A query-string value as the property's type (400 when it is not one)."""
    try:
        if prop.type == "integer":
            return int(value)
        if prop.type == "number":
            v = float(value)
            if not math.isfinite(v):
                raise ValueError
            return v
        if prop.type == "boolean":
            low = value.strip().lower()
            if low not in ("true", "false", "1", "0", "是", "否"):
                raise ValueError
            return low in ("true", "1", "是")
        if prop.type == "date":
            return date.fromisoformat(value)
        if prop.type == "datetime":
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(param, f"{param} 的值 {value!r} 不是有效的{_TYPE_ZH[prop.type]}",
                   f"{param}={value!r} is not a valid {prop.type}") from None
    return value


_TYPE_ZH = {"integer": "整数", "number": "数值", "boolean": "布尔值（true/false）", "date": "日期（YYYY-MM-DD）",
            "datetime": "时间（RFC 3339）", "string": "文本", "array": "列表"}


def _parse_instant(text: str, param: str) -> datetime | None:
    text = text.strip()
    if text in ("", ".."):
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return datetime.fromisoformat(text + "T00:00:00+00:00")
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _bad(param, f"datetime 值 {text!r} 不是 RFC 3339 日期/时间或区间",
                   f"datetime {text!r} is not an RFC 3339 date-time or interval") from None
    return value


def parse_datetime(value: str) -> tuple[datetime | None, datetime | None, bool]:
    """``instant`` or ``start/end`` (``..`` open) → (start, end, is_instant)."""
    if "/" in value:
        a, _, b = value.partition("/")
        start, end = _parse_instant(a, "datetime"), _parse_instant(b, "datetime")
        if start and end and start > end:
            raise _bad("datetime", "datetime 区间的起点晚于终点", "the datetime interval starts after it ends")
        return start, end, False
    inst = _parse_instant(value, "datetime")
    if inst is None:
        raise _bad("datetime", "datetime 不能为空", "datetime must not be empty")
    return inst, inst, True


def encode_cursor(values: list, forward: bool) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"v": values, "d": 1 if forward else -1})).decode().rstrip("=")


def decode_cursor(token: str, n: int) -> tuple[list, bool]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        values, direction = data["v"], data["d"]
        if not isinstance(values, list) or len(values) != n or direction not in (1, -1):
            raise ValueError
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise _bad("cursor", "分页游标无效（请使用响应中的 next/prev 链接）",
                   "invalid paging cursor (follow the next/prev links of a response)") from None
    return values, direction == 1


@dataclass
class ItemsQuery:
    """One items request against one collection, validated; ``sql()`` gives the statement."""

    collection: Collection
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    out: OutputCrs = field(default_factory=lambda: CRS_OUTPUT[CRS84_URI])
    properties: tuple[Prop, ...] | None = None
    sort: list[tuple[Prop, bool]] = field(default_factory=list)  # (prop, descending)
    cursor: tuple[list, bool] | None = None  # (values, forward)
    where: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.where.append(self.collection.where)

    # ---- filters ---------------------------------------------------------------------------------
    def add_bbox(self, value: str, bbox_crs: str | None) -> None:
        try:
            nums = [float(v) for v in value.split(",")]
        except ValueError:
            raise _bad("bbox", "bbox 应为逗号分隔的 4 个（或 6 个）数值",
                       "bbox must be 4 (or 6) comma-separated numbers") from None
        if len(nums) == 6:
            nums = [nums[0], nums[1], nums[3], nums[4]]
        if len(nums) != 4:
            raise _bad("bbox", "bbox 应为 4 个（或 6 个）数值", "bbox must have 4 (or 6) numbers")
        if bbox_crs is not None and parse_crs(bbox_crs).uri not in CRS_OUTPUT:
            raise _bad("bbox-crs", f"不支持的 bbox-crs {bbox_crs}", f"unsupported bbox-crs {bbox_crs}",
                       code="unsupported-crs")
        box = bbox_to_storage(nums, bbox_crs)
        self.params["bbox"] = shapely.to_wkb(box)
        self.where.append(f"{self.collection.geom_sql} && ST_GeomFromWKB(%(bbox)s, 4549) AND "
                          f"ST_Intersects({self.collection.geom_sql}, ST_GeomFromWKB(%(bbox)s, 4549))")

    def add_datetime(self, value: str) -> None:
        c = self.collection
        if c.temporal_sql is None:
            raise _bad("datetime", f"集合 {c.id} 没有时间属性，不支持 datetime",
                       f"collection {c.id} has no temporal property; datetime is not supported")
        start, end, _ = parse_datetime(value)
        lo, hi = c.temporal_sql
        if c.datetime_range:  # validity interval [lo, hi) intersects [start, end]
            if end is not None:
                self.where.append(f"{lo} <= %(dt_end)s")
                self.params["dt_end"] = end
            if start is not None:
                self.where.append(f"({hi} IS NULL OR {hi} > %(dt_start)s)")
                self.params["dt_start"] = start
            return
        # a date: the instant's / interval's calendar days (in China time) select it
        if start is not None:
            self.where.append(f"{lo} >= (%(dt_start)s AT TIME ZONE 'Asia/Shanghai')::date")
            self.params["dt_start"] = start
        if end is not None:
            self.where.append(f"{hi} <= (%(dt_end)s AT TIME ZONE 'Asia/Shanghai')::date")
            self.params["dt_end"] = end
        self.where.append(f"{lo} IS NOT NULL")

    def add_property_filters(self, pairs: list[tuple[str, str]]) -> None:
        for n, (name, value) in enumerate(pairs):
            prop = self.collection.by_name[name]
            if prop.type == "array":
                self.where.append(f"%(pf{n})s = ANY({prop.sql})")
                self.params[f"pf{n}"] = value
                continue
            self.where.append(f"{prop.sql} = %(pf{n})s::{prop.pg_type}")
            self.params[f"pf{n}"] = _cast(value, prop, name)

    def add_filter(self, sql: str, params: dict[str, Any]) -> None:
        self.where.append(f"({sql})")
        self.params.update(params)

    def set_sortby(self, value: str) -> None:
        for raw in value.split(","):
            term = raw.strip()
            if not term:
                continue
            desc = term.startswith("-")
            name = term.lstrip("+-").strip()
            prop = self.collection.by_name.get(name) or (self.collection.key if name == self.collection.key.name
                                                         else None)
            if prop is None or not prop.sortable:
                raise _bad("sortby", f"不能按 {name!r} 排序；可排序的属性：{', '.join(self.sortable_names)}",
                           f"cannot sort by {name!r}; sortable properties: {', '.join(self.sortable_names)}")
            self.sort.append((prop, desc))

    @property
    def sortable_names(self) -> list[str]:
        return [p.name for p in self.collection.props if p.sortable]

    def set_properties(self, value: str) -> None:
        names = [n.strip() for n in value.split(",") if n.strip()]
        unknown = [n for n in names if n not in self.collection.by_name]
        if unknown:
            raise _bad("properties", f"未知属性：{', '.join(unknown)}", f"unknown properties: {', '.join(unknown)}")
        self.properties = tuple(self.collection.by_name[n] for n in names)

    # ---- SQL -------------------------------------------------------------------------------------
    @property
    def order(self) -> list[tuple[Prop, bool]]:
        key = self.collection.key
        terms = list(self.sort)
        if all(p.sql != key.sql for p, _ in terms):
            terms.append((key, False))
        return terms

    def _keyset(self, values: list, forward: bool) -> str:
        """Rows strictly after ``values`` in the order (``forward``) or strictly before them."""
        ors = []
        for i, (prop, desc) in enumerate(self.order):
            eqs = []
            for j in range(i):
                p, v = self.order[j][0], values[j]
                eqs.append(f"{p.sql} IS NULL" if v is None else f"{p.sql} = %(k{j})s::{p.pg_type}")
            v = values[i]
            asc = (not desc) == forward  # comparison direction of this column when moving this way
            nulls_after = forward  # NULLS LAST in the forward order: nulls come after every value
            if v is None:
                cmp = "FALSE" if nulls_after else f"{prop.sql} IS NOT NULL"
            else:
                cmp = f"{prop.sql} {'>' if asc else '<'} %(k{i})s::{prop.pg_type}"
                if nulls_after:
                    cmp = f"({cmp} OR {prop.sql} IS NULL)"
            ors.append("(" + " AND ".join([*eqs, cmp]) + ")")
        for j, v in enumerate(values):
            if v is not None:
                self.params[f"k{j}"] = v
        return "(" + " OR ".join(ors) + ")"

    def _order_sql(self, forward: bool) -> str:
        parts = []
        for prop, desc in self.order:
            d = desc if forward else not desc
            parts.append(f"{prop.sql} {'DESC' if d else 'ASC'} NULLS {'LAST' if forward else 'FIRST'}")
        return ", ".join(parts)

    def where_sql(self) -> str:
        return " AND ".join(self.where)

    def feature_sql(self, self_prefix: str | None, extra_links: str | None = None) -> tuple[str, dict[str, Any]]:
        """(statement, params): columns ``_c`` (cursor values as JSON text) and ``f`` (the feature JSON).

        ``self_prefix`` + id is each feature's self link; ``extra_links`` (JSON text of link objects, for a
        single feature) adds the HTML alternate and whatever else follows the self link.
        """
        c = self.collection
        link = ""
        if self_prefix is not None:
            self.params["self_prefix"] = self_prefix
            href = f"%(self_prefix)s || {c.key.sql}::text"
            link = (f" || ',\"links\":[{{\"href\":' || to_json({href})::text || "
                    "',\"rel\":\"self\",\"type\":\"application/geo+json\"}'")
            if extra_links is not None:
                self.params["extra_links"] = extra_links
                link += (f" || ',{{\"href\":' || to_json({href} || '?f=html')::text || "
                         "',\"rel\":\"alternate\",\"type\":\"text/html\",\"title\":\"HTML\"},' || %(extra_links)s")
            link += " || ']'"
        where = list(self.where)
        forward = True
        if self.cursor is not None:
            values, forward = self.cursor
            where.append(self._keyset(values, forward))
        cursor_cols = ", ".join(p.sql for p, _ in self.order)
        sql = (
            f"SELECT json_build_array({cursor_cols})::text AS _c, {self._feature_json_sql(link)} AS f "
            f"FROM {self._from_sql()} "
            f"WHERE {' AND '.join(where)} ORDER BY {self._order_sql(forward)} "
            f"LIMIT %(limit)s OFFSET %(offset)s")
        self.params["limit"] = self.limit + 1  # one more tells whether there is a next page
        self.params["offset"] = self.offset if self.cursor is None else 0
        return sql, self.params

    def download_features_sql(self) -> tuple[str, dict[str, Any]]:
        """(statement, params) for a download: column ``f``, every matching feature's JSON (no links, no paging),
        in feature-id order; ``limit`` caps it when positive (0: every feature)."""
        return self.unpaged(f"SELECT {self._feature_json_sql()} AS f FROM {self._from_sql()} "
                            f"WHERE {self.where_sql()} ORDER BY {self.collection.key.sql}")

    def unpaged(self, sql: str) -> tuple[str, dict[str, Any]]:
        """``sql`` (every matching row) with the filter's params; capped by ``limit`` when positive."""
        params = self.filter_params()
        if self.limit > 0:
            sql += " LIMIT %(limit)s"
            params["limit"] = self.limit
        return sql, params

    def filter_params(self) -> dict[str, Any]:
        """The params of the filters alone: not paging, the keyset cursor or links."""
        return {k: v for k, v in self.params.items()
                if k not in ("limit", "offset", "self_prefix", "extra_links") and not re.fullmatch(r"k\d+", k)}

    def props(self) -> tuple[Prop, ...]:
        """The properties asked for (``properties``), else all of the collection's."""
        return self.properties if self.properties is not None else self.collection.props

    def _feature_json_sql(self, link: str = "") -> str:
        """The expression of one feature's JSON text (id, geometry in ``out``, properties from the LATERAL row
        ``x`` of :meth:`_from_sql`); ``link`` is SQL appended after the properties (``|| ',"links":[…]'``)."""
        c = self.collection
        geom = f"COALESCE(ST_AsGeoJSON({geometry_sql(c.geom_sql, self.out)}, {self.out.decimals}), 'null')"
        props_json = "row_to_json(x)::text" if self.props() else "'{}'"
        return (f"'{{\"type\":\"Feature\",\"id\":' || to_json({c.key.sql})::text || ',\"geometry\":' || {geom} || "
                f"',\"properties\":' || {props_json}{link} || '}}'")

    def _from_sql(self) -> str:
        """The collection's FROM with ``LATERAL (…) x``: the selected properties under their names."""
        lateral = ", ".join(f"{p.sql} AS {p.name}" for p in self.props()) or "NULL AS _"
        return f"{self.collection.from_sql}, LATERAL (SELECT {lateral}) x"

    def count_sql(self) -> tuple[str, dict[str, Any]]:
        return f"SELECT count(*) FROM {self.collection.from_sql} WHERE {self.where_sql()}", self.filter_params()

    def count_key(self) -> tuple:
        """What the count depends on (not paging, sort, CRS or properties)."""
        return (self.collection.id, self.where_sql(),
                tuple(sorted((k, v if isinstance(v, str | int | float | bool | bytes | None) else str(v))
                             for k, v in self.count_sql()[1].items())))


def file_geometry_sql(expr: str, srid: int | None) -> str:
    """Geometry for files (GeoPackage, Shapefile, FlatGeobuf): easting/x first whatever the CRS says."""
    return expr if srid in (None, 4549) else f"ST_Transform({expr}, {srid})"


def rows_sql(q: ItemsQuery, srid: int | None) -> tuple[str, dict[str, Any]]:
    """Rows for downloads: ``geom`` as WKB (x/y order, in ``srid``; None = EPSG:4549) then the properties.

    Ordered by the feature id; ``q.limit`` applies when positive (0: every matching feature).
    """
    c = q.collection
    cols = ", ".join(f"{p.sql} AS {p.name}" for p in q.props())
    return q.unpaged(f"SELECT ST_AsBinary({file_geometry_sql(c.geom_sql, srid)}) AS geom{', ' + cols if cols else ''} "
                     f"FROM {c.from_sql} WHERE {q.where_sql()} ORDER BY {c.key.sql}")
