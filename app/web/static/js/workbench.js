// The officer workbench: pick parcels, give lots / plots (upload or draw), check, confirm, execute, report.
import { api, esc, fmt, qs, toast } from "./api.js";
import { Draw } from "./draw.js";
import { getLang, pick, t } from "./i18n.js";
import { addWorkbenchLayers, fitTo, refreshTiles, setData } from "./map.js";

const CONFIRMATIONS = { split: ["planning", "fire_safety", "environment", "contract_permits"], merge: [],
  "edge-plots": ["industrial_guidance"] };
const LOT_COLORS = ["#1e88e5", "#43a047", "#fb8c00", "#8e24aa", "#00897b", "#6d4c41", "#3949ab", "#c0ca33"];
const $ = (id) => document.getElementById(id);
const FC = (features) => ({ type: "FeatureCollection", features });

export const state = { op: "split", parcels: [], buildings: [], support: [], items: [], report: null, highlight: [] };
let map, me, draw, layers = [], picking = false, markers = [], onExecuted = () => {};

export function initWorkbench(theMap, who, { executed }) {
  map = theMap;
  me = who;
  onExecuted = executed;
  layers = addWorkbenchLayers(map);
  draw = new Draw(map, {
    onCreate: (geometry) => { $("wb-draw-done").hidden = true; addItems([{ type: "Feature", geometry, properties: {} }]); },
    onEdit: (_, done) => { showItems(); if (done) invalidate(); },
  });
  document.querySelectorAll("input[name=op]").forEach((r) => r.addEventListener("change", () => setOp(r.value)));
  $("wb-asof").value = new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10);
  let timer;
  $("wb-q").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 250); });
  $("wb-pick").addEventListener("click", () => { picking = true; toast(t("wb.picking")); });
  map.on("click", "parcels-fill", (e) => {
    if (!picking || draw.drawing) return;
    picking = false;
    addParcel(e.features[0].properties.parcel_code);
  });
  $("wb-results").addEventListener("click", (e) => {
    const li = e.target.closest("[data-code]");
    if (li) { addParcel(li.dataset.code); $("wb-results").innerHTML = ""; $("wb-q").value = ""; }
  });
  $("wb-parcels").addEventListener("click", (e) => {
    const b = e.target.closest("[data-remove]");
    if (b) { state.parcels = state.parcels.filter((p) => p.code !== b.dataset.remove); loadContext(); }
  });
  $("wb-file").addEventListener("change", upload);
  $("wb-draw").addEventListener("click", () => { draw.start(); $("wb-draw-done").hidden = false; });
  $("wb-draw-done").addEventListener("click", () => { draw.finish(); $("wb-draw-done").hidden = true; });
  $("wb-clear").addEventListener("click", () => { state.items = []; draw.cancel(); showItems(); invalidate(); });
  $("wb-lots").addEventListener("input", onLotInput);
  $("wb-lots").addEventListener("click", (e) => {
    const b = e.target.closest("[data-remove-lot]");
    if (b) { state.items.splice(Number(b.dataset.removeLot), 1); showItems(); invalidate(); }
  });
  $("wb-check").addEventListener("click", runCheck);
  $("wb-execute").addEventListener("click", confirmExecute);
  $("wb-print").addEventListener("click", () => openReport(state.report?.check_id));
  $("wb-pdf").addEventListener("click", () => downloadPdf(state.report?.check_id));
  $("rules").addEventListener("click", (e) => {
    const tr = e.target.closest("tr[data-rule]");
    if (!tr) return;
    document.querySelectorAll("#rules tr.sel").forEach((r) => r.classList.remove("sel"));
    tr.classList.add("sel");
    highlight(state.report.results.filter((r) => r.rule === tr.dataset.rule));
  });
  setOp("split");
}

export function activateWorkbench(active) {
  $("rules-wrap").hidden = !active || !state.report;
  if (!active) { picking = false; draw?.cancel(); }
  for (const id of layers) map.setLayoutProperty(id, "visibility", active ? "visible" : "none");
  markers.forEach((m) => (active ? m.addTo(map) : m.remove()));
}

export function rerenderWorkbench() { setOp(state.op, true); if (state.report) showReport(); }

