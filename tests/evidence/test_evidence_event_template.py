"""The custody event's fast path (a fixed template of its canonical text) writes exactly what RFC 8785 writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from nohaven.errors import InputError
from nohaven.evidence import custody
from nohaven.evidence.custody import (
    EVENT_FORMAT,
    EVENT_TYPES,
    FileCustodyLog,
    encode_event,
    encode_events,
    make_event,
    parse_event,
)
from nohaven.evidence.merkle import MerkleTree, leaf_hash

# Characters where encoders part ways: quotes, backslashes, controls (two-character and \u00xx escapes), DEL,
# U+2028, lone surrogates, the private-use area above them (UTF-16 vs code-point key order) and an emoji.
_TRICKY = st.text(st.sampled_from('a"\\\b\f\n\r\t\x00\x1f\x7f\u00e9\u2028\ud800\udfff\ue000\uffff\U0001f600'),
                  max_size=6)
texts = _TRICKY | st.text(max_size=10)
scalars = (st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.integers(-(2**60), 2**60)
           | st.floats(allow_nan=False, allow_infinity=False) | texts)
values = st.recursive(scalars, lambda children: st.lists(children, max_size=3)
                      | st.dictionaries(texts, children, max_size=3), max_leaves=8)
events = st.fixed_dictionaries({
    "format": st.just(EVENT_FORMAT), "event": st.sampled_from(EVENT_TYPES), "at": texts, "actor": texts,
    "case": texts,
    "items": st.lists(texts, max_size=4) | st.lists(values, max_size=3),
    "details": st.dictionaries(texts, scalars, max_size=4) | st.dictionaries(texts, values, max_size=3)
    | st.dictionaries(st.integers(0, 3), scalars, min_size=1, max_size=2),  # keys that are not strings
})


def _expected(event: dict[str, Any]) -> bytes | None:
    try:
        return rfc8785.dumps(event)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError):  # the latter: a lone surrogate in a key
        return None


@settings(max_examples=600, deadline=None)
@given(events)
def test_event_bytes_equal_rfc8785_or_both_refuse(event: dict[str, Any]) -> None:
    expected = _expected(event)
    if expected is None:
        with pytest.raises(InputError):
            encode_event(event)
    else:
        assert encode_event(event) == expected


@settings(max_examples=100, deadline=None)
@given(st.lists(events, max_size=6))
def test_a_batch_encodes_each_event_as_alone(batch: list[dict[str, Any]]) -> None:
    expected = [_expected(e) for e in batch]
    if None in expected:
        with pytest.raises(InputError):
            encode_events(batch)
    else:
        assert encode_events(batch) == expected


def test_common_events_take_the_template_and_read_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Events as the application makes them: the log's lines are rfc8785's bytes and parse back as events."""

    def general(event: dict[str, Any]) -> bytes:
        raise AssertionError(f"left the template: {event}")

    monkeypatch.setattr(custody, "_encode_general", general)
    at = datetime(2026, 3, 1, 12, 30, 15, 250000, tzinfo=UTC)
    made = [make_event("accessed", at=at + timedelta(seconds=i), actor="examiner \"7\"", case="CASE-Ω-1",
                       items=[f"{i:064x}"], details={"reason": "review\n", "n": i, "ok": True, "none": None})
            for i in range(50)]
    made.append(make_event("sealed", at=at.astimezone(timezone(timedelta(hours=2))), actor="a", case="c"))
    log = FileCustodyLog.create(tmp_path / "custody", "test.example/custody")
    log.append_many(made)
    tree = MerkleTree()
    for index, line in log.events():
        assert line == rfc8785.dumps(made[index])
        assert parse_event(line) == made[index]
        tree.append(line)
    assert tree.root() == log.root()
    assert log.root() == FileCustodyLog(tmp_path / "custody", "test.example/custody").root()
    assert tree.leaf(0) == leaf_hash(rfc8785.dumps(made[0]))
    assert made[-1]["at"] == "2026-03-01T12:30:15.250000Z"  # another offset, the same instant in UTC


def test_a_bad_event_in_a_batch_writes_nothing(tmp_path: Path) -> None:
    log = FileCustodyLog.create(tmp_path / "custody", "test.example/custody")
    good = make_event("accessed", at=datetime(2026, 3, 1, tzinfo=UTC), actor="a", case="c")
    bad = {**good, "details": {1: "not a string key"}}
    with pytest.raises(InputError, match="event"):
        log.append_many([good, bad])
    assert log.size == 0
    assert (tmp_path / "custody" / "events.jsonl").read_bytes() == b""
