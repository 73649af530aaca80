"""The per-item history the ledger keeps for inventory control (core/history.py): what goes in, by which week,
bounded, independent of arrival order, and durable through the site's rows."""

from __future__ import annotations

import datetime as dt
import random

from core.history import HISTORY_WEEKS, LATENESS_SAMPLES, ItemHistory, iso_week, week_of
from core.persist import StateRows, fold_rows
from helpers import SITE, apply_ok, mk, new_engine, q

MONDAY = dt.date(2026, 3, 16).toordinal()


def test_weeks_are_iso_weeks_of_the_utc_date() -> None:
    assert iso_week(week_of(MONDAY + 6)) == "2026-W12" and week_of(MONDAY + 6) == MONDAY
    assert week_of(MONDAY + 7) == MONDAY + 7 and iso_week(week_of(dt.date(2027, 1, 1).toordinal())) == "2026-W53"


def test_issues_material_issues_receipts_and_counts_go_in_transfers_do_not() -> None:
    engine = new_engine()
    sunday_evening_new_york = dt.datetime(2026, 3, 15, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    apply_ok(engine,
             mk("purchase_order", po_id="PO-1", item="RAW-A", qty=50, due="2026-03-10"),
             mk("receipt", item="RAW-A", qty=30, lot="L1", po_id="PO-1"),            # promised the 10th
             mk("purchase_order", po_id="PO-1", item="RAW-A", qty=50, due="2026-03-20"),   # the supplier moved it
             mk("receipt", item="RAW-A", qty=20, lot="L2", po_id="PO-1"),            # still late against the 10th
             mk("receipt", item="RAW-B", qty=9, lot="B1"),                          # no order: no lateness
             mk("issue", item="RAW-A", qty=4, ts=sunday_evening_new_york),           # Monday the 16th in UTC
             mk("production_order", order_id="MO-1", item="SUB", qty=1),
             mk("material_issue", order_id="MO-1", item="RAW-A", qty=3),
             mk("transfer_shipped", transfer_id="T-1", to_site="S2", item="RAW-A", qty=5, lot="L1"),
             mk("count", item="RAW-A", lot="L2", counted_qty=19))
    state = engine.sites[SITE]
    history = state.history["RAW-A"]
    assert history.issued == {MONDAY: q(4)} and history.used == {week_of(MONDAY - 14): q(3)}
    receipt_day = dt.date(2026, 3, 2).toordinal()   # helpers' events start on 2026-03-02
    assert history.lateness == [(receipt_day, receipt_day - dt.date(2026, 3, 10).toordinal())] * 2
    assert history.counts == {week_of(MONDAY - 14): [1, 0, q(1), q(20)]}
    assert (history.last_count, history.last_count_off) == (receipt_day, q(1))
    assert "RAW-B" not in state.history   # a receipt without an order leaves no history
    assert history.usage() == {MONDAY: q(4), week_of(MONDAY - 14): q(3)}


def test_order_of_arrival_does_not_matter() -> None:
    calls = [("issue", MONDAY + d, q(d + 1)) for d in range(40)]
    calls += [("material_issue", MONDAY + 3 * d, q(2)) for d in range(20)]
    calls += [("receipt", MONDAY + d, MONDAY + d - (d % 5)) for d in range(70)]
    calls += [("count", MONDAY + d % 9, q(10), q(10 + d % 3)) for d in range(30)]
    histories = []
    for seed in range(3):
        shuffled = calls[:]
        random.Random(seed).shuffle(shuffled)
        history = ItemHistory("X")
        for name, *args in shuffled:
            getattr(history, name)(*args)
        histories.append(history)
    first = histories[0]
    for other in histories[1:]:
        assert (other.issued, other.used, other.lateness, other.counts, other.last_count, other.last_count_off) == \
               (first.issued, first.used, first.lateness, first.counts, first.last_count, first.last_count_off)
    assert len(first.lateness) == LATENESS_SAMPLES and first.lateness[0][0] == MONDAY + 70 - LATENESS_SAMPLES


def test_history_is_bounded() -> None:
    history = ItemHistory("X")
    for week in range(HISTORY_WEEKS + 20):
        history.issue(MONDAY + 7 * week, 1)
        history.count(MONDAY + 7 * week, 5, 5)
    newest = MONDAY + 7 * (HISTORY_WEEKS + 19)
    assert len(history.issued) == len(history.counts) == HISTORY_WEEKS
    assert min(history.issued) == newest - 7 * (HISTORY_WEEKS - 1)
    history.issue(MONDAY, 1)   # older than the window: refused
    assert len(history.issued) == HISTORY_WEEKS and MONDAY not in history.issued


def test_history_is_durable() -> None:
    engine = new_engine(track_changes=True)
    rows = StateRows(engine)
    table: dict[str, bytes] = {}
    for event in (mk("purchase_order", po_id="PO-1", item="RAW-A", qty=5, due="2026-03-01"),
                  mk("receipt", item="RAW-A", qty=5, lot="L1", po_id="PO-1"),
                  mk("issue", item="RAW-A", qty=2), mk("count", item="RAW-A", lot="L1", counted_qty=2)):
        apply_ok(engine, event)
        fold_rows(table, rows.changed())
    assert f"{SITE}|hist|RAW-A" in table
    restored = new_engine(track_changes=True)
    StateRows(restored).restore(SITE, table.items())
    assert restored.sites[SITE].history == engine.sites[SITE].history
    assert restored.sites[SITE].purchase["PO-1"].promised == dt.date(2026, 3, 1)
