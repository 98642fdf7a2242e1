// Chinese by default; English on the toggle. Keys not listed in `en` fall back to Chinese.
const zh = {
  "app.title": "天台县工业用地“三块地”一张图",
  "nav.map": "地图", "nav.stats": "统计", "nav.workbench": "审查工作台",
  "auth.title": "登录", "auth.hint": "请输入 API 令牌（由管理员用 landgis token create 生成）。", "auth.submit": "登录",
  "auth.signout": "退出", "auth.bad": "令牌无效或已撤销", "auth.anonymous": "匿名浏览",
  "role.viewer": "查看", "role.officer": "审查员", "role.admin": "管理员",
  "filter.title": "筛选", "filter.town": "乡镇（街道）", "filter.criterion": "认定情形", "filter.rating": "上年度亩均评价",
  "filter.area": "面积（亩）", "filter.reset": "清除筛选", "filter.all": "全部",
  "legend.title": "图例", "legend.count": "宗数", "legend.area": "面积(亩)", "legend.total": "合计",
  "legend.note": "统计基准日 {date}（今天）；宗数与面积按当前筛选计算。小比例尺下按网格汇总显示（格内有三块地即着色），放大至 13 级以上显示各宗地，单击网格可放大。",
  "cat.approved_unsupplied": "批而未供", "cat.supplied_unused": "供而未用", "cat.low_efficiency": "低效用地", "cat.none": "正常",
  "crit.approved_unsupplied": "批而未供", "crit.not_started": "未动工满1年", "crit.halted_underdeveloped": "中止开发（开发不足）",
  "crit.tax_per_mu": "亩均税收≤5万元", "crit.large_revenue_low_tax": "营收过亿、亩均税收≤10万元", "crit.rating_d": "亩均评价D类",
  "crit.low_far": "容积率<1.0", "crit.override": "人工认定",
  "p.facts": "基本情况", "p.category": "类别", "p.criterion": "认定情形", "p.years": "历年亩均效益", "p.history": "历史版本",
  "p.lineage": "谱系", "p.checks": "审查记录", "p.buildings": "建筑物", "p.support": "配套用地",
  "p.parents": "来源宗地", "p.children": "派生宗地", "p.none": "无", "p.code": "宗地代码", "p.name": "名称", "p.town": "乡镇",
  "p.holder": "权利人", "p.area": "面积", "p.landUse": "用途", "p.right": "权利类型", "p.approved": "批准日期",
  "p.supplied": "供地日期", "p.completed": "竣工日期", "p.production": "投产日期", "p.lease": "出让年限至", "p.far": "容积率",
  "p.producedBy": "来源", "p.year": "年度", "p.rating": "评价", "p.tax": "税收(万元)", "p.revenue": "营收(万元)",
  "p.va": "增加值(万元)", "p.taxPerMu": "亩均税收(万元/亩)", "p.ages": "年限", "p.yearsApproval": "批准后 {n} 年",
  "p.yearsIdle": "闲置 {n} 年", "p.idleFee": "应征闲置费", "p.recover": "可无偿收回", "p.validFrom": "生效", "p.validTo": "失效",
  "p.check": "审查", "p.report": "报告", "p.retired": "（已注销）",
  "produced.original": "原始", "produced.split": "分割", "produced.merge": "合并", "produced.edge_plot": "零星地块并入",
  "op.split": "分割", "op.merge": "合并", "op.edge-plots": "零星地块",
  "wb.title": "分割 / 合并 / 零星地块审查", "wb.parcel": "1. 选择宗地", "wb.search": "宗地代码或名称", "wb.pick": "地图点选",
  "wb.picking": "请在地图上单击宗地…", "wb.lots": "2. 分割方案（地块）", "wb.mergeParcels": "2. 合并方案（合并后权利人）",
  "wb.plots": "2. 零星地块", "wb.upload": "上传 GeoJSON、Shapefile(zip)、GeoPackage 或界址点坐标（CSV/TXT，EPSG:4549）",
  "wb.draw": "在地图上绘制", "wb.drawDone": "完成绘制", "wb.clear": "清空",
  "wb.drawHint": "绘制：逐点单击，双击或“完成绘制”结束；拖动顶点可调整。", "wb.holder": "合并后权利人", "wb.holderName": "名称",
  "wb.creditCode": "统一社会信用代码", "wb.farBefore": "改造前容积率", "wb.farAfter": "改造后容积率", "wb.confirm": "3. 审核确认",
  "wb.asOf": "审查基准日", "wb.check": "运行审查", "wb.execute": "执行", "wb.print": "打印报告", "wb.pdf": "下载 PDF",
  "wb.label": "编号", "wb.area": "面积(亩)", "wb.retained": "原权利人保留", "wb.transferee": "受让方", "wb.remove": "删除",
  "wb.needParcel": "请先选择宗地", "wb.needLots": "请上传或绘制地块", "wb.uploaded": "已读取 {n} 个地块（{fmt}）",
  "wb.executed": "已执行：操作 {id}", "wb.newParcels": "新宗地", "wb.checked": "审查完成",
  "wb.notInForce": "注意：规则集 {id} 在审查基准日 {date} 不在有效期内（{from} 至 {to}），结论仅供参考。",
  "conf.planning": "规划部门意见", "conf.fire_safety": "消防意见", "conf.environment": "环保意见",
  "conf.contract_permits": "出让合同与证照", "conf.industrial_guidance": "符合产业导向",
  "verdict.pass": "通过", "verdict.fail": "不通过", "verdict.needs_review": "需人工审核",
  "status.pass": "通过", "status.fail": "不通过", "status.needs_review": "需审核", "status.not_applicable": "不适用",
  "rule.id": "规则", "rule.status": "结果", "rule.title": "要求", "rule.measured": "实测值", "rule.limit": "限值", "rule.message": "说明",
  "exec.title": "确认执行", "exec.cancel": "取消", "exec.ok": "确认执行",
  "exec.text": "将注销 {parents}，生成新宗地并记录谱系。此操作不可撤销。",
  "stats.asOf": "统计基准日", "stats.byTown": "各乡镇三块地（宗数）", "stats.byTownArea": "面积(亩)",
  "stats.age": "批而未供 按批准后年限（亩）", "stats.idle": "供而未用 按闲置年限（亩）", "stats.idleFee": "应征闲置费(≥1年)",
  "stats.recover": "可无偿收回(≥2年)", "stats.low": "低效用地 按认定情形（亩）", "stats.disposal": "盘活处置（亩）与目标",
  "stats.target": "目标", "stats.efficiency": "亩均效益", "stats.taxPerMu": "亩均税收", "stats.vaPerMu": "亩均增加值",
  "stats.holders": "评价企业数", "stats.actual": "实际", "stats.achieved": "已完成",
  "err.generic": "出错了",
};
const en = {
  "app.title": "Tiantai industrial land: the three kinds on one map",
  "nav.map": "Map", "nav.stats": "Statistics", "nav.workbench": "Officer workbench",
  "auth.title": "Sign in", "auth.hint": "Enter an API token (an admin creates one with landgis token create).",
  "auth.submit": "Sign in", "auth.signout": "Sign out", "auth.bad": "The token is invalid or revoked",
  "auth.anonymous": "anonymous", "role.viewer": "viewer", "role.officer": "officer", "role.admin": "admin",
  "filter.title": "Filters", "filter.town": "Town", "filter.criterion": "Criterion", "filter.rating": "Last year's rating",
  "filter.area": "Area (mu)", "filter.reset": "Clear filters", "filter.all": "All",
  "legend.title": "Legend", "legend.count": "Parcels", "legend.area": "Area (mu)", "legend.total": "Total",
  "legend.note": "As of {date} (today); counts and areas follow the filters. Zoomed out, the map shows a grid (a cell takes the colour of any of the three kinds in it); from zoom 13 it shows each parcel. Click a cell to zoom in.",
  "cat.approved_unsupplied": "Approved, not supplied", "cat.supplied_unused": "Supplied, unused (idle)",
  "cat.low_efficiency": "Low efficiency", "cat.none": "Normal",
  "crit.approved_unsupplied": "approved, not supplied", "crit.not_started": "not started ≥ 1 year",
  "crit.halted_underdeveloped": "halted, under-developed", "crit.tax_per_mu": "tax ≤ 5 wan/mu",
  "crit.large_revenue_low_tax": "revenue ≥ 1e8, tax ≤ 10 wan/mu", "crit.rating_d": "rating D", "crit.low_far": "FAR < 1.0",
  "crit.override": "officer override",
  "p.facts": "Facts", "p.category": "Category", "p.criterion": "Criterion", "p.years": "Yearly figures", "p.history": "History",
  "p.lineage": "Lineage", "p.checks": "Checks", "p.buildings": "Buildings", "p.support": "Support land",
  "p.parents": "Parents", "p.children": "Children", "p.none": "none", "p.code": "Code", "p.name": "Name", "p.town": "Town",
  "p.holder": "Holder", "p.area": "Area", "p.landUse": "Land use", "p.right": "Right type", "p.approved": "Approved",
  "p.supplied": "Supplied", "p.completed": "Completed", "p.production": "In production", "p.lease": "Lease ends",
  "p.far": "FAR", "p.producedBy": "Produced by", "p.year": "Year", "p.rating": "Rating", "p.tax": "Tax (wan)",
  "p.revenue": "Revenue (wan)", "p.va": "Value added (wan)", "p.taxPerMu": "Tax per mu (wan)", "p.ages": "Ages",
  "p.yearsApproval": "{n} years since approval", "p.yearsIdle": "idle {n} years", "p.idleFee": "idle fee due",
  "p.recover": "recoverable", "p.validFrom": "valid from", "p.validTo": "valid to", "p.check": "Check", "p.report": "report",
  "p.retired": " (retired)",
  "produced.original": "original", "produced.split": "split", "produced.merge": "merge", "produced.edge_plot": "edge plot",
  "op.split": "Split", "op.merge": "Merge", "op.edge-plots": "Edge plots",
  "wb.title": "Check a split, merger or edge plots", "wb.parcel": "1. Pick the parcel", "wb.search": "parcel code or name",
  "wb.pick": "Pick on map", "wb.picking": "Click a parcel on the map…", "wb.lots": "2. Proposed lots",
  "wb.mergeParcels": "2. Merger (new holder)", "wb.plots": "2. Edge plots",
  "wb.upload": "Upload GeoJSON, zipped Shapefile, GeoPackage or a survey coordinate list (CSV/TXT, EPSG:4549)",
  "wb.draw": "Draw on the map", "wb.drawDone": "Finish", "wb.clear": "Clear",
  "wb.drawHint": "Draw: click each vertex, double-click or Finish to close; drag a vertex to adjust.",
  "wb.holder": "Holder after the merger", "wb.holderName": "name", "wb.creditCode": "credit code",
  "wb.farBefore": "FAR before", "wb.farAfter": "FAR after", "wb.confirm": "3. Confirmations", "wb.asOf": "As of",
  "wb.check": "Run the check", "wb.execute": "Execute", "wb.print": "Print report", "wb.pdf": "Download PDF",
  "wb.label": "Label", "wb.area": "Area (mu)", "wb.retained": "retained", "wb.transferee": "transferee", "wb.remove": "remove",
  "wb.needParcel": "Pick a parcel first", "wb.needLots": "Upload or draw the lots", "wb.uploaded": "Read {n} polygons ({fmt})",
  "wb.executed": "Executed: operation {id}", "wb.newParcels": "New parcels", "wb.checked": "Check done",
  "wb.notInForce": "Warning: rule set {id} was not in force on {date} ({from} to {to}); the verdict is for reference only.",
  "conf.planning": "planning opinion", "conf.fire_safety": "fire safety", "conf.environment": "environment",
  "conf.contract_permits": "contract and permits", "conf.industrial_guidance": "fits the industrial guidance",
  "verdict.pass": "pass", "verdict.fail": "fail", "verdict.needs_review": "needs review",
  "status.pass": "pass", "status.fail": "fail", "status.needs_review": "review", "status.not_applicable": "n/a",
  "rule.id": "Rule", "rule.status": "Status", "rule.title": "Requirement", "rule.measured": "Measured", "rule.limit": "Limit",
  "rule.message": "Message",
  "exec.title": "Confirm execution", "exec.cancel": "Cancel", "exec.ok": "Execute",
  "exec.text": "This retires {parents}, creates the new parcels and records the lineage. It cannot be undone.",
  "stats.asOf": "As of", "stats.byTown": "Three kinds by town (parcels)", "stats.byTownArea": "area (mu)",
  "stats.age": "Approved, not supplied: years since approval (mu)", "stats.idle": "Idle land: years idle (mu)",
  "stats.idleFee": "idle fee due (≥ 1 y)", "stats.recover": "recoverable (≥ 2 y)", "stats.low": "Low efficiency by criterion (mu)",
  "stats.disposal": "Disposals (mu) against the target", "stats.target": "target", "stats.efficiency": "Per-mu efficiency",
  "stats.taxPerMu": "tax per mu", "stats.vaPerMu": "value added per mu", "stats.holders": "rated holders",
  "stats.actual": "actual", "stats.achieved": "achieved",
  "err.generic": "Something went wrong",
};

let lang = localStorage.getItem("landgis.lang") || "zh";
const listeners = [];

export function getLang() { return lang; }

export function t(key, vars = {}) {
  const s = (lang === "en" ? en[key] : undefined) ?? zh[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? ""));
}

export function applyI18n(root = document) {
  root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
  document.title = t("app.title");
}

export function setLang(next) {
  lang = next;
  localStorage.setItem("landgis.lang", lang);
  applyI18n();
  listeners.forEach((fn) => fn(lang));
}

export function onLang(fn) { listeners.push(fn); }

/** The text of a bilingual pair from the API (`x_zh` / `x_en`) in the current language. */
export function pick(obj, base) {
  if (!obj) return "";
  return (lang === "en" ? obj[`${base}_en`] : obj[`${base}_zh`]) || obj[`${base}_zh`] || obj[`${base}_en`] || "";
}
