// Alarm sound of the ward page: the IEC 60601-1-8 auditory alarm signals, synthesised with
// the Web Audio API (no audio files), and "audio paused" for a set time.
//
// IEC 60601-1-8:2006+A1:2012 (medical electrical equipment — alarm systems), table 4:
// a burst of pulses whose count and rhythm say the priority:
//   HIGH   10 pulses  x-x-x--x-x ...... x-x-x--x-x   pulse td 75–200 ms, spacing ts 50–125 ms,
//          between the 3rd and 4th pulse 2·ts+td, between the 5th and 6th 0.35–1.30 s,
//          bursts 2.5–15 s apart
//   MEDIUM  3 pulses  x-x-x                        td 125–250 ms, ts 125–250 ms, 2.5–30 s apart
//   LOW     1–2 pulses x-x                         td 125–250 ms, ts 125–250 ms, > 15 s apart
// Each pulse: a fundamental of 150–1000 Hz with at least 4 harmonics within ±15 dB, rising
// and falling over 10–20 % of its duration. Timings below are start offsets in ms.
//
// Rules of this page (the ward's central station):
// - the sound is that of the highest priority among the unacknowledged active alerts;
// - "audio paused" covers the alerts on the board when it began; an alert raised after it
//   sounds at once, so a new HIGH alarm is never silent;
// - a browser allows sound only after a user gesture: until then the page says
//   "click to enable alarm sound" and never shows itself as audible.
// The page's own state is `window.vitalsAlarm.state()` (used by the browser tests).
"use strict";

const ALARM_PATTERNS = {
  high: { pulses: [0, 250, 500, 1000, 1250, 2100, 2350, 2600, 3100, 3350], td: 150, period: 7000, gain: 0.5 },
  medium: { pulses: [0, 400, 800], td: 200, period: 8000, gain: 0.35 },
  low: { pulses: [0, 400], td: 200, period: 20000, gain: 0.25 },
};
const ALARM_RANK = { high: 3, medium: 2, low: 1 };
const ALARM_F0_HZ = 523.25; // C5, inside 150–1000 Hz
const ALARM_HARMONICS = [0, 1, 0.6, 0.5, 0.4, 0.3]; // 1st..5th: all within 11 dB of the first
const ALARM_EDGE_S = 0.02; // rise and fall: 20 ms, 10–20 % of a 150–200 ms pulse
const PAUSE_S = 120;
const TICK_MS = 100;

