"""The committed Tiantai sample (~320 current parcels): layout, lineage, facts and intended categories.

Every parcel is built for a purpose (a category and criterion of RULES.md §3, a showcase for the
split / merge / edge-plot rules, or plain normal stock) and its facts are drawn so that purpose is
unambiguous as of :data:`SAMPLE_AS_OF`: away from every threshold except where a threshold is the
point (亩均税收 exactly 5.00).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import shapely
from shapely import Polygon, STRtree, box

from gis.crs import CRS84, transformer
from gis.jurisdiction import Jurisdiction
from gis.units import MU_M2, round_m2

from .geometry import Layout, Placement, guillotine, kink, layout_buildings, node, notch, snap_lonlat, to_lonlat
from .ids import CREDIT_CHARSET, holder_names, make_credit_code, parcel_code

__all__ = ["SAMPLE_AS_OF", "CountyBuild", "build_county"]

SAMPLE_AS_OF = date(2025, 6, 30)
DEV_ZONE_CENTER = (121.03, 29.14)  # 天台经济开发区
DEV_ZONE_TOWNS = ("赤城街道", "始丰街道", "福溪街道")
# Share of the non-开发区 parcels per town (the rest of the county's industrial clusters).
TOWN_SHARES = {
    "平桥镇": 0.22, "坦头镇": 0.18, "洪畴镇": 0.13, "白鹤镇": 0.13, "三合镇": 0.11, "街头镇": 0.08,
    "石梁镇": 0.07, "雷峰乡": 0.03, "泳溪乡": 0.03, "三州乡": 0.02,
}

# How many parcels of each purpose (current parcels). "normal" fills the rest.
QUOTAS = {
    "unsupplied_young": 8,
    "unsupplied_old": 9,
    "idle_lt1": 3,
    "idle_1to2": 3,
    "idle_gt2": 3,
    "idle_gt2_noagreed": 2,
    "halted": 4,
    "halted_invest": 2,
    "tax": 5,  # + 3 exactly 5.00 + 1 holder with two parcels
    "tax_exact5": 3,
    "tax_pair": 2,
    "bigrev": 7,
    "rating_d": 7,
    "low_far": 7,
    "within_deadline": 3,
    "under_construction": 2,
    "halted_recent": 2,
}
PURPOSE_CATEGORY = {
    "unsupplied_young": ("approved_unsupplied", "approved_unsupplied"),
    "unsupplied_old": ("approved_unsupplied", "approved_unsupplied"),
    "idle_lt1": ("supplied_unused", "not_started"),
    "idle_1to2": ("supplied_unused", "not_started"),
    "idle_gt2": ("supplied_unused", "not_started"),
    "idle_gt2_noagreed": ("supplied_unused", "not_started"),
    "halted": ("supplied_unused", "halted_underdeveloped"),
    "halted_invest": ("supplied_unused", "halted_underdeveloped"),
    "tax": ("low_efficiency", "tax_per_mu"),
    "tax_exact5": ("low_efficiency", "tax_per_mu"),
    "tax_pair": ("low_efficiency", "tax_per_mu"),
    "bigrev": ("low_efficiency", "large_revenue_low_tax"),
    "rating_d": ("low_efficiency", "rating_d"),
    "low_far": ("low_efficiency", "low_far"),
    "within_deadline": ("none", "within_deadline"),
    "under_construction": ("none", "under_construction"),
    "halted_recent": ("none", "under_construction"),
    "normal": ("none", "normal"),
    "normal_recent": ("none", "normal"),
    "split_ok": ("none", "normal"),
    "merge_ok_early": ("none", "normal"),
    "merge_ok_late": ("none", "normal"),
}
IN_PRODUCTION = {p for p, (cat, crit) in PURPOSE_CATEGORY.items() if cat == "low_efficiency" or crit == "normal"}
NOT_BUILT = {"unsupplied_young", "unsupplied_old", "idle_lt1", "idle_1to2", "idle_gt2",
             "idle_gt2_noagreed", "within_deadline"}
PRODUCTS = {
    "汽车零部件": "汽车零部件", "汽配": "汽车配件", "机械": "机械设备", "橡胶": "橡胶制品",
    "传动带": "橡胶传动带", "滤布": "工业滤布", "环保科技": "环保设备", "过滤材料": "过滤材料",
    "制药": "原料药", "药业": "医药制剂", "旅游用品": "旅游休闲用品", "工艺品": "工艺礼品",
    "电机": "微特电机", "塑业": "塑料制品",
}
COMPLIANCE = ("energy", "environment", "quality", "safety")


_d = date


def _rand_date(rng: np.random.Generator, start: date, end: date) -> date:
    return start + timedelta(days=int(rng.integers(0, (end - start).days + 1)))


def _plus_days(d: date, rng: np.random.Generator, lo: int, hi: int) -> date:
    return d + timedelta(days=int(rng.integers(lo, hi + 1)))


def add_years(d: date, n: int) -> date:
    try:
        return d.replace(year=d.year + n)
    except ValueError:  # 29 February
        return d.replace(year=d.year + n, day=28)


# --- the layout ------------------------------------------------------------------------------


@dataclass(eq=False)
class Lot:
    """One parcel version (current or retired) while it is being built."""

    local: Polygon
    role: str  # generic, split_ok, merge_ok, edge_ok, ire, large, split/merge/edge parent|child
    current: bool = True
    block: Block | None = None
    parents: list[Lot] = field(default_factory=list)
    world: Polygon | None = None
    purpose: str = "normal"
    town: str = ""
    district: str = ""
    sub: int = 1
    code: str = ""
    attrs: dict = field(default_factory=dict)
    holder: Holder | None = None


@dataclass(eq=False)
class Block:
    width: int
    height: int
    lots: list[Lot]
    rotate: bool = True
    placement: Placement | None = None
    zone: str = ""
    row: int = 0
    index: int = 0
    strip: Polygon | None = None  # EDGE-OK: unallocated land beside the showcase parcel


@dataclass(eq=False)
class Holder:
    name: str
    short: str
    industry: str
    credit_code: str
    kind: str = "normal"  # how its yearly figures are drawn
    lots: list[Lot] = field(default_factory=list)
    years: list[dict] = field(default_factory=list)


def _k_parcels(rng: np.random.Generator, area: float, town: bool) -> int:
    ks, p = ((1, 2, 3, 4, 5), (0.15, 0.3, 0.3, 0.15, 0.1)) if town else \
        ((1, 2, 3, 4, 5, 6, 8), (0.05, 0.15, 0.22, 0.22, 0.16, 0.12, 0.08))
    k = int(rng.choice(ks, p=p))
    while area / k > 150 * MU_M2:  # keep generic parcels under 150 mu
        k += 1
    return k


def _generic_block(rng: np.random.Generator, w: int, h: int, k: int, town: bool) -> Block:
    lane = int(rng.choice([0, 8])) if rng.random() < (0.5 if town else 0.3) else 0
    rects = guillotine((0, 0, w, h), k, rng, lane=lane)
    polys: list[Polygon] = []
    for r in rects:
        x0, y0, x1, y1 = r
        corners = [i for i, (cx, cy) in enumerate([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
                   if cx in (0, w) and cy in (0, h)]
        if corners and rng.random() < 0.12:
            c = corners[int(rng.integers(len(corners)))]
            nx = int(min(rng.integers(10, 26), (x1 - x0) // 4))
            ny = int(min(rng.integers(10, 26), (y1 - y0) // 4))
            polys.append(notch(r, c, nx, ny))
            continue
        poly = box(*r)
        if rng.random() < 0.1:
            oriented = list(shapely.orient_polygons(poly).exterior.coords)
            outer = [i for i in range(4) if _on_block_edge(oriented[i], oriented[i + 1], w, h)]
            if outer:
                poly = kink(poly, outer[int(rng.integers(len(outer)))], int(rng.integers(1, 3)))
        polys.append(poly)
    return Block(w, h, [Lot(p, "generic") for p in polys])


def _on_block_edge(a, b, w, h) -> bool:
    return (a[0] == b[0] and a[0] in (0, w)) or (a[1] == b[1] and a[1] in (0, h))


class _Layouter:
    """Places blocks in rows (west → east, then north), roads between them."""

    def __init__(self, max_width: int, heights: tuple[int, ...], road: int = 30):
        self.max_width, self.heights, self.road = max_width, heights, road
        self.blocks: list[Block] = []
        self.row, self.x, self.y = 0, 0, 0

    @property
    def height(self) -> int:
        return self.heights[self.row % len(self.heights)]

    def fits(self, w: int) -> bool:
        return self.x == 0 or self.x + w <= self.max_width

    def newline(self) -> None:
        self.y += self.height + self.road + (10 if self.row % 3 == 2 else 0)
        self.row += 1
        self.x = 0

    def add(self, block: Block, rng: np.random.Generator) -> None:
        angle = shear = 0.0
        if block.rotate:
            u = rng.random()
            if u < 0.3:
                angle = float(rng.uniform(-1.5, 1.5))
            elif u < 0.45:
                shear = float(rng.uniform(-0.04, 0.04))
        block.row, block.index = self.row, len(self.blocks)
        block.placement = Placement(self.x, self.y, block.width, block.height, angle, shear)
        self.blocks.append(block)
        self.x += block.width + self.road


Special = tuple[Callable[[int], Block], int]  # builder (row height → Block), current parcels in it


def _special_blocks(rng: np.random.Generator) -> list[Special]:
    """Builders of the showcase and lineage blocks of the 开发区, with their current-parcel counts."""

    def split_ok(h: int) -> Block:
        ok = Lot(box(0, 0, 200, 150), "split_ok")
        back = Lot(box(0, 150, 200, h), "generic")
        return Block(200, h, [ok, back], rotate=False)

    def merge_ok(h: int) -> Block:
        return Block(260, h, [Lot(box(0, 0, 140, h), "merge_ok"), Lot(box(140, 0, 260, h), "merge_ok")],
                     rotate=False)

    def edge_ok(h: int) -> Block:
        b = Block(162, h, [Lot(box(0, 0, 150, 180), "edge_ok"), Lot(box(0, 180, 162, h), "generic")],
                  rotate=False)
        b.strip = box(150, 0, 162, 180)
        return b

    def split_family(k: int, w: int) -> Callable[[int], Block]:
        def build(h: int) -> Block:
            children = [Lot(box(*r), "split_child") for r in guillotine((0, 0, w, h), k, rng)]
            assert len(children) == k
            parent = Lot(box(0, 0, w, h), "split_parent", current=False)
            for c in children:
                c.parents = [parent]
            return Block(w, h, [parent, *children])
        return build

    def merge_family(w: int) -> Callable[[int], Block]:
        def build(h: int) -> Block:
            cut = int(w * rng.uniform(0.4, 0.6))
            parents = [Lot(box(0, 0, cut, h), "merge_parent", current=False),
                       Lot(box(cut, 0, w, h), "merge_parent", current=False)]
            child = Lot(box(0, 0, w, h), "merge_child", parents=parents)
            return Block(w, h, [*parents, child])
        return build

    def edge_family(w: int, ws: int) -> Callable[[int], Block]:
        def build(h: int) -> Block:
            parent = Lot(box(0, 0, w, h), "edge_parent", current=False)
            child = Lot(box(0, 0, w + ws, h), "edge_child", parents=[parent])
            return Block(w + ws, h, [parent, child])
        return build

    def single(role: str, w: int) -> Callable[[int], Block]:
        return lambda h: Block(w, h, [Lot(box(0, 0, w, h), role)])

    def large(mu: float) -> Callable[[int], Block]:
        def build(h: int) -> Block:
            w = math.ceil(mu * MU_M2 / h)
            return Block(w, h, [Lot(box(0, 0, w, h), "large")])
        return build

    return [
        (split_ok, 2), (merge_ok, 2), (edge_ok, 2), (split_family(2, 260), 2), (merge_family(220), 1),
        (large(225), 1), (single("ire", 260), 1), (split_family(3, 300), 3), (edge_family(180, 16), 1),
        (merge_family(240), 1), (large(248), 1), (split_family(2, 280), 2), (merge_family(200), 1),
        (edge_family(170, 14), 1), (large(212), 1),
    ]


def _place_zone(
    rng: np.random.Generator,
    target: int,
    *,
    specials: list[Special],
    max_width: int,
    heights: tuple[int, ...],
    widths: tuple[int, int],
    town: bool,
) -> list[Block]:
    """Generic blocks, with the specials interleaved one in two, until ``target`` current parcels."""
    lay = _Layouter(max_width, heights)
    queue = list(specials)
    count = 0
    turn = 0
    while count < target:
        if queue and turn % 2 == 1:
            builder, _n = queue.pop(0)
            block = builder(lay.height)
            if not lay.fits(block.width):
                lay.newline()
                block = builder(lay.height)
        else:
            room = target - count - sum(n for _, n in queue)
            if room <= 0:
                turn += 1
                if not queue:
                    break
                continue
            w = int(rng.integers(widths[0] // 10, widths[1] // 10 + 1)) * 10
            if not lay.fits(w):
                lay.newline()
            k = min(_k_parcels(rng, w * lay.height, town), room)
            block = _generic_block(rng, w, lay.height, k, town)
        turn += 1
        lay.add(block, rng)
        count += sum(1 for lot in block.lots if lot.current)
    return lay.blocks


# --- from blocks to parcels in EPSG:4549 ---------------------------------------------------------


def _centre_zone(blocks: list[Block], x: float, y: float) -> None:
    """Translate a zone's blocks (integer metres) so that its bounding box is centred on (x, y)."""
    maxx = max(b.placement.x0 + b.width for b in blocks)
    maxy = max(b.placement.y0 + b.height for b in blocks)
    ox, oy = round(x - maxx / 2), round(y - maxy / 2)
    for b in blocks:
        p = b.placement
        b.placement = Placement(p.x0 + ox, p.y0 + oy, p.width, p.height, p.angle_deg, p.shear)


