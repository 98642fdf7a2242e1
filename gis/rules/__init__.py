"""The check engine: every rule of RULES.md §4 as a pure function, and :func:`run_check`.

Which rules each operation reports
----------------------------------
Every report lists each rule of its operation exactly once, in ID order (plain string order of
the zero-padded IDs: ``EDGE-… < FAR-01 < MERGE-… < RATING-01 < SPLIT-… < SUPPORT-01``).

=============  ==============================================================================
operation      rules
=============  ==============================================================================
``split``      SPLIT-01 … SPLIT-11, **RATING-01**, **SUPPORT-01**
``merge``      MERGE-01 … MERGE-07, **RATING-01**, **SUPPORT-01**
``edge-plots`` EDGE-01 … EDGE-06, **FAR-01**, **SUPPORT-01**
=============  ==============================================================================

Why these report-level checks join these operations:

* **RATING-01** (policy 四(九): a key project of ≥ 1 亿元 under construction counts as A, ≥ 3000 万元
  is not D) decides the rating that SPLIT-09 and MERGE-05 judge transferees / the receiving holder
  on, so it is reported with split and merge. Edge-plot eligibility (四(六)) does not depend on a
  rating, so it is not reported there (SUPPORT-01 still uses the effective rating).
  ``not_applicable`` when no party has such a project; ``pass`` listing the lifted ratings otherwise.
* **SUPPORT-01** (四(十七): support land ≤ 7 %, or ≤ 15 % with floor share ≤ 30 % for projects in
  industrial parks and for A/B-rated holders on ≥ 50 mu) is judged on the parcel(s) the operation
  produces: each lot holding support land (split), the merged parcel (merge), the parcel enlarged
  by the plots (edge plots). ``not_applicable`` when no support land is given.
* **FAR-01** (四(五): outside development zones, without plan conditions, FAR ≤ 1.1 and height
  ≤ 24 m) constrains the zero-new-land renovation an edge-plot grant is made for, so it is reported
  with edge plots (``far_after``, building heights / ``height_after_m``). Splits and mergers do not
  change buildings. ``not_applicable`` inside a development zone or where the parcel has plan
  conditions (``far_planned`` or ``plan_conditions: true``).

Statuses: ``pass``, ``fail``, ``needs_review`` (a fact only an officer can supply: confirmations,
unknown ratings, unrecorded lineage …), ``not_applicable``. Verdict: ``fail`` if any rule fails, else
``needs_review`` if any needs review, else ``pass``.

Public API
----------
``run_check(operation, request, *, crs=None, as_of=None, rule_set=None, jurisdiction=None,
stored_lookup=None) -> dict``
    The report; see :func:`gis.rules.engine.run_check`.
:class:`StoredLookup`, :class:`StoredParcel`, :class:`StoredFeature`
    The register interface the web layer implements (:mod:`gis.rules.lookup`).
:class:`RuleResult`, :func:`verdict`
    A rule's result and the verdict rule.
``OPERATIONS``
    operation → its rule IDs in report order.
"""

from gis.rules.engine import OPERATION_NAMES, run_check, today
from gis.rules.lookup import StoredFeature, StoredLookup, StoredParcel
from gis.rules.result import STATUSES, RuleResult, Status, verdict
from gis.rulesets import OPERATIONS

__all__ = [
    "OPERATIONS",
    "OPERATION_NAMES",
    "STATUSES",
    "RuleResult",
    "Status",
    "StoredFeature",
    "StoredLookup",
    "StoredParcel",
    "run_check",
    "today",
    "verdict",
]
