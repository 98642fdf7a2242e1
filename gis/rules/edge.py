"""Edge and sandwich plots (零星边角地、夹心地), policy 四(六): EDGE-01 … EDGE-06, with FAR-01 and SUPPORT-01.

Adjacency (EDGE-01) is MERGE-02's: a plot adjoins the parcel, or a plot that (transitively) does,
along a shared boundary ≥ ``min_shared_edge_m`` measured within ``tolerance_m``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any

import numpy as np
import shapely

from gis.geometry import (
    Adjacency,
    Validity,
    adjacency_graph,
    location_of,
    measurable,
    overlap_after_snap,
    validities,
)
from gis.jurisdiction import Jurisdiction
from gis.rules.common import (
    SupportUnit,
    area_entry,
    confirmations_result,
    effective_rating,
    fmt_m2,
    fmt_mu,
    support_result,
    where,
)
from gis.rules.inputs import Item, ParcelIn, Props
from gis.rules.lookup import StoredLookup
from gis.rules.result import RuleResult
from gis.rulesets import RuleSet
from gis.units import area_at_most, m2_to_mu, mu_to_m2, ratio_at_least, round_half_up, round_m2, share_limit_m2

__all__ = ["EDGE_RULES", "EdgeCheck"]

CONFIRMATION_LABELS = {"industrial_guidance": ("符合产业发展导向", "fits the industrial guidance")}


@dataclass
class EdgeCheck:
    """A parsed edge-plot request, with the measurements several rules share."""

    rs: RuleSet
    as_of: date
    jurisdiction: Jurisdiction
    parcel: ParcelIn
    plots: list[Item]
    request: Props
    confirmations: Props | None
    other_parcels: list[Item]
    lookup: StoredLookup | None

    @property
    def labels(self) -> list[str]:
        return [p.label for p in self.plots]

    @cached_property
    def validity(self) -> list[Validity]:
        return validities([p.geometry for p in self.plots])

    @cached_property
    def geoms(self) -> np.ndarray:
        return measurable([p.geometry for p in self.plots], self.validity)

    @cached_property
    def areas(self) -> np.ndarray:
        return shapely.area(self.geoms)

    @cached_property
    def plots_union(self):
        return shapely.union_all(self.geoms)

    @cached_property
    def plots_area(self) -> float:
        return float(shapely.area(self.plots_union))

    @cached_property
    def parcel_area(self) -> float:
        return float(shapely.area(self.parcel.geometry))

    @cached_property
    def adjacency(self) -> Adjacency:
        g = self.rs.geometry
        return adjacency_graph([self.parcel.geometry, *self.geoms], tolerance_m=g.tolerance_m,
                               min_shared_edge_m=g.min_shared_edge_m)

    def where(self, location: tuple[float, float] | None) -> tuple[str, str, dict[str, Any] | None]:
        return where(location, self.jurisdiction.storage_epsg)


def edge_01(c: EdgeCheck) -> RuleResult:
    """Each plot adjoins the enterprise's parcel, or a plot of the request that does."""
    g = c.rs.geometry
    limit = {"min_shared_edge_m": g.min_shared_edge_m, "tolerance_m": g.tolerance_m}
    zh, en, culprits = [], [], []
    measured: dict[str, Any] = {}
    for p, v in zip(c.plots, c.validity, strict=True):
        if not v.valid:
            wz, we, loc = c.where(v.location)
            measured.setdefault("invalid", {})[p.label] = {"reason": v.reason, "location": loc}
            zh.append(f"地块 {p.label} 几何无效（{v.reason}），未予修复{wz}")
            en.append(f"plot {p.label} is not a valid polygon ({v.reason}) and is not repaired{we}")
            culprits.append(p.label)
    adj = c.adjacency
    names = ["parcel", *c.labels]
    measured["shared_edges_m"] = {f"{names[a]}|{names[b]}": round(v, 2) for (a, b), v in sorted(adj.lengths.items())}
    attached = set(adj.component_of(0))
    for i, lab in enumerate(c.labels, start=1):
        if i in attached:
            continue
        best = adj.best_length(i)
        gap = float(shapely.distance(c.parcel.geometry, c.geoms[i - 1]))
        zh.append(f"地块 {lab} 与企业用地（或相邻的零星地块）共用边界最长 {best:.2f} m，"
                  f"少于 {g.min_shared_edge_m:g} m，不相邻（与企业用地相距 {gap:.2f} m）")
        en.append(f"plot {lab} shares at most {best:.2f} m of boundary with the parcel (or an adjoining plot), less "
                  f"than {g.min_shared_edge_m:g} m: not adjacent ({gap:.2f} m from the parcel)")
        culprits.append(lab)
    if zh:
        return RuleResult("EDGE-01", "fail", "；".join(zh), "; ".join(en), measured, limit,
                          tuple(lab for lab in c.labels if lab in set(culprits)))
    return RuleResult("EDGE-01", "pass",
                      f"{len(c.plots)} 块零星地块均与企业用地相邻（直接或经相邻地块，"
                      f"共用边界不少于 {g.min_shared_edge_m:g} m）",
                      f"all {len(c.plots)} plot(s) adjoin the parcel (directly or through an adjoining plot, sharing "
                      f"≥ {g.min_shared_edge_m:g} m)", measured, limit)


