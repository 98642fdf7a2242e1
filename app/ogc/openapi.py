"""The OpenAPI 3.0 document of ``/ogc`` (its ``service-desc``), as QGIS and GDAL read it.

FastAPI describes the routes; this adds what OGC clients look for: the server URL of the API root,
``limit`` as a shared ``components.parameters`` entry with ``default`` and ``maximum`` (QGIS and GDAL
take the page size from there), and one items path per collection with its property filters.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI

from app.ogc.collections import COLLECTIONS
from app.ogc.query import DEFAULT_LIMIT, MAX_LIMIT

__all__ = ["ogc_openapi"]

_SHARED = {
    "limit": {"name": "limit", "in": "query", "required": False, "style": "form", "explode": False,
              "description": f"每页要素数（默认 {DEFAULT_LIMIT}，最大 {MAX_LIMIT}，超出按最大值处理）/ page size "
                             f"(default {DEFAULT_LIMIT}; larger values are clamped to {MAX_LIMIT})",
              "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
    "offset": {"name": "offset", "in": "query", "required": False,
               "description": "跳过的要素数（建议使用 next 链接的游标分页）/ features to skip (prefer the next links)",
               "schema": {"type": "integer", "minimum": 0, "default": 0}},
    "bbox": {"name": "bbox", "in": "query", "required": False, "style": "form", "explode": False,
             "description": "minx,miny,maxx,maxy（bbox-crs 的轴序，默认 CRS84 经度/纬度）",
             "schema": {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}},
    "datetime": {"name": "datetime", "in": "query", "required": False,
                 "description": "RFC 3339 时刻或区间（a/b，.. 表示开放）/ instant or interval",
                 "schema": {"type": "string"}},
}

_NAMES = {"collection_id": "collectionId", "feature_id": "featureId"}


def _to_30(node: Any) -> Any:
    """FastAPI writes OpenAPI 3.1 (``anyOf`` with ``null``); 3.0 clients want ``nullable``."""
    if isinstance(node, list):
        return [_to_30(n) for n in node]
    if not isinstance(node, dict):
        return node
    any_of = node.get("anyOf")
    if isinstance(any_of, list) and {"type": "null"} in any_of:
        rest = [a for a in any_of if a != {"type": "null"}]
        node = {k: v for k, v in node.items() if k != "anyOf"}
        node.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
        node["nullable"] = True
    out = {k: _to_30(v) for k, v in node.items()}
    if out.get("in") == "path" and out.get("name") in _NAMES:
        out["name"] = _NAMES[out["name"]]
    return out


def _strip(doc: dict[str, Any]) -> dict[str, Any]:
    paths = {}
    for path, item in doc["paths"].items():
        if path.startswith("/ogc"):
            for old, new in _NAMES.items():
                path = path.replace("{" + old + "}", "{" + new + "}")
            paths[path[len("/ogc"):] or "/"] = _to_30(item)
    doc["paths"] = paths
    doc["components"] = _to_30(doc["components"])
    return doc


def ogc_openapi(app: FastAPI, base: str) -> dict[str, Any]:
    full = app.openapi()
    doc = {"openapi": "3.0.3",
           "info": {"title": "天台县工业用地 OGC API – Features / Tiantai industrial land", "version": app.version,
                    "description": "OGC API – Features Parts 1, 2, 3 and 5"},
           "paths": copy.deepcopy(full["paths"]),
           "components": {"schemas": copy.deepcopy(full.get("components", {}).get("schemas", {}))}}
    doc = _strip(doc)
    doc["servers"] = [{"url": f"{base}/ogc"}]
    doc.setdefault("components", {})["parameters"] = copy.deepcopy(_SHARED)
    generic = doc["paths"].pop("/collections/{collectionId}/items", None)
    if generic is None:
        return doc
    get = generic["get"]
    get["parameters"] = [{"$ref": f"#/components/parameters/{p['name']}"} if p.get("name") in _SHARED else p
                         for p in get.get("parameters", [])]
    # the generic form clients know, and one concrete path per collection with its property filters
    doc["paths"]["/collections/{collectionId}/items"] = generic
    for c in COLLECTIONS.values():
        item = copy.deepcopy(generic)
        op = item["get"]
        op["operationId"] = f"getItems_{c.id}"
        op["summary"] = f"{c.title} / {c.title_en}"
        op["parameters"] = [p for p in op["parameters"] if p.get("name") != "collectionId"] + [
            {"name": p.name, "in": "query", "required": False, "description": f"{p.title}（等于 / equals）",
             "schema": {k: v for k, v in p.json_schema().items() if k in ("type", "format", "items")}}
            for p in c.props]
        doc["paths"][f"/collections/{c.id}/items"] = item
    return doc
