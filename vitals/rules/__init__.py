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
      readings does not reset it; a reading where the rule is false does). It
      stays active without repeating and is cleared once, at the first later
      reading inside its ``clear:`` range (default: where the rule is false).
      Between the raise limit and the clear limit nothing happens, so a value
      hovering at the limit does not flap.
    * NEWS2: raised at ``News2.alert_severity``. A rise to a higher severity
      clears the active alert and raises one at the new severity (two events,
      one reading); a fall to a lower alert level keeps the higher alert active;
      it clears when the score reaches no alert level at all.
    * Replays: a reading not newer than the last one evaluated for its patient
      is ignored (no events, no state change), so redelivered readings are
      idempotent. An active alert only clears on a reading newer than its raise.
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
