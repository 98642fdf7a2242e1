// The public REST / OGC API, with the signed-in token; problem+json errors become ApiError.
import { getLang } from "./i18n.js";

const KEY = "landgis.token";

export class ApiError extends Error {
  constructor(status, problem) {
    const zh = problem?.detail_zh || problem?.detail || problem?.title || `HTTP ${status}`;
    const en = problem?.detail_en || problem?.detail || problem?.title || `HTTP ${status}`;
    super(getLang() === "en" ? en : zh);
    this.status = status;
    this.problem = problem;
  }
}

export const auth = {
  get token() { return sessionStorage.getItem(KEY); },
  set token(v) { if (v) sessionStorage.setItem(KEY, v); else sessionStorage.removeItem(KEY); },
  headers() { return this.token ? { Authorization: `Bearer ${this.token}` } : {}; },
};

async function request(method, path, { body, form, headers = {}, raw = false } = {}) {
  const init = { method, headers: { Accept: "application/json", ...auth.headers(), ...headers } };
  if (form) init.body = form;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const res = await fetch(path, init);
  if (!res.ok) {
    let problem = null;
    try { problem = await res.json(); } catch { /* not JSON */ }
    throw new ApiError(res.status, problem);
  }
  if (raw) return res;
  if (res.status === 204) return null;
  return res.json();
}

export const api = {
  get: (path) => request("GET", path),
  post: (path, body, headers) => request("POST", path, { body, headers }),
  upload: (path, file) => { const f = new FormData(); f.append("file", file); return request("POST", path, { form: f }); },
  blob: async (path) => (await request("GET", path, { raw: true, headers: { Accept: "*/*" } })).blob(),
};

export function qs(params) {
  const u = new URLSearchParams();
  Object.entries(params).forEach(([k, v]) => { if (v !== undefined && v !== null && v !== "") u.set(k, v); });
  const s = u.toString();
  return s ? `?${s}` : "";
}

export function toast(msg, isError = false) {
  const el = document.getElementById("toast");
  el.textContent = msg;
  el.className = isError ? "err" : "";
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, isError ? 8000 : 4000);
}

export function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

export function fmt(n, digits = 2) {
  if (n === null || n === undefined || Number.isNaN(n)) return "—";
  return Number(n).toLocaleString(getLang() === "en" ? "en-US" : "zh-CN", { maximumFractionDigits: digits });
}
