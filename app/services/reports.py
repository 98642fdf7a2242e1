"""The printable case file of a recorded check: the record as JSON, an HTML page and its PDF.

A recorded check keeps its request and report (table ``checks``). The page re-reads the request's
geometry the way the engine did (:mod:`gis.geojson`, :mod:`gis.rules.inputs`: the report's ``crs``,
stored parcels through :class:`~app.lookup.PgLookup` in the version current when the check ran) and
draws it with :mod:`gis.svgmap`, highlighting what failed: the lots / plots / parcels a failing rule
names in ``features``, the buildings and support land in its ``measured.cut`` (or lying outside every
lot), and the gap / overlap / self-intersection ``location``s as markers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import shapely
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

from app.errors import ProblemError
from app.lookup import PgLookup
from app.services.common import attachment, jsonable
from gis.attributes import PARCEL_ATTRS
from gis.errors import GisInputError
from gis.geojson import GeometryBatch, request_crs
from gis.jurisdiction import load_jurisdiction
from gis.rules.inputs import Item, ParcelIn, Props, items_from, resolve_parcel
from gis.svgmap import MapShape, render_map
from gis.units import round_half_up, round_m2, round_mu

__all__ = ["STATUS_LABELS", "check_record", "pdf_filename_header", "report_context", "report_html", "report_pdf"]

log = logging.getLogger(__name__)
_TZ = ZoneInfo("Asia/Shanghai")
_TEMPLATES = Path(__file__).resolve().parents[1] / "templates"

STATUS_LABELS = {"pass": ("通过", "pass"), "fail": ("不通过", "fail"), "needs_review": ("需人工复核", "needs review"),
                 "not_applicable": ("不适用", "not applicable")}
OPERATION_LABELS = {"split": ("分割转让", "split"), "merge": ("合并转让", "merger"),
                    "edge-plots": ("零星边角地", "edge / sandwich plots")}
_FACT_EN = {
    "parcel_code": "parcel code", "name": "name", "town": "town", "holder": "holder",
    "holder_credit_code": "credit code", "land_use": "land use", "land_use_code": "land-use code",
    "ownership_nature": "ownership", "right_type": "right type", "area": "area", "declared_area_m2": "declared area",
    "approval_no": "approval no.", "approved_on": "approved on", "supplied_on": "supplied on",
    "contract_no": "contract no.", "completed_on": "completed on", "production_started_on": "in production since",
    "lease_end_on": "lease ends", "far_actual": "FAR", "floor_area_m2": "floor area", "produced_by": "origin",
    "parent_codes": "parent parcels", "standard_land": "standard land", "industrial_real_estate":
    "industrial real estate", "in_development_zone": "in a development zone", "no_split": "no further split",
}
_FACT_ORDER = ("parcel_code", "name", "town", "holder", "holder_credit_code", "land_use", "land_use_code",
               "ownership_nature", "right_type", "area", "declared_area_m2", "approval_no", "approved_on",
               "supplied_on", "contract_no", "completed_on", "production_started_on", "lease_end_on", "far_actual",
               "floor_area_m2", "produced_by", "parent_codes", "standard_land", "industrial_real_estate",
               "in_development_zone", "no_split")
_FACT_ZH = {a.name: a.label_zh for a in PARCEL_ATTRS} | {"holder": "土地使用权人", "area": "宗地面积"}
_PRODUCED_BY = {"original": "原始出让 original", "split": "分割 split", "merge": "合并 merge",
                "edge_plot": "零星边角地 edge plot"}
_KEY_ZH = {
    "area_m2": "面积 m²", "area_mu": "面积 亩", "min_area_mu": "最小面积 亩", "min_area_m2": "最小面积 m²",
    "max_area_mu": "最大面积 亩", "max_area_m2": "最大面积 m²", "tolerance_m": "容差 m", "lots": "地块数",
    "min_lots": "最少地块数", "max_lots": "最多地块数", "buildings": "幢数", "cut": "被分割",
    "main_lot": "主要所在地块",
    "outside_m2": "地块外面积 m²", "reach_m": "越界距离 m", "location": "位置", "overlap_m2": "重叠 m²",
    "gap_m2": "缝隙 m²", "whole_buildings_per_lot": "各地块完整幢数", "min_buildings_per_lot": "每块最少幢数",
    "completed_on": "竣工验收日期", "production_started_on": "投产日期", "as_of": "审查基准日", "rating": "评价等级",
    "recorded": "记录等级", "effective": "认定等级", "name": "名称", "holder": "原权利人",
    "industrial_real_estate": "工业地产", "support_land": "配套用地", "lot": "地块", "reason": "原因",
    "overlap_location": "重叠位置", "gap_location": "缝隙位置", "outside_location": "越界位置",
    "outside_all_lots": "不在任何地块内", "invalid": "几何无效", "overlaps": "重叠", "remaining_years": "剩余年限",
    "basis": "认定依据", "key_project_investment_wan": "重点项目总投资 万元",
    "key_project_under_construction": "重点项目在建", "as_a_min_investment_wan": "视为 A 类的最低投资 万元",
    "not_d_min_investment_wan": "不评为 D 类的最低投资 万元", "lot_retained": "地块保留", "multipart": "多部分",
    "lease_end_on": "出让终止日期", "far_before": "原容积率", "far_after": "新容积率", "far_actual": "实际容积率",
    "height_m": "高度 m", "share": "占比", "transferee": "受让方", "compliance_flags": "不达标项",
}


def _bad_id(check_id: str) -> ProblemError:
    return ProblemError(404, "unknown-check", f"未找到审查记录：{check_id}", f"no recorded check with id {check_id}",
                        pointer="/path/check_id")


def load_check(conn: Connection, check_id: str) -> dict[str, Any]:
    """The ``checks`` row of ``check_id`` (a malformed or unknown id → 404 problem)."""
    try:
        uid = UUID(str(check_id).strip())
    except ValueError:
        raise _bad_id(check_id) from None
    row = conn.execute(text("SELECT id, at, actor, operation, verdict, request, report FROM checks WHERE id = :i"),
                       {"i": uid}).mappings().first()
    if row is None:
        raise _bad_id(check_id)
    return dict(row)


def check_record(engine: Engine, check_id: str) -> dict[str, Any]:
    """The recorded check as JSON: id, at, actor, operation, verdict, request, report, links."""
    with engine.connect() as conn:
        row = load_check(conn, check_id)
    cid = str(row["id"])
    row["report"] = {**(row["report"] or {}), "check_id": cid}  # as the POST answered it (recorded before the id)
    return {**jsonable({k: row[k] for k in ("id", "at", "actor", "operation", "verdict", "request", "report")}),
            "links": [{"rel": "self", "href": f"/api/v1/checks/{cid}", "type": "application/json"},
                      {"rel": "alternate", "href": f"/api/v1/checks/{cid}/report", "type": "text/html"},
                      {"rel": "alternate", "href": f"/api/v1/checks/{cid}/report.pdf", "type": "application/pdf"}]}


# --- readable values ------------------------------------------------------------------------------

def _is_location(v: Any) -> bool:
    return isinstance(v, Mapping) and "x" in v and "y" in v and "crs" in v


def _scalar(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "是 yes" if v else "否 no"
    if isinstance(v, float):
        return f"{round_half_up(v, 4):,.4f}".rstrip("0").rstrip(".")
    if _is_location(v):
        return f"东 E {v['x']:.2f}, 北 N {v['y']:.2f} ({v['crs']})"
    if isinstance(v, list | tuple):
        return "、".join(_scalar(x) for x in v) if v else "—"
    if isinstance(v, Mapping):
        return "；".join(f"{_key(k)} {s}" for k, s in _flatten(v))
    return str(v)


def _key(k: Any) -> str:
    return _KEY_ZH.get(str(k), str(k))


def _flatten(value: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for k, v in value.items():
        path = f"{prefix}{k}"
        if isinstance(v, Mapping) and not _is_location(v) and v:
            yield from _flatten(v, path + " · ")
        else:
            yield path, _scalar(v)


def readable(value: Any) -> list[str]:
    """A rule's ``measured`` or ``limit`` as short lines (``A：面积 m² 6012.31；面积 亩 9.02``), not a JSON dump."""
    if value is None or value == {} or value == []:
        return []
    if not isinstance(value, Mapping):
        return [_scalar(value)]
    def joined(v: Mapping[str, Any]) -> str:
        return "；".join(f"{' · '.join(_key(p) for p in path.split(' · '))} {s}" for path, s in _flatten(v))

    lines = []
    for k, v in value.items():
        if not isinstance(v, Mapping) or _is_location(v) or not v:
            lines.append(f"{_key(k)}：{_scalar(v)}")
        elif all(isinstance(x, Mapping) and not _is_location(x) for x in v.values()):
            lines.extend(f"{_key(k)} · {k2}：{joined(v2)}" for k2, v2 in v.items())  # e.g. cut → one per building
        else:
            lines.append(f"{_key(k)}：{joined(v)}")
    return lines


