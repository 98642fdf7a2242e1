// The statistics page: ECharts (loaded on first visit, so the map's first paint does not wait for it).
import { api, esc, fmt, qs, toast } from "./api.js";
import { t } from "./i18n.js";
import { CATEGORIES, COLORS } from "./map.js";

let echartsReady = null;
const charts = {};
let lastData = null;

function loadECharts() {
  echartsReady ??= new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = "/static/vendor/echarts/echarts.min.js";
    s.onload = () => resolve(window.echarts);
    s.onerror = reject;
    document.head.appendChild(s);
  });
  return echartsReady;
}

function chart(id) {
  charts[id] ??= window.echarts.init(document.getElementById(id), null, { renderer: "canvas" });
  return charts[id];
}

export async function showStats() {
  const input = document.getElementById("stats-asof");
  await loadECharts();
  try {
    lastData = await api.get(`/api/v1/stats${qs({ as_of: input.value })}`);
    if (!input.value) input.value = lastData.as_of;
    render();
    document.getElementById("stats-view").dataset.ready = "1";
  } catch (err) {
    toast(err.message, true);
  }
}

export function rerenderStats() { if (lastData) render(); }

function bars(id, title, names, series, extra = {}) {
  chart(id).setOption({
    title: { text: title, left: 8, top: 6, textStyle: { fontSize: 14 } },
    tooltip: { trigger: "axis" }, legend: { top: 30 }, grid: { top: 70, left: 50, right: 20, bottom: 50 },
    xAxis: { type: "category", data: names, axisLabel: { interval: 0, rotate: names.length > 6 ? 30 : 0 } },
    yAxis: { type: "value" }, series, ...extra,
  }, true);
}

function render() {
  const d = lastData;
  const towns = [...new Set(CATEGORIES.flatMap((c) => Object.keys(d.categories[c]?.by_town || {})))].sort();
  bars("chart-town", t("stats.byTown"), towns, CATEGORIES.map((c) => ({
    name: t(`cat.${c}`), type: "bar", stack: "n", itemStyle: { color: COLORS[c] },
    data: towns.map((tw) => d.categories[c]?.by_town?.[tw]?.count || 0),
  })));
  const age = d.approved_unsupplied?.by_age_years || {};
  bars("chart-age", t("stats.age"), Object.keys(age), [{
    name: t("cat.approved_unsupplied"), type: "bar", itemStyle: { color: COLORS.approved_unsupplied },
    data: Object.values(age).map((v) => v.area_mu),
  }]);
  const su = d.supplied_unused || {}, idle = su.by_idle_years || {};
  bars("chart-idle", t("stats.idle"), Object.keys(idle), [{
    name: t("cat.supplied_unused"), type: "bar", itemStyle: { color: COLORS.supplied_unused },
    data: Object.values(idle).map((v) => v.area_mu),
  }], {
    graphic: [{ type: "text", right: 20, top: 8, style: {
      text: `${t("stats.idleFee")}: ${fmt(su.idle_fee_due_1y?.area_mu)} 亩 (${su.idle_fee_due_1y?.count ?? 0})\n`
        + `${t("stats.recover")}: ${fmt(su.recoverable_2y?.area_mu)} 亩 (${su.recoverable_2y?.count ?? 0})`,
      fontSize: 12, fill: "#a11b12" } }],
  });
  const low = d.low_efficiency?.by_criterion || {};
  bars("chart-low", t("stats.low"), Object.keys(low).map((k) => t(`crit.${k}`)), [{
    name: t("cat.low_efficiency"), type: "bar", itemStyle: { color: COLORS.low_efficiency },
    data: Object.values(low).map((v) => v.area_mu),
  }]);
  const disp = d.disposals || {}, years = Object.keys(disp.by_year || {}).sort();
  const methods = [...new Set(years.flatMap((y) => Object.keys(disp.by_year[y])))];
  const target = disp.target || {};
  const series = methods.map((m) => ({ name: m, type: "bar", stack: "d", data: years.map((y) => disp.by_year[y][m]?.area_mu || 0) }));
  if (target.area_mu) {
    series.push({ name: `${t("stats.target")} ${target.year}`, type: "line", symbol: "none",
      data: years.map(() => target.area_mu), lineStyle: { type: "dashed", color: "#a11b12" }, itemStyle: { color: "#a11b12" } });
  }
  bars("chart-disposal", t("stats.disposal"), years, series);
  const e = d.efficiency || {}, all = e.all_rated || {}, tg = e.targets || {};
  document.getElementById("efficiency").innerHTML = `
    <h3>${esc(t("stats.efficiency"))} ${esc(e.year ?? "")}</h3>
    <table class="legend"><tr><th></th><th>${esc(t("stats.actual"))}</th><th>${esc(t("stats.target"))}</th></tr>
      <tr><td>${esc(t("stats.taxPerMu"))}</td><td class="num">${fmt(all.tax_per_mu_wan)}</td><td class="num">${fmt(tg.tax_per_mu_wan)}</td></tr>
      <tr><td>${esc(t("stats.vaPerMu"))}</td><td class="num">${fmt(all.value_added_per_mu_wan)}</td>
        <td class="num">${fmt(tg.value_added_per_mu_wan)}</td></tr>
      <tr><td>${esc(t("stats.holders"))}</td><td class="num">${fmt(all.holders, 0)}</td><td></td></tr>
      <tr><td>${esc(t("stats.disposal"))} ${esc(target.year ?? "")}</td><td class="num">${fmt(target.achieved_mu)}</td>
        <td class="num">${fmt(target.area_mu)}</td></tr></table>
    <p class="hint">${esc(tg.source || "")}</p>`;
  Object.values(charts).forEach((c) => c.resize());
}
