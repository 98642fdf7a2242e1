"""``landgis doctor``: the checks as pure functions over facts, and the command against real databases."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from app.cli import app as cli_app
from app.cli_doctor import EXPECTED_INDEXES, PROTECTIVE_TRIGGERS, Facts, _urls_with_password, run_checks
from app.db import head_revision
from app.settings import get_settings
from tests.api_helpers import make_token, sql_rows


def healthy(**changes) -> Facts:
    """Facts of a well-configured production service; each test changes one thing."""
    facts = Facts(env="production", write_rate_per_minute=600, server_version_num=150004, server_version="15.4",
                  postgis_version="3.3.2", revision=head_revision(), head=head_revision(),
                  indexes=set(EXPECTED_INDEXES), triggers=set(PROTECTIVE_TRIGGERS), active_admin_tokens=1,
                  superuser=False)
    for k, v in changes.items():
        setattr(facts, k, v)
    return facts


def rows(facts: Facts) -> dict[str, str]:
    return {c.name: c.status for c in run_checks(facts)}


def test_a_healthy_service_has_no_warning():
    statuses = rows(healthy())
    assert set(statuses.values()) == {"ok", "skip"}
    assert statuses["stale-tokens"] == "skip"  # token use is not recorded by the schema
    assert {"database", "postgresql", "postgis", "migrations", "indexes", "audit-triggers",
            "superuser"} <= set(statuses)


@pytest.mark.parametrize(("changes", "name", "status"), [
    ({"default_secret": True}, "secret-key", "error"),
    ({"default_secret": True, "env": "development"}, "secret-key", "warn"),
    ({"anonymous_read": True}, "anonymous-read", "warn"),
    ({"cors_origins": ["*"]}, "cors", "warn"),
    ({"cors_origins": ["*", "https://a.example"]}, "cors", "error"),
    ({"cors_origins": ["https://a.example"]}, "cors", "ok"),
    ({"write_rate_per_minute": 0}, "write-rate-limit", "warn"),
    ({"env_urls_with_password": ["DATABASE_URL"]}, "database-url-secret", "warn"),
    ({"env_urls_with_password": ["DATABASE_URL"], "env": "development"}, "database-url-secret", "ok"),
    ({"server_version_num": 120017, "server_version": "12.17"}, "postgresql", "error"),
    ({"postgis_version": "3.0.5"}, "postgis", "error"),
    ({"postgis_version": "3.1.0"}, "postgis", "ok"),
    ({"postgis_version": None}, "postgis", "error"),
    ({"revision": None}, "migrations", "error"),
    ({"revision": "0001"}, "migrations", "error"),
    ({"indexes": set(EXPECTED_INDEXES) - {"buildings_geom_gix"}}, "indexes", "error"),
    ({"triggers": set(PROTECTIVE_TRIGGERS) - {"audit_log_append_only"}}, "audit-triggers", "error"),
    ({"active_admin_tokens": 0}, "admin-token", "warn"),
    ({"stale_tokens": 2}, "stale-tokens", "warn"),
    ({"stale_tokens": 0}, "stale-tokens", "ok"),
    ({"superuser": True}, "superuser", "warn"),
    ({"superuser": True, "env": "test"}, "superuser", "ok"),
])
def test_each_check(changes, name, status):
    assert rows(healthy(**changes))[name] == status


def test_an_unreachable_database_is_one_error_not_a_cascade():
    statuses = rows(Facts(env="production", db_error="connection refused"))
    assert statuses["database"] == "error"
    assert not {"postgis", "migrations", "indexes", "audit-triggers", "admin-token"} & set(statuses)


def test_invalid_settings_are_reported():
    checks = run_checks(Facts(settings_error="LANDGIS_SECRET_KEY is the default"))
    assert [(c.name, c.status) for c in checks] == [("settings", "error")]
    assert "LANDGIS_SECRET_KEY" in checks[0].en


def test_passwords_in_environment_urls():
    environ = {"DATABASE_URL": "postgresql://app:pw@db/landgis", "DATABASE_READ_URL": "postgresql://ro@replica/x",
               "LANDGIS_DATABASE_READ_URL": "not a url"}
    assert _urls_with_password(environ) == ["DATABASE_URL"]


def test_expected_indexes_match_a_database_at_head(engine):
    """Every GiST and unique (non primary key) index the migrations make, and nothing the doctor invents."""
    made = {r[0] for r in sql_rows(engine, """
        SELECT c.relname FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_am am ON am.oid = c.relam
        JOIN pg_class t ON t.oid = i.indrelid
        WHERE n.nspname = 'public' AND t.relname <> 'spatial_ref_sys'
          AND (am.amname = 'gist' OR (i.indisunique AND NOT i.indisprimary))""")}
    assert made == set(EXPECTED_INDEXES)
    triggers = {r[0] for r in sql_rows(engine, "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
    assert set(PROTECTIVE_TRIGGERS) <= triggers


@pytest.fixture()
def doctor(monkeypatch):
    """Run ``landgis doctor`` with the given database URL in the environment, as an operator would."""
    runner = CliRunner()

    def run(url: str, *args: str, **env: str):
        for name in ("DATABASE_URL_FILE", "DATABASE_READ_URL", "LANDGIS_DATABASE_URL", "LANDGIS_CORS_ORIGINS"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setenv("LANDGIS_ENV", "test")
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        get_settings.cache_clear()
        return runner.invoke(cli_app, ["doctor", *args])

    yield run
    get_settings.cache_clear()


def test_doctor_on_a_healthy_database(doctor, db_settings):
    make_token(db_settings, "admin", "管理员")
    result = doctor(db_settings.database_url, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert report["ok"] is True
    for name in ("database", "postgresql", "postgis", "migrations", "indexes", "audit-triggers", "admin-token"):
        assert statuses[name] == "ok", report
    assert statuses["secret-key"] == "warn"  # the test settings keep the default secret
    table = doctor(db_settings.database_url, LANDGIS_WRITE_RATE_PER_MINUTE="0")
    assert table.exit_code == 0, table.output
    assert "write-rate-limit" in table.output and "warn" in table.output and "PostGIS 3." in table.output


def test_doctor_finds_a_dropped_gist_index_and_a_disabled_trigger(doctor, db_settings, engine):
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX parcels_geom_gix"))
        conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
    result = doctor(db_settings.database_url, "--json")
    assert result.exit_code == 1, result.output
    checks = {c["name"]: c for c in json.loads(result.output)["checks"]}
    assert checks["indexes"]["status"] == "error" and "parcels_geom_gix" in checks["indexes"]["en"]
    assert "buildings_geom_gix" not in checks["indexes"]["en"]
    assert checks["audit-triggers"]["status"] == "error" and "audit_log_append_only" in checks["audit-triggers"]["en"]
    assert checks["database"]["status"] == "ok"


def test_doctor_without_a_database(doctor):
    result = doctor("postgresql://nobody:pw@127.0.0.1:9/landgis", "--json")
    assert result.exit_code == 1
    checks = {c["name"]: c["status"] for c in json.loads(result.output)["checks"]}
    assert checks["database"] == "error"
    assert checks["database-url-secret"] == "ok"  # a password in DATABASE_URL: only a warning in production


def test_doctor_with_unusable_settings(doctor, tmp_path):
    result = doctor("postgresql://x@127.0.0.1:9/x", "--json", LANDGIS_SECRET_KEY_FILE=str(tmp_path / "missing"))
    assert result.exit_code == 1
    checks = json.loads(result.output)["checks"]
    assert checks[0]["name"] == "settings" and "LANDGIS_SECRET_KEY_FILE" in checks[0]["en"]