# --- geometry of the request ------------------------------------------------------------------------

def _lot_label(it: Item) -> str:
    """The engine's lot naming: an unlabelled lot n is the n-th letter."""
    if it.label.isdigit() and not it.props.has("label") and int(it.label) <= 26:
        return chr(ord("A") + int(it.label) - 1)
    return it.label


def _scene(conn: Connection, operation: str, request: Mapping[str, Any], report: Mapping[str, Any],
           at: datetime) -> tuple[list[ParcelIn], list[tuple[str, Item]], list[Item]]:
    """Parcels, (kind, item) pieces (lots / plots) and extra support land of the request, in the storage CRS."""
    req = Props(request, "")
    j = load_jurisdiction(report.get("jurisdiction") or "tiantai")
    batch = GeometryBatch(request_crs(request, report.get("crs")), j)
    day = date.fromisoformat(str(report.get("as_of"))[:10])
    lookup = PgLookup(conn, at=at)
    pieces: list[tuple[str, Item]] = []
    support: list[Item] = []
    if operation == "merge":
        parcels = [resolve_parcel(s, f"/parcels/{i}", batch, as_of=day, lookup=lookup, label=f"#{i + 1}")
                   for i, s in enumerate(req.items("parcels") or [])]
        support = items_from(req.raw("support_land"), "/support_land", batch, label_key="name", prefix="S")
    else:
        parcels = [resolve_parcel(req.raw("parcel"), "/parcel", batch, as_of=day, lookup=lookup,
                                  buildings=req.raw("buildings"), support_land=req.raw("support_land"))]
        if operation == "split":
            for it in items_from(req.raw("lots"), "/lots", batch, label_key="label", prefix=""):
                it.label = _lot_label(it)
                pieces.append(("lot", it))
        else:
            pieces = [("lot", it) for it in items_from(req.raw("plots"), "/plots", batch, label_key="label",
                                                       prefix="P")]
    built = batch.build()
    for p in parcels:
        p.resolve(built)
    for _, it in pieces:
        it.resolve(built)
    for s in support:
        s.resolve(built)
    return parcels, pieces, support


