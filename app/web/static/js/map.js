// The map: county outline + our own vector tiles (no external basemap unless configured).
import { auth } from "./api.js";

export const COLORS = {
  approved_unsupplied: "#e6a23c", supplied_unused: "#d9534f", low_efficiency: "#8e44ad", none: "#7fa7c9",
};
export const CATEGORIES = Object.keys(COLORS);
const EMPTY = { type: "FeatureCollection", features: [] };
/** Below this zoom the map draws the overview grid (count per cell and category), from it the parcels. */
export const DETAIL_ZOOM = 13;
let tileVersion = "";
let overviewFilter = "";

function tiles(collection, extra = {}) {
  const q = new URLSearchParams(extra);
  if (tileVersion) q.set("v", tileVersion);
  const s = q.toString();
  return [`${location.origin}/ogc/collections/${collection}/tiles/WebMercatorQuad/{z}/{x}/{y}${s ? `?${s}` : ""}`];
}

function overviewTiles() {
  return tiles("parcels", overviewFilter ? { grid: 64, filter: overviewFilter } : { grid: 64 });
}

function style(j) {
  const sources = {
    county: { type: "geojson", data: j.outline },
    overview: { type: "vector", tiles: overviewTiles(), minzoom: 0, maxzoom: DETAIL_ZOOM - 1, bounds: j.bbox },
    parcels: { type: "vector", tiles: tiles("parcels"), minzoom: DETAIL_ZOOM, maxzoom: 16, bounds: j.bbox,
      promoteId: "parcel_code" },
    buildings: { type: "vector", tiles: tiles("buildings"), minzoom: 13, maxzoom: 16, bounds: j.bbox },
  };
  const layers = [{ id: "bg", type: "background", paint: { "background-color": "#eef0ea" } }];
  if (j.basemap?.tiles) {
    sources.basemap = { type: "raster", tiles: [j.basemap.tiles], tileSize: 256, attribution: j.basemap.attribution || "" };
    layers.push({ id: "basemap", type: "raster", source: "basemap" });
  }
  const cat = ["match", ["get", "category"], ...CATEGORIES.flatMap((c) => [c, COLORS[c]]), "#999"];
  layers.push(
    { id: "county-fill", type: "fill", source: "county", paint: { "fill-color": "#ffffff", "fill-opacity": 0.55 } },
    { id: "county-line", type: "line", source: "county", paint: { "line-color": "#6b7b8c", "line-width": 1.5, "line-dasharray": [4, 2] } },
    { id: "overview-fill", type: "fill", source: "overview", "source-layer": "parcels_overview", maxzoom: DETAIL_ZOOM,
      layout: { "fill-sort-key": ["get", "rank"] },
      paint: { "fill-color": cat, "fill-opacity": ["case", ["==", ["get", "category"], "none"], 0.55, 0.9] } },
    { id: "parcels-fill", type: "fill", source: "parcels", "source-layer": "parcels", minzoom: DETAIL_ZOOM,
      paint: { "fill-color": cat, "fill-opacity": ["case", ["boolean", ["feature-state", "hover"], false], 0.95, 0.72] } },
    { id: "parcels-line", type: "line", source: "parcels", "source-layer": "parcels", minzoom: 12,
      paint: { "line-color": "#4a4a4a", "line-width": 0.6 } },
    { id: "buildings-fill", type: "fill", source: "buildings", "source-layer": "buildings", minzoom: 13,
      paint: { "fill-color": "#5c5c5c", "fill-opacity": 0.35 } },
    { id: "parcel-selected", type: "line", source: "parcels", "source-layer": "parcels", filter: ["==", ["get", "parcel_code"], ""],
      paint: { "line-color": "#00e5ff", "line-width": 3 } },
  );
  return { version: 8, sources, layers };
}

