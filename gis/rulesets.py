"""Rule sets as data: versioned parameter files with an effective window, and a frozen registry.

A rule set (``gis/data/rule_sets/<id>.toml``) carries its id, title, source document, effective
window and every threshold the rules and the category derivation use. It is validated into a
frozen :class:`RuleSet` (bounded fields), so changing a threshold never touches code.
:func:`default_registry` loads every file once; :meth:`RuleSetRegistry.register` returns a new
registry (titiler-style), and :meth:`RuleSetRegistry.default_for` picks a jurisdiction's default
(``Jurisdiction.default_rule_set``).

Example
-------
>>> rs = get_rule_set("tiantai-2022")
>>> rs.split.min_lot_mu, rs.in_force_on(date(2024, 1, 1))
(10.0, False)
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from datetime import date
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from gis.errors import GisInputError

__all__ = [
    "OPERATIONS",
    "RULE_IDS",
    "CategoryParams",
    "EdgeParams",
    "FarParams",
    "GeometryParams",
    "MergeParams",
    "RatingParams",
    "RuleSet",
    "RuleSetRegistry",
    "RuleTitle",
    "SplitParams",
    "SupportParams",
    "default_registry",
    "get_rule_set",
    "load_rule_set",
]

DATA_DIR = Path(__file__).parent / "data" / "rule_sets"

# The rules of each operation, in ID order (plain string order: the IDs are zero-padded). Which
# report-level checks join which operation is explained in gis/rules/__init__.py.
OPERATIONS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "split": tuple(sorted([*(f"SPLIT-{i:02d}" for i in range(1, 12)), "RATING-01", "SUPPORT-01"])),
    "merge": tuple(sorted([*(f"MERGE-{i:02d}" for i in range(1, 8)), "RATING-01", "SUPPORT-01"])),
    "edge-plots": tuple(sorted([*(f"EDGE-{i:02d}" for i in range(1, 7)), "FAR-01", "SUPPORT-01"])),
})
RULE_IDS: tuple[str, ...] = tuple(sorted({r for rules in OPERATIONS.values() for r in rules}))

Rating = Literal["A", "B", "C", "D"]
Flag = Literal["energy", "environment", "quality", "safety"]
Origin = Literal["original", "split", "merge", "edge_plot"]


def _ratio(value: Any) -> Any:
    """Accept ``"1/3"`` as well as ``0.25`` for shares written as fractions in the data file."""
    if isinstance(value, str) and "/" in value:
        return float(Fraction(value.replace(" ", "")))
    return value


Share = Annotated[float, BeforeValidator(_ratio), Field(gt=0, le=1)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GeometryParams(_Frozen):
    tolerance_m: float = Field(0.05, gt=0, le=1, description="boundary tolerance (m)")
    sliver_area_m2: float = Field(1.0, gt=0, le=100, description="areas up to this are noise (m²)")
    min_shared_edge_m: float = Field(1.0, gt=0, le=1000, description="shortest shared boundary of adjacency")


class _Refusals(_Frozen):
    refused_ratings: tuple[Rating, ...] = ("C", "D")
    refused_flags: tuple[Flag, ...] = ("energy", "environment", "quality", "safety")

    @property
    def refused_ratings_text(self) -> str:
        return "/".join(self.refused_ratings)


class SplitParams(_Refusals):
    min_lots: int = Field(2, ge=2, le=100)
    max_lots: int = Field(3, ge=2, le=100)
    min_lot_mu: float = Field(10, gt=0, le=100_000)
    confirmations: tuple[str, ...] = ("planning", "fire_safety", "environment", "contract_permits")
    no_split_origins: tuple[Origin, ...] = ("merge", "edge_plot")
    no_second_split_origins: tuple[Origin, ...] = ("split",)

    @model_validator(mode="after")
    def _bounds(self) -> SplitParams:
        if self.max_lots < self.min_lots:
            raise ValueError("max_lots must be ≥ min_lots")
        return self


class MergeParams(_Refusals):
    min_parcels: int = Field(2, ge=2, le=100)


class EdgeParams(_Frozen):
    max_share: Share = 0.20
    max_mu: float = Field(10, gt=0, le=100_000)
    min_far_rise: float = Field(0.20, ge=0, le=10)
    min_renovation_floor_share: Share = 0.20
    confirmations: tuple[str, ...] = ("industrial_guidance",)


class SupportParams(_Frozen):
    max_share: Share = 0.07
    max_floor_share: Share | None = None
    raised_max_share: Share = 0.15
    raised_max_floor_share: Share = 0.30
    raised_ratings: tuple[Rating, ...] = ("A", "B")
    raised_min_parcel_mu: float = Field(50, gt=0, le=100_000)
    raised_in_development_zone: bool = True

    @model_validator(mode="after")
    def _raised(self) -> SupportParams:
        if self.raised_max_share < self.max_share:
            raise ValueError("raised_max_share must be ≥ max_share")
        return self


class RatingParams(_Frozen):
    as_a_min_investment_wan: float = Field(10_000, gt=0)
    not_d_min_investment_wan: float = Field(3_000, gt=0)


class FarParams(_Frozen):
    max_far: float = Field(1.1, gt=0, le=50)
    max_height_m: float = Field(24, gt=0, le=1000)


class CategoryParams(_Frozen):
    approval_flag_years: int = Field(2, ge=1, le=50)
    start_grace_years: int = Field(1, ge=0, le=50)
    halted_min_years: int = Field(1, ge=0, le=50)
    developed_share_below: Share = 1 / 3
    invested_share_below: Share = 0.25
    idle_fee_years: int = Field(1, ge=0, le=50)
    recovery_years: int = Field(2, ge=0, le=50)
    tax_per_mu_max_wan: float = Field(5, ge=0, le=10_000)
    large_revenue_min_wan: float = Field(10_000, gt=0)
    large_revenue_tax_per_mu_max_wan: float = Field(10, ge=0, le=10_000)
    large_revenue_years: int = Field(2, ge=1, le=10)
    low_efficiency_ratings: tuple[Rating, ...] = ("D",)
    low_far_enabled: bool = True
    low_far_below: float = Field(1.0, gt=0, le=50)


class RuleTitle(_Frozen):
    title_zh: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    clause: str = ""


class RuleSet(_Frozen):
    """A validated, frozen rule set: identity, effective window and every parameter."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    jurisdiction: str = Field(min_length=1)
    title: str = Field(min_length=1)
    title_en: str = ""
    source: str = Field(min_length=1)
    source_document: str | None = None
    issued_on: date | None = None
    effective_from: date
    effective_to: date | None = None
    geometry: GeometryParams = GeometryParams()
    split: SplitParams = SplitParams()
    merge: MergeParams = MergeParams()
    edge: EdgeParams = EdgeParams()
    support: SupportParams = SupportParams()
    rating: RatingParams = RatingParams()
    far: FarParams = FarParams()
    categories: CategoryParams = CategoryParams()
    rules: dict[str, RuleTitle]

    @model_validator(mode="after")
    def _complete(self) -> RuleSet:
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError("effective_to is before effective_from")
        missing = [r for r in RULE_IDS if r not in self.rules]
        unknown = [r for r in self.rules if r not in RULE_IDS]
        if missing or unknown:
            raise ValueError(f"rule titles: missing {missing}, unknown {unknown}")
        params = {name: getattr(self, name) for name in
                  ("geometry", "split", "merge", "edge", "support", "rating", "far", "categories")}
        try:
            rendered = {rid: t.model_copy(update={"title_zh": t.title_zh.format(**params),
                                                  "title_en": t.title_en.format(**params)})
                        for rid, t in self.rules.items()}
        except (KeyError, AttributeError, ValueError, IndexError) as exc:
            raise ValueError(f"a rule title names an unknown parameter: {exc}") from exc
        object.__setattr__(self, "rules", rendered)  # frozen model: titles are rendered once, here
        return self

    def in_force_on(self, day: date) -> bool:
        """Is the policy in force on ``day`` (both ends of the window inclusive)?"""
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)

    def summary(self, as_of: date) -> dict[str, Any]:
        """The report's ``rule_set`` member (CHECKS-API.md), plus the source and English title."""
        return {
            "id": self.id,
            "title": self.title,
            "title_en": self.title_en,
            "source": self.source,
            "effective_from": self.effective_from.isoformat(),
            "effective_to": self.effective_to.isoformat() if self.effective_to else None,
            "in_force_on_as_of": self.in_force_on(as_of),
        }

    def public(self) -> dict[str, Any]:
        """Everything, JSON-ready (``GET /api/v1/rule-sets/{id}``)."""
        return self.model_dump(mode="json")


