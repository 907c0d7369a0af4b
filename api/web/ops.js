// Ops console: store map with live occupancy and gateway health, zone editor (saving publishes
// the retained engine config), rules editor, gateway health, analytics charts. No libraries.
import { api, el, label, storeId, toast } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
const KINDS = ["outside", "entrance", "sales", "checkout", "pickup", "private"];
let layout = null; // the store file as the API keeps it
let draft = null; // the zone editor's copy
let selected = 0;
let gateways = [];
let occupancy = { in_store: 0, zones: {} };
let rules = [];
let ruleSel = null;

function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

// --- geometry: store metres -> SVG (y up in the store file, street at the bottom) ----------
function frame(doc) {
  const pts = [];
  for (const z of doc.zones) if (z.kind !== "outside" && z.polygon) pts.push(...z.polygon);
  for (const g of doc.gateways) if (g.position) pts.push(g.position);
  if (!pts.length) pts.push([0, 0], [10, 10]);
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const pad = 2;
  return { x0: Math.min(...xs) - pad, x1: Math.max(...xs) + pad, y0: Math.min(...ys) - pad - 1.5, y1: Math.max(...ys) + pad };
}
const tx = (f, p) => [p[0] - f.x0, f.y1 - p[1]];
const centroid = (poly) => [poly.reduce((a, p) => a + p[0], 0) / poly.length, poly.reduce((a, p) => a + p[1], 0) / poly.length];

function gwHealth(g) {
  if (!g) return "unknown";
  if (g.state === "offline") return "offline";
  if (g.state !== "online") return "unknown";
  return "online";
}

function drawFloor(svg, doc, opts) {
  const f = frame(doc);
  svg.setAttribute("viewBox", `0 0 ${f.x1 - f.x0} ${f.y1 - f.y0}`);
  svg.replaceChildren();
  const clip = s("clipPath", { id: svg.id + "-clip" }, s("rect", { x: 0, y: 0, width: f.x1 - f.x0, height: f.y1 - f.y0 }));
  svg.append(s("defs", {}, clip));
  const grid = s("g", { "clip-path": `url(#${svg.id}-clip)` });
  svg.append(grid);
  doc.zones.forEach((z, i) => {
    if (!z.polygon) return;
    const pts = z.polygon.map((p) => tx(f, p).join(",")).join(" ");
    const poly = s("polygon", { points: pts, class: `zone ${z.kind}` + (opts.editing && i === selected ? " sel" : ""), "data-zone": z.id });
    grid.append(poly);
    if (opts.editing) poly.addEventListener("pointerdown", (e) => startDrag(e, svg, f, i, null));
  });
  doc.zones.forEach((z, i) => {
    if (!z.polygon) return;
    const top = Math.max(...z.polygon.map((p) => p[1]));
    const inner = z.kind === "outside" ? [(f.x1 + f.x0) / 2, f.y0 + 0.9] : [centroid(z.polygon)[0], top - 0.9];
    const [cx, cy] = tx(f, inner);
    grid.append(s("text", { x: cx, y: cy, class: "zlabel" }, label(z.id) + (z.kind === "private" ? " (private)" : "")));
    if (!opts.editing && z.kind !== "outside" && z.kind !== "private") {
      const n = occupancy.zones[z.id] || 0;
      grid.append(s("text", { x: cx, y: cy + 1.15, class: "zcount" + (n ? "" : " zero"), "data-count": z.id }, n));
    }
    if (opts.editing && i === selected) {
      z.polygon.forEach((p, k) => {
        const [hx, hy] = tx(f, p);
        const h = s("circle", { cx: hx, cy: hy, r: 0.35, class: "handle", "data-corner": k });
        h.addEventListener("pointerdown", (e) => startDrag(e, svg, f, i, k));
        grid.append(h);
      });
    }
  });
  const byId = new Map(gateways.map((g) => [g.gateway, g]));
  for (const g of doc.gateways) {
    if (!g.position) continue;
    const [gx, gy] = tx(f, g.position);
    const health = gwHealth(byId.get(g.id));
    grid.append(s("circle", { cx: gx, cy: gy, r: 0.42, class: "gw " + health, "data-gateway": g.id, "data-health": health },
      s("title", {}, `${g.id}: ${health}`)));
    if (!opts.editing) grid.append(s("text", { x: gx, y: gy + 0.95, class: "gwlabel" }, g.id));
  }
}

