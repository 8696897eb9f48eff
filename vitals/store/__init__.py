"""Cassandra: sessions and schema, the consumer's batched idempotent writes, owner reads.

- ``session``: ``connect``, ``apply_schema``, ``describe_error`` (one readable line);
- ``rows``: the CQL statements and the rows of a reading;
- ``writer``: ``Writer``, replica-aware unlogged batches sent with bounded concurrency and
  retried until they succeed (every write is an idempotent upsert keyed by the reading's own
  time, so a retry or a Kafka replay rewrites the same rows);
- ``reads``: a new owner's rule state (``RuleState``) and the patients monitored per partition.
"""

from vitals.store.session import CQL_DIR, apply_schema, connect, describe_error
from vitals.store.writer import Writer

__all__ = ["CQL_DIR", "Writer", "apply_schema", "connect", "describe_error"]