class RuleSetRegistry:
    """An immutable id → :class:`RuleSet` map; :meth:`register` returns a new registry."""

    __slots__ = ("_sets",)

    def __init__(self, rule_sets: Mapping[str, RuleSet] | None = None) -> None:
        self._sets: Mapping[str, RuleSet] = MappingProxyType(dict(rule_sets or {}))

    def register(self, rule_set: RuleSet, *, replace: bool = False) -> RuleSetRegistry:
        """A new registry with ``rule_set`` added (``replace`` to overwrite an id)."""
        if rule_set.id in self._sets and not replace:
            raise ValueError(f"rule set {rule_set.id!r} is already registered")
        return RuleSetRegistry({**self._sets, rule_set.id: rule_set})

    def get(self, rule_set_id: str) -> RuleSet:
        """The rule set ``rule_set_id``; unknown → :class:`GisInputError` 404."""
        try:
            return self._sets[rule_set_id]
        except (KeyError, TypeError):
            raise GisInputError(
                "unknown-rule-set",
                f"未知的规则集：{rule_set_id}（已有：{', '.join(self.ids())}）",
                f"unknown rule set: {rule_set_id} (known: {', '.join(self.ids())})",
                status=404, pointer="/rule_set",
            ) from None

    def default_for(self, jurisdiction: Any) -> RuleSet:
        """The default rule set of a jurisdiction (a :class:`~gis.jurisdiction.Jurisdiction` or its id)."""
        if isinstance(jurisdiction, str):
            from gis.jurisdiction import load_jurisdiction

            jurisdiction = load_jurisdiction(jurisdiction)
        return self.get(jurisdiction.default_rule_set)

    def for_jurisdiction(self, jurisdiction_id: str) -> list[RuleSet]:
        return [rs for rs in self._sets.values() if rs.jurisdiction == jurisdiction_id]

    def ids(self) -> list[str]:
        return sorted(self._sets)

    def __contains__(self, rule_set_id: object) -> bool:
        return rule_set_id in self._sets

    def __iter__(self) -> Iterator[RuleSet]:
        return iter(self._sets[k] for k in self.ids())

    def __len__(self) -> int:
        return len(self._sets)


def load_rule_set(path: str | Path) -> RuleSet:
    """Read and validate one rule-set TOML file (a ``ValueError`` says what is wrong)."""
    path = Path(path)
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"{path.name}: invalid rule set:\n{exc}") from exc


@lru_cache(maxsize=1)
def default_registry() -> RuleSetRegistry:
    """Every rule set in ``gis/data/rule_sets`` (loaded and validated once per process)."""
    registry = RuleSetRegistry()
    for path in sorted(DATA_DIR.glob("*.toml")):
        registry = registry.register(load_rule_set(path))
    return registry


def get_rule_set(rule_set_id: str | None = None, *, jurisdiction: Any = None,
                 registry: RuleSetRegistry | None = None) -> RuleSet:
    """A rule set by id, or the jurisdiction's default (Tiantai when neither is given)."""
    registry = registry or default_registry()
    if rule_set_id is not None:
        return registry.get(rule_set_id)
    return registry.default_for(jurisdiction or "tiantai")
