"""Reading an observation's time: what is accepted gives every instant and its window; each refusal says why."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nohaven.errors import InputError
from nohaven.tracing.timestamps import read_time


@pytest.mark.parametrize(("text", "offset"), [
    ("2026-11-27T03:14:07+01:00", "+01:00"),
    ("2026-11-27T02:14:07Z", "+00:00"),
    ("2026-11-27 03:14:07 CET", "+01:00"),
    ("2026-11-27 04:14:07 EET", "+02:00"),
    ("2026-11-27 05:14:07 MSK", "+03:00"),
    ("2026-11-27 02:14:07 GMT", "+00:00"),
    ("27/Nov/2026:03:14:07 +0100", "+01:00"),
    ("Fri, 27 Nov 2026 03:14:07 +0100", "+01:00"),
    ("Nov 27 2026 03:14:07 +01:00", "+01:00"),
    ("2026-11-27 03:14:07 Europe/Paris", "+01:00"),
    ("2026-11-27 03:14:07 AM +0100", "+01:00"),
])
def test_every_accepted_form_names_the_same_instant(text: str, offset: str) -> None:
    reading = read_time(text)
    assert reading.instant == datetime(2026, 11, 27, 2, 14, 7, tzinfo=UTC)
    assert reading.offset == offset and reading.source_text == text and not reading.ambiguous


def test_the_window_follows_the_uncertainty() -> None:
    reading = read_time("2026-11-27T03:14:07.250+01:00", uncertainty="PT2M")
    assert reading.uncertainty == "PT2M"
    assert reading.window_start == datetime(2026, 11, 27, 2, 12, 7, 250000, tzinfo=UTC)
    assert reading.window_end == datetime(2026, 11, 27, 2, 16, 7, 250000, tzinfo=UTC)


def test_pm_moves_to_the_afternoon_and_twelve_am_is_midnight() -> None:
    assert read_time("2026-11-27 3:14:07 PM +0100").instant == datetime(2026, 11, 27, 14, 14, 7, tzinfo=UTC)
    assert read_time("2026-11-27 12:00:00 AM Z").instant == datetime(2026, 11, 27, 0, 0, tzinfo=UTC)


def test_a_zone_given_for_a_text_without_offset() -> None:
    winter = read_time("2026-11-27 03:14:07", time_zone="Europe/Berlin")
    summer = read_time("2026-07-27 03:14:07", time_zone="Europe/Berlin")
    assert winter.instant == datetime(2026, 11, 27, 2, 14, 7, tzinfo=UTC) and winter.offset == "+01:00"
    assert summer.instant == datetime(2026, 7, 27, 1, 14, 7, tzinfo=UTC) and summer.offset == "+02:00"


def test_the_repeated_hour_gives_both_instants_and_a_window_over_both() -> None:
    reading = read_time("2026-10-25 02:30:00", time_zone="Europe/Berlin", uncertainty="PT5S")
    assert reading.ambiguous and reading.instant is None
    assert reading.candidates == (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC))
    assert reading.window_start == datetime(2026, 10, 25, 0, 29, 55, tzinfo=UTC)
    assert reading.window_end == datetime(2026, 10, 25, 1, 30, 5, tzinfo=UTC)
    assert "happened twice" in reading.notes[0]


@pytest.mark.parametrize("text", ["2026-11-27 03:14:07", "Fri, 27 Nov 2026 03:14:07 -0000"])
def test_an_unknown_offset_spans_every_real_one(text: str) -> None:
    reading = read_time(text, offset_unknown=text.endswith(":07"), uncertainty="PT0S")
    assert reading.offset == "unknown" and reading.instant is None and reading.ambiguous
    assert reading.window_start == datetime(2026, 11, 26, 13, 14, 7, tzinfo=UTC)  # read at UTC+14
    assert reading.window_end == datetime(2026, 11, 27, 15, 14, 7, tzinfo=UTC)  # read at UTC-12


@pytest.mark.parametrize(("text", "options", "field", "reason"), [
    ("2026-11-27 03:14:07 IST", {}, "time_text", "India Standard Time (+05:30); Irish Standard Time (+01:00)"),
    ("2026-11-27 03:14:07 CST", {}, "time_text", "China Standard Time (+08:00)"),
    ("2026-11-27 03:14:07 BST", {}, "time_text", "Bangladesh Standard Time (+06:00)"),
    ("2026-11-27 03:14:07 AST", {}, "time_text", "Arabia Standard Time (+03:00)"),
    ("2026-11-27 03:14:07 QQT", {}, "time_text", "not a zone this reader knows"),
    ("2026-11-27 03:14:07", {}, "time_text", "has no UTC offset"),
    ("2026-03-29 02:30:00", {"time_zone": "Europe/Berlin"}, "time_text", "does not exist in Europe/Berlin"),
    ("2026-11-27 3:14:07", {"time_zone": "Europe/Berlin"}, "time_text", "12-hour clock"),
    ("2026-11-27 13:14:07 PM +0100", {}, "time_text", "is not a 12-hour clock reading"),
    ("11/12/2026 03:14:07 +0100", {}, "time_text", "day or month first"),
    ("2026-11-27 03:14:07 +0100", {"offset_unknown": True}, "offset_unknown", "it is not unknown"),
    ("2026-11-27 03:14:07", {"time_zone": "Mars/Olympus"}, "time_zone", "not an IANA time zone name"),
    ("2026-11-27 03:14:07 +1500", {}, "time_text", "outside the offsets in use"),
    ("2026-02-30 03:14:07Z", {}, "time_text", "not a valid date and time"),
    ("yesterday at noon", {}, "time_text", "not a time this reader knows"),
    ("2026-11-27T03:14:07Z", {"uncertainty": "2 seconds"}, "uncertainty", "not an ISO 8601 duration"),
])
def test_each_refusal_names_its_field_and_reason(text: str, options: dict[str, str], field: str,
                                                 reason: str) -> None:
    with pytest.raises(InputError) as refused:
        read_time(text, **options)  # type: ignore[arg-type]
    [error] = refused.value.errors
    assert error["field"] == field
    assert reason in error["message"]


@pytest.mark.parametrize("text", ["Tue, 1 Dec 2026 08:14:07 -0000", "Tue, 1 Dec 2026 08:14:07 CST",
                                  "Tue, 1 Dec 2026 08:14:07 XYZT"])
def test_a_zone_the_source_calls_unknown_is_not_read(text: str) -> None:
    reading = read_time(text, offset_unknown=True, uncertainty="PT0S")
    assert reading.offset == "unknown" and reading.candidates == ()
    assert reading.window_start == datetime(2026, 11, 30, 18, 14, 7, tzinfo=UTC)
    assert reading.window_end == datetime(2026, 12, 1, 20, 14, 7, tzinfo=UTC)
