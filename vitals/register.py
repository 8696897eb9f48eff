"""The patient register: ward, bed and display name of each patient, for every view.

A patient's readings carry only its id (``P001``); the register says where that patient
lies and what the boards call it (``Ward 7 · Bed 7 · J. Smith``). Fields are set one by one
(``None`` leaves a field as it is, ``""`` clears it) with an upsert, so a bed move does not
forget the name. Each field is at most ``MAX_FIELD`` printable characters. A patient may be
registered before its first reading (admitted, monitor not yet connected).

HL7 v2 carries the same facts in PV1-3 (assigned patient location: point of care = ward,
bed) and PID-5 (patient name); a gateway can map them onto ``Register.set``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from cassandra import InvalidRequest
from cassandra.cluster import Session

from vitals.errors import ConfigError

log = logging.getLogger(__name__)

MAX_FIELD = 64
FIELDS = ("ward", "bed", "name")
_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f]*")


@dataclass(frozen=True)
class Placement:
    """Where a patient lies and its display name; ``None`` where not registered."""

    patient_id: str
    ward: str | None = None
    bed: str | None = None
    name: str | None = None

    def label(self) -> str:
        """``Ward 7 · Bed 7 · J. Smith`` (only the fields that are set; "" if none)."""
        parts = [self.ward, f"Bed {self.bed}" if self.bed else None, self.name]
        return " · ".join(p for p in parts if p)


def check_field(field: str, value: str) -> str:
    """``value`` stripped, or ``ConfigError`` naming the field and the limit."""
    text = value.strip()
    if len(text) > MAX_FIELD:
        raise ConfigError(f"{field}: {text[:20]!r}… is {len(text)} characters; at most {MAX_FIELD}")
    if not _PRINTABLE.fullmatch(text):
        raise ConfigError(f"{field}: {text!r} holds a control character; use plain text")
    return text


class Register:
    """Reads and writes ``patient_register`` (prepared statements only)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._updates: dict[tuple[str, ...], object] = {}
        cols = "patient_id, ward, bed, name"
        try:
            self._all = session.prepare(f"SELECT {cols} FROM patient_register")
            self._one = session.prepare(f"SELECT {cols} FROM patient_register WHERE patient_id = ?")
        except InvalidRequest:  # a keyspace made before the register: views work without it
            log.warning(
                "no patient_register table in keyspace %s: run `vitals init` to add it",
                session.keyspace,
            )
            self._all = self._one = None

    def all(self) -> dict[str, Placement]:
        """Every registered patient by id (empty without the table)."""
        if self._all is None:
            return {}
        return {r.patient_id: _placement(r) for r in self.session.execute(self._all)}

    def get(self, patient_id: str) -> Placement | None:
        if self._one is None:
            return None
        row = self.session.execute(self._one, (patient_id,)).one()
        return None if row is None else _placement(row)

    def set(
        self,
        patient_id: str,
        *,
        ward: str | None = None,
        bed: str | None = None,
        name: str | None = None,
        by: str,
        now: datetime | None = None,
    ) -> Placement:
        """Set the given fields (``""`` clears one); returns the patient's placement after.

        Raises ``ConfigError`` for a field that is too long or holds control characters,
        or when no field is given.
        """
        given = {
            f: check_field(f, v)
            for f, v in (("ward", ward), ("bed", bed), ("name", name))
            if v is not None
        }
        if not given:
            raise ConfigError("nothing to set: give a ward, a bed and/or a name")
        if self._one is None:
            raise ConfigError(
                f"keyspace {self.session.keyspace} has no patient_register table; "
                "run `vitals init` (safe to run again) to add it"
            )
        cols = tuple(given)
        stmt = self._updates.get(cols)
        if stmt is None:
            assignments = ", ".join(f"{c} = ?" for c in (*cols, "updated_at", "updated_by"))
            stmt = self._updates[cols] = self.session.prepare(
                f"UPDATE patient_register SET {assignments} WHERE patient_id = ?"
            )
            stmt.is_idempotent = True
        when = (now or datetime.now(UTC)).astimezone(UTC)
        values = [given[c] or None for c in cols]
        self.session.execute(stmt, (*values, when, by, patient_id))
        return self.get(patient_id) or Placement(patient_id)


def _placement(row: object) -> Placement:
    return Placement(row.patient_id, row.ward, row.bed, row.name)  # type: ignore[attr-defined]
