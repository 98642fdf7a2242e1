"""The domain core stays pure: nothing in gis/ imports the web framework, the ORM or app/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GIS = Path(__file__).resolve().parents[1] / "gis"
FORBIDDEN = ("fastapi", "starlette", "sqlalchemy", "geoalchemy2", "psycopg", "app")


@pytest.mark.parametrize("path", sorted(GIS.rglob("*.py")), ids=lambda p: str(p.relative_to(GIS)))
def test_gis_module_imports_nothing_of_the_web_or_database_layers(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert not imported & set(FORBIDDEN), f"{path.name} imports {sorted(imported & set(FORBIDDEN))}"
