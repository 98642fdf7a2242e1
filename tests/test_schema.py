"""Migrations up and down, and the constraints that keep the register honest."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.db import migrate

TABLES = {
    "holders",
    "holder_years",
    "parcels",
    "buildings",
    "support_land",
    "disposals",
    "operations",
    "operation_parcels",
    "category_overrides",
    "audit_log",
    "api_tokens",
    "checks",
    "parcel_code_seq",
    "register_state",
    "category_state",
    "parcel_categories",
}
SQUARE = "ST_GeomFromText('MULTIPOLYGON(((603000 3225000,603100 3225000,603100 3225100,603000 3225100,603000 3225000)))', 4549)"


def _tables(url: str) -> set[str]:
    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            return set(
                conn.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'spatial_ref_sys'"
                    )
                ).scalars()
            )
    finally:
        eng.dispose()


def test_migrations_up_down_up(empty_db_url):
    migrate(empty_db_url)
    assert TABLES | {"alembic_version"} == _tables(empty_db_url)
    migrate(empty_db_url, "base")
    assert _tables(empty_db_url) <= {"alembic_version"}
    migrate(empty_db_url)
    assert _tables(empty_db_url) >= TABLES


def _insert_parcel(conn, code="331023003001GB00001", geom=SQUARE, valid_to="NULL"):
    return conn.execute(
        text(f"INSERT INTO parcels (parcel_code, geom, valid_to) VALUES (:c, {geom}, {valid_to}) RETURNING id"),
        {"c": code},
    ).scalar()


def test_area_is_computed_from_geometry(engine):
    with engine.begin() as conn:
        pid = _insert_parcel(conn)
        area_m2, area_mu = conn.execute(text("SELECT area_m2, area_mu FROM parcels WHERE id = :i"), {"i": pid}).one()
    assert area_m2 == pytest.approx(10_000.0)
    assert area_mu == pytest.approx(15.0)


@pytest.mark.parametrize(
    ("geom", "constraint"),
    [
        (
            "ST_GeomFromText('MULTIPOLYGON(((603000 3225000,603100 3225100,603100 3225000,603000 3225060,603000 3225000)))', 4549)",
            ("parcels_geom_valid",),
        ),
        ("ST_GeomFromText('MULTIPOLYGON(((0 0,1 0,1 1,0 1,0 0)))', 4326)", ("SRID",)),
        (
            "ST_GeomFromText('MULTIPOLYGON(((603000 3225000,603100 3225000,603050 3225000,603000 3225000)))', 4549)",
            ("parcels_geom_valid", "parcels_area_positive"),
        ),
    ],
    ids=["bow-tie", "wrong-srid", "degenerate"],
)
def test_bad_geometry_is_refused(engine, geom, constraint):
    with pytest.raises(DBAPIError) as exc, engine.begin() as conn:
        _insert_parcel(conn, geom=geom)
    assert any(name in str(exc.value) for name in constraint)


def test_one_current_version_per_code_and_history_allowed(engine):
    with engine.begin() as conn:
        _insert_parcel(conn, valid_to="now()")
        _insert_parcel(conn)
    with pytest.raises(IntegrityError, match="parcels_current_code_uq"), engine.begin() as conn:
        _insert_parcel(conn)


def test_parcels_are_never_deleted_and_retired_versions_are_frozen(engine):
    with engine.begin() as conn:
        old = _insert_parcel(conn, valid_to="now()")
        cur = _insert_parcel(conn)
    with pytest.raises(DBAPIError, match="never deleted"), engine.begin() as conn:
        conn.execute(text("DELETE FROM parcels WHERE id = :i"), {"i": cur})
    with pytest.raises(DBAPIError, match="retired"), engine.begin() as conn:
        conn.execute(text("UPDATE parcels SET name = 'x' WHERE id = :i"), {"i": old})
    with engine.begin() as conn:
        conn.execute(text("UPDATE parcels SET name = '当前版本可改' WHERE id = :i"), {"i": cur})


def test_audit_log_is_append_only(engine):
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO audit_log (actor, action) VALUES ('tester', 'test')"))
    for sql in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar() == 1


@pytest.mark.parametrize(
    ("sql", "constraint"),
    [
        ("INSERT INTO holders (name, credit_code) VALUES ('x', 'not-a-code')", "holders_credit_code_format"),
        ("INSERT INTO holders (name) VALUES ('  ')", "holders_name_not_blank"),
        (
            "INSERT INTO disposals (method, area_m2, disposed_on) VALUES ('收回', 0, '2023-01-01')",
            "disposals_area_positive",
        ),
        ("INSERT INTO disposals (method, area_m2, disposed_on) VALUES ('随便', 10, '2023-01-01')", "disposals_method"),
        (
            "INSERT INTO category_overrides (parcel_code, category, reason, actor) VALUES ('x', 'low_efficiency', '', 'a')",
            "category_overrides_reason",
        ),
        (
            "INSERT INTO parcels (parcel_code, geom, produced_by) VALUES ('331023003001GB00009', "
            + SQUARE
            + ", 'magic')",
            "parcels_produced_by",
        ),
        (
            "INSERT INTO parcels (parcel_code, geom, ownership_nature) VALUES ('331023003001GB00009', "
            + SQUARE
            + ", '私有')",
            "parcels_ownership",
        ),
        (
            "INSERT INTO parcels (parcel_code, geom, valid_from, valid_to) VALUES ('331023003001GB00009', "
            + SQUARE
            + ", now(), now() - interval '1 day')",
            "parcels_validity_window",
        ),
    ],
)
def test_check_constraints(engine, sql, constraint):
    with pytest.raises(IntegrityError, match=constraint), engine.begin() as conn:
        conn.execute(text(sql))


def test_rating_and_flags_constrained(engine):
    with engine.begin() as conn:
        hid = conn.execute(text("INSERT INTO holders (name) VALUES ('某公司') RETURNING id")).scalar()
    with pytest.raises(IntegrityError, match="holder_years_rating"), engine.begin() as conn:
        conn.execute(text("INSERT INTO holder_years (holder_id, year, rating) VALUES (:h, 2023, 'E')"), {"h": hid})
    with pytest.raises(IntegrityError, match="holder_years_flags"), engine.begin() as conn:
        conn.execute(
            text("INSERT INTO holder_years (holder_id, year, compliance_flags) VALUES (:h, 2023, '{noise}')"),
            {"h": hid},
        )


def test_every_register_change_bumps_the_version_and_notifies(engine):
    """ETags, the OGC category cache and the servers' in-memory version all key on register_state."""
    import psycopg

    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute("LISTEN landgis_register")
        with engine.connect() as conn:
            before = conn.execute(text("SELECT version FROM register_state")).scalar_one()
        with engine.begin() as conn:
            _insert_parcel(conn)
        with engine.begin() as conn:
            conn.execute(text("UPDATE parcels SET remarks = 'x'"))
        with engine.connect() as conn:
            after = conn.execute(text("SELECT version FROM register_state")).scalar_one()
        assert after == before + 2
        assert len(list(listener.notifies(timeout=1, stop_after=2))) == 2
