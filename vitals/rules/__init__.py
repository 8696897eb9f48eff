"""Clinical alert rules: the YAML rules file, its validation, and the evaluation engine.

The file format is documented in ``default_rules.yaml``, which ships with the
package. ``load_rules(path)`` validates a whole file up front and raises one
``RulesError`` naming file, line and key for the first mistake.

How ``RuleEngine.evaluate`` behaves
    * Rules are evaluated in file order, the built-in ``news2`` rule last, so
      the events of one reading come out in that order.
    * A value is compared as the chart reads it: whole numbers rounded half up,
      temperature to one decimal (see ``vitals.news2``). ``above: 110`` is true
      from 111 (or 110.5) on; ``below: 92`` up to 91 (or 91.49).
    * An alert is raised once, at the reading that makes its rule true for the
      ``for:`` asked: N consecutive readings, or a duration from the first true
      reading to the current one on the readings' own timestamps (a gap in the
      readings does not reset it; a reading where the rule is false does, unless
      the rule gives ``grace:``: then the run goes on through readings inside the
      limit for up to that long). It stays active without repeating and is
      cleared once, at the first later reading inside its ``clear:`` range
      (default: where the rule is false). Between the raise limit and the clear
      limit nothing happens, so a value hovering at the limit does not flap.
    * Sooner than ``for:`` (IEC 60601-1-8 alarm condition delay; Philips/Dräger
      smart alarm delay; Nellcor SatSeconds), once the run has lasted ``min_for:``
      (default 10 s, longer than a two-reading artifact): when the area beyond the
      limit (sum of depth x seconds since the previous reading) reaches ``area:``,
      or when every reading for ``min_for:`` has been beyond ``extreme:``.
    * Intermittent measurements are judged at once (``Check.spot``): with ``grace:``,
      a value that is its vital's first (blood pressure, temperature), or comes more
      than ``grace:`` after the previous value of that vital when that one was alone too
      (NIBP cuff cycles, thermometers, manual observations), raises at that reading: the
      delay filters a continuous signal (IEC 60601-1-8) and there is none to wait on. The
      first value of a continuous vital (``checks.CONTINUOUS``: heart rate, SpO2,
      respiratory rate) starts the delay like any, since a stream's first readings are
      often artifacts; if the next value of that vital comes more than ``grace:`` later,
      the first was a spot value and is raised then, dated at its own time (never, if no
      next value comes). A continuous signal resuming after a gap (or whose device
      reported ``probe_off`` through it) waits for its ``for:`` again; so does one a new
      owner takes over (``restore``: each vital's newest time is seeded). Rules without
      ``grace:`` behave as before it existed.
    * NEWS2: without ``news2: {window:}``, raised at each reading's
      ``News2.alert_severity`` and cleared at the first reading reaching no level.
      With a window (the default rules: 1 min), the level is the highest reached
      by at least 2/3 of the readings of the last window (none before the
      patient has a window's worth of readings, restarted after a gap longer than
      the window; a spot score, alone in its window, is judged at once as without
      a window), and it clears when at most 1/5 of them reach any level: one
      red-scoring artifact is not an alarm, a score hovering at a band edge raises
      once. A rise to a higher level is one ``escalated`` event (the alert stays
      active at the new severity); a fall to a lower level keeps the higher alert.
      The alert quotes (``{value}``, its event's value) the newest total of the
      level it is held at, so score, severity and text agree (RCP NEWS2 2017,
      chart 4: a red score below 5 low, 5-6 medium, 7 or more high).
      NEWS2 and the single-parameter rules are independent: an active NEWS2 alert
      never holds back another rule's alarm.
    * Replays, per vital: a value not newer than its vital's newest value seen (or
      restored: ``restore(..., seen=...)``) is ignored (no events, no state change), so
      redelivered readings are idempotent; a reading with no newer value is a replay.
      A late reading (dated before the patient's newest, e.g. an NIBP result completing
      after that minute's HR/SpO2) is judged on its newer values like any other (a cuff
      result is a spot measurement: it alarms at once). It adds no NEWS2 score to the
      window (its time is past); its values enter the freshest set (``vitals.freshness``)
      and so the next reading's score. An active alert only clears on a reading newer
      than its raise.
    * Alerts whose rule no longer applies (removed by ``replace_rules``,
      disabled for the patient, or restored for an unknown rule) are cleared at
      the patient's next reading.
    * Not thread-safe: one engine per consuming thread.
"""

from vitals.rules.engine import RuleEngine
from vitals.rules.loader import load_default_rules, load_rules, parse_rules
from vitals.rules.model import (
    NEWS2_MESSAGE,
    NEWS2_RULE,
    SEVERITIES,
    VITAL_NAMES,
    AlertEvent,
    PatientRules,
    Rule,
    RuleSet,
)

__all__ = [
    "NEWS2_MESSAGE",
    "NEWS2_RULE",
    "SEVERITIES",
    "VITAL_NAMES",
    "AlertEvent",
    "PatientRules",
    "Rule",
    "RuleEngine",
    "RuleSet",
    "load_default_rules",
    "load_rules",
    "parse_rules",
]
