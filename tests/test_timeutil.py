"""Time safety at the edges: no naive instants, offsets kept, durations in ISO 8601."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from nohaven.errors import InputError
from nohaven.timeutil import as_utc, format_duration, humanize_delta, parse_aware, parse_duration, zone


def test_parse_aware_keeps_the_offset() -> None:
    value = parse_aware("2026-11-27T03:14:07+01:00")
    assert value.utcoffset() == timedelta(hours=1)
    assert as_utc(value) == datetime(2026, 11, 27, 2, 14, 7, tzinfo=UTC)
    assert parse_aware("2026-11-27T02:14:07Z") == value


@pytest.mark.parametrize("text", ["2026-11-27T03:14:07", "2026-11-27", "27/11/2026 03:14", "now", ""])
def test_parse_aware_refuses_naive_or_malformed_text_naming_the_field(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_aware(text, "time_from")
    assert caught.value.errors[0]["field"] == "time_from"


@pytest.mark.parametrize(("text", "delta"), [
    ("P60D", timedelta(days=60)), ("PT8H", timedelta(hours=8)), ("P1DT12H", timedelta(days=1, hours=12)),
    ("P2W", timedelta(weeks=2)), ("PT90M", timedelta(minutes=90)), ("PT0S", timedelta(0)),
])
def test_parse_duration(text: str, delta: timedelta) -> None:
    assert parse_duration(text) == delta


@pytest.mark.parametrize("text", ["P", "PT", "60 days", "P1M", "P1Y", "-P1D", "P1.5D", ""])
def test_parse_duration_refuses_what_it_cannot_compute_exactly(text: str) -> None:
    with pytest.raises(InputError):
        parse_duration(text, "preservation_period")


@pytest.mark.parametrize("delta", [timedelta(days=60), timedelta(hours=8), timedelta(days=1, hours=12, minutes=5),
                                   timedelta(seconds=0), timedelta(seconds=59)])
def test_format_duration_round_trips(delta: timedelta) -> None:
    assert parse_duration(format_duration(delta)) == delta


def test_as_utc_treats_naive_database_values_as_utc() -> None:
    assert as_utc(datetime(2026, 1, 1, 12)) == datetime(2026, 1, 1, 12, tzinfo=UTC)  # noqa: DTZ001
    assert as_utc(datetime(2026, 1, 1, 13, tzinfo=timezone(timedelta(hours=1)))).hour == 12


def test_zone_refuses_unknown_names() -> None:
    assert zone("Europe/Berlin").key == "Europe/Berlin"
    with pytest.raises(InputError, match="IANA"):
        zone("Mars/Olympus")


def test_humanize_delta() -> None:
    assert humanize_delta(timedelta(hours=3, minutes=20)) == "in 3 h 20 min"
    assert humanize_delta(-timedelta(days=2, hours=4)) == "2 d 4 h ago"
