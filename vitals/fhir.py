"""Stored readings as FHIR R4 vital-signs Observations, in ``searchset`` Bundles.

One Observation per vital per reading, following the FHIR R4 vital-signs profiles
(http://hl7.org/fhir/R4/observation-vitalsigns.html): category ``vital-signs``, LOINC codes,
UCUM units —

====================  ==============================  ==========  ============
vital                 LOINC                           UCUM        profile
====================  ==============================  ==========  ============
heart rate            8867-4                          /min        heartrate
SpO2                  59408-5 (+ 2708-6)              %           oxygensat
blood pressure        85354-9 panel; components       mm[Hg]      bp
                      8480-6 systolic, 8462-4 diast.
respiratory rate      9279-1                          /min        resprate
body temperature      8310-5                          Cel         bodytemp
====================  ==============================  ==========  ============

NEWS2 (when the reading has a score) is an Observation of category ``survey`` coded with
SNOMED CT 1104051000000101 "Royal College of Physicians NEWS2 (National Early Warning
Score 2) total score" (UK edition; no LOINC code exists for the NEWS2 total), unit
``{score}``. Observation ids are derived from (patient, time, vital), so a reading always
gives the same ids. A reading with a vital absent gives no Observation for it.
Pure functions over the row dicts of ``vitals.queries`` / ``vitals.web.data``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from vitals.errors import ConfigError

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
PROFILE = "http://hl7.org/fhir/StructureDefinition/"
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


@dataclass(frozen=True)
class Kind:
    """One Observation kind: its codes (system, code, display), unit and profile."""

    key: str
    codes: tuple[tuple[str, str, str], ...]
    text: str
    unit: tuple[str, str] = ("", "")  # (UCUM code, human unit)
    profile: str = ""
    category: str = "vital-signs"


KINDS: tuple[Kind, ...] = (
    Kind(
        "heart_rate",
        ((LOINC, "8867-4", "Heart rate"),),
        "Heart rate",
        ("/min", "beats/minute"),
        "heartrate",
    ),
    Kind(
        "spo2",
        (
            (LOINC, "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
            (LOINC, "2708-6", "Oxygen saturation in Arterial blood"),
        ),
        "Oxygen saturation",
        ("%", "%"),
        "oxygensat",
    ),
    Kind(
        "blood_pressure",
        ((LOINC, "85354-9", "Blood pressure panel with all children optional"),),
        "Blood pressure",
        ("mm[Hg]", "mmHg"),
        "bp",
    ),
    Kind(
        "respiratory_rate",
        ((LOINC, "9279-1", "Respiratory rate"),),
        "Respiratory rate",
        ("/min", "breaths/minute"),
        "resprate",
    ),
    Kind(
        "temperature",
        ((LOINC, "8310-5", "Body temperature"),),
        "Body temperature",
        ("Cel", "C"),
        "bodytemp",
    ),
    Kind(
        "news2",
        (
            (
                SNOMED,
                "1104051000000101",
                "Royal College of Physicians NEWS2 (National Early Warning Score 2) total score",
            ),
        ),
        "NEWS2 total score",
        ("{score}", "score"),
        "",
        "survey",
    ),
)
BP_COMPONENTS = (
    ("systolic", "8480-6", "Systolic blood pressure"),
    ("diastolic", "8462-4", "Diastolic blood pressure"),
)


def kinds_for_codes(tokens: Iterable[str]) -> set[str]:
    """FHIR ``code`` search tokens (``8867-4``, ``http://loinc.org|8867-4``, comma lists) →
    the kind keys they select. Raises ``ConfigError`` naming a code no Observation carries."""
    out: set[str] = set()
    for token in (t.strip() for text in tokens for t in text.split(",")):
        if not token:
            continue
        system, bar, code = token.rpartition("|")
        matches = {
            k.key
            for k in KINDS
            for s, c, _ in k.codes
            if c == code and (not bar or not system or system == s)
        }
        if not matches:
            known = ", ".join(c for k in KINDS for _, c, _ in k.codes)
            raise ConfigError(f"code: {token!r} is not a code of these Observations ({known})")
        out |= matches
    return out


def observations(patient_id: str, row: dict, kinds: set[str] | None = None) -> list[dict]:
    """The Observations of one stored reading ``row`` (keys as ``READING_COLUMNS``;
    ``timestamp`` timezone-aware), restricted to ``kinds`` if given."""
    out = []
    for kind in KINDS:
        if kinds is not None and kind.key not in kinds:
            continue
        obs = _observation(kind, patient_id, row)
        if obs is not None:
            out.append(obs)
    return out


def _observation(kind: Kind, patient_id: str, row: dict) -> dict | None:
    when = row["timestamp"].astimezone(UTC)
    obs: dict = {"resourceType": "Observation", "id": _id(patient_id, when, kind.key)}
    if kind.profile:
        obs["meta"] = {"profile": [PROFILE + kind.profile]}
    obs["status"] = "final"
    obs["category"] = [{"coding": [{"system": CATEGORY, "code": kind.category}]}]
    obs["code"] = {
        "coding": [{"system": s, "code": c, "display": d} for s, c, d in kind.codes],
        "text": kind.text,
    }
    obs["subject"] = subject(patient_id)
    obs["effectiveDateTime"] = _instant(when)
    if kind.key == "blood_pressure":
        if row.get("systolic") is None or row.get("diastolic") is None:
            return None
        obs["component"] = [
            {
                "code": {
                    "coding": [{"system": LOINC, "code": code, "display": text}],
                    "text": text,
                },
                "valueQuantity": _quantity(row[name], kind.unit),
            }
            for name, code, text in BP_COMPONENTS
        ]
        return obs
    value = row.get(kind.key)
    if value is None:
        return None
    obs["valueQuantity"] = _quantity(value, kind.unit)
    return obs


def subject(patient_id: str) -> dict:
    """A reference to the patient: ``Patient/<id>`` when the id is a valid FHIR id, and
    always the identifier as the monitor sent it."""
    ref: dict = {}
    if FHIR_ID.fullmatch(patient_id):
        ref["reference"] = f"Patient/{patient_id}"
    ref["identifier"] = {"system": "urn:vitals:patient-id", "value": patient_id}
    ref["display"] = patient_id
    return ref


def _quantity(value: float, unit: tuple[str, str]) -> dict:
    number = round(value, 1) if isinstance(value, float) else value
    return {"value": number, "unit": unit[1], "system": UCUM, "code": unit[0]}


def _instant(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _id(patient_id: str, when: datetime, key: str) -> str:
    digest = hashlib.sha256(f"{patient_id}|{_instant(when)}".encode()).hexdigest()[:40]
    return f"{key.replace('_', '-')}-{digest}"


def bundle(
    entries: list[dict], *, self_url: str | None = None, next_url: str | None = None
) -> dict:
    """A ``searchset`` Bundle of ``entries`` (Observations), with ``self``/``next`` links.

    ``fullUrl`` is a ``urn:uuid:`` derived from the Observation id: there is no read
    interaction (``Observation/{id}``) to point an http URL at."""
    out: dict = {"resourceType": "Bundle", "type": "searchset"}
    out["timestamp"] = _instant(datetime.now(UTC))
    links = [("self", self_url), ("next", next_url)]
    if any(url for _, url in links):
        out["link"] = [{"relation": rel, "url": url} for rel, url in links if url]
    out["entry"] = [
        {
            "fullUrl": f"urn:uuid:{_uuid(o['id'])}",
            "resource": o,
            "search": {"mode": "match"},
        }
        for o in entries
    ]
    return out


def _uuid(obs_id: str) -> str:
    h = hashlib.sha256(obs_id.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def query_bundle(patient_id: str, rows: list[dict], columns: Iterable[str]) -> str:
    """``vitals query --format fhir``: the Bundle (JSON text) of ``rows``, newest first.
    Raises ``ConfigError`` for rows that are not readings (``--alerts``)."""
    if "heart_rate" not in set(columns):
        raise ConfigError(
            "--format fhir writes readings as Observations; it cannot be used with --alerts"
        )
    entries = [o for r in rows for o in observations(patient_id, r)]
    return json.dumps(bundle(entries), indent=1, ensure_ascii=False)
