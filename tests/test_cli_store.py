"""`landgis import` / `export` / `migrate` / `db status` as a user runs them."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from app.cli import app
from app.settings import get_settings
from tests.factories import ORIGIN, bow_tie, grid_parcels

runner = CliRunner()


@pytest.fixture()
def cli_env(db_settings, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", db_settings.sqlalchemy_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_import_prints_report_and_writes_json(cli_env, tmp_path):
    p = grid_parcels(n=3)
    p.loc[1, "geometry"] = bow_tie(ORIGIN[0] + 100, ORIGIN[1])
    p.to_file(tmp_path / "p.gpkg", layer="parcels")
    res = runner.invoke(app, ["import", str(tmp_path / "p.gpkg"), "--report", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    assert "新增 inserted" in res.output
    assert "几何无效" in res.output
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["counts"]["inserted"] == 2
    assert [(i["row"], i["code"]) for i in report["issues"] if i["severity"] == "error"] == [(2, "invalid-geometry")]


def test_strict_import_exits_1(cli_env, tmp_path):
    p = grid_parcels(n=2)
    p.loc[0, "geometry"] = bow_tie(ORIGIN[0], ORIGIN[1])
    p.to_file(tmp_path / "p.gpkg", layer="parcels")
    res = runner.invoke(app, ["import", str(tmp_path / "p.gpkg"), "--strict"])
    assert res.exit_code == 1
    assert "refused" in res.output


def test_unusable_file_exits_2_with_bilingual_message(cli_env, tmp_path):
    bad = tmp_path / "x.geojson"
    bad.write_text("{not json", encoding="utf-8")
    res = runner.invoke(app, ["import", str(bad)])
    assert res.exit_code == 2
    assert "无法读取" in res.output and "cannot read" in res.output


def test_export_and_status(cli_env, tmp_path):
    grid_parcels(n=2).to_file(tmp_path / "p.gpkg", layer="parcels")
    assert runner.invoke(app, ["import", str(tmp_path / "p.gpkg")]).exit_code == 0
    res = runner.invoke(app, ["export", str(tmp_path / "out.gpkg")])
    assert res.exit_code == 0 and "2 features" in res.output
    res = runner.invoke(app, ["export", str(tmp_path / "out.xyz")])
    assert res.exit_code == 2 and "不支持" in res.output
    res = runner.invoke(app, ["db", "status"])
    from app.db import head_revision

    assert res.exit_code == 0 and f"'revision': '{head_revision()}'" in res.output


def test_status_masks_the_password(cli_env, monkeypatch):
    """`landgis db status` shows where it connects, never the password (the trust-auth server ignores it)."""
    from app.settings import get_settings

    url = get_settings().sqlalchemy_url.replace("landgis@", "landgis:s3cret-pw@", 1)
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    res = runner.invoke(app, ["db", "status"])
    get_settings.cache_clear()
    assert res.exit_code == 0, res.output
    assert "s3cret-pw" not in res.output and "***" in res.output
