// Entry: sign in, load the jurisdiction, build the map, wire the views. Uses the public API only.
import { ApiError, api, auth, esc, fmt, qs, toast } from "./api.js";
import { applyI18n, getLang, onLang, setLang, t } from "./i18n.js";
import { CATEGORIES, COLORS, DETAIL_ZOOM, createMap, selectParcel, setParcelFilter } from "./map.js";
import { closePanel, initPanel, openPanel, rerenderPanel } from "./panel.js";
import { rerenderStats, showStats } from "./stats.js";
import { activateWorkbench, downloadPdf, initWorkbench, openReport, rerenderWorkbench } from "./workbench.js";

const $ = (id) => document.getElementById(id);
const CRITERIA = ["approved_unsupplied", "not_started", "halted_underdeveloped", "tax_per_mu", "large_revenue_low_tax",
  "rating_d", "low_far", "override"];
const filters = { categories: [...CATEGORIES], town: "", criterion: "", rating: "", min: "", max: "" };
let map, me, view = "map", legendData = null;

/** Who is calling: the stored token, or anonymous reads when the server allows them; else ask for a token. */
async function signIn() {
  for (;;) {
    try {
      return await api.get("/api/v1/me");
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) throw err;
      if (auth.token) $("signin-error").textContent = t("auth.bad");
      auth.token = await askToken();
    }
  }
}

function askToken() {
  const dlg = $("signin");
  return new Promise((resolve) => {
    $("signin-form").onsubmit = (e) => { e.preventDefault(); dlg.close(); resolve($("signin-token").value.trim()); };
    dlg.addEventListener("cancel", (e) => e.preventDefault());
    dlg.showModal();
    $("signin-token").focus();
  });
}

function showWho() {
  $("who").textContent = me.anonymous ? t("auth.anonymous") : `${me.name} · ${t(`role.${me.role}`)}`;
  $("signout").hidden = me.anonymous;
  document.querySelectorAll("[data-needs]").forEach((el) => { el.hidden = !me.can[el.dataset.needs]; });
}

function setView(next) {
  view = next;
  document.querySelectorAll("#views button").forEach((b) => b.classList.toggle("active", b.dataset.view === next));
  $("stats-view").hidden = next !== "stats";
  $("map-side").hidden = next !== "map";
  $("wb-side").hidden = next !== "workbench";
  $("sidebar").hidden = next === "stats";
  if (next !== "map") closePanel();
  activateWorkbench(next === "workbench");
  if (next === "stats") showStats();
  else map.resize();
  history.replaceState(null, "", `#${next}`);
}

async function refreshLegend() {
  try {
    legendData = await api.get(`/api/v1/stats/summary${qs({ town: filters.town, criterion: filters.criterion,
      rating: filters.rating, min_mu: filters.min, max_mu: filters.max })}`);
  } catch (err) { toast(err.message, true); return; }
  renderLegend();
}

function renderLegend() {
  if (!legendData) return;
  const rows = CATEGORIES.map((c) => {
    const v = legendData.categories[c];
    const on = filters.categories.includes(c);
    return `<tr data-cat="${c}" class="${on ? "" : "off"}"><td><input type="checkbox" ${on ? "checked" : ""} data-cat="${c}"
      aria-label="${esc(t(`cat.${c}`))}"></td><td><span class="sw" style="background:${COLORS[c]}"></span> ${esc(t(`cat.${c}`))}</td>
      <td class="num" data-count="${v.count}">${fmt(v.count, 0)}</td><td class="num">${fmt(v.area_mu)}</td></tr>`;
  });
  $("legend").innerHTML = `<tr><th></th><th></th><th class="num">${esc(t("legend.count"))}</th><th class="num">${esc(t("legend.area"))}</th></tr>
    ${rows.join("")}<tr><td></td><td>${esc(t("legend.total"))}</td><td class="num">${fmt(legendData.total.count, 0)}</td>
    <td class="num">${fmt(legendData.total.area_mu)}</td></tr>`;
  $("legend-note").textContent = t("legend.note", { date: legendData.as_of });
}

function applyFilters() {
  setParcelFilter(map, filters);
  refreshLegend();
}

