// The patient page: live state, charts of every vital over a range, NEWS2 with alert markers,
// and the alert history. Charts are drawn by uPlot from /api/patients/{id}/readings.
"use strict";

const PID = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] || "");
const CHARTS = [
  { title: "Heart rate (bpm)", unit: "bpm", series: [["heart_rate", "HR", "#e69f00"]] },
  { title: "SpO₂ (%)", unit: "%", series: [["spo2", "SpO₂", "#56b4e9"]] },
  { title: "Blood pressure (mmHg)", unit: "mmHg", series: [["systolic", "systolic", "#cc79a7"], ["diastolic", "diastolic", "#009e73"]] },
  { title: "Respiratory rate (/min)", unit: "/min", series: [["respiratory_rate", "RR", "#f0e442"]] },
  { title: "Temperature (°C)", unit: "°C", digits: 1, series: [["temperature", "Temp", "#d55e00"]] },
];
const MARKERS = [
  ["raised", "▲ raised", "#d55e00"],
  ["cleared", "● cleared", "#009e73"],
  ["acknowledged", "◆ acknowledged", "#bbbbbb"],
];
let plots = []; // [{ plot, observer }]
let range = { hours: 1 };
let refreshTimer = null;

function chartHeight() {
  return window.innerWidth >= 1800 ? 260 : 200; // px; taller on a wall display
}

function withUnit(unit, digits = 0) {
  return (_u, v) => (v === null || v === undefined ? "–" : `${Number(v).toFixed(digits)} ${unit}`);
}

function makePlot(title, unit, series, data, extra = {}) {
  const box = el("div", { class: "plot" });
  const wrap = el("div", { class: "chart", "data-chart": title }, el("h3", {}, title), box);
  document.getElementById("charts").append(wrap);
  const axis = { stroke: "#9aa7b2", grid: { stroke: "#2a333c" } };
  const opts = {
    width: box.clientWidth || 300,
    height: chartHeight(),
    scales: { x: { time: true } },
    axes: [axis, { ...axis, label: unit, labelSize: 18 }],
    series: [{}, ...series],
    ...extra,
  };
  const plot = new uPlot(opts, data, box);
  plots.push({ plot, observer: fitToBox(plot, box, chartHeight) });
  return plot;
}

function news2At(xs, ys, x) {
  // the NEWS2 of the newest reading at or before x (binary search)
  let lo = 0, hi = xs.length - 1, found = null;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] <= x) { found = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return found === null ? (ys[0] ?? 0) : ys[found];
}

function drawCharts(readings, events) {
  for (const { plot, observer } of plots) {
    observer.disconnect();
    plot.destroy();
  }
  plots = [];
  document.getElementById("charts").replaceChildren();
  const xs = readings.map((r) => Date.parse(r.timestamp) / 1000);
  for (const c of CHARTS) {
    const data = [xs, ...c.series.map(([k]) => readings.map((r) => r[k]))];
    const value = withUnit(c.unit, c.digits);
    makePlot(c.title, c.unit, c.series.map(([, label, stroke]) => ({ label, stroke, width: 1.5, value })), data);
  }
  // NEWS2 with alert markers as point-only series, aligned by uPlot.join
  const news2 = readings.map((r) => r.news2);
  const tables = [[xs, news2]];
  for (const [kind] of MARKERS) {
    const ev = events.filter((e) => e.kind === kind);
    const ex = ev.map((e) => Date.parse(e.timestamp) / 1000);
    const uniq = [...new Set(ex)].sort((a, b) => a - b);
    tables.push([uniq, uniq.map((x) => news2At(xs, news2, x))]);
  }
  const joined = uPlot.join(tables);
  const markerSeries = MARKERS.map(([, label, color]) => ({
    label,
    stroke: color,
    fill: color,
    paths: () => null,
    points: { show: true, size: 11, stroke: color, fill: color },
  }));
  makePlot("NEWS2 and alerts", "score", [{ label: "NEWS2", stroke: "#ffffff", width: 1.5, spanGaps: true }, ...markerSeries], joined);
}

function drawHistory(events) {
  const body = document.getElementById("history");
  const rows = events.slice().reverse().map((e) =>
    el(
      "tr",
      { class: e.kind, "data-kind": e.kind },
      el("td", {}, new Date(e.timestamp).toLocaleString([], { hour12: false })),
      el("td", {}, e.kind),
      el("td", {}, e.severity ? `${(SEVERITY[e.severity] || {}).shape || ""} ${e.severity}` : "–"),
      el("td", {}, e.rule),
      el("td", {}, e.message || ""),
    ),
  );
  body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 5, class: "when" }, "No alerts in this range."))]));
}

