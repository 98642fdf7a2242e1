"""API tokens: random keys shown once, stored as SHA-256 digests, with a role (viewer < officer < admin)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Engine, text

from app.services.common import audit

__all__ = ["ROLES", "Role", "Token", "create_token", "hash_key", "list_tokens", "revoke_token", "verify_key"]

Role = Literal["viewer", "officer", "admin"]
ROLES: dict[str, int] = {"viewer": 1, "officer": 2, "admin": 3}
KEY_PREFIX = "lgk_"


@dataclass(frozen=True)
class Token:
    id: str
    name: str
    role: Role
    key_prefix: str
    created_at: datetime
    revoked_at: datetime | None = None

    def allows(self, role: str) -> bool:
        return ROLES[self.role] >= ROLES[role]


def hash_key(key: str) -> str:
    """SHA-256 hex digest: enough for 256-bit random keys (no dictionary to attack)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_token(engine: Engine, *, role: str, name: str, actor: str = "cli") -> tuple[Token, str]:
    """Create a token; returns it and the key (the only time the key is available)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (viewer, officer, admin)")
    if not name.strip():
        raise ValueError("a token needs a name")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        row = conn.execute(text(
            "INSERT INTO api_tokens (name, role, key_prefix, key_hash) VALUES (:n, :r, :p, :h) "
            "RETURNING id, name, role, key_prefix, created_at, revoked_at"),
            {"n": name.strip(), "r": role, "p": key[:12], "h": hash_key(key)}).one()
        token = Token(str(row.id), row.name, row.role, row.key_prefix, row.created_at, row.revoked_at)
        audit(conn, actor, "token.create", token.id, {"name": token.name, "role": role})
    return token, key


def revoke_token(engine: Engine, token_id: str, *, actor: str = "cli") -> bool:
    """Revoke a token by id; False if there is no such active token."""
    with engine.begin() as conn:
        row = conn.execute(text(
            "UPDATE api_tokens SET revoked_at = now() WHERE id::text = :i AND revoked_at IS NULL RETURNING id"),
            {"i": token_id}).first()
        if row is None:
            return False
        audit(conn, actor, "token.revoke", token_id, {})
    return True


def list_tokens(engine: Engine) -> list[Token]:
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT id, name, role, key_prefix, created_at, revoked_at FROM api_tokens ORDER BY created_at")).all()
    return [Token(str(r.id), r.name, r.role, r.key_prefix, r.created_at, r.revoked_at) for r in rows]


def verify_key(engine: Engine, key: str) -> Token | None:
    """The active token for ``key``, or None. The digest is compared in constant time."""
    digest = hash_key(key)
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT id, name, role, key_prefix, created_at, revoked_at, key_hash FROM api_tokens "
            "WHERE key_hash = :h AND revoked_at IS NULL"), {"h": digest}).first()
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        return None
    return Token(str(row.id), row.name, row.role, row.key_prefix, row.created_at, row.revoked_at)
