"""Pieces shared by the operations: number formatting, "where", ratings (RATING-01), eligibility of a
company (SPLIT-09 / MERGE-05), confirmations, and the report-level checks SUPPORT-01 and FAR-01."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from gis.crs import CRS84, transformer
from gis.rules.inputs import Party, Props
from gis.rules.result import RuleResult, Status
from gis.rulesets import RatingParams, RuleSet
from gis.units import area_at_most, m2_to_mu, round_half_up, round_m2, share_limit_m2

__all__ = [
    "EffectiveRating",
    "SupportUnit",
    "area_entry",
    "confirmations_result",
    "effective_rating",
    "fmt_m2",
    "fmt_mu",
    "party_eligibility",
    "rating_result",
    "support_result",
    "where",
    "worst",
]

_ORDER: dict[str, int] = {"fail": 3, "needs_review": 2, "pass": 1, "not_applicable": 0}


def worst(statuses: Sequence[Status], default: Status = "pass") -> Status:
    """The most serious of several statuses (fail > needs_review > pass > not_applicable)."""
    return max(statuses, key=_ORDER.__getitem__) if statuses else default


def fmt_m2(area_m2: float) -> str:
    return f"{round_m2(area_m2):.2f} m²"


def fmt_mu(area_m2: float) -> str:
    return f"{m2_to_mu(area_m2, 2):.2f}"


def area_entry(area_m2: float) -> dict[str, float]:
    """``{"area_m2": …, "area_mu": …}`` as reports show areas (0.01 m², 0.01 mu)."""
    return {"area_m2": round_m2(area_m2), "area_mu": m2_to_mu(area_m2, 2)}


def where(location: tuple[float, float] | None, storage_epsg: int) -> tuple[str, str, dict[str, Any] | None]:
    """A location in the storage CRS → (中文, English, JSON) naming it in metres and lon/lat."""
    if location is None:
        return "", "", None
    x, y = float(location[0]), float(location[1])
    lon, lat = transformer(f"EPSG:{storage_epsg}", CRS84).transform(x, y)
    data = {"x": round(x, 2), "y": round(y, 2), "crs": f"EPSG:{storage_epsg}",
            "lon": round(float(lon), 7), "lat": round(float(lat), 7)}
    zh = f"（位置：北 {y:.2f}、东 {x:.2f}（EPSG:{storage_epsg}），经度 {lon:.6f}、纬度 {lat:.6f}）"
    en = f" (at E {x:.2f}, N {y:.2f} in EPSG:{storage_epsg}; lon/lat {lon:.6f}, {lat:.6f})"
    return zh, en, data


# --- ratings -------------------------------------------------------------------------------------

Basis = Literal["recorded", "key_project_a", "key_project_not_d", "unknown"]


@dataclass(frozen=True)
class EffectiveRating:
    """The rating eligibility is judged on (policy 四(九)): recorded, or lifted by a key project.

    ``effective`` is None when unknown, or when a key project only says "not D" about a D or an
    unrated company (the actual class then needs an officer).
    """

    recorded: str | None
    effective: str | None
    basis: Basis


def effective_rating(party: Party | None, params: RatingParams) -> EffectiveRating:
    """RATING-01: ≥ as_a_min_investment_wan under construction counts as A; ≥ not_d_… is not D."""
    if party is None:
        return EffectiveRating(None, None, "unknown")
    rec = party.rating
    invest = party.key_project_investment_wan
    if party.key_project_under_construction and invest is not None:
        if invest >= params.as_a_min_investment_wan:
            return EffectiveRating(rec, "A", "key_project_a")
        if invest >= params.not_d_min_investment_wan and rec in (None, "D"):
            return EffectiveRating(rec, None, "key_project_not_d")
    return EffectiveRating(rec, rec, "recorded" if rec else "unknown")


def rating_result(parties: Sequence[tuple[str, Party | None]], params: RatingParams) -> RuleResult:
    """RATING-01 for the parties of an operation: which ratings the eligibility rules use, and why."""
    measured: dict[str, Any] = {}
    lifted_zh, lifted_en = [], []
    for role, party in parties:
        if party is None:
            continue
        eff = effective_rating(party, params)
        measured[role] = {"name": party.label, "recorded": eff.recorded, "effective": eff.effective,
                          "basis": eff.basis, "key_project_investment_wan": party.key_project_investment_wan,
                          "key_project_under_construction": party.key_project_under_construction}
        if eff.basis == "key_project_a":
            lifted_zh.append(f"{role}（{party.label}）总投资 {party.key_project_investment_wan:g} 万元的"
                             f"重点产业项目在建，按 A 类认定（记录等级 {eff.recorded or '无'}）")
            lifted_en.append(f"{role} ({party.label}) has a key project of {party.key_project_investment_wan:g} "
                             f"wan yuan under construction: counted as A (recorded {eff.recorded or 'none'})")
        elif eff.basis == "key_project_not_d":
            lifted_zh.append(f"{role}（{party.label}）总投资 {party.key_project_investment_wan:g} 万元的"
                             f"重点产业项目在建，不列入 D 类（记录等级 {eff.recorded or '无'}，实际类别需核实）")
            lifted_en.append(f"{role} ({party.label}) has a key project of {party.key_project_investment_wan:g} "
                             f"wan yuan under construction: not D (recorded {eff.recorded or 'none'}; the class "
                             "needs review)")
    limit = {"as_a_min_investment_wan": params.as_a_min_investment_wan,
             "not_d_min_investment_wan": params.not_d_min_investment_wan}
    if not lifted_zh:
        return RuleResult(
            "RATING-01", "not_applicable",
            f"无在建的总投资 {params.not_d_min_investment_wan:g} 万元以上重点产业项目，按记录的亩均评价等级判断",
            f"no key project of ≥ {params.not_d_min_investment_wan:g} wan yuan under construction: recorded "
            "ratings apply",
            measured, limit)
    return RuleResult("RATING-01", "pass", "；".join(lifted_zh), "; ".join(lifted_en), measured, limit,
                      tuple(role for role, _ in parties if role in measured))


def party_eligibility(role_zh: str, role_en: str, party: Party | None, *, refused_ratings: Sequence[str],
                      refused_flags: Sequence[str], rating_params: RatingParams,
                      last_year: int) -> tuple[Status, dict[str, Any], str, str]:
    """Is a company allowed to receive industrial land? (status, measured, reason zh, reason en)."""
    if party is None:
        return ("needs_review", {"known": False}, f"{role_zh}未知", f"{role_en}: unknown company")
    eff = effective_rating(party, rating_params)
    measured = {"name": party.name, "credit_code": party.credit_code, "rating": eff.recorded,
                "rating_year": party.rating_year, "effective_rating": eff.effective, "rating_basis": eff.basis,
                "compliance_flags": list(party.compliance_flags) if party.compliance_flags is not None else None}
    name = party.label
    bad_flags = [f for f in (party.compliance_flags or ()) if f in refused_flags]
    if bad_flags:
        return ("fail", measured, f"{role_zh}{name}存在不达标项：{', '.join(bad_flags)}",
                f"{role_en} {name} has non-compliance flags: {', '.join(bad_flags)}")
    if eff.effective in refused_ratings and (party.rating_year in (None, last_year) or eff.basis != "recorded"):
        return ("fail", measured, f"{role_zh}{name}上一年度（{last_year}）亩均评价为 {eff.effective} 类",
                f"{role_en} {name} was rated {eff.effective} for {last_year}")
    if eff.basis != "key_project_a" and party.rating_year not in (None, last_year):
        return ("needs_review", measured,
                f"{role_zh}{name}的亩均评价为 {party.rating_year} 年度，需核实上一年度（{last_year}）评价",
                f"{role_en} {name}: the rating given is for {party.rating_year}; the {last_year} rating needs review")
    if eff.effective is None:
        why_zh = "不列入 D 类，实际类别" if eff.basis == "key_project_not_d" else "亩均评价等级"
        why_en = "not D by a key project; its actual class" if eff.basis == "key_project_not_d" else "its rating"
        return ("needs_review", measured, f"{role_zh}{name}{why_zh}未知，需核实",
                f"{role_en} {name}: {why_en} is unknown and needs review")
    if party.compliance_flags is None:
        return ("needs_review", measured, f"{role_zh}{name}是否存在能耗、环保、质量、安全不达标未提供，需核实",
                f"{role_en} {name}: energy / environment / quality / safety compliance not given; needs review")
    return ("pass", measured, f"{role_zh}{name}评价 {eff.effective} 类，无不达标项",
            f"{role_en} {name} is rated {eff.effective} with no non-compliance flag")


def confirmations_result(rule: str, confirmations: Props | None, required: Sequence[str],
                         labels: dict[str, tuple[str, str]]) -> RuleResult:
    """A rule an officer must confirm: pass when every item is ``true``, fail on a ``false``, else review."""
    measured = {k: (confirmations.flag(k) if confirmations else None) for k in required}
    missing = [k for k, v in measured.items() if v is None]
    refused = [k for k, v in measured.items() if v is False]
    zh = lambda ks: "、".join(labels.get(k, (k, k))[0] for k in ks)  # noqa: E731
    en = lambda ks: ", ".join(labels.get(k, (k, k))[1] for k in ks)  # noqa: E731
    limit = {"confirmations_required": list(required)}
    if refused:
        return RuleResult(rule, "fail", f"经办人确认不符合：{zh(refused)}", f"confirmed as not met: {en(refused)}",
                          measured, limit, tuple(refused))
    if missing:
        return RuleResult(rule, "needs_review", f"需经办人确认：{zh(missing)}（请求中未确认）",
                          f"needs an officer's confirmation of: {en(missing)} (not confirmed in the request)",
                          measured, limit, tuple(missing))
    return RuleResult(rule, "pass", f"经办人已确认：{zh(required)}", f"confirmed by the officer: {en(required)}",
                      measured, limit)


# --- SUPPORT-01 ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SupportUnit:
    """One parcel (or lot) after the operation, for SUPPORT-01."""

    label: str
    area_m2: float
    support_m2: float
    support_floor_m2: float | None
    floor_area_m2: float | None
    rating: str | None
    in_development_zone: bool | None


def support_result(units: Sequence[SupportUnit], rs: RuleSet, *, none_zh: str, none_en: str) -> RuleResult:
    """SUPPORT-01: support land ≤ 7% of the parcel; ≤ 15% (floor ≤ 30%) where policy 四(十七) allows."""
    p = rs.support
    limit = {"max_share": p.max_share, "raised_max_share": p.raised_max_share,
             "raised_max_floor_share": p.raised_max_floor_share, "raised_ratings": list(p.raised_ratings),
             "raised_min_parcel_mu": p.raised_min_parcel_mu, "raised_in_development_zone": p.raised_in_development_zone}
    units = [u for u in units if u.support_m2 > 0]
    if not units:
        return RuleResult("SUPPORT-01", "not_applicable", none_zh, none_en, {}, limit)
    measured: dict[str, Any] = {}
    statuses: list[Status] = []
    zh_parts, en_parts, culprits = [], [], []
    for u in units:
        share = u.support_m2 / u.area_m2 if u.area_m2 > 0 else 1.0
        big = m2_to_mu(u.area_m2) >= p.raised_min_parcel_mu
        by_rating = None if u.rating is None else (u.rating in p.raised_ratings and big)
        by_zone = None if u.in_development_zone is None else (u.in_development_zone and p.raised_in_development_zone)
        raised: bool | None = True if (by_rating or by_zone) else (None if None in (by_rating, by_zone) else False)
        floor_share = (u.support_floor_m2 / u.floor_area_m2
                       if u.support_floor_m2 is not None and u.floor_area_m2 else None)
        measured[u.label] = {"support_m2": round_m2(u.support_m2), **area_entry(u.area_m2),
                             "share": round_half_up(share, 4), "floor_share":
                             None if floor_share is None else round_half_up(floor_share, 4),
                             "raised_cap_applies": raised}
        pct = f"{share:.2%}"
        if area_at_most(u.support_m2, share_limit_m2(u.area_m2, p.max_share)) and (
                p.max_floor_share is None or floor_share is None or floor_share <= p.max_floor_share):
            st: Status = "pass"
            zh = f"{u.label}：配套用地 {fmt_m2(u.support_m2)}，占 {pct}，不超过 {p.max_share:.0%}"
            en = f"{u.label}: support land {fmt_m2(u.support_m2)} is {pct}, within {p.max_share:.0%}"
        elif not area_at_most(u.support_m2, share_limit_m2(u.area_m2, p.raised_max_share)):
            st = "fail"
            zh = f"{u.label}：配套用地 {fmt_m2(u.support_m2)}，占 {pct}，超过上限 {p.raised_max_share:.0%}"
            en = f"{u.label}: support land {fmt_m2(u.support_m2)} is {pct}, above even {p.raised_max_share:.0%}"
        elif raised is False:
            st = "fail"
            zh = (f"{u.label}：配套用地占 {pct}，超过 {p.max_share:.0%}；不符合提高到 {p.raised_max_share:.0%} 的条件"
                  f"（产业园区内，或 {'/'.join(p.raised_ratings)} 类企业且用地 {p.raised_min_parcel_mu:g} 亩以上）")
            en = (f"{u.label}: support land is {pct}, above {p.max_share:.0%}, and the {p.raised_max_share:.0%} cap "
                  f"does not apply (industrial park, or a {'/'.join(p.raised_ratings)}-rated holder on ≥ "
                  f"{p.raised_min_parcel_mu:g} mu)")
        elif raised is None:
            st = "needs_review"
            zh = (f"{u.label}：配套用地占 {pct}，超过 {p.max_share:.0%}、未超过 {p.raised_max_share:.0%}；"
                  "是否适用提高比例（园区位置或企业评价等级）需核实")
            en = (f"{u.label}: support land is {pct}, above {p.max_share:.0%} but within {p.raised_max_share:.0%}; "
                  "whether the raised cap applies (park location or rating) needs review")
        elif floor_share is None:
            st = "needs_review"
            zh = (f"{u.label}：配套用地占 {pct}，适用 {p.raised_max_share:.0%} 上限；建筑面积占比（上限 "
                  f"{p.raised_max_floor_share:.0%}）缺少数据，需核实")
            en = (f"{u.label}: support land is {pct}, within the raised {p.raised_max_share:.0%}; its floor-area share "
                  f"(cap {p.raised_max_floor_share:.0%}) cannot be measured and needs review")
        elif floor_share > p.raised_max_floor_share:
            st = "fail"
            zh = (f"{u.label}：配套用地占 {pct}，但配套建筑面积占 {floor_share:.2%}，超过 "
                  f"{p.raised_max_floor_share:.0%}")
            en = (f"{u.label}: support land is {pct}, but its floor area is {floor_share:.2%}, above "
                  f"{p.raised_max_floor_share:.0%}")
        else:
            st = "pass"
            zh = (f"{u.label}：配套用地占 {pct}、建筑面积占 {floor_share:.2%}，在提高后的上限 "
                  f"{p.raised_max_share:.0%} / {p.raised_max_floor_share:.0%} 内")
            en = (f"{u.label}: support land {pct}, floor area {floor_share:.2%}: within the raised caps "
                  f"{p.raised_max_share:.0%} / {p.raised_max_floor_share:.0%}")
        statuses.append(st)
        zh_parts.append(zh)
        en_parts.append(en)
        if st != "pass":
            culprits.append(u.label)
    return RuleResult("SUPPORT-01", worst(statuses), "；".join(zh_parts), "; ".join(en_parts), measured, limit,
                      tuple(culprits))