// --- map ---------------------------------------------------------------------------------
function renderMap() {
  if (!layout) return;
  drawFloor($("map"), layout, { editing: false });
  $("in-store").textContent = occupancy.in_store;
  const rows = layout.zones.filter((z) => z.kind !== "outside").map((z) =>
    el("tr", { "data-zone": z.id }, el("td", {}, label(z.id)), el("td", { class: "muted" }, z.kind),
      el("td", {}, z.kind === "private" ? "–" : String(occupancy.zones[z.id] || 0))));
  $("occ-table").tBodies[0].replaceChildren(...rows);
}

async function poll() {
  try {
    [occupancy, gateways] = await Promise.all([api("GET", `/stores/${storeId}/occupancy`), api("GET", `/stores/${storeId}/gateways`)]);
    document.body.dataset.polled = String(Date.now());
  } catch (e) { /* keep the last view; the next poll retries */ }
  renderMap();
  renderGateways();
  if (!$("tab-zones").hidden && draft) drawFloor($("editor"), draft, { editing: true });
}

// --- zone editor -------------------------------------------------------------------------
let drag = null;
function startDrag(e, svg, f, zoneIndex, corner) {
  e.preventDefault();
  selected = zoneIndex;
  fillZoneForm();
  const pt = toStore(svg, f, e);
  drag = { svg, f, zoneIndex, corner, last: pt };
  svg.setPointerCapture?.(e.pointerId);
  drawFloor(svg, draft, { editing: true });
}
function toStore(svg, f, e) {
  const m = svg.getScreenCTM().inverse();
  const p = new DOMPoint(e.clientX, e.clientY).matrixTransform(m);
  return [p.x + f.x0, f.y1 - p.y];
}
const snap = (v) => Math.round(v * 2) / 2;
function onMove(e) {
  if (!drag) return;
  const pt = toStore(drag.svg, drag.f, e);
  const poly = draft.zones[drag.zoneIndex].polygon;
  if (drag.corner !== null) {
    poly[drag.corner] = [snap(pt[0]), snap(pt[1])];
  } else {
    const dx = snap(pt[0] - drag.last[0]), dy = snap(pt[1] - drag.last[1]);
    if (!dx && !dy) return;
    for (const p of poly) { p[0] += dx; p[1] += dy; }
    drag.last = [drag.last[0] + dx, drag.last[1] + dy];
  }
  drawFloor(drag.svg, draft, { editing: true });
  $("zone-result").textContent = "Unsaved changes";
}
window.addEventListener("pointermove", onMove);
window.addEventListener("pointerup", () => { drag = null; });