def _offenders(results: list[Mapping[str, Any]]) -> tuple[set[str], set[str], list[tuple[str, str, Any]]]:
    """From the failing rules: feature labels, building / support-land labels, and (rule, what, location)."""
    features: set[str] = set()
    parts: set[str] = set()
    markers: list[tuple[str, str, Any]] = []

    def walk(rule: str, key: str, v: Any) -> None:
        if _is_location(v):
            markers.append((rule, key, v))
        elif isinstance(v, Mapping):
            for k, x in v.items():
                walk(rule, str(k) if k != "location" else key, x)

    for r in results:
        if r.get("status") != "fail":
            continue
        features.update(str(f) for f in r.get("features") or ())
        measured = r.get("measured") or {}
        if isinstance(measured, Mapping):
            for key in ("cut", "outside_all_lots"):
                if isinstance(measured.get(key), Mapping):
                    parts.update(str(k) for k in measured[key])
            walk(str(r.get("rule")), "", measured)
    return features, parts, markers


def _map_svg(parcels: list[ParcelIn], pieces: list[tuple[str, Item]], support: list[Item],
             results: list[Mapping[str, Any]], title: str) -> str:
    features, parts, markers = _offenders(results)
    shapes: list[MapShape] = []
    for p in parcels:
        shapes.append(MapShape("parent", p.geometry, label=p.code or p.label, title=f"宗地 parcel {p.code or p.label}",
                               highlight=p.label in features or (p.code or "") in features))
    for kind, it in pieces:
        shapes.append(MapShape(kind, it.geometry, label=it.label, highlight=it.label in features,
                               title=f"地块 lot {it.label}"))
    for p in parcels:
        shapes.extend(MapShape("support", s.geometry, label=s.label, highlight=s.label in parts,
                               title=f"配套用地 support land {s.label}") for s in p.support_land)
    shapes.extend(MapShape("support", s.geometry, label=s.label, highlight=s.label in parts,
                           title=f"配套用地 support land {s.label}") for s in support)
    for p in parcels:
        shapes.extend(MapShape("building", b.geometry, label=b.label, highlight=b.label in parts,
                               title=f"幢 building {b.label}") for b in p.buildings)
    for rule, what, loc in markers:
        if loc.get("crs") in (None, "EPSG:4549"):
            shapes.append(MapShape("marker", shapely.Point(float(loc["x"]), float(loc["y"])), label=rule,
                                   highlight=True, title=f"{rule} {what}".strip()))
    return render_map(shapes, title=title)


