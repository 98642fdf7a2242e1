"""``/api/v1/jurisdiction``: the county itself — outline, towns, default rule set, targets — for maps and forms."""

from __future__ import annotations

from fastapi import APIRouter
from shapely import Polygon

from app.deps import SettingsDep, Viewer
from gis.jurisdiction import load_jurisdiction

router = APIRouter(prefix="/api/v1", tags=["stats"])


@router.get("/jurisdiction", summary="辖区（县界、乡镇、默认规则集、目标）/ the jurisdiction: outline, towns, targets")
def jurisdiction(settings: SettingsDep, _: Viewer):
    """The outline is the simplified county polygon used for data sanity checks, not a legal boundary."""
    j = load_jurisdiction(settings.jurisdiction)
    west, south, east, north = Polygon(j.outline).bounds
    return {
        "id": j.id, "name_zh": j.name_zh, "name_en": j.name_en, "county_code": j.county_code,
        "storage_crs": f"http://www.opengis.net/def/crs/EPSG/0/{j.storage_epsg}",
        "default_rule_set": j.default_rule_set,
        "bbox": [west, south, east, north],
        "outline": {"type": "Feature", "properties": {"name": j.name_zh},
                    "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in j.outline]]}},
        "towns": [{"name": t.name, "district": t.district, "center": list(t.center)} for t in j.towns],
        "targets": j.targets.model_dump(),
        "basemap": {"tiles": settings.basemap_url, "attribution": settings.basemap_attribution}
        if settings.basemap_url else None,
    }
