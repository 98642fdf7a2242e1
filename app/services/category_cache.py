"""The categories of all current parcels, materialised in ``parcel_categories`` for SQL readers.

OGC collections per category and vector tiles are built by PostGIS, so the category (derived in Python
by :func:`gis.categories.derive_categories_frame`, overrides applied) must be a column PostGIS can join.
The table is valid for one ``(as_of, register version)``; :func:`ensure_fresh` recomputes it when today's
date or the register moved, under an advisory lock so that concurrent readers refresh it once. Readers
that arrive during a refresh see the previous rows (DELETE + COPY in one transaction, no TRUNCATE).
"""

from __future__ import annotations

import math
from datetime import date

from sqlalchemy import Engine, text

from app.services.parcels import category_frame
from gis.rules import today

__all__ = ["ensure_fresh", "is_fresh", "refresh"]

_LOCK = 0x1A2D_CA7E  # pg_advisory_xact_lock key of the refresh
_COLUMNS = ("parcel_id", "category", "criterion", "overridden", "years_since_approval", "years_idle",
            "idle_fee_due", "recoverable", "tax_per_mu_wan", "holder_name", "holder_credit_code", "rating")
_STATE = ("SELECT c.as_of = :day AND c.register_version = r.version FROM category_state c, register_state r")


def is_fresh(conn, day: date) -> bool:
    return bool(conn.execute(text(_STATE), {"day": day}).scalar())


def _num(v) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _flag(v) -> bool | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    try:
        return bool(v)
    except TypeError:  # pandas.NA of a nullable boolean column
        return None


def refresh(conn, day: date) -> int:
    """Recompute every current parcel's category on ``day`` inside ``conn``'s transaction; returns the count."""
    version = conn.execute(text("SELECT version FROM register_state")).scalar_one()
    frame = category_frame(conn, "p.valid_to IS NULL", {}, day, columns=("holder_name", "holder_credit_code"))
    conn.execute(text("DELETE FROM parcel_categories"))
    raw = conn.connection.driver_connection
    rows = zip(frame["id"].tolist(), frame["category_final"].tolist(), frame["criterion_final"].tolist(),
               frame["overridden"].tolist(), frame["years_since_approval"].tolist(), frame["years_idle"].tolist(),
               frame["idle_fee_due"].tolist(), frame["recoverable_without_compensation"].tolist(),
               frame["tax_per_mu_1"].tolist(), frame["holder_name"].tolist(), frame["holder_credit_code"].tolist(),
               frame["rating"].tolist(), strict=True)
    with raw.cursor() as cur, cur.copy(f"COPY parcel_categories ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
        copy.set_types(["int8", "text", "text", "bool", "float8", "float8", "bool", "bool", "float8",
                        "text", "text", "text"])
        for pid, cat, crit, over, ysa, yi, fee, rec, tax, holder, credit, rating in rows:
            copy.write_row((pid, cat, crit if isinstance(crit, str) else None, bool(over), _num(ysa), _num(yi),
                            _flag(fee), _flag(rec), _num(tax), holder, credit,
                            rating if isinstance(rating, str) and rating else None))
    conn.execute(text("UPDATE category_state SET as_of = :day, register_version = :v, refreshed_at = now()"),
                 {"day": day, "v": version})
    return len(frame)


def ensure_fresh(engine: Engine, day: date | None = None) -> bool:
    """Refresh ``parcel_categories`` unless it already holds ``day`` (today in China) for the current register.

    Returns whether a refresh ran. Safe to call from many requests at once: one refreshes, the others
    wait for the lock and then find the table fresh.
    """
    day = day or today()
    with engine.connect() as conn:
        if is_fresh(conn, day):
            return False
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
        if is_fresh(conn, day):
            return False
        refresh(conn, day)
        return True
