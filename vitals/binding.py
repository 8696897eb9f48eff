"""Fast binding of prepared-statement rows into unlogged batches.

The driver's ``BatchStatement.add(prepared, row)`` validates and serialises each
value through generic type objects; for the consumer's hot path (every reading
is 12 values) that was 23 % of its CPU (py-spy, bench/). Here each column gets
its serialiser once, from the prepared statement's metadata, producing exactly
the bytes the driver would (``tests/integration/test_binding.py`` compares them),
and falls back to the driver's own serialiser for any other type.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

from cassandra.query import (
    UNSET_VALUE,
    BatchStatement,
    BatchType,
    BoundStatement,
    PreparedStatement,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_DATE_EPOCH = date(1970, 1, 1).toordinal()
_int = struct.Struct(">i").pack
_bigint = struct.Struct(">q").pack
_float = struct.Struct(">f").pack
_double = struct.Struct(">d").pack
_uint = struct.Struct(">I").pack
_ushort = struct.Struct(">H").pack


def _timestamp(v: datetime) -> bytes:
    # the driver's formula: whole seconds * 1e3 + microseconds / 1e3, truncated to int
    if v.tzinfo is None:
        v = v.replace(tzinfo=UTC)
    return _bigint(int((v - _EPOCH) // _SECOND * 1e3 + v.microsecond / 1e3))


def _date(v: date) -> bytes:
    return _uint(v.toordinal() - _DATE_EPOCH + 2**31)


def _text(v: str) -> bytes:
    return v.encode("utf-8")


def _boolean(v: bool) -> bytes:
    return b"\x01" if v else b"\x00"


_COLLECTIONS = ("map", "set", "list")
_EMPTY = _int(0)  # an empty collection: its element count, protocol v3+

_BY_TYPE: dict[str, Callable[[object], bytes]] = {
    "int": _int,
    "bigint": _bigint,
    "float": _float,
    "double": _double,
    "boolean": _boolean,
    "text": _text,
    "varchar": _text,
    "ascii": _text,
    "timestamp": _timestamp,
    "date": _date,
}


class RowEncoder:
    """Serialises rows for one prepared statement into the driver's value bytes."""

    def __init__(self, prepared: PreparedStatement) -> None:
        self.prepared = prepared
        proto = prepared.protocol_version
        fns = []
        for col in prepared.column_metadata:
            fn = _BY_TYPE.get(col.type.typename)
            if fn is None and col.type.typename in _COLLECTIONS:
                # an empty map or set (a complete reading's latest row: no status, no
                # borrowed values) is a count of 0; anything else: the driver's serialiser
                fn = lambda v, t=col.type: t.serialize(v, proto) if v else _EMPTY  # noqa: E731
            elif fn is None:  # anything else: the driver's serialiser
                fn = lambda v, t=col.type: t.serialize(v, proto)  # noqa: E731
            fns.append(fn)
        self.fns = tuple(fns)
        meta = prepared.column_metadata
        self.keyspace = meta[0].keyspace_name if meta else None  # as BoundStatement takes it
        # the private list BatchStatement keeps; checked once so a driver change fails loudly
        probe = BatchStatement()
        self._direct = isinstance(getattr(probe, "_statements_and_parameters", None), list)

    def encode(self, row: Sequence[object]) -> list[object]:
        """Value bytes; ``None`` (a vital not measured) is bound unset: no cell, no tombstone."""
        return [UNSET_VALUE if v is None else f(v) for f, v in zip(self.fns, row, strict=True)]

    def routing_key(self, row: Sequence[object]) -> bytes:
        """The routing key the driver would compute for ``row`` bound (its partition key
        values serialised; several as the composite ``length, bytes, 0`` of each), without
        binding it: only the partition key's values must be given, the rest may be absent.
        Raises ``IndexError`` if the row is shorter than its partition key's positions."""
        indexes = self.prepared.routing_key_indexes
        fns = self.fns
        if len(indexes) == 1:
            return fns[indexes[0]](row[indexes[0]])  # type: ignore[return-value]
        parts = [fns[i](row[i]) for i in indexes]
        return b"".join(_ushort(len(p)) + p + b"\x00" for p in parts)  # type: ignore[arg-type]

    def bind(self, row: Sequence[object]) -> BoundStatement:
        """One row as a bound statement, ``None`` unset like ``encode``."""
        return self.prepared.bind([UNSET_VALUE if v is None else v for v in row])

    def batch(self, rows: Sequence[Sequence[object]]) -> BatchStatement:
        """An unlogged batch of ``rows`` (the first row sets its routing key)."""
        return batch_of([(self, row) for row in rows])


def batch_of(items: Sequence[tuple[RowEncoder, Sequence[object]]]) -> BatchStatement:
    """An unlogged batch of rows of possibly different statements (e.g. an alert's history
    row and its active-alert upsert), each ``(encoder, row)``; ``None`` is bound unset.
    The first item sets the batch's routing key, so give rows that share replicas.

    Every row is encoded here, the first too: the batch gets the routing key and keyspace
    that ``BatchStatement.add`` would take from the first row bound (45 µs a batch less)."""
    first, row0 = items[0]
    b = BatchStatement(batch_type=BatchType.UNLOGGED)
    if not first._direct:
        for enc, row in items:
            b.add(enc.prepared, [UNSET_VALUE if v is None else v for v in row])
        return b
    if first.keyspace and first.prepared.routing_key_indexes:  # as a bound statement's
        b.routing_key = first.routing_key(row0)
        b.keyspace = first.keyspace
    entries = b._statements_and_parameters
    for enc, row in items:
        entries.append((True, enc.prepared.query_id, enc.encode(row)))
    return b