# --- parcel facts ---------------------------------------------------------------------------------

def _facts(p: ParcelIn, stored: bool) -> dict[str, Any]:
    props = dict(p.props.data)
    holder = props.pop("holder", None)
    if isinstance(holder, Mapping):
        props["holder"] = holder.get("name") or holder.get("credit_code")
        props.setdefault("holder_credit_code", holder.get("credit_code"))
        if holder.get("rating"):
            props["holder"] = f"{props['holder']}（上年度亩均评价 rating {holder['rating']}）"
    elif holder is not None:
        props["holder"] = holder
    elif props.get("holder_name"):
        props["holder"] = props.pop("holder_name")
    if p.geometry is not None and not p.geometry.is_empty:
        a = float(shapely.area(p.geometry))
        props["area"] = f"{round_m2(a):,.2f} m² / {round_mu(a):,.2f} 亩 mu"
    if isinstance(props.get("declared_area_m2"), int | float):
        d = float(props["declared_area_m2"])
        props["declared_area_m2"] = f"{d:,.2f} m² / {round_mu(d):,.2f} 亩 mu"
    if props.get("produced_by") in _PRODUCED_BY:
        props["produced_by"] = _PRODUCED_BY[props["produced_by"]]
    keys = [k for k in _FACT_ORDER if props.get(k) not in (None, "", [])]
    if not stored:
        keys += [k for k, v in props.items() if k not in _FACT_ORDER and v not in (None, "", [])
                 and not isinstance(v, Mapping)]
    rows = [{"key": k, "zh": _FACT_ZH.get(k, k), "en": _FACT_EN.get(k, ""), "value": _scalar(jsonable(props[k]))}
            for k in keys]
    return {"label": p.code or p.label, "stored": stored, "rows": rows,
            "buildings": [b.label for b in p.buildings], "support_land": [s.label for s in p.support_land],
            "current": p.current}


# --- the view model --------------------------------------------------------------------------------

def _summary_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    op = report.get("operation")
    if op == "split":
        rows = report.get("lots") or []
        return [{"label": r.get("label"), "area_m2": r.get("area_m2"), "area_mu": r.get("area_mu"),
                 "note": ("保留 retained" if r.get("retained") else
                          f"转让给 to {r.get('transferee') or '—'}" if r.get("retained") is False else
                          "未说明 not said")}
                for r in rows]
    if op == "merge":
        m = report.get("merged") or {}
        rows = [{"label": r.get("parcel_code") or r.get("label"), "area_m2": r.get("area_m2"),
                 "area_mu": r.get("area_mu"), "note": "参与合并 merged"} for r in m.get("parcels") or []]
        if m:
            rows.append({"label": "合并后 merged", "area_m2": m.get("area_m2"), "area_mu": m.get("area_mu"),
                         "note": f"统一终止日期 lease ends {m.get('lease_end_on') or '—'}"})
        return rows
    rows = [{"label": r.get("label"), "area_m2": r.get("area_m2"), "area_mu": r.get("area_mu"),
             "note": "零星地块 plot"} for r in report.get("plots") or []]
    if report.get("enlarged"):
        e = report["enlarged"]
        rows.append({"label": "扩大后 enlarged", "area_m2": e.get("area_m2"), "area_mu": e.get("area_mu"), "note": ""})
    return rows


def _iso(at: Any) -> str:
    if isinstance(at, datetime):
        return at.astimezone(_TZ).isoformat(timespec="seconds")
    return str(at)


