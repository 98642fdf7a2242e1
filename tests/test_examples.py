"""The example requests in examples/ (used by the README) check as documented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("operation", ["split", "merge"])
def test_example_request_passes_offline(operation):
    res = CliRunner().invoke(app, ["check", operation, str(EXAMPLES / f"{operation}-request.json"), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["verdict"] == "pass"
    assert report["rule_set"]["id"] == "tiantai-2022" and report["rule_set"]["in_force_on_as_of"] is True


def test_example_edge_plots_offline_needs_the_register_for_edge04():
    res = CliRunner().invoke(app, ["check", "edge-plots", str(EXAMPLES / "edge-plots-request.json"), "--json"])
    assert res.exit_code == 3
    report = json.loads(res.stdout)
    review = [r["rule"] for r in report["results"] if r["status"] == "needs_review"]
    assert report["verdict"] == "needs_review" and review == ["EDGE-04"]
    assert [r["rule"] for r in report["results"] if r["status"] == "fail"] == []


def test_example_split_after_the_policy_expired_says_so():
    res = CliRunner().invoke(app, ["check", "split", str(EXAMPLES / "split-request.json"), "--json",
                                   "--as-of", "2024-06-01"])
    report = json.loads(res.stdout)
    assert report["rule_set"]["in_force_on_as_of"] is False
    assert report["as_of"] == "2024-06-01"
