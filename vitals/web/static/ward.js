// The ward page: one tile per patient of the census (who is monitored now), sickest first,
// kept live by /api/stream. At hospital scale it stays fast: every patient's state is kept
// (data only), but tiles exist only for the sickest that are on screen (more are made as the
// page is scrolled), and an update touches only the tiles of patients whose state changed.
// Opened without a ward or prefix, a census larger than one screen shows the ward list.
"use strict";

const TREND_MINUTES = 15;
const TILE_PX = [320, 250]; // about one tile's width and height: how many fit one screen
const MIN_TILES = 24; // tiles made at once, at least (cheap; a small ward shows whole)
const states = new Map(); // patient_id -> PatientState: the whole census of this filter
const tiles = new Map(); // patient_id -> { state, el, parts, plot, trend }: shown tiles only
let order = [];
let limit = 0; // tiles shown: a screenful, then a screenful more at each scroll to the end
// ?prefix=, ?ward= (one ward of the list), ?view=tiles (tiles, not the ward list),
// ?include=all (also the patients who left the census)
let filter = { prefix: "", ward: "", tiles: false, include: "" };
let wardsShown = ""; // the ward list as last drawn (redrawn only when a count changes)
let stream = null;
let announced = null; // keys of the alarms already announced (null: before the first snapshot)

const SPARK_HEIGHT = 60; // px
const TREND_SERIES = [
  // [key, label, unit, CSS colour variable]; the tile's legend names each line
  ["hr", "HR", "bpm", "--hr"],
  ["spo2", "SpO₂", "%", "--spo2"],
];

function cssVar(name) {
  return getComputedStyle(document.body).getPropertyValue(name).trim();
}

function sparkline(box, trend) {
  const opts = {
    width: box.clientWidth || 280,
    height: SPARK_HEIGHT,
    legend: { show: false },
    cursor: { show: false },
    scales: { x: { time: true }, hr: { auto: true }, spo2: { range: [80, 100] } },
    axes: [{ show: false }, { show: false, scale: "hr" }, { show: false, scale: "spo2" }],
    series: [
      {},
      ...TREND_SERIES.map(([key, label, , color]) => ({
        label, scale: key, stroke: cssVar(color), width: 1.5, spanGaps: true,
      })),
    ],
  };
  const plot = new uPlot(opts, [trend.t, trend.hr, trend.spo2], box);
  plot.observer = fitToBox(plot, box, SPARK_HEIGHT);
  return plot;
}

function trendLegend() {
  return el(
    "div",
    { class: "trend-legend", "aria-hidden": "true" },
    ...TREND_SERIES.map(([key, label, unit]) => el("span", { class: `key ${key}` }, `${label} (${unit})`)),
    el("span", { class: "span" }, `last ${TREND_MINUTES} min`),
  );
}

function renderParts(state) {
  const l = state.latest || {};
  const bp = l.systolic != null ? `${l.systolic}/${l.diastolic}` : "–";
  // a cell per vital: value, unit, and its own age when older than the newest reading
  const vital = (param, short, unit, v) =>
    el(
      "div",
      { class: "vital", "data-vital": param, "data-label": `${short} ${v} ${unit}` },
      el("div", { class: "v" }, v),
      el("div", { class: "k" }, `${short} ${unit}`),
      el("div", { class: "age" }),
    );
  const head = el(
    "div",
    { class: "tile-head" },
    el("a", { class: "pid", href: `/patients/${encodeURIComponent(state.patient_id)}` }, state.patient_id),
    badge(state),
    news2Part(l),
  );
  const vitals = el(
    "div",
    { class: "vitals" },
    vital("heart_rate", "HR", "bpm", fmt(l.heart_rate)),
    vital("spo2", "SpO₂", "%", fmt(l.spo2)),
    vital("blood_pressure", "BP", "mmHg", bp),
    vital("respiratory_rate", "RR", "/min", fmt(l.respiratory_rate)),
    vital("temperature", "Temp", "°C", fmt(l.temperature, 1)),
  );
  const when = el("div", { class: "when" });
  const alerts = el("ul", { class: "alerts" }, state.alerts.map((a) => alertItem(state.patient_id, a, acknowledge)));
  return { head, vitals, when, alerts };
}