def edge_02(c: EdgeCheck) -> RuleResult:
    """Total plot area ≤ 20% of the original parcel and ≤ 10 mu: the smaller bound binds."""
    p = c.rs.edge
    share_m2 = share_limit_m2(c.parcel_area, p.max_share)
    mu_m2 = mu_to_m2(p.max_mu)
    binding = "share" if share_m2 <= mu_m2 else "mu"
    limit_m2 = min(share_m2, mu_m2)
    total = c.plots_area
    share = total / c.parcel_area if c.parcel_area else 0.0
    measured = {"total": area_entry(total), "share": round_half_up(share, 4), "parcel": area_entry(c.parcel_area),
                "plots": {lab: area_entry(a) for lab, a in zip(c.labels, c.areas.tolist(), strict=True)}}
    limit = {"max_share": p.max_share, "max_share_m2": share_m2, "max_mu": p.max_mu, "max_mu_m2": mu_m2,
             "binding": binding, "max_m2": limit_m2}
    bound_zh = (f"原用地面积的 {p.max_share:.0%}（{share_m2:.2f} m²）" if binding == "share"
                else f"{p.max_mu:g} 亩（{mu_m2:.2f} m²）")
    bound_en = (f"{p.max_share:.0%} of the original parcel ({share_m2:.2f} m²)" if binding == "share"
                else f"{p.max_mu:g} mu ({mu_m2:.2f} m²)")
    figures_zh = f"零星地块累计 {fmt_m2(total)}（{fmt_mu(total)} 亩），占原用地 {share:.2%}"
    figures_en = f"the plots total {fmt_m2(total)} ({fmt_mu(total)} mu), {share:.2%} of the original parcel"
    if area_at_most(total, limit_m2):
        return RuleResult("EDGE-02", "pass", f"{figures_zh}，不超过{bound_zh}", f"{figures_en}: within {bound_en}",
                          measured, limit)
    return RuleResult("EDGE-02", "fail", f"{figures_zh}，超过{bound_zh}", f"{figures_en}: more than {bound_en}",
                      measured, limit, tuple(c.labels))


def edge_03(c: EdgeCheck) -> RuleResult:
    """FAR rises by ≥ 20%, or the renovation's new floor area is ≥ 20% of the total after it."""
    p = c.rs.edge
    r = c.request
    before = r.number("far_before")
    if before is None:
        before = c.parcel.props.number("far_actual")
    after = r.number("far_after")
    reno, total = r.number("renovation_floor_area_m2"), r.number("total_floor_area_after_m2")
    measured: dict[str, Any] = {"far_before": before, "far_after": after, "renovation_floor_area_m2": reno,
                                "total_floor_area_after_m2": total}
    limit = {"min_far_rise": p.min_far_rise, "min_renovation_floor_share": p.min_renovation_floor_share}
    verdicts, zh, en = [], [], []
    if before is not None and after is not None and before > 0:
        rise = (after - before) / before
        measured["far_rise"] = round_half_up(rise, 4)
        ok = ratio_at_least(rise, p.min_far_rise)
        verdicts.append(ok)
        zh.append(f"容积率由 {before:g} 提高到 {after:g}，提高 {rise:.2%}"
                  f"（{'达到' if ok else '低于'} {p.min_far_rise:.0%}）")
        en.append(f"FAR rises from {before:g} to {after:g}, by {rise:.2%} ({'at least' if ok else 'below'} "
                  f"{p.min_far_rise:.0%})")
    if reno is not None and total:
        share = reno / total
        measured["renovation_floor_share"] = round_half_up(share, 4)
        ok = ratio_at_least(share, p.min_renovation_floor_share)
        verdicts.append(ok)
        zh.append(f"技改建筑面积 {reno:g} m² 占技改后总建筑面积 {total:g} m² 的 {share:.2%}"
                  f"（{'达到' if ok else '低于'} {p.min_renovation_floor_share:.0%}）")
        en.append(f"the renovation adds {reno:g} m² of {total:g} m² after it, {share:.2%} "
                  f"({'at least' if ok else 'below'} {p.min_renovation_floor_share:.0%})")
    if not verdicts:
        return RuleResult("EDGE-03", "needs_review", "未提供技改前后容积率或技改建筑面积，需核实",
                          "neither the FAR before / after nor the renovation floor areas are given: needs review",
                          measured, limit)
    if any(verdicts):
        return RuleResult("EDGE-03", "pass", "；".join(zh), "; ".join(en), measured, limit)
    return RuleResult("EDGE-03", "fail", "；".join(zh), "; ".join(en), measured, limit)


