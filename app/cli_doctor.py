"""``landgis doctor``: report misconfiguration (issue 7). Owned by the security work."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Placeholder: adds the ``doctor`` command to ``app``."""