function tileClass(state) {
  const sev = state.severity || "ok";
  return ["tile", `sev-${sev}`, state.severity && !state.unacknowledged ? "acked" : "", state.stale ? "stale" : ""]
    .filter(Boolean)
    .join(" ");
}

function updateWhen(t) {
  refreshAges(t.parts.vitals, t.state.latest);
  const ts = t.state.latest && t.state.latest.timestamp;
  if (!ts) {
    t.parts.when.textContent = "no reading yet";
    return;
  }
  const age = (serverNow() - Date.parse(ts)) / 1000;
  if (t.state.clock_ahead) {
    t.parts.when.textContent = `CLOCK AHEAD: last reading ${aheadText(age)} · ${timeOf(ts)}`;
    return;
  }
  const staleNote = t.state.stale ? "STALE: last reading " : "";
  t.parts.when.textContent = `${staleNote}${ago(age)} · ${timeOf(ts)}`;
}

function appendTrend(t, state) {
  const l = state.latest;
  if (!l) return;
  const x = Date.parse(l.timestamp) / 1000;
  const tr = t.trend;
  if (tr.t.length && x <= tr.t[tr.t.length - 1]) return;
  tr.t.push(x);
  tr.hr.push(l.heart_rate);
  tr.spo2.push(l.spo2);
  const cutoff = x - TREND_MINUTES * 60;
  while (tr.t.length > 2 && tr.t[0] < cutoff) {
    tr.t.shift();
    tr.hr.shift();
    tr.spo2.shift();
  }
  if (t.plot) t.plot.setData([tr.t, tr.hr, tr.spo2]);
  t.el.dataset.trendPoints = String(tr.t.length);
}

function upsert(state) {
  let t = tiles.get(state.patient_id);
  const parts = renderParts(state);
  if (!t) {
    const spark = el("div", {
      class: "spark",
      role: "img",
      "aria-label": `heart rate (bpm) and SpO₂ (%), last ${TREND_MINUTES} minutes`,
    });
    const tileEl = el("section", { class: tileClass(state), "data-patient": state.patient_id });
    t = { state, el: tileEl, parts, spark, plot: null, trend: { t: [], hr: [], spo2: [] } };
    tileEl.append(parts.head, parts.vitals, parts.when, parts.alerts, spark, trendLegend());
    tiles.set(state.patient_id, t);
  } else {
    t.parts.head.replaceWith(parts.head);
    t.parts.vitals.replaceWith(parts.vitals);
    t.parts.when.replaceWith(parts.when);
    t.parts.alerts.replaceWith(parts.alerts);
    t.parts = parts;
    t.state = state;
    t.el.className = tileClass(state);
  }
  t.el.dataset.severity = state.severity || "none";
  t.el.dataset.stale = String(state.stale);
  appendTrend(t, state);
  updateWhen(t);
  return t;
}

function screenful() {
  const cols = Math.max(1, Math.floor(window.innerWidth / TILE_PX[0]));
  const rows = Math.max(1, Math.ceil(window.innerHeight / TILE_PX[1]));
  return cols * rows;
}

// The ward list instead of tiles: no ward or prefix chosen and more patients than one screen.
function wardListWanted() {
  return !filter.prefix && !filter.ward && !filter.tiles && states.size > screenful();
}

function layout() {
  const box = document.getElementById("tiles");
  let alerting = 0, stale = 0;
  for (const s of states.values()) {
    if (s.unacknowledged) alerting += 1;
    if (s.stale) stale += 1;
  }
  const counts = document.getElementById("counts");
  counts.textContent = `${states.size} patients · ${alerting} alerting · ${stale} stale`;
  counts.dataset.patients = String(states.size);
  if (!states.size) {
    dropTiles();
    box.className = "";
    box.replaceChildren(el("div", { class: "empty" }, "No patients (yet) for this filter."));
  } else if (wardListWanted()) {
    showWards(box);
  } else {
    showTiles(box);
  }
  const alarms = boardAlarms();
  vitalsAlarm.setAlerts(alarms);
  announce(alarms);
}