def edge_04(c: EdgeCheck) -> RuleResult:
    """The plots overlap no other current parcel (nor the enterprise's own parcel) beyond the sliver."""
    g = c.rs.geometry
    limit = {"sliver_area_m2": g.sliver_area_m2, "tolerance_m": g.tolerance_m}
    others: list[tuple[str, Any]] = [("本宗地/own parcel", c.parcel.geometry)]
    checked_register = False
    if c.lookup is not None:
        exclude = [c.parcel.code] if c.parcel.code else []
        for f in c.lookup.parcels_intersecting(c.plots_union, exclude=exclude, as_of=c.as_of):
            others.append((str(f.properties.get("parcel_code", "?")), f.geometry))
        checked_register = True
    for it in c.other_parcels:
        others.append((it.props.text("parcel_code") or it.label, it.geometry))
    measured: dict[str, Any] = {"checked_register": checked_register, "other_parcels_given": len(c.other_parcels)}
    zh, en, culprits = [], [], []
    for code, geom in others:
        for lab, plot in zip(c.labels, c.geoms, strict=True):
            sig, inter = overlap_after_snap(geom, plot, g.tolerance_m)
            if sig <= g.sliver_area_m2:
                continue
            wz, we, loc = c.where(location_of(inter))
            measured.setdefault("overlaps", {})[f"{lab}|{code}"] = {"area_m2": round_m2(sig), "location": loc}
            zh.append(f"地块 {lab} 与宗地 {code} 重叠 {fmt_m2(sig)}，超过 {g.sliver_area_m2:g} m²{wz}")
            en.append(f"plot {lab} overlaps parcel {code} by {fmt_m2(sig)}, more than {g.sliver_area_m2:g} m²{we}")
            culprits.append(lab)
    if zh:
        return RuleResult("EDGE-04", "fail", "；".join(zh), "; ".join(en), measured, limit,
                          tuple(lab for lab in c.labels if lab in set(culprits)))
    if not checked_register and not c.other_parcels:
        return RuleResult("EDGE-04", "needs_review",
                          "零星地块与本宗地不重叠；离线检查无法查询其他现状宗地，是否为未供应土地需在服务中核查",
                          "the plots do not overlap the parcel itself; offline, other current parcels cannot be "
                          "queried: whether the plots are unallocated land needs the register", measured, limit)
    return RuleResult("EDGE-04", "pass", f"零星地块不与任何现状宗地重叠（不超过 {g.sliver_area_m2:g} m²）",
                      f"the plots overlap no current parcel (beyond {g.sliver_area_m2:g} m²)", measured, limit)


def edge_05(c: EdgeCheck) -> RuleResult:
    """The enterprise fits the industrial guidance: needs an officer's confirmation."""
    return confirmations_result("EDGE-05", c.confirmations, c.rs.edge.confirmations, CONFIRMATION_LABELS)


def edge_06(c: EdgeCheck) -> RuleResult:
    """The enlarged parcel may not later be split; price by appraisal (informational)."""
    return RuleResult("EDGE-06", "pass",
                      "协议出让后原则上不允许分割转让（执行时登记为不得分割），出让价格以评估价格为准",
                      "once granted, the parcel may in principle not be split (recorded as no-split on execution); "
                      "the price is set by appraisal", {"no_split": True, "pricing": "appraisal"},
                      {"no_split": True, "pricing": "appraisal"})