function fillZoneForm() {
  const pick = $("zone-pick");
  pick.replaceChildren(...draft.zones.map((z, i) => el("option", { value: i, selected: i === selected }, z.id)));
  const z = draft.zones[selected];
  if (!z) return;
  $("zone-id").value = z.id;
  $("zone-kind").value = z.kind;
  $("zone-dwell").value = z.dwell_s ?? "";
}
function editZones() {
  draft = JSON.parse(JSON.stringify(layout));
  selected = Math.max(0, draft.zones.findIndex((z) => z.kind !== "outside"));
  fillZoneForm();
  drawFloor($("editor"), draft, { editing: true });
}
$("zone-pick").addEventListener("change", () => { selected = Number($("zone-pick").value); fillZoneForm(); drawFloor($("editor"), draft, { editing: true }); });
$("zone-id").addEventListener("change", () => { draft.zones[selected].id = $("zone-id").value.trim(); fillZoneForm(); });
$("zone-kind").addEventListener("change", () => { draft.zones[selected].kind = $("zone-kind").value; drawFloor($("editor"), draft, { editing: true }); });
$("zone-dwell").addEventListener("change", () => {
  const v = $("zone-dwell").value;
  if (v === "") delete draft.zones[selected].dwell_s; else draft.zones[selected].dwell_s = Number(v);
});
$("zone-add").addEventListener("click", () => {
  const f = frame(draft);
  const cx = snap((f.x0 + f.x1) / 2), cy = snap((f.y0 + f.y1) / 2);
  let n = 1; while (draft.zones.some((z) => z.id === "zone-" + n)) n++;
  draft.zones.push({ id: "zone-" + n, kind: "sales", polygon: [[cx - 1.5, cy - 1.5], [cx + 1.5, cy - 1.5], [cx + 1.5, cy + 1.5], [cx - 1.5, cy + 1.5]] });
  selected = draft.zones.length - 1;
  fillZoneForm(); drawFloor($("editor"), draft, { editing: true });
});
$("zone-point").addEventListener("click", () => {
  const poly = draft.zones[selected].polygon;
  const a = poly[poly.length - 1], b = poly[0];
  poly.push([snap((a[0] + b[0]) / 2), snap((a[1] + b[1]) / 2)]);
  drawFloor($("editor"), draft, { editing: true });
});
$("zone-del").addEventListener("click", () => {
  if (draft.zones.length <= 1) return;
  draft.zones.splice(selected, 1);
  selected = 0; fillZoneForm(); drawFloor($("editor"), draft, { editing: true });
});
$("zone-save").addEventListener("click", async () => {
  const out = $("zone-result");
  out.textContent = "Saving...";
  try {
    const result = await api("PUT", `/stores/${storeId}/layout`, draft);
    layout = result.layout;
    out.textContent = result.published ? "Saved and sent to the store's engine." : "Saved, not sent: " + result.detail;
    document.body.dataset.saved = result.published ? "published" : "kept";
    toast(out.textContent);
    renderMap();
  } catch (e) {
    const d = Array.isArray(e.detail) ? e.detail.map((x) => (x.loc || []).slice(1).join(".") + ": " + x.msg).join("; ") : e.message;
    out.textContent = "Not saved: " + d;
  }
});

// --- rules -------------------------------------------------------------------------------
async function loadRules() {
  rules = await api("GET", `/stores/${storeId}/rules`);
  $("rules").tBodies[0].replaceChildren(...rules.map((r) => el("tr", { class: r.id === ruleSel?.id ? "sel" : "", onclick: () => pickRule(r) },
    el("td", {}, r.id), el("td", {}, r.name), el("td", {}, r.trigger.replace("_", " ") + (r.zone ? " · " + r.zone : "")),
    el("td", {}, r.action + (r.tiers.length ? " · " + r.tiers.join("/") : "")), el("td", {}, r.enabled ? "✓" : "–"))));
}
function pickRule(r) {
  ruleSel = r;
  const zones = (layout ? layout.zones : []).map((z) => z.id);
  $("r-zone").replaceChildren(el("option", { value: "" }, "(any)"), ...zones.map((z) => el("option", { value: z }, z)));
  $("r-name").value = r ? r.name : "";
  $("r-trigger").value = r ? r.trigger : "store_entry";
  $("r-zone").value = r && r.zone ? r.zone : "";
  $("r-dwell").value = r ? r.min_dwell_s : 0;
  $("r-tiers").value = r ? r.tiers.join(", ") : "";
  $("r-action").value = r ? r.action : "alert";
  $("r-message").value = r ? r.message : "";
  $("r-coupon").value = r ? r.coupon_text : "";
  $("r-enabled").checked = r ? r.enabled : true;
  $("rule-result").textContent = r ? "Editing rule " + r.id : "New rule";
  loadRules();
}
$("rule-new").addEventListener("click", () => pickRule(null));
$("rule-save").addEventListener("click", async () => {
  const base = ruleSel ? { ...ruleSel } : {};
  delete base.id; delete base.store_id;
  const body = { ...base, name: $("r-name").value, trigger: $("r-trigger").value, zone: $("r-zone").value || null,
    min_dwell_s: Number($("r-dwell").value || 0), tiers: $("r-tiers").value.split(",").map((t) => t.trim()).filter(Boolean),
    action: $("r-action").value, message: $("r-message").value, coupon_text: $("r-coupon").value, enabled: $("r-enabled").checked };
  try {
    ruleSel = ruleSel ? await api("PUT", `/stores/${storeId}/rules/${ruleSel.id}`, body) : await api("POST", `/stores/${storeId}/rules`, body);
    $("rule-result").textContent = "Saved rule " + ruleSel.id;
    loadRules();
  } catch (e) {
    $("rule-result").textContent = "Not saved: " + (Array.isArray(e.detail) ? e.detail.map((x) => x.loc.slice(1).join(".") + ": " + x.msg).join("; ") : e.message);
  }
});