def _realise(block: Block) -> None:
    """Node the block's linework, place it and snap it: set ``world`` on every lot."""
    drawn = [lot for lot in block.lots if lot.role not in ("merge_child", "split_parent", "edge_parent")]
    polys = [lot.local for lot in drawn] + ([block.strip] if block.strip is not None else [])
    # an edge-plot parent's corners go into its child's outline, so the child contains it exactly
    extra = [lot.local for lot in block.lots if lot.role == "edge_parent"]
    noded = node(polys + extra)[: len(polys)]
    placed = snap_lonlat(np.array(block.placement.apply(noded), dtype=object))
    for lot, geom in zip(drawn, placed, strict=False):
        lot.world = geom
    if block.strip is not None:
        block.strip = placed[-1]
    for lot in block.lots:
        if lot.role == "edge_parent":
            lot.world = snap_lonlat(block.placement.apply(lot.local))
    for lot in block.lots:
        if lot.role == "merge_child":
            lot.world = _union([p.world for p in lot.parents])
    for lot in block.lots:
        if lot.role == "split_parent":
            lot.world = _union([c.world for c in block.lots if lot in c.parents])


def _union(geoms: list[Polygon]) -> Polygon:
    u = shapely.union_all(geoms)
    assert u.geom_type == "Polygon", u.geom_type
    return u


