"""The holder's rating of last year beside each parcel's category, for map filters and tiles.

``parcel_categories.rating`` is the 亩均效益 rating (A–D) of the parcel's holder for the year before
``category_state.as_of`` — the same rating ``GET /api/v1/parcels?rating=`` filters on. The cached
categories are marked stale so the next reader fills the column.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE parcel_categories ADD COLUMN rating text "
               "CONSTRAINT parcel_categories_rating CHECK (rating IN ('A', 'B', 'C', 'D'))")
    op.execute("COMMENT ON COLUMN parcel_categories.rating IS "
               "'权利人上年度亩均效益评价等级 / the holder''s rating of the year before as_of'")
    op.execute("UPDATE category_state SET as_of = NULL, register_version = NULL")


def downgrade() -> None:
    op.execute("ALTER TABLE parcel_categories DROP COLUMN rating")