function setOp(op, keep = false) {
  state.op = op;
  if (!keep) {
    if (op !== "merge" && state.parcels.length > 1) state.parcels = state.parcels.slice(0, 1);
    state.items = [];
    loadContext();
  }
  $("wb-step2").textContent = t(op === "split" ? "wb.lots" : op === "merge" ? "wb.mergeParcels" : "wb.plots");
  $("wb-merge-holder").hidden = op !== "merge";
  $("wb-edge").hidden = op !== "edge-plots";
  for (const id of ["wb-file", "wb-draw", "wb-clear"]) $(id).closest("label, .draw").hidden = op === "merge";
  document.querySelector("#wb-proposal .hint").hidden = op === "merge";
  const given = Object.fromEntries([...document.querySelectorAll("#wb-confirmations input")].map((i) => [i.name, i.checked]));
  $("wb-confirmations").innerHTML = CONFIRMATIONS[op].map((k) => `<label><input type="checkbox" name="${k}"
    ${given[k] ? "checked" : ""}> ${esc(t(`conf.${k}`))}</label>`).join("") || `<p class="hint">—</p>`;
  $("wb-confirmations").onchange = updateExecute;
  showItems();
}

async function search() {
  const q = $("wb-q").value.trim();
  if (!q) { $("wb-results").innerHTML = ""; return; }
  try {
    const r = await api.get(`/api/v1/parcels${qs({ q, limit: 8 })}`);
    $("wb-results").innerHTML = r.parcels.map((p) => `<li data-code="${esc(p.parcel_code)}">${esc(p.parcel_code)}
      · ${esc(p.name || "")} · ${fmt(p.area_mu)} 亩</li>`).join("");
  } catch (err) { toast(err.message, true); }
}

export async function addParcel(code) {
  if (state.parcels.some((p) => p.code === code)) return;
  try {
    const f = await api.get(`/ogc/collections/parcels/items/${encodeURIComponent(code)}`);
    const entry = { code, name: f.properties.name, area_mu: f.properties.area_mu, feature: f };
    state.parcels = state.op === "merge" ? [...state.parcels, entry] : [entry];
    await loadContext();
    fitTo(map, FC(state.parcels.map((p) => p.feature)));
  } catch (err) { toast(err.message, true); }
}

async function loadContext() {
  invalidate();
  $("wb-parcels").innerHTML = state.parcels.map((p) => `<li><span>${esc(p.code)} · ${esc(p.name || "")} ·
    ${fmt(p.area_mu)} 亩</span><button type="button" data-remove="${esc(p.code)}" title="${esc(t("wb.remove"))}">×</button></li>`).join("");
  setData(map, "wb-parent", FC(state.parcels.map((p) => p.feature)));
  const codes = state.parcels.map((p) => p.code);
  const fetchAll = async (collection) => (await Promise.all(codes.map((c) =>
    api.get(`/ogc/collections/${collection}/items${qs({ parcel_code: c, limit: 1000 })}`)))).flatMap((r) => r.features);
  try {
    [state.buildings, state.support] = await Promise.all([fetchAll("buildings"), fetchAll("support_land")]);
  } catch (err) { toast(err.message, true); }
  setData(map, "wb-buildings", FC(state.buildings));
  setData(map, "wb-support", FC(state.support));
  showItems();
}

async function upload() {
  const file = $("wb-file").files[0];
  if (!file) return;
  try {
    const fc = await api.upload("/api/v1/uploads", file);
    addItems(fc.features.map((f) => ({ type: "Feature", geometry: f.geometry, properties: { label: f.properties?.label } })));
    toast(t("wb.uploaded", { n: fc.features.length, fmt: fc.format || "" }));
    (fc.warnings || []).forEach((w) => toast(typeof w === "string" ? w : pick(w, "message") || JSON.stringify(w)));
    fitTo(map, FC([...state.parcels.map((p) => p.feature), ...state.items]));
  } catch (err) { toast(err.message, true); }
  $("wb-file").value = "";
}

function addItems(features) {
  const used = new Set(state.items.map((f) => f.properties.label));
  const next = () => { for (let i = 0; ; i++) { const l = String.fromCharCode(65 + (i % 26)) + (i >= 26 ? Math.floor(i / 26) : ""); if (!used.has(l)) { used.add(l); return l; } } };
  for (const f of features) {
    const label = f.properties.label && !used.has(String(f.properties.label)) ? String(f.properties.label) : next();
    used.add(label);
    state.items.push({ type: "Feature", geometry: f.geometry,
      properties: { label, retained: state.op === "split" && !state.items.some((x) => x.properties.retained) } });
  }
  showItems();
  invalidate();
}