// --- gateways ----------------------------------------------------------------------------
function renderGateways() {
  $("gateways").tBodies[0].replaceChildren(...gateways.map((g) => {
    const h = g.health || {};
    const state = gwHealth(g);
    return el("tr", { "data-gateway": g.gateway }, el("td", {}, g.gateway),
      el("td", {}, el("span", { class: "dot " + (state === "online" ? "ok" : state === "offline" ? "bad" : "") }), " ", g.state),
      el("td", {}, h.adverts_per_s !== undefined ? Number(h.adverts_per_s).toFixed(1) : "–"),
      el("td", {}, h.adverts_passed ?? "–"), el("td", {}, h.adverts_dropped ?? "–"), el("td", {}, h.queue_depth ?? "–"),
      el("td", {}, h.scanner_restarts ?? "–"), el("td", {}, g.health_ts !== null ? "reported" : "none yet"));
  }));
}

// --- analytics ---------------------------------------------------------------------------
// Bar charts drawn in the SVG's own pixels (redrawn when its width changes), so their text keeps
// its size on any tablet. Round y ticks; category labels that would collide are thinned (hours)
// or slanted and shortened (zone names); a value label that does not fit over its bar is left
// out (the bar's tooltip has it). Notes and big numbers sit in the panel's heading, off the bars.
const CHART_H = 210;

function textWidth(svg, text, cls) {
  const node = s("text", { class: cls, x: 0, y: -100 }, text);
  svg.append(node);
  const width = node.getComputedTextLength();
  node.remove();
  return width;
}

function fitText(svg, text, cls, room) {
  if (textWidth(svg, text, cls) <= room) return text;
  let n = text.length - 1;
  while (n > 1 && textWidth(svg, text.slice(0, n) + "…", cls) > room) n--;
  return text.slice(0, n) + "…";
}

function niceTicks(max, integer) {
  const raw = max / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 5, 10].map((m) => m * mag).find((st) => st >= raw);
  if (integer) step = Math.max(1, Math.ceil(step));
  const ticks = [];
  for (let k = 0; ticks.length === 0 || ticks[ticks.length - 1] < max; k++) ticks.push(Number((k * step).toPrecision(6)));
  return ticks;
}

function bars(svg, items, opts = {}) {
  svg.__draw = () => bars(svg, items, opts);
  const W = Math.round(svg.getBoundingClientRect().width) || 420, H = CHART_H;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.replaceChildren();
  if (!items.length) { svg.append(s("text", { x: W / 2, y: H / 2, class: "axis", "text-anchor": "middle" }, "no data yet")); return; }
  const fmt = opts.fmt || String;
  const series = opts.series || 1;
  const ticks = niceTicks(Math.max(1, ...items.flatMap((it) => it.values.filter((v) => v !== null))), !opts.fmt);
  const top = ticks[ticks.length - 1];
  const L = 8 + Math.max(...ticks.map((v) => textWidth(svg, fmt(v), "axis"))), R = 6, T = 16;
  const slot = (W - L - R) / items.length;
  const bw = Math.min(38, (slot * 0.85) / series);
  // category labels: straight if they fit their slot, else every n-th (ordered) or slanted
  const SLANT = (40 * Math.PI) / 180, LINE = 13;
  const widest = Math.max(...items.map((it) => textWidth(svg, it.label, "axis")));
  let every = 1, slant = false;
  if (widest > slot - 6) {
    if (opts.ordered) every = Math.ceil((widest + 6) / slot);
    else {
      slant = true;
      every = Math.ceil(LINE / (slot * Math.sin(SLANT)));
    }
  }
  const B = slant ? Math.min(76, 18 + widest * Math.sin(SLANT)) : 22;
  const plotH = H - B - T;
  ticks.forEach((v) => {
    const y = T + plotH * (1 - v / top);
    svg.append(s("line", { x1: L, x2: W - R, y1: y, y2: y, stroke: "#eceff3" }));
    svg.append(s("text", { x: L - 5, y: y + 3.5, class: "axis", "text-anchor": "end" }, fmt(v)));
  });
  items.forEach((it, i) => {
    const x = L + slot * i + (slot - bw * series) / 2;
    const mid = L + slot * (i + 0.5);
    it.values.forEach((v, j) => {
      if (v === null) return;
      const h = (plotH * v) / top;
      svg.append(s("rect", { x: x + j * bw, y: H - B - h, width: bw - 2, height: h, rx: 2, class: "bar " + (opts.classes ? opts.classes[j] : "") },
        s("title", {}, `${it.label}: ${fmt(v)}`)));
      const text = fmt(v);
      if (textWidth(svg, text, "val") <= (series > 1 ? bw - 1 : slot - 6)) {
        svg.append(s("text", { x: x + j * bw + bw / 2 - 1, y: H - B - h - 3, class: "val" }, text));
      }
    });
    if (i % every) return;
    if (!slant) {
      svg.append(s("text", { x: mid, y: H - B + 14, class: "axis cat", "text-anchor": "middle" }, it.label));
      return;
    }
    // slanted: hangs down-left from under its slot; shortened to the room below and to the left
    const room = Math.min((B - 17) / Math.sin(SLANT), (mid - 9) / Math.cos(SLANT));
    const y = H - B + 11;
    svg.append(s("text", { x: mid, y, class: "axis cat", "text-anchor": "end", transform: `rotate(-40 ${mid} ${y})` },
      fitText(svg, it.label, "axis", room), s("title", {}, it.label)));
  });
}

