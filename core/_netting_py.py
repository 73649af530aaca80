"""Readable twin of the netting kernel (``_netting.pyx``); both give identical results.

``net_item`` nets one item over daily buckets: it walks its gross
requirements and scheduled receipts in date order from the site's today,
and whenever the projected available balance would fall below safety stock it
plans an order covering the net requirement, sized by the item's lot rule.
``need_days`` tells, for each open receipt, the first day it is needed
(for expedite/defer/cancel messages).  ``ItemNode`` keeps one item's planning
state between events (gross requirements by source kind, receipts, the last
plan, what it exploded onto its components) so that net change costs only the
items an event reaches; the compiled module has the same class over C arrays.

All quantities are fixed-point integers (micro-units); days are date ordinals.
Inputs are sorted by day; days before ``today`` count as today (overdue).
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

from .planids import iso, planned_id

CYTHON_MODULE = 0

LOT_FOR_LOT, FIXED, MIN_MULTIPLE, PERIOD, EOQ = 0, 1, 2, 3, 4
UNIT = 1_000_000
YEAR_DAYS = 365
MAX_UNITS = 1e9  # the contract's largest quantity: an EOQ beyond it is capped
QTY_CAP = 10**15  # the contract's largest quantity in micro-units: one source's requirement is capped there
MAX_SPLIT = 1000  # most orders one requirement is split into by a maximum lot size (min_multiple)
MINUTES_CAP = 10**15  # micro-minutes of one operation of one order (a billion minutes): capped there
EVERY_DAY = 0x7F  # weekday mask of a work center that works every day (bit 0 Monday ... bit 6 Sunday)

__all__ = [
    "CYTHON_MODULE",
    "EOQ",
    "EVERY_DAY",
    "FIXED",
    "LOT_FOR_LOT",
    "MAX_SPLIT",
    "MINUTES_CAP",
    "MIN_MULTIPLE",
    "PERIOD",
    "QTY_CAP",
    "ItemNode",
    "PlanStamp",
    "PlannedOrderRecord",
    "cascade",
    "component_qty",
    "eoq_qty",
    "load_signature",
    "need_days",
    "net_item",
    "op_minutes",
    "spread",
    "trace_needs",
    "works",
]


def eoq_qty(annual: int, ordering_cost: float, holding_per_unit: float) -> int:
    """Economic order quantity sqrt(2DS/H), rounded up to whole units (0 if undefined)."""
    if annual <= 0 or ordering_cost <= 0.0 or holding_per_unit <= 0.0:
        return 0
    units = math.sqrt(2.0 * (annual / UNIT) * ordering_cost / holding_per_unit)
    return math.ceil(min(units, MAX_UNITS)) * UNIT


def _ceil_to(qty: int, step: int) -> int:
    return -((-qty) // step) * step


def net_item(today: int, on_hand: int, safety_stock: int, lead_time: int,
             rule: int, fixed_qty: int, min_qty: int, max_qty: int, multiple: int, period_days: int,
             ordering_cost: float, holding_per_unit: float,
             req_day: Sequence[int], req_qty: Sequence[int],
             rcp_day: Sequence[int], rcp_qty: Sequence[int]) -> list[tuple[int, int, int, int]]:
    """Planned orders as (due, release, qty, short) tuples.

    ``short`` is how far the balance was below zero (not merely below safety
    stock) when the order was needed: the part of a requirement it must cover.
    Overdue requirements and receipts count as today's; the orders netted today
    are dated by the first of today's requirements the balance fails, which may
    be overdue (docs/planning.md, "Today's orders are dated by what they cover").
    """
    nr, nc = len(req_day), len(rcp_day)
    eoq = 0
    if rule == EOQ:
        horizon = today + YEAR_DAYS
        annual = 0
        for k in range(nr):
            if req_day[k] < horizon:
                annual += req_qty[k]
        eoq = eoq_qty(annual, ordering_cost, holding_per_unit)
    planned: list[tuple[int, int, int, int]] = []
    balance = on_hand
    i = j = 0
    day = today
    while True:
        while j < nc and max(rcp_day[j], today) == day:
            balance += rcp_qty[j]
            j += 1
        first, supply = i, balance
        while i < nr and max(req_day[i], today) == day:
            balance -= req_qty[i]
            i += 1
        if balance < safety_stock:
            net = safety_stock - balance
            short = -balance if balance < 0 else 0
            # today's orders are dated by the overdue requirement they first cover: their ids, and what
            # they explode onto components, stay put as days pass
            dated = day if day > today else _first_short(req_day, req_qty, first, i, supply, safety_stock, today)
            if rule == FIXED and fixed_qty > 0:
                sizes = [_ceil_to(net, fixed_qty)]
            elif rule == MIN_MULTIPLE:
                sizes = _min_multiple(net, min_qty, max_qty, multiple)
            elif rule == PERIOD and period_days > 1:
                sizes = [safety_stock - _lowest_balance(balance, day + period_days, today, i, j,
                                                        req_day, req_qty, rcp_day, rcp_qty)]
            elif rule == EOQ:
                sizes = [max(net, eoq)]
            else:
                sizes = [net]
            for size in sizes:
                cover = min(short, size)
                planned.append((dated, dated - lead_time, size, cover))
                short -= cover
                balance += size
        if i < nr:
            next_day = max(req_day[i], today)
            if j < nc:
                next_day = min(next_day, max(rcp_day[j], today))
        elif j < nc:
            next_day = max(rcp_day[j], today)
        else:
            break
        day = next_day
    return planned


def _min_multiple(net: int, min_qty: int, max_qty: int, multiple: int) -> list[int]:
    qty = max(net, min_qty)
    if multiple > 0:
        qty = _ceil_to(qty, multiple)
    if max_qty <= 0 or qty <= max_qty:
        return [qty]
    chunk = (max_qty // multiple) * multiple if multiple > 0 else max_qty
    if chunk <= 0:
        chunk = max_qty
    if qty > chunk * MAX_SPLIT:
        # a maximum absurdly small for the requirement (1e-6 against 1e9 units: a billion orders) would exhaust
        # memory: at most MAX_SPLIT orders then, each above the maximum
        chunk = _ceil_to(-(-qty // MAX_SPLIT), multiple if multiple > 0 else 1)
    sizes = []
    while qty > chunk:
        sizes.append(chunk)
        qty -= chunk
    sizes.append(qty)
    return sizes


def _lowest_balance(balance: int, end: int, today: int, i: int, j: int,
                    req_day: Sequence[int], req_qty: Sequence[int],
                    rcp_day: Sequence[int], rcp_qty: Sequence[int]) -> int:
    """Lowest end-of-day balance (without a new order) before day ``end``."""
    lowest = balance
    nr, nc = len(req_day), len(rcp_day)
    while True:
        day_r = max(req_day[i], today) if i < nr else end
        day_c = max(rcp_day[j], today) if j < nc else end
        day = min(day_r, day_c)
        if day >= end:
            return lowest
        while j < nc and max(rcp_day[j], today) == day:
            balance += rcp_qty[j]
            j += 1
        while i < nr and max(req_day[i], today) == day:
            balance -= req_qty[i]
            i += 1
        if balance < lowest:
            lowest = balance


def need_days(today: int, on_hand: int, safety_stock: int,
              req_day: Sequence[int], req_qty: Sequence[int], rcp_qty: Sequence[int], exact: bool = False) -> list[int]:
    """For each receipt (in due order), the first day it is needed; -1 if never.

    Receipt k is needed on the first day the balance from stock plus the
    receipts before it falls below safety stock; overdue requirements count as
    today's.  ``exact`` names, for a receipt needed today, the day of the
    overdue requirement the balance first fails instead (the first overdue one
    when the stock is short of safety stock already; today if none is overdue):
    a date in the past that does not move with the clock, for the messages'
    suggested dates, as today's planned orders are dated (``net_item``).
    """
    nr = len(req_day)
    out: list[int] = []
    supply = on_hand
    cumulative = 0
    current = today
    reported = req_day[0] if nr and req_day[0] < today else today   # short already: since the first overdue
    i = 0
    for qty in rcp_qty:
        if supply - cumulative < safety_stock:
            out.append(reported if exact else current)
        else:
            found = -1
            while i < nr:
                current = max(req_day[i], today)
                start, before = i, cumulative
                while i < nr and max(req_day[i], today) == current:
                    cumulative += req_qty[i]
                    i += 1
                if supply - cumulative < safety_stock:
                    found = current
                    if exact and current == today:
                        found = _first_short(req_day, req_qty, start, i, supply - before, safety_stock, today)
                    break
            reported = found if found >= 0 else current
            out.append(found)
        supply += qty
    return out


def _first_short(req_day: Sequence[int], req_qty: Sequence[int], start: int, end: int, balance: int,
                 safety_stock: int, today: int) -> int:
    """The day of the first of requirements ``start:end`` that takes ``balance`` below safety stock."""
    for j in range(start, end):
        balance -= req_qty[j]
        if balance < safety_stock:
            return req_day[j]
    return today


# --- capacity: operation minutes spread over a work center's days -------------------------------


def op_minutes(setup: int, run: int, qty: int) -> int:
    """Micro-minutes of one operation for ``qty`` micro-units: setup plus run per unit, rounded up, capped."""
    return min(setup + -((-run * qty) // UNIT), MINUTES_CAP)


def works(mask: int, day: int) -> bool:
    """Whether a work center with weekday ``mask`` works on ``day`` (ordinal 1, 0001-01-01, was a Monday)."""
    return bool(mask >> ((day - 1) % 7) & 1)


_MASK64 = (1 << 64) - 1


def _mix(x: int) -> int:
    """splitmix64's finaliser: a well-spread 64-bit hash (C arithmetic, modulo 2**64)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def load_signature(due: int, rank: int, share: int) -> int:
    """The hash one order's share on a day adds to the day's signature.

    A day's signature is the sum (modulo 2**64) over the orders loading it, so it
    changes when an order comes, goes, or changes its id or minutes there, even
    where the day's total stays: an overload must then name its orders anew.
    """
    return _mix((_mix((due * 1024 + rank) & _MASK64) + share) & _MASK64)


