"""Nothing lost: ``landgis backup`` / ``landgis restore`` round trip, and an audit log the service's own
database role cannot change (issue 7)."""

from __future__ import annotations

import os
import secrets
import stat
import sys

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from app import cli_backup
from app.cli import app
from app.settings import get_settings
from tests.api_helpers import (
    AS_OF,
    CONFIRMED,
    SHOWCASE,
    api_client,
    auth,
    make_token,
    parcel_geometry,
    showcase_split_request,
    split_lots,
)

runner = CliRunner()
CRS = {"crs": "EPSG:4549"}
# A second parcel in the showcase parcel's cadastral sub-district that a halving split passes (so the second
# split's codes come from the same numbering as the first split's).
SECOND_SPLIT_CODE = "331023002001GB00002"


# ------------------------------------------------------------------ whole-database snapshots (also used by
# test_migrations_data.py)


def public_tables(conn) -> list[str]:
    return list(conn.execute(text(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
        "AND table_type = 'BASE TABLE' ORDER BY 1")).scalars())


def table_columns(conn, table: str) -> list[tuple[str, str]]:
    return [tuple(r) for r in conn.execute(text(
        "SELECT column_name, udt_name FROM information_schema.columns WHERE table_schema = 'public' "
        "AND table_name = :t ORDER BY ordinal_position"), {"t": table})]


def table_rows(conn, table: str, columns: list[tuple[str, str]] | None = None) -> list[tuple]:
    """Every row of ``table`` as text (geometry as EWKB hex, so coordinates compare bit for bit), sorted by
    all columns."""
    columns = columns or table_columns(conn, table)
    exprs = [f"encode(ST_AsEWKB(\"{c}\"::geometry), 'hex')" if udt in ("geometry", "geography") else f'"{c}"::text'
             for c, udt in columns]
    order = ", ".join(str(i + 1) for i in range(len(exprs)))
    return [tuple(r) for r in conn.execute(text(f'SELECT {", ".join(exprs)} FROM public."{table}" ORDER BY {order}'))]


def schema_objects(conn) -> dict[str, list[tuple]]:
    """Sequences with their state, triggers (with enabled flag), indexes, constraints and our functions."""
    q = {
        "sequences": "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1",
        "triggers": "SELECT tgrelid::regclass::text, tgname, tgenabled::text, pg_get_triggerdef(oid) FROM pg_trigger "
                    "WHERE NOT tgisinternal ORDER BY 1, 2",
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1, 2",
        "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                       "WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
        "functions": "SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p "
                     "WHERE p.pronamespace = 'public'::regnamespace AND NOT EXISTS (SELECT 1 FROM pg_depend d "
                     "WHERE d.objid = p.oid AND d.deptype = 'e') ORDER BY 1",
    }
    return {k: [tuple(r) for r in conn.execute(text(sql))] for k, sql in q.items()}


# ------------------------------------------------------------------ helpers


def _use_database(monkeypatch, url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_settings():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _codes(engine, prefix: str) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(text("SELECT parcel_code FROM parcels WHERE left(parcel_code, 14) = :p"),
                                {"p": prefix}).scalars())


def populate_register(settings) -> tuple[dict, dict]:
    """An executed split, a category override and a disposal through the API; today's categories cached."""
    with api_client(settings) as client:
        client.headers.update(auth(make_token(settings, "officer", "备份测试")))
        request = showcase_split_request(settings)
        split = client.post("/api/v1/operations/split", params=CRS, json=request,
                            headers={"Idempotency-Key": "backup-test-1"})
        assert split.status_code == 201, split.text
        code = SHOWCASE["merge_ok"]["parcel_codes"][0]
        resp = client.put(f"/api/v1/parcels/{code}/category-override",
                          json={"category": "low_efficiency", "reason": "备份演练：实地核查"})
        assert resp.status_code == 200, resp.text
        resp = client.post("/api/v1/disposals", json={"parcel_code": code, "method": "协议转让", "area_mu": 2.5,
                                                      "disposed_on": "2025-05-01", "note": "备份演练"})
        assert resp.status_code == 201, resp.text
        assert client.get("/api/v1/parcels", params={"limit": 1}).status_code == 200
    return request, split.json()


