// Associate feed: live alerts (SSE with Last-Event-ID), customer cards, claim and resolve,
// a flash and a WebAudio chime for new alerts, reconnection after a network drop (resuming from
// the last event id, so alerts raised meanwhile still arrive, with their chime).
import { api, ago, el, label, principal, storeId, toast } from "./api.js";

const RANK = { offered: 0, claimed: 1, resolved: 2, expired: 2, cancelled: 2 };
const LIVE = new Set(["offered", "claimed"]);
const alerts = new Map(); // id -> alert (latest state)
const cards = new Map(); // id -> customer card
const firstSeen = new Map(); // id -> Date.now() when first shown
let associates = new Map();
let soundOn = localStorage.getItem("prox-sound") === "on";
let audio = null;
const me = principal.associate ?? null;

const $ = (id) => document.getElementById(id);

function beep() {
  if (!soundOn) return;
  try {
    audio = audio || new AudioContext();
    const now = audio.currentTime;
    for (const [i, freq] of [[0, 880], [1, 1320]]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + i * 0.16);
      gain.gain.exponentialRampToValueAtTime(0.25, now + i * 0.16 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.16 + 0.15);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + i * 0.16);
      osc.stop(now + i * 0.16 + 0.16);
    }
    window.__beeps = (window.__beeps || 0) + 1;
  } catch (e) { /* no audio device: the flash is the cue */ }
}

function renderSound() {
  $("sound").textContent = soundOn ? "Sound on" : "Sound off";
  $("sound").setAttribute("aria-pressed", String(soundOn));
}

$("sound").addEventListener("click", () => {
  soundOn = !soundOn;
  localStorage.setItem("prox-sound", soundOn ? "on" : "off");
  renderSound();
  if (soundOn) beep();
});

function nameOf(id) {
  if (id === null || id === undefined) return "";
  if (id === me) return "you";
  return associates.get(id) || "associate " + id;
}

function cardView(alert) {
  const card = cards.get(alert.id);
  const tier = (alert.tier || "").toLowerCase();
  const prefs = card ? Object.entries(card.preferences).filter(([k]) => k !== "no_approach") : [];
  const purchases = card ? card.recent_purchases : alert.recent_purchases;
  const mine = alert.claimed_by !== null && alert.claimed_by === me;
  const zone = card ? (card.in_store ? card.zone_now : null) : alert.zone || "entrance";
  const where = zone ? ["Now in ", el("b", { class: "zone-now" }, label(zone))]
    : [el("b", { class: "zone-now" }, card.in_store ? "Somewhere in the store" : "Has left the store")];
  const actions = [];
  if (alert.status === "offered") {
    actions.push(el("button", { class: "claim", onclick: () => act(alert, "claim") }, "Claim"));
  } else if (alert.status === "claimed" && (mine || principal.role === "ops")) {
    actions.push(el("button", { class: "resolve secondary", onclick: () => act(alert, "resolve") }, "Resolve"));
  }
  const status = alert.status === "claimed" ? "Claimed by " + nameOf(alert.claimed_by)
    : alert.level === "primary" ? "For you first" : alert.level === "zone" ? "Zone team" : "Whole floor";
  const seen = firstSeen.get(alert.id) || Date.now();
  return el("article", { class: "card " + alert.status + (mine ? " mine" : ""), "data-alert": alert.id, "data-status": alert.status },
    el("div", { class: "top" },
      el("div", { class: "avatar " + tier, "aria-hidden": "true" }, card ? card.initials : initialsOf(alert.customer_name)),
      el("div", {},
        el("div", { class: "name" }, alert.customer_name, " ", el("span", { class: "tier " + tier }, alert.tier || "standard")),
        el("div", { class: "muted", style: "font-size:.82rem" }, "alert " + ago((Date.now() - seen) / 1000) + " ago"))),
    alert.message ? el("div", { class: "msg" }, alert.message) : null,
    el("div", { class: "where" }, el("span", { class: "pin", "aria-hidden": "true" }), ...where),
    (card ? card.pickup_orders.length : alert.pickup_waiting)
      ? el("div", { class: "pickup" }, "Pickup order waiting" + (card ? ": " + card.pickup_orders.join(", ") : "")) : null,
    prefs.length ? el("div", { class: "row" }, el("span", { class: "k" }, "Prefers"),
      ...prefs.map(([k, v]) => el("span", { class: "chip" }, label(k) + ": " + (Array.isArray(v) ? v.join(", ") : v)))) : null,
    purchases && purchases.length ? el("div", { class: "row" }, el("span", { class: "k" }, "Recently bought"),
      ...purchases.slice(0, 4).map((p) => el("span", { class: "chip" }, p))) : null,
    el("div", { class: "actions" }, el("span", { class: "status" }, status), ...actions));
}

