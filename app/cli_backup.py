"""``landgis backup`` / ``landgis restore`` (issue 7). Owned by the backup work."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Placeholder: adds the ``backup`` and ``restore`` commands to ``app``."""
