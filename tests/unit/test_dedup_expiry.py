"""An event id is remembered for exactly ``dedup_window`` of its site's event time.

Ids are forgotten an hour of expiries at a time (``core.ids.SeenIds``); these
tests put the expiry inside the hour being forgotten, where only the exact
comparison tells a duplicate from an id reused after its window.
"""

from __future__ import annotations

import datetime as dt

import pytest

from core.engine import Engine, EngineSettings
from core.ids import SeenIds, id_table
from core.persist import StateRows, fold_rows, site_of
from helpers import SITE, apply_ok, master_data, mk, new_engine, q, rejected

T0 = dt.datetime(2026, 3, 2, 10, 30, tzinfo=dt.UTC)
WINDOW = dt.timedelta(days=30)
MICRO = dt.timedelta(microseconds=1)
#: the window's logic over either id table: the compiled one and its twin
TABLES = pytest.mark.parametrize("kernel", ["cython", "python"])


def _receipt(event_id: str, ts: dt.datetime, lot: str = "L1") -> object:
    return mk("receipt", item="RAW-A", qty=1, lot=lot, event_id=event_id, ts=ts)


def _duplicates(outputs: list[object]) -> list[str]:
    return [r.reason for r in rejected(outputs)]


def test_an_id_is_a_duplicate_up_to_its_expiry_and_new_a_microsecond_after() -> None:
    engine = new_engine()
    assert not rejected(engine.apply([_receipt("x", T0)]))
    # the clock reaches the expiry itself: still within the window, so the id is a duplicate
    out = engine.apply([_receipt("y", T0 + WINDOW, lot="L2"), _receipt("x", T0 + WINDOW)])
    assert _duplicates(out) == ["duplicate event_id 'x': already applied"]
    assert engine.sites[SITE].stock.physical("RAW-A") == q(2)
    # a microsecond later (the same hour of expiries, not forgotten as a whole yet) the id is free again
    assert not rejected(engine.apply([_receipt("z", T0 + WINDOW + MICRO, lot="L2"),
                                      _receipt("x", T0 + WINDOW + MICRO)]))
    assert engine.sites[SITE].stock.physical("RAW-A") == q(4)
    # the reused id is remembered for its own window, after the hour of its first expiry was forgotten
    later = T0 + WINDOW + dt.timedelta(hours=2)
    out = engine.apply([_receipt("w", later, lot="L2"), _receipt("x", later)])
    assert _duplicates(out) == ["duplicate event_id 'x': already applied"]
    assert engine.sites[SITE].stock.physical("RAW-A") == q(5)


def test_a_restored_engine_knows_the_same_ids_as_the_one_that_wrote_them() -> None:
    engine = Engine(EngineSettings(track_changes=True))
    rows = StateRows(engine)
    apply_ok(engine, *master_data())
    apply_ok(engine, *[_receipt(f"r-{k}", T0 + k * dt.timedelta(minutes=7)) for k in range(20)])
    apply_ok(engine, _receipt("late", T0 + WINDOW + dt.timedelta(minutes=45), lot="L2"))
    table = fold_rows({}, rows.changed())
    again = Engine(EngineSettings(track_changes=True))
    apply_ok(again, *master_data())
    StateRows(again).restore(SITE, [(key, value) for key, value in table.items() if site_of(key) == SITE])
    ids, restored = engine._ids[SITE], again._ids[SITE]
    known = {i for i in ids.seen if ids.knows(i)}
    assert known == {i for i in restored.seen if restored.knows(i)}
    # the clock at 11:15, 30 days on: the ids of 10:30 to 11:12 have expired (those of 11:05 and 11:12 within
    # the hour not forgotten as a whole), those from 11:19 on have not
    assert known == {f"r-{k}" for k in range(7, 20)} | {"late"}
    out = again.apply([_receipt("r-6", T0 + WINDOW + dt.timedelta(minutes=46)),
                       _receipt("r-7", T0 + WINDOW + dt.timedelta(minutes=46))])
    assert _duplicates(out) == ["duplicate event_id 'r-7': already applied"]


@TABLES
def test_ids_stamped_in_a_zone_with_daylight_saving_are_forgotten_exactly_across_the_change(kernel: str) -> None:
    # an engine fed from Python may get times in a zone with daylight saving (the codecs decode fixed offsets)
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    ids = SeenIds(track=False, table=id_table(kernel))
    start = dt.datetime(2026, 10, 24, 22, 0, tzinfo=dt.UTC)   # the clocks go back at 01:00 UTC on the 25th
    expiries = {f"e{k}": (start + k * dt.timedelta(minutes=13)).astimezone(berlin) for k in range(40)}
    for event_id, expiry in expiries.items():
        ids.remember(event_id, expiry)
    for k in range(0, 40 * 13, 7):
        now = (start + dt.timedelta(minutes=k)).astimezone(berlin)
        ids.prune(now)
        instant = now.astimezone(dt.UTC)   # within the zone, times compare by the clock: by the instant here
        assert {i for i in expiries if ids.knows(i)} == {i for i, e in expiries.items()
                                                         if not e.astimezone(dt.UTC) < instant}
        # the hours passed are gone, not only counted out
        assert all(not expiries[i].astimezone(dt.UTC) < instant - dt.timedelta(hours=1) for i in ids.seen)


@TABLES
def test_ids_of_the_clocks_hour_are_known_to_the_microsecond_in_a_fixed_offset_zone(kernel: str) -> None:
    """Expiries are kept as microseconds into their hour: the sub-second part decides within the hour."""
    zone = dt.timezone(dt.timedelta(hours=1))
    start = dt.datetime(2026, 4, 1, 10, 0, tzinfo=zone)
    ids = SeenIds(track=False, table=id_table(kernel))
    expiries = {f"e{k}": start + dt.timedelta(minutes=k, microseconds=7919 * k % 1_000_000) for k in range(60)}
    for event_id, expiry in expiries.items():
        ids.remember(event_id, expiry)
    for k in range(0, 60 * 60, 37):
        now = start + dt.timedelta(seconds=k, microseconds=104729 * k % 1_000_000)
        ids.prune(now)
        assert {i for i in expiries if ids.knows(i)} == {i for i, e in expiries.items() if not e < now}


@TABLES
def test_a_forgotten_id_gives_its_exact_expiry_and_a_reused_one_keeps_its_latest(kernel: str) -> None:
    zone = dt.timezone(dt.timedelta(hours=-5))
    first = dt.datetime(2026, 4, 1, 10, 10, 3, 250_001, tzinfo=zone)
    ids = SeenIds(track=False, table=id_table(kernel))
    ids.remember("a", first)
    ids.remember("b", first + dt.timedelta(minutes=1))
    assert ids.forget("a") == first   # the same instant (returned in UTC), kept to the microsecond
    assert ids.forget("a") is None     # no longer known
    later = first + dt.timedelta(minutes=40)   # the same hour of expiries: the id's second entry in it
    ids.remember("a", later)
    ids.prune(first + dt.timedelta(minutes=20))
    assert ids.knows("a") and not ids.knows("zzz")
    assert ids.forget("a") == later
