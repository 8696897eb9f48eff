"""vitals: a real-time patient vital-signs monitor (Kafka → consumer group → Cassandra)."""

__version__ = "0.1.0"
