"""The feature collections the OGC API serves, as data: their SQL, key, properties and Chinese titles.

Each :class:`Collection` names the table expression it reads, the base condition, the feature id
column (``key``: also the paging key), the geometry, the date the ``datetime`` parameter filters on,
and its properties — stable snake_case names, each with the SQL expression that produces it, a
JSON-schema type and titles in Chinese and English (from :mod:`gis.attributes` where the attribute is
one of RULES.md §2). Nothing here comes from a client: the query builder only picks among these.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gis.attributes import BUILDING_ATTRS, PARCEL_ATTRS, SUPPORT_ATTRS

__all__ = ["COLLECTIONS", "Collection", "Prop", "get_collection"]


@dataclass(frozen=True)
class Prop:
    """One property: public name, SQL expression, JSON type, titles; ``fmt`` is the JSON-schema format."""

    name: str
    sql: str
    type: str  # string | number | integer | boolean | date | datetime | array
    title: str
    title_en: str = ""
    sortable: bool = True

    @property
    def pg_type(self) -> str:
        return {"string": "text", "number": "float8", "integer": "int8", "boolean": "bool", "date": "date",
                "datetime": "timestamptz", "array": "text[]"}[self.type]

    def json_schema(self) -> dict:
        schema: dict = {"title": self.title}
        if self.title_en:
            schema["description"] = self.title_en
        if self.type == "date":
            schema.update(type="string", format="date")
        elif self.type == "datetime":
            schema.update(type="string", format="date-time")
        elif self.type == "array":
            schema.update(type="array", items={"type": "string"})
        else:
            schema["type"] = self.type
        return schema


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    title_en: str
    description: str
    from_sql: str
    where: str
    key: Prop
    geom_sql: str
    geometry_type: str  # GeoJSON type of every feature
    props: tuple[Prop, ...]
    datetime_sql: str | None = None  # a date the ``datetime`` parameter compares with
    datetime_range: tuple[str, str] | None = None  # validity interval (history): datetime intersects it
    categories: bool = False  # joins parcel_categories (kept fresh before reading)
    keywords: tuple[str, ...] = ()
    by_name: dict[str, Prop] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {p.name: p for p in self.props})

    @property
    def temporal_sql(self) -> tuple[str, str] | None:
        if self.datetime_range:
            return self.datetime_range
        return (self.datetime_sql, self.datetime_sql) if self.datetime_sql else None


def _label(attrs, name: str) -> str:
    return next(a.label_zh for a in attrs if a.name == name)


_KIND = {"str": "string", "date": "date", "float": "number", "int": "integer", "bool": "boolean", "list": "array"}
_NUMERIC_ROUND = {"declared_area_m2": 2, "developed_area_m2": 2, "far_planned": 3, "far_actual": 3,
                  "floor_area_m2": 2, "invested_wan": 2, "planned_investment_wan": 2}
_PARCEL_SKIP = {"holder_name", "holder_credit_code", "standard_land_indicators", "retired_on"}


def _parcel_props(holder: str) -> tuple[Prop, ...]:
    """Parcel properties; the holder's name and code come from ``{holder}.holder_name`` / ``.holder_credit_code``."""
    props = []
    for a in PARCEL_ATTRS:
        if a.name in _PARCEL_SKIP:
            continue
        sql = f"p.{a.name}"
        kind = _KIND[a.kind]
        if a.name in _NUMERIC_ROUND:
            sql = f"p.{a.name}::float8"
        props.append(Prop(a.name, sql, kind, a.label_zh, a.name.replace("_", " "), sortable=kind != "array"))
        if a.name == "right_type":
            props += [
                Prop("holder_name", f"{holder}.holder_name", "string", _label(PARCEL_ATTRS, "holder_name"),
                     "holder name"),
                Prop("holder_credit_code", f"{holder}.holder_credit_code", "string",
                     _label(PARCEL_ATTRS, "holder_credit_code"),
                     "holder unified social credit code"),
            ]
        if a.name == "declared_area_m2":
            props += [
                Prop("area_m2", "round(p.area_m2 * 1e2) / 1e2", "number", "宗地面积(㎡，按几何计算)",
                     "area in m² (EPSG:4549, from geometry)"),
                Prop("area_mu", "round(p.area_mu * 1e4) / 1e4", "number", "宗地面积(亩)", "area in mu"),
            ]
    return tuple(props)