const secs = (v) => (Number.isInteger(v) || v >= 10 ? Math.round(v) : v.toFixed(1)) + "s";
async function loadAnalytics() {
  const a = await api("GET", `/stores/${storeId}/analytics`);
  bars($("c-footfall"), Object.entries(a.footfall_by_hour).sort().map(([h, n]) => ({ label: h + "h", values: [n] })), { ordered: true });
  bars($("c-dwell"), a.dwell.map((d) => ({ label: d.zone, values: [d.median_s, d.p90_s] })), { series: 2, classes: ["", "alt"], fmt: secs });
  bars($("c-response"), [{ label: "median", values: [a.alert_response_median_s] }, { label: "p90", values: [a.alert_response_p90_s] }], { fmt: secs });
  $("n-response").textContent = `${a.alerts_claimed} of ${a.alerts} claimed`;
  bars($("c-coupons"), [{ label: "issued", values: [a.coupons_issued] }, { label: "redeemed", values: [a.coupons_redeemed] }], { classes: ["ok"] });
  $("n-coupons").textContent = a.coupon_conversion === null ? "–" : Math.round(a.coupon_conversion * 100) + " %";
  document.body.dataset.analytics = String(Date.now());
}
const resized = new ResizeObserver((entries) => {
  for (const e of entries) if (e.target.__draw && e.contentRect.width > 0) e.target.__draw();
});
for (const svg of document.querySelectorAll("svg.chart")) resized.observe(svg);

// --- tabs and start ----------------------------------------------------------------------
function show(tab) {
  for (const b of document.querySelectorAll(".tabs button")) b.classList.toggle("on", b.dataset.tab === tab);
  for (const sec of document.querySelectorAll(".tab")) sec.hidden = sec.id !== "tab-" + tab;
  if (tab === "zones" && layout) editZones();
  if (tab === "rules") pickRule(ruleSel);
  if (tab === "analytics") loadAnalytics().catch((e) => toast("Analytics: " + e.message));
  if (location.hash !== "#" + tab) history.replaceState(null, "", location.pathname + location.search + "#" + tab);
}
for (const b of document.querySelectorAll(".tabs button")) b.addEventListener("click", () => show(b.dataset.tab));
window.addEventListener("hashchange", () => show((location.hash || "#map").slice(1)));

async function start() {
  try {
    const store = await api("GET", `/stores/${storeId}`);
    $("title").textContent = store.name;
    document.title = "Ops · " + store.name;
  } catch (e) { toast(e.status === 401 ? "Not signed in: open this page with ?token=" : e.message); }
  try { layout = await api("GET", `/stores/${storeId}/layout`); } catch (e) { layout = { store: { id: storeId, name: storeId }, gateways: [], zones: [], engine: {} }; }
  await poll();
  setInterval(poll, 2000);
  show((location.hash || "#map").slice(1));
  document.body.dataset.ready = "1";
}
start();
