"""The dates of Received headers: offsets as written, obsolete zones, unknown offsets never read as UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nohaven.tracing._email_date import read_date


@pytest.mark.parametrize(("text", "utc", "offset"), [
    ("Tue, 1 Dec 2026 21:42:15 +0100", datetime(2026, 12, 1, 20, 42, 15, tzinfo=UTC), "+01:00"),
    ("Tue, 01 Dec 2026 12:42:15 -0800 (PST)", datetime(2026, 12, 1, 20, 42, 15, tzinfo=UTC), "-08:00"),
    ("1 Dec 2026 21:42:15 +0530", datetime(2026, 12, 1, 16, 12, 15, tzinfo=UTC), "+05:30"),
    ("Tue, 1 Dec 2026 20:42:15 +0000", datetime(2026, 12, 1, 20, 42, 15, tzinfo=UTC), "+00:00"),
    ("Tue, 1 Dec 2026 20:42:15 UT", datetime(2026, 12, 1, 20, 42, 15, tzinfo=UTC), "+00:00"),
    ("Tue, 1 Dec 2026 20:42:15 GMT", datetime(2026, 12, 1, 20, 42, 15, tzinfo=UTC), "+00:00"),
    ("Tue, 1 Dec 2026 15:42:15 EST", datetime(2026, 12, 1, 20, 42, 15, tzinfo=UTC), "-05:00"),
    ("Tue, 1 Dec 2026 16:42:15 EDT", datetime(2026, 12, 1, 20, 42, 15, tzinfo=UTC), "-04:00"),
    ("Tue, 1 Dec 2026 14:42:15 CST", datetime(2026, 12, 1, 20, 42, 15, tzinfo=UTC), "-06:00"),
    ("Tue, 1 Dec 2026 15:42:15 CDT", datetime(2026, 12, 1, 20, 42, 15, tzinfo=UTC), "-05:00"),
    ("Tue, 1 Dec 2026 13:42:15 MST", datetime(2026, 12, 1, 20, 42, 15, tzinfo=UTC), "-07:00"),
    ("Tue, 1 Dec 2026 14:42:15 MDT", datetime(2026, 12, 1, 20, 42, 15, tzinfo=UTC), "-06:00"),
    ("Tue, 1 Dec 2026 12:42:15 pst", datetime(2026, 12, 1, 20, 42, 15, tzinfo=UTC), "-08:00"),
    ("Tue, 1 Dec 2026 13:42:15 PDT", datetime(2026, 12, 1, 20, 42, 15, tzinfo=UTC), "-07:00"),
])
def test_a_proven_offset_gives_the_instant(text: str, utc: datetime, offset: str) -> None:
    reading = read_date(text)
    assert (reading.utc, reading.offset, reading.offset_known) == (utc, offset, True)
    assert reading.source_text == text
    assert not [p for p in reading.problems if "unknown" in p]


@pytest.mark.parametrize(("text", "why"), [
    ("1 Dec 2026 20:42:15 -0000", "-0000"),
    ("Tue, 1 Dec 2026 20:42:15 Z", "military zone letter Z"),
    ("Tue, 1 Dec 2026 20:42:15 A", "military zone letter A"),
    ("Tue, 1 Dec 2026 20:42:15 n", "military zone letter N"),
    ("Tue, 1 Dec 2026 21:42:15 CET", "zone name CET is not defined"),
    ("Tue, 1 Dec 2026 21:42:15 IST", "zone name IST is not defined"),
    ("Tue, 1 Dec 2026 21:42:15 XYZT", "zone name XYZT is not defined"),
    ("Tue, 1 Dec 2026 21:42:15", "no zone"),
    ("Tue, 1 Dec 2026 21:42:15 +2500", "outside the offsets in use"),
    ("Tue, 1 Dec 2026 21:42:15 +0175", "75 minutes"),
])
def test_an_unknown_offset_is_never_read_as_utc(text: str, why: str) -> None:
    reading = read_date(text)
    assert reading.utc is None and reading.offset is None and not reading.offset_known
    assert reading.wall_clock == ("2026-12-01T20:42:15" if "20:42" in text else "2026-12-01T21:42:15")
    assert any(why in problem for problem in reading.problems), reading.problems


def test_an_unknown_name_says_what_it_is_commonly_used_for_without_using_it() -> None:
    reading = read_date("Tue, 1 Dec 2026 21:42:15 IST")
    assert reading.utc is None
    assert any("+01:00 or +02:00 or +05:30" in problem for problem in reading.problems)


def test_a_comment_zone_that_agrees_with_the_offset_is_no_problem() -> None:
    reading = read_date("Tue, 1 Dec 2026 21:42:15 +0100 (CET)")
    assert reading.zone_comment == "CET" and reading.problems == []


@pytest.mark.parametrize(("text", "named"), [
    ("Tue, 1 Dec 2026 21:42:15 +0200 (CET)", "CET (+01:00)"),
    ("Sun, 29 Mar 2026 03:00:10 +0100 (CEST)", "CEST (+02:00)"),
    ("Tue, 1 Dec 2026 21:42:15 +0000 (PST)", "PST (-08:00 or +08:00)"),
    ("Tue, 1 Dec 2026 21:42:15 +0000 (GMT+01:00)", "GMT+01:00 (+01:00)"),
])
def test_a_comment_zone_that_disagrees_with_the_offset_is_named(text: str, named: str) -> None:
    reading = read_date(text)
    assert reading.offset_known  # the numeric offset is what the header says; the doubt is named beside it
    assert any("disagrees" in p and named in p for p in reading.problems), reading.problems


def test_a_comment_zone_does_not_supply_a_missing_offset() -> None:
    reading = read_date("1 Dec 2026 20:42:15 -0000 (CET)")
    assert reading.utc is None
    assert any("proves no offset" in problem for problem in reading.problems)


@pytest.mark.parametrize(("text", "year"), [("Tue, 1 Dec 26 21:42:15 +0100", 2026),
                                            ("Wed, 1 Dec 99 21:42:15 +0100", 1999),
                                            ("Fri, 1 Dec 106 21:42:15 +0100", 2006)])
def test_obsolete_years_are_read_as_rfc_5322_says(text: str, year: int) -> None:
    reading = read_date(text)
    assert reading.utc is not None and reading.utc.year == year
    assert any("obsolete" in problem for problem in reading.problems)


def test_obsolete_spacing_and_comments_inside_the_date() -> None:
    reading = read_date("Tue , 1 Dec 2026 21 : 42 : 15 (local) +0100")
    assert reading.utc == datetime(2026, 12, 1, 20, 42, 15, tzinfo=UTC)


def test_a_time_without_seconds_is_known_to_the_minute() -> None:
    reading = read_date("Tue, 1 Dec 2026 21:42 +0100")
    assert reading.utc == datetime(2026, 12, 1, 20, 42, tzinfo=UTC)
    assert reading.resolution_seconds == 60


def test_a_wrong_day_of_the_week_is_named() -> None:
    reading = read_date("Mon, 1 Dec 2026 21:42:15 +0100")
    assert reading.utc is not None
    assert any("was a Tue" in problem for problem in reading.problems)


def test_a_leap_second_is_the_next_minute() -> None:
    reading = read_date("Thu, 31 Dec 2026 23:59:60 +0000")
    assert reading.utc == datetime(2027, 1, 1, tzinfo=UTC)
    assert reading.time_text == "1 Jan 2027 00:00:00 +0000"


@pytest.mark.parametrize(("text", "problem"), [
    ("", "no date"), ("   ", "no date"), ("yesterday at noon", "not an RFC 5322 date-time"),
    ("Tue, 31 Feb 2026 21:42:15 +0100", "no such date"), ("Tue, 1 Dec 2026 25:61:00 +0100", "no such date"),
    ("Tue, 1 Foo 2026 21:42:15 +0100", "not a month name"),
])
def test_an_unreadable_date_is_a_named_problem_not_an_exception(text: str, problem: str) -> None:
    reading = read_date(text)
    assert reading.utc is None
    assert any(problem in p for p in reading.problems), reading.problems


def test_the_observation_text_is_the_date_as_written_when_plain() -> None:
    assert read_date("Tue,  1 Dec 2026 09:14:07 +0100 (CET)").time_text == "Tue, 1 Dec 2026 09:14:07 +0100"


@pytest.mark.parametrize(("text", "time_text"), [
    ("Tue, 1 Dec 2026 15:42:15 EST", "1 Dec 2026 15:42:15 -0500"),  # the defined offset, written out
    ("1 Dec 2026 20:42:15 -0000", "1 Dec 2026 20:42:15"),  # no zone: the observation says offset_unknown
    ("Tue, 1 Dec 26 21:42 CET", "1 Dec 2026 21:42"),
    ("Tue, 1 Dec 2026 21:42:15 +01:00", "1 Dec 2026 21:42:15 +0100"),
])
def test_the_observation_text_is_rewritten_when_the_zone_or_form_is_not_plain(text: str, time_text: str) -> None:
    assert read_date(text).time_text == time_text


def test_an_unclosed_trailing_comment_is_named_and_the_date_before_it_still_read() -> None:
    reading = read_date("Tue, 1 Dec 2026 21:42:15 +0100 (CET")
    assert reading.utc == datetime(2026, 12, 1, 20, 42, 15, tzinfo=UTC)
    assert any("unbalanced" in problem for problem in reading.problems)


def test_an_unknown_offset_spans_every_real_offset_and_a_known_one_is_its_instant() -> None:
    unknown = read_date("1 Dec 2026 08:14:07 -0000")
    assert unknown.utc_window == (datetime(2026, 11, 30, 18, 14, 7, tzinfo=UTC),
                                  datetime(2026, 12, 1, 20, 14, 7, tzinfo=UTC))
    assert unknown.to_dict()["earliest_utc"] == "2026-11-30T18:14:07+00:00"
    known = read_date("Tue, 1 Dec 2026 09:14:07 +0100")
    assert known.utc_window == (known.utc, known.utc)
    assert read_date("garbage").utc_window is None
