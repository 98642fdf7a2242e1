"""Split (分割转让), policy 四(八): SPLIT-01 … SPLIT-11, with RATING-01 and SUPPORT-01.

Each ``split_NN`` is a pure function of a :class:`SplitCheck` (the parsed request, with the geometry
measured once and shared) returning a :class:`~gis.rules.result.RuleResult`.

A building is *cut* when its footprint does not lie within one lot grown by ``tolerance_m``: the
lot holding most of its area is its main lot, and the part outside that lot must stay within
``tolerance_m`` of it (:func:`gis.geometry.within_tolerance`). A footprint crossing a lot line by
0.03 m is not cut (tolerance 0.05 m); by 0.5 m it is. Support land is placed the same way.
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
    Tiling,
    Validity,
    is_single_polygon,
    location_of,
    measurable,
    part_outside,
    prepared,
    tiling,
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
    party_eligibility,
    rating_result,
    support_result,
    where,
    worst,
)
from gis.rules.inputs import Item, Lot, ParcelIn, Props
from gis.rules.result import RuleResult, Status
from gis.rulesets import RuleSet
from gis.units import area_at_least, m2_to_mu, mu_to_m2, round_m2

__all__ = ["SPLIT_RULES", "Placement", "SplitCheck"]

CONFIRMATION_LABELS = {
    "planning": ("符合规划", "planning"),
    "fire_safety": ("符合消防安全要求", "fire safety"),
    "environment": ("符合环境保护要求", "environmental protection"),
    "contract_permits": ("土地出让合同（划拨决定书）允许分割", "the land contract (or allocation decision) permits it"),
}
_ORIGIN_ZH = {"original": "原始宗地", "split": "分割", "merge": "合并", "edge_plot": "零星地块协议出让"}


@dataclass(frozen=True)
class Placement:
    """Where a footprint (building or support land) lies among the lots."""

    label: str
    lot: int | None  # main lot (most of its area); None if it touches no lot
    within: bool  # within the main lot, allowing tolerance_m
    outside_m2: float = 0.0
    reach_m: float = 0.0
    location: tuple[float, float] | None = None


@dataclass
class SplitCheck:
    """A parsed split request, with the measurements several rules share (each computed once)."""

    rs: RuleSet
    as_of: date
    jurisdiction: Jurisdiction
    parent: ParcelIn
    lots: list[Lot]
    confirmations: Props | None

    @property
    def tol(self) -> float:
        return self.rs.geometry.tolerance_m

    @property
    def labels(self) -> list[str]:
        return [lot.label for lot in self.lots]

    @cached_property
    def lot_validity(self) -> list[Validity]:
        return validities([lot.geometry for lot in self.lots])

    @cached_property
    def tiling(self) -> Tiling:
        """How the lots tile the parent; invalid lots take part through a valid stand-in (:func:`as_valid`)."""
        geoms = list(measurable([lot.geometry for lot in self.lots], self.lot_validity))
        order = sorted(range(len(geoms)), key=lambda i: self.lots[i].label)
        return tiling(self.parent.geometry, geoms, tolerance_m=self.tol,
                      sliver_area_m2=self.rs.geometry.sliver_area_m2, order=order)

    @cached_property
    def lot_geoms(self) -> np.ndarray:
        """The lots as measured (snapped within tolerance when that mattered), prepared for predicates."""
        arr = np.empty(len(self.lots), dtype=object)
        arr[:] = list(self.tiling.parts)
        for g in arr:
            prepared(g)
        return arr

    @cached_property
    def lot_areas(self) -> np.ndarray:
        return shapely.area(self.lot_geoms)

    @cached_property
    def parent_area(self) -> float:
        return float(shapely.area(self.parent.geometry))

    def _place(self, items: list[Item]) -> list[Placement]:
        if not items:
            return []
        geoms = np.empty(len(items), dtype=object)
        geoms[:] = [it.geometry for it in items]
        # One vectorised covers() per prepared lot; only footprints not inside exactly one lot are
        # looked at one by one.
        inside = np.column_stack([shapely.covers(lot, geoms) for lot in self.lot_geoms])
        single = inside.sum(axis=1) == 1
        first = inside.argmax(axis=1).tolist()
        out = []
        labels = self.labels
        for i, it in enumerate(items):
            if single[i]:
                out.append(Placement(it.label, first[i], True))
                continue
            hits = np.flatnonzero(inside[i])
            if hits.size:  # several only where lots overlap (SPLIT-06's finding): pick by label, not order
                out.append(Placement(it.label, int(min(hits, key=lambda k: labels[k])), True))
                continue
            out.append(self._place_one(it.label, geoms[i]))
        return out

    def _place_one(self, label: str, geom: Any) -> Placement:
        shares = shapely.area(shapely.intersection(geom, self.lot_geoms))
        best = float(np.max(shares))
        if best <= 0:
            return Placement(label, None, False, float(shapely.area(geom)), 0.0, location_of(geom))
        main = min((k for k in range(len(shares)) if shares[k] == best), key=lambda k: self.labels[k])
        lot = self.lot_geoms[main]
        outside_m2, reach = part_outside(geom, lot)
        within = reach <= self.tol and bool(shapely.covers(shapely.buffer(lot, self.tol, quad_segs=4), geom))
        return Placement(label, main, within, outside_m2, reach, location_of(shapely.difference(geom, lot)))

    @cached_property
    def buildings(self) -> list[Placement]:
        return self._place(self.parent.buildings)

    @cached_property
    def support(self) -> list[Placement]:
        return self._place(self.parent.support_land)

    @cached_property
    def holder_rating(self) -> str | None:
        return effective_rating(self.parent.holder, self.rs.rating).effective

    def where(self, location: tuple[float, float] | None) -> tuple[str, str, dict[str, Any] | None]:
        return where(location, self.jurisdiction.storage_epsg)


def split_01(c: SplitCheck) -> RuleResult:
    """The parent has been completed and is in production on the as-of date."""
    completed = c.parent.props.date("completed_on")
    production = c.parent.props.date("production_started_on")
    measured = {"completed_on": completed and completed.isoformat(),
                "production_started_on": production and production.isoformat(), "as_of": c.as_of.isoformat()}
    limit = {"completed_on": f"<= {c.as_of.isoformat()}", "production_started_on": f"<= {c.as_of.isoformat()}"}
    missing = [k for k, v in (("completed_on", completed), ("production_started_on", production)) if v is None]
    if missing:
        names_zh = "、".join({"completed_on": "竣工验收日期", "production_started_on": "投产日期"}[k] for k in missing)
        return RuleResult("SPLIT-01", "fail", f"未记录{names_zh}：截至 {c.as_of} 不能认定已竣工投产",
                          f"no {' or '.join(missing)} on record: not shown completed and in production on {c.as_of}",
                          measured, limit)
    late = [(k, v) for k, v in (("completed_on", completed), ("production_started_on", production)) if v > c.as_of]
    if late:
        k, v = late[0]
        what_zh = "竣工验收" if k == "completed_on" else "投产"
        return RuleResult("SPLIT-01", "fail", f"{what_zh}日期 {v} 晚于检查基准日 {c.as_of}：尚未竣工投产",
                          f"{k} {v} is after the as-of date {c.as_of}: not yet completed and in production",
                          measured, limit)
    return RuleResult("SPLIT-01", "pass", f"已于 {completed} 竣工验收、{production} 投产（不晚于 {c.as_of}）",
                      f"completed on {completed} and in production since {production} (on or before {c.as_of})",
                      measured, limit)


def split_02(c: SplitCheck) -> RuleResult:
    """No building footprint is cut by a lot line, and every lot holds at least one whole building."""
    limit = {"tolerance_m": c.tol, "min_buildings_per_lot": 1}
    if not c.buildings:
        return RuleResult("SPLIT-02", "needs_review", "未提供幢（建筑物基底）数据，无法核查是否以幢为最小分割单位",
                          "no building footprints given: whether whole buildings are kept together needs review",
                          {"buildings": 0}, limit)
    per_lot = dict.fromkeys(c.labels, 0)
    cut, stray = [], []
    for p in c.buildings:
        if p.lot is None:
            stray.append(p)
        elif p.within:
            per_lot[c.labels[p.lot]] += 1
        else:
            cut.append(p)
    empty = [lab for lab, n in per_lot.items() if n == 0]
    measured: dict[str, Any] = {"buildings": len(c.buildings), "whole_buildings_per_lot": per_lot}
    zh, en, culprits = [], [], set(empty)
    for p in cut:
        wz, we, loc = c.where(p.location)
        lot = c.labels[p.lot] if p.lot is not None else "?"
        measured.setdefault("cut", {})[p.label] = {"main_lot": lot, "outside_m2": round_m2(p.outside_m2),
                                                   "reach_m": round(p.reach_m, 3), "location": loc}
        zh.append(f"幢 {p.label} 被地块界线分割：越出地块 {lot} {p.reach_m:.2f} m（{fmt_m2(p.outside_m2)}），"
                  f"超过容差 {c.tol:g} m{wz}")
        en.append(f"building {p.label} is cut by a lot line: it reaches {p.reach_m:.2f} m ({fmt_m2(p.outside_m2)}) "
                  f"beyond lot {lot}, more than the {c.tol:g} m tolerance{we}")
        culprits.add(lot)
    for p in stray:
        wz, we, loc = c.where(p.location)
        measured.setdefault("outside_all_lots", {})[p.label] = {"area_m2": round_m2(p.outside_m2), "location": loc}
        zh.append(f"幢 {p.label} 不在任何地块内{wz}")
        en.append(f"building {p.label} lies in no lot{we}")
    if empty:
        zh.append(f"地块 {'、'.join(empty)} 内没有完整的幢（至少应有 1 幢）")
        en.append(f"lot{'s' if len(empty) > 1 else ''} {', '.join(empty)} hold{'' if len(empty) > 1 else 's'} no "
                  "whole building (at least 1 required)")
    if zh:
        return RuleResult("SPLIT-02", "fail", "；".join(zh), "; ".join(en), measured, limit,
                          tuple(lab for lab in c.labels if lab in culprits))
    counts_zh = "、".join(f"{k} {v} 幢" for k, v in per_lot.items())
    counts_en = ", ".join(f"{k}: {v}" for k, v in per_lot.items())
    return RuleResult("SPLIT-02", "pass",
                      f"{len(c.buildings)} 幢均完整位于一个地块内（容差 {c.tol:g} m），每个地块至少 1 幢：{counts_zh}",
                      f"all {len(c.buildings)} buildings lie whole within one lot (tolerance {c.tol:g} m) and "
                      f"every lot holds at least one: {counts_en}", measured, limit)


def split_03(c: SplitCheck) -> RuleResult:
    """At least 2 and at most 3 lots; the maximum is not applied to industrial real estate."""
    p = c.rs.split
    n = len(c.lots)
    ire = c.parent.props.flag("industrial_real_estate") is True
    measured = {"lots": n, "industrial_real_estate": ire}
    limit = {"min_lots": p.min_lots, "max_lots": None if ire else p.max_lots}
    if n < p.min_lots:
        return RuleResult("SPLIT-03", "fail", f"分割为 {n} 宗，少于 {p.min_lots} 宗，不构成分割",
                          f"{n} lot{'s' if n != 1 else ''}: a split needs at least {p.min_lots}", measured, limit)
    if ire:
        return RuleResult("SPLIT-03", "not_applicable",
                          f"工业地产项目不受分割数量（{p.max_lots} 宗）限制；本次分割为 {n} 宗",
                          f"industrial real estate is exempt from the {p.max_lots}-lot limit; this split has {n} lots",
                          measured, limit)
    if n > p.max_lots:
        return RuleResult("SPLIT-03", "fail", f"分割为 {n} 宗，超过 {p.max_lots} 宗",
                          f"{n} lots, more than {p.max_lots}", measured, limit, tuple(c.labels))
    return RuleResult("SPLIT-03", "pass", f"分割为 {n} 宗，不超过 {p.max_lots} 宗",
                      f"{n} lots, not more than {p.max_lots}", measured, limit)


def split_04(c: SplitCheck) -> RuleResult:
    """Every lot is at least ``min_lot_mu`` (10 mu), compared on areas rounded to 0.01 m²."""
    p = c.rs.split
    limit_m2 = mu_to_m2(p.min_lot_mu)
    measured = {lab: area_entry(a) for lab, a in zip(c.labels, c.lot_areas.tolist(), strict=True)}
    small = [(lab, a) for lab, a in zip(c.labels, c.lot_areas.tolist(), strict=True)
             if not area_at_least(a, limit_m2)]
    limit = {"min_area_mu": p.min_lot_mu, "min_area_m2": limit_m2}
    if small:
        zh = "；".join(f"地块 {lab} 面积 {fmt_m2(a)}（{fmt_mu(a)} 亩），少于 {p.min_lot_mu:g} 亩（{limit_m2:.2f} m²）"
                      for lab, a in small)
        en = "; ".join(f"lot {lab} is {fmt_m2(a)} ({fmt_mu(a)} mu), less than {p.min_lot_mu:g} mu ({limit_m2:.2f} m²)"
                       for lab, a in small)
        return RuleResult("SPLIT-04", "fail", zh, en, measured, limit, tuple(lab for lab, _ in small))
    i = int(np.argmin(c.lot_areas))
    a = float(c.lot_areas[i])
    return RuleResult("SPLIT-04", "pass",
                      f"各地块面积均不少于 {p.min_lot_mu:g} 亩（{limit_m2:.2f} m²）；最小为地块 {c.labels[i]}："
                      f"{fmt_m2(a)}（{fmt_mu(a)} 亩）",
                      f"every lot is at least {p.min_lot_mu:g} mu ({limit_m2:.2f} m²); the smallest, lot "
                      f"{c.labels[i]}, is {fmt_m2(a)} ({fmt_mu(a)} mu)", measured, limit)


def split_05(c: SplitCheck) -> RuleResult:
    """Support land lies wholly inside one lot, and that lot is retained by the original holder."""
    limit = {"tolerance_m": c.tol, "lots": 1, "lot_retained": True}
    if not c.support:
        return RuleResult("SPLIT-05", "not_applicable", "未提供配套用地（行政办公及生活服务设施用地）",
                          "no supporting office / living-service land given", {"support_land": 0}, limit)
    lots = sorted({p.lot for p in c.support if p.lot is not None})
    measured: dict[str, Any] = {"support_land": {p.label: (c.labels[p.lot] if p.lot is not None else None)
                                                 for p in c.support}}
    cut = [p for p in c.support if not p.within]
    if cut:
        zh, en = [], []
        for p in cut:
            wz, we, loc = c.where(p.location)
            lot = c.labels[p.lot] if p.lot is not None else "?"
            measured.setdefault("cut", {})[p.label] = {"main_lot": lot, "outside_m2": round_m2(p.outside_m2),
                                                       "reach_m": round(p.reach_m, 3), "location": loc}
            zh.append(f"配套用地 {p.label} 被分割：越出地块 {lot} {p.reach_m:.2f} m（{fmt_m2(p.outside_m2)}）{wz}")
            en.append(f"support land {p.label} is cut: it reaches {p.reach_m:.2f} m ({fmt_m2(p.outside_m2)}) "
                      f"beyond lot {lot}{we}")
        return RuleResult("SPLIT-05", "fail", "；".join(zh), "; ".join(en), measured, limit,
                          tuple(c.labels[i] for i in lots))
    if len(lots) > 1:
        names = "、".join(c.labels[i] for i in lots)
        return RuleResult("SPLIT-05", "fail", f"配套用地分属地块 {names}，与整宗地分割",
                          f"support land is spread over lots {', '.join(c.labels[i] for i in lots)}: it is split off",
                          measured, limit, tuple(c.labels[i] for i in lots))
    lot = c.lots[lots[0]]
    measured["lot"] = lot.label
    measured["lot_retained"] = {True: False, False: True, None: None}[lot.transferred]
    if lot.transferred is True:
        return RuleResult("SPLIT-05", "fail", f"配套用地位于转让的地块 {lot.label}，与整宗地分割转让",
                          f"the support land lies in lot {lot.label}, which is transferred: it is split off",
                          measured, limit, (lot.label,))
    if lot.transferred is None:
        return RuleResult("SPLIT-05", "needs_review",
                          f"配套用地完整位于地块 {lot.label}，但该地块是否由原权利人保留未说明（retained）",
                          f"the support land lies wholly in lot {lot.label}, but whether the original holder keeps "
                          "that lot is not said (retained)", measured, limit, (lot.label,))
    return RuleResult("SPLIT-05", "pass", f"配套用地完整位于原权利人保留的地块 {lot.label}",
                      f"the support land lies wholly in lot {lot.label}, kept by the original holder", measured, limit)


def split_06(c: SplitCheck) -> RuleResult:
    """The lots tile the parent: valid single polygons, no overlap, gap or outside part above the sliver."""
    g = c.rs.geometry
    limit = {"sliver_area_m2": g.sliver_area_m2, "tolerance_m": g.tolerance_m, "single_polygon": True, "valid": True}
    zh, en, culprits = [], [], []
    measured: dict[str, Any] = {}
    for lot, v in zip(c.lots, c.lot_validity, strict=True):
        if not v.valid:
            wz, we, loc = c.where(v.location)
            measured.setdefault("invalid", {})[lot.label] = {"reason": v.reason, "location": loc}
            zh.append(f"地块 {lot.label} 几何无效（{v.reason}），未予修复{wz}")
            en.append(f"lot {lot.label} is not a valid polygon ({v.reason}) and is not repaired{we}")
            culprits.append(lot.label)
        elif not is_single_polygon(lot.geometry):
            n = int(shapely.get_num_geometries(lot.geometry))
            measured.setdefault("multipart", {})[lot.label] = n
            zh.append(f"地块 {lot.label} 由 {n} 个分离的部分组成，应为单一多边形")
            en.append(f"lot {lot.label} has {n} separate parts; it must be a single polygon")
            culprits.append(lot.label)
    t = c.tiling
    measured.update({"overlap_m2": round_m2(t.overlap_m2), "gap_m2": round_m2(t.gap_m2),
                     "outside_m2": round_m2(t.outside_m2), "snapped": t.snapped,
                     "before_snapping": {k: round_m2(v) for k, v in t.raw.items()},
                     "parent_area_m2": round_m2(c.parent_area), "lots_area_m2": round_m2(float(np.sum(c.lot_areas)))})
    s = g.sliver_area_m2
    if t.overlap_m2 > s:
        wz, we, loc = c.where(t.overlaps[0].location if t.overlaps else None)
        pairs = sorted({tuple(sorted((c.labels[a], c.labels[b]))) for q in t.overlaps for a, b in [q.parts]
                        if q.area_m2 > s})
        measured["overlap_location"] = loc
        zh.append(f"地块重叠 {fmt_m2(t.overlap_m2)}（{'、'.join(f'{a}与{b}' for a, b in pairs)}），超过 {s:g} m²{wz}")
        en.append(f"lots overlap by {fmt_m2(t.overlap_m2)} ({', '.join(f'{a}/{b}' for a, b in pairs)}), more than "
                  f"{s:g} m²{we}")
        culprits += [x for pair in pairs for x in pair]
    if t.gap_m2 > s:
        wz, we, loc = c.where(t.gaps[0].location if t.gaps else None)
        measured["gap_location"] = loc
        zh.append(f"地块之间或与原宗地边界之间有缝隙 {fmt_m2(t.gap_m2)}，超过 {s:g} m²{wz}")
        en.append(f"the lots leave {fmt_m2(t.gap_m2)} of the parent uncovered, more than {s:g} m²{we}")
    if t.outside_m2 > s:
        wz, we, loc = c.where(t.outside[0].location if t.outside else None)
        out_lots = sorted({c.labels[q.parts[0]] for q in t.outside if q.area_m2 > s}) or sorted(
            {c.labels[q.parts[0]] for q in t.outside})
        measured["outside_location"] = loc
        zh.append(f"地块 {'、'.join(out_lots)} 越出原宗地 {fmt_m2(t.outside_m2)}，超过 {s:g} m²{wz}")
        en.append(f"lot{'s' if len(out_lots) > 1 else ''} {', '.join(out_lots)} "
                  f"extend{'' if len(out_lots) > 1 else 's'} {fmt_m2(t.outside_m2)} beyond the parent, more than "
                  f"{s:g} m²{we}")
        culprits += out_lots
    if zh:
        return RuleResult("SPLIT-06", "fail", "；".join(zh), "; ".join(en), measured, limit,
                          tuple(lab for lab in c.labels if lab in set(culprits)))
    return RuleResult("SPLIT-06", "pass",
                      f"各地块均为有效的单一多边形，完整覆盖原宗地：重叠 {fmt_m2(t.overlap_m2)}、"
                      f"缝隙 {fmt_m2(t.gap_m2)}、越界 {fmt_m2(t.outside_m2)}，均不超过 {s:g} m²"
                      f"（容差 {g.tolerance_m:g} m）",
                      f"the lots are valid single polygons tiling the parent: overlap {fmt_m2(t.overlap_m2)}, gap "
                      f"{fmt_m2(t.gap_m2)}, outside {fmt_m2(t.outside_m2)}, each within {s:g} m² (tolerance "
                      f"{g.tolerance_m:g} m)", measured, limit)


def _origin(c: SplitCheck) -> tuple[str | None, dict[str, Any]]:
    produced_by = c.parent.props.text("produced_by")
    parents = c.parent.props.items("parent_codes")
    return produced_by, {"produced_by": produced_by, "parent_codes": parents,
                         "no_split": c.parent.props.flag("no_split")}


def split_07(c: SplitCheck) -> RuleResult:
    """No second split: the parent was not itself produced by a split."""
    produced_by, measured = _origin(c)
    limit = {"produced_by_not": list(c.rs.split.no_second_split_origins)}
    if produced_by is None:
        return RuleResult("SPLIT-07", "needs_review", "宗地来源（produced_by）未记录，是否为分割所得需核实",
                          "the parcel's origin (produced_by) is not recorded: whether it came from a split needs "
                          "review",
                          measured, limit)
    if produced_by in c.rs.split.no_second_split_origins:
        parents = ", ".join(map(str, measured["parent_codes"] or []))
        return RuleResult("SPLIT-07", "fail",
                          f"该宗地由分割产生（原宗地 {parents or '未记录'}），工业用地不得二次分割转让",
                          f"the parcel was itself produced by a split (parent {parents or 'not recorded'}): "
                          "industrial land may not be split a second time", measured, limit)
    return RuleResult("SPLIT-07", "pass", f"宗地来源为{_ORIGIN_ZH.get(produced_by, produced_by)}，非分割所得",
                      f"the parcel's origin is {produced_by}, not a split", measured, limit)


def split_08(c: SplitCheck) -> RuleResult:
    """A merged parcel (or one enlarged by edge plots, or marked no-split) cannot be split."""
    produced_by, measured = _origin(c)
    limit = {"produced_by_not": list(c.rs.split.no_split_origins), "no_split": False}
    if produced_by in c.rs.split.no_split_origins or measured["no_split"]:
        why = produced_by if produced_by in c.rs.split.no_split_origins else "no_split"
        zh = {"merge": "该宗地由合并转让产生，合并转让后产权不得分割",
              "edge_plot": "该宗地经零星边角地、夹心地协议出让扩大，原则上不允许分割转让",
              }.get(why, "该宗地已登记为不得分割")
        en = {"merge": "the parcel was produced by a merger: a merged parcel may not be split",
              "edge_plot": "the parcel was enlarged with edge / sandwich plots: in principle it may not be split",
              }.get(why, "the parcel is recorded as not splittable (no_split)")
        return RuleResult("SPLIT-08", "fail", zh, en, measured, limit)
    if produced_by is None:
        return RuleResult("SPLIT-08", "needs_review", "宗地来源（produced_by）未记录，是否为合并所得需核实",
                          "the parcel's origin (produced_by) is not recorded: whether it came from a merger needs "
                          "review", measured, limit)
    return RuleResult("SPLIT-08", "pass",
                      f"宗地来源为{_ORIGIN_ZH.get(produced_by, produced_by)}，非合并或零星地块所得，且未登记为不得分割",
                      f"the parcel's origin is {produced_by}: not a merger or edge-plot parcel, and not marked "
                      "no-split", measured, limit)


def split_09(c: SplitCheck) -> RuleResult:
    """No transferee rated C/D last year or flagged non-compliant; unknown transferee or rating → review."""
    p = c.rs.split
    last_year = c.as_of.year - 1
    limit = {"refused_ratings": list(p.refused_ratings), "refused_flags": list(p.refused_flags),
             "rating_year": last_year}
    moving = [lot for lot in c.lots if lot.transferred is not False]
    if not moving:
        return RuleResult("SPLIT-09", "not_applicable", "各地块均由原权利人保留，无受让方",
                          "every lot stays with the original holder: no transferee", {}, limit)
    statuses: list[Status] = []
    measured: dict[str, Any] = {}
    zh, en, culprits = [], [], []
    for lot in moving:
        if lot.transferred is None:
            st, m = "needs_review", {"known": False}
            rz = f"地块 {lot.label} 未说明保留或转让（retained / transferee）"
            re_ = f"lot {lot.label}: neither retained nor a transferee is given"
        else:
            st, m, rz, re_ = party_eligibility(f"地块 {lot.label} 受让方", f"lot {lot.label} transferee",
                                               lot.transferee, refused_ratings=p.refused_ratings,
                                               refused_flags=p.refused_flags, rating_params=c.rs.rating,
                                               last_year=last_year)
        statuses.append(st)
        measured[lot.label] = m
        zh.append(rz)
        en.append(re_)
        if st != "pass":
            culprits.append(lot.label)
    return RuleResult("SPLIT-09", worst(statuses), "；".join(zh), "; ".join(en), measured, limit, tuple(culprits))


def split_10(c: SplitCheck) -> RuleResult:
    """Planning, fire safety, environment and the land contract: the officer's confirmations."""
    return confirmations_result("SPLIT-10", c.confirmations, c.rs.split.confirmations, CONFIRMATION_LABELS)