def spread(minutes: int, start: int, end: int, mask: int) -> list[tuple[int, int]]:
    """``minutes`` spread evenly over the working days from ``start`` to ``end`` (both included).

    Equal shares, the remainder one micro-minute each to the first days, so the
    shares add up exactly.  A window without a working day puts everything on
    the first working day after it (the work cannot be done sooner); a center
    that never works takes it on ``end`` (where it shows as an overload).
    """
    if minutes <= 0:
        return []
    days = [day for day in range(start, end + 1) if works(mask, day)]
    if not days:
        day = end
        if mask & EVERY_DAY:
            day += 1
            while not works(mask, day):
                day += 1
        days = [day]
    share, extra = divmod(minutes, len(days))
    return [(day, share + 1 if k < extra else share) for k, day in enumerate(days)]


def component_qty(parent_qty: int, numerator: int, denominator: int) -> int:
    """Requirement of a component for ``parent_qty`` of its parent, rounded up, capped at ``QTY_CAP``."""
    return min(-((-parent_qty * numerator) // denominator), QTY_CAP)


Change = tuple[int, int, int, int, bool, bool]  # due, rank, release, qty, past_due, deleted


class ItemNode:
    """Planning state of one item, kept between events.

    Gross requirements come in two parts: ``own`` (the item's demands and
    allocations, replaced whenever an event touches the item) and ``dependent``
    (placed by parents, kept as day totals and changed by differences).  An
    item explodes three kinds of sources onto its components: its planned
    orders (on release), its firm planned production orders (on start), and,
    for a phantom, its own gross requirements day by day.  What it exploded is
    remembered, so a re-plan sends components only the differences.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.make = False  # planned orders of a made item are "make", else "buy"
        self.on_hand = 0
        self.safety_stock = 0
        self.lead_time = 0
        self.rule = LOT_FOR_LOT
        self.fixed_qty = self.min_qty = self.max_qty = self.multiple = 0
        self.period_days = 0
        self.ordering_cost = 0.0
        self.holding = 0.0
        self.phantom = False
        self._own: list[tuple[int, int]] = []
        self._dep: dict[int, int] = {}
        self._rcp: list[tuple[int, int]] = []
        self._planned: list[tuple[int, int, int, int]] = []  # due, release, qty, short
        self._today = 0  # the day of the last re-plan: past-due flags of what was published
        self._firm: list[tuple[int, int]] = []
        self._passed: list[tuple[int, int]] = []
        self._lines: list[tuple[ItemNode, int, int]] = []
        self._ops: list[tuple[int, int, int]] = []   # work center id, setup and run micro-minutes per unit
        self._load: dict[tuple[int, int], tuple[int, int]] = {}  # (center, day) -> (micro-minutes, signature)
        # for ``cascade``: low-level code; the planner looks at the item after a re-net (``always``: after every
        # one, which only the compiled cascade tells apart); queued only because the day moved; waiting in a
        # cascade; what the planner reads again before the next re-net (0: nothing)
        self.level = 0
        self.watch = False
        self.always = False
        self.day_only = False
        self.queued = False
        self.pending = 0

    # --- inputs ------------------------------------------------------------------------

    def set_params(self, safety_stock: int, lead_time: int, rule: int, fixed_qty: int, min_qty: int,
                   max_qty: int, multiple: int, period_days: int, ordering_cost: float, holding: float) -> None:
        self.safety_stock, self.lead_time, self.rule = safety_stock, lead_time, rule
        self.fixed_qty, self.min_qty, self.max_qty, self.multiple = fixed_qty, min_qty, max_qty, multiple
        self.period_days, self.ordering_cost, self.holding = period_days, ordering_cost, holding

    def set_own(self, days: Sequence[int], qtys: Sequence[int]) -> None:
        """The item's own requirements (demands, allocations), sorted by day."""
        self._own = list(zip(days, qtys, strict=True))

    def set_receipts(self, days: Sequence[int], qtys: Sequence[int]) -> None:
        """Scheduled receipts, sorted by day (the order of ``need_days``)."""
        self._rcp = list(zip(days, qtys, strict=True))

    def add_dep(self, day: int, qty: int) -> None:
        """Add (or, negative, take back) a requirement placed by a parent."""
        total = self._dep.get(day, 0) + qty
        if total:
            self._dep[day] = total
        else:
            self._dep.pop(day, None)

    def set_firm(self, days: Sequence[int], qtys: Sequence[int]) -> list[ItemNode]:
        """Firm planned orders (start, qty), sorted; components whose requirements changed."""
        new = list(zip(days, qtys, strict=True))
        touched: list[ItemNode] = []
        self._explode_diff(self._firm, new, touched)
        self._firm = new
        return touched

    def set_bom(self, components: Sequence[ItemNode], numerators: Sequence[int], denominators: Sequence[int],
                phantom: bool) -> list[ItemNode]:
        """A new BOM (or none): take back everything exploded with the old one, explode again."""
        touched: list[ItemNode] = []
        for sources in (self._planned_sources(self._planned), self._firm, self._passed):
            self._explode(sources, -1, touched)
        self._passed = []
        self._lines = list(zip(components, numerators, denominators, strict=True))
        self.phantom = phantom
        self._explode(self._planned_sources(self._planned), 1, touched)
        self._explode(self._firm, 1, touched)
        return touched

    # --- planning ----------------------------------------------------------------------

    def gross(self) -> list[tuple[int, int]]:
        """All gross requirements as (day, qty) totals per day, sorted."""
        totals: dict[int, int] = {}
        for day, qty in self._own:
            totals[day] = totals.get(day, 0) + qty
        for day, qty in self._dep.items():
            totals[day] = totals.get(day, 0) + qty
        return sorted((d, q) for d, q in totals.items() if q)

    def replan(self, today: int, stamp: PlanStamp | None = None
               ) -> tuple[list[Change] | list[PlannedOrderRecord], list[ItemNode]]:
        """Net the item again: the planned orders that changed, and the components it changed.

        With a ``stamp`` the changes come encoded, as output records (none with a quiet one); without, as
        tuples.
        """
        gross = self.gross()
        if self.phantom:
            new: list[tuple[int, int, int, int]] = []
        else:
            new = net_item(today, self.on_hand, self.safety_stock, self.lead_time, self.rule, self.fixed_qty,
                           self.min_qty, self.max_qty, self.multiple, self.period_days, self.ordering_cost,
                           self.holding, [d for d, _ in gross], [q for _, q in gross],
                           [d for d, _ in self._rcp], [q for _, q in self._rcp])
        changes = _changes(self._planned, self._today, new, today)
        touched: list[ItemNode] = []
        self._explode_diff(self._planned_sources(self._planned), self._planned_sources(new), touched)
        if self.phantom:
            self._explode_diff(self._passed, gross, touched)
            self._passed = gross
        self._planned = new
        self._today = today
        if stamp is not None:
            return [] if stamp.quiet else [encode_change(self.name, self.make, stamp, *change)
                                           for change in changes], touched
        return changes, touched

    def day_stable(self, today: int) -> bool:
        """Re-netting on the new day ``today`` would change nothing since the last re-plan.

        Only dates on or before today move with it (overdue requirements and
        receipts count as today; releases before it are past due), and EOQ
        sizes look a year ahead of it.  An item none of whose requirements,
        receipts or planned orders fall on or before the new day, with no
        order past due, stock at safety stock and another lot rule, keeps its
        plan and its messages.
        """
        if self._today == 0 or self.rule == EOQ or self.on_hand < self.safety_stock:
            return False   # below safety stock, receipts are needed today (a phantom plans no order for it)
        if (self._own and self._own[0][0] <= today) or (self._dep and min(self._dep) <= today):
            return False
        if self._rcp and self._rcp[0][0] <= today:
            return False
        return not self._planned or (self._planned[0][0] > today and self._planned[0][1] >= today)

    # --- capacity --------------------------------------------------------------------------

    def set_ops(self, work_centers: Sequence[int], setups: Sequence[int], runs: Sequence[int]) -> None:
        """The operations a planned order of this item loads: work center id, setup, run per unit (micro-min)."""
        self._ops = list(zip(work_centers, setups, runs, strict=True))

    def load_update(self, today: int, masks: bytes) -> list[tuple[int, int, int]]:
        """Load the planned orders put on work centers now, as (center, day, change) against the last call.

        A planned order's operations run from its release (overdue: today) to the
        day before it is due, over the center's working days (``masks[center]``,
        see ``spread``).  A day whose minutes stay but whose orders changed is
        listed with a change of 0 (its ``load_signature`` sum differs).
        """
        load: dict[tuple[int, int], tuple[int, int]] = {}
        for (due, release, qty, _short), rank in zip(self._planned, _ranks(self._planned), strict=True):
            start = max(release, today)
            end = max(due - 1, start)
            for center, setup, run in self._ops:
                for day, minutes in spread(op_minutes(setup, run, qty), start, end, masks[center]):
                    total, signature = load.get((center, day), (0, 0))
                    load[(center, day)] = (total + minutes,
                                           (signature + load_signature(due, rank, minutes)) & _MASK64)
        old = self._load
        none = (0, 0)
        changes = [(center, day, load.get((center, day), none)[0] - old.get((center, day), none)[0])
                   for center, day in sorted(old.keys() | load.keys())
                   if load.get((center, day)) != old.get((center, day))]
        self._load = load
        return changes

    def load_on(self, center: int, day: int) -> int:
        """Micro-minutes the planned orders put on ``center`` on ``day`` (as of the last ``load_update``)."""
        return self._load.get((center, day), (0, 0))[0]

    def load_parts(self, center: int, day: int, today: int, masks: bytes) -> list[tuple[int, int, int]]:
        """(due, rank, micro-minutes) of each planned order loading ``center`` on ``day``: who makes the load."""
        out = []
        for (due, release, qty, _short), rank in zip(self._planned, _ranks(self._planned), strict=True):
            start = max(release, today)
            if start > day:
                continue
            end = max(due - 1, start)
            minutes = sum(share for op_center, setup, run in self._ops if op_center == center
                          for spread_day, share in spread(op_minutes(setup, run, qty), start, end, masks[center])
                          if spread_day == day)
            if minutes:
                out.append((due, rank, minutes))
        return out

    def load_entries(self) -> list[tuple[int, int, int]]:
        """The load of the planned orders as of the last ``load_update``: (center, day, micro-minutes)."""
        return [(center, day, minutes) for (center, day), (minutes, _sig) in sorted(self._load.items())]

    def need_days(self, today: int, exact: bool = False) -> list[int]:
        gross = self.gross()
        return need_days(today, self.on_hand, self.safety_stock, [d for d, _ in gross], [q for _, q in gross],
                         [q for _, q in self._rcp], exact)

    def planned(self) -> list[tuple[int, int, int, int]]:
        return list(self._planned)

    def past_due(self, today: int) -> list[tuple[int, int, int, int]]:
        """Planned orders released before ``today`` (they come first: sorted by due, one lead time)."""
        return [p for p in self._planned if p[1] < today]

    def component_needs(self, component: ItemNode, qty: int, kind: str, ref: str) -> list[tuple[str, str, int]]:
        """What ``qty`` of this item (for ``kind`` ``ref``) needs of ``component``: a (kind, ref, qty) per BOM
        line naming it."""
        return [(kind, ref, component_qty(qty, numerator, denominator))
                for node, numerator, denominator in self._lines if node is component]

    def released_needs(self, component: ItemNode, day: int, today: int) -> list[tuple[str, str, int]]:
        """What this node's planned orders released on ``day`` (overdue: today) need of ``component``: a
        ("planned_order", planned id, qty) per order and BOM line naming it, for a shortage's hits."""
        out: list[tuple[str, str, int]] = []
        for (due, release, qty, _), rank in zip(self._planned, _ranks(self._planned), strict=True):
            if max(release, today) == day:
                out += self.component_needs(component, qty, "planned_order", planned_id(self.name, due, rank))
        return out

    def released_on(self, day: int, today: int) -> list[tuple[int, int, int, int]]:
        """Planned orders (due, rank, release, qty) whose release (overdue: today) is ``day``."""
        ranked = zip(self._planned, _ranks(self._planned), strict=True)
        return [(due, rank, release, qty) for (due, release, qty, _), rank in ranked if max(release, today) == day]

    def planned_count(self) -> int:
        return len(self._planned)

    def dependent(self) -> list[tuple[int, int]]:
        return sorted(self._dep.items())

    def memory_bytes(self) -> int:
        """Bytes of the per-item arrays in the compiled layout (12 per entry, 24 per planned order)."""
        entries = len(self._own) + len(self._dep) + len(self._rcp) + len(self._firm) + len(self._passed)
        return 12 * entries + 24 * len(self._load) + 24 * len(self._planned) + 24 * len(self._ops)

    def allocated_bytes(self) -> int:
        """The compiled node's figure; the twin has no C arrays, so its layout estimate stands in."""
        return self.memory_bytes()

    # --- explosion -----------------------------------------------------------------------

    @staticmethod
    def _planned_sources(planned: list[tuple[int, int, int, int]]) -> list[tuple[int, int]]:
        return [(release, qty) for _due, release, qty, _short in planned]

    def _explode(self, sources: list[tuple[int, int]], sign: int, touched: list[ItemNode]) -> None:
        for day, qty in sources:
            for component, numerator, denominator in self._lines:
                need = component_qty(qty, numerator, denominator)
                if need:
                    component.add_dep(day, sign * need)
                    if all(other is not component for other in touched):  # each component once per call
                        touched.append(component)

    def _explode_diff(self, old: list[tuple[int, int]], new: list[tuple[int, int]],
                      touched: list[ItemNode]) -> None:
        """Explode the difference of two day-sorted source lists (as multisets of day and qty)."""
        if not self._lines:
            return
        i = j = 0
        removed: list[tuple[int, int]] = []
        added: list[tuple[int, int]] = []
        while i < len(old) or j < len(new):
            if j >= len(new) or (i < len(old) and old[i][0] < new[j][0]):
                removed.append(old[i])
                i += 1
            elif i >= len(old) or new[j][0] < old[i][0]:
                added.append(new[j])
                j += 1
            else:
                if old[i][1] != new[j][1]:
                    removed.append(old[i])
                    added.append(new[j])
                i += 1
                j += 1
        self._explode(removed, -1, touched)
        self._explode(added, 1, touched)


def cascade(today: int, stamp: PlanStamp | None, start: list[ItemNode],
            load: Callable[[ItemNode, int], list[ItemNode]], after: Callable[[ItemNode], None],
            out: list[Any]) -> int:
    """Re-net ``start`` and every component whose requirements change, parents first; how many were re-netted.

    Nodes go in low-level-code order (then by name), so an item is re-netted
    once, after every parent that changes its requirements in this cascade.
    A node queued only because the day moved (``day_only``) is skipped when
    ``day_stable``; one with ``pending`` inputs is read again first by
    ``load(node, pending)``, which returns the components whose requirements
    the new inputs changed.  The planned-order changes go to ``out``; ``after(node)`` lets the
    planner publish shortages and messages, called only for a node it
    ``watch``es or one with a past-due order: the loop itself needs no Python
    of the planner's for most nodes.

    The compiled cascade also skips ``after`` when the re-net moved nothing the
    item's messages derive from (the need day of each receipt, the past-due
    orders, the day, the receipts) unless the node is watched ``always`` (open
    shortages, work-center load); the planner would have found its messages
    unchanged.  The twin calls it after every re-net, so tests comparing the
    two kernels' streams check that the skip loses nothing.
    """
    heap: list[tuple[int, str, ItemNode]] = []
    _queue(heap, start, push=False)
    heapq.heapify(heap)
    count = 0
    try:
        while heap:
            node = heapq.heappop(heap)[2]
            node.queued = False
            if node.day_only:
                node.day_only = False
                if node.pending == 0 and node.day_stable(today):
                    continue
            count += 1
            reached: list[ItemNode] = []
            if node.pending:
                what, node.pending = node.pending, 0
                reached = load(node, what)
            changes, touched = node.replan(today, stamp)
            out.extend(changes)
            if node.watch or node.past_due(today):
                after(node)
            _queue(heap, reached, push=True)
            _queue(heap, touched, push=True)
    finally:
        for _level, _name, node in heap:   # an error left them waiting: a later cascade must queue them again
            node.queued = node.day_only = False
    return count


def trace_needs(nodes: dict[str, ItemNode], parents: dict[str, list[str]],
                own: dict[str, list[tuple[int, int, str, str]]], firm: dict[str, list[tuple[int, int, str, str]]],
                item: str, day: int, today: int) -> list[tuple[str, str, int]]:
    """What a shortage of ``item`` on ``day`` hits: the requirements due that day (overdue ones count as
    today), as (kind, ref, micro-units), sorted.

    ``own`` and ``firm`` hold each item's own requirements and firm planned
    orders as the planner read them, (day, qty, kind, ref).  Dependent
    requirements are traced back to the parents' orders here, when a shortage
    needs explaining, instead of being kept by reference: a parent's planned
    orders released that day, its firm orders starting that day, and through a
    phantom parent, what the phantom's own requirements need.  A short item is
    traced again at every re-net, so the compiled kernel does it in C.
    """
    needs = _trace(nodes, parents, own, firm, item, day, today)
    needs.sort()
    return needs


def _trace(nodes: dict[str, ItemNode], parents: dict[str, list[str]],
           own: dict[str, list[tuple[int, int, str, str]]], firm: dict[str, list[tuple[int, int, str, str]]],
           item: str, day: int, today: int) -> list[tuple[str, str, int]]:
    needs = [(kind, ref, qty) for rday, qty, kind, ref in own.get(item, ()) if max(rday, today) == day]
    component = nodes.get(item)
    if component is None:
        return needs
    for parent in parents.get(item, ()):
        node = nodes.get(parent)
        if node is None:
            continue
        if node.phantom:
            for kind, ref, qty in _trace(nodes, parents, own, firm, parent, day, today):
                needs += node.component_needs(component, qty, kind, ref)
            continue
        needs += node.released_needs(component, day, today)
        for start, qty, kind, ref in firm.get(parent, ()):
            if max(start, today) == day:
                needs += node.component_needs(component, qty, kind, ref)
    return needs


def _queue(heap: list[tuple[int, str, ItemNode]], nodes: list[ItemNode], push: bool) -> None:
    """Queue nodes not queued yet; pushed ones had their requirements changed: not re-netted only for the day."""
    for node in nodes:
        if push:
            node.day_only = False
        if not node.queued:
            node.queued = True
            if push:
                heapq.heappush(heap, (node.level, node.name, node))
            else:
                heap.append((node.level, node.name, node))


def _ranks(planned: list[tuple[int, int, int, int]]) -> list[int]:
    """Rank of each planned order among those due the same day (they come sorted by due)."""
    ranks: list[int] = []
    for k, order in enumerate(planned):
        ranks.append(ranks[-1] + 1 if k and planned[k - 1][0] == order[0] else 0)
    return ranks


def _changes(old: list[tuple[int, int, int, int]], old_today: int,
             new: list[tuple[int, int, int, int]], today: int) -> list[Change]:
    """Planned orders to publish, matched by identity (due, rank within the due date)."""
    out: list[Change] = []
    old_ranks, new_ranks = _ranks(old), _ranks(new)
    i = j = 0
    while i < len(old) or j < len(new):
        old_key = (old[i][0], old_ranks[i]) if i < len(old) else None
        new_key = (new[j][0], new_ranks[j]) if j < len(new) else None
        if new_key is None or (old_key is not None and old_key < new_key):
            due, release, qty, _ = old[i]
            out.append((due, old_ranks[i], release, qty, release < old_today, True))
            i += 1
        elif old_key is None or new_key < old_key:
            due, release, qty, _ = new[j]
            out.append((due, new_ranks[j], release, qty, release < today, False))
            j += 1
        else:
            (_, o_release, o_qty, _), (due, release, qty, _) = old[i], new[j]
            if o_release != release or o_qty != qty or (o_release < old_today) != (release < today):
                out.append((due, new_ranks[j], release, qty, release < today, False))
            i += 1
            j += 1
    return out


# --- encoded outputs ------------------------------------------------------------------------
# A new sales order can move a thousand lot-sized orders downstream; each change is encoded
# here, once, into the key and JSON value the service publishes and the replay writes.  The
# bytes are those of ``schemas.outputs.PlannedOrder`` encoded by ``schemas.codecs`` (tests
# check both), so nobody builds an object per planned order.

class PlanStamp:
    """What the planned orders published at one site and event time share, encoded once.

    ``tail`` closes each JSON value: ``,"site":...,"ts":...}`` as the output codec writes it.  A ``quiet``
    stamp publishes nothing: a restore re-plans a site whose outputs are on the topics already, and a
    100,000-item site's plan would be millions of records built only to be dropped.
    """

    __slots__ = ("key_prefix", "quiet", "site", "tail", "ts")

    def __init__(self, site: str, ts: Any, tail: bytes, quiet: bool = False) -> None:
        self.site, self.ts, self.tail, self.quiet = site, ts, tail, quiet
        self.key_prefix = site.encode() + b"|"


class PlannedOrderRecord:
    """One planned-order change, encoded: the output topic's key (``site|planned_id``) and JSON value."""

    __slots__ = ("item", "key", "site", "ts", "value")
    tag = "planned_order"

    def __init__(self, site: str, ts: Any, item: str, key: bytes, value: bytes) -> None:
        self.site, self.ts, self.item, self.key, self.value = site, ts, item, key, value

    @property
    def planned_id(self) -> str:
        return self.key[len(self.site.encode()) + 1:].decode()

    def __reduce__(self) -> tuple[Any, ...]:
        return (PlannedOrderRecord, (self.site, self.ts, self.item, self.key, self.value))

    def __repr__(self) -> str:
        return f"PlannedOrderRecord({self.value.decode()})"


def json_text(text: str) -> bytes:
    """A string's JSON escaping, without the quotes (the output codec escapes the same way)."""
    return json.dumps(text, ensure_ascii=False)[1:-1].encode()


def qty_text(qty: int) -> bytes:
    """Micro-units as the shortest exact JSON number (what ``quantity.to_number`` encodes to)."""
    whole, frac = divmod(abs(qty), UNIT)
    sign = "-" if qty < 0 else ""
    if not frac:
        return f"{sign}{whole}".encode()
    return f"{sign}{whole}.{frac:06d}".rstrip("0").encode()


def encode_change(item: str, make: bool, stamp: PlanStamp, due: int, rank: int, release: int, qty: int,
                  past_due: bool, deleted: bool) -> PlannedOrderRecord:
    """The record of one planned-order change (an upsert, or a delete of what was published)."""
    suffix = f"@{iso(due)}" + (f"#{rank + 1}" if rank else "")
    label = json_text(item)
    flags = b',"action":"delete"' if deleted else (b',"past_due":true' if past_due else b"")
    value = b"".join((
        b'{"type":"planned_order","planned_id":"', label, suffix.encode(), b'","item":"', label,
        b'","kind":"', b"make" if make else b"buy", b'","qty":', qty_text(qty),
        b',"release":"', iso(release).encode(),
        b'","due":"', iso(due).encode(), b'"', flags, stamp.tail))
    return PlannedOrderRecord(stamp.site, stamp.ts, item, stamp.key_prefix + item.encode() + suffix.encode(), value)