const vitalsAlarm = (() => {
  let ctx = null;
  let wave = null;
  let alerts = []; // unacknowledged active alerts: { key, patient, severity, message, raisedAt (ms) }
  let pause = null; // { pausedAt (server ms), deadline (page ms), by, covers: Set of alert keys }
  let playing = null; // the priority whose pattern sounds now
  let nextBurst = 0; // page ms
  const bursts = []; // the last bursts scheduled: { priority, at (page ms), pulses }
  let queued = []; // oscillators of the burst under way: silenced when the sound changes
  let station = "";
  let seenAt = -Infinity; // paused_at (server ms) of the newest pause or resume applied
  let epoch = 0; // this page's own pauses and resumes so far
  const listeners = [];

  function audible() {
    return ctx !== null && ctx.state === "running";
  }

  function ensureContext() {
    if (ctx) return ctx;
    const AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) return null;
    ctx = new AC();
    ctx.addEventListener("statechange", changed);
    return ctx;
  }

  // Called from a user gesture (click, key): the browser lets the context run from now on.
  function enable() {
    const c = ensureContext();
    if (!c) return Promise.resolve(false);
    return c.resume().then(() => {
      changed();
      return audible();
    }, () => false);
  }

  function periodicWave() {
    if (!wave) {
      const real = new Float32Array(ALARM_HARMONICS.length);
      wave = ctx.createPeriodicWave(real, Float32Array.from(ALARM_HARMONICS));
    }
    return wave;
  }

  function scheduleBurst(priority) {
    const p = ALARM_PATTERNS[priority];
    const t0 = ctx.currentTime + 0.05;
    const td = p.td / 1000;
    for (const offset of p.pulses) {
      const start = t0 + offset / 1000;
      const osc = ctx.createOscillator();
      osc.setPeriodicWave(periodicWave());
      osc.frequency.value = ALARM_F0_HZ;
      const env = ctx.createGain();
      env.gain.setValueAtTime(0, start);
      env.gain.linearRampToValueAtTime(p.gain, start + ALARM_EDGE_S);
      env.gain.setValueAtTime(p.gain, start + td - ALARM_EDGE_S);
      env.gain.linearRampToValueAtTime(0, start + td);
      osc.connect(env).connect(ctx.destination);
      osc.start(start);
      osc.stop(start + td + 0.01);
      queued.push(osc);
      osc.addEventListener("ended", () => {
        queued = queued.filter((o) => o !== osc);
      });
    }
    bursts.push({ priority, at: Date.now(), pulses: p.pulses.slice() });
    if (bursts.length > 50) bursts.shift();
  }

  function silence() {
    for (const osc of queued) {
      try {
        osc.stop(); // now: also cancels a pulse not started yet
      } catch (e) {
        /* already ended */
      }
    }
    queued = [];
  }

  // A pause covers the alarms on the board when it began (as this page learnt it), and
  // none raised after it: a reading's own time can lag its arrival, so the page's view
  // decides what was there, and a later raise is never covered.
  function pausedFor(a) {
    return pause !== null && Date.now() < pause.deadline && pause.covers.has(a.key) && !(a.raisedAt > pause.pausedAt);
  }

  function wanted() {
    let best = null;
    for (const a of alerts) {
      if (pausedFor(a)) continue;
      if (!best || ALARM_RANK[a.severity] > ALARM_RANK[best]) best = a.severity;
    }
    return best;
  }

  function tick() {
    if (pause && Date.now() >= pause.deadline) pause = null;
    const want = audible() ? wanted() : null;
    if (want !== playing) {
      silence(); // acknowledged, paused or changed priority: not one more pulse of the old burst
      playing = want;
      nextBurst = Date.now(); // a new or higher alarm: its first burst at once
    }
    if (playing && Date.now() >= nextBurst) {
      scheduleBurst(playing);
      nextBurst = Date.now() + ALARM_PATTERNS[playing].period;
    }
    changed();
  }

  function changed() {
    const s = state();
    for (const f of listeners) f(s);
  }

  function state() {
    return {
      enabled: audible(),
      contextState: ctx ? ctx.state : "none",
      wanted: wanted(),
      playing: audible() ? playing : null,
      paused: pause !== null && Date.now() < pause.deadline,
      pauseRemainingS: pause ? Math.max(0, Math.ceil((pause.deadline - Date.now()) / 1000)) : 0,
      pausedBy: pause ? pause.by : null,
      bursts: bursts.slice(),
      alerts: alerts.length,
    };
  }

  // alerts: every unacknowledged active alert on the board (ward.js calls this on each update)
  function setAlerts(list) {
    alerts = list.filter((a) => ALARM_RANK[a.severity]);
    tick();
  }

  function applyPause(p) {
    // p: an AudioPause from the API (server times; remaining_s from the server's now), or
    // null when none is in force. Only a pause or resume newer than the last one seen
    // changes anything: an answer that was overtaken (a refresh sent before this page's own
    // pause or resume) is ignored, and a pause already running keeps its countdown on this
    // page's clock, so the two clocks never disagree about when it ends.
    if (p) {
      const at = Date.parse(p.paused_at);
      if (at <= seenAt) return tick();
      seenAt = at;
    }
    if (!p || p.action !== "paused" || p.remaining_s <= 0) pause = null;
    else {
      pause = {
        pausedAt: Date.parse(p.paused_at),
        deadline: Date.now() + p.remaining_s * 1000,
        by: p.by,
        covers: new Set(alerts.map((a) => a.key)),
      };
    }
    tick();
  }

  async function pauseAudio(by) {
    epoch += 1;
    const body = { station, seconds: PAUSE_S };
    if (by) body.by = by;
    const p = await api("/api/audio/pause", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    applyPause(p);
    return p;
  }

  async function resumeAudio(by) {
    epoch += 1;
    const body = { station };
    if (by) body.by = by;
    const p = await api("/api/audio/resume", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    applyPause(p);
    return p;
  }

  async function refreshPause() {
    const asked = epoch;
    try {
      const s = await api(`/api/audio/pause?station=${encodeURIComponent(station)}`);
      if (asked !== epoch) return; // overtaken by this page's own pause or resume
      applyPause(s.pause);
    } catch (e) {
      console.warn("audio pause:", e);
    }
  }

  function start(forStation) {
    station = forStation;
    ensureContext();
    setInterval(tick, TICK_MS);
    refreshPause();
    setInterval(refreshPause, 5000); // pauses made on the ward's other screens
  }

  return {
    start,
    enable,
    setAlerts,
    pauseAudio,
    resumeAudio,
    refreshPause,
    state,
    audioTime: () => (ctx ? ctx.currentTime : 0), // s, the audio clock pulses are scheduled on
    onChange: (f) => listeners.push(f),
    setStation: (s) => {
      station = s;
      pause = null;
      seenAt = -Infinity;
      epoch += 1;
      refreshPause();
    },
  };
})();
window.vitalsAlarm = vitalsAlarm;