// Per ward (the state's group: register ward, else id prefix, else unassigned).
function wardRows() {
  const wards = new Map();
  for (const s of states.values()) {
    const name = s.group || "unassigned";
    const w = wards.get(name) || { ward: name, patients: 0, alerting: 0, unacknowledged: 0, stale: 0 };
    w.patients += 1;
    if (s.alerts.length) w.alerting += 1;
    if (s.unacknowledged) w.unacknowledged += 1;
    if (s.stale) w.stale += 1;
    wards.set(name, w);
  }
  return [...wards.values()].sort((a, b) => b.unacknowledged - a.unacknowledged || a.ward.localeCompare(b.ward));
}

function showWards(box) {
  dropTiles();
  const rows = wardRows();
  const key = JSON.stringify(rows);
  if (box.className === "wardlist" && key === wardsShown) return;
  wardsShown = key;
  box.className = "wardlist";
  const link = (params, text) => {
    const url = new URL(location.href);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    return el("a", { href: url.pathname + url.search }, text);
  };
  const num = (n, cls) => el("td", { class: n ? cls : "" }, String(n));
  box.replaceChildren(
    el("h2", {}, `${states.size} patients monitored: choose a ward`),
    el(
      "table",
      { class: "wards" },
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          el("th", {}, "Ward"),
          el("th", { title: "patients monitored now" }, "Patients"),
          el("th", { title: "patients with an active alert" }, "Alerting"),
          el("th", { title: "patients with an alert nobody acknowledged" }, "Unack."),
          el("th", { title: "patients without a recent reading" }, "Stale"),
        ),
      ),
      el(
        "tbody",
        {},
        ...rows.map((w) =>
          el(
            "tr",
            { "data-ward": w.ward },
            el("td", {}, link({ ward: w.ward }, w.ward)),
            num(w.patients, ""),
            num(w.alerting, "alerting"),
            num(w.unacknowledged, "unacked"),
            num(w.stale, "stale"),
          ),
        ),
      ),
    ),
    el("p", {}, link({ view: "tiles" }, `Show all ${states.size} patients, sickest first`)),
  );
}

let moreObserver = null;
function showTiles(box) {
  if (box.className !== "") {
    box.className = "";
    box.replaceChildren();
    wardsShown = "";
  }
  limit = Math.max(limit, MIN_TILES, 2 * screenful()); // a screen and the next, at least
  const visible = order.slice(0, limit).filter((p) => states.has(p));
  const keep = new Set(visible);
  dropTiles([...tiles.keys()].filter((p) => !keep.has(p)));
  const made = [];
  for (const pid of visible) {
    if (!tiles.has(pid)) {
      upsert(states.get(pid));
      made.push(pid);
    }
  }
  const wanted = visible.map((p) => tiles.get(p).el);
  if (order.length > visible.length) wanted.push(moreMarker(order.length - visible.length));
  const current = Array.from(box.children);
  if (current.length !== wanted.length || current.some((c, i) => c !== wanted[i])) box.replaceChildren(...wanted);
  for (const t of tiles.values()) {
    if (!t.plot && t.spark.isConnected) t.plot = sparkline(t.spark, t.trend);
  }
  if (made.length) loadTrends(made);
}

// The last cell while more patients than tiles: scrolled into view, a screenful more is shown.
let marker = null;
function moreMarker(rest) {
  if (!marker) {
    marker = el("div", { class: "more", id: "more" });
    moreObserver = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) {
        limit += screenful();
        layout();
      }
    });
    moreObserver.observe(marker);
  }
  marker.textContent = `${rest} more patients below (sickest shown first)`;
  return marker;
}