def _assert_layout(lots: list[Lot], outline: Polygon) -> None:
    current = [lot.world for lot in lots if lot.current]
    assert all(g.is_valid and g.geom_type == "Polygon" for g in current)
    assert all(outline.contains(g) for g in current), "a parcel lies outside the county outline"
    tree = STRtree(current)
    left, right = tree.query(current, predicate="intersects")
    pairs = [(i, j) for i, j in zip(left, right, strict=True) if i < j]
    overlap = [shapely.intersection(current[i], current[j]).area for i, j in pairs]
    assert all(a == 0 for a in overlap), f"overlapping parcels: max {max(overlap)} m²"


# --- purposes, holders, facts ----------------------------------------------------------------


class CountyBuild:
    """Everything :func:`build_county` makes, as plain rows (the caller makes DataFrames)."""

    def __init__(self) -> None:
        self.lots: list[Lot] = []
        self.blocks: list[Block] = []
        self.holders: list[Holder] = []
        self.disposals: list[dict] = []
        self.buildings: list[dict] = []
        self.support: list[dict] = []
        self.showcase: dict = {}


def _mu(lot: Lot) -> float:
    return lot.world.area / MU_M2


def _assign_purposes(rng: np.random.Generator, lots: list[Lot]) -> None:
    pool = [lot for lot in lots if lot.current and lot.role == "generic"]
    order = [pool[i] for i in rng.permutation(len(pool))]
    taken: set[int] = set()

    def take(pred: Callable[[Lot], bool]) -> Lot:
        for i, lot in enumerate(order):
            if i not in taken and pred(lot):
                taken.add(i)
                return lot
        raise RuntimeError("not enough parcels for the category quotas: raise n")

    for purpose, count in QUOTAS.items():
        for _ in range(count if purpose != "tax_pair" else 1):
            if purpose == "tax_pair":
                a = take(lambda lot: 12 < _mu(lot) < 60)
                b = take(lambda lot, a=a: lot.town == a.town and 12 < _mu(lot) < 60)
                a.purpose = b.purpose = "tax_pair"
                continue
            if purpose == "bigrev":
                lot = take(lambda lot: _mu(lot) >= 40)
            elif purpose == "tax_exact5":
                lot = take(lambda lot: 15 < _mu(lot) < 80 and lot.local.geom_type == "Polygon")
            else:
                lot = take(lambda lot: True)
            lot.purpose = purpose
    # standard-land parcels supplied 2019–2020 and now in production, in the 开发区
    for _ in range(8):
        take(lambda lot: lot.town in DEV_ZONE_TOWNS and 10 < _mu(lot) < 120).purpose = "normal_recent"


def _new_holder(names: list[tuple[str, str]], used_codes: set[str], rng: np.random.Generator,
                supplied: date, kind: str = "normal") -> Holder:
    full, short = names.pop()
    industry = next(ind for ind in PRODUCTS if short.endswith(ind))
    while True:
        if supplied < date(2015, 10, 1):  # converted from an old organisation code
            body = str(int(rng.integers(1, 8))) + "".join(str(int(d)) for d in rng.integers(0, 10, 7))
        else:
            body = "MA2" + "".join(CREDIT_CHARSET[int(i)] for i in rng.integers(0, 31, 5))
        code = make_credit_code(body)
        if code not in used_codes:
            used_codes.add(code)
            return Holder(full, short, industry, code, kind)


