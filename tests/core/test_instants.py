"""``--at`` instants: ISO 8601, local times (with daylight saving), 'now' and 'N units ago'."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton.core.instants import parse_instant
from baton.errors import BadInput

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")


def parse(text: str) -> datetime:
    return parse_instant(text, NOW, "--at", PARIS)


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-11-24T03:00:00Z", datetime(2026, 11, 24, 3, 0)),
        ("2026-11-24T03:00:00+01:00", datetime(2026, 11, 24, 2, 0)),
        ("2026-11-24 03:00", datetime(2026, 11, 24, 2, 0)),  # Paris in winter: UTC+1
        ("2026-07-14 03:00", datetime(2026, 7, 14, 1, 0)),  # Paris in summer: UTC+2
        ("2026-11-24", datetime(2026, 11, 23, 23, 0)),  # local midnight
        ("now", datetime(2026, 11, 26, 12, 0)),
        ("3 days ago", datetime(2026, 11, 23, 12, 0)),
        ("1.5 hours ago", datetime(2026, 11, 26, 10, 30)),
        ("90m ago", datetime(2026, 11, 26, 10, 30)),
        ("1h30m ago", datetime(2026, 11, 26, 10, 30)),
        ("  2 Weeks ago ", datetime(2026, 11, 12, 12, 0)),
    ],
)
def test_the_forms_people_type(text: str, utc: datetime) -> None:
    found = parse(text)
    assert found == utc.replace(tzinfo=UTC) and found.tzinfo == UTC


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yesterday", "--at 'yesterday' is not a time: write ISO 8601"),
        ("3 fortnights ago", "is not a time"),
        ("2026-02-30 10:00", "is not a time"),
        ("0s ago", "is not a time"),
        ("2026-11-27T00:00:00Z", "is in the future"),
        ("in 3 days", "is not a time"),
    ],
)
def test_what_is_not_an_instant_is_bad_input(text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        parse(text)


def test_a_time_without_zone_uses_the_system_zone_when_none_is_given() -> None:
    naive = datetime(2026, 11, 24, 3, 0)
    found = parse_instant("2026-11-24 03:00", NOW, "--at")
    assert found == naive.astimezone().astimezone(UTC)


@given(st.datetimes(max_value=datetime(2026, 11, 26), timezones=st.just(UTC)))
def test_an_iso_instant_reads_back_as_itself(moment: datetime) -> None:
    assert parse(moment.isoformat()) == moment
    assert parse(moment.astimezone(PARIS).isoformat()) == moment
    assert parse(f"{(NOW - moment).total_seconds():.6f}s ago") - moment < timedelta(seconds=1)
