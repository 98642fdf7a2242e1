"""REST API: bearer tokens with roles, recorded checks, never-reused parcel-code sequences.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE api_tokens (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name        text NOT NULL CONSTRAINT api_tokens_name_not_blank CHECK (btrim(name) <> ''),
  role        text NOT NULL CONSTRAINT api_tokens_role CHECK (role IN ('viewer', 'officer', 'admin')),
  key_prefix  varchar(12) NOT NULL,
  key_hash    char(64) NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);
COMMENT ON TABLE api_tokens IS 'API 令牌（仅存 SHA-256 摘要）/ API bearer tokens, stored as sha256 digests';

CREATE TABLE checks (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  actor        text NOT NULL,
  at           timestamptz NOT NULL DEFAULT clock_timestamp(),
  operation    text NOT NULL CONSTRAINT checks_operation CHECK (operation IN ('split', 'merge', 'edge-plots')),
  request      jsonb NOT NULL,
  report       jsonb NOT NULL,
  verdict      text,
  parcel_codes text[] NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE checks IS '审查记录（谁、何时、请求、结果）/ every check run, for audit';
CREATE INDEX checks_parcel_codes_gin ON checks USING gin (parcel_codes);
CREATE INDEX checks_at_idx ON checks (at);

CREATE TABLE parcel_code_seq (
  prefix   varchar(14) PRIMARY KEY,
  last_seq integer NOT NULL CONSTRAINT parcel_code_seq_range CHECK (last_seq BETWEEN 0 AND 99999)
);
COMMENT ON TABLE parcel_code_seq IS '各地籍子区已用的最大宗地顺序号（永不复用）/ highest sequence used per sub-district';

ALTER TABLE operations ADD COLUMN result jsonb;
"""

DOWNGRADE = """
ALTER TABLE operations DROP COLUMN IF EXISTS result;
DROP TABLE IF EXISTS parcel_code_seq, checks, api_tokens CASCADE;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
