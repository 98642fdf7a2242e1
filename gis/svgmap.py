"""Shapely geometries in the storage CRS (x = easting, y = northing, metres) → a self-contained SVG map.

North is up: a larger northing is drawn higher (a smaller SVG y). The drawing is fitted to a fixed
viewBox with a margin, keeps its aspect ratio (one scale for both axes) and carries a scale bar of a
round length in metres and a north arrow. Styles are SVG presentation attributes, not CSS, so the
map looks the same in a browser, in WeasyPrint's PDF and pasted into another document; there are no
external assets.

Every shape carries ``class`` (its kind, plus ``offender`` when highlighted) and ``data-label``,
so pages and tests can find e.g. the cut building: ``class="building offender" data-label="3"``.

Example
-------
>>> from shapely import box
>>> svg = render_map([MapShape("parent", box(0, 0, 100, 50)), MapShape("lot", box(0, 0, 50, 50), label="A")])
>>> svg.startswith("<svg") and 'data-label="A"' in svg
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import shapely
from shapely.geometry.base import BaseGeometry

__all__ = ["KINDS", "LOT_COLOURS", "MapShape", "MapView", "fit", "nice_length", "render_map"]

KINDS = ("parent", "lot", "support", "building", "marker")
LOT_COLOURS = ("#8ecae6", "#ffd166", "#95d5b2", "#cdb4db", "#f4a261", "#a8dadc", "#e9c46a", "#b5e48c")
OFFENDER = "#d62828"
FONT = "WenQuanYi Micro Hei, Noto Sans CJK SC, sans-serif"

_STYLE = {  # kind → (fill, fill-opacity, stroke, stroke-width, dash)
    "parent": ("none", 1.0, "#1d3557", 2.4, None),
    "lot": (None, 0.55, "#1d3557", 1.0, "6 3"),
    "support": ("#ffe5d9", 0.9, "#9c6644", 1.0, "3 2"),
    "building": ("#adb5bd", 0.95, "#343a40", 0.8, None),
    "marker": (OFFENDER, 0.25, OFFENDER, 2.0, None),
}


@dataclass(frozen=True)
class MapShape:
    """One thing to draw: its kind (:data:`KINDS`), a geometry in the storage CRS, a label, a highlight."""

    kind: str
    geometry: BaseGeometry
    label: str | None = None
    highlight: bool = False
    title: str | None = None


@dataclass(frozen=True)
class MapView:
    """The storage-CRS → SVG mapping: ``svg_x = ox + (x − minx)·scale``, ``svg_y = oy + (maxy − y)·scale``."""

    minx: float
    maxy: float
    scale: float  # SVG units per metre
    ox: float
    oy: float

    def point(self, x: float, y: float) -> tuple[float, float]:
        return self.ox + (x - self.minx) * self.scale, self.oy + (self.maxy - y) * self.scale


def nice_length(max_m: float) -> float:
    """The longest round length (1, 2 or 5 × 10ⁿ m) not above ``max_m``.

    >>> nice_length(740), nice_length(19.9), nice_length(1)
    (500.0, 10.0, 1.0)
    """
    if not max_m > 0 or not math.isfinite(max_m):
        return 1.0
    power = 10.0 ** math.floor(math.log10(max_m))
    for step in (5.0, 2.0, 1.0):
        if step * power <= max_m * (1 + 1e-9):
            return step * power
    return power


def fit(bounds: tuple[float, float, float, float], width: float, height: float, margin: float) -> MapView:
    """The view that fits ``bounds`` (minx, miny, maxx, maxy) inside the box, centred, with ``margin``."""
    minx, miny, maxx, maxy = bounds
    dx, dy = max(maxx - minx, 1e-6), max(maxy - miny, 1e-6)
    scale = min((width - 2 * margin) / dx, (height - 2 * margin) / dy)
    ox = margin + ((width - 2 * margin) - dx * scale) / 2
    oy = margin + ((height - 2 * margin) - dy * scale) / 2
    return MapView(minx, maxy, scale, ox, oy)


def _f(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _ring(view: MapView, coords) -> str:
    pts = [view.point(float(x), float(y)) for x, y in coords]
    if not pts:
        return ""
    return "M" + " L".join(f"{_f(x)} {_f(y)}" for x, y in pts) + " Z"


def _path_data(view: MapView, geom: BaseGeometry) -> str:
    parts = []
    for poly in shapely.get_parts(geom):
        if poly.geom_type == "Polygon":
            parts.append(_ring(view, poly.exterior.coords))
            parts.extend(_ring(view, r.coords) for r in poly.interiors)
        elif poly.geom_type in ("LineString", "LinearRing"):
            pts = [view.point(float(x), float(y)) for x, y in poly.coords]
            parts.append("M" + " L".join(f"{_f(x)} {_f(y)}" for x, y in pts))
        elif poly.geom_type.startswith("Multi") or poly.geom_type == "GeometryCollection":
            parts.append(_path_data(view, poly))
    return " ".join(p for p in parts if p)


def _attrs(**kw: object) -> str:
    return " ".join(f'{k.rstrip("_").replace("_", "-")}="{escape(str(v), quote=True)}"'
                    for k, v in kw.items() if v is not None)


def _shape(view: MapView, s: MapShape, colour: str | None) -> list[str]:
    fill, opacity, stroke, width, dash = _STYLE.get(s.kind, ("none", 1.0, "#495057", 1.0, None))
    fill = colour or fill or "#dee2e6"
    if s.highlight:
        stroke, width, dash = OFFENDER, max(width * 2.5, 2.5), None
        if s.kind in ("building", "support"):
            fill, opacity = "#f08080", 0.9
    cls = f"{s.kind} offender" if s.highlight else s.kind
    paint = {"fill": fill, "fill_opacity": opacity, "stroke": stroke, "stroke_width": width}
    title = f"<title>{escape(s.title)}</title>" if s.title else ""
    parts = list(shapely.get_parts(s.geometry))
    out = []
    for p in (p for p in parts if p.geom_type == "Point"):
        x, y = view.point(p.x, p.y)
        cross = (f"M{_f(x - 6)} {_f(y - 6)} L{_f(x + 6)} {_f(y + 6)} "
                 f"M{_f(x - 6)} {_f(y + 6)} L{_f(x + 6)} {_f(y - 6)}")
        out.append(f"<g {_attrs(class_=cls, data_label=s.label)}>{title}"
                   f"<circle {_attrs(cx=_f(x), cy=_f(y), r=9, **paint)}/>"
                   f"<path {_attrs(d=cross, stroke=stroke, stroke_width=width)}/></g>")
    areal = [p for p in parts if p.geom_type != "Point"]
    d = _path_data(view, shapely.geometrycollections(areal)) if areal else ""
    if d:
        out.append(f"<path {_attrs(class_=cls, data_label=s.label, d=d, **paint, fill_rule='evenodd')} "
                   f"{_attrs(stroke_dasharray=dash, stroke_linejoin='round')}>{title}</path>")
    return out


def _label(view: MapView, s: MapShape) -> str:
    if not s.label or s.kind == "parent" or s.geometry.is_empty:
        return ""
    rp = shapely.point_on_surface(s.geometry)
    x, y = view.point(rp.x, rp.y)
    anchor = "middle"
    if s.kind == "marker":  # beside the circle, so a lot label at the same spot stays readable
        x, anchor = x + 12, "start"
    font = {"font_size": {"lot": 18}.get(s.kind, 10),
            "font_weight": "bold" if s.kind == "lot" or s.highlight else "normal",
            "fill": OFFENDER if s.highlight else ("#1d3557" if s.kind == "lot" else "#212529")}
    halo = {"stroke": "#ffffff", "stroke_width": 3 if s.kind == "lot" else 2, "paint_order": "stroke"}
    return (f"<text {_attrs(class_=f'label label-{s.kind}', x=_f(x), y=_f(y), **font, text_anchor=anchor)} "
            f"{_attrs(dominant_baseline='central', **halo)}>{escape(s.label)}</text>")


def _scale_bar(view: MapView, width: float, height: float, margin: float) -> str:
    length = nice_length((width - 2 * margin) * 0.3 / view.scale)
    px = length * view.scale
    x0, y0 = margin, height - margin * 0.55
    half = px / 2
    text = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    return (f'<g class="scale-bar" data-length-m="{length:g}" data-length-px="{_f(px)}">'
            f'<rect x="{_f(x0)}" y="{_f(y0 - 4)}" width="{_f(half)}" height="4" fill="#212529"/>'
            f'<rect x="{_f(x0 + half)}" y="{_f(y0 - 4)}" width="{_f(half)}" height="4" fill="#ffffff" '
            f'stroke="#212529" stroke-width="0.8"/>'
            f'<text x="{_f(x0)}" y="{_f(y0 - 8)}" font-size="10" fill="#212529" text-anchor="middle">0</text>'
            f'<text x="{_f(x0 + px)}" y="{_f(y0 - 8)}" font-size="10" fill="#212529" text-anchor="middle">'
            f'{escape(text)}</text></g>')


def _north_arrow(width: float, margin: float) -> str:
    x, y = width - margin - 6, margin + 4
    return (f'<g class="north-arrow"><path d="M{_f(x)} {_f(y)} L{_f(x + 9)} {_f(y + 28)} L{_f(x)} {_f(y + 21)} Z" '
            f'fill="#212529"/><path d="M{_f(x)} {_f(y)} L{_f(x - 9)} {_f(y + 28)} L{_f(x)} {_f(y + 21)} Z" '
            f'fill="#ffffff" stroke="#212529" stroke-width="0.8"/>'
            f'<text x="{_f(x)}" y="{_f(y + 42)}" font-size="11" font-weight="bold" fill="#212529" '
            f'text-anchor="middle">N 北</text></g>')


def render_map(shapes: Sequence[MapShape], *, width: float = 680, height: float = 460, margin: float = 28,
               title: str | None = None) -> str:
    """An SVG document (a string, for inline use in HTML) of ``shapes``, north up, with scale bar and north arrow.

    Shapes are drawn by kind (parent, lots, support land, buildings, markers), then every highlighted
    one in a last layer so a red outline is never hidden under a neighbour; lots take
    :data:`LOT_COLOURS` in the order given (also when highlighted).
    """
    drawn = [s for s in shapes if s.geometry is not None and not s.geometry.is_empty]
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="case-map" viewBox="0 0 {_f(width)} {_f(height)}" '
            f'width="{_f(width)}" height="{_f(height)}" font-family="{FONT}" role="img"')
    head += f' aria-label="{escape(title, quote=True)}">' if title else ">"
    parts = [head, f'<rect class="frame" x="0.5" y="0.5" width="{_f(width - 1)}" height="{_f(height - 1)}" '
                   'fill="#fbfcfd" stroke="#adb5bd"/>']
    if title:
        parts.append(f"<title>{escape(title)}</title>")
    if not drawn:
        parts.append(f'<text x="{_f(width / 2)}" y="{_f(height / 2)}" text-anchor="middle" font-size="14" '
                     'fill="#6c757d">无图形 / no geometry</text></svg>')
        return "".join(parts)
    minx, miny, maxx, maxy = shapely.total_bounds([s.geometry for s in drawn]).tolist()
    pad = max(maxx - minx, maxy - miny) * 0.02 + 1.0  # point markers alone still get a frame
    view = fit((minx - pad, miny - pad, maxx + pad, maxy + pad), width, height, margin)
    order = {k: i for i, k in enumerate(KINDS)}
    ranked = sorted(enumerate(drawn), key=lambda t: (order.get(t[1].kind, len(KINDS)), t[0]))
    lot_index = {i: n for n, (i, s) in enumerate((i, s) for i, s in enumerate(drawn) if s.kind == "lot")}
    labels = []
    for layer in (*KINDS, "other", "offenders"):
        members = [(i, s) for i, s in ranked if layer == ("offenders" if s.highlight else
                                                           s.kind if s.kind in KINDS else "other")]
        if not members:
            continue
        parts.append(f'<g class="layer layer-{layer}">')
        for i, s in members:
            colour = LOT_COLOURS[lot_index[i] % len(LOT_COLOURS)] if s.kind == "lot" else None
            parts.extend(_shape(view, s, colour))
            labels.append(_label(view, s))
        parts.append("</g>")
    parts.append('<g class="labels">' + "".join(labels) + "</g>")
    parts.append(_scale_bar(view, width, height, margin))
    parts.append(_north_arrow(width, margin))
    parts.append("</svg>")
    return "".join(parts)
