"""``/api/v1/parcels``: the register, filtered and paged, in JSON / GeoJSON / CSV / XLSX; one parcel in full."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from app.deps import EngineDep, ReadEngineDep, Viewer
from app.errors import ProblemError
from app.services import parcels as svc
from app.services.category_cache import ensure_fresh
from gis.rules import today

router = APIRouter(prefix="/api/v1", tags=["parcels"])
_EXT = {"json": "json", "geojson": "geojson", "csv": "csv", "xlsx": "xlsx"}


def _bbox(value: str | None) -> list[float] | None:
    if value is None:
        return None
    try:
        return [float(v) for v in value.split(",")]
    except ValueError:
        raise ProblemError(400, "invalid-parameter", "bbox 应为逗号分隔的数值", "bbox must be comma-separated numbers",
                           pointer="/query/bbox") from None


@router.get("/parcels", summary="宗地列表（筛选、分页、导出）/ parcels: filter, page, export")
def list_parcels(
    request: Request, engine: EngineDep, reader: ReadEngineDep, _: Viewer,
    as_of: date | None = None,
    category: str | None = None, criterion: str | None = None, town: str | None = None,
    holder: Annotated[str | None, Query(description="holder name (substring) or credit code")] = None,
    rating: str | None = None,
    min_mu: Annotated[float | None, Query(ge=0)] = None, max_mu: Annotated[float | None, Query(ge=0)] = None,
    land_use: str | None = None,
    produced_by: Literal["original", "split", "merge", "edge_plot"] | None = None,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy in bbox-crs axis order")] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs")] = None,
    crs: Annotated[str | None, Query(description="output CRS of f=geojson (default CRS84)")] = None,
    q: Annotated[str | None, Query(description="free text on code and name")] = None,
    sort: str = "parcel_code",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    after: Annotated[str | None, Query(max_length=64, description=(
        "keyset paging with sort=parcel_code or -parcel_code: the parcels after this code (the `next` link "
        "uses it; a deep page then costs what the first does)"))] = None,
    f: Literal["json", "geojson", "csv", "xlsx"] = "json",
):
    filters = svc.Filters(as_of=as_of or today(), category=category, criterion=criterion, town=town, holder=holder,
                          rating=rating, min_mu=min_mu, max_mu=max_mu, land_use=land_use, produced_by=produced_by,
                          bbox=_bbox(bbox), bbox_crs=bbox_crs, q=q, sort=sort, limit=limit, offset=offset,
                          after=after)
    if as_of is None:
        ensure_fresh(engine, filters.as_of)  # today's categories are materialised; a page then reads them
    with reader.connect() as conn:
        items, more, ids, geoms = svc.list_parcels(conn, filters, geometry=f == "geojson", crs=crs)
    links = [{"rel": "self", "href": str(request.url)}]
    if more:
        nxt = (request.url.remove_query_params("offset").include_query_params(after=items[-1]["parcel_code"])
               if filters.keyset else request.url.include_query_params(offset=offset + limit))
        links.append({"rel": "next", "href": str(nxt)})
    body, media = svc.render(items, f, geoms=geoms, ids=ids, links=links)
    headers = {"Link": f'<{links[-1]["href"]}>; rel="next"'} if more else {}
    if f in ("csv", "xlsx"):
        headers["Content-Disposition"] = f'attachment; filename="parcels.{_EXT[f]}"'
    return Response(body, media_type=media, headers=headers)


@router.get("/parcels/{code}", summary="宗地详情、谱系与审查记录 / one parcel: facts, lineage, history, checks")
def parcel(code: str, reader: ReadEngineDep, _: Viewer, as_of: date | None = None):
    with reader.connect() as conn:
        return svc.parcel_detail(conn, code, as_of or today())