function onLotInput(e) {
  const el = e.target, i = Number(el.dataset.i), p = state.items[i]?.properties;
  if (!p) return;
  if (el.name === "label") p.label = el.value.trim();
  if (el.name === "retained") {
    state.items.forEach((f, j) => { f.properties.retained = j === i ? el.checked : false; });
    showItems();
  }
  if (["tname", "tcode", "trating"].includes(el.name)) {
    p.transferee ??= {};
    p.transferee[{ tname: "name", tcode: "credit_code", trating: "rating" }[el.name]] = el.value.trim() || undefined;
  }
  invalidate();
}

/** Planar area in m² of a lon/lat polygon (local equirectangular projection; display only, the check measures in EPSG:4549). */
function approxArea(g) {
  const polys = g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : [];
  let a = 0;
  for (const rings of polys) rings.forEach((ring, ri) => {
    const lat0 = ring[0][1] * Math.PI / 180, kx = 111320 * Math.cos(lat0), ky = 110574;
    let s = 0;
    for (let k = 0; k < ring.length - 1; k++) s += ring[k][0] * kx * ring[k + 1][1] * ky - ring[k + 1][0] * kx * ring[k][1] * ky;
    a += (ri === 0 ? 1 : -1) * Math.abs(s / 2);
  });
  return a;
}

function centre(g) {
  const ring = g.type === "Polygon" ? g.coordinates[0] : g.coordinates[0][0];
  const n = ring.length - 1;
  return [ring.slice(0, n).reduce((s, c) => s + c[0], 0) / n, ring.slice(0, n).reduce((s, c) => s + c[1], 0) / n];
}

function showItems() {
  const bad = new Set(state.highlight.filter((h) => h.kind === "lot").map((h) => h.label));
  state.items.forEach((f, i) => { f.properties.color = LOT_COLORS[i % LOT_COLORS.length]; });
  setData(map, "wb-lots", FC(state.items));
  draw?.setEditable(state.items);
  markers.forEach((m) => m.remove());
  markers = state.items.map((f) => {
    const el = document.createElement("div");
    el.className = `lot-label${bad.has(f.properties.label) ? " bad" : ""}`;
    el.textContent = f.properties.label;
    return new maplibregl.Marker({ element: el }).setLngLat(centre(f.geometry)).addTo(map);
  });
  const split = state.op === "split";
  $("wb-lots").innerHTML = state.items.length ? `<tr><th>${esc(t("wb.label"))}</th><th>${esc(t("wb.area"))}</th>
    ${split ? `<th>${esc(t("wb.retained"))}</th><th>${esc(t("wb.transferee"))}</th>` : ""}<th></th></tr>` + state.items.map((f, i) => {
    const p = f.properties, tr = p.transferee || {};
    return `<tr data-lot="${esc(p.label)}"><td><input name="label" data-i="${i}" value="${esc(p.label)}" size="3"
      style="border-left:4px solid ${p.color}"></td><td class="num">≈${fmt(approxArea(f.geometry) * 3 / 2000)}</td>
      ${split ? `<td><input type="checkbox" name="retained" data-i="${i}" ${p.retained ? "checked" : ""}></td>
      <td>${p.retained ? "" : `<input name="tname" data-i="${i}" placeholder="${esc(t("wb.holderName"))}" value="${esc(tr.name || "")}">
        <input name="tcode" data-i="${i}" placeholder="${esc(t("wb.creditCode"))}" value="${esc(tr.credit_code || "")}">
        <input name="trating" data-i="${i}" placeholder="A–D" maxlength="1" value="${esc(tr.rating || "")}">`}</td>` : ""}
      <td><button type="button" data-remove-lot="${i}" title="${esc(t("wb.remove"))}">×</button></td></tr>`;
  }).join("") : "";
}

function confirmations() {
  return Object.fromEntries([...document.querySelectorAll("#wb-confirmations input")].map((i) => [i.name, i.checked]));
}