_PARCEL_PROPS = _parcel_props("c")  # current parcels: the holder is copied into parcel_categories
_HISTORY_PROPS = _parcel_props("h")
_VERSION_PROPS = (
    Prop("valid_from", "p.valid_from", "datetime", "生效时间", "valid from"),
)
_CATEGORY_PROPS = (
    Prop("category", "c.category", "string", "类别（三块地）",
         "category: approved_unsupplied | supplied_unused | low_efficiency | none"),
    Prop("category_zh", "CASE c.category WHEN 'approved_unsupplied' THEN '批而未供' WHEN 'supplied_unused' "
         "THEN '供而未用' WHEN 'low_efficiency' THEN '低效用地' WHEN 'none' THEN '正常' END",
         "string", "类别名称", "category in Chinese", sortable=False),
    Prop("criterion", "c.criterion", "string", "认定情形", "criterion that matched (override: set by an officer)"),
    Prop("overridden", "c.overridden", "boolean", "人工认定", "category set by an officer"),
    Prop("years_since_approval", "round(c.years_since_approval * 1e2) / 1e2", "number", "批准后年数",
         "years since approval"),
    Prop("years_idle", "round(c.years_idle * 1e2) / 1e2", "number", "闲置年数", "years idle"),
    Prop("idle_fee_due", "c.idle_fee_due", "boolean", "应征收闲置费（满1年）", "idle fee due (≥ 1 year)"),
    Prop("recoverable", "c.recoverable", "boolean", "可无偿收回（满2年）",
         "recoverable without compensation (≥ 2 years)"),
    Prop("tax_per_mu_wan", "round(c.tax_per_mu_wan * 1e2) / 1e2", "number", "上年亩均税收(万元/亩)",
         "last year's tax per mu (10k yuan)"),
    Prop("rating", "c.rating", "string", "上年度亩均效益评价等级", "holder's rating (A–D) of the year before"),
)
_PARCEL_FROM = "parcels p LEFT JOIN parcel_categories c ON c.parcel_id = p.id"
_CODE_KEY = Prop("parcel_code", "p.parcel_code", "string", "宗地代码", "parcel code")
_CURRENT = "p.valid_to IS NULL"
_PARCEL_KEYWORDS = ("天台县", "工业用地", "宗地", "三块地")


def _category_collection(cid: str, zh: str, en: str, description: str, datetime_sql: str) -> Collection:
    return Collection(
        id=cid, title=f"{zh}工业用地", title_en=f"Industrial land: {en}",
        description=description, from_sql=_PARCEL_FROM,
        where=f"{_CURRENT} AND c.category = '{cid}'", key=_CODE_KEY, geom_sql="p.geom",
        geometry_type="MultiPolygon", props=_PARCEL_PROPS + _CATEGORY_PROPS + _VERSION_PROPS,
        datetime_sql=datetime_sql, categories=True, keywords=(*_PARCEL_KEYWORDS, zh),
    )


def _building_props(attrs, alias: str, skip: tuple[str, ...]) -> tuple[Prop, ...]:
    return tuple(Prop(a.name, f"{alias}.{a.name}" + ("::float8" if a.kind == "float" else ""), _KIND[a.kind],
                      a.label_zh, a.name.replace("_", " "))
                 for a in attrs if a.name not in skip)


def _part_collection(cid: str, title: str, title_en: str, description: str, table: str, alias: str, attrs,
                     area: Prop, keywords: tuple[str, ...]) -> Collection:
    """Polygons that belong to a current parcel (buildings, support land): their own id, the parcel's code."""
    return Collection(
        id=cid, title=title, title_en=title_en, description=description,
        from_sql=f"{table} {alias} JOIN parcels p ON p.id = {alias}.parcel_id", where=_CURRENT,
        key=Prop("id", f"{alias}.id", "integer", "要素标识", "feature id"), geom_sql=f"{alias}.geom",
        geometry_type="Polygon",
        props=(Prop("parcel_code", "p.parcel_code", "string", "宗地代码", "parcel code"),
               *_building_props(attrs, alias, ("parcel_code",)), area),
        keywords=keywords,
    )


