"""Unit tests of the netting kernel, run against the compiled kernel and its pure-Python twin.

Every expected planned order below is computed by hand from the rules in
``core/_netting_py.py``: the balance walks requirements and receipts day by
day from ``today`` (receipts of a day before its requirements; anything dated
before today counts today); when it falls below safety stock an order is
planned, due that day, released ``lead_time`` days earlier, sized by the lot
rule; ``short`` is the part of the order that covers a negative balance.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from array import array
from collections.abc import Sequence
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import netting
from core.engine import Engine, EngineSettings
from schemas.codecs import encode_json

from . import bomgen
from .conftest import load_kernel, require_compiled

U = 1_000_000          # one unit in micro-units
T = 739_000            # "today" as a date ordinal (2024-04-xx); any ordinal works
L4L, FIXED, MIN_MULTIPLE, PERIOD, EOQ = 0, 1, 2, 3, 4


def net(kernel: ModuleType, *, today: int = T, on_hand: float = 0, safety: float = 0, lead: int = 0,
        rule: int = L4L, fixed: float = 0, min_qty: float = 0, max_qty: float = 0, multiple: float = 0,
        period: int = 1, ordering_cost: float = 0.0, holding: float = 0.0,
        reqs: Sequence[tuple[int, float]] = (), rcps: Sequence[tuple[int, float]] = ()) -> list[tuple]:
    """``net_item`` with quantities in units and days as offsets from ``today``."""
    return kernel.net_item(
        today, round(on_hand * U), round(safety * U), lead, rule, round(fixed * U), round(min_qty * U),
        round(max_qty * U), round(multiple * U), period, ordering_cost, holding,
        array("q", [today + d for d, _ in reqs]), array("q", [round(q * U) for _, q in reqs]),
        array("q", [today + d for d, _ in rcps]), array("q", [round(q * U) for _, q in rcps]))


def po(day: int, qty: float, short: float = 0, lead: int = 0) -> tuple[int, int, int, int]:
    """An expected planned order: due ``T + day``, released ``lead`` days before."""
    return (T + day, T + day - lead, round(qty * U), round(short * U))


def need(kernel: ModuleType, *, on_hand: float = 0, safety: float = 0,
         reqs: Sequence[tuple[int, float]] = (), rcps: Sequence[float] = (), exact: bool = False) -> list[int]:
    return kernel.need_days(T, round(on_hand * U), round(safety * U),
                            array("q", [T + d for d, _ in reqs]), array("q", [round(q * U) for _, q in reqs]),
                            array("q", [round(q * U) for q in rcps]), exact)


# --- the fixture really gives two different implementations ------------------------------------


def test_fixture_gives_the_kernel_it_names(kernel: ModuleType) -> None:
    compiled = kernel.CYTHON_MODULE == 1
    assert compiled == kernel.__name__.endswith("._netting")
    assert (kernel.LOT_FOR_LOT, kernel.FIXED, kernel.MIN_MULTIPLE, kernel.PERIOD, kernel.EOQ) == (0, 1, 2, 3, 4)


def test_compiled_kernel_loads_and_is_the_default_when_required() -> None:
    compiled = load_kernel("cython")
    assert compiled is not load_kernel("python")
    if require_compiled() and os.environ.get("MILLSTREAM_KERNEL", "") != "python":
        assert netting.load() is compiled
        assert netting.COMPILED


# --- lot-for-lot -------------------------------------------------------------------------


def test_lot_for_lot_covers_each_net_requirement(kernel: ModuleType) -> None:
    # 10 on hand; day 2 needs 30 -> -20: order 20; day 3 receives 15 -> 15; day 5 needs 20 -> -5: order 5
    got = net(kernel, on_hand=10, reqs=[(2, 30), (5, 20)], rcps=[(3, 15)])
    assert got == [po(2, 20, short=20), po(5, 5, short=5)]


def test_no_order_when_stock_and_receipts_cover(kernel: ModuleType) -> None:
    assert net(kernel, on_hand=10, reqs=[(1, 5), (4, 15)], rcps=[(2, 10)]) == []
    assert net(kernel, on_hand=0) == []


def test_same_day_requirements_are_summed_into_one_order(kernel: ModuleType) -> None:
    got = net(kernel, reqs=[(3, 4), (3, 6), (3, 0.5)])
    assert got == [po(3, 10.5, short=10.5)]


def test_receipt_on_the_day_of_a_requirement_is_counted_first(kernel: ModuleType) -> None:
    assert net(kernel, reqs=[(4, 10)], rcps=[(4, 10)]) == []
    # a receipt one day late does not help: order on day 4, and the receipt then lies in stock
    assert net(kernel, reqs=[(4, 10)], rcps=[(5, 10)]) == [po(4, 10, short=10)]


# --- fixed ----------------------------------------------------------------------------------


def test_fixed_lot_rounds_the_net_requirement_up_to_whole_lots(kernel: ModuleType) -> None:
    # day 2: -20 -> 1 lot of 25 (balance 5); day 3: +15 -> 20; day 5: 0 -> nothing
    assert net(kernel, rule=FIXED, fixed=25, on_hand=10, reqs=[(2, 30), (5, 20)], rcps=[(3, 15)]) == [
        po(2, 25, short=20)]
    # a net requirement of 60 takes three lots of 25 in one order; the 15 left over covers day 9
    assert net(kernel, rule=FIXED, fixed=25, reqs=[(1, 60), (9, 15)]) == [po(1, 75, short=60)]
    # an exact multiple is not rounded further
    assert net(kernel, rule=FIXED, fixed=25, reqs=[(1, 50)]) == [po(1, 50, short=50)]


def test_fixed_without_a_quantity_is_lot_for_lot(kernel: ModuleType) -> None:
    assert net(kernel, rule=FIXED, fixed=0, reqs=[(1, 7)]) == [po(1, 7, short=7)]


# --- min / multiple / max ------------------------------------------------------------------------


def test_min_multiple_raises_to_the_minimum_then_rounds_to_the_multiple(kernel: ModuleType) -> None:
    # day 1: -23 -> max(23, 50) = 50 (a multiple of 10): balance 27; day 6: 27 - 34 = -7 -> 50 -> 43;
    # day 8: 43 - 50 = -7 -> 50
    got = net(kernel, rule=MIN_MULTIPLE, min_qty=50, multiple=10, reqs=[(1, 23), (6, 34), (8, 50)])
    assert got == [po(1, 50, short=23), po(6, 50, short=7), po(8, 50, short=7)]
    # above the minimum: 57 -> next multiple of 10 = 60
    assert net(kernel, rule=MIN_MULTIPLE, min_qty=50, multiple=10, reqs=[(2, 57)]) == [po(2, 60, short=57)]


def test_min_multiple_splits_above_the_maximum(kernel: ModuleType) -> None:
    # 123 -> 130 (multiple 10) > max 45: chunks of the largest multiple <= 45, i.e. 40, 40, 40, 10;
    # the shortage of 123 is spread over the orders in turn
    got = net(kernel, rule=MIN_MULTIPLE, multiple=10, max_qty=45, reqs=[(3, 123)])
    assert got == [po(3, 40, short=40), po(3, 40, short=40), po(3, 40, short=40), po(3, 10, short=3)]


def test_min_multiple_max_without_multiple_splits_in_max_sized_orders(kernel: ModuleType) -> None:
    got = net(kernel, rule=MIN_MULTIPLE, max_qty=45, reqs=[(0, 100)])
    assert got == [po(0, 45, short=45), po(0, 45, short=45), po(0, 10, short=10)]


def test_min_multiple_max_below_the_multiple_uses_the_max(kernel: ModuleType) -> None:
    # multiple 50 turns 60 into 100 > max 30; no multiple of 50 fits under 30: chunks of 30
    got = net(kernel, rule=MIN_MULTIPLE, multiple=50, max_qty=30, reqs=[(0, 60)])
    assert got == [po(0, 30, short=30), po(0, 30, short=30), po(0, 30, short=0), po(0, 10, short=0)]


def test_min_multiple_minimum_alone(kernel: ModuleType) -> None:
    assert net(kernel, rule=MIN_MULTIPLE, min_qty=12.5, reqs=[(1, 0.25)]) == [po(1, 12.5, short=0.25)]


# --- period order quantity ---------------------------------------------------------------------


def test_period_combines_the_net_requirements_of_the_period(kernel: ModuleType) -> None:
    # a 7-day period from day 1 covers days 1..7: 10 + 20 + 5 = 35; days 8..14 hold 30 + 15 = 45
    got = net(kernel, rule=PERIOD, period=7, reqs=[(1, 10), (3, 20), (7, 5), (8, 30), (10, 15)])
    assert got == [po(1, 35, short=10), po(8, 45, short=30)]


def test_period_nets_receipts_inside_the_period(kernel: ModuleType) -> None:
    # day 1: -10; in the period, day 3 receives 25 and needs 20 (-5), day 7 needs 5 (-10):
    # the lowest balance of days 1..7 is -10, so one order of 10 covers the period
    got = net(kernel, rule=PERIOD, period=7, reqs=[(1, 10), (3, 20), (7, 5)], rcps=[(3, 25)])
    assert got == [po(1, 10, short=10)]


def test_period_with_safety_stock_orders_up_to_safety_stock(kernel: ModuleType) -> None:
    # on hand 5, safety 5: day 2 -> -5, period days 2..5 reach -15: order 5 - (-15) = 20
    got = net(kernel, rule=PERIOD, period=4, on_hand=5, safety=5, reqs=[(2, 10), (4, 10), (6, 3)])
    assert got == [po(2, 20, short=5), po(6, 3, short=0)]


def test_period_of_one_day_is_lot_for_lot(kernel: ModuleType) -> None:
    got = net(kernel, rule=PERIOD, period=1, reqs=[(1, 10), (3, 20)])
    assert got == [po(1, 10, short=10), po(3, 20, short=20)]


# --- economic order quantity -------------------------------------------------------------------


def test_eoq_quantity_is_rounded_up_to_whole_units(kernel: ModuleType) -> None:
    assert kernel.eoq_qty(100 * U, 8.0, 1.0) == 40 * U                 # sqrt(1600) = 40 exactly
    assert kernel.eoq_qty(400 * U, 50.0, 2.0) == 142 * U               # sqrt(20000) = 141.42..
    assert kernel.eoq_qty(1 * U, 0.5, 1.0) == 1 * U                    # sqrt(1) = 1 exactly
    assert kernel.eoq_qty(0, 50.0, 2.0) == 0
    assert kernel.eoq_qty(400 * U, 0.0, 2.0) == 0
    assert kernel.eoq_qty(400 * U, 50.0, 0.0) == 0


def test_eoq_uses_the_requirements_of_the_next_365_days(kernel: ModuleType) -> None:
    # D = 100 + 200 + 100 = 400 (day 365 lies outside [today, today + 365)); S = 50, H = 2:
    # EOQ = ceil(sqrt(2 * 400 * 50 / 2)) = ceil(141.42) = 142
    reqs = [(10, 100), (100, 200), (364, 100), (365, 1000)]
    got = net(kernel, rule=EOQ, ordering_cost=50.0, holding=2.0, reqs=reqs)
    # day 10: -100 -> 142 (42 left); day 100: -158 -> net above EOQ: 158; day 364: -100 -> 142;
    # day 365: 42 - 1000 = -958 -> 958
    assert got == [po(10, 142, short=100), po(100, 158, short=158), po(364, 142, short=100),
                   po(365, 958, short=958)]


def test_eoq_counts_overdue_requirements_in_the_annual_demand(kernel: ModuleType) -> None:
    # overdue 300 (day -5, counted today, the order dated by it) + 100 on day 20: D = 400 -> EOQ 142
    got = net(kernel, rule=EOQ, ordering_cost=50.0, holding=2.0, reqs=[(-5, 300), (20, 100)])
    assert got == [po(-5, 300, short=300), po(20, 142, short=100)]


def test_eoq_without_costs_is_lot_for_lot(kernel: ModuleType) -> None:
    got = net(kernel, rule=EOQ, ordering_cost=50.0, holding=0.0, reqs=[(1, 7), (2, 3)])
    assert got == [po(1, 7, short=7), po(2, 3, short=3)]


# --- safety stock, lead time, overdue ----------------------------------------------------------------


def test_safety_stock_is_replenished_today_without_any_requirement(kernel: ModuleType) -> None:
    assert net(kernel, safety=10) == [po(0, 10, short=0)]
    assert net(kernel, safety=10, lead=3) == [po(0, 10, short=0, lead=3)]


def test_safety_stock_order_then_requirement_order(kernel: ModuleType) -> None:
    # 5 on hand, safety 10: today order 5 (not short); day 2 needs 20 -> balance -10: order 20, short 10
    got = net(kernel, on_hand=5, safety=10, reqs=[(2, 20)])
    assert got == [po(0, 5, short=0), po(2, 20, short=10)]


def test_safety_stock_dip_above_zero_is_not_short(kernel: ModuleType) -> None:
    got = net(kernel, on_hand=20, safety=10, reqs=[(4, 15)])
    assert got == [po(4, 5, short=0)]


def test_lead_time_offsets_the_release(kernel: ModuleType) -> None:
    got = net(kernel, lead=3, on_hand=10, reqs=[(5, 30), (9, 20)], rcps=[(6, 15)])
    assert got == [po(5, 20, short=20, lead=3), po(9, 5, short=5, lead=3)]


def test_release_may_fall_before_today(kernel: ModuleType) -> None:
    # due in 2 days with a 5-day lead time: released 3 days ago (past due)
    got = net(kernel, lead=5, reqs=[(2, 4)])
    assert got == [po(2, 4, short=4, lead=5)]
    assert got[0][1] < T


def test_overdue_requirements_are_needed_today(kernel: ModuleType) -> None:
    # all of them are netted today; the order is dated by the first it covers (day -5), so that its id and
    # dates do not move as days pass
    got = net(kernel, lead=2, reqs=[(-5, 10), (-1, 5), (0, 1)])
    assert got == [po(-5, 16, short=16, lead=2)]
    # 12 on hand cover day -5's 10: the order is dated by day -1's 5, which the stock fails
    got = net(kernel, on_hand=12, lead=2, reqs=[(-5, 10), (-1, 5), (0, 1)])
    assert got == [po(-1, 4, short=4, lead=2)]
    # only today's requirement fails, or the stock is short of safety stock alone: dated today
    assert net(kernel, on_hand=15, reqs=[(-5, 10), (-1, 5), (0, 1)]) == [po(0, 1, short=1)]
    assert net(kernel, on_hand=15, safety=20, reqs=[(2, 1)]) == [po(0, 5, short=0), po(2, 1, short=0)]
    # short of safety stock already, and an overdue requirement: dated by the requirement
    assert net(kernel, on_hand=15, safety=20, reqs=[(-5, 10), (2, 1)]) == [po(-5, 15, short=0), po(2, 1, short=0)]


def test_overdue_receipts_arrive_today(kernel: ModuleType) -> None:
    # a receipt 3 days overdue still counts (today); it covers today's and tomorrow's needs
    assert net(kernel, reqs=[(0, 4), (1, 6)], rcps=[(-3, 10)]) == []
    assert net(kernel, reqs=[(-2, 12)], rcps=[(-3, 10)]) == [po(-2, 2, short=2)]


def test_negative_on_hand_is_short_today(kernel: ModuleType) -> None:
    assert net(kernel, on_hand=-3) == [po(0, 3, short=3)]
    assert net(kernel, on_hand=-3, safety=2, reqs=[(1, 1)]) == [po(0, 5, short=3), po(1, 1, short=0)]


# --- need days ---------------------------------------------------------------------------------------


def test_need_days_earlier_later_and_never(kernel: ModuleType) -> None:
    # 10 on hand; needs 5 (day 2), 10 (day 4), 20 (day 9); receipts of 15, 20, 100 in due order.
    # receipt 1 is first needed on day 4 (10 - 15 < 0), receipt 2 on day 9 (25 - 35 < 0),
    # receipt 3 never (45 - 35 >= 0 and nothing more is needed)
    got = need(kernel, on_hand=10, reqs=[(2, 5), (4, 10), (9, 20)], rcps=[15, 20, 100])
    assert got == [T + 4, T + 9, -1]


def test_need_days_short_already_means_today(kernel: ModuleType) -> None:
    # below safety stock before any requirement: the first receipt is needed today
    assert need(kernel, on_hand=0, safety=5, rcps=[10]) == [T]
    # then the second receipt is needed when 4 + 3 - 3 falls below 5 again, on day 3
    assert need(kernel, on_hand=4, safety=5, reqs=[(3, 3)], rcps=[3, 1]) == [T, T + 3]
    assert need(kernel, on_hand=4, safety=5, reqs=[(3, 1)], rcps=[10, 1]) == [T, -1]


def test_need_days_several_receipts_for_one_requirement(kernel: ModuleType) -> None:
    assert need(kernel, reqs=[(3, 30)], rcps=[10, 10, 10, 10]) == [T + 3, T + 3, T + 3, -1]


def test_need_days_overdue_requirement_is_needed_today(kernel: ModuleType) -> None:
    assert need(kernel, reqs=[(-4, 3), (6, 3)], rcps=[3, 3]) == [T, T + 6]


def test_exact_need_days_name_the_overdue_requirement_the_balance_fails(kernel: ModuleType) -> None:
    # 4 on hand; 3 overdue since day -4, 3 since day -2, 3 on day 6: needed today, exactly since day -2
    reqs = [(-4, 3), (-2, 3), (6, 3)]
    assert need(kernel, on_hand=4, reqs=reqs, rcps=[3, 3]) == [T, T + 6]
    assert need(kernel, on_hand=4, reqs=reqs, rcps=[3, 3], exact=True) == [T - 2, T + 6]
    # receipts still short after the first one are needed since the same overdue day
    assert need(kernel, reqs=[(-3, 10)], rcps=[3, 3, 10], exact=True) == [T - 3, T - 3, T - 3]
    # today's own requirement, or stock short of safety stock with nothing overdue: today
    assert need(kernel, on_hand=2, reqs=[(-3, 1), (0, 5)], rcps=[5], exact=True) == [T]
    assert need(kernel, safety=5, reqs=[(3, 1)], rcps=[10, 1], exact=True) == [T, -1]
    # short of safety stock with an overdue requirement: since that requirement, as an order would be dated
    assert need(kernel, safety=5, reqs=[(-3, 1)], rcps=[10, 1], exact=True) == [T - 3, -1]
    assert net(kernel, safety=5, reqs=[(-3, 1)]) == [po(-3, 6, short=1)]


def test_need_days_without_requirements_or_receipts(kernel: ModuleType) -> None:
    assert need(kernel, rcps=[5, 5]) == [-1, -1]
    assert need(kernel, reqs=[(1, 5)]) == []


# --- the twins agree ---------------------------------------------------------------------------------

_QTY = st.integers(min_value=1, max_value=10**12)
_DAY = st.integers(min_value=-40, max_value=800)


@st.composite
def _netting_case(draw: st.DrawFn) -> tuple:
    today = draw(st.integers(min_value=700_000, max_value=800_000))
    reqs = sorted(draw(st.lists(st.tuples(_DAY, _QTY), max_size=25)))
    rcps = sorted(draw(st.lists(st.tuples(_DAY, _QTY), max_size=12)))
    rule = draw(st.integers(min_value=0, max_value=4))
    step = st.one_of(st.just(0), st.integers(min_value=1, max_value=10**11))
    fixed, min_qty, max_qty, multiple = draw(step), draw(step), draw(step), draw(step)
    if rule == MIN_MULTIPLE and max_qty:
        # keep the number of split orders small: each day's order is at most its net requirement
        # plus min and multiple, split in chunks of at least about max_qty / 2
        bound = sum(q for _, q in reqs) + 10**12 + (len(reqs) + len(rcps) + 1) * (min_qty + multiple + 10**12)
        max_qty = max(max_qty, bound // 500)
    period = draw(st.integers(min_value=1, max_value=60))
    ordering_cost = draw(st.one_of(st.just(0.0), st.floats(min_value=0.01, max_value=1e4)))
    holding = draw(st.one_of(st.just(0.0), st.floats(min_value=1e-3, max_value=1e3)))
    return (today, draw(st.integers(min_value=-10**12, max_value=10**12)),
            draw(st.one_of(st.just(0), _QTY)), draw(st.integers(min_value=0, max_value=3650)),
            rule, fixed, min_qty, max_qty, multiple, period, ordering_cost, holding,
            array("q", [today + d for d, _ in reqs]), array("q", [q for _, q in reqs]),
            array("q", [today + d for d, _ in rcps]), array("q", [q for _, q in rcps]))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_netting_case())
def test_twins_give_identical_results(case: tuple) -> None:
    compiled, twin = load_kernel("cython"), load_kernel("python")
    today, on_hand, safety = case[:3]
    expected = twin.net_item(*case)
    assert compiled.net_item(*case) == expected
    for due, release, qty, short in expected:
        assert release == due - case[3]
        assert qty > 0 and 0 <= short <= qty
    req_day, req_qty, _, rcp_qty = case[12:]
    needs = twin.need_days(today, on_hand, safety, req_day, req_qty, rcp_qty)
    assert compiled.need_days(today, on_hand, safety, req_day, req_qty, rcp_qty) == needs
    exact = twin.need_days(today, on_hand, safety, req_day, req_qty, rcp_qty, True)
    assert compiled.need_days(today, on_hand, safety, req_day, req_qty, rcp_qty, True) == exact
    # the exact day is the clamped one, or an overdue day in its place
    assert [max(day, today) if day >= 0 else day for day in exact] == needs


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10**15), st.floats(min_value=0.0, max_value=1e6),
       st.one_of(st.just(0.0), st.floats(min_value=1e-3, max_value=1e4)))
def test_twins_give_identical_eoq(annual: int, ordering_cost: float, holding: float) -> None:
    compiled, twin = load_kernel("cython"), load_kernel("python")
    got = compiled.eoq_qty(annual, ordering_cost, holding)
    assert got == twin.eoq_qty(annual, ordering_cost, holding)
    if got:
        exact = math.sqrt(2.0 * (annual / U) * ordering_cost / holding)
        cap = getattr(twin, "MAX_UNITS", math.inf)      # an EOQ above the largest contract quantity is capped
        assert got % U == 0 and got // U == math.ceil(min(exact, cap))


@pytest.mark.parametrize("args", [
    ([], [], [], []),
    ([T + 1], [5 * U], [], []),
    ([], [], [T + 1], [5 * U]),
])
def test_twins_accept_empty_inputs(args: tuple) -> None:
    compiled, twin = load_kernel("cython"), load_kernel("python")
    arrays = [array("q", a) for a in args]
    for rule in range(5):
        call = (T, 0, U, 2, rule, U, U, 3 * U, U, 3, 10.0, 1.0, *arrays)
        assert compiled.net_item(*call) == twin.net_item(*call)
        assert twin.net_item(*call)[0] == (T, T - 2, twin.net_item(*call)[0][2], 0)


@pytest.mark.parametrize(("annual", "ordering_cost", "holding"), [
    # 1e9 units a year, S = 1e12 (the contract's Money limit), H = 1e-6 per unit-year
    # (holding_cost_rate 1e-3 x unit cost 1e-3): EOQ = sqrt(2e27) = 4.47e13 units = 4.47e19 micro-units
    (10**15, 1e12, 1e-6),
    # a holding cost so small that 2DS/H overflows a double
    (10**6, 1e12, 1e-300),
])
def test_twins_agree_on_contract_valid_extreme_eoq(annual: int, ordering_cost: float, holding: float) -> None:
    """Both kernels must give the same EOQ (or the same error) for any contract-valid costs.

    Ordering cost is ``Money`` (<= 1e12) and holding = holding_cost_rate (> 0) x unit cost (>= 0),
    so these values can reach ``net_item`` from valid events.
    """
    compiled, twin = load_kernel("cython"), load_kernel("python")
    results = []
    for module in (compiled, twin):
        try:
            results.append(module.eoq_qty(annual, ordering_cost, holding))
        except (OverflowError, ValueError) as exc:
            results.append(type(exc).__name__)
    assert results[0] == results[1]


def test_engines_on_both_kernels_agree_on_an_extreme_eoq_item() -> None:
    """The extreme EOQ above, reached from valid events: S = 1e12, holding rate 1e-3 of a 1e-3
    standard cost (H = 1e-6), 1e9 units demanded.  Both engines must publish the same plan, and
    the order must cover the net requirement."""
    streams, plans = [], []
    for name in ("cython", "python"):
        s = bomgen.Stream(dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC))
        engine = Engine(EngineSettings(kernel=name))
        outputs = engine.apply([
            s("item", item="X", source="buy", standard_cost=1e-3,
              lot_size={"rule": "eoq", "ordering_cost": 1e12, "holding_cost_rate": 1e-3}),
            s("demand", demand_id="D1", item="X", qty=1e9, due=dt.date(2026, 3, 10))])
        streams.append([encode_json(o) for o in outputs])
        plans.append(engine.planner.plans[bomgen.SITE].planned["X"])
    assert streams[0] == streams[1]
    assert plans[0] == plans[1]
    ((due, release, qty, short),) = plans[0]
    assert (due, release) == (dt.date(2026, 3, 10).toordinal(),) * 2
    assert qty >= 10**9 * U and short == 10**9 * U and qty < 2**63


def test_the_calendar_s_ends_fit_the_node_s_day_fields(kernel: ModuleType) -> None:
    """Days are kept in 32 bits in the compiled node: the first and last days of Python's calendar, with the
    longest lead time master data allows (a release ten years before day 1), come back as they went in, and
    a parent's order places its component's requirement on that release day."""
    first, last, lead = 1, dt.date.max.toordinal(), 3650
    parent, component = kernel.ItemNode("P"), kernel.ItemNode("C")
    parent.set_params(0, lead, L4L, 0, 0, 0, 0, 1, 0.0, 0.0)
    component.set_params(0, 0, L4L, 0, 0, 0, 0, 1, 0.0, 0.0)
    parent.set_bom([component], [1], [1], False)
    parent.set_own([first, last], [2 * U, 3 * U])
    parent.replan(first)
    component.replan(first)
    assert parent.planned() == [(first, first - lead, 2 * U, 2 * U), (last, last - lead, 3 * U, 3 * U)]
    assert component.dependent() == [(first - lead, 2 * U), (last - lead, 3 * U)]
    # the overdue requirement is netted today; its order is dated by it (docs/planning.md)
    assert component.planned() == [(first - lead, first - lead, 2 * U, 2 * U), (last - lead, last - lead, 3 * U, 3 * U)]
