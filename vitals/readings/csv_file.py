"""CSV files of readings, in the dialects spreadsheets write, read row by row.

Columns ``CSV_REQUIRED`` (plus ``CSV_OPTIONAL``); comma, semicolon or tab
separated (chosen by the header or an Excel ``sep=;`` line), a UTF-8 BOM and
CRLF accepted, a decimal comma when the separator is not a comma. A blank
cell is a vital not measured. Every row is validated as the consumer will
validate it, so a bad row fails with FILE:LINE before anything is sent.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from vitals.errors import CsvError, InvalidReading
from vitals.readings.model import VITALS, Reading, build, parse_consciousness, parse_timestamp
from vitals.readings.wire import unknown_field_hint

CSV_REQUIRED = ("patient_id", *VITALS)
CSV_OPTIONAL = ("timestamp", "consciousness", "on_oxygen")
_TRUE = {"1", "true", "yes", "y", "o2", "oxygen"}
_FALSE = {"0", "false", "no", "n", "air"}


@dataclass(frozen=True, slots=True)
class CsvRow:
    line: int
    reading: Reading | None  # None when the row has no timestamp: stamped when sent
    values: dict[str, object]


#: Separators a spreadsheet writes; the header decides which one a file uses.
CSV_SEPARATORS = (",", ";", "\t")
_SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


def read_csv(path: str | Path) -> Iterator[tuple[int, dict[str, object] | CsvError]]:
    """Yield ``(line, fields)`` for every data row, or ``(line, CsvError)`` for a bad one.

    The header is checked first (missing or unknown columns raise at once).
    ``fields`` holds validated values; ``timestamp`` is a datetime or None.
    Reads the dialects spreadsheets write when the meaning is unambiguous: a
    UTF-8 BOM, Windows line endings, and ``;`` or tab as separator (chosen by
    the header, or by an Excel ``sep=;`` first line); with ``;`` or tab a
    decimal comma is accepted too (``36,8`` is 36.8 °C).
    """
    p = Path(path)
    try:
        fh = p.open(encoding="utf-8-sig", newline="")
    except OSError as e:
        raise CsvError(str(p), None, None, f"cannot open: {e.strerror}") from None
    with fh:
        try:
            first = fh.readline()
            skipped = 0
            if first.strip().lower() in {f"sep={c}" for c in CSV_SEPARATORS}:
                forced: str | None = first.strip()[4]
                first, skipped = fh.readline(), 1
            else:
                forced = None
        except UnicodeDecodeError as e:
            raise CsvError(str(p), 1, None, f"not a readable CSV file: {e}") from None
        separator = forced or _separator(first)
        reader = csv.reader(_lines(first, fh), delimiter=separator)
        try:
            header = next(reader, None)
        except (csv.Error, UnicodeDecodeError) as e:
            raise CsvError(str(p), 1 + skipped, None, f"not a readable CSV file: {e}") from None
        expected = ",".join(CSV_REQUIRED)
        if header is None or not any(h.strip() for h in header):
            raise CsvError(
                str(p), 1 + skipped, None, f"file is empty; expected a header line: {expected}"
            )
        cols = [h.strip().lower() for h in header]
        first_at: dict[str, int] = {}
        for i, c in enumerate(cols, 1):
            if c and c in first_at:
                raise CsvError(
                    str(p),
                    1 + skipped,
                    c,
                    f"column given twice (columns {first_at[c]} and {i}); which one is meant "
                    "is ambiguous",
                )
            first_at.setdefault(c, i)
        missing = [c for c in CSV_REQUIRED if c not in cols]
        if missing:
            if len(cols) == 1 and "patient_id" in cols[0]:
                raise CsvError(
                    str(p),
                    1 + skipped,
                    None,
                    f"the header {first.strip()[:60]!r} is not separated by a comma, semicolon "
                    f"or tab; write {expected}",
                )
            raise CsvError(
                str(p),
                1 + skipped,
                missing[0],
                f"column missing from the header; expected {expected}",
            )
        unknown = [c for c in cols if c not in CSV_REQUIRED + CSV_OPTIONAL]
        if unknown:
            allowed = ", ".join(CSV_REQUIRED + CSV_OPTIONAL)
            hint = unknown_field_hint(unknown[0], CSV_REQUIRED + CSV_OPTIONAL)
            raise CsvError(
                str(p), 1 + skipped, unknown[0], f"unknown column{hint}; allowed: {allowed}"
            )
        decimal_comma = separator != ","
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as e:
                line = reader.line_num + skipped
                yield line, CsvError(str(p), line, None, str(e))
                continue
            line = reader.line_num + skipped
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) != len(cols):
                yield (
                    line,
                    CsvError(
                        str(p), line, None, f"has {len(row)} fields, the header has {len(cols)}"
                    ),
                )
                continue
            raw = dict(zip(cols, row, strict=True))
            yield line, _csv_fields(str(p), line, raw, decimal_comma=decimal_comma)


def _separator(header: str) -> str:
    """The separator under which the header names the required columns (comma if none does)."""
    for sep in CSV_SEPARATORS:
        cells = {c.strip().strip('"').lower() for c in header.split(sep)}
        if all(c in cells for c in CSV_REQUIRED):
            return sep
    return ","


def _lines(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _csv_fields(
    path: str, line: int, raw: dict[str, str], *, decimal_comma: bool = False
) -> dict[str, object] | CsvError:
    out: dict[str, object] = {"patient_id": raw["patient_id"].strip()}
    for field in VITALS:
        text = raw[field].strip()
        if not text:  # a blank cell: not measured
            out[field] = None
            continue
        try:
            value = float(text.replace(",", ".", 1) if decimal_comma else text)
        except ValueError:
            return CsvError(path, line, field, f"{text!r} is not a number")
        if not math.isfinite(value):
            return CsvError(path, line, field, f"{text!r} is not a finite number")
        out[field] = value
    ts_text = raw.get("timestamp", "").strip()
    try:
        out["timestamp"] = parse_timestamp(ts_text) if ts_text else None
        # a blank or absent cell: not observed (None), never alert / on air
        level = raw.get("consciousness", "").strip()
        out["consciousness"] = parse_consciousness(level) if level else None
        o2 = raw.get("on_oxygen", "").strip().lower()
        if o2 and o2 not in _TRUE | _FALSE:
            raise InvalidReading(f"{o2!r} is not true/false", "on_oxygen")
        out["on_oxygen"] = (o2 in _TRUE) if o2 else None
        # validate everything now, as the consumer will, so a bad row fails before anything
        # is sent (a row dated more than 24 h ahead of now would be dead-lettered)
        now = datetime.now(UTC)
        stamp = out["timestamp"]
        to_reading(out, stamp if isinstance(stamp, datetime) else now, produced_at=now)
    except InvalidReading as e:
        return CsvError(path, line, e.field, e.reason)
    return out


def to_reading(
    fields: dict[str, object], timestamp: datetime, *, produced_at: datetime | None = None
) -> Reading:
    """A ``Reading`` from validated CSV ``fields`` at ``timestamp`` (UTC); see ``build``.

    Raises ``InvalidReading`` as ``build`` does; ``produced_at`` (UTC) bounds how
    far ahead the timestamp may be, as the consumer bounds it by the record time.
    """
    values = {f: fields[f] for f in VITALS}
    return build(
        str(fields["patient_id"]),
        timestamp,
        values,  # type: ignore[arg-type]
        fields.get("consciousness"),  # type: ignore[arg-type]
        fields.get("on_oxygen"),  # type: ignore[arg-type]
        produced_at=produced_at,
    )
