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
        row = self.conn.execute(text(
            f"SELECT p.id, {_FACTS_SQL}, p.valid_to, ST_AsBinary(p.geom) AS wkb, h.name AS holder_name, "
            "h.credit_code AS holder_credit_code, hy.rating, hy.compliance_flags "
            "FROM parcels p LEFT JOIN holders h ON h.id = p.holder_id "
            "LEFT JOIN holder_years hy ON hy.holder_id = p.holder_id AND hy.year = :year "
            f"WHERE p.parcel_code = :code ORDER BY {_AT_FIRST if self.at else ''}"
            "p.valid_to IS NULL DESC, p.valid_to DESC LIMIT 1"),
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
        buildings = self.conn.execute(text(
            "SELECT number, floors, height_m, floor_area_m2, use, ST_AsBinary(geom) AS wkb FROM buildings "
            "WHERE parcel_id = :id ORDER BY length(number), number"), {"id": row["id"]}).mappings().all()
        support = self.conn.execute(text(
            "SELECT id, kind, floor_area_m2, ST_AsBinary(geom) AS wkb FROM support_land WHERE parcel_id = :id "
            "ORDER BY id"), {"id": row["id"]}).mappings().all()
        return StoredParcel(
            props, shapely.from_wkb(row["wkb"]),
            tuple(StoredFeature({k: _plain(v) for k, v in b.items() if k != "wkb" and v is not None},
                                shapely.from_wkb(b["wkb"])) for b in buildings),
            tuple(StoredFeature({"name": f"S{i + 1}", "kind": s["kind"], "floor_area_m2": _plain(s["floor_area_m2"])},
                                shapely.from_wkb(s["wkb"])) for i, s in enumerate(support)),
            current=row["valid_to"] is None,
        )

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