function currentRange() {
  if (range.hours) {
    const end = new Date(serverNow() + 60_000);
    return { start: new Date(end.getTime() - range.hours * 3600_000 - 60_000), end };
  }
  return { start: range.start, end: range.end };
}

async function load() {
  const { start, end } = currentRange();
  const q = new URLSearchParams({ start: start.toISOString(), end: end.toISOString() });
  const info = document.getElementById("range-info");
  try {
    const [r, a] = await Promise.all([
      api(`/api/patients/${encodeURIComponent(PID)}/readings?${q}`),
      api(`/api/patients/${encodeURIComponent(PID)}/alerts?${q}`),
    ]);
    drawCharts(r.readings, a.events);
    drawHistory(a.events);
    info.textContent = `${r.count} readings${r.truncated ? " (newest shown; narrow the range for all)" : ""}, ${a.count} alert events`;
  } catch (e) {
    info.textContent = `Cannot load: ${e.message}`;
  }
}

function setRange(r) {
  range = r;
  for (const b of document.querySelectorAll(".ranges button[data-hours]")) {
    b.classList.toggle("on", Number(b.dataset.hours) === r.hours);
  }
  clearInterval(refreshTimer);
  if (r.hours) refreshTimer = setInterval(load, 15_000);
  load();
}

function renderNow(state) {
  const box = document.getElementById("now");
  const l = state.latest || {};
  box.className = tileClass(state);
  box.dataset.patient = state.patient_id;
  // one item per vital, each with its own age when it is not from the newest reading
  const item = (param, text) => el("span", { class: "vital-now", "data-vital": param, "data-label": text }, text,
    el("span", { class: "age" }));
  const bp = l.systolic != null ? `${l.systolic}/${l.diastolic}` : "–";
  const items = [
    item("heart_rate", `HR ${fmt(l.heart_rate)} bpm`),
    item("spo2", `SpO₂ ${fmt(l.spo2)} %`),
    item("blood_pressure", `BP ${bp} mmHg`),
    item("respiratory_rate", `RR ${fmt(l.respiratory_rate)} /min`),
    item("temperature", `Temp ${fmt(l.temperature, 1)} °C`),
  ];
  const when = el("div", { class: "when" }, ...items, el("span", { class: "at" }));
  box.replaceChildren(
    el("div", { class: "tile-head" }, el("span", { class: "pid" }, state.patient_id), badge(state), news2Part(l)),
    when,
    el("ul", { class: "alerts" }, state.alerts.map((a) => alertItem(state.patient_id, a, acknowledge))),
  );
  nowState = state;
  refreshNow();
}

// The ages of the summary line (every second): each vital's, and the reading's own time
function refreshNow() {
  const box = document.getElementById("now");
  const l = nowState.latest || {};
  refreshAges(box, l);
  const at = box.querySelector(".when .at");
  const age = (serverNow() - Date.parse(l.timestamp)) / 1000;
  const text = nowState.clock_ahead ? `at ${timeOf(l.timestamp)}, ${aheadText(age)}` : `at ${timeOf(l.timestamp)}`;
  if (at && at.textContent !== text) at.textContent = text;
}

let nowState = null;
setInterval(() => nowState && refreshNow(), 1000);

function tileClass(state) {
  const sev = state.severity || "ok";
  return ["tile", `sev-${sev}`, state.severity && !state.unacknowledged ? "acked" : "", state.stale ? "stale" : ""]
    .filter(Boolean).join(" ");
}

function main() {
  document.getElementById("title").textContent = PID;
  document.title = `${PID} — vitals central station`;
  for (const b of document.querySelectorAll(".ranges button[data-hours]")) {
    b.addEventListener("click", () => setRange({ hours: Number(b.dataset.hours) }));
  }
  document.getElementById("custom").addEventListener("click", () => {
    const from = document.getElementById("from").value;
    const to = document.getElementById("to").value;
    if (!from || !to) return;
    setRange({ start: new Date(from), end: new Date(to) });
  });
  loadHealth().then(() => {
    liveStream(PID, {
      snapshot(data) {
        const s = data.patients.find((p) => p.patient_id === PID);
        if (s) renderNow(s);
        else document.getElementById("now").textContent = `No current state for ${PID}.`;
      },
      update(data) {
        const s = data.patients.find((p) => p.patient_id === PID);
        if (s) renderNow(s);
      },
    });
    setRange({ hours: 1 });
  });
}

main();
