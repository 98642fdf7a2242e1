"""Logs, request ids and Prometheus metrics (issue 7). Owned by the observability work."""

from __future__ import annotations

from fastapi import FastAPI

from app.settings import Settings

__all__ = ["install_observability"]


def install_observability(app: FastAPI, settings: Settings) -> None:
    """Placeholder: structured JSON logs with request id and /metrics are added here."""
