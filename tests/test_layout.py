"""The test tree's one rule of layout: a single conftest.py. Test folders are not packages, so a second module
named conftest would shadow the suite's own for every `from conftest import ...` and stop the whole collection."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_there_is_one_conftest() -> None:
    assert sorted(p.relative_to(TESTS).as_posix() for p in TESTS.rglob("conftest.py")) == ["conftest.py"]