# ------------------------------------------------------------------ tests


def test_backup_restore_round_trip_keeps_everything(sample_settings, base_settings, empty_db_url, tmp_path,
                                                    monkeypatch):
    first_request, first = populate_register(sample_settings)
    first_codes = sorted(c["parcel_code"] for c in first["children"])
    dump = tmp_path / "landgis.dump"
    _use_database(monkeypatch, sample_settings.sqlalchemy_url)
    src = create_engine(sample_settings.sqlalchemy_url)
    dst = create_engine(empty_db_url)
    try:
        with src.connect() as conn:
            current, retired, ops, audit = conn.execute(text(
                "SELECT (SELECT count(*) FROM parcels WHERE valid_to IS NULL), "
                "(SELECT count(*) FROM parcels WHERE valid_to IS NOT NULL), (SELECT count(*) FROM operations), "
                "(SELECT count(*) FROM audit_log)")).one()
        res = runner.invoke(app, ["backup", str(dump)])
        assert res.exit_code == 0, res.output
        assert (f"parcels current {current:,}, retired {retired:,}; operations {ops:,}; audit rows {audit:,}"
                in res.output)
        assert ops == 1 and retired >= 1
        assert [p.name for p in tmp_path.iterdir()] == ["landgis.dump"]  # no temporary file left behind
        assert dump.read_bytes()[:5] == b"PGDMP"
        assert stat.S_IMODE(dump.stat().st_mode) & 0o077 == 0  # holds token hashes: not world-readable

        refused = runner.invoke(app, ["restore", str(dump)])  # the configured database is the non-empty source
        assert refused.exit_code == 2
        assert "目标数据库非空" in refused.output and "not empty" in refused.output

        res = runner.invoke(app, ["restore", str(dump), "--dbname", empty_db_url])
        assert res.exit_code == 0, res.output
        assert "migrations at head" in res.output
        with src.connect() as a, dst.connect() as b:
            tables = public_tables(a)
            assert public_tables(b) == tables
            assert {"alembic_version", "audit_log", "parcels", "operations", "operation_parcels", "checks"} <= set(
                tables)
            for table in tables:
                assert table_columns(b, table) == table_columns(a, table), table
                before = table_rows(a, table)
                assert table_rows(b, table) == before, f"{table} differs after restore"
            for table in ("operations", "operation_parcels", "checks", "category_overrides", "disposals",
                          "parcel_categories", "parcel_code_seq", "api_tokens"):
                assert table_rows(a, table), f"{table} is empty: the round trip proves nothing for it"
            objects = schema_objects(a)
            assert schema_objects(b) == objects
            triggers = {(t[0], t[1]) for t in objects["triggers"]}
            assert {("audit_log", "audit_log_append_only"), ("audit_log", "audit_log_no_truncate")} <= triggers
            assert any(s[1] is not None for s in objects["sequences"])

        restored = base_settings.model_copy(update={"database_url": empty_db_url})
        prefix = first_codes[0][:14]
        ever_used = _codes(src, prefix)
        geom = parcel_geometry(restored, SECOND_SPLIT_CODE)
        with api_client(restored) as client:
            client.headers.update(auth(make_token(restored, "officer", "恢复后")))
            second = client.post("/api/v1/operations/split", params=CRS, json={
                "as_of": AS_OF, "parcel": SECOND_SPLIT_CODE, "confirmations": CONFIRMED,
                "lots": split_lots(geom, (geom.bounds[0] + geom.bounds[2]) / 2)})
            assert second.status_code == 201, second.text
            replay = client.post("/api/v1/operations/split", params=CRS, json=first_request,
                                 headers={"Idempotency-Key": "backup-test-1"})
            assert replay.status_code == 200 and replay.json()["operation_id"] == first["operation_id"]
        new_codes = sorted(c["parcel_code"] for c in second.json()["children"])
        assert all(c[:14] == prefix for c in new_codes)
        assert not set(new_codes) & ever_used
        top = max(int(c[14:]) for c in ever_used)
        assert [int(c[14:]) for c in new_codes] == [top + 1, top + 2]
        assert int(first_codes[-1][14:]) <= top

        for sql in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
            with pytest.raises(DBAPIError, match="append-only"), dst.begin() as conn:
                conn.execute(text(sql))

        # --clean puts a used database back to the backup's state (the second split disappears) …
        dst.dispose()
        res = runner.invoke(app, ["restore", str(dump), "--dbname", empty_db_url, "--clean"])
        assert res.exit_code == 0, res.output
        with src.connect() as a, dst.connect() as b:
            assert all(table_rows(b, t) == table_rows(a, t) for t in tables)
        # … but refuses when the target holds objects the dump knows nothing of
        with dst.begin() as conn:
            conn.execute(text("CREATE TABLE stray (x int)"))
        dst.dispose()
        res = runner.invoke(app, ["restore", str(dump), "--dbname", empty_db_url, "--force"])
        assert res.exit_code == 2 and "public.stray" in res.output and "new empty database" in res.output
    finally:
        src.dispose()
        dst.dispose()


