// The parcel panel: facts, category with criterion and ages, yearly 亩均 figures, history, lineage, checks.
import { api, esc, fmt, toast } from "./api.js";
import { pick, t } from "./i18n.js";

const panel = () => document.getElementById("panel");
const body = () => document.getElementById("panel-body");
let current = null;
let onOpenCode = () => {};
let onReport = () => {};

export function initPanel({ openCode, openReport }) {
  onOpenCode = openCode;
  onReport = openReport;
  document.getElementById("panel-close").addEventListener("click", closePanel);
  body().addEventListener("click", (e) => {
    const a = e.target.closest("[data-code]");
    if (a) { e.preventDefault(); onOpenCode(a.dataset.code); }
    const r = e.target.closest("[data-report]");
    if (r) { e.preventDefault(); onReport(r.dataset.report); }
  });
}

export function closePanel() { panel().hidden = true; current = null; }

export async function openPanel(code) {
  panel().hidden = false;
  body().innerHTML = `<p class="hint">…</p>`;
  try {
    current = await api.get(`/api/v1/parcels/${encodeURIComponent(code)}`);
    render();
  } catch (err) {
    body().innerHTML = `<p class="error">${esc(err.message)}</p>`;
    toast(err.message, true);
  }
}

export function rerenderPanel() { if (current && !panel().hidden) render(); }

const codeLink = (code, retired = false) =>
  `<a class="code" href="#" data-code="${esc(code)}">${esc(code)}</a>${retired ? esc(t("p.retired")) : ""}`;

function row(label, value) { return `<tr><th>${esc(label)}</th><td>${value ?? "—"}</td></tr>`; }

function tree(node, key) {
  const items = node?.[key] || [];
  if (!items.length) return "";
  return `<ul class="tree">${items.map((n) => `<li>${codeLink(n.parcel_code, n.current === false)}
    <span class="hint">${esc(t(`produced.${n.produced_by || "original"}`))}</span>${tree(n, key)}</li>`).join("")}</ul>`;
}

function render() {
  const d = current, f = d.facts || {}, c = d.category || {};
  const ages = [];
  if (c.years_since_approval != null) ages.push(t("p.yearsApproval", { n: fmt(c.years_since_approval) }));
  if (c.years_idle != null) ages.push(t("p.yearsIdle", { n: fmt(c.years_idle) }));
  if (c.idle_fee_due) ages.push(t("p.idleFee"));
  if (c.recoverable_without_compensation) ages.push(t("p.recover"));
  const taxPerMu = c.tax_per_mu || {};
  const years = (d.years || []).map((y) => `<tr><td>${y.year}</td><td>${esc(y.rating || "—")}</td>
    <td class="num">${fmt(y.tax_wan)}</td><td class="num">${fmt(y.revenue_wan)}</td><td class="num">${fmt(y.value_added_wan)}</td>
    <td class="num">${fmt(taxPerMu[y.year])}</td></tr>`).join("");
  const history = (d.history || []).map((h) => `<tr><td>${esc(h.valid_from?.slice(0, 10))}</td>
    <td>${esc(h.valid_to?.slice(0, 10) || "")}</td><td>${esc(h.holder_name || "")}</td>
    <td class="num">${fmt(h.area_m2)}</td></tr>`).join("");
  const lin = d.lineage || {};
  const checks = (d.checks || []).map((k) => `<tr><td>${esc((k.at || "").slice(0, 16).replace("T", " "))}</td>
    <td>${esc(t(`op.${k.operation}`))}</td><td><span class="status ${esc(k.verdict)}">${esc(t(`verdict.${k.verdict}`))}</span></td>
    <td><a class="code" href="#" data-report="${esc(k.id)}">${esc(t("p.report"))}</a></td></tr>`).join("");
  body().innerHTML = `
    <h2>${esc(f.name || d.parcel_code)}</h2>
    <div class="hint" data-testid="panel-code">${esc(d.parcel_code)}</div>
    <p><span class="badge ${esc(c.category)}">${esc(t(`cat.${c.category}`))}</span>
       ${c.criterion ? `<span class="hint">${esc(t("p.criterion"))}：${esc(t(`crit.${c.criterion}`))}</span>` : ""}</p>
    <p class="hint">${esc(pick(c, "explanation"))}${ages.length ? `；${esc(ages.join("，"))}` : ""}</p>
    <h3>${esc(t("p.facts"))}</h3>
    <table>${[
      row(t("p.town"), esc(f.town)), row(t("p.holder"), esc(f.holder_name || d.holder?.name || "")),
      row(t("p.area"), `${fmt(f.area_mu)} 亩 / ${fmt(f.area_m2)} m²`), row(t("p.landUse"), esc(f.land_use)),
      row(t("p.right"), esc(f.right_type)), row(t("p.approved"), esc(f.approved_on)), row(t("p.supplied"), esc(f.supplied_on)),
      row(t("p.completed"), esc(f.completed_on)), row(t("p.production"), esc(f.production_started_on)),
      row(t("p.lease"), esc(f.lease_end_on)), row(t("p.far"), fmt(f.far_actual)),
      row(t("p.producedBy"), esc(t(`produced.${f.produced_by || "original"}`))),
      row(t("p.buildings"), `${(d.buildings || []).length}`), row(t("p.support"), `${(d.support_land || []).length}`),
    ].join("")}</table>
    <h3>${esc(t("p.years"))}</h3>
    ${years ? `<table><tr><th>${esc(t("p.year"))}</th><th>${esc(t("p.rating"))}</th><th class="num">${esc(t("p.tax"))}</th>
      <th class="num">${esc(t("p.revenue"))}</th><th class="num">${esc(t("p.va"))}</th><th class="num">${esc(t("p.taxPerMu"))}</th></tr>
      ${years}</table>` : `<p class="hint">${esc(t("p.none"))}</p>`}
    <h3>${esc(t("p.lineage"))}</h3>
    <div data-testid="lineage">
      <div class="hint">${esc(t("p.parents"))}</div>${tree(lin, "parents") || `<p class="hint">${esc(t("p.none"))}</p>`}
      <div class="hint">${esc(t("p.children"))}</div>${tree(lin, "children") || `<p class="hint">${esc(t("p.none"))}</p>`}
    </div>
    <h3>${esc(t("p.history"))}</h3>
    ${history ? `<table><tr><th>${esc(t("p.validFrom"))}</th><th>${esc(t("p.validTo"))}</th><th>${esc(t("p.holder"))}</th>
      <th class="num">m²</th></tr>${history}</table>` : `<p class="hint">${esc(t("p.none"))}</p>`}
    <h3>${esc(t("p.checks"))}</h3>
    ${checks ? `<table>${checks}</table>` : `<p class="hint">${esc(t("p.none"))}</p>`}`;
}
