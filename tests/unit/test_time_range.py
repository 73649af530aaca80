"""``core.engine.in_time_range`` compares in the event's own zone; it must say what the comparison in UTC says."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import msgspec
import pytest

from core.engine import EARLIEST_TS, LATEST_TS, in_time_range

ZONES = [dt.UTC, dt.timezone(dt.timedelta(hours=14)), dt.timezone(dt.timedelta(hours=-12)),
         dt.timezone(dt.timedelta(hours=5, minutes=30)), ZoneInfo("Europe/Berlin")]


@pytest.mark.parametrize("zone", ZONES, ids=str)
def test_the_bounds_to_the_microsecond_in_every_zone(zone: dt.tzinfo) -> None:
    for bound in (EARLIEST_TS, LATEST_TS):
        for step in (-1, 0, 1):
            ts = (bound + dt.timedelta(microseconds=step)).astimezone(zone)
            assert in_time_range(ts) == (EARLIEST_TS <= ts < LATEST_TS), ts


@pytest.mark.parametrize("zone", ZONES, ids=str)
def test_random_times_near_and_far_from_the_bounds(zone: dt.tzinfo) -> None:
    rng = random.Random(7)
    for _ in range(2000):
        year = rng.choice([1899, 1900, 1901, 2026, 8999, 9000, rng.randrange(1, 9999)])
        ts = dt.datetime(year, rng.randrange(1, 13), rng.randrange(1, 29), rng.randrange(24), rng.randrange(60),
                         tzinfo=zone)
        assert in_time_range(ts) == (EARLIEST_TS <= ts < LATEST_TS), ts


def test_decoded_times_share_their_zone_and_a_time_without_one_is_refused_as_before() -> None:
    after, before = (msgspec.json.decode(text, type=dt.datetime) for text in
                     (b'"1899-12-31T23:30:00-01:00"', b'"1900-01-01T00:30:00+01:00"'))
    assert in_time_range(after) and not in_time_range(before)   # 00:30 UTC on the first day; 23:30 the day before
    with pytest.raises(TypeError):
        in_time_range(dt.datetime(2026, 1, 1))   # naive: comparing it with an aware bound fails, as ever
