"""What the engine needs from the parcel register, as a Protocol the web layer implements.

The engine is pure: it never opens a database. A check that names a stored parcel (a string
``parcel_code``) or must look at other parcels (EDGE-04) is given a :class:`StoredLookup`:

``parcel(code, as_of=…)``
    The parcel version current on ``as_of`` (or the latest version, with ``current=False``, if the
    code exists but was retired), as a :class:`StoredParcel`: its properties under the canonical
    names of :mod:`gis.attributes` (``completed_on``, ``produced_by``, ``standard_land`` …, dates as
    ``date`` or ISO strings), a ``holder`` member ``{"name", "credit_code", "rating",
    "compliance_flags"}`` with the previous year's figures (as_of.year − 1; ``rating_year`` if it
    is another year), its geometry and its buildings / support land, all shapely in the storage
    CRS (x/y). ``None`` when no parcel ever had that code (→ 404).

``parcels_intersecting(geometry, exclude=…, as_of=…)``
    Every current parcel whose geometry intersects ``geometry`` (a shapely geometry in the storage
    CRS; a GiST ``ST_Intersects`` query), except the codes in ``exclude``. The engine measures the
    overlap areas itself, so the same tolerance applies offline and online.

``holder(credit_code, year=…)``
    ``{"name", "rating", "compliance_flags"}`` of a company for a year (``holder_years``), or
    ``None``. Used when a transferee or receiving holder is given by credit code without a rating.

Offline (the CLI), no lookup is passed: inline parcels only; EDGE-04 then uses the request's optional
``other_parcels`` FeatureCollection, or says ``needs_review``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol, runtime_checkable

from shapely.geometry.base import BaseGeometry

__all__ = ["StoredFeature", "StoredLookup", "StoredParcel"]


@dataclass(frozen=True)
class StoredFeature:
    """A stored feature: properties and a shapely geometry in the storage CRS."""

    properties: Mapping[str, Any]
    geometry: BaseGeometry


@dataclass(frozen=True)
class StoredParcel:
    """A stored parcel version with what the rules need: facts, geometry, buildings, support land."""

    properties: Mapping[str, Any]
    geometry: BaseGeometry
    buildings: Sequence[StoredFeature] = field(default_factory=tuple)
    support_land: Sequence[StoredFeature] = field(default_factory=tuple)
    current: bool = True


@runtime_checkable
class StoredLookup(Protocol):
    """The register, as the engine sees it (implemented by the web layer over PostGIS)."""

    def parcel(self, parcel_code: str, *, as_of: date) -> StoredParcel | None:
        """The parcel with this code on ``as_of`` (``current=False`` if retired), or None if unknown."""
        ...

    def parcels_intersecting(self, geometry: BaseGeometry, *, exclude: Collection[str],
                             as_of: date) -> Sequence[StoredFeature]:
        """Current parcels (other than ``exclude``) intersecting ``geometry`` (storage CRS)."""
        ...

    def holder(self, credit_code: str, *, year: int) -> Mapping[str, Any] | None:
        """A company's rating and compliance flags for ``year``, or None if not on record."""
        ...
