"""``landgis check``: offline checks of inline requests, exit codes, --json, problems on stderr."""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from app.cli_check import check_app
from gis.rules import run_check
from gis.rules.factories import edge_request, merge_request, split_request, split_scene

runner = CliRunner()


def write(tmp_path, body, name="request.json"):
    path = tmp_path / name
    path.write_bytes(orjson.dumps(body) if not isinstance(body, bytes) else body)
    return str(path)


@pytest.mark.parametrize(("request_body", "code"), [
    (split_request(), 0),
    (split_request(scene=split_scene(n_lots=4)), 1),
    (split_request(confirmations={}), 3),
])
def test_split_exit_codes(tmp_path, request_body, code):
    result = runner.invoke(check_app, ["split", write(tmp_path, request_body)])
    assert result.exit_code == code, result.output
    assert "SPLIT-04" in result.stdout and "SUPPORT-01" in result.stdout
    assert {0: "通过", 1: "不通过", 3: "需人工核实"}[code] in result.stdout


def test_json_output_is_exactly_the_report(tmp_path):
    body = split_request()
    result = runner.invoke(check_app, ["split", write(tmp_path, body), "--json"])
    assert result.exit_code == 0
    assert orjson.loads(result.stdout) == run_check("split", body)


def test_merge_and_edge_plots(tmp_path):
    assert runner.invoke(check_app, ["merge", write(tmp_path, merge_request())]).exit_code == 0
    result = runner.invoke(check_app, ["edge-plots", write(tmp_path, edge_request()), "--json"])
    assert result.exit_code == 3  # EDGE-04 needs the register offline
    assert orjson.loads(result.stdout)["operation"] == "edge-plots"


def test_as_of_and_crs_options(tmp_path):
    body = split_request(crs="EPSG:4549", crs_member=False)
    path = write(tmp_path, body)
    result = runner.invoke(check_app, ["split", path, "--crs", "http://www.opengis.net/def/crs/EPSG/0/4549",
                                       "--as-of", "2024-03-01", "--json"])
    assert result.exit_code == 0, result.stderr
    report = orjson.loads(result.stdout)
    assert report["as_of"] == "2024-03-01" and report["rule_set"]["in_force_on_as_of"] is False
    table = runner.invoke(check_app, ["split", path, "--crs", "EPSG:4549", "--as-of", "2024-03-01"])
    assert "2023-12-31" in table.stdout  # the not-in-force notice


def test_stored_parcel_code_needs_the_service(tmp_path):
    body = split_request()
    body["parcel"] = "331023003001GB00001"
    result = runner.invoke(check_app, ["split", write(tmp_path, body)])
    assert result.exit_code == 2
    problem = orjson.loads(result.stderr)
    assert problem["code"] == "stored-parcel-needs-service" and problem["pointer"] == "/parcel"
    assert "服务" in problem["detail"] and "service" in problem["detail"]
    assert result.stdout == ""


@pytest.mark.parametrize(("content", "code"), [
    (b"{not json", "malformed-json"),
    (orjson.dumps(split_request(crs_member=False)), "outside-jurisdiction"),  # metres read as CRS84
])
def test_unusable_input_exits_2_with_a_problem(tmp_path, content, code):
    result = runner.invoke(check_app, ["split", write(tmp_path, content)])
    assert result.exit_code == 2
    problem = orjson.loads(result.stderr)
    assert problem["code"] == code and problem["status"] == 400
    assert problem["type"].endswith(code) and problem["detail_zh"] and problem["detail_en"]


def test_missing_file_and_unknown_crs(tmp_path):
    result = runner.invoke(check_app, ["split", str(tmp_path / "nope.json")])
    assert result.exit_code == 2 and orjson.loads(result.stderr)["code"] == "request-unreadable"
    result = runner.invoke(check_app, ["split", write(tmp_path, split_request(crs_member=False)), "--crs", "EPSG:0"])
    assert result.exit_code == 2 and orjson.loads(result.stderr)["code"] == "unknown-crs"


def test_stdin(tmp_path):
    result = runner.invoke(check_app, ["merge", "-", "--json"], input=orjson.dumps(merge_request()))
    assert result.exit_code == 0 and orjson.loads(result.stdout)["verdict"] == "pass"