function initialsOf(name) {
  const words = (name || "?").split(/\s+/).filter(Boolean);
  return ((words[0] || "?")[0] + (words.length > 1 ? words[words.length - 1][0] : "")).toUpperCase();
}

function render() {
  const live = [...alerts.values()].filter((a) => LIVE.has(a.status)).sort((a, b) => b.id - a.id);
  $("alerts").replaceChildren(...live.map(cardView));
  $("empty").hidden = live.length > 0;
  const closed = [...alerts.values()].filter((a) => !LIVE.has(a.status)).sort((a, b) => b.id - a.id).slice(0, 8);
  $("closed").replaceChildren(...closed.map((a) => el("div", { class: "line", "data-alert": a.id },
    `${a.customer_name} · ${a.status}` + (a.claimed_by ? " · claimed by " + nameOf(a.claimed_by) : ""))));
  for (const node of document.querySelectorAll(".card")) {
    const id = Number(node.dataset.alert);
    if (Date.now() - (firstSeen.get(id) || 0) < 2500) node.classList.add("fresh");
  }
}

async function loadCard(id) {
  try {
    cards.set(id, await api("GET", `/stores/${storeId}/alerts/${id}/card`));
    render();
  } catch (e) { /* the alert stays without its card; retried on the next refresh */ }
}

const via = new Map(); // id -> "stream" or "list": how the page first learnt of the alert

function accept(alert, chime, how = "list") {
  const known = alerts.get(alert.id);
  if (known && RANK[alert.status] < RANK[known.status]) return; // an older state replayed
  const isNew = !known;
  alerts.set(alert.id, alert);
  if (isNew) {
    firstSeen.set(alert.id, Date.now());
    via.set(alert.id, how);
    if (chime && LIVE.has(alert.status)) beep();
  }
  if (LIVE.has(alert.status) && (isNew || !cards.has(alert.id))) loadCard(alert.id);
  render();
}

async function act(alert, what) {
  try {
    accept(await api("POST", `/stores/${storeId}/alerts/${alert.id}/${what}`, what === "claim" ? {} : undefined), false);
    toast(what === "claim" ? "Claimed: " + alert.customer_name : "Resolved");
  } catch (e) {
    toast(e.status === 409 ? "Someone else has it already" : "Could not " + what + ": " + e.message);
    refresh();
  }
}

let loaded = false; // the first list is what was there before the page opened: no chime
async function refresh() {
  const held = [...alerts.values()].filter((a) => LIVE.has(a.status)).map((a) => a.id);
  const list = await api("GET", `/stores/${storeId}/alerts?live=true&limit=100`);
  const live = new Set(list.map((a) => a.id));
  for (const a of list) accept(a, loaded);
  loaded = true;
  // live alerts we held before asking that the server no longer lists ended while we were away
  // (one that arrived on the stream meanwhile may be newer than the list)
  for (const id of held) {
    const a = alerts.get(id);
    if (LIVE.has(a.status) && !live.has(id)) alerts.set(id, { ...a, status: "expired" });
  }
  render();
}