def _fake_pg_dump(directory, body: str):
    path = directory / "pg_dump"
    path.write_text(f"#!{sys.executable}\nimport os, sys\n"
                    "if '--version' in sys.argv:\n    print('pg_dump (PostgreSQL) 99.0'); sys.exit(0)\n" + body,
                    encoding="utf-8")
    path.chmod(0o755)
    return path


def test_backup_keeps_the_password_off_the_command_line(db_settings, tmp_path, monkeypatch):
    url = make_url(db_settings.sqlalchemy_url)
    password = url.password or f"unused-with-trust-{secrets.token_hex(4)}"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    _fake_pg_dump(bindir, "import json\n"
                          "out = [a.split('=', 1)[1] for a in sys.argv if a.startswith('--file=')][0]\n"
                          "open(out, 'wb').write(b'PGDMP fake')\n"
                          f"json.dump({{'argv': sys.argv, 'pw': os.environ.get('PGPASSWORD')}}, "
                          f"open({str(tmp_path / 'seen.json')!r}, 'w'))\n")
    monkeypatch.setattr(cli_backup, "PG_LIB", tmp_path / "none")
    monkeypatch.setenv("PATH", str(bindir))
    _use_database(monkeypatch, url.set(password=password).render_as_string(hide_password=False))
    res = runner.invoke(app, ["backup", str(tmp_path / "out.dump")])
    assert res.exit_code == 0, res.output
    import json

    seen = json.loads((tmp_path / "seen.json").read_text(encoding="utf-8"))
    assert seen["pw"] == password
    assert not any(password in a for a in seen["argv"])
    assert any(a.startswith("--snapshot=") for a in seen["argv"])


def test_backup_without_or_with_failing_pg_dump_says_so_and_writes_nothing(db_settings, tmp_path, monkeypatch):
    _use_database(monkeypatch, db_settings.sqlalchemy_url)
    monkeypatch.setattr(cli_backup, "PG_LIB", tmp_path / "none")
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    out = tmp_path / "out.dump"
    res = runner.invoke(app, ["backup", str(out)])
    assert res.exit_code == 2
    assert "未找到 pg_dump" in res.output and "pg_dump not found" in res.output and "postgresql-client-" in res.output

    _fake_pg_dump(empty, "out = [a.split('=', 1)[1] for a in sys.argv if a.startswith('--file=')][0]\n"
                         "open(out, 'wb').write(b'PGDMP half')\n"
                         "sys.stderr.write('pg_dump: error: query failed: disk full\\n'); sys.exit(1)\n")
    out.write_bytes(b"yesterday's good backup")
    res = runner.invoke(app, ["backup", str(out)])
    assert res.exit_code == 2
    assert "pg_dump 失败" in res.output and "pg_dump failed" in res.output and "disk full" in res.output
    assert out.read_bytes() == b"yesterday's good backup"  # the old file is not replaced by a broken one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "out.dump"]