COLLECTIONS: dict[str, Collection] = {c.id: c for c in (
    Collection(
        id="parcels", title="工业用地宗地（现状）", title_en="Industrial parcels (current)",
        description="天台县现状工业用地宗地，含权利人、批供用日期、开发与亩均数据，以及按今日推导的“三块地”类别"
                    "（已应用人工认定）。面积按 EPSG:4549 平面几何计算。/ Current industrial parcels of Tiantai "
                    "County with holder, approval/supply/use dates, development figures and the category derived "
                    "as of today (officer overrides applied).",
        from_sql=_PARCEL_FROM, where=_CURRENT, key=_CODE_KEY, geom_sql="p.geom", geometry_type="MultiPolygon",
        props=_PARCEL_PROPS + _CATEGORY_PROPS + _VERSION_PROPS, datetime_sql="p.supplied_on", categories=True,
        keywords=_PARCEL_KEYWORDS,
    ),
    _category_collection(
        "approved_unsupplied", "批而未供", "approved but not supplied",
        "已批准农用地转用/土地征收但尚未供地的工业用地（按今日推导，已应用人工认定）。datetime 按批准日期筛选。"
        "/ Approved but not yet supplied (as of today); datetime filters on the approval date.",
        "p.approved_on"),
    _category_collection(
        "supplied_unused", "供而未用", "supplied but unused (idle)",
        "已供地但未按约定动工满一年、或动工后停建满一年且开发不足的闲置工业用地，含闲置年数、闲置费与无偿收回标记"
        "（按今日推导）。datetime 按供地日期筛选。/ Idle land (as of today) with years idle, idle-fee and "
        "recovery flags; datetime filters on the supply date.",
        "p.supplied_on"),
    _category_collection(
        "low_efficiency", "低效用地", "low-efficiency",
        "亩均税收低、评价为 D 类、容积率低等情形的低效工业用地（按今日推导，含认定情形）。datetime 按供地日期筛选。"
        "/ Low-efficiency land (as of today) with the criterion that matched; datetime filters on the supply "
        "date.",
        "p.supplied_on"),
    _part_collection(
        "buildings", "建筑物（幢）", "Buildings",
        "现状宗地上的建筑物基底（幢），含幢号、层数、高度与建筑面积。/ Building footprints on current parcels.",
        "buildings", "b", BUILDING_ATTRS,
        Prop("footprint_m2", "round(b.footprint_m2 * 1e2) / 1e2", "number", "基底面积(㎡)", "footprint area in m²"),
        ("天台县", "建筑物", "幢")),
    _part_collection(
        "support_land", "配套用地", "Supporting land",
        "现状宗地内的行政办公及生活服务设施用地。/ Supporting office and living-service land inside current "
        "parcels.",
        "support_land", "s", SUPPORT_ATTRS,
        Prop("area_m2", "round(s.area_m2 * 1e2) / 1e2", "number", "用地面积(㎡)", "area in m²"),
        ("天台县", "配套用地")),
    Collection(
        id="parcel_history", title="宗地历史版本（已注销）", title_en="Parcel history (retired versions)",
        description="已被分割、合并、零星地块并入或更新替代的宗地版本；valid_from–valid_to 为其有效期，"
                    "datetime 筛选与有效期相交的版本。/ Retired parcel versions with their validity interval; "
                    "datetime selects the versions valid at that time.",
        from_sql=("parcels p LEFT JOIN (SELECT id, name AS holder_name, credit_code AS holder_credit_code "
                  "FROM holders) h ON h.id = p.holder_id"), where="p.valid_to IS NOT NULL",
        key=Prop("id", "p.id", "integer", "版本标识", "version id"), geom_sql="p.geom", geometry_type="MultiPolygon",
        props=(*_HISTORY_PROPS, *_VERSION_PROPS,
               Prop("valid_to", "p.valid_to", "datetime", "失效时间", "valid to (retired)"),
               Prop("retired_by", "p.retired_by::text", "string", "注销操作", "operation that retired it")),
        datetime_range=("p.valid_from", "p.valid_to"), keywords=("天台县", "宗地", "历史"),
    ),
)}


def get_collection(cid: str) -> Collection | None:
    return COLLECTIONS.get(cid)