function buildRequest() {
  const op = state.op;
  if (!state.parcels.length || (op === "merge" && state.parcels.length < 2)) throw new Error(t("wb.needParcel"));
  const body = { as_of: $("wb-asof").value || undefined };
  const items = () => {
    if (!state.items.length) throw new Error(t("wb.needLots"));
    return FC(state.items.map((f) => {
      const props = { label: f.properties.label };
      if (op === "split") {
        props.retained = !!f.properties.retained;
        const tr = f.properties.transferee;
        if (!props.retained && tr && (tr.name || tr.credit_code)) props.transferee = { compliance_flags: [], ...tr };
      }
      return { type: "Feature", geometry: f.geometry, properties: props };
    }));
  };
  if (op === "split") Object.assign(body, { parcel: state.parcels[0].code, lots: items(), confirmations: confirmations() });
  if (op === "merge") {
    body.parcels = state.parcels.map((p) => p.code);
    const h = { name: $("wb-holder-name").value.trim(), credit_code: $("wb-holder-code").value.trim(), rating: $("wb-holder-rating").value };
    if (h.name || h.credit_code) body.holder = { ...h, rating: h.rating || undefined, compliance_flags: [] };
  }
  if (op === "edge-plots") {
    Object.assign(body, { parcel: state.parcels[0].code, plots: items(), confirmations: confirmations() });
    const fb = $("wb-far-before").value, fa = $("wb-far-after").value;
    if (fb) body.far_before = Number(fb);
    if (fa) body.far_after = Number(fa);
  }
  return body;
}

function invalidate() {
  state.report = null;
  state.executed = false;
  state.highlight = [];
  $("wb-verdict").innerHTML = "";
  $("wb-report-links").hidden = true;
  $("rules-wrap").hidden = true;
  setData(map, "wb-hl", null);
  setData(map, "wb-points", null);
  updateExecute();
}

async function runCheck() {
  let body;
  try { body = buildRequest(); } catch (err) { toast(err.message, true); return; }
  $("wb-check").disabled = true;
  try {
    state.report = await api.post(`/api/v1/checks/${state.op}`, body);
    state.request = body;
    showReport();
    highlight(state.report.results.filter((r) => r.status === "fail" || r.status === "needs_review"));
    toast(t("wb.checked"));
  } catch (err) {
    toast(err.message, true);
  } finally {
    $("wb-check").disabled = false;
  }
}

function short(v) {
  if (v === null || v === undefined) return "—";
  if (typeof v !== "object") return typeof v === "number" ? fmt(v) : esc(String(v));
  if (Array.isArray(v)) return v.map(short).join(", ");
  return Object.entries(v).filter(([k]) => k !== "location").map(([k, x]) => `${esc(k)}: ${short(x)}`).join("; ");
}

function showReport() {
  const r = state.report;
  const rs = r.rule_set || {};
  const warn = rs.in_force_on_as_of === false ? `<div class="warn" data-testid="not-in-force">${esc(t("wb.notInForce",
    { id: rs.id, date: r.as_of, from: rs.effective_from, to: rs.effective_to || "…" }))}</div>` : "";
  const counts = Object.entries(r.counts || {}).map(([k, n]) => `${t(`status.${k}`)} ${n}`).join(" · ");
  $("wb-verdict").innerHTML = `<div class="verdict ${esc(r.verdict)}" data-verdict="${esc(r.verdict)}">${esc(t(`verdict.${r.verdict}`))}
    <span class="hint">${esc(counts)}</span></div>${warn}<p class="hint">${esc(rs.title || "")}</p>`;
  const tbody = document.querySelector("#rules tbody");
  tbody.innerHTML = r.results.map((x) => `<tr data-rule="${esc(x.rule)}" data-status="${esc(x.status)}">
    <td><b>${esc(x.rule)}</b></td><td><span class="status ${esc(x.status)}">${esc(t(`status.${x.status}`))}</span></td>
    <td>${esc(pick(x, "title") || x.title_zh || "")}</td><td>${short(x.measured)}</td><td>${short(x.limit)}</td>
    <td>${esc(getLang() === "en" ? x.message_en : x.message_zh)}</td></tr>`).join("");
  $("rules-wrap").hidden = false;
  $("wb-report-links").hidden = !r.check_id;
  updateExecute();
}

/** The geometry a result points at: lots / plots it names, buildings or support land it says are cut or
 * outside every lot, locations. */