// --- the live connection ------------------------------------------------------------------
// EventSource reconnects by itself after a dropped stream, sending Last-Event-ID, and the API
// replays what we missed. It gives up after an HTTP error (a proxy's 502 while the API
// restarts): then we open a new one with backoff, passing the last id as ?last_event_id=.
// When the device reports offline we close at once (an open stream can hang for minutes) and
// reconnect as soon as it is back. The API pings idle streams every 15 s, so a stream silent
// for STALE_MS is dead and replaced the same way.
const STALE_MS = 40000;
let source = null;
let lastId = "";
let lastSeen = 0;
let failures = 0;
let retryTimer = null;
let everLive = false;

function setConn(state, text) {
  const conn = $("conn");
  conn.dataset.state = state;
  conn.replaceChildren(el("span", { class: "dot " + (state === "live" ? "ok" : state === "down" ? "bad" : "warn") }), el("span", {}, text));
  if (state === "live") everLive = true;
  const banner = $("offline");
  banner.hidden = state === "live" || !everLive;
  banner.dataset.state = state;
  banner.textContent = (state === "down" ? "No connection (" + text + ")." : "Connection lost, reconnecting.")
    + " Alerts raised meanwhile appear here by themselves once it is back.";
}

function disconnect() {
  clearTimeout(retryTimer);
  retryTimer = null;
  if (source) source.close();
  source = null;
}

function goOffline() {
  disconnect();
  setConn("down", "offline");
}

function retryLater() {
  disconnect();
  const delay = Math.min(30000, 1000 * 2 ** Math.min(failures, 5)) * (0.75 + Math.random() / 2);
  failures += 1;
  setConn("down", "retrying in " + Math.ceil(delay / 1000) + " s");
  retryTimer = setTimeout(connect, delay);
}

function connect() {
  disconnect();
  if (!navigator.onLine) return goOffline();
  const query = new URLSearchParams({ access_token: sessionStorage.getItem("prox-token") || "" });
  if (lastId) query.set("last_event_id", lastId);
  const es = new EventSource(`/stores/${storeId}/alerts/feed?${query}`);
  source = es;
  lastSeen = Date.now();
  window.__feed = { source: es, alerts, via, lastId: () => lastId };
  const seen = (e) => {
    lastSeen = Date.now();
    if (e.lastEventId) lastId = e.lastEventId;
  };
  let replayed = false;
  es.addEventListener("open", (e) => {
    seen(e);
    failures = 0;
    replayed = false;
    setConn("live", "live");
  });
  es.addEventListener("ping", (e) => {
    seen(e);
    if (replayed) return;
    // the first ping of a (re)opened stream follows what it replayed: now re-read the live list
    // too (it catches what a restarted API no longer has to replay)
    replayed = true;
    refresh().catch(() => {});
  });
  es.addEventListener("alert", (e) => {
    seen(e);
    accept(JSON.parse(e.data), true, "stream");
  });
  es.addEventListener("error", () => {
    if (es !== source) return;
    if (!navigator.onLine) goOffline();
    else if (es.readyState === EventSource.CLOSED) retryLater(); // the browser gave up
    else setConn("connecting", "reconnecting"); // the browser retries with Last-Event-ID
  });
}

window.addEventListener("offline", goOffline);
window.addEventListener("online", () => {
  failures = 0;
  if (!source || source.readyState !== EventSource.OPEN) connect();
});
setInterval(() => {
  if (source && Date.now() - lastSeen > STALE_MS) {
    setConn("connecting", "reconnecting");
    connect(); // silent for too long: a dead connection the browser has not noticed
  }
}, 5000);

async function start() {
  renderSound();
  try {
    const store = await api("GET", `/stores/${storeId}`);
    $("title").textContent = store.name;
    document.title = "Alerts · " + store.name;
  } catch (e) {
    setConn("down", e.status === 401 ? "not signed in" : "API unreachable");
  }
  try {
    associates = new Map((await api("GET", `/stores/${storeId}/associates`)).map((a) => [a.id, a.name]));
  } catch (e) { /* names fall back to ids */ }
  $("who").textContent = me !== null ? associates.get(me) || "associate " + me : principal.role || "guest";
  connect();
  setInterval(() => { for (const [id, a] of alerts) if (LIVE.has(a.status)) loadCard(id); }, 10000);
  setInterval(render, 15000);
}

start();