// Every unacknowledged active alert on the board, sickest patient first.
function boardAlarms() {
  const list = [];
  for (const pid of order) {
    const st = states.get(pid);
    if (!st) continue;
    for (const a of st.alerts) {
      if (a.acknowledged) continue;
      list.push({
        key: `${pid}|${a.rule}|${a.raised_at}|${a.severity}`, // an escalation is a new alarm
        patient: pid,
        alert: a,
        severity: a.severity,
        message: a.message || a.rule,
        raisedAt: Date.parse(a.raised_at),
      });
    }
  }
  return list;
}

// The ARIA live region: each new alarm is announced once, highest priority first.
function announce(alarms) {
  const fresh = announced === null ? [] : alarms.filter((a) => !announced.has(a.key));
  if (announced === null && alarms.length) {
    say(`${alarms.length} alarm${alarms.length > 1 ? "s" : ""} active; highest: ` +
      `${(SEVERITY[alarms[0].severity] || {}).word || alarms[0].severity} ${alarms[0].patient}, ${alarms[0].message}`);
  }
  announced = new Set(alarms.map((a) => a.key));
  fresh.sort((x, y) => (ALARM_RANK[y.severity] || 0) - (ALARM_RANK[x.severity] || 0));
  if (fresh.length) {
    say(fresh.map((a) => `New ${(SEVERITY[a.severity] || {}).word || a.severity} alarm: ${a.patient}, ${a.message}`).join(". "));
  }
}

function say(text) {
  document.getElementById("announce").textContent = text;
}

