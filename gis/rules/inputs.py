"""Typed, pointer-aware reading of a check request: facts, parties, parcels, lots and other features.

Everything that cannot be read raises :class:`~gis.errors.GisInputError` with the JSON pointer of
the offending member (422 for a well-formed but unusable value, 400 for a malformed one). A fact
that is merely absent is ``None``: the rules decide what absence means (usually ``needs_review``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from datetime import date, datetime
from typing import Any

from shapely.geometry.base import BaseGeometry

from gis.errors import GisInputError
from gis.geojson import GeometryBatch, feature_list
from gis.rules.lookup import StoredLookup, StoredParcel

__all__ = ["FLAG_NAMES", "Item", "Lot", "ParcelIn", "Party", "Props", "parse_date", "parse_party", "resolve_parcel"]

FLAG_NAMES = {"energy": "energy", "environment": "environment", "quality": "quality", "safety": "safety",
              "能耗": "energy", "环保": "environment", "质量": "quality", "安全": "safety"}
_TRUE = {"true", "yes", "y", "1", "是", "√"}
_FALSE = {"false", "no", "n", "0", "否", ""}


def _invalid(pointer: str, zh: str, en: str, status: int = 422) -> GisInputError:
    return GisInputError("invalid-value", zh, en, status=status, pointer=pointer)


def parse_date(value: Any, pointer: str) -> date | None:
    """``YYYY-MM-DD`` (or a datetime / ISO timestamp) → date; None stays None; anything else → 422."""
    if value is None or value == "" or value != value:  # NaN / NaT from a data frame: missing
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise _invalid(pointer, f"日期格式应为 YYYY-MM-DD：{value!r}", f"a date must be YYYY-MM-DD: {value!r}")


class Props:
    """Read access to a JSON object with types and pointers (a Feature's properties, a request)."""

    __slots__ = ("data", "pointer")

    def __init__(self, data: Mapping[str, Any] | None, pointer: str) -> None:
        self.data: Mapping[str, Any] = data or {}
        self.pointer = pointer

    def at(self, key: str) -> str:
        return f"{self.pointer}/{key}"

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    def text(self, key: str) -> str | None:
        v = self.data.get(key)
        if v is None:
            return None
        if type(v) is str:
            return v.strip() or None
        if isinstance(v, str | int | float) and not isinstance(v, bool):
            s = str(v).strip()
            return s or None
        raise _invalid(self.at(key), f"{key} 应为字符串", f"{key} must be a string")

    def date(self, key: str) -> date | None:
        return parse_date(self.data.get(key), self.at(key))

    def number(self, key: str) -> float | None:
        v = self.data.get(key)
        if v is None or v == "":
            return None
        if isinstance(v, bool):
            raise _invalid(self.at(key), f"{key} 应为数值", f"{key} must be a number")
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise _invalid(self.at(key), f"{key} 应为数值：{v!r}", f"{key} must be a number: {v!r}") from None
        if f != f:  # NaN (a data frame's missing value; JSON cannot carry one)
            return None
        if f in (float("inf"), float("-inf")):
            raise _invalid(self.at(key), f"{key} 应为有限数值", f"{key} must be a finite number")
        return f

    def flag(self, key: str) -> bool | None:
        v = self.data.get(key)
        if v is None:
            return None
        if isinstance(v, bool):
            return v
        if isinstance(v, int | float) and v in (0, 1):
            return bool(v)
        if isinstance(v, str) and v.strip().lower() in _TRUE | _FALSE:
            return v.strip().lower() in _TRUE
        raise _invalid(self.at(key), f"{key} 应为 true/false", f"{key} must be true or false")

    def obj(self, key: str) -> Props | None:
        v = self.data.get(key)
        if v is None:
            return None
        if not isinstance(v, Mapping):
            raise _invalid(self.at(key), f"{key} 应为对象", f"{key} must be an object")
        return Props(v, self.at(key))

    def items(self, key: str) -> list[Any] | None:
        v = self.data.get(key)
        if v is None:
            return None
        if isinstance(v, list | tuple):
            return list(v)
        if isinstance(v, str):  # a list kept as text ("a,b"), as GeoPackage / DBF columns carry it
            return [x.strip() for x in v.replace("，", ",").split(",") if x.strip()]
        raise _invalid(self.at(key), f"{key} 应为数组", f"{key} must be an array")


@dataclass(frozen=True)
class Party:
    """A company on one side of a transfer (transferee, receiving holder, the parcel's holder)."""

    pointer: str
    name: str | None = None
    credit_code: str | None = None
    rating: str | None = None
    rating_year: int | None = None
    compliance_flags: tuple[str, ...] | None = None
    key_project_investment_wan: float | None = None
    key_project_under_construction: bool | None = None

    @property
    def label(self) -> str:
        return self.name or self.credit_code or "?"


def _rating(value: Any, pointer: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().upper() in ("A", "B", "C", "D"):
        return value.strip().upper()
    raise _invalid(pointer, f"亩均评价等级应为 A/B/C/D：{value!r}", f"a rating must be A, B, C or D: {value!r}")


def _flags(values: Any, pointer: str) -> tuple[str, ...] | None:
    if values is None:
        return None
    if isinstance(values, str):  # "energy,safety" as text columns carry it
        values = [v for v in values.replace("，", ",").replace("、", ",").split(",") if v.strip()]
    elif not isinstance(values, list | tuple):
        raise _invalid(pointer, "不达标项应为数组", "compliance_flags must be an array")
    out = []
    for i, v in enumerate(values):
        name = FLAG_NAMES.get(str(v).strip().lower()) if isinstance(v, str) else None
        if name is None:
            raise _invalid(f"{pointer}/{i}", f"未知的不达标项：{v!r}（能耗/环保/质量/安全）",
                           f"unknown compliance flag: {v!r} (energy, environment, quality, safety)")
        out.append(name)
    return tuple(sorted(set(out)))


def parse_party(value: Any, pointer: str, *, as_of: date, lookup: StoredLookup | None = None) -> Party | None:
    """A holder / transferee object → :class:`Party` (None if absent).

    ``rating`` is the previous year's (as_of.year − 1) unless ``rating_year`` says otherwise; a
    ``ratings`` map ``{"2022": "B"}`` is read for that year. ``key_project`` ``{"total_investment_wan",
    "under_construction" | "started_on", "completed_on"}`` feeds RATING-01. With a lookup and a credit
    code, a missing rating or flag list is filled in from the register.
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, Mapping):
        raise _invalid(pointer, "企业信息应为对象", "a company must be an object")
    p = Props(value, pointer)
    last_year = as_of.year - 1
    rating, rating_year = _rating(p.raw("rating"), p.at("rating")), None
    if rating is not None:
        ry = p.number("rating_year")
        rating_year = int(ry) if ry is not None else last_year
    ratings = p.obj("ratings")
    if ratings is not None and rating is None:
        rating = _rating(ratings.raw(str(last_year)), ratings.at(str(last_year)))
        rating_year = last_year if rating else None
    flags = _flags(p.raw("compliance_flags"), p.at("compliance_flags"))
    credit = p.text("credit_code")
    if lookup is not None and credit and (rating is None or flags is None):
        record = lookup.holder(credit, year=last_year)
        if record:
            if rating is None and record.get("rating"):
                rating, rating_year = _rating(record["rating"], p.at("rating")), last_year
            if flags is None and record.get("compliance_flags") is not None:
                flags = _flags(record["compliance_flags"], p.at("compliance_flags"))
    invest, building = None, None
    kp = p.obj("key_project")
    if kp is not None:
        invest = kp.number("total_investment_wan")
        building = kp.flag("under_construction")
        started, completed = kp.date("started_on"), kp.date("completed_on")
        if building is None and started is not None:
            building = started <= as_of and (completed is None or completed > as_of)
    return Party(pointer, p.text("name"), credit, rating, rating_year, flags, invest, building)


@dataclass
class Item:
    """A Feature of the request or the register: a label, its geometry (storage CRS), its properties."""

    label: str
    props: Props
    pointer: str
    _: KW_ONLY
    geometry_index: int | None = None
    geometry: BaseGeometry | None = None
    stored: bool = False  # from the register: ``pointer`` is the request member that named it

    @property
    def geometry_pointer(self) -> str:
        return self.pointer if self.stored else self.pointer + "/geometry"

    def resolve(self, built: list[BaseGeometry]) -> None:
        if self.geometry is None and self.geometry_index is not None:
            self.geometry = built[self.geometry_index]


@dataclass(kw_only=True)
class Lot(Item):
    """A proposed lot of a split: retained by the original holder, transferred, or not said."""

    retained: bool | None = None
    transferee: Party | None = None

    @property
    def transferred(self) -> bool | None:
        if self.retained is True:
            return False
        if self.retained is False or self.transferee is not None:
            return True
        return None


@dataclass(kw_only=True)
class ParcelIn(Item):
    """A parcel of a check (inline Feature or stored), with its holder, buildings and support land."""

    code: str | None = None
    holder: Party | None = None
    buildings: list[Item] = field(default_factory=list)
    support_land: list[Item] = field(default_factory=list)
    current: bool = True

    def resolve(self, built: list[BaseGeometry]) -> None:
        super().resolve(built)
        for it in (*self.buildings, *self.support_land):
            it.resolve(built)


def _holder_of(props: Props, *, as_of: date, lookup: StoredLookup | None) -> Party | None:
    holder = props.raw("holder")
    if holder is None and (props.has("holder_name") or props.has("holder_credit_code")):
        holder = {"name": props.raw("holder_name"), "credit_code": props.raw("holder_credit_code")}
    return parse_party(holder, props.at("holder"), as_of=as_of, lookup=lookup)


def items_from(value: Any, pointer: str, batch: GeometryBatch, *, label_key: str, prefix: str) -> list[Item]:
    """Features of a request FeatureCollection as :class:`Item` s (labels default to ``prefix`` + n)."""
    out = []
    for i, f in enumerate(feature_list(value, pointer, batch, crs=batch.crs)):
        props = Props(f.properties, f.pointer + "/properties")
        label = props.text(label_key) or f"{prefix}{i + 1}"
        out.append(Item(label, props, f.pointer, geometry_index=f.geometry))
    return out


def _stored_items(features: Any, pointer: str, label_key: str, prefix: str) -> list[Item]:
    out = []
    for i, f in enumerate(features or ()):
        props = Props(f.properties, pointer)
        out.append(Item(props.text(label_key) or f"{prefix}{i + 1}", props, pointer, geometry=f.geometry,
                        stored=True))
    return out


def resolve_parcel(spec: Any, pointer: str, batch: GeometryBatch, *, as_of: date, lookup: StoredLookup | None,
                   buildings: Any = None, support_land: Any = None, buildings_pointer: str = "/buildings",
                   support_pointer: str = "/support_land", label: str | None = None) -> ParcelIn:
    """A request's ``parcel`` (a code or a Feature) → :class:`ParcelIn`; its geometry is resolved later.

    Buildings and support land given in the request win over the register's.
    """
    def extras() -> tuple[list[Item] | None, list[Item] | None]:
        return (items_from(buildings, buildings_pointer, batch, label_key="number", prefix="#")
                if buildings is not None else None,
                items_from(support_land, support_pointer, batch, label_key="name", prefix="S")
                if support_land is not None else None)

    if isinstance(spec, str):
        code = spec.strip()
        if lookup is None:
            raise GisInputError(
                "stored-parcel-needs-service",
                f"宗地 {code} 是已登记宗地的代码：离线检查只能使用请求中内联的宗地（GeoJSON Feature），"
                "已登记宗地请通过服务（POST /api/v1/checks/…）检查",
                f"{code} is the code of a stored parcel: an offline check needs the parcel inline (a GeoJSON "
                "Feature); check stored parcels through the service (POST /api/v1/checks/…)",
                status=422, pointer=pointer,
            )
        stored: StoredParcel | None = lookup.parcel(code, as_of=as_of)
        if stored is None:
            raise GisInputError("unknown-parcel", f"未找到宗地：{code}", f"no parcel with code {code}",
                                status=404, pointer=pointer)
        props = Props(stored.properties, pointer)
        req_buildings, req_support = extras()
        return ParcelIn(
            code, props, pointer, geometry=stored.geometry, code=code,
            holder=_holder_of(props, as_of=as_of, lookup=lookup),
            buildings=req_buildings if req_buildings is not None
            else _stored_items(stored.buildings, pointer, "number", "#"),
            support_land=req_support if req_support is not None
            else _stored_items(stored.support_land, pointer, "name", "S"),
            stored=True, current=stored.current,
        )
    if not isinstance(spec, Mapping) or spec.get("type") != "Feature":
        raise GisInputError("not-geojson", "宗地应为宗地代码或 GeoJSON Feature",
                            "a parcel must be a parcel code or a GeoJSON Feature", status=400, pointer=pointer)
    raw_props = spec.get("properties") or {}
    if not isinstance(raw_props, Mapping):
        raise GisInputError("not-geojson", "properties 应为对象", "properties must be an object", status=400,
                            pointer=pointer + "/properties")
    props = Props(raw_props, pointer + "/properties")
    index = batch.add(spec.get("geometry"), pointer + "/geometry")  # first: errors name the parcel first
    req_buildings, req_support = extras()
    code = props.text("parcel_code")
    retired = props.date("retired_on")
    return ParcelIn(
        code or label or "parcel", props, pointer, geometry_index=index, code=code,
        holder=_holder_of(props, as_of=as_of, lookup=lookup),
        buildings=req_buildings or [], support_land=req_support or [],
        current=retired is None or retired > as_of,
    )
