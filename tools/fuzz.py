"""``make fuzz``: coverage-guided fuzzing of ``vitals.readings.decode`` with Atheris.

The property is the consumer's guarantee: whatever bytes a record holds,
``decode`` returns a ``Reading`` or raises ``InvalidReading`` — any other
exception is a crash that would stop a consumer, and libFuzzer reports it
with the input that caused it (saved as ``crash-*`` in the working directory).

Atheris (Google's libFuzzer for Python) mutates its corpus guided by the code
paths each input reaches, which finds the inputs a hand-written generator
misses; the Hypothesis properties in ``tests/unit/test_decode_properties.py``
run in CI, this runs for ≥ 1,000,000 inputs.

    python tools/fuzz.py [--runs N] [libFuzzer flags...]
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from vitals.errors import InvalidReading
    from vitals.readings import decode

PRODUCED_MS = 1_761_474_615_000  # 2025-10-26T10:30:15Z
SEEDS = [
    {
        "patient_id": "P001",
        "timestamp": "2025-10-26T10:30:15.123456+00:00",
        "heart_rate": 95,
        "spo2": 98,
        "blood_pressure": {"systolic": 120, "diastolic": 80},
        "respiratory_rate": 16,
        "temperature": 36.8,
    },
    {
        "patient_id": "P002",
        "heart_rate": 61.5,
        "spo2": 91,
        "systolic": 99,
        "diastolic": 60,
        "respiratory_rate": 24,
        "temperature": 38.25,
        "consciousness": "V",
        "on_oxygen": True,
        "device": {"serial": "MX-0042", "timestamp": "2025-10-26T10:30:00Z"},
        "last_alarm": {"param": "spo2"},
    },
]


def one_input(data: bytes) -> None:
    """The fuzz target: the first 8 bytes pick the record timestamp, the rest is the value."""
    record_ms = int.from_bytes(data[:8], "little", signed=True) if len(data) >= 8 else PRODUCED_MS
    value = data[8:] if len(data) >= 8 else data
    with contextlib.suppress(InvalidReading):
        decode(value, PRODUCED_MS if record_ms % 3 else record_ms)


def main() -> int:
    args = sys.argv[1:]
    if not any(a.startswith("-runs=") for a in args):
        args.append("-runs=1000000")
    corpus = Path(tempfile.mkdtemp(prefix="vitals-fuzz-"))
    for i, seed in enumerate(SEEDS):
        (corpus / f"seed-{i}").write_bytes(
            PRODUCED_MS.to_bytes(8, "little") + json.dumps(seed).encode()
        )
    started = time.monotonic()
    print(f"fuzzing vitals.readings.decode; corpus {corpus}", flush=True)
    atheris.Setup(
        [sys.argv[0], *args, "-max_len=4096", "-print_final_stats=1", str(corpus)], one_input
    )
    try:
        atheris.Fuzz()
    finally:
        print(f"fuzzing took {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
