// Drawing and adjusting polygons on the map, small enough to need no plug-in:
// click to add a vertex, double-click (or finish()) to close; drag any vertex of an editable polygon.
import { setData } from "./map.js";

export class Draw {
  constructor(map, { onCreate, onEdit }) {
    this.map = map;
    this.onCreate = onCreate;
    this.onEdit = onEdit;
    this.points = null;     // [lon, lat] of the polygon being drawn
    this.editable = [];     // features whose vertices can be dragged
    this.dragging = null;   // {feature index, ring, vertex}
    map.on("click", (e) => { if (this.points) { this.points.push([e.lngLat.lng, e.lngLat.lat]); this.render(); } });
    map.on("dblclick", (e) => { if (this.points) { e.preventDefault(); this.finish(); } });
    map.on("mousedown", "wb-draw-vertex", (e) => this.grab(e));
    map.on("touchstart", "wb-draw-vertex", (e) => this.grab(e));
    map.on("mousemove", (e) => this.move(e));
    map.on("touchmove", (e) => this.move(e));
    map.on("mouseup", () => this.drop());
    map.on("touchend", () => this.drop());
    map.on("mouseenter", "wb-draw-vertex", () => { map.getCanvas().style.cursor = "move"; });
    map.on("mouseleave", "wb-draw-vertex", () => { map.getCanvas().style.cursor = ""; });
  }

  get drawing() { return this.points !== null; }

  start() {
    this.points = [];
    this.map.doubleClickZoom.disable();
    this.map.getCanvas().style.cursor = "crosshair";
    this.render();
  }

  /** Close the polygon being drawn; double-clicking adds the same point twice, so duplicates are dropped. */
  finish() {
    const pts = (this.points || []).filter((p, i, a) => i === 0 || p[0] !== a[i - 1][0] || p[1] !== a[i - 1][1]);
    this.points = null;
    this.map.getCanvas().style.cursor = "";
    setTimeout(() => this.map.doubleClickZoom.enable(), 0);
    if (pts.length >= 3) this.onCreate({ type: "Polygon", coordinates: [[...pts, pts[0]]] });
    this.render();
  }

  cancel() { this.points = null; this.render(); }

  setEditable(features) { this.editable = features; this.render(); }

  grab(e) {
    const p = e.features?.[0]?.properties;
    if (!p || p.feature === undefined || p.feature < 0) return;
    e.preventDefault();
    this.dragging = { feature: p.feature, ring: p.ring, vertex: p.vertex };
    this.map.dragPan.disable();
  }

  move(e) {
    if (!this.dragging) return;
    const { feature, ring, vertex } = this.dragging;
    const coords = this.editable[feature].geometry.coordinates[ring];
    const pt = [e.lngLat.lng, e.lngLat.lat];
    coords[vertex] = pt;
    if (vertex === 0) coords[coords.length - 1] = pt;
    this.render();
    this.onEdit?.(feature, false);
  }

  drop() {
    if (!this.dragging) return;
    const { feature } = this.dragging;
    this.dragging = null;
    this.map.dragPan.enable();
    this.onEdit?.(feature, true);
  }

  render() {
    const features = [];
    this.editable.forEach((f, fi) => {
      if (f.geometry?.type !== "Polygon") return;
      f.geometry.coordinates.forEach((ring, ri) => ring.slice(0, -1).forEach((c, vi) => features.push({
        type: "Feature", geometry: { type: "Point", coordinates: c }, properties: { feature: fi, ring: ri, vertex: vi },
      })));
    });
    if (this.points?.length) {
      const pts = this.points;
      features.push({ type: "Feature", properties: { feature: -1 },
        geometry: pts.length >= 3 ? { type: "Polygon", coordinates: [[...pts, pts[0]]] } : { type: "LineString", coordinates: pts.length > 1 ? pts : [pts[0], pts[0]] } });
      pts.forEach((c) => features.push({ type: "Feature", geometry: { type: "Point", coordinates: c }, properties: { feature: -1 } }));
    }
    setData(this.map, "wb-draw", { type: "FeatureCollection", features });
  }
}