function offenders(results) {
  const out = [];
  const points = [];
  const walk = (v) => {
    if (!v || typeof v !== "object") return;
    if (typeof v.lon === "number" && typeof v.lat === "number") points.push([v.lon, v.lat]);
    Object.values(v).forEach(walk);
  };
  for (const r of results) {
    for (const label of r.features || []) {
      const f = state.items.find((x) => x.properties.label === label);
      if (f) out.push({ kind: "lot", label, rule: r.rule, feature: f });
    }
    // the same parts the printed report marks (app/services/reports.py _offenders)
    for (const key of [...Object.keys(r.measured?.cut || {}), ...Object.keys(r.measured?.outside_all_lots || {})]) {
      const b = state.buildings.find((x) => String(x.properties.number) === key);
      if (b) out.push({ kind: "building", label: key, rule: r.rule, feature: b });
      const s = state.support.find((x, i) => x.properties.label === key || `S${i + 1}` === key);
      if (!b && s) out.push({ kind: "support_land", label: key, rule: r.rule, feature: s });
    }
    walk(r.measured);
  }
  return { out, points };
}

function highlight(results) {
  const { out, points } = offenders(results);
  state.highlight = out.map(({ kind, label, rule }) => ({ kind, label, rule }));
  setData(map, "wb-hl", FC(out.map((o) => ({ ...o.feature, properties: { ...o.feature.properties, kind: o.kind, rule: o.rule } }))));
  setData(map, "wb-points", FC(points.map((c) => ({ type: "Feature", geometry: { type: "Point", coordinates: c }, properties: {} }))));
  $("wb-verdict").dataset.highlighted = state.highlight.map((h) => `${h.kind}:${h.label}`).join(",");
  showItems();
}

function updateExecute() {
  const btn = $("wb-execute");
  btn.hidden = !me.can.execute;
  const r = state.report;
  const allConfirmed = Object.values(confirmations()).every(Boolean);
  btn.disabled = state.executed || !r || !(r.verdict === "pass" || (r.verdict === "needs_review" && allConfirmed));
}

function confirmExecute() {
  const dlg = $("confirm-exec");
  $("confirm-text").textContent = t("exec.text", { parents: state.parcels.map((p) => p.code).join("、") });
  dlg.returnValue = "";
  dlg.onclose = () => { if (dlg.returnValue === "ok") execute(); };
  dlg.showModal();
}

async function execute() {
  const btn = $("wb-execute");
  btn.disabled = true;
  try {
    const body = buildRequest();
    const res = await api.post(`/api/v1/operations/${state.op}`, body, { "Idempotency-Key": crypto.randomUUID() });
    const children = res.children || [];
    $("wb-executed").innerHTML = `<p class="verdict pass" data-operation="${esc(res.operation_id)}">${esc(t("wb.executed", { id: res.operation_id }))}</p>
      <div class="hint">${esc(t("wb.newParcels"))}</div><ul class="chosen" id="wb-children">${children.map((c) => `<li>
      <a class="code" href="#" data-code="${esc(c.parcel_code)}">${esc(c.parcel_code)}</a>
      <span>${esc(c.label || "")} · ${fmt(c.area_mu)} 亩</span></li>`).join("")}</ul>`;
    state.report = { ...res.report, check_id: res.check_id };
    state.executed = true;
    setData(map, "wb-children", FC(state.items));
    refreshTiles(map);
    state.parcels = [];
    state.items = [];
    setData(map, "wb-parent", null);
    setData(map, "wb-buildings", null);
    setData(map, "wb-support", null);
    showItems();
    $("wb-parcels").innerHTML = "";
    onExecuted(res);
  } catch (err) {
    toast(err.message, true);
    btn.disabled = false;
  }
}

export async function openReport(checkId) {
  if (!checkId) return;
  const win = window.open("", "_blank");
  try {
    const blob = await api.blob(`/api/v1/checks/${checkId}/report`);
    const url = URL.createObjectURL(new Blob([await blob.text()], { type: "text/html;charset=utf-8" }));
    if (win) win.location = url; else location.assign(url);
  } catch (err) { win?.close(); toast(err.message, true); }
}

export async function downloadPdf(checkId) {
  if (!checkId) return;
  try {
    const blob = await api.blob(`/api/v1/checks/${checkId}/report.pdf`);
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `审查报告-${checkId}.pdf`;
    document.body.appendChild(a);
    a.click();
    a.remove();
  } catch (err) { toast(err.message, true); }
}