// --- the alarm sound controls ---------------------------------------------------------------
function fmtMinSec(s) {
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function showSound(s) {
  const box = document.getElementById("sound");
  const enableBtn = document.getElementById("sound-enable");
  const status = document.getElementById("sound-status");
  const pauseBtn = document.getElementById("audio-pause");
  let state = "off";
  if (s.paused) state = "paused";
  else if (s.enabled && s.playing) state = "sounding";
  else if (s.enabled) state = "on";
  box.dataset.state = state;
  box.dataset.wanted = s.wanted || "none";
  box.dataset.playing = s.playing || "none";
  enableBtn.hidden = s.enabled;
  let text = "";
  if (s.paused) text = `Audio paused ${fmtMinSec(s.pauseRemainingS)}` + (s.pausedBy ? ` (${s.pausedBy})` : "");
  else if (s.enabled && s.playing) text = `Sounding: ${SEVERITY[s.playing].shape} ${SEVERITY[s.playing].word} priority`;
  else if (s.enabled) text = "Alarm sound on";
  status.hidden = !text;
  status.textContent = text;
  pauseBtn.textContent = s.paused ? "Resume audio" : "Pause audio 2:00";
  pauseBtn.setAttribute("aria-pressed", s.paused ? "true" : "false");
}

async function togglePause() {
  if (!mayAct("pause alarm audio")) return;
  const by = AUTH === "off" ? localStorage.getItem("vitals.name") || undefined : undefined;
  try {
    if (vitalsAlarm.state().paused) await vitalsAlarm.resumeAudio(by);
    else await vitalsAlarm.pauseAudio(by);
  } catch (e) {
    say(`Audio not paused: ${e.message}`);
  }
}

function acknowledgeSickest() {
  const first = boardAlarms()[0];
  if (first) acknowledge(first.patient, first.alert);
}

function onKey(ev) {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const typing = ev.target.closest && ev.target.closest("input, textarea, select, dialog");
  if (typing) return;
  const key = ev.key.toLowerCase();
  if (key === "p") {
    ev.preventDefault();
    togglePause();
  } else if (key === "a") {
    ev.preventDefault();
    acknowledgeSickest();
  }
}

// The trends of tiles just made (a page asks only for what it shows).
async function loadTrends(ids) {
  try {
    const q = new URLSearchParams({ minutes: TREND_MINUTES, points: 120 });
    for (const pid of ids) q.append("patient", pid);
    const data = await api(`/api/trends?${q}`);
    for (const [pid, tr] of Object.entries(data.patients)) {
      const t = tiles.get(pid);
      if (!t) continue;
      const xs = tr.t.map((ms) => ms / 1000);
      const last = t.trend.t.length ? t.trend.t[t.trend.t.length - 1] : -Infinity;
      const live = { t: [], hr: [], spo2: [] };
      t.trend.t.forEach((x, i) => {
        if (!xs.length || x > xs[xs.length - 1]) {
          live.t.push(x); live.hr.push(t.trend.hr[i]); live.spo2.push(t.trend.spo2[i]);
        }
      });
      t.trend = { t: xs.concat(live.t), hr: tr.heart_rate.concat(live.hr), spo2: tr.spo2.concat(live.spo2) };
      if (t.plot && (xs.length || last > -Infinity)) t.plot.setData([t.trend.t, t.trend.hr, t.trend.spo2]);
      t.el.dataset.trendPoints = String(t.trend.t.length);
    }
  } catch (e) {
    console.warn("trends:", e);
  }
}

// Forget tiles (all, or one patient gone from the board), with their charts' observers.
function dropTiles(ids = [...tiles.keys()]) {
  for (const pid of ids) {
    const t = tiles.get(pid);
    if (t && t.plot) {
      t.plot.observer.disconnect();
      t.plot.destroy();
    }
    tiles.delete(pid);
  }
}

function connect() {
  if (stream) stream.close();
  dropTiles();
  states.clear();
  order = [];
  limit = 0;
  announced = null;
  document.getElementById("tiles").replaceChildren(el("div", { class: "empty" }, "Loading…"));
  stream = liveStream(filter.prefix, {
    snapshot(data) {
      dropTiles();
      states.clear();
      document.getElementById("tiles").replaceChildren();
      for (const s of data.patients) states.set(s.patient_id, s);
      order = data.patients.map((s) => s.patient_id);
      layout();
    },
    update(data) {
      for (const pid of data.removed) states.delete(pid);
      dropTiles(data.removed);
      for (const s of data.patients) {
        states.set(s.patient_id, s);
        if (tiles.has(s.patient_id)) upsert(s); // only the tiles of patients that changed
      }
      order = data.order;
      layout();
    },
  }, { ward: filter.ward, include: filter.include });
}

function main() {
  const params = new URLSearchParams(location.search);
  const input = document.getElementById("prefix");
  input.value = params.get("prefix") || "";
  filter = {
    prefix: input.value.trim(),
    ward: params.get("ward") || "",
    tiles: params.get("view") === "tiles",
    include: params.get("include") === "all" ? "all" : "",
  };
  const scope = document.getElementById("scope");
  if (filter.ward || filter.tiles || filter.include) {
    scope.hidden = false;
    const who = filter.include ? "every patient stored, also those no longer monitored" : "all patients";
    scope.querySelector("b").textContent = filter.ward || who;
  }
  input.addEventListener("change", () => {
    const p = input.value.trim();
    vitalsAlarm.setStation(p);
    const url = new URL(location.href);
    if (p) url.searchParams.set("prefix", p);
    else url.searchParams.delete("prefix");
    history.replaceState(null, "", url);
    filter.prefix = p;
    connect();
  });
  window.addEventListener("resize", () => states.size && layout());
  setInterval(() => tiles.forEach(updateWhen), 1000);
  // sound: browsers allow it only after a gesture, so the first click or key enables it
  vitalsAlarm.onChange(showSound);
  vitalsAlarm.start(input.value.trim());
  const gesture = () => vitalsAlarm.enable();
  document.addEventListener("pointerdown", gesture, true);
  document.addEventListener("keydown", gesture, true);
  document.getElementById("sound-enable").addEventListener("click", gesture);
  document.getElementById("audio-pause").addEventListener("click", togglePause);
  document.addEventListener("keydown", onKey);
  loadHealth().then(connect);
}

main();