def split_11(c: SplitCheck) -> RuleResult:
    """Standard land: every transferee takes on the parent's standard-land indicators (listed)."""
    standard = c.parent.props.flag("standard_land") is True
    indicators = c.parent.props.raw("standard_land_indicators")
    transferees = [lot.label for lot in c.lots if lot.transferred is not False]
    measured = {"standard_land": standard, "indicators": indicators if standard else None,
                "lots_bound": transferees if standard else []}
    limit = {"obligations_carry_over": True}
    if not standard:
        return RuleResult("SPLIT-11", "not_applicable", "原宗地未按“标准地”出让",
                          "the parent was not supplied as standard land", measured, limit)
    listed = ", ".join(f"{k}={v}" for k, v in indicators.items()) if isinstance(indicators, dict) else str(indicators)
    return RuleResult("SPLIT-11", "pass",
                      f"原宗地按“标准地”出让：受让地块 {'、'.join(transferees) or '（无）'} 应按原“标准地”指标投资建设"
                      f"（{listed or '指标未记录'}）",
                      "the parent was supplied as standard land: the transferred lots "
                      f"{', '.join(transferees) or '(none)'} carry its indicators "
                      f"({listed or 'indicators not recorded'})", measured, limit, tuple(transferees))


def rating_01(c: SplitCheck) -> RuleResult:
    """RATING-01: the effective ratings of the holder and the transferees."""
    parties = [("holder", c.parent.holder)] + [(lot.label, lot.transferee) for lot in c.lots]
    return rating_result(parties, c.rs.rating)