function initFilters(j) {
  $("f-town").insertAdjacentHTML("beforeend", j.towns.map((tw) => `<option>${esc(tw.name)}</option>`).join(""));
  const fillCriteria = () => {
    const sel = $("f-criterion"), cur = sel.value;
    sel.innerHTML = `<option value="">${esc(t("filter.all"))}</option>` +
      CRITERIA.map((c) => `<option value="${c}">${esc(t(`crit.${c}`))}</option>`).join("");
    sel.value = cur;
  };
  fillCriteria();
  onLang(fillCriteria);
  const bind = (id, key) => $(id).addEventListener("change", () => { filters[key] = $(id).value; applyFilters(); });
  bind("f-town", "town"); bind("f-criterion", "criterion"); bind("f-rating", "rating"); bind("f-min", "min"); bind("f-max", "max");
  $("legend").addEventListener("change", (e) => {
    const c = e.target.dataset.cat;
    if (!c) return;
    filters.categories = e.target.checked ? [...new Set([...filters.categories, c])] : filters.categories.filter((x) => x !== c);
    setParcelFilter(map, filters);
    renderLegend();
  });
  $("f-reset").addEventListener("click", () => {
    Object.assign(filters, { categories: [...CATEGORIES], town: "", criterion: "", rating: "", min: "", max: "" });
    for (const id of ["f-town", "f-criterion", "f-rating", "f-min", "f-max"]) $(id).value = "";
    applyFilters();
  });
}

function openParcel(code) {
  if (view !== "map") setView("map");
  selectParcel(map, code);
  openPanel(code);
}

async function main() {
  performance.mark("landgis:app-start");
  applyI18n();
  $("lang").textContent = getLang() === "en" ? "中文" : "EN";
  $("lang").addEventListener("click", () => setLang(getLang() === "en" ? "zh" : "en"));
  onLang((l) => {
    $("lang").textContent = l === "en" ? "中文" : "EN";
    if (me) showWho();
    renderLegend(); rerenderPanel(); rerenderWorkbench();
    if (view === "stats") rerenderStats();
  });
  $("signout").addEventListener("click", () => { auth.token = null; location.reload(); });
  let j;
  try {
    // both at once: the jurisdiction answers 401 too when the token is missing, and is asked again then
    const [who, place] = await Promise.allSettled([signIn(), api.get("/api/v1/jurisdiction")]);
    if (who.status === "rejected") throw who.reason;
    me = who.value;
    j = place.status === "fulfilled" ? place.value : await api.get("/api/v1/jurisdiction");
  } catch (err) { toast(err.message, true); return; }
  showWho();
  performance.mark("landgis:signed-in");
  const created = createMap(j);
  map = created.map;
  window.landgis = { map, me, ready: created.ready };
  initFilters(j);
  initPanel({ openCode: openParcel, openReport });
  map.on("load", () => performance.mark("landgis:map-load"));
  created.ready.then(() => {
    initWorkbench(map, me, { executed: () => refreshLegend() });
    window.landgis.workbench = true;
    const start = location.hash.slice(1);
    setView(["stats", "workbench"].includes(start) && (start !== "workbench" || me.can.check) ? start : "map");
  });
  map.on("click", "parcels-fill", (e) => { if (view === "map") openParcel(e.features[0].properties.parcel_code); });
  map.on("click", "overview-fill", (e) => map.easeTo({ center: e.lngLat, zoom: DETAIL_ZOOM + 1 }));
  map.on("mouseenter", "overview-fill", () => { map.getCanvas().style.cursor = "zoom-in"; });
  map.on("mouseleave", "overview-fill", () => { map.getCanvas().style.cursor = ""; });
  document.querySelectorAll("#views button").forEach((b) => b.addEventListener("click", () => setView(b.dataset.view)));
  $("stats-asof").addEventListener("change", showStats);
  $("wb-executed").addEventListener("click", (e) => {
    const a = e.target.closest("[data-code]");
    if (a) { e.preventDefault(); openParcel(a.dataset.code); }
  });
  window.landgis.downloadPdf = downloadPdf;
  refreshLegend();
}

main();
