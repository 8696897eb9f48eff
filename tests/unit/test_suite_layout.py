"""The suite itself: every test module has its own basename (tests/ has no __init__.py, so
pytest imports modules by basename and a second one of the same name fails collection)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent


def test_test_module_basenames_are_unique():
    names = Counter(p.name for p in TESTS.rglob("test_*.py"))
    assert [n for n, c in names.items() if c > 1] == []