def test_restore_refuses_a_file_that_is_not_a_dump(db_settings, tmp_path, monkeypatch):
    _use_database(monkeypatch, db_settings.sqlalchemy_url)
    bad = tmp_path / "notes.txt"
    bad.write_text("hello", encoding="utf-8")
    res = runner.invoke(app, ["restore", str(bad)])
    assert res.exit_code == 2 and "不是" in res.output and "is not a backup" in res.output
    res = runner.invoke(app, ["restore", str(tmp_path / "missing.dump")])
    assert res.exit_code == 2 and "cannot read" in res.output


# ------------------------------------------------------------------ the application's own database role

APP_GRANTS = """
GRANT CONNECT ON DATABASE "{db}" TO {role};
GRANT USAGE ON SCHEMA public TO {role};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role};
"""


@pytest.fixture()
def app_role(sample_settings, base_settings):
    """A login role with the privileges the service needs (no ownership, no TRUNCATE): settings using it."""
    role = f"landgis_app_test_{os.getpid()}"
    password = secrets.token_hex(12)
    owner = make_url(sample_settings.sqlalchemy_url)
    admin = owner.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {role}")
        try:
            conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        except psycopg.errors.InsufficientPrivilege:
            pytest.skip("the test server's user may not create roles (needs CREATEROLE)")
        for stmt in APP_GRANTS.format(db=owner.database, role=role).strip().splitlines():
            conn.execute(stmt)
    url = owner.set(username=role, password=password).render_as_string(hide_password=False)
    yield role, sample_settings.model_copy(update={"database_url": url})
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP OWNED BY {role}")
    _drop_role_everywhere(base_settings, role)


def _drop_role_everywhere(base_settings, role: str) -> None:
    """The role is cluster-wide; the sample database (which still holds its grants) is dropped by its fixture
    after this, so the role goes once its privileges there are revoked."""
    url = make_url(base_settings.url_for("postgres")).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {role}")


def test_application_role_cannot_change_the_audit_log(app_role):
    role, settings = app_role
    with api_client(settings) as client:  # the service itself runs on these grants
        client.headers.update(auth(make_token(settings, "officer", "应用角色")))
        split = client.post("/api/v1/operations/split", params=CRS, json=showcase_split_request(settings))
        assert split.status_code == 201, split.text
        assert client.get("/api/v1/parcels", params={"limit": 1}).status_code == 200
    engine = create_engine(settings.sqlalchemy_url)
    try:
        with engine.begin() as conn:
            assert conn.execute(text("SELECT current_user")).scalar() == role
            conn.execute(text("INSERT INTO audit_log (actor, action) VALUES ('app', 'test.insert')"))
            count = conn.execute(text("SELECT count(*) FROM audit_log")).scalar()
            assert conn.execute(text("SELECT count(*) FROM audit_log WHERE action = 'operation.split'")).scalar() == 1
        refused = {
            "UPDATE audit_log SET actor = 'x'": "append-only",
            "DELETE FROM audit_log": "append-only",
            "TRUNCATE audit_log": "permission denied",
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only": "must be owner",
            "ALTER TABLE audit_log DISABLE TRIGGER ALL": "must be owner",
            "DROP TRIGGER audit_log_append_only ON audit_log": "must be owner",
            "SET session_replication_role = replica": "permission denied",
        }
        for sql, reason in refused.items():
            with pytest.raises(DBAPIError, match=reason), engine.begin() as conn:
                conn.execute(text(sql))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar() == count
    finally:
        engine.dispose()
