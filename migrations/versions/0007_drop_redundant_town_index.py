"""Drop ``parcels_town_idx``: ``parcels_current_town_code_idx`` (0006) answers everything it did.

Both are partial on current parcels and lead with ``town``, so any query the single-column index
served is served by the composite one; keeping both costs every parcel write an extra index entry
and a large first import ~0.2 s of index build.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS parcels_town_idx")


def downgrade() -> None:
    op.execute("CREATE INDEX IF NOT EXISTS parcels_town_idx ON parcels (town) WHERE valid_to IS NULL")
