"""OGC API layers: a register version for caching, and categories materialised for SQL-built features and tiles.

``register_state`` holds one row whose ``version`` every statement that changes the register bumps
(statement-level triggers), so that ETags, ``Last-Modified`` and the category cache key on it; the
trigger also NOTIFYs ``landgis_register`` so that servers can keep the version in memory.
``parcel_categories`` holds each current parcel's category on ``category_state.as_of`` with overrides
applied; :mod:`app.services.category_cache` refreshes it when the register version or the date moved.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TRACKED = ("parcels", "buildings", "support_land", "holders", "holder_years", "category_overrides", "disposals")

UPGRADE = """
CREATE TABLE register_state (
  id         boolean PRIMARY KEY DEFAULT true CONSTRAINT register_state_single CHECK (id),
  version    bigint NOT NULL DEFAULT 1,
  changed_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE register_state IS '登记簿版本号（任何变更加一），用于缓存校验 / register version, bumped by every change';
INSERT INTO register_state DEFAULT VALUES;

CREATE FUNCTION register_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE register_state SET version = version + 1, changed_at = clock_timestamp();
  PERFORM pg_notify('landgis_register', '');
  RETURN NULL;
END $$;

CREATE TABLE category_state (
  id               boolean PRIMARY KEY DEFAULT true CONSTRAINT category_state_single CHECK (id),
  as_of            date,
  register_version bigint,
  refreshed_at     timestamptz
);
INSERT INTO category_state DEFAULT VALUES;

CREATE TABLE parcel_categories (
  parcel_id            bigint PRIMARY KEY REFERENCES parcels (id),
  category             text NOT NULL,
  criterion            text,
  overridden           boolean NOT NULL,
  years_since_approval double precision,
  years_idle           double precision,
  idle_fee_due         boolean,
  recoverable          boolean,
  tax_per_mu_wan       double precision,
  holder_name          text,
  holder_credit_code   text
);
COMMENT ON TABLE parcel_categories IS '现状宗地的“三块地”类别（按 category_state.as_of 推导，已应用人工认定）/ derived categories';
COMMENT ON COLUMN parcel_categories.holder_name IS '权利人名称（冗余，省去要素查询的一次连接）/ holder name, copied so feature queries join once';
CREATE INDEX parcel_categories_category_idx ON parcel_categories (category);
"""

DOWNGRADE = """
DROP TABLE parcel_categories;
DROP TABLE category_state;
DROP TABLE register_state;
DROP FUNCTION register_touch();
"""


def upgrade() -> None:
    op.execute(UPGRADE)
    for table in TRACKED:
        op.execute(f"CREATE TRIGGER {table}_register_touch AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION register_touch()")


def downgrade() -> None:
    for table in TRACKED:
        op.execute(f"DROP TRIGGER {table}_register_touch ON {table}")
    op.execute(DOWNGRADE)
