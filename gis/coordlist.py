"""Boundary-point coordinate lists (界址点坐标) → lots as shapely polygons in the storage CRS.

Survey contractors deliver proposed lots as text, in one of two shapes:

* a **simple table** — ``点号,X,Y`` (or ``界址点号,X坐标,Y坐标``; optional header row), optionally
  with a lot column (地块号 / 地块编号 / lot / label) and a ring column (圈号), or with lots
  separated by blank lines. Fields are separated by a comma, a Chinese comma ``，``, a semicolon,
  a tab or whitespace. Without a header, 2 fields are ``X,Y``, 3 are ``点号,X,Y`` and 4 are
  ``点号,圈号,X,Y`` when the second field is a small integer on every line, else ``地块,点号,X,Y``;
* the **Ministry exchange format** (国土资源部 界址点坐标交换格式, used for 建设用地报批):
  ``[属性描述]`` with ``key=value`` lines, then ``[地块坐标]`` where each lot starts with
  ``点数,面积,地块编号,地块名称,图形属性,图幅号,地块用途,地类编码,@`` followed by point lines
  ``点号,圈号,X,Y``.

As Chinese surveyors write them, X is the northing and Y the easting (EPSG:4549's authority axis
order); Y may carry the 3-degree zone number (40 500 000 …, EPSG:4528). A ring ends where its
ring number changes or where a point repeats the ring's first point; an open ring is closed (with
a warning). Rings after the first are holes when they lie inside an earlier ring, else further
parts (a MultiPolygon). Invalid polygons (self-intersections …) are returned as read: the checks
report them, nothing here repairs them.

Text is UTF-8 (with or without BOM), UTF-16 with BOM, or GBK/GB18030.

>>> text = "点号,X,Y\\nJ1,3225000,600000\\nJ2,3225000,600100\\nJ3,3225100,600100\\nJ4,3225100,600000\\n"
>>> parsed = parse_coordinate_list(text.encode("gbk"))
>>> parsed.format, [lot.label for lot in parsed.lots], parsed.lots[0].geometry.area
('coordinate-list', ['A'], 10000.0)
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pyproj import CRS
from shapely.errors import GEOSException
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from gis.crs import CrsRef, looks_zone_prefixed, parse_crs, to_storage_checked
from gis.errors import GisInputError
from gis.jurisdiction import Jurisdiction, load_jurisdiction

__all__ = [
    "CoordinateList",
    "Lot",
    "Notice",
    "decode_text",
    "is_ministry_exchange",
    "parse_coordinate_list",
]

Format = Literal["coordinate-list", "ministry-exchange"]
MU_M2 = 10_000 / 15


@dataclass(frozen=True)
class Notice:
    """A warning about the input that did not stop it being read (bilingual, with its line)."""

    code: str
    detail_zh: str
    detail_en: str
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "detail": f"{self.detail_zh} / {self.detail_en}",
                               "detail_zh": self.detail_zh, "detail_en": self.detail_en}
        if self.line is not None:
            out["line"] = self.line
        return out


@dataclass
class Lot:
    """One lot: its label, its (Multi)Polygon in the storage CRS (x = easting), its attributes."""

    label: str
    geometry: BaseGeometry
    attributes: dict[str, Any]
    line: int


@dataclass
class CoordinateList:
    """What a coordinate list holds: its format, lots, the CRS its positions were read in, warnings."""

    format: Format
    lots: list[Lot]
    source_crs: CrsRef
    encoding: str
    warnings: list[Notice] = field(default_factory=list)


def _error(code: str, zh: str, en: str, line: int | None = None, status: int = 422) -> GisInputError:
    if line is not None:
        zh, en = f"第 {line} 行：{zh}", f"line {line}: {en}"
    return GisInputError(code, zh, en, status=status, extra={"line": line} if line is not None else {})


# ---------------------------------------------------------------------------------------------- text


def decode_text(data: bytes) -> tuple[str, str, list[Notice]]:
    """Bytes → (text, encoding, notices): a BOM decides, else strict UTF-8, else GB18030 (a GBK superset).

    Text with NUL bytes, or that decodes in neither, is not a coordinate list (422 ``unknown-format``).
    """
    if data.startswith(b"\xef\xbb\xbf"):
        candidates = ["utf-8-sig"]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8", "gb18030"]
    for enc in candidates:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break
        notices = []
        if enc == "gb18030" and any(ord(c) > 127 for c in text):
            notices.append(Notice("encoding-guessed", "文件不是 UTF-8，按 GBK（GB18030）编码读取",
                                  "the file is not UTF-8: read as GBK (GB18030)"))
        return text, {"utf-8-sig": "UTF-8 (BOM)", "utf-16": "UTF-16", "utf-8": "UTF-8",
                      "gb18030": "GBK"}[enc], notices
    raise _error("unknown-format", "无法识别的文件格式（不是 GeoJSON、Shapefile zip、GeoPackage 或界址点坐标文本）",
                 "unrecognised file format (not GeoJSON, a zipped Shapefile, a GeoPackage or a coordinate list)",
                 status=422)


_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_MINISTRY_HEADER = re.compile(r"[,，]\s*@\s*$")


def is_ministry_exchange(text: str) -> bool:
    """Does the text look like the Ministry exchange format (``[地块坐标]`` or lot lines ending ``,@``)?"""
    return "[地块坐标]" in text or any(_MINISTRY_HEADER.search(line) for line in text.splitlines()[:200])


_SEPARATOR = re.compile(r"[,，;；\t]")


def _fields(line: str) -> list[str]:
    if _SEPARATOR.search(line):
        parts = [p.strip() for p in _SEPARATOR.split(line)]
        while parts and parts[-1] == "":
            parts.pop()
        return parts
    return line.split()


def _number(value: str) -> float | None:
    try:
        v = float(value.replace(" ", ""))
    except ValueError:
        return None
    return v if np.isfinite(v) else None


# ---------------------------------------------------------------------------------------------- rows


@dataclass
class _Point:
    line: int
    name: str
    x: float  # northing, as written
    y: float  # easting, as written


@dataclass
class _RawLot:
    label: str | None
    line: int
    attributes: dict[str, Any] = field(default_factory=dict)
    rings: list[list[_Point]] = field(default_factory=list)
    ring_key: Any = None
    closed: bool = False  # the current ring was just closed by repeating its first point

    def add(self, point: _Point, ring_key: Any = None) -> None:
        if not self.rings or self.closed or ring_key != self.ring_key:
            self.rings.append([])
            self.closed = False
        self.ring_key = ring_key
        ring = self.rings[-1]
        ring.append(point)
        if len(ring) > 3 and (point.x, point.y) == (ring[0].x, ring[0].y):
            self.closed = True


_HEADER_KEYS = {
    "point": ("界址点号", "界址点", "点号", "点名", "序号", "point", "pt", "no", "id", "name", "编号"),
    "x": ("x坐标", "北坐标", "纵坐标", "x", "n", "northing", "north"),
    "y": ("y坐标", "东坐标", "横坐标", "y", "e", "easting", "east"),
    "lot": ("地块编号", "地块号", "地块名称", "地块", "宗地号", "宗地编号", "lot", "label", "parcel", "plot"),
    "ring": ("圈号", "环号", "地块圈号", "ring", "part"),
}


def _header_role(name: str) -> str | None:
    key = re.sub(r"[\s()（）\[\]【】]", "", name.strip().lower())
    key = re.sub(r"(?<=[xy坐标])(m|米)$", "", key)
    for role in ("lot", "ring", "point", "x", "y"):
        if key in _HEADER_KEYS[role]:
            return role
    for role in ("x", "y"):
        if key.startswith(_HEADER_KEYS[role][0]) or key in (f"{role}值", f"{role}(m)"):
            return role
    return None


def _parse_simple(lines: list[str]) -> tuple[list[_RawLot], list[Notice]]:
    notices: list[Notice] = []
    columns: dict[str, int] | None = None
    width: int | None = None
    lots: list[_RawLot] = []
    by_label: dict[str, _RawLot] = {}
    current: _RawLot | None = None
    data: list[tuple[int, list[str]]] = []

    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith(("#", "//")):
            data.append((n, []))
            continue
        fields = _fields(line)
        if columns is None and not _data_seen(data):
            roles = [_header_role(f) for f in fields]
            if "x" in roles and "y" in roles:
                columns = {r: i for i, r in reversed(list(enumerate(roles))) if r}
                width = len(fields)
                continue
            if len(fields) == 1 and _number(fields[0]) is None:
                notices.append(Notice("title-skipped", f"跳过标题行“{fields[0]}”",
                                      f"skipped the title line {fields[0]!r}", n))
                continue
        data.append((n, fields))

    rows = [(n, f) for n, f in data if f]
    if not rows:
        raise _error("empty-file", "文件中没有坐标", "the file holds no coordinates")
    if columns is None:
        widths = {len(f) for _, f in rows}
        if len(widths) != 1:
            n = next(n for n, f in rows if len(f) != len(rows[0][1]))
            raise _error("malformed-line", f"字段数与第 {rows[0][0]} 行不一致（{len(rows[0][1])} 个）",
                         f"the number of fields differs from line {rows[0][0]} ({len(rows[0][1])})", n)
        width = widths.pop()
        if width == 2:
            columns = {"x": 0, "y": 1}
        elif width == 3:
            columns = {"point": 0, "x": 1, "y": 2}
        elif width == 4:
            small = all(re.fullmatch(r"\d{1,2}", f[1]) for _, f in rows)
            columns = {"point": 0, "ring": 1, "x": 2, "y": 3} if small else {"lot": 0, "point": 1, "x": 2, "y": 3}
        else:
            raise _error("unknown-format",
                         f"无法识别的坐标列表：每行 {width} 个字段，应为“点号,X,Y”（可加地块列），或使用交换格式",
                         f"unrecognised coordinate list: {width} fields a line; expected 'point,X,Y' "
                         "(optionally with a lot column) or the Ministry exchange format", rows[0][0])
    need = max(columns.values()) + 1
    pending_break = False
    for n, fields in data:
        if not fields:
            pending_break = current is not None
            continue
        if len(fields) < need:
            raise _error("malformed-line",
                         f"字段不足（应有 {width or need} 个，实有 {len(fields)} 个）：{','.join(fields)}",
                         f"too few fields ({len(fields)}, expected {width or need}): {','.join(fields)}", n)
        x, y = _number(fields[columns["x"]]), _number(fields[columns["y"]])
        if x is None or y is None:
            raise _error("malformed-line", f"X/Y 不是数值：{','.join(fields)}",
                         f"X/Y is not a number: {','.join(fields)}", n)
        point = _Point(n, fields[columns["point"]] if "point" in columns else str(n), x, y)
        ring_key = fields[columns["ring"]] if "ring" in columns else None
        if "lot" in columns:
            label = fields[columns["lot"]]
            lot = by_label.get(label)
            if lot is None:
                lot = by_label[label] = _RawLot(label or None, n)
                lots.append(lot)
            elif lot is not current:
                lot.closed = True  # the lot resumes after another one: a new ring
            current = lot
        elif current is None or pending_break:
            current = _RawLot(None, n)
            lots.append(current)
        pending_break = False
        current.add(point, ring_key)
    return lots, notices


def _data_seen(data: list[tuple[int, list[str]]]) -> bool:
    return any(f for _, f in data)


# ------------------------------------------------------------------------------------ Ministry format

_MINISTRY_FIELDS = ("点数", "面积", "地块编号", "地块名称", "图形属性", "图幅号", "地块用途", "地类编码")


def _parse_ministry(lines: list[str]) -> tuple[list[_RawLot], dict[str, str], list[Notice]]:
    attrs: dict[str, str] = {}
    lots: list[_RawLot] = []
    notices: list[Notice] = []
    section = None
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        m = _SECTION.match(line)
        if m:
            section = m.group(1).strip()
            continue
        if section == "属性描述" or (section is None and "=" in line and not lots):
            key, sep, value = line.partition("=")
            if sep:
                attrs[key.strip()] = value.strip()
                continue
            raise _error("malformed-line", f"属性描述应为“键=值”：{line}",
                         f"expected key=value in [属性描述]: {line}", n)
        if section not in (None, "地块坐标"):
            continue
        if _MINISTRY_HEADER.search(line):
            values = _fields(_MINISTRY_HEADER.sub("", line))
            header = {k: v for k, v in zip(_MINISTRY_FIELDS, values, strict=False) if v}
            lots.append(_RawLot(header.get("地块编号") or header.get("地块名称"), n, header))
            continue
        fields = _fields(line)
        if not lots:
            raise _error("malformed-line", f"坐标行之前缺少地块行（点数,面积,地块编号,…,@）：{line}",
                         f"a point line before any lot line (点数,面积,地块编号,…,@): {line}", n)
        if len(fields) != 4:
            raise _error("malformed-line", f"坐标行应为“点号,圈号,X,Y”：{line}",
                         f"a point line must be 'point,ring,X,Y': {line}", n)
        x, y = _number(fields[2]), _number(fields[3])
        if x is None or y is None or not re.fullmatch(r"\d+", fields[1]):
            raise _error("malformed-line", f"圈号应为整数，X/Y 应为数值：{line}",
                         f"the ring number must be an integer and X/Y numbers: {line}", n)
        lots[-1].add(_Point(n, fields[0], x, y), int(fields[1]))
    if not lots:
        raise _error("empty-file", "交换格式文件中没有地块（缺少“…,@”地块行）",
                     "the exchange file holds no lot (no '…,@' lot line)")
    for lot in lots:
        if not lot.rings:
            raise _error("too-few-points", "地块没有坐标点", "the lot has no points", lot.line)
        declared = lot.attributes.get("点数")
        count = sum(len(r) for r in lot.rings)
        if declared and declared.isdigit() and int(declared) != count:
            notices.append(Notice("point-count-mismatch", f"地块行声明 {declared} 个点，实有 {count} 个",
                                  f"the lot line declares {declared} points but {count} follow", lot.line))
    return lots, attrs, notices


def _ministry_crs(attrs: dict[str, str], zone: int) -> None:
    """Refuse what the 属性描述 says we cannot read (another datum, 6-degree zones, another zone)."""
    datum = attrs.get("坐标系", "")
    if datum and ("2000" not in datum and "CGCS" not in datum.upper()):
        raise _error("unsupported-crs",
                     f"坐标系为“{datum}”，只支持 2000 国家大地坐标系（CGCS2000）；其他坐标系请用 source_crs 指明",
                     f"the coordinate system is {datum!r}; only CGCS2000 is read without source_crs")
    width = attrs.get("几度分带", "").strip()
    if width and width not in ("3", "3度"):
        raise _error("unsupported-crs", f"{width} 度分带不受支持，应为 3 度分带；其他投影请用 source_crs 指明",
                     f"{width}-degree zones are not supported (3-degree expected); name other projections "
                     "with source_crs")
    declared = attrs.get("带号", "").strip()
    if declared.isdigit() and int(declared) != zone:
        raise _error("wrong-zone",
                     f"带号为 {declared}（中央经线 {int(declared) * 3}°E），本辖区位于 3 度带第 {zone} 带",
                     f"zone {declared} (central meridian {int(declared) * 3}°E) declared; the jurisdiction lies "
                     f"in 3-degree zone {zone}")


# ---------------------------------------------------------------------------------------------- CRS


def _zone_of(jurisdiction: Jurisdiction) -> int | None:
    if not jurisdiction.zone_prefixed_epsg:
        return None
    op = CRS.from_epsg(jurisdiction.zone_prefixed_epsg).coordinate_operation
    for p in op.params if op else ():
        if p.name.lower() == "false easting":
            return int(p.value // 1_000_000)
    return None


def _choose_crs(points: np.ndarray, declared: str | None, jurisdiction: Jurisdiction, zone: int | None,
                lines: np.ndarray) -> tuple[CrsRef, list[Notice]]:
    """The CRS of (X, Y) positions: ``declared`` if given, else the storage CRS or its zone-prefixed twin."""
    storage = parse_crs(jurisdiction.storage_epsg)
    prefixed = parse_crs(jurisdiction.zone_prefixed_epsg) if jurisdiction.zone_prefixed_epsg else None
    ref = parse_crs(declared) if declared else storage
    if ref.key not in (storage.key, prefixed.key if prefixed else None) or zone is None:
        return ref, []
    x, y = points[:, 0], points[:, 1]
    y_pref = np.array([looks_zone_prefixed(v, zone) for v in y])
    x_pref = np.array([looks_zone_prefixed(v, zone) for v in x])
    if y_pref.all() or x_pref.all():
        notes = [] if ref.key == prefixed.key else [Notice(
            "zone-prefixed", f"Y（东坐标）带有带号前缀 {zone}，按 {prefixed.key} 读取",
            f"the Y values (eastings) carry the zone prefix {zone}: read as {prefixed.key}")]
        return prefixed, notes
    if y_pref.any():
        i = int(np.flatnonzero(~y_pref)[0] if y_pref.sum() > len(y_pref) / 2 else np.flatnonzero(y_pref)[0])
        raise _error("mixed-zone-prefix", "部分 Y 坐标带有带号前缀，部分没有",
                     "some Y values carry the zone prefix and some do not", int(lines[i]), status=400)
    with np.errstate(invalid="ignore"):
        other = (y >= 13_000_000) & (y < 46_000_000)
    if other.any():
        i = int(np.flatnonzero(other)[0])
        z = int(y[i] // 1_000_000)
        raise _error("wrong-zone", f"Y 坐标 {y[i]:.3f} 带有带号 {z}（中央经线 {z * 3}°E），本辖区位于第 {zone} 带（"
                     f"{zone * 3}°E），请换算到 {storage.key} 或用 source_crs 指明坐标系",
                     f"Y {y[i]:.3f} carries zone number {z} (central meridian {z * 3}°E) but the jurisdiction "
                     f"lies in zone {zone} ({zone * 3}°E): convert to {storage.key} or name the CRS with source_crs",
                     int(lines[i]), status=400)
    if ref.key == (prefixed.key if prefixed else None):
        return storage, [Notice("zone-prefix-missing", f"声明 {ref.key} 但 Y 坐标无带号前缀，按 {storage.key} 读取",
                                f"{ref.key} declared but the Y values carry no zone prefix: read as {storage.key}")]
    return storage, []


# --------------------------------------------------------------------------------------------- rings


def _ring_coords(ring: list[_Point], xy: np.ndarray, lot_line: int, notices: list[Notice]) -> np.ndarray:
    keep = np.ones(len(xy), dtype=bool)
    keep[1:] = (xy[1:] != xy[:-1]).any(axis=1)
    if not keep.all():
        dropped = [ring[i].line for i in np.flatnonzero(~keep)]
        notices.append(Notice("duplicate-points-dropped",
                              f"删除连续重复的点（第 {', '.join(map(str, dropped))} 行）",
                              f"dropped consecutive duplicate points (line {', '.join(map(str, dropped))})",
                              dropped[0]))
        xy, ring = xy[keep], [p for p, k in zip(ring, keep, strict=True) if k]
    closed = len(xy) > 1 and bool((xy[0] == xy[-1]).all())
    distinct = len(xy) - 1 if closed else len(xy)
    if len(np.unique(xy, axis=0)) < 3:
        raise _error("too-few-points", f"环只有 {distinct} 个不同的点，至少需要 3 个",
                     f"the ring has {distinct} distinct points; at least 3 are needed", ring[0].line)
    if not closed:
        notices.append(Notice("ring-closed", f"环未闭合（末点 {ring[-1].name} ≠ 首点 {ring[0].name}），已自动闭合",
                              f"the ring was not closed (last point {ring[-1].name} ≠ first {ring[0].name}); closed it",
                              ring[0].line))
        xy = np.vstack([xy, xy[:1]])
    return xy


def _inside(ring: np.ndarray, shell: Polygon) -> bool:
    try:
        return bool(shell.contains(Point(ring[0]))) or bool(shell.contains(Point(ring.mean(axis=0))))
    except GEOSException:
        minx, miny, maxx, maxy = shell.bounds
        return bool(((ring >= [minx, miny]) & (ring <= [maxx, maxy])).all())


def _polygon(rings: list[np.ndarray]) -> BaseGeometry:
    """Shells and holes: a later ring inside an earlier shell is its hole, else a shell of its own."""
    shells: list[tuple[np.ndarray, list[np.ndarray], Polygon]] = []
    for ring in rings:
        owner = next((s for s in shells if _inside(ring, s[2])), None)
        if owner is None:
            shells.append((ring, [], Polygon(ring)))
        else:
            owner[1].append(ring)
    polys = [Polygon(shell, holes) for shell, holes, _ in shells]
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def _letters(i: int) -> str:
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = string.ascii_uppercase[r] + out
    return out


def _area_notice(lot: _RawLot, area_m2: float) -> Notice | None:
    """The exchange format declares 面积 in hectares (some write m² or mu): warn when none agrees."""
    declared = _number(lot.attributes.get("面积", "") or "")
    if not declared or declared <= 0:
        return None
    for factor in (10_000.0, 1.0, MU_M2):
        if abs(declared * factor - area_m2) <= max(0.01 * area_m2, 0.5):
            return None
    return Notice("area-mismatch", f"地块行声明面积 {declared:g}（公顷），按坐标计算为 {area_m2 / 10_000:.4f} 公顷",
                  f"the lot line declares area {declared:g} (ha) but the coordinates give {area_m2 / 10_000:.4f} ha",
                  lot.line)


# ---------------------------------------------------------------------------------------------- entry


def parse_coordinate_list(data: bytes | str, *, crs: str | None = None,
                          jurisdiction: Jurisdiction | None = None) -> CoordinateList:
    """Parse a coordinate list (simple table or Ministry exchange format) into lots in the storage CRS.

    ``crs`` names the CRS of the (X, Y) positions, written in its authority axis order; by default
    the jurisdiction's storage CRS (EPSG:4549: X = northing, Y = easting), or its zone-prefixed twin
    when the Y values carry the zone number. Raises :class:`GisInputError` (422 malformed line,
    too few points, unknown format; 400 swapped axes, wrong zone, far outside the jurisdiction).
    """
    jurisdiction = jurisdiction or load_jurisdiction()
    if isinstance(data, bytes):
        text, encoding, notices = decode_text(data)
    else:
        text, encoding, notices = data, "UTF-8", []
    lines = text.splitlines()
    if not text.strip():
        raise _error("empty-file", "文件为空", "the file is empty")
    zone = _zone_of(jurisdiction)
    fmt: Format
    if is_ministry_exchange(text):
        fmt = "ministry-exchange"
        raw_lots, attrs, more = _parse_ministry(lines)
        if not crs and zone is not None:
            _ministry_crs(attrs, zone)
    else:
        fmt = "coordinate-list"
        raw_lots, more = _parse_simple(lines)
    notices.extend(more)

    points = [p for lot in raw_lots for ring in lot.rings for p in ring]
    positions = np.array([(p.x, p.y) for p in points], dtype=float)
    line_of = np.array([p.line for p in points])
    ref, more = _choose_crs(positions, crs, jurisdiction, zone, line_of)
    notices.extend(more)
    try:
        xy = to_storage_checked(positions, ref, jurisdiction)
    except GisInputError as exc:
        pos = exc.extra.get("position")
        hit = np.flatnonzero((positions == np.asarray(pos)).all(axis=1)) if pos is not None else []
        if len(hit):
            line = int(line_of[hit[0]])
            exc.detail_zh, exc.detail_en = f"第 {line} 行：{exc.detail_zh}", f"line {line}: {exc.detail_en}"
            exc.extra["line"] = line
            if exc.code == "axis-order-swapped":
                exc.detail_zh += "。界址点坐标中 X 为北坐标（约 3 2xx xxx），Y 为东坐标"
                exc.detail_en += ". In a coordinate list X is the northing and Y the easting"
        raise
    xy = np.round(xy, 6)  # no survey is finer than a micrometre: drop the float noise of the zone-prefix offset

    lots: list[Lot] = []
    k = 0
    seen: set[str] = set()
    for i, raw in enumerate(raw_lots):
        rings = []
        for ring in raw.rings:
            rings.append(_ring_coords(ring, xy[k:k + len(ring)], raw.line, notices))
            k += len(ring)
        geom = _polygon(rings)
        label = raw.label or _letters(i)
        if label in seen:
            label = f"{label}-{i + 1}"
            notices.append(Notice("duplicate-label", f"地块编号重复，改为 {label}",
                                  f"duplicate lot label: renamed {label}", raw.line))
        seen.add(label)
        if fmt == "ministry-exchange":
            note = _area_notice(raw, float(geom.area))
            if note:
                notices.append(note)
        attributes = dict(raw.attributes)
        attributes.setdefault("点数", sum(len(r) for r in raw.rings))
        lots.append(Lot(label, geom, attributes, raw.line))
    return CoordinateList(fmt, lots, ref, encoding, notices)
