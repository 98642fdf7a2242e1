"""Merge (合并转让), policy 四(八): MERGE-01 … MERGE-07, with RATING-01 and SUPPORT-01.

Adjacency (MERGE-02): two parcels adjoin when the boundary they share, measured allowing a gap or
overlap of ``tolerance_m`` (:func:`gis.geometry.shared_boundary_length`), is at least
``min_shared_edge_m``. The parcels must form one connected whole under that relation, and their
union, with gaps narrower than ``tolerance_m`` closed, must be one polygon. A 2 cm gap along a long
edge is adjacency; a corner touch (≈ 0.1 m "shared" within tolerance) is not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any

import numpy as np
import shapely

from gis.attributes import QLXZ_CODES
from gis.geometry import (
    Adjacency,
    Validity,
    adjacency_graph,
    location_of,
    measurable,
    merged_outline,
    overlap_after_snap,
    validities,
)
from gis.jurisdiction import Jurisdiction
from gis.rules.common import (
    SupportUnit,
    effective_rating,
    fmt_m2,
    party_eligibility,
    rating_result,
    support_result,
    where,
)
from gis.rules.inputs import Item, ParcelIn, Party
from gis.rules.result import RuleResult
from gis.rulesets import RuleSet
from gis.units import m2_to_mu, round_m2

__all__ = ["MERGE_RULES", "MergeCheck"]


def _norm_text(value: str | None) -> str | None:
    if value is None:
        return None
    return value.replace("（", "(").replace("）", ")").replace(" ", "")


@dataclass
class MergeCheck:
    """A parsed merge request, with the measurements several rules share."""

    rs: RuleSet
    as_of: date
    jurisdiction: Jurisdiction
    parcels: list[ParcelIn]
    holder: Party | None
    extra_support: list[Item]

    @property
    def labels(self) -> list[str]:
        return [p.label for p in self.parcels]

    @cached_property
    def validity(self) -> list[Validity]:
        return validities([p.geometry for p in self.parcels])

    @cached_property
    def geoms(self) -> np.ndarray:
        return measurable([p.geometry for p in self.parcels], self.validity)

    @cached_property
    def areas(self) -> np.ndarray:
        return shapely.area(self.geoms)

    @cached_property
    def union(self):
        return shapely.union_all(self.geoms)

    @cached_property
    def merged_area(self) -> float:
        return float(shapely.area(self.union))

    @cached_property
    def overlaps(self) -> list[tuple[int, int, float, tuple[float, float] | None]]:
        """Pairs overlapping by more than the sliver after snapping within tolerance, with where.

        Pairs are taken in label order and the later parcel is snapped to the earlier one, so the
        figure does not depend on the order the parcels were sent in.
        """
        g = self.rs.geometry
        if float(np.sum(self.areas)) - self.merged_area <= g.sliver_area_m2:
            return []
        order = sorted(range(len(self.geoms)), key=lambda k: self.labels[k])
        out = []
        for a, i in enumerate(order):
            for j in order[a + 1:]:
                area, inter = overlap_after_snap(self.geoms[i], self.geoms[j], g.tolerance_m)
                if area > g.sliver_area_m2:
                    lo, hi = sorted((i, j))
                    out.append((lo, hi, area, location_of(inter)))
        return sorted(out)

    @cached_property
    def adjacency(self) -> Adjacency:
        g = self.rs.geometry
        return adjacency_graph(list(self.geoms), tolerance_m=g.tolerance_m, min_shared_edge_m=g.min_shared_edge_m)

    @cached_property
    def outline(self):
        if shapely.get_type_id(self.union) == shapely.GeometryType.POLYGON:
            return self.union
        return merged_outline(list(self.geoms), self.rs.geometry.tolerance_m)

    def where(self, location: tuple[float, float] | None) -> tuple[str, str, dict[str, Any] | None]:
        return where(location, self.jurisdiction.storage_epsg)


def _nature_and_type(p: ParcelIn) -> tuple[str | None, str | None]:
    nature = _norm_text(p.props.text("ownership_nature"))
    right = _norm_text(p.props.text("right_type"))
    code = p.props.text("qlxz") or (right if right in QLXZ_CODES else None)
    if code in QLXZ_CODES:
        n, r = QLXZ_CODES[code]
        nature, right = nature or n, _norm_text(r)
    return nature, right


def merge_01(c: MergeCheck) -> RuleResult:
    """Same ownership nature and the same right type for every parcel."""
    values = {p.label: _nature_and_type(p) for p in c.parcels}
    measured = {lab: {"ownership_nature": n, "right_type": r} for lab, (n, r) in values.items()}
    limit = {"same_ownership_nature": True, "same_right_type": True}
    natures = {n for n, _ in values.values() if n}
    rights = {r for _, r in values.values() if r}
    zh, en = [], []
    if len(natures) > 1:
        zh.append(f"权属性质不一致：{'、'.join(f'{k} {v[0]}' for k, v in values.items())}")
        en.append(f"ownership natures differ: {', '.join(f'{k} {v[0]}' for k, v in values.items())}")
    if len(rights) > 1:
        zh.append(f"使用权类型不一致：{'、'.join(f'{k} {v[1]}' for k, v in values.items())}")
        en.append(f"right types differ: {', '.join(f'{k} {v[1]}' for k, v in values.items())}")
    if zh:
        return RuleResult("MERGE-01", "fail", "；".join(zh), "; ".join(en), measured, limit, tuple(values))
    missing = [k for k, (n, r) in values.items() if n is None or r is None]
    if missing:
        return RuleResult("MERGE-01", "needs_review", f"宗地 {'、'.join(missing)} 未记录权属性质或使用权类型，需核实",
                          f"ownership nature or right type not recorded for {', '.join(missing)}: needs review",
                          measured, limit, tuple(missing))
    n, r = next(iter(natures)), next(iter(rights))
    return RuleResult("MERGE-01", "pass", f"权属性质均为{n}，使用权类型均为{r}",
                      f"all parcels are {n} (ownership nature) with right type {r}", measured, limit)


def merge_02(c: MergeCheck) -> RuleResult:
    """The parcels form one connected whole along shared boundaries ≥ min_shared_edge_m; one outline."""
    g = c.rs.geometry
    limit = {"min_shared_edge_m": g.min_shared_edge_m, "tolerance_m": g.tolerance_m, "outline_parts": 1}
    zh, en, culprits = [], [], []
    measured: dict[str, Any] = {}
    for p, v in zip(c.parcels, c.validity, strict=True):
        if not v.valid:
            wz, we, loc = c.where(v.location)
            measured.setdefault("invalid", {})[p.label] = {"reason": v.reason, "location": loc}
            zh.append(f"宗地 {p.label} 几何无效（{v.reason}），未予修复{wz}")
            en.append(f"parcel {p.label} is not a valid polygon ({v.reason}) and is not repaired{we}")
            culprits.append(p.label)
    adj = c.adjacency
    measured["shared_edges_m"] = {f"{c.labels[a]}|{c.labels[b]}": round(v, 2)
                                  for (a, b), v in sorted(adj.lengths.items())}
    measured["components"] = [[c.labels[i] for i in comp] for comp in adj.components]
    parts = int(shapely.get_num_geometries(c.outline)) if not shapely.is_empty(c.outline) else 0
    measured["outline_parts"] = parts
    if len(c.parcels) >= 2 and not adj.connected():
        main = max(adj.components, key=len)
        for comp in adj.components:
            if comp is main:
                continue
            for i in comp:
                best = adj.best_length(i)
                gap = min(float(shapely.distance(c.geoms[i], c.geoms[j])) for j in range(len(c.geoms)) if j != i)
                if gap > g.tolerance_m:
                    zh.append(f"宗地 {c.labels[i]} 与其他宗地不相邻（最近相距 {gap:.2f} m，容差 {g.tolerance_m:g} m）")
                    en.append(f"parcel {c.labels[i]} does not adjoin the others (nearest {gap:.2f} m away; tolerance "
                              f"{g.tolerance_m:g} m)")
                elif best > 0:
                    zh.append(f"宗地 {c.labels[i]} 与其他宗地共用边界最长仅 {best:.2f} m，"
                              f"少于 {g.min_shared_edge_m:g} m")
                    en.append(f"parcel {c.labels[i]} shares at most {best:.2f} m of boundary with the others, "
                              f"less than {g.min_shared_edge_m:g} m")
                else:
                    zh.append(f"宗地 {c.labels[i]} 与其他宗地仅角点相接（共用边界 0 m，"
                              f"少于 {g.min_shared_edge_m:g} m），不算界线相邻")
                    en.append(f"parcel {c.labels[i]} only touches the others at a corner (0 m of shared boundary, "
                              f"less than {g.min_shared_edge_m:g} m): a corner touch is not adjacency")
                culprits.append(c.labels[i])
    elif len(c.parcels) >= 2 and parts != 1:
        zh.append(f"合并后的外轮廓由 {parts} 个部分组成，应为一个多边形")
        en.append(f"the merged outline has {parts} parts; it must be one polygon")
    if zh:
        return RuleResult("MERGE-02", "fail", "；".join(zh), "; ".join(en), measured, limit,
                          tuple(lab for lab in c.labels if lab in set(culprits)))
    if len(c.parcels) < 2:
        return RuleResult("MERGE-02", "not_applicable", "不足 2 宗，无相邻关系可查（见 MERGE-06）",
                          "fewer than 2 parcels: no adjacency to check (see MERGE-06)", measured, limit)
    shortest = min(adj.lengths[e] for e in adj.edges)
    return RuleResult("MERGE-02", "pass",
                      f"各宗地界线相邻，连成一体：相邻共用边界最短 {shortest:.2f} m（不少于 {g.min_shared_edge_m:g} m，"
                      f"容差 {g.tolerance_m:g} m），合并后为一个多边形",
                      f"the parcels adjoin and form one whole: the shortest adjacency shares {shortest:.2f} m "
                      f"(≥ {g.min_shared_edge_m:g} m, tolerance {g.tolerance_m:g} m); the merged outline is one "
                      "polygon",
                      measured, limit)


def merge_03(c: MergeCheck) -> RuleResult:
    """The merged lease ends on the earliest lease_end_on of the inputs (pass, with the figure)."""
    ends = {p.label: p.props.date("lease_end_on") for p in c.parcels}
    measured: dict[str, Any] = {"lease_end_on": {k: v and v.isoformat() for k, v in ends.items()}}
    limit = {"unified_to": "earliest lease_end_on"}
    missing = [k for k, v in ends.items() if v is None]
    if missing:
        return RuleResult("MERGE-03", "needs_review", f"宗地 {'、'.join(missing)} 未记录出让终止日期，无法统一剩余年限",
                          f"no lease end date for {', '.join(missing)}: the remaining term cannot be unified",
                          measured, limit, tuple(missing))
    label, earliest = min(ends.items(), key=lambda kv: (kv[1], kv[0]))
    remaining = round((earliest - c.as_of).days / 365.25, 2)
    measured.update({"unified_lease_end_on": earliest.isoformat(), "remaining_years": remaining, "from": label})
    if earliest <= c.as_of:
        return RuleResult("MERGE-03", "fail", f"宗地 {label} 的出让年限已于 {earliest} 届满", f"parcel {label}'s lease "
                          f"ended on {earliest}", measured, limit, (label,))
    return RuleResult("MERGE-03", "pass",
                      f"合并后出让终止日期统一为 {earliest}（宗地 {label}，剩余最短年限 {remaining:.2f} 年）",
                      f"the merged parcel's lease ends on {earliest} (parcel {label}, the shortest remaining term: "
                      f"{remaining:.2f} years)", measured, limit, (label,))


def merge_04(c: MergeCheck) -> RuleResult:
    """The merged parcel will be marked not splittable (informational)."""
    return RuleResult("MERGE-04", "pass", "合并后宗地将登记为不得分割（执行合并时记录）",
                      "the merged parcel will be recorded as not splittable (on execution)",
                      {"no_split": True}, {"no_split": True})


def merge_05(c: MergeCheck) -> RuleResult:
    """The receiving holder is not rated C/D last year and has no non-compliance flag."""
    p = c.rs.merge
    last_year = c.as_of.year - 1
    st, measured, zh, en = party_eligibility("受让方", "the receiving holder", c.holder,
                                             refused_ratings=p.refused_ratings, refused_flags=p.refused_flags,
                                             rating_params=c.rs.rating, last_year=last_year)
    limit = {"refused_ratings": list(p.refused_ratings), "refused_flags": list(p.refused_flags),
             "rating_year": last_year}
    return RuleResult("MERGE-05", st, zh, en, measured, limit, () if st == "pass" else ("holder",))


def merge_06(c: MergeCheck) -> RuleResult:
    """At least 2 distinct, current parcels that do not overlap beyond the sliver."""
    g = c.rs.geometry
    n = len(c.parcels)
    codes = [p.code for p in c.parcels if p.code]
    dupes = sorted({x for x in codes if codes.count(x) > 1})
    retired = [p.label for p in c.parcels if not p.current]
    measured: dict[str, Any] = {"parcels": n, "duplicates": dupes, "not_current": retired,
                                "overlaps": {f"{c.labels[i]}|{c.labels[j]}": round_m2(a) for i, j, a, _ in c.overlaps}}
    limit = {"min_parcels": c.rs.merge.min_parcels, "sliver_area_m2": g.sliver_area_m2}
    zh, en, culprits = [], [], []
    if n < c.rs.merge.min_parcels:
        zh.append(f"仅 {n} 宗，合并至少需要 {c.rs.merge.min_parcels} 宗")
        en.append(f"only {n} parcel{'s' if n != 1 else ''}: a merger needs at least {c.rs.merge.min_parcels}")
    if dupes:
        zh.append(f"宗地重复：{'、'.join(dupes)}")
        en.append(f"parcels listed twice: {', '.join(dupes)}")
        culprits += dupes
    if retired:
        zh.append(f"宗地 {'、'.join(retired)} 已注销，不是现状宗地")
        en.append(f"{', '.join(retired)} {'are' if len(retired) > 1 else 'is'} retired, not current")
        culprits += retired
    for i, j, a, loc in c.overlaps:
        wz, we, data = c.where(loc)
        measured.setdefault("overlap_locations", {})[f"{c.labels[i]}|{c.labels[j]}"] = data
        zh.append(f"宗地 {c.labels[i]} 与 {c.labels[j]} 重叠 {fmt_m2(a)}，超过 {g.sliver_area_m2:g} m²{wz}")
        en.append(f"parcels {c.labels[i]} and {c.labels[j]} overlap by {fmt_m2(a)}, more than "
                  f"{g.sliver_area_m2:g} m²{we}")
        culprits += [c.labels[i], c.labels[j]]
    if zh:
        return RuleResult("MERGE-06", "fail", "；".join(zh), "; ".join(en), measured, limit,
                          tuple(lab for lab in c.labels if lab in set(culprits)))
    return RuleResult("MERGE-06", "pass", f"{n} 宗互不相同的现状宗地，互不重叠（不超过 {g.sliver_area_m2:g} m²）",
                      f"{n} distinct current parcels, not overlapping (beyond {g.sliver_area_m2:g} m²)",
                      measured, limit)


def merge_07(c: MergeCheck) -> RuleResult:
    """Standard-land obligations carry over to the merged parcel (listed)."""
    standard = {p.label: p.props.raw("standard_land_indicators") for p in c.parcels
                if p.props.flag("standard_land") is True}
    measured = {"standard_land": {k: {"indicators": v} for k, v in standard.items()}}
    limit = {"obligations_carry_over": True}
    if not standard:
        return RuleResult("MERGE-07", "not_applicable", "参与合并的宗地均未按“标准地”出让",
                          "none of the parcels was supplied as standard land", measured, limit)
    names = "、".join(standard)
    return RuleResult("MERGE-07", "pass", f"宗地 {names} 按“标准地”出让：合并后仍应按原“标准地”指标投资建设",
                      f"{', '.join(standard)} {'were' if len(standard) > 1 else 'was'} supplied as standard land: its "
                      "indicators carry over to the merged parcel", measured, limit, tuple(standard))


def rating_01(c: MergeCheck) -> RuleResult:
    """RATING-01 for the receiving holder."""
    return rating_result([("holder", c.holder)], c.rs.rating)


def support_01(c: MergeCheck) -> RuleResult:
    """SUPPORT-01 on the merged parcel."""
    items = [s for p in c.parcels for s in p.support_land] + c.extra_support
    if not items:
        return support_result([], c.rs, none_zh="未提供配套用地", none_en="no support land given")
    geoms = np.empty(len(items), dtype=object)
    geoms[:] = [s.geometry for s in items]
    support = float(shapely.area(shapely.intersection(shapely.union_all(geoms), c.union)))
    floors = [s.props.number("floor_area_m2") for s in items]
    totals = [p.props.number("floor_area_m2") for p in c.parcels]
    zones = {p.props.flag("in_development_zone") for p in c.parcels}
    unit = SupportUnit("merged", c.merged_area, support,
                       None if None in floors else float(sum(floors)),  # type: ignore[arg-type]
                       None if None in totals else float(sum(totals)),  # type: ignore[arg-type]
                       effective_rating(c.holder, c.rs.rating).effective,
                       None if None in zones or len(zones) != 1 else zones.pop())
    return support_result([unit], c.rs, none_zh="配套用地不在合并宗地内", none_en="no support land lies in the parcels")


MERGE_RULES: dict[str, Callable[[MergeCheck], RuleResult]] = {
    "MERGE-01": merge_01,
    "MERGE-02": merge_02,
    "MERGE-03": merge_03,
    "MERGE-04": merge_04,
    "MERGE-05": merge_05,
    "MERGE-06": merge_06,
    "MERGE-07": merge_07,
    "RATING-01": rating_01,
    "SUPPORT-01": support_01,
}


def merged_summary(c: MergeCheck, results: dict[str, RuleResult]) -> dict[str, Any]:
    """The report's ``merged`` member: inputs, area, outline parts, unified lease end."""
    m3 = results["MERGE-03"].measured or {}
    return {"parcels": [{"label": p.label, "parcel_code": p.code, "area_m2": round_m2(a), "area_mu": m2_to_mu(a, 2)}
                        for p, a in zip(c.parcels, c.areas.tolist(), strict=True)],
            "area_m2": round_m2(c.merged_area), "area_mu": m2_to_mu(c.merged_area, 2),
            "lease_end_on": m3.get("unified_lease_end_on"), "remaining_years": m3.get("remaining_years"),
            "no_split": True}