def support_01(c: SplitCheck) -> RuleResult:
    """SUPPORT-01 on each lot that holds support land (its share of that lot)."""
    if not c.support:
        return support_result([], c.rs, none_zh="未提供配套用地", none_en="no support land given")
    zone = c.parent.props.flag("in_development_zone")
    n = len(c.lots)
    support_m2 = [0.0] * n
    support_floor: list[float | None] = [0.0] * n
    for item, place in zip(c.parent.support_land, c.support, strict=True):
        floor = item.props.number("floor_area_m2")
        if place.within and place.lot is not None:
            parts = {place.lot: float(shapely.area(item.geometry))}
        else:  # cut support land (SPLIT-05 fails): share it out by area
            areas = shapely.area(shapely.intersection(item.geometry, c.lot_geoms)).tolist()
            parts = {k: a for k, a in enumerate(areas) if a > 0}
        for k, a in parts.items():
            support_m2[k] += a
            f = support_floor[k]
            support_floor[k] = None if f is None or floor is None else f + floor
    floors: list[float | None] = [0.0] * n
    for b, pl in zip(c.parent.buildings, c.buildings, strict=True):
        if pl.lot is not None:
            f, bf = floors[pl.lot], b.props.number("floor_area_m2")
            floors[pl.lot] = None if f is None or bf is None else f + bf
    units = []
    for i, lot in enumerate(c.lots):
        if support_m2[i] <= 0:
            continue
        rating = c.holder_rating if lot.transferred is False else (
            effective_rating(lot.transferee, c.rs.rating).effective if lot.transferee else None)
        units.append(SupportUnit(lot.label, float(c.lot_areas[i]), support_m2[i], support_floor[i],
                                 floors[i] or None, rating, zone))
    return support_result(units, c.rs, none_zh="配套用地不在任何地块内", none_en="no support land lies in a lot")


SPLIT_RULES: dict[str, Callable[[SplitCheck], RuleResult]] = {
    "RATING-01": rating_01,
    "SPLIT-01": split_01,
    "SPLIT-02": split_02,
    "SPLIT-03": split_03,
    "SPLIT-04": split_04,
    "SPLIT-05": split_05,
    "SPLIT-06": split_06,
    "SPLIT-07": split_07,
    "SPLIT-08": split_08,
    "SPLIT-09": split_09,
    "SPLIT-10": split_10,
    "SPLIT-11": split_11,
    "SUPPORT-01": support_01,
}


def lots_summary(c: SplitCheck) -> list[dict[str, Any]]:
    """The report's ``lots`` member: label, area in m² and mu, and who keeps it."""
    out = []
    for lot, a in zip(c.lots, c.lot_areas.tolist(), strict=True):
        out.append({"label": lot.label, "area_m2": round_m2(a), "area_mu": m2_to_mu(a, 2),
                    "retained": {True: False, False: True, None: None}[lot.transferred],
                    "transferee": lot.transferee.label if lot.transferee else None})
    return out
