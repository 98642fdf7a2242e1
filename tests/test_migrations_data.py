"""Upgrading from an older schema keeps every row (issue 7).

One database with the sample, an executed split, an override, a disposal, a token and today's cached
categories is taken down to each older revision (newest first, so that the tables later revisions add
still hold rows when their turn comes), snapshotted there, and brought back to head: every row of every
table that exists at the older revision must still be there, unchanged in the columns it had then.
"""

from __future__ import annotations

from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from app.db import alembic_config, head_revision, migrate
from tests.test_backup import populate_register, public_tables, table_columns, table_rows

# 0004 marks the category cache stale on upgrade (its rows gain a column to be filled): these two columns
# may come back empty, never different.
CACHE_MARKERS = {"category_state": ("as_of", "register_version")}


def _older_revisions() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config("postgresql://"))
    head = head_revision()
    return [r.revision for r in script.walk_revisions() if r.revision != head]  # newest first


def _snapshot(engine) -> dict[str, tuple[list, list]]:
    with engine.connect() as conn:
        tables = [t for t in public_tables(conn) if t != "alembic_version"]
        return {t: (cols := table_columns(conn, t), table_rows(conn, t, cols)) for t in tables}


def test_upgrade_from_every_older_revision_keeps_every_row(sample_settings):
    populate_register(sample_settings)
    url = sample_settings.sqlalchemy_url
    engine = create_engine(url)
    revisions = _older_revisions()
    assert revisions[-1] == "0001" and len(revisions) >= 3
    try:
        with engine.connect() as conn:
            at_head = {t for t in public_tables(conn) if t != "spatial_ref_sys"}
        for rev in revisions:
            migrate(url, rev)
            engine.dispose()
            before = _snapshot(engine)
            empty = sorted(t for t, (_, rows) in before.items() if not rows)
            assert not empty, f"at {rev} these tables hold no rows, so nothing is proven for them: {empty}"
            assert set(before) < at_head | {"spatial_ref_sys"}
            migrate(url)
            engine.dispose()
            with engine.connect() as conn:
                for table, (cols, rows) in before.items():
                    assert set(cols) <= set(table_columns(conn, table)), f"{table}: columns of {rev} lost or retyped"
                    after = table_rows(conn, table, cols)
                    markers = [i for i, (name, _) in enumerate(cols) if name in CACHE_MARKERS.get(table, ())]
                    if markers:
                        assert len(after) == len(rows) == 1
                        assert all(after[0][i] in (rows[0][i], None) for i in markers), f"{table} changed from {rev}"
                        rows, after = ([tuple(v for i, v in enumerate(r) if i not in markers) for r in x]
                                       for x in (rows, after))
                    assert after == rows, f"{table}: rows of revision {rev} changed or lost on upgrade to head"
    finally:
        engine.dispose()
