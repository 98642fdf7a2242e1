"""The register over PostGIS, as the check engine sees it (:class:`gis.rules.StoredLookup`).

It works on the caller's connection, so an executed operation re-checks inside its own
transaction, against the rows it has locked.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.services.common import jsonable
from gis.rules import StoredFeature, StoredParcel

__all__ = ["FACT_COLUMNS", "PgLookup"]

# Parcel columns under their canonical names (gis.attributes), as the rules and categories read them.
FACT_COLUMNS = (
    "parcel_code", "name", "town", "land_use", "land_use_code", "ownership_nature", "right_type",
    "declared_area_m2", "approval_no", "approved_on", "supplied_on", "contract_no", "agreed_start_on",
    "agreed_completion_on", "construction_started_on", "completed_on", "production_started_on", "halted_since",
    "lease_end_on", "developed_area_m2", "far_planned", "far_actual", "floor_area_m2", "invested_wan",
    "planned_investment_wan", "standard_land", "standard_land_indicators", "industrial_real_estate",
    "in_development_zone", "produced_by", "parent_codes", "no_split", "remarks",
)
_FACTS_SQL = ", ".join(f"p.{c}" for c in FACT_COLUMNS)
_AT_FIRST = "(p.valid_from <= :at AND (p.valid_to IS NULL OR p.valid_to > :at)) DESC, "
# One round trip per stored parcel: its facts, holder figures, buildings and support land (as JSON props and
# WKB arrays in the same order; JSON numbers arrive as the floats the rules expect).
_BUILDINGS = "FROM buildings b WHERE b.parcel_id = p.id"
_B_ORDER = "ORDER BY length(b.number), b.number"
_SUPPORT = "FROM support_land s WHERE s.parcel_id = p.id"
_PARCEL_SQL = (
    f"SELECT p.id, {_FACTS_SQL}, p.valid_to, ST_AsBinary(p.geom) AS wkb, h.name AS holder_name, "
    "h.credit_code AS holder_credit_code, hy.rating, hy.compliance_flags, "
    "(SELECT json_agg(json_build_object('number', b.number, 'floors', b.floors, 'height_m', b.height_m, "
    f"'floor_area_m2', b.floor_area_m2, 'use', b.use) {_B_ORDER}) {_BUILDINGS}) AS b_props, "
    f"(SELECT array_agg(ST_AsBinary(b.geom) {_B_ORDER}) {_BUILDINGS}) AS b_wkb, "
    "(SELECT json_agg(json_build_object('kind', s.kind, 'floor_area_m2', s.floor_area_m2) ORDER BY s.id) "
    f"{_SUPPORT}) AS s_props, "
    f"(SELECT array_agg(ST_AsBinary(s.geom) ORDER BY s.id) {_SUPPORT}) AS s_wkb "
    "FROM parcels p LEFT JOIN holders h ON h.id = p.holder_id "
    "LEFT JOIN holder_years hy ON hy.holder_id = p.holder_id AND hy.year = :year "
    "WHERE p.parcel_code = :code ORDER BY {at}p.valid_to IS NULL DESC, p.valid_to DESC LIMIT 1")
_PARCEL = text(_PARCEL_SQL.format(at=""))
_PARCEL_AT = text(_PARCEL_SQL.format(at=_AT_FIRST))


def _plain(value: Any) -> Any:
    """Numbers as floats, dates kept as dates (the rules parse both)."""
    if isinstance(value, date):
        return value
    return jsonable(value)


class PgLookup:
    """:class:`~gis.rules.StoredLookup` on one connection (inside the caller's transaction)."""

    def __init__(self, conn: Connection, *, lock: bool = False, at: datetime | None = None) -> None:
        self.conn = conn
        self.lock = lock
        self.at = at  # prefer the version current at this moment (a recorded check's time), not now
        self.seen: dict[str, int] = {}  # code → parcel id of the version the check used

    def parcel(self, parcel_code: str, *, as_of: date) -> StoredParcel | None:
        row = self.conn.execute(_PARCEL_AT if self.at else _PARCEL,
                                {"code": parcel_code, "year": as_of.year - 1, "at": self.at}).mappings().first()
        if row is None:
            return None
        props = {c: _plain(row[c]) for c in FACT_COLUMNS if row[c] is not None}
        if row["holder_name"] or row["holder_credit_code"]:
            holder: dict[str, Any] = {"name": row["holder_name"], "credit_code": row["holder_credit_code"]}
            if row["rating"]:
                holder["rating"] = row["rating"].strip()
            if row["compliance_flags"] is not None and row["rating"] is not None:
                holder["compliance_flags"] = list(row["compliance_flags"])
            props["holder"] = holder
        self.seen[parcel_code] = row["id"]
        buildings = tuple(StoredFeature({k: v for k, v in b.items() if v is not None}, geom) for b, geom in
                          zip(row["b_props"] or (), shapely.from_wkb(row["b_wkb"] or []), strict=True))
        support = tuple(StoredFeature({"name": f"S{i + 1}", **s}, geom) for i, (s, geom) in
                        enumerate(zip(row["s_props"] or (), shapely.from_wkb(row["s_wkb"] or []), strict=True)))
        return StoredParcel(props, shapely.from_wkb(row["wkb"]), buildings, support, current=row["valid_to"] is None)

    def parcels_intersecting(self, geometry: BaseGeometry, *, exclude: Collection[str],
                             as_of: date) -> Sequence[StoredFeature]:
        rows = self.conn.execute(text(
            "SELECT parcel_code, ST_AsBinary(geom) AS wkb FROM parcels WHERE valid_to IS NULL "
            "AND ST_Intersects(geom, ST_GeomFromWKB(:wkb, 4549)) AND NOT (parcel_code = ANY(:exclude))"),
            {"wkb": shapely.to_wkb(geometry), "exclude": list(exclude)}).all()
        return [StoredFeature({"parcel_code": r.parcel_code}, shapely.from_wkb(r.wkb)) for r in rows]

    def holder(self, credit_code: str, *, year: int) -> Mapping[str, Any] | None:
        row = self.conn.execute(text(
            "SELECT h.name, hy.rating, hy.compliance_flags FROM holders h JOIN holder_years hy "
            "ON hy.holder_id = h.id AND hy.year = :y WHERE h.credit_code = :c"), {"c": credit_code, "y": year}).first()
        if row is None:
            return None
        return {"name": row.name, "rating": row.rating.strip() if row.rating else None,
                "compliance_flags": list(row.compliance_flags or [])}