def far_01(c: EdgeCheck) -> RuleResult:
    """Outside development zones, with no plan conditions: FAR ≤ 1.1 and height ≤ 24 m after renovation."""
    p = c.rs.far
    props, r = c.parcel.props, c.request
    zone = props.flag("in_development_zone")
    plan = props.flag("plan_conditions")
    far_planned = props.number("far_planned")
    far_after = r.number("far_after")
    heights = [h for h in (b.props.number("height_m") for b in c.parcel.buildings) if h is not None]
    h_after = r.number("height_after_m")
    if h_after is not None:
        heights.append(h_after)
    height = max(heights) if heights else None
    measured = {"in_development_zone": zone, "plan_conditions": plan, "far_planned": far_planned,
                "far_after": far_after, "max_height_m": height}
    limit = {"max_far": p.max_far, "max_height_m": p.max_height_m}
    if zone is True:
        return RuleResult("FAR-01", "not_applicable", "位于经济开发区或创业创新园内，技术经济指标按“标准地”办法执行",
                          "inside a development zone / park: the standard-land indicators apply instead",
                          measured, limit)
    if plan is True or far_planned is not None:
        return RuleResult("FAR-01", "not_applicable",
                          "有原出让规划条件（约定容积率 "
                          f"{far_planned if far_planned is not None else '见规划条件'}），按其执行",
                          f"plan conditions of the original grant apply (contract FAR "
                          f"{far_planned if far_planned is not None else 'per the conditions'})", measured, limit)
    if zone is None:
        return RuleResult("FAR-01", "needs_review", "是否位于开发区（创业创新园）内未记录，需核实",
                          "whether the parcel lies in a development zone / park is not recorded: needs review",
                          measured, limit)
    over, zh, en = [], [], []
    if far_after is not None:
        ok = far_after <= p.max_far
        zh.append(f"技改后容积率 {far_after:g}（上限 {p.max_far:g}）")
        en.append(f"FAR after renovation {far_after:g} (limit {p.max_far:g})")
        if not ok:
            over.append("far")
    if height is not None:
        ok = height <= p.max_height_m
        zh.append(f"建筑高度最高 {height:g} m（上限 {p.max_height_m:g} m）")
        en.append(f"tallest building {height:g} m (limit {p.max_height_m:g} m)")
        if not ok:
            over.append("height")
    if over:
        status = "fail" if plan is False else "needs_review"
        tail_zh = "" if plan is False else "；如有规划条件或控制性详细规划则按其执行，需核实"
        tail_en = "" if plan is False else "; if plan conditions or a detailed plan exist they govern: needs review"
        return RuleResult("FAR-01", status, f"开发区外、无规划条件：{'，'.join(zh)}，超过上限{tail_zh}",
                          f"outside development zones without plan conditions: {', '.join(en)}: over the "
                          f"limit{tail_en}",
                          measured, limit)
    if far_after is None or height is None:
        return RuleResult("FAR-01", "needs_review", "开发区外、无规划条件：技改后容积率或建筑高度未提供，需核实"
                          + (f"（{'，'.join(zh)}）" if zh else ""),
                          "outside development zones without plan conditions: FAR after renovation or building height "
                          "not given; needs review" + (f" ({', '.join(en)})" if en else ""), measured, limit)
    return RuleResult("FAR-01", "pass", f"开发区外、无规划条件：{'，'.join(zh)}，均未超过",
                      f"outside development zones without plan conditions: {', '.join(en)}: within the limits",
                      measured, limit)


def support_01(c: EdgeCheck) -> RuleResult:
    """SUPPORT-01 on the parcel enlarged by the plots."""
    items = c.parcel.support_land
    if not items:
        return support_result([], c.rs, none_zh="未提供配套用地", none_en="no support land given")
    geoms = np.empty(len(items), dtype=object)
    geoms[:] = [s.geometry for s in items]
    support = float(shapely.area(shapely.union_all(geoms)))
    floors = [s.props.number("floor_area_m2") for s in items]
    total_floor = c.request.number("total_floor_area_after_m2") or c.parcel.props.number("floor_area_m2")
    enlarged = float(shapely.area(shapely.union_all([c.parcel.geometry, c.plots_union])))
    unit = SupportUnit("parcel+plots", enlarged, support,
                       None if None in floors else float(sum(floors)),  # type: ignore[arg-type]
                       total_floor, effective_rating(c.parcel.holder, c.rs.rating).effective,
                       c.parcel.props.flag("in_development_zone"))
    return support_result([unit], c.rs, none_zh="未提供配套用地", none_en="no support land given")


EDGE_RULES: dict[str, Callable[[EdgeCheck], RuleResult]] = {
    "EDGE-01": edge_01,
    "EDGE-02": edge_02,
    "EDGE-03": edge_03,
    "EDGE-04": edge_04,
    "EDGE-05": edge_05,
    "EDGE-06": edge_06,
    "FAR-01": far_01,
    "SUPPORT-01": support_01,
}


def plots_summary(c: EdgeCheck) -> dict[str, Any]:
    """The report's ``plots`` and ``enlarged`` members."""
    enlarged = float(shapely.area(shapely.union_all([c.parcel.geometry, c.plots_union])))
    return {
        "plots": [{"label": lab, "area_m2": round_m2(a), "area_mu": m2_to_mu(a, 2)}
                  for lab, a in zip(c.labels, c.areas.tolist(), strict=True)],
        "enlarged": {"area_m2": round_m2(enlarged), "area_mu": m2_to_mu(enlarged, 2)},
    }