class _Numbers:
    """Running numbers of contracts and approval batches, per year."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.contract: dict[str, int] = {}
        self.approval: dict[int, int] = {}

    def contract_no(self, supplied: date, right_type: str) -> str:
        y = supplied.year
        if right_type == "划拨":
            key = f"H{y}"
            self.contract[key] = self.contract.get(key, 0) + int(self.rng.integers(1, 4))
            return f"天政划拨〔{y}〕{self.contract[key]}号"
        key = f"A{y}" if right_type != "租赁" else f"Z{y}"
        self.contract[key] = self.contract.get(key, int(self.rng.integers(1000, 1100))) + int(
            self.rng.integers(1, 6))
        prefix = "A2" if right_type != "租赁" else "Z1"
        return f"331023{y}{prefix}{self.contract[key]:04d}"

    def approval_no(self, approved: date) -> str:
        y = approved.year
        self.approval[y] = self.approval.get(y, int(self.rng.integers(20, 120))) + int(self.rng.integers(5, 40))
        return f"浙土字A〔{y}〕-{self.approval[y]:04d}"


def _approval_for(rng: np.random.Generator, supplied: date) -> date | None:
    """农转用 approval before the supply; none for stock land supplied before the 2012 batches."""
    if supplied < date(2012, 9, 1):
        return None
    earliest = max(date(2012, 3, 1), supplied - timedelta(days=600))
    return _rand_date(rng, earliest, supplied - timedelta(days=60))


def _timeline(rng: np.random.Generator, purpose: str) -> dict:
    """Dates and progress of a parcel built for ``purpose`` (see PURPOSE_CATEGORY)."""
    f: dict = {"developed_frac": None, "invested_frac": None}
    r = lambda a, b: _rand_date(rng, a, b)  # noqa: E731
    if purpose in ("unsupplied_young", "unsupplied_old"):
        f["approved_on"] = (r(_d(2023, 9, 1), _d(2025, 4, 30)) if purpose == "unsupplied_young"
                            else r(_d(2013, 1, 1), _d(2023, 3, 31)))
        return f
    if purpose.startswith("idle"):
        if purpose == "idle_gt2_noagreed":
            f["supplied_on"] = r(_d(2017, 6, 1), _d(2019, 6, 30))
        else:
            lo, hi = {"idle_lt1": (_d(2023, 9, 1), _d(2024, 3, 31)),
                      "idle_1to2": (_d(2022, 9, 1), _d(2023, 3, 31)),
                      "idle_gt2": (_d(2019, 6, 1), _d(2022, 3, 31))}[purpose]
            f["agreed_start_on"] = r(lo, hi)
            f["supplied_on"] = f["agreed_start_on"] - timedelta(days=int(rng.integers(120, 211)))
        f["developed_frac"], f["invested_frac"] = 0.0, 0.0
    elif purpose == "within_deadline":
        f["supplied_on"] = r(_d(2024, 6, 1), _d(2025, 3, 31))
        f["agreed_start_on"] = _plus_days(f["supplied_on"], rng, 120, 240)
        f["developed_frac"], f["invested_frac"] = 0.0, 0.0
    elif purpose in ("halted", "halted_invest", "halted_recent", "under_construction"):
        lo, hi = {"halted": (_d(2017, 1, 1), _d(2021, 6, 30)), "halted_invest": (_d(2017, 1, 1), _d(2021, 6, 30)),
                  "halted_recent": (_d(2022, 1, 1), _d(2023, 6, 30)),
                  "under_construction": (_d(2022, 9, 1), _d(2024, 1, 31))}[purpose]
        f["supplied_on"] = r(lo, hi)
        f["agreed_start_on"] = _plus_days(f["supplied_on"], rng, 90, 200)
        f["construction_started_on"] = _plus_days(f["agreed_start_on"], rng, 0, 90)
        if purpose == "halted_recent":
            f["halted_since"] = r(_d(2024, 9, 1), _d(2025, 2, 28))
        elif purpose != "under_construction":
            f["halted_since"] = min(_plus_days(f["construction_started_on"], rng, 150, 600), _d(2024, 3, 31))
        f["developed_frac"], f["invested_frac"] = {
            "halted": (rng.uniform(0.08, 0.26), rng.uniform(0.08, 0.22)),
            "halted_invest": (rng.uniform(0.36, 0.5), rng.uniform(0.1, 0.2)),
            "halted_recent": (rng.uniform(0.1, 0.25), rng.uniform(0.1, 0.2)),
            "under_construction": (rng.uniform(0.4, 0.7), rng.uniform(0.4, 0.8)),
        }[purpose]
    else:  # in production
        lo, hi = {"normal_recent": (_d(2019, 2, 1), _d(2020, 4, 30)),
                  "split_ok": (_d(2013, 3, 1), _d(2015, 6, 30)),
                  "merge_ok_early": (_d(2011, 1, 1), _d(2013, 12, 31)),
                  "merge_ok_late": (_d(2016, 1, 1), _d(2018, 6, 30))}.get(purpose, (_d(2010, 3, 1), _d(2018, 12, 31)))
        fast = purpose == "normal_recent"
        f["supplied_on"] = r(lo, hi)
        if f["supplied_on"] >= _d(2013, 1, 1) or rng.random() < 0.5:
            f["agreed_start_on"] = _plus_days(f["supplied_on"], rng, 90, 240)
            start_base = f["agreed_start_on"]
            f["construction_started_on"] = _plus_days(start_base, rng, 0, 30) if fast else \
                _plus_days(start_base, rng, -20, 120)
        else:
            f["construction_started_on"] = _plus_days(f["supplied_on"], rng, 90, 300)
        f["completed_on"] = _plus_days(f["construction_started_on"], rng, *((360, 450) if fast else (420, 900)))
        f["production_started_on"] = _plus_days(f["completed_on"], rng, *((10, 40) if fast else (15, 150)))
        f["developed_frac"], f["invested_frac"] = 1.0, rng.uniform(0.95, 1.3)
        assert f["production_started_on"] <= _d(2022, 12, 31)
    if "agreed_start_on" in f:
        f["agreed_completion_on"] = _plus_days(f["agreed_start_on"], rng, 540, 1080)
    return f


def _years_figures(rng: np.random.Generator, kind: str, area_m2: float) -> list[dict]:
    """2023 and 2024 figures of a holder with ``area_m2`` of current parcels, drawn for ``kind``."""
    out = []
    mu = area_m2 / MU_M2
    t24 = {
        "normal": float(np.clip(rng.lognormal(math.log(19), 0.4), 11.5, 60)),
        "A": rng.uniform(32, 55),
        "tax": rng.uniform(1.5, 4.8),
        # over 2.5 万元/亩 on two similar parcels: the holder's whole tax over ONE parcel's mu is > 5
        "tax_pair": rng.uniform(3.2, 4.6),
        "bigrev": rng.uniform(5.8, 9.4),
        "rating_d": rng.uniform(6.5, 9.4),
    }.get(kind, 0.0)
    for year in (2023, 2024):
        if kind == "tax_exact5" and year == 2024:
            tax = _exact_five(area_m2)
        elif kind == "tax_exact5":
            tax = round(rng.uniform(3.5, 4.9) * mu, 2)
        else:
            lo_hi = {"normal": (11.2, 80), "A": (31, 80), "tax": (1.0, 4.95), "tax_pair": (3.0, 4.95),
                     "bigrev": (5.6, 9.6),
                     "rating_d": (6.2, 9.6)}[kind]
            t = float(np.clip(t24 * (rng.uniform(0.85, 1.12) if year == 2023 else 1.0), *lo_hi))
            tax = round(t * mu, 2)
        per_mu = tax / mu
        if kind == "bigrev":
            revenue = round(rng.uniform(12000, 40000), 1)
        else:
            revenue = round(tax / rng.uniform(0.03, 0.07), 1)
            if kind == "rating_d":
                revenue = min(revenue, round(rng.uniform(6000, 9500), 1))
        if kind == "rating_d":
            rating = "D" if year == 2024 else str(rng.choice(["C", "D"]))
        elif kind in ("tax", "tax_pair", "tax_exact5"):
            rating = "D" if per_mu < 3 else "C"
        else:
            rating = "A" if per_mu >= 30 else "B" if per_mu >= 15 else "C"
        out.append({"year": year, "rating": rating, "tax_wan": tax, "revenue_wan": revenue,
                    "value_added_wan": round(revenue * rng.uniform(0.18, 0.32), 1),
                    "above_scale": bool(revenue >= 2000)})
    return out


def _exact_five(area_m2: float) -> float:
    """The largest tax (万元, 2 decimals) with 亩均税收 ≤ 5 that shows as 5.00 however it is computed.

    Whether 亩 comes from the raw or the 0.01 m²-rounded area, and whatever the order of the float
    operations, tax / mu is ≤ 5 and rounds to 5.00: the inclusive bound of RULES.md §3 decides.
    """
    def ratios(tax: float) -> list[float]:
        out = []
        for a in (area_m2, round_m2(area_m2)):
            out += [tax / (a / MU_M2), tax * MU_M2 / a, tax / (a * 3 / 2000), tax * 2000 / 3 / a]
        return out

    tax = math.floor(5 * area_m2 / MU_M2 * 100) / 100
    while any(r > 5 for r in ratios(tax)):
        tax = round(tax - 0.01, 2)
    assert all(round(r, 2) == 5.0 for r in ratios(tax))
    return tax


# --- buildings -------------------------------------------------------------------------------

SPLIT_OK_SIZE = (200, 150)
SPLIT_OK_CUT_X = 100  # local x of the cut line: 2 buildings + support land west, 2 buildings east


def _split_ok_layout() -> Layout:
    return Layout(
        support=box(1.5, 1.5, 41.5, 38.5),
        office=box(4.5, 4.5, 38.5, 26.5),
        workshops=[box(8, 52, 90, 142), box(110, 8, 192, 68), box(110, 82, 192, 142)],
    )


def _layout_for(lot: Lot, rng: np.random.Generator, big_support: bool, attempt: int = 0) -> Layout:
    p, area = lot.purpose, lot.local.area
    if p in NOT_BUILT:
        return Layout(None, None, [])
    if lot.role == "split_ok":
        return _split_ok_layout()
    if p in ("halted", "halted_invest", "halted_recent"):
        return layout_buildings(lot.local, rng, n_work=1 + int(rng.random() < 0.3), support_area=None,
                                front_only=0.4 if attempt == 0 else 1.0, shrink=(0.35, 0.6))
    pct = rng.uniform(0.085, 0.12) if big_support else rng.uniform(0.03, 0.06)
    support = max(250.0, pct * area)
    if p == "under_construction":
        return layout_buildings(lot.local, rng, n_work=int(rng.integers(1, 4)),
                                support_area=support if rng.random() < 0.5 else None,
                                front_only=0.7, shrink=(0.5, 0.8))
    if lot.role in ("ire", "large"):
        n_work = 7
    else:
        n_work = int(np.clip(round(area / MU_M2 / 14) + int(rng.integers(0, 2)), 1, 7))
    with_support = lot.role != "generic" or rng.random() < (0.88 if attempt == 0 else 0.5)
    return layout_buildings(lot.local, rng, n_work=n_work + attempt, support_area=support if with_support else None,
                            setback=5.0 - attempt, spacing=12.0 - attempt)


def _check_buildings(parcel: Polygon, support: Polygon | None, office: Polygon | None,
                     workshops: list[Polygon]) -> None:
    blds = ([office] if office is not None else []) + workshops
    for b in blds:
        assert parcel.contains(b) and parcel.exterior.distance(b) >= 3.0, "building setback < 3 m"
    for i, a in enumerate(blds):
        for b in blds[i + 1:]:
            assert a.distance(b) > 0, "buildings touch"
    if support is not None:
        assert parcel.contains(support)
        assert support.area <= 0.15 * parcel.area
        if office is not None:
            assert support.contains(office)
        for b in workshops:
            assert support.intersection(b).area == 0, "support land cuts a building"


def _floors(rng: np.random.Generator, fps: list[float], office_fp: float | None, area: float,
            target: float, low: bool) -> tuple[list[int], int]:
    """Workshop floors (and the office's) so that FAR reaches ``target`` (or stays < 0.9 if ``low``)."""
    floors = [1] * len(fps)
    office_floors = (2 if low else int(rng.integers(3, 6))) if office_fp else 0
    def far() -> float:
        return (sum(f * a for f, a in zip(floors, fps, strict=True)) + office_floors * (office_fp or 0)) / area
    if low:
        return floors, office_floors
    while far() < target:
        cand = [i for i in range(len(fps)) if floors[i] < 6]
        if not cand:
            break
        i = min(cand, key=lambda i: (floors[i], -fps[i]))
        floors[i] += 1
    return floors, office_floors


# --- the build -------------------------------------------------------------------------------


def _town_counts(total: int) -> dict[str, int]:
    raw = {t: s * total for t, s in TOWN_SHARES.items()}
    counts = {t: max(2, math.floor(v)) for t, v in raw.items()}
    rest = total - sum(counts.values())
    for t in sorted(raw, key=lambda t: raw[t] - math.floor(raw[t]), reverse=True)[: max(rest, 0)]:
        counts[t] += 1
    return counts


def build_county(n: int, seed: int, jur: Jurisdiction) -> CountyBuild:
    """Build the showcase sample of about ``n`` current parcels (``n`` ≥ 200)."""
    if n < 200:
        raise ValueError("the county sample needs n ≥ 200 to hold every category quota")
    rng = np.random.default_rng(seed)
    out = CountyBuild()
    _lay_out(rng, n, jur, out)

    # what each parcel is for, then its facts (parents before children)
    _assign_purposes(rng, out.lots)
    for lot in out.lots:
        if lot.role == "split_ok":
            lot.purpose = "split_ok"
    merge_ok = [lot for lot in out.lots if lot.role == "merge_ok"]
    merge_ok[0].purpose, merge_ok[1].purpose = "merge_ok_early", "merge_ok_late"  # different lease ends
    numbers = _Numbers(rng)
    names = holder_names(rng, len(out.lots) + 40)[::-1]
    generic_normal = [lot for lot in out.lots if lot.role == "generic" and lot.purpose == "normal"]
    rights: dict[int, str] = {}
    for lot, right in zip(generic_normal[5::37], ["划拨"] * 5 + ["作价出资(入股)", "租赁"], strict=False):
        rights[id(lot)] = right
    for lot in sorted(out.lots, key=lambda lot: lot.role.endswith("_child")):
        lot.attrs = _facts_of(lot, rng, numbers, rights.get(id(lot), "出让"))

    big_support = _assign_holders(rng, out, names, generic_normal, rights)
    _assign_codes(rng, out.lots)
    for lot in out.lots:
        lot.attrs["name"] = _parcel_name(lot, rng)
    for lot in out.lots:
        if lot.current:
            _build_on(lot, rng, id(lot) in big_support, out)
    _holder_years(rng, out.holders)
    _declared_areas(rng, out.lots)
    _lineage_facts(rng, out.lots)
    out.disposals = _disposals(rng, out.lots)
    out.showcase = _showcase(out)
    return out


def _lay_out(rng: np.random.Generator, n: int, jur: Jurisdiction, out: CountyBuild) -> None:
    """The 开发区 grid (about 64 % of the parcels), then a cluster of blocks per town."""
    to_xy = transformer(CRS84, f"EPSG:{jur.storage_epsg}")
    dev = _place_zone(rng, round(0.64 * n), specials=_special_blocks(rng), max_width=3000,
                      heights=(240, 270), widths=(260, 420), town=False)
    _centre_zone(dev, *to_xy.transform(*DEV_ZONE_CENTER))
    for b in dev:
        b.zone = "开发区"
    zones = [dev]
    n_dev = sum(lot.current for b in dev for lot in b.lots)
    for town, count in _town_counts(n - n_dev).items():
        blocks = _place_zone(rng, count, specials=[], max_width=900 if count > 20 else 560,
                             heights=(200, 220), widths=(200, 320), town=True)
        _centre_zone(blocks, *to_xy.transform(*jur.town(town).center))
        for b in blocks:
            b.zone = town
        zones.append(blocks)
    dev_centres = {t: to_xy.transform(*jur.town(t).center) for t in DEV_ZONE_TOWNS}
    for blocks in zones:
        for b in blocks:
            _realise(b)
            for lot in b.lots:
                lot.block = b
                if b.zone == "开发区":
                    c = lot.world.centroid
                    lot.town = min(dev_centres, key=lambda t: math.dist(dev_centres[t], (c.x, c.y)))
                else:
                    lot.town = b.zone
                lot.district = jur.district_of(lot.town)
                lot.sub = 1 + b.row // 2
                out.lots.append(lot)
            out.blocks.append(b)
    _assert_layout(out.lots, jur.outline_storage)
    # lineage children live where their parents were: same town and sub-district
    for lot in out.lots:
        if lot.parents:
            lot.town, lot.district, lot.sub = lot.parents[0].town, lot.parents[0].district, lot.parents[0].sub


def _assign_holders(rng: np.random.Generator, out: CountyBuild, names: list[tuple[str, str]],
                    generic_normal: list[Lot], rights: dict[int, str]) -> set[int]:
    """One holder per supplied original parcel, some with two; children per the lineage rules.

    Returns the parcels (ids) that get a 7–15 % support land: A-rated holders, ≥ 50 mu.
    """
    used_codes: set[str] = set()
    pairs = _pair_normals(rng, generic_normal, rights)
    paired = {id(b): a for a, b in pairs}
    candidates = [lot for lot in generic_normal if lot.world.area >= 52 * MU_M2
                  and id(lot) not in paired and all(lot is not a for a, _ in pairs) and id(lot) not in rights]
    big_support = {id(lot) for lot in candidates[:2]}
    for lot in out.lots:
        if lot.attrs.get("supplied_on") is None or lot.holder is not None or id(lot) in paired:
            continue
        if lot.role in ("split_child", "merge_child", "edge_child"):
            continue
        h = _new_holder(names, used_codes, rng, lot.attrs["supplied_on"], _holder_kind(lot, big_support))
        if lot.role == "ire":
            h.name = f"天台县{h.short[:2]}小微企业园发展有限公司"
            h.short = f"{h.short[:2]}小微企业园"
        lot.holder = h
        h.lots.append(lot)
        out.holders.append(h)
        if lot.purpose == "tax_pair":
            mate = next(m for m in out.lots if m.purpose == "tax_pair" and m is not lot)
            mate.holder = h
            h.lots.append(mate)
    for lot in out.lots:
        if id(lot) in paired:
            lot.holder = paired[id(lot)].holder
        elif lot.role == "split_child":
            parent = lot.parents[0]
            siblings = [c for c in out.lots if c.parents and c.parents[0] is parent]
            if lot is max(siblings, key=lambda c: c.world.area):
                lot.holder = parent.holder  # the original holder keeps the largest lot
            else:
                lot.holder = _new_holder(names, used_codes, rng, parent.attrs["supplied_on"], "normal")
                out.holders.append(lot.holder)
        elif lot.role in ("merge_child", "edge_child"):
            lot.holder = lot.parents[0].holder
        else:
            continue
        lot.holder.lots.append(lot)
    return big_support


def _holder_years(rng: np.random.Generator, holders: list[Holder]) -> None:
    """2023 and 2024 figures of every holder whose current parcels all produce."""
    for h in holders:
        current = [lot for lot in h.lots if lot.current]
        if not current or not all(lot.purpose in IN_PRODUCTION for lot in current):
            continue
        area = sum(lot.world.area for lot in current)
        flags: list[str] = []
        if h.kind == "rating_d":
            flags = sorted(rng.choice(COMPLIANCE, size=int(rng.integers(1, 3)), replace=False).tolist(),
                           key=COMPLIANCE.index)
        elif h.kind in ("normal", "low_far") and all(lot.role == "generic" for lot in current) \
                and rng.random() < 0.05:
            flags = [str(rng.choice(COMPLIANCE))]
        for row in _years_figures(rng, "normal" if h.kind == "low_far" else h.kind, area):
            row["compliance_flags"] = ",".join(flags)
            h.years.append(row)


def _holder_kind(lot: Lot, big_support: set[int]) -> str:
    if lot.purpose == "split_ok" or id(lot) in big_support:
        return "A"
    return {"tax": "tax", "tax_pair": "tax_pair", "tax_exact5": "tax_exact5", "bigrev": "bigrev",
            "rating_d": "rating_d", "low_far": "low_far"}.get(lot.purpose, "normal")


def _pair_normals(rng: np.random.Generator, normals: list[Lot], rights: dict[int, str]) -> list[tuple[Lot, Lot]]:
    """About 16 pairs of normal parcels in the same town that one holder owns together."""
    by_town: dict[str, list[Lot]] = {}
    for lot in normals:
        if id(lot) not in rights:
            by_town.setdefault(lot.town, []).append(lot)
    pairs = []
    for town in sorted(by_town):
        lots = [by_town[town][i] for i in rng.permutation(len(by_town[town]))]
        k = min(len(lots) // 2, max(1, round(len(lots) / 14)))
        pairs += [(lots[2 * i], lots[2 * i + 1]) for i in range(k)]
    return pairs


def _indicators(rng: np.random.Generator) -> dict:
    return {"亩均税收_万元": int(rng.choice([25, 30, 35])), "容积率": float(rng.choice([1.2, 1.5, 1.8])),
            "亩均投资_万元": int(rng.choice([250, 300, 350]))}


def _facts_of(lot: Lot, rng: np.random.Generator, numbers: _Numbers, right: str) -> dict:
    if lot.role.endswith("_child"):
        a = dict(lot.parents[0].attrs)
        if lot.role == "merge_child":
            a["lease_end_on"] = min(p.attrs["lease_end_on"] for p in lot.parents)
        a["produced_by"] = {"split_child": "split", "merge_child": "merge", "edge_child": "edge_plot"}[lot.role]
        a["no_split"] = lot.role != "split_child"
        return a
    f = _timeline(rng, lot.purpose)
    supplied = f.get("supplied_on")
    approved = f.get("approved_on") if supplied is None else _approval_for(rng, supplied)
    in_zone = lot.block.zone == "开发区"
    standard = supplied is not None and supplied >= date(2019, 1, 1) and lot.role == "generic" and (
        lot.purpose == "normal_recent" or rng.random() < (0.85 if in_zone else 0.3))
    ind = _indicators(rng) if standard else None
    lease_years = {"出让": 50, "作价出资(入股)": 50, "租赁": 20}.get(right)
    a = {
        "land_use": "工业用地",
        "land_use_code": "0601",
        "ownership_nature": "国有",
        "right_type": right if supplied else None,
        "approval_no": numbers.approval_no(approved) if approved else None,
        "approved_on": approved,
        "supplied_on": supplied,
        "contract_no": numbers.contract_no(supplied, right) if supplied else None,
        "lease_end_on": add_years(supplied, lease_years) if supplied and lease_years else None,
        "far_planned": ind["容积率"] if ind else round(rng.uniform(1.2, 2.0) if in_zone else rng.uniform(1.0, 1.5), 1),
        "standard_land": bool(standard),
        "standard_land_indicators": json.dumps(ind, ensure_ascii=False) if ind else None,
        "industrial_real_estate": lot.role == "ire",
        "in_development_zone": in_zone,
        "produced_by": "original",
        "parent_codes": None,
        "no_split": False,
        "retired_on": None,
        "remarks": None,
        "_developed_frac": f["developed_frac"],
        "_invested_frac": f["invested_frac"],
        "_indicators": ind,
    }
    for k in ("agreed_start_on", "agreed_completion_on", "construction_started_on", "completed_on",
              "production_started_on", "halted_since"):
        a[k] = f.get(k)
    if supplied:
        mu = lot.world.area / MU_M2
        per_mu = rng.uniform(ind["亩均投资_万元"], ind["亩均投资_万元"] + 100) if ind else rng.uniform(150, 450)
        a["planned_investment_wan"] = round(mu * per_mu, 1)
        a["invested_wan"] = round(a["planned_investment_wan"] * f["invested_frac"], 1)
    else:
        a["planned_investment_wan"] = a["invested_wan"] = None
    if right == "划拨":
        a["remarks"] = "划拨用地"
    elif supplied and approved is None:
        a["remarks"] = "存量建设用地"
    return a


def _assign_codes(rng: np.random.Generator, lots: list[Lot]) -> None:
    """Sequences per 地籍子区, originals first: a child always gets a higher, never-used number."""
    seq: dict[tuple[str, int], int] = {}
    for lot in sorted(lots, key=lambda lot: lot.role.endswith("_child")):
        key = (lot.district, lot.sub)
        seq[key] = seq.get(key, 0) + int(rng.integers(1, 4))
        lot.code = parcel_code(lot.district, lot.sub, seq[key])


def _parcel_name(lot: Lot, rng: np.random.Generator) -> str:
    h = lot.holder
    if h is None:
        if lot.block.zone == "开发区":
            return f"天台经济开发区{lot.block.row + 1}-{lot.block.index + 1}号地块"
        return f"{lot.town}工业功能区{lot.block.index + 1}-{lot.block.lots.index(lot) + 1}号地块"
    if lot.role == "ire":
        return f"天台经济开发区{h.short}项目"
    product, trade = PRODUCTS[h.industry], h.short[:2]
    u = rng.random()
    if u < 0.45:
        return f"{trade}公司年产{int(rng.integers(2, 60)) * 5}万件{product}项目"
    if u < 0.75:
        return f"{h.short}生产基地"
    return f"{trade}公司{product}扩建项目"


def _build_on(lot: Lot, rng: np.random.Generator, big_support: bool, out: CountyBuild) -> None:
    a, area, p = lot.attrs, lot.world.area, lot.purpose
    place = lot.block.placement
    to_world = lambda g: snap_lonlat(place.apply(g))  # noqa: E731
    low = p == "low_far"
    in_production = p in IN_PRODUCTION
    if in_production:
        target = rng.uniform(1.2, 2.2) if a["in_development_zone"] else rng.uniform(1.1, 1.6)
        if a["_indicators"]:
            target = max(target, a["_indicators"]["容积率"] + 0.05)
    else:
        target = 0.0
    for attempt in range(3):  # a tight or notched site: smaller setbacks and gaps, more buildings
        try:
            lay = _layout_for(lot, rng, big_support, attempt)
        except RuntimeError:  # no room at this setback: the next attempt is less demanding
            if attempt == 2:
                raise
            continue
        support = to_world(lay.support) if lay.support is not None else None
        office = to_world(lay.office) if lay.office is not None else None
        workshops = [to_world(w) for w in lay.workshops]
        while True:
            fps = [w.area for w in workshops]
            floors, office_floors = _floors(rng, fps, office.area if office is not None else None, area,
                                            target, low)
            if p == "under_construction":
                floors = [int(rng.integers(1, 3)) for _ in fps]
            floor_area = sum(round(f * w, 2) for f, w in zip(floors, fps, strict=True)) + (
                round(office_floors * office.area, 2) if office is not None else 0.0)
            far = floor_area / area
            if low and far >= 0.9 and len(workshops) > 1:
                workshops.pop()
                continue
            break
        if low or not in_production or far >= 1.1 or lot.role == "split_ok":
            break
    if low:
        assert far < 0.9, f"low-FAR parcel reached {far:.2f}"
    elif in_production:
        assert far >= 1.1, f"{lot.role} parcel of {area:.0f} m² only reaches FAR {far:.2f}"
    _check_buildings(lot.world, support, office, workshops)
    number = 0
    kind = "生活服务" if rng.random() < 0.2 else "行政办公"
    if office is not None:
        number += 1
        out.buildings.append({"parcel_code": lot.code, "number": str(number), "floors": office_floors,
                              "height_m": round(office_floors * 3.6 + 1.5, 1),
                              "floor_area_m2": round(office_floors * office.area, 2),
                              "use": "宿舍楼" if kind == "生活服务" else "办公楼", "geometry": office})
    for i, (w, f) in enumerate(zip(workshops, floors, strict=True)):
        number += 1
        use = "标准厂房" if lot.role == "ire" else ("仓库" if i == len(workshops) - 1 and i >= 2 else "厂房")
        height = rng.uniform(8, 12) if f == 1 else 4.5 + (f - 1) * 4.2
        out.buildings.append({"parcel_code": lot.code, "number": str(number), "floors": f,
                              "height_m": round(height, 1), "floor_area_m2": round(f * w.area, 2),
                              "use": use, "geometry": w})
    if support is not None:
        out.support.append({"parcel_code": lot.code, "kind": kind,
                            "floor_area_m2": round(office_floors * office.area, 2) if office is not None else 0.0,
                            "geometry": support})
    footprint = sum(w.area for w in workshops) + (office.area if office is not None else 0.0)
    frac = a.pop("_developed_frac")
    a.pop("_invested_frac")
    if frac is None:  # 批而未供
        a["developed_area_m2"] = a["floor_area_m2"] = a["far_actual"] = None
    else:
        developed = area if frac >= 1 else max(frac * area, footprint * 1.15)
        if p in ("halted", "halted_recent"):
            assert developed < area / 3 * 0.95, "halted parcel developed too much"
        a["developed_area_m2"] = round(developed, 2)
        a["floor_area_m2"] = round(floor_area, 2)
        a["far_actual"] = round(far, 2)


def _lineage_facts(rng: np.random.Generator, lots: list[Lot]) -> None:
    """Retirement dates, parent codes and remarks, and the facts of the retired parents."""
    children: dict[int, list[Lot]] = {}
    for lot in lots:
        for p in lot.parents:
            children.setdefault(id(p), []).append(lot)
    for lot in lots:
        if lot.current or id(lot) not in children:
            continue
        kids = children[id(lot)]
        if lot.role == "split_parent":
            when = _rand_date(rng, _d(2022, 4, 1), _d(2023, 10, 31))
            lot.attrs["remarks"] = f"{when.isoformat()} 分割为 " + "、".join(k.code for k in kids)
            floor = sum(k.attrs["floor_area_m2"] for k in kids)
        elif lot.role == "merge_parent":
            kid = kids[0]
            when = kid.attrs.get("_merged_on") or _rand_date(rng, _d(2022, 6, 1), _d(2024, 6, 30))
            kid.attrs["_merged_on"] = when
            others = [p.code for p in kid.parents if p is not lot]
            lot.attrs["remarks"] = f"{when.isoformat()} 与 {'、'.join(others)} 合并为 {kid.code}"
            floor = kid.attrs["far_actual"] * lot.world.area
        else:  # edge_parent
            kid = kids[0]
            when = _rand_date(rng, _d(2022, 6, 1), _d(2024, 12, 31))
            lot.attrs["remarks"] = f"{when.isoformat()} 零增地技改增加零星边角地，变更为 {kid.code}"
            floor = kid.attrs["floor_area_m2"] * 0.8
        lot.attrs["retired_on"] = when
        lot.attrs["developed_area_m2"] = round(lot.world.area, 2)
        lot.attrs["floor_area_m2"] = round(floor, 2)
        lot.attrs["far_actual"] = round(floor / lot.world.area, 2)
    for lot in lots:
        if lot.parents:
            lot.attrs["parent_codes"] = ",".join(p.code for p in lot.parents)
            if lot.role == "split_child":
                lot.attrs["remarks"] = f"由 {lot.parents[0].code} 分割转让产生，工业用地不得二次分割"
            elif lot.role == "merge_child":
                lot.attrs["remarks"] = "合并转让产生，不得分割；出让终止日期按最早者统一"
            else:
                plot = lot.world.area - lot.parents[0].world.area
                lot.attrs["remarks"] = f"零增地技改增加零星边角地 {plot:.2f}㎡，原则上不得分割"
    for lot in lots:
        for k in ("_developed_frac", "_invested_frac", "_indicators", "_merged_on"):
            lot.attrs.pop(k, None)


def _disposals(rng: np.random.Generator, lots: list[Lot]) -> list[dict]:
    rows = []
    for lot in lots:
        if lot.role == "split_child" and lot.holder is not lot.parents[0].holder:
            rows.append((lot, "协议转让", lot.world.area, lot.parents[0].attrs["retired_on"],
                         f"分割转让，原宗地 {lot.parents[0].code}"))
        elif lot.role == "merge_child":
            absorbed = lot.parents[1].holder.name
            rows.append((lot, "兼并重组", lot.world.area, lot.parents[0].attrs["retired_on"],
                         f"{lot.holder.name}兼并{absorbed}，合并宗地 {lot.attrs['parent_codes']}"))
        elif lot.role == "edge_child":
            plot = lot.world.area - lot.parents[0].world.area
            rows.append((lot, "二次开发/技改", lot.world.area, lot.parents[0].attrs["retired_on"],
                         f"零增地技改，增加零星边角地 {plot:.2f}㎡"))
    for purpose, method, k, note in (
        ("idle_gt2", "收回", 3, "闲置满两年，已下达闲置土地认定书，拟无偿收回"),
        ("tax", "收购储备", 2, "低效用地，列入年度收储计划"),
        ("rating_d", "协议转让", 1, "低效企业退出，拟协议转让给优质企业"),
        ("normal", "二次开发/技改", 3, "零增地技改，容积率由0.8提高至1.5以上"),
    ):
        chosen = [lot for lot in lots if lot.current and lot.role == "generic" and lot.purpose == purpose][:k]
        for lot in chosen:
            when = _rand_date(rng, _d(2022, 3, 1), _d(2025, 6, 15)) if purpose != "idle_gt2" else \
                _rand_date(rng, _d(2025, 1, 1), _d(2025, 6, 15))
            rows.append((lot, method, lot.world.area, when, note))
    rows.sort(key=lambda r: (r[3], r[0].code))
    return [{"parcel_code": lot.code, "method": m, "area_m2": round(area, 2), "disposed_on": when, "note": note}
            for lot, m, area, when, note in rows]


def _showcase(out: CountyBuild) -> dict:
    lots = out.lots
    one = lambda role: next(lot for lot in lots if lot.role == role)  # noqa: E731
    split_ok = one("split_ok")
    p = split_ok.block.placement
    assert p.angle_deg == 0 and p.shear == 0
    x = p.x0 + SPLIT_OK_CUT_X
    y0, y1 = p.y0 - 2, p.y0 + SPLIT_OK_SIZE[1] + 2
    west = shapely.intersection(split_ok.world, box(x - 1000, y0, x, y1))
    east = shapely.intersection(split_ok.world, box(x, y0, x + 1000, y1))
    merge_ok = [lot for lot in lots if lot.role == "merge_ok"]
    shared = shapely.intersection(merge_ok[0].world.boundary, merge_ok[1].world.boundary)
    edge_ok = one("edge_ok")
    strip = edge_ok.block.strip
    return {
        "split_ok": {
            "parcel_code": split_ok.code,
            "cut_line_epsg4549": [[float(x), float(y0)], [float(x), float(y1)]],
            "west_lot_area_m2": round(west.area, 2), "east_lot_area_m2": round(east.area, 2),
            "west_buildings": ["1", "2"], "east_buildings": ["3", "4"],
        },
        "merge_ok": {"parcel_codes": [lot.code for lot in merge_ok],
                     "shared_edge_m": round(shared.length, 2),
                     "lease_end_on": [lot.attrs["lease_end_on"].isoformat() for lot in merge_ok]},
        "edge_ok": {"parcel_code": edge_ok.code, "strip_wkt_epsg4549": shapely.to_wkt(strip, rounding_precision=-1),
                    "strip_wkt_crs84": shapely.to_wkt(to_lonlat(strip), rounding_precision=7),
                    "strip_area_m2": round(strip.area, 2),
                    "strip_share": round(strip.area / edge_ok.world.area, 4)},
        "produced_by_split": [lot.code for lot in lots if lot.role == "split_child"],
        "produced_by_merge": [lot.code for lot in lots if lot.role == "merge_child"],
        "produced_by_edge_plot": [lot.code for lot in lots if lot.role == "edge_child"],
        "industrial_real_estate": one("ire").code,
        "tax_per_mu_exactly_5": [lot.code for lot in lots if lot.purpose == "tax_exact5"],
        "low_tax_holder_with_two_parcels": [lot.code for lot in lots if lot.purpose == "tax_pair"],
    }


def _declared_areas(rng: np.random.Generator, lots: list[Lot]) -> None:
    """What the survey declared: mostly the computed area within 0.5 %, a handful off by over 1 %."""
    off = {id(lot) for lot in [lot for lot in lots if lot.current and lot.role == "generic"
                               and lot.purpose == "normal"][3::41][:6]}
    for lot in lots:
        area = lot.world.area
        if id(lot) in off:
            factor = 1 + rng.choice([-1, 1]) * rng.uniform(0.015, 0.04)
        elif rng.random() < 0.45:
            factor = 1.0
        else:
            factor = 1 + rng.uniform(-0.004, 0.004)
        lot.attrs["declared_area_m2"] = round(area * factor, 2)
