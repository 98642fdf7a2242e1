"""The canonical attributes of RULES.md §2 and the cadastral field names they are known by.

One table drives the importer's automatic field mapping, the exporters' headers (Chinese labels for
CSV/XLSX, 10-character pinyin abbreviations for Shapefile DBFs) and the sample generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "BUILDING_ATTRS",
    "EXTRA_SHP_NAMES",
    "HOLDER_YEAR_ATTRS",
    "PARCEL_ATTRS",
    "QLXZ_CODES",
    "SUPPORT_ATTRS",
    "Attr",
    "auto_mapping",
]

Kind = Literal["str", "date", "float", "int", "bool", "json", "list"]


@dataclass(frozen=True)
class Attr:
    name: str
    label_zh: str
    kind: Kind
    shp: str
    aliases: tuple[str, ...] = ()


PARCEL_ATTRS: tuple[Attr, ...] = (
    Attr("parcel_code", "宗地代码", "str", "ZDDM", ("ZDDM", "BDCDYH", "DKBH", "宗地代码", "不动产单元号", "地块编号")),
    Attr("name", "地块名称", "str", "DKMC", ("DKMC", "XMMC", "地块名称", "项目名称")),
    Attr("town", "乡镇(街道)", "str", "XZQMC", ("XZQMC", "XZ", "ZJ", "乡镇", "乡镇街道", "所在乡镇")),
    Attr("land_use", "土地用途", "str", "TDYT", ("TDYT", "DLMC", "土地用途")),
    Attr("land_use_code", "地类编码", "str", "DLBM", ("DLBM", "YTDM", "地类编码")),
    Attr("ownership_nature", "权属性质", "str", "QSXZ", ("QSXZ", "权属性质")),
    Attr("right_type", "使用权类型", "str", "SYQLX", ("SYQLX", "使用权类型")),
    Attr("holder_name", "土地使用权人", "str", "QLR", ("QLR", "TDSYZ", "权利人", "土地使用权人")),
    Attr("holder_credit_code", "统一社会信用代码", "str", "TYXYDM",
         ("TYXYDM", "TYSHXYDM", "XYDM", "ZJHM", "统一社会信用代码")),
    Attr("declared_area_m2", "申报宗地面积(㎡)", "float", "ZDMJ", ("ZDMJ", "DKMJ", "宗地面积")),
    Attr("approval_no", "批准文号", "str", "PZWH", ("PZWH", "PC", "批准文号", "批次")),
    Attr("approved_on", "批准日期", "date", "PZRQ", ("PZRQ", "批准日期")),
    Attr("supplied_on", "供地日期", "date", "GDRQ", ("GDRQ", "供地日期")),
    Attr("contract_no", "出让合同号", "str", "HTBH", ("HTBH", "合同编号", "出让合同号")),
    Attr("agreed_start_on", "约定动工日期", "date", "YDDGRQ", ("YDDGRQ", "约定动工日期")),
    Attr("agreed_completion_on", "约定竣工日期", "date", "YDJGRQ", ("YDJGRQ", "约定竣工日期")),
    Attr("construction_started_on", "实际动工日期", "date", "SJDGRQ", ("SJDGRQ", "实际动工日期")),
    Attr("completed_on", "竣工验收日期", "date", "JGRQ", ("JGRQ", "竣工日期", "竣工验收日期")),
    Attr("production_started_on", "投产日期", "date", "TCRQ", ("TCRQ", "投产日期")),
    Attr("halted_since", "停建日期", "date", "TJRQ", ("TJRQ", "停建日期")),
    Attr("lease_end_on", "出让终止日期", "date", "ZZRQ", ("ZZRQ", "终止日期", "出让终止日期")),
    Attr("developed_area_m2", "已开发面积(㎡)", "float", "KFMJ", ("KFMJ", "已开发面积")),
    Attr("far_planned", "约定容积率", "float", "GHRJL", ("GHRJL", "YDRJL", "约定容积率")),
    Attr("far_actual", "实际容积率", "float", "RJL", ("RJL", "SJRJL", "容积率", "实际容积率")),
    Attr("floor_area_m2", "总建筑面积(㎡)", "float", "JZMJ", ("JZMJ", "ZJZMJ", "总建筑面积")),
    Attr("invested_wan", "已完成投资(万元)", "float", "YWCTZ", ("YWCTZ", "WCTZ", "已完成投资")),
    Attr("planned_investment_wan", "计划总投资(万元)", "float", "JHTZ", ("JHTZ", "JHZTZ", "计划总投资")),
    Attr("standard_land", "是否标准地", "bool", "BZD", ("BZD", "SFBZD", "是否标准地")),
    Attr("standard_land_indicators", "标准地指标", "json", "BZDZB", ("BZDZB", "标准地指标")),
    Attr("industrial_real_estate", "是否工业地产", "bool", "GYDC", ("GYDC", "SFGYDC", "是否工业地产")),
    Attr("in_development_zone", "是否位于开发区", "bool", "KFQ", ("KFQ", "SFKFQ", "是否位于开发区")),
    Attr("produced_by", "产生方式", "str", "CSFS", ("CSFS", "产生方式")),
    Attr("parent_codes", "原宗地代码", "list", "YZDDM", ("YZDDM", "FZDDM", "原宗地代码")),
    Attr("no_split", "不得分割", "bool", "BDFG", ("BDFG", "不得分割")),
    Attr("retired_on", "注销日期", "date", "ZXRQ", ("ZXRQ", "注销日期")),
    Attr("remarks", "备注", "str", "BZ", ("BZ", "备注")),
)

BUILDING_ATTRS: tuple[Attr, ...] = (
    Attr("parcel_code", "宗地代码", "str", "ZDDM", ("ZDDM", "宗地代码")),
    Attr("number", "幢号", "str", "ZH", ("ZH", "ZRZH", "幢号")),
    Attr("floors", "层数", "int", "CS", ("CS", "ZCS", "层数")),
    Attr("height_m", "建筑高度(m)", "float", "GD", ("GD", "JZGD", "建筑高度")),
    Attr("floor_area_m2", "建筑面积(㎡)", "float", "JZMJ", ("JZMJ", "建筑面积")),
    Attr("use", "用途", "str", "YT", ("YT", "FWYT", "用途")),
)

SUPPORT_ATTRS: tuple[Attr, ...] = (
    Attr("parcel_code", "宗地代码", "str", "ZDDM", ("ZDDM", "宗地代码")),
    Attr("kind", "配套类型", "str", "PTLX", ("PTLX", "配套类型")),
    Attr("floor_area_m2", "建筑面积(㎡)", "float", "JZMJ", ("JZMJ", "建筑面积")),
)

HOLDER_YEAR_ATTRS: tuple[Attr, ...] = (
    Attr("credit_code", "统一社会信用代码", "str", "TYXYDM", ("TYXYDM", "TYSHXYDM", "统一社会信用代码")),
    Attr("holder_name", "企业名称", "str", "QYMC", ("QYMC", "QLR", "企业名称")),
    Attr("year", "年度", "int", "ND", ("ND", "年度")),
    Attr("rating", "亩均评价等级", "str", "PJDJ", ("PJDJ", "亩均评价等级")),
    Attr("tax_wan", "税收(万元)", "float", "SS", ("SS", "税收")),
    Attr("revenue_wan", "营业收入(万元)", "float", "YYSR", ("YYSR", "营业收入")),
    Attr("value_added_wan", "增加值(万元)", "float", "ZJZ", ("ZJZ", "增加值")),
    Attr("above_scale", "是否规上", "bool", "GS", ("GS", "是否规上")),
    Attr("compliance_flags", "不达标项", "list", "BDBX", ("BDBX", "不达标项")),
)

EXTRA_SHP_NAMES: dict[str, dict[str, str]] = {
    "parcels": {"area_m2": "ZDMJ", "area_mu": "ZDMJM", "declared_area_m2": "SBMJ", "valid_from": "SXSJ",
                "valid_to": "ZXSJ"},
    "buildings": {"footprint_m2": "JDMJ"},
    "support_land": {"area_m2": "YDMJ"},
}
"""Shapefile DBF names, per layer, of the computed and lifecycle columns that are not in the ``*_ATTRS`` tables
(``landgis export`` and the OGC downloads write them). In a parcels Shapefile ``ZDMJ`` is the official, computed
area; the declared area (``declared_area_m2``, ``ZDMJ`` on import) is written as ``SBMJ``."""

# QLXZ (权利性质) codes: first digit is the ownership nature, the code the right type.
QLXZ_CODES: dict[str, tuple[str, str]] = {
    "101": ("国有", "划拨"),
    "102": ("国有", "出让"),
    "103": ("国有", "作价出资(入股)"),
    "104": ("国有", "租赁"),
    "105": ("国有", "授权经营"),
}


def auto_mapping(columns: list[str], attrs: tuple[Attr, ...]) -> dict[str, str]:
    """Map source columns to canonical names: exact canonical name first, then known aliases.

    Matching ignores case. Returns ``{source_column: canonical_name}``; a canonical name is taken
    by the first column that matches it.
    """
    by_upper = {c.upper(): c for c in columns}
    mapping: dict[str, str] = {}
    for attr in attrs:
        for candidate in (attr.name, *attr.aliases):
            col = by_upper.get(candidate.upper())
            if col is not None and col not in mapping:
                mapping[col] = attr.name
                break
    return mapping
