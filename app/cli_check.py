"""``landgis check split|merge|edge-plots REQUEST.json``: the check engine, offline, on inline parcels.

No database: parcels must be inline GeoJSON Features (a parcel code needs the service). Prints a
bilingual table (rich) or, with ``--json``, exactly the report the API returns.

Exit status: 0 pass, 1 fail, 3 needs_review, 2 the request cannot be checked (an RFC 9457
problem document is printed to stderr).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from gis.errors import GisInputError
from gis.rules import run_check

__all__ = ["EXIT_CODES", "check_app"]

check_app = typer.Typer(
    help="离线检查分割、合并、零星地块申请（内联宗地，无需数据库）/ check split, merge and edge-plot requests "
         "offline (inline parcels, no database)",
    no_args_is_help=True,
)
EXIT_CODES = {"pass": 0, "fail": 1, "needs_review": 3}
INPUT_ERROR = 2
_STYLE = {"pass": "green", "fail": "bold red", "needs_review": "yellow", "not_applicable": "dim"}
_STATUS_ZH = {"pass": "通过", "fail": "不通过", "needs_review": "需人工核实", "not_applicable": "不适用"}

RequestArg = Annotated[Path, typer.Argument(help="请求 JSON 文件（- 为标准输入）/ request JSON file (- for stdin)",
                                            allow_dash=True)]
CrsOpt = Annotated[str | None, typer.Option("--crs", help="坐标参考系 / CRS of the coordinates (OGC URI or EPSG:n; "
                                                          "default: the request's crs member, else CRS84)")]
AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="检查基准日 / as-of date YYYY-MM-DD (default: the "
                                                             "request's as_of, else today)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="输出报告 JSON / print the report as JSON")]
RuleSetOpt = Annotated[str | None, typer.Option("--rule-set", help="规则集 / rule set id (default: the request's "
                                                                   "rule_set, else the jurisdiction's default)")]


def _problem(exc: GisInputError) -> None:
    sys.stderr.write(orjson.dumps(exc.to_problem(), option=orjson.OPT_INDENT_2).decode() + "\n")


def _load(path: Path) -> Any:
    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as exc:
        raise GisInputError("request-unreadable", f"无法读取请求文件 {path}：{exc.strerror}",
                            f"cannot read the request file {path}: {exc.strerror}", status=400) from exc
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise GisInputError("malformed-json", f"请求不是合法的 JSON：{exc}", f"the request is not valid JSON: {exc}",
                            status=400) from exc


def print_report(report: dict[str, Any], console: Console) -> None:
    """The report as a readable bilingual table."""
    verdict = report["verdict"]
    rs = report["rule_set"]
    head = Text()
    head.append(f"{_STATUS_ZH[verdict]} / {verdict.upper()}", style=_STYLE[verdict])
    head.append(f"   {report['operation']}  as of {report['as_of']}  ·  {rs['id']}（{rs['title']}）")
    console.print(head)
    for w in report.get("warnings", []):
        style = "bold red" if w["code"] == "rule-set-not-in-force" else "yellow"
        console.print(Text(f"⚠ {w['message_zh']}\n  {w['message_en']}", style=style))
    table = Table(show_lines=True, expand=True)
    table.add_column("规则 Rule", no_wrap=True)
    table.add_column("状态 Status", no_wrap=True)
    table.add_column("要求 Requirement", ratio=2, overflow="fold")
    table.add_column("结果 Finding", ratio=5, overflow="fold")
    for r in report["results"]:
        st = r["status"]
        table.add_row(r["rule"], Text(f"{_STATUS_ZH[st]}\n{st}", style=_STYLE[st]),
                      f"{r['title_zh']}\n{r['title_en']}", f"{r['message_zh']}\n{r['message_en']}")
    console.print(table)
    rows = report.get("lots") or report.get("plots")
    if rows:
        t = Table(title="地块 Lots" if "lots" in report else "零星地块 Plots")
        for col in ("label", "area_m2", "area_mu"):
            t.add_column(col, justify="right" if col != "label" else "left")
        for row in rows:
            t.add_row(str(row["label"]), f"{row['area_m2']:.2f}", f"{row['area_mu']:.2f}")
        console.print(t)
    if "merged" in report:
        m = report["merged"]
        console.print(f"合并后 merged: {m['area_m2']:.2f} m² ({m['area_mu']:.2f} 亩/mu), "
                      f"出让终止 lease ends {m['lease_end_on']}")


def _run(operation: str, request: Path, crs: str | None, as_of: str | None, as_json: bool,
         rule_set: str | None) -> None:
    try:
        body = _load(request)
        report = run_check(operation, body, crs=crs, as_of=as_of, rule_set=rule_set)
    except GisInputError as exc:
        _problem(exc)
        raise typer.Exit(INPUT_ERROR) from exc
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
    else:
        print_report(report, Console())
    raise typer.Exit(EXIT_CODES[report["verdict"]])


@check_app.command("split")
def split(request: RequestArg, crs: CrsOpt = None, as_of: AsOfOpt = None, as_json: JsonOpt = False,
          rule_set: RuleSetOpt = None) -> None:
    """检查分割转让 / check a proposed split (SPLIT-01 … SPLIT-11)."""
    _run("split", request, crs, as_of, as_json, rule_set)


@check_app.command("merge")
def merge(request: RequestArg, crs: CrsOpt = None, as_of: AsOfOpt = None, as_json: JsonOpt = False,
          rule_set: RuleSetOpt = None) -> None:
    """检查合并转让 / check a proposed merger (MERGE-01 … MERGE-07)."""
    _run("merge", request, crs, as_of, as_json, rule_set)


@check_app.command("edge-plots")
def edge_plots(request: RequestArg, crs: CrsOpt = None, as_of: AsOfOpt = None, as_json: JsonOpt = False,
               rule_set: RuleSetOpt = None) -> None:
    """检查零星边角地、夹心地 / check adding edge and sandwich plots (EDGE-01 … EDGE-06)."""
    _run("edge-plots", request, crs, as_of, as_json, rule_set)
