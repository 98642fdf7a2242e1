"""CORS, security headers and the write rate limit (issue 7). Owned by the security work."""

from __future__ import annotations

from fastapi import FastAPI

from app.settings import Settings

__all__ = ["install_security"]


def install_security(app: FastAPI, settings: Settings) -> None:
    """Placeholder: CORS (off by default), security headers on HTML and the write rate limit go here."""
