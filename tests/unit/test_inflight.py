"""Records lost in flight are found by the offsets they leave out and read again (streams/inflight.py)."""

from __future__ import annotations

from streams.inflight import GAP_CONFIRMATIONS, GapGuard, StallWatch
from streams.processor import InRecord

INV = ("inventory", 2)
DEM = ("demand", 2)


def test_an_input_stalled_past_its_commit_is_read_again_after_the_limit() -> None:
    watch = StallWatch(limit=15.0)
    assert watch.rewinds({INV: 20}, {INV: 23}, now=100.0) == {}
    assert watch.rewinds({INV: 20}, {INV: 23}, now=114.9) == {}
    assert watch.rewinds({INV: 20}, {INV: 23}, now=115.0) == {INV: 20}
    # read again: the records get the same time to come through before the next rewind
    assert watch.rewinds({INV: 20}, {INV: 23}, now=129.0) == {}
    assert watch.rewinds({INV: 20}, {INV: 23}, now=130.0) == {INV: 20}


def test_progress_of_either_offset_restarts_the_wait() -> None:
    watch = StallWatch(limit=15.0)
    watch.rewinds({INV: 20}, {INV: 23}, now=100.0)
    assert watch.rewinds({INV: 21}, {INV: 23}, now=110.0) == {}    # a batch committed
    assert watch.rewinds({INV: 21}, {INV: 24}, now=120.0) == {}    # a record fetched
    assert watch.rewinds({INV: 21}, {INV: 24}, now=134.9) == {}
    assert watch.rewinds({INV: 21}, {INV: 24}, now=135.0) == {INV: 21}


def test_an_input_applied_up_to_its_position_is_never_read_again() -> None:
    watch = StallWatch(limit=15.0)
    for now in (0.0, 20.0, 40.0):
        assert watch.rewinds({INV: 23, DEM: 5}, {INV: 23, DEM: 4}, now=now) == {}


def test_inputs_without_a_commit_or_a_position_are_not_watched() -> None:
    watch = StallWatch(limit=15.0)
    for now in (0.0, 20.0, 40.0):
        assert watch.rewinds({INV: 20}, {INV: None, DEM: 9}, now=now) == {}


def test_an_input_caught_up_and_stalled_again_waits_the_whole_limit() -> None:
    watch = StallWatch(limit=15.0)
    watch.rewinds({INV: 20}, {INV: 23}, now=100.0)
    watch.rewinds({INV: 23}, {INV: 23}, now=110.0)                  # caught up: forgotten
    assert watch.rewinds({INV: 23}, {INV: 25}, now=112.0) == {}
    assert watch.rewinds({INV: 23}, {INV: 25}, now=126.0) == {}
    assert watch.rewinds({INV: 23}, {INV: 25}, now=127.0) == {INV: 23}


# --- gaps ----------------------------------------------------------------------------------------------

INPUTS = ("inventory", "demand")


def _records(*spans: tuple[str, range]) -> list[InRecord]:
    return [InRecord(topic, 2, offset, b"") for topic, offsets in spans for offset in offsets]


def _offsets(records: list[InRecord]) -> list[tuple[str, int]]:
    return [(r.topic, r.offset) for r in records]


def test_records_that_follow_their_commit_all_go_in() -> None:
    batch = _records(("inventory", range(20, 25)), ("demand", range(5, 8)))
    kept, rereads = GapGuard().cut(batch, {INV: 20, DEM: 5}, INPUTS)
    assert kept == batch and rereads == {}


def test_a_batch_starting_past_its_commit_is_cut_and_read_again_from_the_commit() -> None:
    batch = _records(("inventory", range(23, 26)), ("demand", range(5, 8)))
    kept, rereads = GapGuard().cut(batch, {INV: 10, DEM: 5}, INPUTS)
    assert _offsets(kept) == [("demand", 5), ("demand", 6), ("demand", 7)]
    assert rereads == {INV: 10}


def test_an_offset_left_out_inside_a_batch_cuts_the_input_there() -> None:
    batch = _records(("inventory", [*range(20, 23), *range(25, 28)]))
    kept, rereads = GapGuard().cut(batch, {INV: 20}, INPUTS)
    assert _offsets(kept) == [("inventory", 20), ("inventory", 21), ("inventory", 22)]
    assert rereads == {INV: 23}


def test_a_gap_that_keeps_coming_back_the_same_way_is_in_the_log_and_accepted() -> None:
    """Read again, the same offsets come after the same hole (an aborted transaction of an upstream producer)."""
    guard = GapGuard()
    batch = _records(("inventory", range(30, 33)))
    for _ in range(GAP_CONFIRMATIONS):
        assert guard.cut(batch, {INV: 10}, INPUTS) == ([], {INV: 10})
    assert guard.cut(batch, {INV: 10}, INPUTS) == (batch, {})
    # a later gap elsewhere is read again once more
    later = _records(("inventory", range(40, 42)))
    assert guard.cut(later, {INV: 33}, INPUTS) == ([], {INV: 33})


def test_stale_records_after_a_reread_are_cut_again_until_the_missing_ones_come() -> None:
    guard = GapGuard()
    assert guard.cut(_records(("inventory", range(23, 25))), {INV: 10}, INPUTS) == ([], {INV: 10})
    stale = _records(("inventory", range(25, 27)))   # fetched before the seek, delivered after it
    for _ in range(GAP_CONFIRMATIONS):
        assert guard.cut(stale, {INV: 10}, INPUTS) == ([], {INV: 10})
    again = _records(("inventory", range(10, 27)))
    assert guard.cut(again, {INV: 10}, INPUTS) == (again, {})


def test_unwatched_topics_and_inputs_without_a_commit_pass_as_they_are() -> None:
    batch = _records(("transfers", range(40, 42)), ("demand", range(7, 9)))
    kept, rereads = GapGuard().cut(batch, {("transfers", 2): 3}, INPUTS)
    assert kept == batch and rereads == {}