const WB_SOURCES = ["wb-parent", "wb-lots", "wb-buildings", "wb-support", "wb-hl", "wb-points", "wb-draw", "wb-children"];
const WB_LAYERS = [
  { id: "wb-parent-line", type: "line", source: "wb-parent", paint: { "line-color": "#0b3d91", "line-width": 3 } },
  { id: "wb-lots-fill", type: "fill", source: "wb-lots", paint: { "fill-color": ["get", "color"], "fill-opacity": 0.35 } },
  { id: "wb-lots-line", type: "line", source: "wb-lots", paint: { "line-color": ["get", "color"], "line-width": 2 } },
  { id: "wb-support-fill", type: "fill", source: "wb-support", paint: { "fill-color": "#2e8b57", "fill-opacity": 0.3 } },
  { id: "wb-buildings-fill", type: "fill", source: "wb-buildings", paint: { "fill-color": "#444", "fill-opacity": 0.45 } },
  { id: "wb-buildings-line", type: "line", source: "wb-buildings", paint: { "line-color": "#222", "line-width": 1 } },
  { id: "wb-hl-fill", type: "fill", source: "wb-hl", filter: ["!=", ["get", "kind"], "lot"],
    paint: { "fill-color": "#ff1a1a", "fill-opacity": 0.6 } },
  { id: "wb-hl-line", type: "line", source: "wb-hl", filter: ["!=", ["get", "kind"], "lot"],
    paint: { "line-color": "#ff0000", "line-width": 3.5 } },
  { id: "wb-hl-lot", type: "line", source: "wb-hl", filter: ["==", ["get", "kind"], "lot"],
    paint: { "line-color": "#ff0000", "line-width": 2.5, "line-dasharray": [3, 2] } },
  { id: "wb-points", type: "circle", source: "wb-points",
    paint: { "circle-radius": 9, "circle-color": "rgba(255,0,0,0.25)", "circle-stroke-color": "#f00", "circle-stroke-width": 2.5 } },
  { id: "wb-children-line", type: "line", source: "wb-children", paint: { "line-color": "#00a86b", "line-width": 3 } },
  { id: "wb-draw-fill", type: "fill", source: "wb-draw", filter: ["==", ["geometry-type"], "Polygon"],
    paint: { "fill-color": "#ff9800", "fill-opacity": 0.25 } },
  { id: "wb-draw-line", type: "line", source: "wb-draw", filter: ["!=", ["geometry-type"], "Point"],
    paint: { "line-color": "#ff6d00", "line-width": 2, "line-dasharray": [2, 1] } },
  { id: "wb-draw-vertex", type: "circle", source: "wb-draw", filter: ["==", ["geometry-type"], "Point"],
    paint: { "circle-radius": 5, "circle-color": "#fff", "circle-stroke-color": "#ff6d00", "circle-stroke-width": 2 } },
];

/** The workbench's sources and layers, added after the first paint (fewer shaders to compile before it). */
export function addWorkbenchLayers(map) {
  for (const s of WB_SOURCES) if (!map.getSource(s)) map.addSource(s, { type: "geojson", data: EMPTY });
  for (const l of WB_LAYERS) if (!map.getLayer(l.id)) map.addLayer(l);
  return WB_LAYERS.map((l) => l.id);
}

