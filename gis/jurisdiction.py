"""Jurisdiction profiles (county code, CRS, towns, outline, tolerances, targets) loaded from data.

A profile is a TOML file in ``gis/data/jurisdictions``; :func:`load_jurisdiction` validates it into
a frozen :class:`Jurisdiction`. Tiantai is the default.
"""

from __future__ import annotations

import tomllib
from functools import cache, cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from shapely import Polygon, prepare

__all__ = ["Jurisdiction", "Targets", "Town", "available_jurisdictions", "load_jurisdiction"]

DATA_DIR = Path(__file__).parent / "data" / "jurisdictions"
DEFAULT_JURISDICTION = "tiantai"


class Town(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    district: str = Field(pattern=r"^\d{3}$", description="地籍区 code")
    center: tuple[float, float]


class Targets(BaseModel):
    model_config = ConfigDict(frozen=True)

    year: int
    disposal_low_efficiency_mu: float = Field(ge=0)
    tax_per_mu_wan: float = Field(ge=0)
    value_added_per_mu_wan: float = Field(ge=0)
    source: str


class Jurisdiction(BaseModel):
    model_config = ConfigDict(frozen=True, ignored_types=(cached_property,))

    id: str
    name_zh: str
    name_en: str
    county_code: str = Field(pattern=r"^\d{6}$")
    storage_epsg: int
    zone_prefixed_epsg: int | None = None
    default_rule_set: str
    tolerance_m: float = Field(gt=0, le=1)
    sliver_area_m2: float = Field(gt=0)
    far_outside_m: float = Field(gt=0)
    outline: list[tuple[float, float]] = Field(min_length=4)
    targets: Targets
    towns: list[Town] = Field(min_length=1)

    @cached_property
    def outline_lonlat(self) -> Polygon:
        """The county outline in CRS84, prepared for repeated point-in-polygon tests."""
        poly = Polygon(self.outline)
        prepare(poly)
        return poly

    @cached_property
    def outline_storage(self) -> Polygon:
        """The county outline in the storage CRS (metres), prepared.

        On a CGCS2000 grid the outline's lon/lat are read as CGCS2000's (EPSG:4490). PROJ has no
        datum shift from WGS 84 to CGCS2000 (they agree within decimetres), so its CRS84 operation is
        the same pipeline and gives the same metres, but finding it costs ~0.25 s of CPU in every
        ``landgis import`` against ~1 ms.
        """
        from pyproj import CRS

        from gis.crs import CRS84, transform_geom

        geodetic = CRS.from_epsg(self.storage_epsg).geodetic_crs
        lonlat = "EPSG:4490" if geodetic is not None and geodetic.to_epsg() == 4490 else CRS84
        poly = transform_geom(Polygon(self.outline), lonlat, self.storage_epsg)
        prepare(poly)
        return poly

    @cached_property
    def town_names(self) -> frozenset[str]:
        return frozenset(t.name for t in self.towns)

    def town(self, name: str) -> Town | None:
        return next((t for t in self.towns if t.name == name), None)

    def district_of(self, town: str) -> str | None:
        t = self.town(town)
        return t.district if t else None


def available_jurisdictions() -> list[str]:
    return sorted(p.stem for p in DATA_DIR.glob("*.toml"))


@cache
def load_jurisdiction(jurisdiction_id: str = DEFAULT_JURISDICTION) -> Jurisdiction:
    """Load and validate a jurisdiction profile by id (the TOML file's stem)."""
    path = DATA_DIR / f"{jurisdiction_id}.toml"
    if not path.is_file():
        raise KeyError(f"unknown jurisdiction {jurisdiction_id!r}; known: {available_jurisdictions()}")
    with path.open("rb") as fh:
        return Jurisdiction.model_validate(tomllib.load(fh))
