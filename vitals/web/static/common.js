// Shared by the ward and patient pages: API calls, the live stream, tile parts, acknowledgement.
"use strict";

const SEVERITY = {
  high: { shape: "▲", word: "HIGH" },
  medium: { shape: "◆", word: "MEDIUM" },
  low: { shape: "●", word: "LOW" },
};

async function api(path, options = {}) {
  const res = await fetch(path, { credentials: "same-origin", ...options });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.detail || `${res.status} ${res.statusText}`);
  return body;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c);
  return e;
}

// --- charts that fit their panel -----------------------------------------------------------
// A uPlot chart takes the width of its box and follows it (window resize, grid reflow,
// sidebar): the box's width comes from the layout, never from the canvas inside it.
function fitToBox(plot, box, height) {
  const fit = () => {
    const w = Math.floor(box.clientWidth);
    const h = typeof height === "function" ? height() : height;
    if (w > 0 && (w !== plot.width || h !== plot.height)) plot.setSize({ width: w, height: h });
  };
  const observer = new ResizeObserver(fit);
  observer.observe(box);
  fit();
  return observer;
}

function fmt(v, digits = 0) {
  return v === null || v === undefined ? "–" : Number(v).toFixed(digits);
}

function timeOf(iso) {
  return iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : "–";
}

