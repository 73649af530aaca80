"""Multi-level MRP examples from operations-management textbooks, run through the Engine.

The books plan in weekly buckets; the engine nets daily.  A week is modelled
as 7 days: week w starts on ``WEEK1 + 7 (w - 1)`` (a Monday, which is also the
site's today), demands and scheduled receipts are dated on week starts, and a
lead time of n weeks is ``lead_time_days = 7 n``.  Every requirement then falls
on a week start, so the engine's planned orders are due on the week the book
shows as the planned-order receipt and released on the week it shows as the
planned-order release.

Each test states the book's data, derives the expected table from it, and
says what the book publishes; the comparison is of (due week, release week,
quantity) per item, and no item may have any other planned order.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.engine import Engine, EngineSettings

from . import bomgen

U = 1_000_000
SITE = bomgen.SITE
WEEK1 = dt.date(2026, 3, 2)          # a Monday
START = dt.datetime(2026, 3, 2, 7, 0, tzinfo=dt.UTC)

Plan = dict[str, list[tuple[int, int, float]]]   # item -> [(due week, release week, qty)]


def week(n: int) -> dt.date:
    return WEEK1 + dt.timedelta(days=7 * (n - 1))


def week_of(ordinal: int) -> int:
    days = ordinal - WEEK1.toordinal()
    assert days % 7 == 0, f"{dt.date.fromordinal(ordinal)} is not a week start"
    return days // 7 + 1


def mrp(kernel_name: str, *, items: dict[str, tuple[str, int, dict[str, Any] | None]],
        boms: dict[str, list[tuple[str, float]]], on_hand: dict[str, float] | None = None,
        scheduled: list[tuple[str, int, float]] = (), demands: list[tuple[str, int, float]] = ()) -> Plan:
    """Run a textbook case: items (source, lead time in weeks, lot size), single-site events.

    ``scheduled`` receipts (item, week, qty) become open purchase orders for bought items and
    released production orders for made items; ``demands`` (item, week, qty) sales orders.
    """
    s = bomgen.Stream(START)
    events = []
    for name, (source, lead_weeks, lot) in items.items():
        events.append(s("item", item=name, source=source, lead_time_days=7 * lead_weeks,
                        **({"lot_size": lot} if lot else {})))
    for parent, lines in boms.items():
        events.append(s("bom", item=parent, components=[{"item": c, "qty_per": q} for c, q in lines]))
    for name, qty in (on_hand or {}).items():
        events.append(s("receipt", item=name, qty=qty, lot="OPENING"))
    for index, (name, when, qty) in enumerate(scheduled):
        if items[name][0] == "buy":
            events.append(s("purchase_order", po_id=f"SR{index}", item=name, qty=qty, due=week(when)))
        else:
            events.append(s("production_order", order_id=f"SR{index}", item=name, qty=qty, due=week(when),
                            start=WEEK1, status="released"))
    for index, (name, when, qty) in enumerate(demands):
        events.append(s("demand", demand_id=f"MPS{index}", item=name, qty=qty, due=week(when)))
    engine = Engine(EngineSettings(kernel=kernel_name))
    outputs = engine.apply(events)
    assert not [o for o in outputs if type(o).__name__ == "Rejected"]
    assert engine.sites[SITE].today == WEEK1
    plan = engine.planner.plans[SITE].planned
    return {item: [(week_of(due), week_of(release), qty / U) for due, release, qty, _ in orders]
            for item, orders in plan.items()}


# --- Heizer & Render: the "Awesome" speaker kit -----------------------------------------------------

#: Product structure (Heizer & Render, Example 1): A = 2 B + 3 C; B = 2 E + 2 D; C = 2 E + 2 F;
#: F = 2 D + 1 G.  Lead times in weeks (Table "Lead times for Awesome speaker kits"):
#: A 1, B 2, C 1, D 1, E 2, F 3, G 2.  All lot-for-lot.
AWESOME_ITEMS = {"A": ("make", 1, None), "B": ("make", 2, None), "C": ("make", 1, None),
                 "D": ("buy", 1, None), "E": ("buy", 2, None), "F": ("make", 3, None), "G": ("buy", 2, None)}
AWESOME_BOMS = {"A": [("B", 2), ("C", 3)], "B": [("E", 2), ("D", 2)], "C": [("E", 2), ("F", 2)],
                "F": [("D", 2), ("G", 1)]}


def test_heizer_render_awesome_speaker_kit_gross_requirements_plan(kernel_name: str) -> None:
    """Heizer, J. & Render, B., *Operations Management* (Pearson; 10th ed. 2011 and later editions,
    also *Principles of Operations Management*), Chapter 14 "Material Requirements Planning (MRP)
    and ERP", Examples 1-2: Speaker Kits, Inc.'s "Awesome" (A), 50 units due in week 8, no stock.

    Example 1 gives the quantities for 50 A: 100 B, 150 C, 800 D, 500 E, 300 F, 300 G.
    Example 2 (the gross material requirements plan, time-phased by the lead times) publishes the
    order releases: A 50 in week 7; B 100 in week 5; C 150 in week 6; E 200 in week 3 and 300 in
    week 4; F 300 in week 3; D 600 in week 2 and 200 in week 4; G 300 in week 1.
    """
    got = mrp(kernel_name, items=AWESOME_ITEMS, boms=AWESOME_BOMS, demands=[("A", 8, 50)])
    assert got == {
        "A": [(8, 7, 50)],
        "B": [(7, 5, 100)],
        "C": [(7, 6, 150)],
        "E": [(5, 3, 200), (6, 4, 300)],         # for B's release in week 5, C's in week 6
        "F": [(6, 3, 300)],
        "D": [(3, 2, 600), (5, 4, 200)],         # for F's release in week 3, B's in week 5
        "G": [(3, 1, 300)],
    }
    totals = {item: sum(q for *_, q in orders) for item, orders in got.items()}
    assert totals == {"A": 50, "B": 100, "C": 150, "D": 800, "E": 500, "F": 300, "G": 300}


def test_heizer_render_awesome_speaker_kit_net_requirements_plan(kernel_name: str) -> None:
    """Heizer & Render, *Operations Management*, Chapter 14, Example 3 (the net material
    requirements plan for product A): the same structure and lead times, lot-for-lot, with
    on-hand inventory A 10, B 15, C 20, D 10, E 10, F 5, G 0 and 50 A due in week 8.

    Netting level by level: A 50 - 10 = 40; B 2 x 40 - 15 = 65; C 3 x 40 - 20 = 100;
    E 2 x 65 = 130 (week 5) - 10 = 120 and 2 x 100 = 200 (week 6); F 2 x 100 - 5 = 195;
    D 2 x 195 = 390 (week 3) - 10 = 380 and 2 x 65 = 130 (week 5); G 1 x 195 = 195.
    Published planned-order releases: A 40 (week 7), B 65 (week 5), C 100 (week 6),
    E 120 (week 3) and 200 (week 4), F 195 (week 3), D 380 (week 2) and 130 (week 4), G 195 (week 1).
    """
    on_hand = {"A": 10, "B": 15, "C": 20, "D": 10, "E": 10, "F": 5}
    got = mrp(kernel_name, items=AWESOME_ITEMS, boms=AWESOME_BOMS, on_hand=on_hand, demands=[("A", 8, 50)])
    assert got == {
        "A": [(8, 7, 40)],
        "B": [(7, 5, 65)],
        "C": [(7, 6, 100)],
        "E": [(5, 3, 120), (6, 4, 200)],
        "F": [(6, 3, 195)],
        "D": [(3, 2, 380), (5, 4, 130)],
        "G": [(3, 1, 195)],
    }


# --- Stevenson: wood shutters --------------------------------------------------------------------

#: Shutter = 2 frames (bought, lead time 2 weeks) + 4 wood sections (made, 1 week); assembly 1 week.
SHUTTER_BOMS = {"SHUTTER": [("FRAME", 2), ("WOOD", 4)]}
SHUTTER_ORDERS = [("SHUTTER", 4, 100), ("SHUTTER", 8, 150)]
SHUTTER_RECEIPT = [("WOOD", 1, 70)]


def test_stevenson_shutters_lot_for_lot(kernel_name: str) -> None:
    """Stevenson, W. J., *Operations Management* (McGraw-Hill; 11th ed. 2012 / 12th ed. 2015),
    Chapter 12 "MRP and ERP", Example 2 "Preparing a material requirements plan for lot-for-lot
    ordering and for lot-size ordering", part 1 (Figure 12.8).

    Orders for 100 shutters at the start of week 4 and 150 at the start of week 8; a scheduled
    receipt of 70 wood sections in week 1.  Published planned-order releases (lot-for-lot):
    shutters 100 (week 3) and 150 (week 7); frames 200 (week 1) and 300 (week 5); wood sections
    330 (week 2: 400 less the 70 received) and 600 (week 6).
    """
    items = {"SHUTTER": ("make", 1, None), "FRAME": ("buy", 2, None), "WOOD": ("make", 1, None)}
    got = mrp(kernel_name, items=items, boms=SHUTTER_BOMS, scheduled=SHUTTER_RECEIPT, demands=SHUTTER_ORDERS)
    assert got == {
        "SHUTTER": [(4, 3, 100), (8, 7, 150)],
        "FRAME": [(3, 1, 200), (7, 5, 300)],
        "WOOD": [(3, 2, 330), (7, 6, 600)],
    }


def test_stevenson_shutters_lot_size_ordering(kernel_name: str) -> None:
    """Stevenson, *Operations Management*, Chapter 12, Example 2, part 2 (Figure 12.9): lot sizes
    of 320 frames and 70 wood sections (orders in multiples of the lot size).

    Frames: week 3 needs 200 -> one lot of 320 (120 left); week 7 needs 300 - 120 = 180 -> 320.
    Wood sections: week 3 needs 400 - 70 = 330 -> 5 lots = 350 (20 left); week 7 needs
    600 - 20 = 580 -> 9 lots = 630.  Published planned-order releases: frames 320 in weeks 1
    and 5; wood sections 350 in week 2 and 630 in week 6; shutters unchanged (100 in week 3,
    150 in week 7).
    """
    items = {"SHUTTER": ("make", 1, None),
             "FRAME": ("buy", 2, {"rule": "fixed", "fixed_qty": 320}),
             "WOOD": ("make", 1, {"rule": "fixed", "fixed_qty": 70})}
    got = mrp(kernel_name, items=items, boms=SHUTTER_BOMS, scheduled=SHUTTER_RECEIPT, demands=SHUTTER_ORDERS)
    assert got == {
        "SHUTTER": [(4, 3, 100), (8, 7, 150)],
        "FRAME": [(3, 1, 320), (7, 5, 320)],
        "WOOD": [(3, 2, 350), (7, 6, 630)],
    }


# --- Krajewski, Ritzman & Malhotra: the seat subassembly record --------------------------------

#: Item C, seat subassembly of the ladder-back chair: lead time 2 weeks, 37 on hand, a scheduled
#: receipt of 230 in week 1, gross requirements 150, 0, 0, 120, 0, 150, 120, 0 (weeks 1-8).
SEAT_GROSS = [("C", w, q) for w, q in zip(range(1, 9), (150, 0, 0, 120, 0, 150, 120, 0), strict=True) if q]


def _seat(kernel_name: str, lot: dict[str, Any] | None) -> list[tuple[int, int, float]]:
    got = mrp(kernel_name, items={"C": ("make", 2, lot)}, boms={}, on_hand={"C": 37},
              scheduled=[("C", 1, 230)], demands=SEAT_GROSS)
    assert set(got) == {"C"}
    return got["C"]


def test_krajewski_seat_subassembly_fixed_order_quantity(kernel_name: str) -> None:
    """Krajewski, L. J., Ritzman, L. P. & Malhotra, M. K., *Operations Management: Processes and
    Supply Chains* (Pearson, 9th ed. 2010), Chapter 15 "Resource Planning", the MRP record of
    item C, seat subassembly, with a fixed order quantity of 230 units.

    Projected on hand: week 1 37 + 230 - 150 = 117; week 4 117 - 120 = -3 -> a lot of 230
    arrives (227); week 6 77; week 7 77 - 120 = -43 -> 230 (187).  Published: planned receipts
    of 230 in weeks 4 and 7, released in weeks 2 and 5.
    """
    assert _seat(kernel_name, {"rule": "fixed", "fixed_qty": 230}) == [(4, 2, 230), (7, 5, 230)]


def test_krajewski_seat_subassembly_periodic_order_quantity(kernel_name: str) -> None:
    """Krajewski, Ritzman & Malhotra (9th ed.), Chapter 15, the same record under POQ with P = 3 weeks.

    Week 4 covers weeks 4-6: 120 + 0 + 150 - 117 = 153; week 7 covers weeks 7-9: 120.
    Published: planned receipts 153 (week 4) and 120 (week 7), released in weeks 2 and 5.
    """
    assert _seat(kernel_name, {"rule": "period", "period_days": 21}) == [(4, 2, 153), (7, 5, 120)]


def test_krajewski_seat_subassembly_lot_for_lot(kernel_name: str) -> None:
    """Krajewski, Ritzman & Malhotra (9th ed.), Chapter 15, the same record under L4L.

    Week 4 needs 120 - 117 = 3, week 6 150, week 7 120.  Published: planned receipts 3, 150 and
    120 in weeks 4, 6 and 7, released in weeks 2, 4 and 5.
    """
    assert _seat(kernel_name, None) == [(4, 2, 3), (6, 4, 150), (7, 5, 120)]
