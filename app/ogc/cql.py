"""OGC API – Features Part 3 filters (CQL2 text / JSON) → a parameterised SQL ``WHERE`` fragment.

pygeofilter parses; this module walks its AST and writes SQL for psycopg 3. Property names become
the trusted SQL expressions of our own :class:`Queryable` definitions; every value the client sent
travels as a named parameter (``%(f0)s``) with an explicit cast, never as SQL text. Geometry
literals are read in ``filter-crs`` authority axis order, reprojected to the storage CRS in Python
and passed as WKB.

>>> q = {"area_mu": Queryable("area_mu", "p.area_mu", "number")}
>>> compile_filter("area_mu > 10", None, None, q)
('(p.area_mu > %(f0)s::bigint)', {'f0': 10})
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import shapely
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from pygeofilter import ast, values
from pygeofilter.parsers.cql2_json import parse as parse_json
from pygeofilter.parsers.cql2_text import parse as parse_text
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from app.errors import ProblemError
from gis.crs import CrsRef, parse_crs, to_internal_xy, transform_geom

__all__ = ["CONFORMANCE", "FILTER_LANGS", "Queryable", "compile_filter"]

_CONF = "http://www.opengis.net/spec/cql2/1.0/conf/"
CONFORMANCE: tuple[str, ...] = tuple(_CONF + c for c in (
    "basic-cql2",
    "advanced-comparison-operators",
    "basic-spatial-functions",
    "basic-spatial-functions-plus",
    "spatial-functions",
    "property-property",
    "cql2-text",
    "cql2-json",
))
"""Not claimed: ``arithmetic`` (CQL2 also requires ``%``, ``div`` and ``^``, which pygeofilter 0.4 does
not parse; ``+ - * /`` work), ``case-insensitive-comparison`` / ``accent-insensitive-comparison``
(``CASEI`` works, ``ACCENTI`` does not), temporal, array and functions classes."""

FILTER_LANGS = ("cql2-text", "cql2-json")
_MAX_FILTER_CHARS = 50_000
_POINTER = "/query/filter"

TYPES = frozenset({"string", "number", "integer", "boolean", "date", "datetime", "geometry"})
_FAMILY = {"string": "string", "number": "number", "integer": "number", "boolean": "boolean",
           "date": "temporal", "datetime": "temporal", "geometry": "geometry"}
_TYPE_ZH = {"string": "字符串", "number": "数值", "integer": "整数", "boolean": "布尔", "date": "日期",
            "datetime": "时间戳", "geometry": "几何"}
_CASTS = {"string": "text", "number": "double precision", "integer": "bigint", "boolean": "boolean",
          "date": "date", "datetime": "timestamptz"}
_COMPARISONS: dict[type, str] = {ast.Equal: "=", ast.NotEqual: "<>", ast.LessThan: "<", ast.LessEqual: "<=",
                                 ast.GreaterThan: ">", ast.GreaterEqual: ">="}
_ARITHMETIC: dict[type, str] = {ast.Add: "+", ast.Sub: "-", ast.Mul: "*", ast.Div: "/"}
_SPATIAL: dict[type, str] = {
    ast.GeometryIntersects: "ST_Intersects", ast.GeometryDisjoint: "ST_Disjoint",
    ast.GeometryEquals: "ST_Equals", ast.GeometryTouches: "ST_Touches", ast.GeometryCrosses: "ST_Crosses",
    ast.GeometryWithin: "ST_Within", ast.GeometryContains: "ST_Contains", ast.GeometryOverlaps: "ST_Overlaps",
}
_PARAM_PREFIX = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A quote doubled inside a CQL2 text string ('it''s') is the standard escape, but pygeofilter's
# lexer ends the string at the first quote; such pairs travel through the parser as this character.
_QUOTE_MARK = "\ue000"


@dataclass(frozen=True)
class Queryable:
    """A filterable property: its public name, the trusted SQL expression behind it and its type."""

    name: str
    sql: str
    type: str
    title: str = ""


@dataclass(frozen=True)
class _Expr:
    sql: str
    type: str


def _fail(zh: str, en: str) -> ProblemError:
    return ProblemError(400, "invalid-filter", zh, en, pointer=_POINTER)


def compile_filter(filter_value: str, lang: str | None, filter_crs: str | None,
                   queryables: Mapping[str, Queryable], *, storage_srid: int = 4549,
                   param_prefix: str = "f") -> tuple[str, dict[str, Any]]:
    """Return (sql, params). lang is 'cql2-text' (default when None) or 'cql2-json' (filter_value: JSON text).

    ``sql`` is a parenthesised boolean expression over the queryables' SQL; ``params`` maps the
    ``%(name)s`` placeholders in it (named ``param_prefix`` + a counter) to their values. Every
    problem with the filter raises :class:`ProblemError` 400 ``invalid-filter``; an unknown
    ``filter_crs`` raises :class:`gis.errors.GisInputError` 400.
    """
    lang = "cql2-text" if lang is None else lang.strip().lower()
    if lang == "cql-text":  # the pre-CQL2 name GDAL's OAPIF driver sends; its comparisons are CQL2 text
        lang = "cql2-text"
    if lang not in FILTER_LANGS:
        raise ProblemError(400, "invalid-filter-lang",
                           f"不支持的过滤语言 filter-lang：{lang}（仅支持 cql2-text、cql2-json）",
                           f"unsupported filter-lang: {lang} (only cql2-text and cql2-json are accepted)",
                           pointer="/query/filter-lang")
    if not _PARAM_PREFIX.match(param_prefix):
        raise ValueError(f"param_prefix must be an identifier, not {param_prefix!r}")
    if not isinstance(filter_value, str) or not filter_value.strip():
        raise _fail("过滤条件 filter 为空", "the filter is empty")
    if len(filter_value) > _MAX_FILTER_CHARS:
        raise _fail(f"过滤条件过长（{len(filter_value)} 个字符，上限 {_MAX_FILTER_CHARS}）",
                    f"the filter is too long ({len(filter_value)} characters, limit {_MAX_FILTER_CHARS})")
    crs = parse_crs(filter_crs)
    node = _parse_text(filter_value) if lang == "cql2-text" else _parse_json(filter_value)
    compiler = _Compiler(queryables, crs, int(storage_srid), param_prefix)
    try:
        sql = compiler.condition(node)
    except RecursionError:
        raise _fail("过滤条件嵌套过深", "the filter is nested too deeply") from None
    return sql, compiler.params


# ---------------------------------------------------------------------------------------------
# Parsing

def _mark_doubled_quotes(text: str) -> str:
    """Replace ``''`` inside single-quoted strings by :data:`_QUOTE_MARK` (see there)."""
    out: list[str] = []
    i, n, in_string = 0, len(text), False
    while i < n:
        ch = text[i]
        if in_string and ch == "'" and i + 1 < n and text[i + 1] == "'":
            out.append(_QUOTE_MARK)
            i += 2
            continue
        if ch == "'":
            in_string = not in_string
        elif ch == '"' and not in_string:
            end = text.find('"', i + 1)
            end = n - 1 if end < 0 else end
            out.append(text[i:end + 1])
            i = end + 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _snippet(text: str, pos: int | None) -> str:
    if pos is None or pos < 0:
        return text[-20:]
    return text[max(0, pos - 10):pos + 20].replace(_QUOTE_MARK, "''")


def _parse_text(text: str) -> Any:
    marked = _mark_doubled_quotes(text)
    try:
        return parse_text(marked)
    except UnexpectedEOF:
        raise _fail("CQL2 文本过滤条件不完整（意外结束）", "the CQL2 text filter ends unexpectedly") from None
    except (UnexpectedToken, UnexpectedCharacters, UnexpectedInput) as exc:
        line, col = getattr(exc, "line", "?"), getattr(exc, "column", "?")
        near = _snippet(marked, getattr(exc, "pos_in_stream", None))
        raise _fail(f"CQL2 文本过滤条件语法错误：第 {line} 行第 {col} 列附近「{near}」",
                    f"syntax error in the CQL2 text filter at line {line}, column {col} near '{near}'") from None
    except VisitError as exc:
        msg = str(exc.orig_exc)[:200]
        raise _fail(f"CQL2 文本过滤条件中的值无效：{msg}", f"invalid value in the CQL2 text filter: {msg}") from None
    except RecursionError:
        raise _fail("过滤条件嵌套过深", "the filter is nested too deeply") from None


def _normalise_json(node: Any) -> Any:
    """Bring CQL2 1.0 JSON forms to the shapes pygeofilter 0.4 reads correctly.

    pygeofilter reads ``{"bbox": [minx, miny, maxx, maxy]}`` as ``Envelope(x1, x2, y1, y2)`` (axes
    mixed up) and expects ``between`` as ``[value, [low, high]]``; CQL2 1.0 writes ``[value, low, high]``.
    A bbox becomes the same ``bbox`` function node the text parser produces.
    """
    if isinstance(node, list):
        return [_normalise_json(n) for n in node]
    if not isinstance(node, dict):
        return node
    if "bbox" in node and not ("type" in node and "coordinates" in node):
        return {"function": {"name": "bbox", "arguments": node["bbox"]}}
    out = {k: _normalise_json(v) for k, v in node.items()}
    args = out.get("args")
    if out.get("op") == "between" and isinstance(args, list) and len(args) == 3:
        out["args"] = [args[0], [args[1], args[2]]]
    return out


def _parse_json(text: str) -> Any:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(f"CQL2 JSON 过滤条件不是合法 JSON：第 {exc.lineno} 行第 {exc.colno} 列，{exc.msg}",
                    f"the CQL2 JSON filter is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
                    ) from None
    if not isinstance(doc, dict):
        raise _fail("CQL2 JSON 过滤条件必须是 JSON 对象", "a CQL2 JSON filter must be a JSON object")
    try:
        return parse_json(_normalise_json(doc))
    except RecursionError:
        raise _fail("过滤条件嵌套过深", "the filter is nested too deeply") from None
    except Exception as exc:  # pygeofilter raises bare ValueError/KeyError/TypeError/Exception
        msg = str(exc)[:200] or type(exc).__name__
        raise _fail(f"无法解析 CQL2 JSON 过滤条件：{msg}", f"cannot parse the CQL2 JSON filter: {msg}") from None


# ---------------------------------------------------------------------------------------------
# SQL generation

def _node_name(node: Any) -> str:
    if isinstance(node, ast.Function):
        return f"{node.name.upper()}()"
    return type(node).__name__


def _unsupported(node: Any) -> ProblemError:
    name = _node_name(node)
    return _fail(f"不支持的过滤条件成分：{name}", f"unsupported filter element: {name}")


def _literal_type(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    if isinstance(value, str):
        return "string"
    return None


def _coerce_string(value: str, target: str) -> Any:
    """A string literal compared with a typed property, as that type (``area_mu = '12.5'``)."""
    try:
        if target == "integer":
            return int(value.strip())
        if target == "number":
            number = float(value.strip())
            if not math.isfinite(number):
                raise ValueError(value)
            return number
        if target == "date":
            return date.fromisoformat(value.strip())
        if target == "datetime":
            return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        if target == "boolean" and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
    except ValueError:
        pass
    raise _fail(f"字符串 '{value}' 不能作为{_TYPE_ZH[target]}比较",
                f"the string '{value}' cannot be compared as a {target}")


class _Compiler:
    def __init__(self, queryables: Mapping[str, Queryable], crs: CrsRef, srid: int, prefix: str):
        self.queryables, self.crs, self.srid, self.prefix = queryables, crs, srid, prefix
        self.params: dict[str, Any] = {}

    def _param(self, value: Any, cast: str) -> str:
        name = f"{self.prefix}{len(self.params)}"
        self.params[name] = value
        return f"%({name})s::{cast}"

    # -- conditions ----------------------------------------------------------------------------

    def condition(self, node: Any) -> str:
        handler = _CONDITIONS.get(type(node))
        if handler is None:
            if isinstance(node, _SPATIAL_TYPES):
                return self._spatial(node)
            raise _unsupported(node)
        return handler(self, node)

    def _and(self, node: ast.And) -> str:
        return f"({self.condition(node.lhs)} AND {self.condition(node.rhs)})"

    def _or(self, node: ast.Or) -> str:
        return f"({self.condition(node.lhs)} OR {self.condition(node.rhs)})"

    def _not(self, node: ast.Not) -> str:
        return f"(NOT {self.condition(node.sub_node)})"

    def _include(self, node: ast.Include) -> str:
        return "FALSE" if node.not_ else "TRUE"

    def _comparison(self, node: ast.Comparison) -> str:
        op = _COMPARISONS[type(node)]
        lhs, rhs = self._pair(node.lhs, node.rhs, op)
        return f"({lhs.sql} {op} {rhs.sql})"

    def _between(self, node: ast.Between) -> str:
        value = self.expr(node.lhs)
        self._require_ordered(value, "BETWEEN")
        low = self._against(node.low, value, "BETWEEN")
        high = self._against(node.high, value, "BETWEEN")
        neg = "NOT " if node.not_ else ""
        return f"({value.sql} {neg}BETWEEN {low.sql} AND {high.sql})"

    def _in(self, node: ast.In) -> str:
        value = self.expr(node.lhs)
        if value.type == "geometry":
            raise _fail("IN 不能用于几何属性", "IN cannot be used on a geometry")
        if not node.sub_nodes:
            raise _fail("IN 列表为空", "the IN list is empty")
        items = [self._against(item, value, "IN").sql for item in node.sub_nodes]
        neg = "NOT " if node.not_ else ""
        return f"({value.sql} {neg}IN ({', '.join(items)}))"

    def _like(self, node: ast.Like) -> str:
        value = self.expr(node.lhs)
        if value.type != "string":
            raise _fail(f"LIKE 只能用于字符串，{self._describe(node.lhs)} 是{_TYPE_ZH[value.type]}",
                        f"LIKE needs a string, but {self._describe(node.lhs)} is a {value.type}")
        pattern_node = node.pattern
        if isinstance(pattern_node, dict):
            pattern_node = self._json_operand(pattern_node)
        if isinstance(pattern_node, str):
            pattern_node = pattern_node.replace(_QUOTE_MARK, "'")
            if re.search(r"(?<!\\)(\\\\)*\\$", pattern_node):
                raise _fail(f"LIKE 模式不能以转义符 \\ 结尾：'{pattern_node}'",
                            f"a LIKE pattern cannot end with the escape character \\: '{pattern_node}'")
            pattern = _Expr(self._param(pattern_node, "text"), "string")
        else:
            pattern = self.expr(pattern_node)
            if pattern.type != "string":
                raise _fail("LIKE 模式必须是字符串", "a LIKE pattern must be a string")
        op = ("NOT " if node.not_ else "") + ("ILIKE" if node.nocase else "LIKE")
        # CQL2 and PostgreSQL agree: % and _ are the wildcards, backslash the default escape.
        return f"({value.sql} {op} {pattern.sql})"

    def _is_null(self, node: ast.IsNull) -> str:
        value = self.expr(node.lhs)
        return f"({value.sql} IS {'NOT ' if node.not_ else ''}NULL)"

    def _bbox_predicate(self, node: ast.BBox) -> str:
        target = self.expr(node.lhs)
        self._require_geometry(target, "BBOX")
        crs = parse_crs(node.crs) if node.crs else self.crs
        bbox = self._bbox_geometry([node.minx, node.miny, node.maxx, node.maxy], crs)
        return f"ST_Intersects({target.sql}, {bbox.sql})"

    def _spatial(self, node: ast.SpatialComparisonPredicate) -> str:
        func = _SPATIAL[type(node)]
        name = "S_" + node.op.value
        lhs, rhs = self.expr(node.lhs), self.expr(node.rhs)
        self._require_geometry(lhs, name, node.lhs)
        self._require_geometry(rhs, name, node.rhs)
        return f"{func}({lhs.sql}, {rhs.sql})"

    # -- expressions ---------------------------------------------------------------------------

    def expr(self, node: Any, hint: str | None = None) -> _Expr:
        """SQL and type of a scalar or geometry expression; ``hint`` types a bare string literal."""
        if isinstance(node, ast.Attribute):
            return self._attribute(node.name)
        if isinstance(node, str):
            node = node.replace(_QUOTE_MARK, "'")
            if hint is not None and hint != "string":
                if hint == "geometry":
                    raise _fail(f"字符串 '{node}' 不能与几何比较",
                                f"the string '{node}' cannot be compared with a geometry")
                return _Expr(self._param(_coerce_string(node, hint), _CASTS[hint]), hint)
            return _Expr(self._param(node, "text"), "string")
        literal = _literal_type(node)
        if literal is not None:
            if isinstance(node, float) and not math.isfinite(node):
                raise _fail("数值必须是有限数", "numbers must be finite")
            return _Expr(self._param(node, _CASTS[literal]), literal)
        if isinstance(node, ast.Arithmetic):
            return self._arithmetic(node)
        if isinstance(node, values.Geometry):
            return self._geometry_literal(node.geometry)
        if isinstance(node, ast.Function):
            return self._function(node)
        if isinstance(node, ast.Node) and not isinstance(node, ast.Expression):
            raise _fail(f"此处需要值或属性，而不是条件 {_node_name(node)}",
                        f"a value or property is expected here, not the condition {_node_name(node)}")
        raise _unsupported(node)

    def _attribute(self, name: str) -> _Expr:
        q = self.queryables.get(name)
        if q is None:
            known = ", ".join(sorted(self.queryables)) or "—"
            raise _fail(f"未知的属性：{name}（可用于过滤的属性：{known}）",
                        f"unknown property: {name} (queryables: {known})")
        if q.type not in TYPES:
            raise ValueError(f"queryable {q.name} has unknown type {q.type!r}")
        return _Expr(q.sql, q.type)

    def _function(self, node: ast.Function) -> _Expr:
        name = node.name.lower()
        if name == "bbox":
            return self._bbox_geometry(node.arguments, self.crs)
        if name in ("lower", "casei") and len(node.arguments) == 1:
            arg = self.expr(node.arguments[0])
            if arg.type != "string":
                raise _fail("CASEI 只能用于字符串", "CASEI needs a string")
            return _Expr(f"lower({arg.sql})", "string")
        raise _fail(f"不支持的函数：{node.name}", f"unsupported function: {node.name}")

    def _arithmetic(self, node: ast.Arithmetic) -> _Expr:
        op = _ARITHMETIC[type(node)]
        lhs, rhs = self.expr(node.lhs), self.expr(node.rhs)
        for side, operand in ((lhs, node.lhs), (rhs, node.rhs)):
            if _FAMILY[side.type] != "number":
                raise _fail(f"算术运算 {op} 只能用于数值，{self._describe(operand)} 是{_TYPE_ZH[side.type]}",
                            f"arithmetic {op} needs numbers, but {self._describe(operand)} is a {side.type}")
        if op == "/":
            if isinstance(node.rhs, (int, float)) and not isinstance(node.rhs, bool) and node.rhs == 0:
                raise _fail("除数不能为 0", "division by zero")
            # CQL2 "/" is real division; on two integers PostgreSQL would truncate.
            return _Expr(f"(({lhs.sql})::double precision / NULLIF({rhs.sql}, 0))", "number")
        kind = "integer" if lhs.type == rhs.type == "integer" else "number"
        return _Expr(f"({lhs.sql} {op} {rhs.sql})", kind)

    def _pair(self, a: Any, b: Any, op: str) -> tuple[_Expr, _Expr]:
        """Both sides of a comparison, a bare string literal typed after the other side."""
        if isinstance(a, str) and not isinstance(b, str):
            rhs = self.expr(b)
            lhs = self.expr(a, hint=rhs.type)
        else:
            lhs = self.expr(a)
            rhs = self.expr(b, hint=lhs.type)
        self._require_comparable(lhs, rhs, a, b, op)
        if op not in ("=", "<>"):
            self._require_ordered(lhs, op)
        return lhs, rhs

    def _against(self, node: Any, value: _Expr, op: str) -> _Expr:
        other = self.expr(node, hint=value.type)
        self._require_comparable(value, other, None, node, op)
        return other

    def _require_comparable(self, lhs: _Expr, rhs: _Expr, a: Any, b: Any, op: str) -> None:
        if "geometry" in (lhs.type, rhs.type):
            raise _fail(f"几何不能用 {op} 比较，请使用 S_INTERSECTS 等空间谓词",
                        f"geometries cannot be compared with {op}; use a spatial predicate such as S_INTERSECTS")
        if _FAMILY[lhs.type] != _FAMILY[rhs.type]:
            da, db = self._describe(a), self._describe(b)
            raise _fail(f"类型不匹配：{da}（{_TYPE_ZH[lhs.type]}）不能与 {db}（{_TYPE_ZH[rhs.type]}）做 {op} 比较",
                        f"type mismatch: {da} ({lhs.type}) cannot be compared with {db} ({rhs.type}) using {op}")

    def _require_ordered(self, value: _Expr, op: str) -> None:
        if value.type in ("geometry", "boolean"):
            raise _fail(f"{_TYPE_ZH[value.type]}不支持 {op}", f"{op} is not defined for a {value.type}")

    def _require_geometry(self, value: _Expr, op: str, node: Any = None) -> None:
        if value.type != "geometry":
            what = self._describe(node)
            raise _fail(f"{op} 需要几何，{what} 是{_TYPE_ZH[value.type]}",
                        f"{op} needs geometries, but {what} is a {value.type}")

    @staticmethod
    def _describe(node: Any) -> str:
        if isinstance(node, ast.Attribute):
            return node.name
        if node is None:
            return "值"
        if isinstance(node, (str, int, float, bool, date)):
            return repr(node.replace(_QUOTE_MARK, "'") if isinstance(node, str) else node)
        return _node_name(node)

    def _json_operand(self, node: dict) -> Any:
        from pygeofilter.parsers.cql2_json.parser import walk_cql_json

        try:
            return walk_cql_json(node)
        except Exception as exc:
            raise _fail(f"无法解析 LIKE 模式：{exc}", f"cannot parse the LIKE pattern: {exc}") from None

    # -- geometry literals ---------------------------------------------------------------------

    def _bbox_geometry(self, args: list[Any], crs: CrsRef) -> _Expr:
        if not isinstance(args, list) or len(args) not in (4, 6) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in args):
            raise _fail("BBOX 需要 4 个（或 6 个）数值：最小1, 最小2, 最大1, 最大2",
                        "BBOX needs 4 (or 6) numbers: min1, min2, max1, max2")
        half = len(args) // 2
        a1, b1, a2, b2 = args[0], args[1], args[half], args[half + 1]
        if a1 > a2 or b1 > b2:
            raise _fail(f"BBOX 的最小值大于最大值：{args}", f"BBOX minimum exceeds maximum: {args}")
        return self._geometry(box(a1, b1, a2, b2), crs)

    def _geometry_literal(self, geo: dict) -> _Expr:
        if "crs" in geo:
            raise _fail("几何字面量不能自带坐标系（SRID=…;），请使用 filter-crs 参数",
                        "geometry literals cannot carry their own CRS (SRID=…;); use the filter-crs parameter")
        try:
            geom = shape(geo)
        except Exception as exc:  # shapely raises assorted errors for malformed GeoJSON
            raise _fail(f"几何字面量无效：{exc}", f"invalid geometry literal: {exc}") from None
        return self._geometry(geom, self.crs)

    def _geometry(self, geom: BaseGeometry, crs: CrsRef) -> _Expr:
        if geom.is_empty:
            raise _fail("几何字面量为空", "the geometry literal is empty")
        geom = shapely.force_2d(geom)
        if not shapely.is_valid(geom):
            reason = shapely.is_valid_reason(geom)
            raise _fail(f"几何字面量无效：{reason}", f"invalid geometry literal: {reason}")
        stored = transform_geom(to_internal_xy(geom, crs), crs, self.srid)
        coords = shapely.get_coordinates(stored)
        if not all(math.isfinite(v) for v in coords.ravel()):
            raise _fail(f"几何字面量超出坐标系 {crs.uri} 的范围（注意轴顺序）",
                        f"the geometry literal is outside the range of {crs.uri} (check the axis order)")
        return _Expr(f"ST_GeomFromWKB({self._param(shapely.to_wkb(stored), 'bytea')}, {self.srid})", "geometry")


_SPATIAL_TYPES = tuple(_SPATIAL)
_CONDITIONS: dict[type, Callable[[_Compiler, Any], str]] = {
    ast.And: _Compiler._and, ast.Or: _Compiler._or, ast.Not: _Compiler._not, ast.Include: _Compiler._include,
    **{cls: _Compiler._comparison for cls in _COMPARISONS},
    ast.Between: _Compiler._between, ast.In: _Compiler._in, ast.Like: _Compiler._like,
    ast.IsNull: _Compiler._is_null, ast.BBox: _Compiler._bbox_predicate,
}
