"""``run_check``: one request in, one report out — the entry point of the CLI and the web layer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely

from gis.errors import GisInputError
from gis.geojson import GeometryBatch, request_crs
from gis.geometry import validity
from gis.jurisdiction import Jurisdiction, load_jurisdiction
from gis.rules.common import where
from gis.rules.edge import EDGE_RULES, EdgeCheck, plots_summary
from gis.rules.inputs import Item, Lot, ParcelIn, Props, items_from, parse_date, parse_party, resolve_parcel
from gis.rules.lookup import StoredLookup
from gis.rules.merge import MERGE_RULES, MergeCheck, merged_summary
from gis.rules.result import STATUSES, RuleResult, verdict
from gis.rules.split import SPLIT_RULES, SplitCheck, lots_summary
from gis.rulesets import OPERATIONS, RuleSet, get_rule_set
from gis.units import m2_to_mu, round_m2

__all__ = ["OPERATION_NAMES", "run_check", "today"]

OPERATION_NAMES = {"split": "split", "merge": "merge", "edge-plots": "edge-plots", "edge_plots": "edge-plots",
                   "edge_plot": "edge-plots", "edge": "edge-plots"}
_TZ = ZoneInfo("Asia/Shanghai")


def today() -> date:
    """Today in China (the default as-of date)."""
    return datetime.now(_TZ).date()


def _jurisdiction(value: str | Jurisdiction | None) -> Jurisdiction:
    if isinstance(value, Jurisdiction):
        return value
    try:
        return load_jurisdiction(value or "tiantai")
    except KeyError:
        raise GisInputError("unknown-jurisdiction", f"未知的辖区：{value}", f"unknown jurisdiction: {value}",
                            status=404) from None


def _rule_set(value: str | RuleSet | None, request: Props, j: Jurisdiction) -> RuleSet:
    rs = value if isinstance(value, RuleSet) else get_rule_set(value or request.text("rule_set"), jurisdiction=j)
    if rs.jurisdiction != j.id:
        raise GisInputError("rule-set-jurisdiction",
                            f"规则集 {rs.id} 属于辖区 {rs.jurisdiction}，不适用于 {j.name_zh}",
                            f"rule set {rs.id} belongs to {rs.jurisdiction}, not {j.name_en}",
                            status=422, pointer="/rule_set")
    return rs


def _check_geometry(items: Item | list[Item], what_zh: str, what_en: str, epsg: int) -> None:
    """Parents, buildings and support land must be valid: they are the facts the rules measure against."""
    items = items if isinstance(items, list) else [items]
    if not items:
        return
    ok = shapely.is_valid(np.array([it.geometry for it in items], dtype=object))
    if ok.all():
        return
    item = items[int(np.flatnonzero(~ok)[0])]
    v = validity(item.geometry)
    wz, we, loc = where(v.location, epsg)
    raise GisInputError(
        "invalid-geometry",
        f"{what_zh} {item.label} 的几何无效（{v.reason}）{wz}",
        f"the geometry of {what_en} {item.label} is invalid ({v.reason}){we}",
        status=422, pointer=item.geometry_pointer,
        extra={"reason": v.reason, "location": loc},
    )


def _unique(labels: list[str], pointer: str, what_zh: str, what_en: str) -> None:
    seen = set()
    for i, lab in enumerate(labels):
        if lab in seen:
            raise GisInputError("duplicate-label", f"{what_zh}编号重复：{lab}", f"duplicate {what_en} label: {lab}",
                                status=422, pointer=f"{pointer}/{i}/properties/label")
        seen.add(lab)


def _parent_summary(parcel: ParcelIn) -> dict[str, Any]:
    a = float(shapely.area(parcel.geometry))
    declared = parcel.props.number("declared_area_m2")
    out: dict[str, Any] = {"parcel_code": parcel.code, "area_m2": round_m2(a), "area_mu": m2_to_mu(a, 2)}
    if declared is not None:
        out["declared_area_m2"] = declared
        out["declared_difference_m2"] = round_m2(declared - a)
    return out


def _split(req: Props, batch: GeometryBatch, rs: RuleSet, day: date, j: Jurisdiction,
           lookup: StoredLookup | None) -> tuple[SplitCheck, Callable[[], None]]:
    parent = resolve_parcel(req.raw("parcel"), "/parcel", batch, as_of=day, lookup=lookup,
                            buildings=req.raw("buildings"), support_land=req.raw("support_land"))
    lots: list[Lot] = []
    for it in items_from(req.raw("lots"), "/lots", batch, label_key="label", prefix=""):
        if it.label.isdigit() and not it.props.has("label"):
            it.label = chr(ord("A") + int(it.label) - 1) if int(it.label) <= 26 else it.label
        retained = it.props.flag("retained")
        transferee = parse_party(it.props.raw("transferee"), it.props.at("transferee"), as_of=day, lookup=lookup)
        if retained is True and transferee is not None:
            raise GisInputError("lot-retained-and-transferred", f"地块 {it.label} 既标为保留又有受让方",
                                f"lot {it.label} is marked retained and also has a transferee", status=422,
                                pointer=it.props.at("retained"))
        lots.append(Lot(it.label, it.props, it.pointer, geometry_index=it.geometry_index, retained=retained,
                        transferee=transferee))
    if not lots:
        raise GisInputError("no-lots", "请求未给出分割后的地块（lots）", "the request gives no lots", status=422,
                            pointer="/lots")
    _unique([lot.label for lot in lots], "/lots/features", "地块", "lot")
    check = SplitCheck(rs, day, j, parent, lots, req.obj("confirmations"))

    def finish() -> None:
        built = batch.build()
        parent.resolve(built)
        for lot in lots:
            lot.resolve(built)
        _check_geometry(parent, "宗地", "parcel", j.storage_epsg)
        _check_geometry(parent.buildings, "幢", "building", j.storage_epsg)
        _check_geometry(parent.support_land, "配套用地", "support land", j.storage_epsg)

    return check, finish


def _merge(req: Props, batch: GeometryBatch, rs: RuleSet, day: date, j: Jurisdiction,
           lookup: StoredLookup | None) -> tuple[MergeCheck, Callable[[], None]]:
    specs = req.items("parcels")
    if not specs:
        raise GisInputError("no-parcels", "请求未给出参与合并的宗地（parcels）", "the request gives no parcels",
                            status=422, pointer="/parcels")
    parcels = [resolve_parcel(s, f"/parcels/{i}", batch, as_of=day, lookup=lookup, label=f"#{i + 1}")
               for i, s in enumerate(specs)]
    labels = [p.label for p in parcels]
    for i, p in enumerate(parcels):  # two inline parcels without codes, or a code listed twice
        if labels.count(p.label) > 1:
            p.label = f"{p.label}#{i + 1}"
    holder = parse_party(req.raw("holder"), "/holder", as_of=day, lookup=lookup)
    support = items_from(req.raw("support_land"), "/support_land", batch, label_key="name", prefix="S")
    check = MergeCheck(rs, day, j, parcels, holder, support)

    def finish() -> None:
        built = batch.build()
        for p in parcels:
            p.resolve(built)
        for s in support:
            s.resolve(built)
        _check_geometry([p for p in parcels if p.stored], "宗地", "parcel", j.storage_epsg)
        _check_geometry(support, "配套用地", "support land", j.storage_epsg)

    return check, finish


def _edge(req: Props, batch: GeometryBatch, rs: RuleSet, day: date, j: Jurisdiction,
          lookup: StoredLookup | None) -> tuple[EdgeCheck, Callable[[], None]]:
    parcel = resolve_parcel(req.raw("parcel"), "/parcel", batch, as_of=day, lookup=lookup,
                            buildings=req.raw("buildings"), support_land=req.raw("support_land"))
    plots = items_from(req.raw("plots"), "/plots", batch, label_key="label", prefix="P")
    if not plots:
        raise GisInputError("no-plots", "请求未给出零星地块（plots）", "the request gives no plots", status=422,
                            pointer="/plots")
    _unique([p.label for p in plots], "/plots/features", "零星地块", "plot")
    others = items_from(req.raw("other_parcels"), "/other_parcels", batch, label_key="parcel_code", prefix="O")
    check = EdgeCheck(rs, day, j, parcel, plots, req, req.obj("confirmations"), others, lookup)

    def finish() -> None:
        built = batch.build()
        parcel.resolve(built)
        for it in (*plots, *others):
            it.resolve(built)
        _check_geometry(parcel, "宗地", "parcel", j.storage_epsg)
        _check_geometry(parcel.buildings, "幢", "building", j.storage_epsg)
        _check_geometry(parcel.support_land, "配套用地", "support land", j.storage_epsg)
        _check_geometry(others, "宗地", "parcel", j.storage_epsg)

    return check, finish


_PARSERS = {"split": (_split, SPLIT_RULES), "merge": (_merge, MERGE_RULES), "edge-plots": (_edge, EDGE_RULES)}


def run_check(operation: str, request: Mapping[str, Any], *, crs: str | None = None,
              as_of: date | str | None = None, rule_set: str | RuleSet | None = None,
              jurisdiction: str | Jurisdiction | None = None,
              stored_lookup: StoredLookup | None = None) -> dict[str, Any]:
    """Check a proposed split / merge / edge-plot addition and return the report (CHECKS-API.md).

    Parameters
    ----------
    operation : ``"split"``, ``"merge"`` or ``"edge-plots"``.
    request : the request body (a dict, as parsed from JSON).
    crs : the request's CRS (query parameter / CLI option); else the body's ``crs`` member; else CRS84.
    as_of : the check date; else the body's ``as_of``; else today (Asia/Shanghai).
    rule_set : a rule-set id or :class:`~gis.rulesets.RuleSet`; else the body's ``rule_set``; else the
        jurisdiction's default.
    jurisdiction : id or profile (default Tiantai).
    stored_lookup : the register (:class:`~gis.rules.lookup.StoredLookup`) for parcel codes and EDGE-04.

    Returns the report dict: verdict, rule_set, as_of, results (every rule of the operation once, in
    ID order), and the operation's summary (``lots`` / ``merged`` / ``plots``). A failed rule is a
    result; input that cannot be checked raises :class:`~gis.errors.GisInputError`.

    Example
    -------
    >>> from gis.rules.factories import split_request
    >>> report = run_check("split", split_request(), crs="EPSG:4549")
    >>> report["verdict"], [r["rule"] for r in report["results"]][:3]
    ('pass', ['RATING-01', 'SPLIT-01', 'SPLIT-02'])
    """
    op = OPERATION_NAMES.get(str(operation).strip().lower())
    if op is None:
        raise GisInputError("unknown-operation", f"未知的检查类型：{operation}（split / merge / edge-plots）",
                            f"unknown check: {operation} (split, merge, edge-plots)", status=404)
    if not isinstance(request, Mapping):
        raise GisInputError("not-an-object", "请求体应为 JSON 对象", "the request body must be a JSON object",
                            status=400, pointer="")
    req = Props(request, "")
    j = _jurisdiction(jurisdiction)
    day = parse_date(as_of, "/as_of") if as_of is not None else req.date("as_of")
    day = day or today()
    rs = _rule_set(rule_set, req, j)
    ref = request_crs(request, crs)
    batch = GeometryBatch(ref, j)
    parse, rules = _PARSERS[op]
    check, finish = parse(req, batch, rs, day, j, stored_lookup)
    finish()
    results: dict[str, RuleResult] = {}
    for rule_id in OPERATIONS[op]:
        res = rules[rule_id](check)  # type: ignore[arg-type]
        assert res.rule == rule_id, (res.rule, rule_id)
        results[rule_id] = res
    return _report(op, check, results, rs, day, j, ref.uri)


def _report(op: str, check: Any, results: dict[str, RuleResult], rs: RuleSet, day: date, j: Jurisdiction,
            crs_uri: str) -> dict[str, Any]:
    statuses = [r.status for r in results.values()]
    report: dict[str, Any] = {
        "operation": op,
        "verdict": verdict(statuses),
        "rule_set": rs.summary(day),
        "as_of": day.isoformat(),
        "jurisdiction": j.id,
        "crs": crs_uri,
        "warnings": [],
        "counts": {s: statuses.count(s) for s in STATUSES},
        "results": [r.as_dict(rs.rules[r.rule]) for r in results.values()],
    }
    if not rs.in_force_on(day):
        window = f"{rs.effective_from} – {rs.effective_to or '…'}"
        report["warnings"].append({
            "code": "rule-set-not-in-force",
            "message_zh": f"注意：规则集 {rs.id}（{rs.title}）的有效期为 {window}，检查基准日 {day} 不在有效期内，"
                          "该政策当日未生效，结果仅供参考",
            "message_en": f"Note: rule set {rs.id} was in force {window}; on the as-of date {day} it was not, so "
                          "this report applies a policy that was not in force",
        })
    if op in ("split", "edge-plots"):
        parent = check.parent if op == "split" else check.parcel
        report["parent"] = _parent_summary(parent)
        diff = report["parent"].get("declared_difference_m2")
        if diff is not None and abs(diff) > rs.geometry.sliver_area_m2:
            report["warnings"].append({
                "code": "declared-area-differs",
                "message_zh": f"申报面积 {report['parent']['declared_area_m2']} m² 与几何计算面积 "
                              f"{report['parent']['area_m2']} m² 相差 {diff} m²（以计算面积为准）",
                "message_en": f"the declared area {report['parent']['declared_area_m2']} m² differs from the computed "
                              f"{report['parent']['area_m2']} m² by {diff} m² (the computed area is used)",
            })
    if op == "split":
        report["lots"] = lots_summary(check)
    elif op == "merge":
        report["merged"] = merged_summary(check, results)
    else:
        report.update(plots_summary(check))
    return report