/** Build the map; resolves once the parcels are on screen (marks `landgis:map-ready` for the speed test). */
export function createMap(j) {
  const map = new maplibregl.Map({
    container: "map", style: style(j), bounds: j.bbox, fitBoundsOptions: { padding: 20 },
    maxZoom: 20, attributionControl: false, dragRotate: false, pitchWithRotate: false,
    transformRequest: (url) => (url.startsWith(location.origin) ? { url, headers: auth.headers() } : { url }),
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
  if (j.basemap?.attribution) map.addControl(new maplibregl.AttributionControl({ compact: true }));
  let hovered = null;
  map.on("mousemove", "parcels-fill", (e) => {
    map.getCanvas().style.cursor = "pointer";
    const code = e.features[0]?.properties.parcel_code;
    if (hovered !== code) {
      if (hovered) map.setFeatureState({ source: "parcels", sourceLayer: "parcels", id: hovered }, { hover: false });
      hovered = code;
      if (code) map.setFeatureState({ source: "parcels", sourceLayer: "parcels", id: code }, { hover: true });
    }
  });
  map.on("mouseleave", "parcels-fill", () => {
    map.getCanvas().style.cursor = "";
    if (hovered) map.setFeatureState({ source: "parcels", sourceLayer: "parcels", id: hovered }, { hover: false });
    hovered = null;
  });
  const ready = new Promise((resolve) => {
    const done = () => {
      if (!map.isSourceLoaded(map.getZoom() < DETAIL_ZOOM ? "overview" : "parcels") || !map.areTilesLoaded()) return;
      map.off("idle", done);
      performance.mark("landgis:map-ready");
      document.body.dataset.mapReady = "1";
      resolve(map);
    };
    map.on("idle", done);
  });
  return { map, ready };
}

export function setData(map, source, data) {
  map.getSource(source)?.setData(data || EMPTY);
}

export function setParcelFilter(map, f) {
  const all = ["all", ["in", ["get", "category"], ["literal", f.categories]]];
  if (f.town) all.push(["==", ["get", "town"], f.town]);
  if (f.criterion) all.push(["==", ["get", "criterion"], f.criterion]);
  if (f.rating) all.push(["==", ["get", "rating"], f.rating]);
  if (f.min !== "" && f.min != null) all.push([">=", ["to-number", ["get", "area_mu"]], Number(f.min)]);
  if (f.max !== "" && f.max != null) all.push(["<=", ["to-number", ["get", "area_mu"]], Number(f.max)]);
  for (const id of ["parcels-fill", "parcels-line"]) map.setFilter(id, all);
  overviewFilter = cql(f);
  map.getSource("overview")?.setTiles(overviewTiles());
}

const quote = (v) => `'${String(v).replace(/'/g, "''")}'`;

/** The same filter as CQL2 text, for the overview tiles (counted by the server). */
export function cql(f) {
  const parts = [];
  if (f.categories.length < CATEGORIES.length) {
    parts.push(f.categories.length ? `category IN (${f.categories.map(quote).join(", ")})` : "category = ''");
  }
  if (f.town) parts.push(`town = ${quote(f.town)}`);
  if (f.criterion) parts.push(`criterion = ${quote(f.criterion)}`);
  if (f.rating) parts.push(`rating = ${quote(f.rating)}`);
  if (f.min !== "" && f.min != null) parts.push(`area_mu >= ${Number(f.min)}`);
  if (f.max !== "" && f.max != null) parts.push(`area_mu <= ${Number(f.max)}`);
  return parts.join(" AND ");
}

export function selectParcel(map, code) {
  map.setFilter("parcel-selected", ["==", ["get", "parcel_code"], code || ""]);
}

/** Fetch fresh tiles after the register changed (the browser may hold `max-age` copies). */
export function refreshTiles(map) {
  tileVersion = String(Date.now());
  for (const s of ["parcels", "buildings"]) map.getSource(s)?.setTiles(tiles(s));
  map.getSource("overview")?.setTiles(overviewTiles());
}

export function bboxOf(geojson) {
  let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
  const walk = (c) => {
    if (typeof c[0] === "number") { w = Math.min(w, c[0]); e = Math.max(e, c[0]); s = Math.min(s, c[1]); n = Math.max(n, c[1]); }
    else c.forEach(walk);
  };
  const feats = geojson.type === "FeatureCollection" ? geojson.features : [geojson];
  feats.forEach((f) => f?.geometry && walk((f.geometry || f).coordinates));
  return Number.isFinite(w) ? [[w, s], [e, n]] : null;
}

export function fitTo(map, geojson, maxZoom = 18) {
  const b = bboxOf(geojson);
  if (b) map.fitBounds(b, { padding: 60, maxZoom, duration: 0 });
}
