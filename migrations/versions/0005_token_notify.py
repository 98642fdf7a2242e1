"""Token changes are announced on ``landgis_tokens`` so that workers may cache verified tokens.

Each worker keeps the tokens it has verified in memory while it listens (app/ogc/state.py); a
revocation — through the API, ``landgis token revoke`` or plain SQL — NOTIFYs the channel at commit
and every listening worker forgets its cache, so a revoked token is refused as soon as the
notification arrives (milliseconds), not after a time-to-live.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE FUNCTION landgis_tokens_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('landgis_tokens', '');
  RETURN NULL;
END $$;
CREATE TRIGGER api_tokens_notify AFTER UPDATE OR DELETE OR TRUNCATE ON api_tokens
  FOR EACH STATEMENT EXECUTE FUNCTION landgis_tokens_notify();
""")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS api_tokens_notify ON api_tokens; DROP FUNCTION IF EXISTS landgis_tokens_notify()")