function ago(seconds) {
  if (seconds < 90) return `${Math.max(0, Math.round(seconds))} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

function badge(state) {
  if (state.clock_ahead) return el("span", { class: "badge stale" }, "○ CLOCK AHEAD");
  if (state.stale) return el("span", { class: "badge stale" }, "○ STALE");
  if (!state.severity) return el("span", { class: "badge ok" }, "✓ OK");
  const s = SEVERITY[state.severity] || { shape: "?", word: state.severity.toUpperCase() };
  const cls = state.unacknowledged ? state.severity : "acked";
  const text = `${s.shape} ${s.word}` + (state.unacknowledged ? "" : " · ACK");
  return el("span", { class: `badge ${cls}` }, text);
}

function alertItem(patientId, a, onAck) {
  const s = SEVERITY[a.severity] || { shape: "?", word: String(a.severity).toUpperCase() };
  const acked = a.acknowledged;
  return el(
    "li",
    { class: "alert" + (acked ? " acked" : ""), "data-rule": a.rule, "data-acked": acked ? "true" : "false" },
    el("span", { class: `badge ${acked ? "acked" : a.severity}`, title: a.severity }, `${s.shape} ${s.word}`),
    el("span", { class: "msg" }, a.message || a.rule),
    acked
      ? el("span", { class: "ackinfo" }, `ACK ${acked.by} ${timeOf(acked.at)}`)
      : ROLE === "viewer"
        ? null
        : el("button", { type: "button", class: "ack", onclick: () => onAck(patientId, a) }, "Acknowledge"),
  );
}

// --- acknowledgement dialog -----------------------------------------------------------------
let AUTH = "off";
let ROLE = ""; // "" until /api/health answers; viewer: read only, no acknowledge or audio-pause controls
let CLOCK_SKEW_MS = 0; // server time minus browser time
let STALE_AFTER_S = 30;

async function loadHealth() {
  try {
    const h = await api("/api/health");
    AUTH = h.auth;
    ROLE = h.role || "clinician";
    document.body.dataset.role = ROLE; // app.css hides the audio-pause control for a viewer
    STALE_AFTER_S = h.stale_after_s;
  } catch (e) {
    console.warn(e);
    ROLE = "clinician"; // unknown: the controls stay, and the server refuses what a viewer may not do
  }
}

// May this user do `what` (acknowledge, pause alarm audio)? A viewer may not (the server would
// refuse it, 403): nothing is sent, and the page says a clinician is needed. Nor before the
// page knows the role.
function mayAct(what) {
  if (ROLE === "viewer") {
    const live = document.getElementById("announce");
    if (live) live.textContent = `Only a clinician may ${what}: you are signed in as a viewer.`;
    return false;
  }
  return ROLE !== "";
}

function ackDialog() {
  let d = document.getElementById("ack-dialog");
  if (d) return d;
  d = el(
    "dialog",
    { id: "ack-dialog" },
    el(
      "form",
      { method: "dialog" },
      el("strong", { id: "ack-title" }),
      el("label", { id: "ack-name-label" }, "Your name ", el("input", { id: "ack-name", maxlength: 64 })),
      el("label", {}, "Comment (optional)", el("textarea", { id: "ack-comment", rows: 2, maxlength: 500 })),
      el("div", { id: "ack-error", class: "when" }),
      el(
        "div",
        {},
        el("button", { type: "submit", class: "primary", id: "ack-confirm", value: "ok" }, "Acknowledge"),
        " ",
        el("button", { type: "submit", value: "cancel" }, "Cancel"),
      ),
    ),
  );
  document.body.append(d);
  return d;
}

function acknowledge(patientId, alert) {
  if (!mayAct("acknowledge alarms")) return;
  const d = ackDialog();
  d.querySelector("#ack-title").textContent = `${patientId}: ${alert.message || alert.rule}`;
  d.querySelector("#ack-name-label").style.display = AUTH === "off" ? "" : "none";
  d.querySelector("#ack-name").value = localStorage.getItem("vitals.name") || "";
  d.querySelector("#ack-comment").value = "";
  d.querySelector("#ack-error").textContent = "";
  d.onclose = async () => {
    if (d.returnValue !== "ok") return;
    const name = d.querySelector("#ack-name").value.trim();
    if (name) localStorage.setItem("vitals.name", name);
    const body = { raised_at: alert.raised_at, comment: d.querySelector("#ack-comment").value };
    if (AUTH === "off" && name) body.by = name;
    try {
      await api(`/api/patients/${encodeURIComponent(patientId)}/alerts/${encodeURIComponent(alert.rule)}/ack`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    } catch (e) {
      alert(`Not acknowledged: ${e.message}`);
    }
  };
  d.showModal();
}

// --- the live stream --------------------------------------------------------------------------
// scope: { ward, include } (the ward list's ward; include "all": not only the census)
function liveStream(prefix, handlers, scope = {}) {
  const conn = document.getElementById("conn");
  const q = new URLSearchParams();
  if (prefix) q.set("prefix", prefix);
  if (scope.ward) q.set("ward", scope.ward);
  if (scope.include) q.set("include", scope.include);
  const url = "/api/stream" + (q.toString() ? `?${q}` : "");
  const es = new EventSource(url);
  const mark = (ok, text) => {
    if (!conn) return;
    conn.className = "conn " + (ok ? "live" : "down");
    conn.textContent = text;
  };
  es.addEventListener("open", () => mark(true, "live"));
  es.addEventListener("error", () => mark(false, "disconnected — retrying…"));
  for (const name of ["snapshot", "update"]) {
    es.addEventListener(name, (ev) => {
      const data = JSON.parse(ev.data);
      CLOCK_SKEW_MS = Date.parse(data.server_time) - Date.now();
      mark(true, `live · ${timeOf(data.server_time)}`);
      handlers[name](data);
    });
  }
  return es;
}

function serverNow() {
  return Date.now() + CLOCK_SKEW_MS;
}

// --- each vital's own age (readings carry any subset of the vitals) ------------------------
// latest.measured[param] = { measured_at, window_s }: when the value shown was measured and its
// NEWS2 freshness window. A value older than the newest reading shows its own age; one older
// than its window is stale (shown with "?", never as current).
const PARAM_NAMES = {
  heart_rate: "heart rate", spo2: "SpO₂", blood_pressure: "blood pressure",
  respiratory_rate: "respiratory rate", temperature: "temperature",
};

function span(seconds) {
  if (seconds < 90) return `${Math.max(0, Math.round(seconds))} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

// { age: seconds now, own: from the newest reading, stale: older than its window } or null
function vitalAge(latest, param) {
  const m = latest && latest.measured && latest.measured[param];
  if (!m) return null;
  const at = Date.parse(m.measured_at);
  const age = (serverNow() - at) / 1000;
  // stale as the server decides it (vitals.freshness.stale), and once it passes the window here
  return { age, own: Math.abs(Date.parse(latest.timestamp) - at) < 1000, stale: Boolean(m.stale) || age > m.window_s, ahead: Boolean(m.clock_ahead), window: m.window_s };
}

// "dated 10 min ahead of the server's clock": a value from a device whose clock runs ahead
// (more than 30 s, vitals.freshness.CLOCK_SKEW); its true age is unknown
function aheadText(seconds) {
  return `dated ${span(-seconds)} ahead of the server's clock`;
}

// The age note of a vital: "" when it is the newest reading's own and fresh
function ageNote(a) {
  if (!a || (a.own && !a.stale)) return "";
  if (a.ahead) return "? clock ahead";  // dated in the future: its age is unknown
  return (a.stale ? "? " : "") + ago(a.age);
}

// "NEWS2 incomplete: no temperature for 6 h, blood pressure" or null when complete
function news2Incomplete(latest) {
  const missing = (latest && latest.news2_incomplete) || [];
  if (!missing.length) return null;
  const parts = missing.map((p) => {
    const a = vitalAge(latest, p);
    return (PARAM_NAMES[p] || p.replace(/_/g, " ")) + (a ? ` for ${span(a.age)}` : "");
  });
  return `NEWS2 incomplete: no ${parts.join(", ")}`;
}

// The NEWS2 part of a tile head: the score, or why there is none
function news2Part(latest) {
  const inc = news2Incomplete(latest);
  if (inc) return el("span", { class: "news2 inc", "data-news2": "incomplete" }, inc);
  return el("span", { class: "news2" }, "NEWS2 ", el("b", {}, fmt(latest && latest.news2)));
}

// Refresh the age notes and stale marks of the vitals in `box` (every second)
function refreshAges(box, latest) {
  for (const cell of box.querySelectorAll("[data-vital]")) {
    const a = vitalAge(latest, cell.dataset.vital);
    const note = ageNote(a);
    cell.classList.toggle("old", Boolean(a && a.stale));
    cell.dataset.stale = String(Boolean(a && a.stale));
    const age = cell.querySelector(".age");
    if (age && age.textContent !== note) age.textContent = note;
    const base = cell.dataset.label;
    cell.title = a && a.ahead
      ? `${base} · ${aheadText(a.age)}: not current`
      : a && a.stale
        ? `${base} · ${ago(a.age)}: older than its ${span(a.window)} window, not current`
        : note ? `${base} · ${note}` : base;
  }
}
