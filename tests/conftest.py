"""Test fixtures on a real PostGIS: the project-local cluster (or ``DATABASE_URL``'s server).

A template database is migrated once per session; each test that needs a database gets a fresh
copy (``CREATE DATABASE … TEMPLATE``), so tests never see each other's rows.
"""

from __future__ import annotations

import itertools
import os

import pytest
from sqlalchemy import create_engine

from app.db import migrate
from app.localdb import LocalCluster, drop_database, ensure_database
from app.settings import Settings

TEMPLATE = f"landgis_test_tpl_{os.getpid()}"
_counter = itertools.count()


def _admin_exec(settings: Settings, sql: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(settings.url_for("postgres")).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    settings = Settings(env="test", write_rate_per_minute=0)  # the suite writes fast with one token
    if settings.uses_local_cluster:
        LocalCluster(settings).up(log=lambda *_: None)
    ensure_database(settings, TEMPLATE)
    migrate(settings.url_for(TEMPLATE))
    yield settings
    drop_database(settings, TEMPLATE)


def _fresh_database(base_settings: Settings):
    """Settings pointing at a fresh, migrated database of its own (dropped afterwards)."""
    name = f"landgis_test_{os.getpid()}_{next(_counter)}"
    _admin_exec(base_settings, f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    yield base_settings.model_copy(update={"database_url": base_settings.url_for(name)})
    drop_database(base_settings, name)


@pytest.fixture()
def db_settings(base_settings: Settings):
    """Settings pointing at a fresh, migrated database of its own."""
    yield from _fresh_database(base_settings)


@pytest.fixture()
def second_db_settings(base_settings: Settings):
    """Another fresh database, for tests that compare two registers."""
    yield from _fresh_database(base_settings)


@pytest.fixture()
def engine(db_settings: Settings):
    eng = create_engine(db_settings.sqlalchemy_url)
    yield eng
    eng.dispose()


@pytest.fixture()
def empty_db_url(base_settings: Settings):
    """A database with PostGIS but no migrations applied (for migration tests)."""
    name = f"landgis_test_{os.getpid()}_{next(_counter)}_empty"
    ensure_database(base_settings, name)
    yield base_settings.url_for(name)
    drop_database(base_settings, name)


SAMPLE_TEMPLATE = f"landgis_test_sample_{os.getpid()}"


@pytest.fixture(scope="session")
def sample_template(base_settings: Settings):
    """A migrated database with sample_parcels/tiantai.gpkg imported, used as a template (once per session)."""
    from pathlib import Path

    from app.importer import ImportOptions, import_path

    ensure_database(base_settings, SAMPLE_TEMPLATE)
    url = base_settings.url_for(SAMPLE_TEMPLATE)
    migrate(url)
    settings = base_settings.model_copy(update={"database_url": url})
    import_path(settings, Path(__file__).resolve().parents[1] / "sample_parcels" / "tiantai.gpkg",
                ImportOptions(actor="test"))
    yield SAMPLE_TEMPLATE
    drop_database(base_settings, SAMPLE_TEMPLATE)


def _clone(base_settings: Settings, template: str) -> tuple[str, Settings]:
    name = f"landgis_test_{os.getpid()}_{next(_counter)}_s"
    _admin_exec(base_settings, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name, base_settings.model_copy(update={"database_url": base_settings.url_for(name)})


@pytest.fixture(scope="module")
def sample_settings_module(base_settings: Settings, sample_template: str):
    """A database with the sample loaded, shared by one module's read-only tests."""
    name, settings = _clone(base_settings, sample_template)
    yield settings
    drop_database(base_settings, name)


@pytest.fixture()
def sample_settings(base_settings: Settings, sample_template: str):
    """A database with the sample loaded, of this test's own (for tests that change data)."""
    name, settings = _clone(base_settings, sample_template)
    yield settings
    drop_database(base_settings, name)


@pytest.fixture(scope="module")
def open_settings(sample_settings_module: Settings) -> Settings:
    """The module's sample database with anonymous reads on (the OGC tests read without tokens)."""
    return sample_settings_module.model_copy(update={"anonymous_read": True})


@pytest.fixture(scope="module")
def open_db(open_settings: Settings):
    """An engine on :func:`open_settings`' database, for the tests' own SQL."""
    eng = create_engine(open_settings.sqlalchemy_url)
    yield eng
    eng.dispose()