def report_context(engine: Engine, check_id: str) -> dict[str, Any]:
    """Everything the case-file template shows, as plain values."""
    with engine.connect() as conn:
        row = load_check(conn, check_id)
        report, request, op = row["report"] or {}, row["request"] or {}, row["operation"]
        try:
            parcels, pieces, support = _scene(conn, op, request, report, row["at"])
        except (GisInputError, ProblemError, ValueError, TypeError, KeyError) as exc:
            log.warning("check %s: cannot redraw the request's geometry: %s", row["id"], exc)
            parcels, pieces, support = [], [], []
    results = list(report.get("results") or [])
    rs = report.get("rule_set") or {}
    cid = str(row["id"])
    map_svg = _map_svg(parcels, pieces, support, results, f"审查图 / check map {cid}") if parcels else None
    rules = [{
        "rule": r.get("rule"), "status": r.get("status"),
        "status_zh": STATUS_LABELS.get(r.get("status"), (r.get("status"), ""))[0],
        "status_en": STATUS_LABELS.get(r.get("status"), ("", r.get("status")))[1],
        "title_zh": r.get("title_zh"), "title_en": r.get("title_en"), "clause": r.get("clause"),
        "measured": readable(r.get("measured")), "limit": readable(r.get("limit")),
        "message_zh": r.get("message_zh"), "message_en": r.get("message_en"),
        "features": [str(f) for f in r.get("features") or ()],
    } for r in results]
    verdict = report.get("verdict") or row["verdict"]
    warnings = [w for w in report.get("warnings") or [] if isinstance(w, Mapping)]
    return {
        "check_id": cid,
        "at": _iso(row["at"]),
        "actor": row["actor"],
        "operation": op,
        "operation_zh": OPERATION_LABELS.get(op, (op, op))[0],
        "operation_en": OPERATION_LABELS.get(op, (op, op))[1],
        "verdict": verdict,
        "verdict_zh": STATUS_LABELS.get(verdict, (verdict, verdict))[0],
        "verdict_en": STATUS_LABELS.get(verdict, (verdict, verdict))[1],
        "counts": [{"status": s, "zh": STATUS_LABELS[s][0], "en": STATUS_LABELS[s][1],
                    "n": (report.get("counts") or {}).get(s, 0)} for s in STATUS_LABELS],
        "as_of": report.get("as_of"),
        "crs": report.get("crs"),
        "jurisdiction": report.get("jurisdiction"),
        "rule_set": rs,
        "rule_set_in_force": rs.get("in_force_on_as_of") is not False,
        "warnings": [w for w in warnings if w.get("code") != "rule-set-not-in-force"],
        "parcels": [_facts(p, p.stored) for p in parcels],
        "pieces": _summary_rows(report),
        "map_svg": Markup(map_svg) if map_svg else None,
        "rules": rules,
        "generated_at": datetime.now(_TZ).isoformat(timespec="seconds"),
    }


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html"]),
                       trim_blocks=True, lstrip_blocks=True)


def report_html(engine: Engine, check_id: str) -> str:
    """The printable case file as an HTML page (A4 print CSS, no external assets)."""
    return _env().get_template("report.html").render(**report_context(engine, check_id))


def report_pdf(engine: Engine, check_id: str) -> bytes:
    """The case file as PDF (WeasyPrint); 503 problem when WeasyPrint or its system libraries are missing."""
    page = report_html(engine, check_id)
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:
        log.error("WeasyPrint unavailable: %s", exc)
        raise ProblemError(
            503, "pdf-unavailable",
            "服务器未安装 PDF 生成组件：请安装 WeasyPrint（pip install weasyprint）及系统库 "
            "（apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-wqy-microhei）；HTML 版本仍可打印",
            "PDF rendering is not installed on the server: install WeasyPrint (pip install weasyprint) and its "
            "system libraries (apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-wqy-microhei); the HTML "
            "report can still be printed") from None
    return HTML(string=page, base_url=str(_TEMPLATES)).write_pdf()


def pdf_filename_header(check_id: str) -> str:
    """``Content-Disposition`` for the PDF: an ASCII fallback and the Chinese name (RFC 6266 / 5987)."""
    cid = str(UUID(str(check_id).strip()))
    return attachment(f"审查报告-{cid}.pdf", f"report-{cid}.pdf")
