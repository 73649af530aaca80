"""``ItemNode``: the per-item planning state, compiled and twin, driven operation by operation.

A small BOM (a parent over two components, one of them a phantom over a third
item) is fed random operations: own requirements, receipts, stock, parameters,
firm planned orders, BOM changes and re-plans on moving days.  After every
operation both kernels must agree on everything a node shows, and each node's
dependent requirements must equal what its parents' current sources explode to
(the invariant that makes net change equal a regenerative run).
"""

from __future__ import annotations

import copy
import pickle
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.planids import planned_id

from .conftest import load_kernel

U = 1_000_000
T = 739_000
NAMES = ("P", "C1", "PH", "C2")

day = st.integers(T - 3, T + 40)
qty = st.integers(1, 500).map(lambda q: q * U // 4)
pairs = st.lists(st.tuples(day, qty), max_size=6).map(sorted)
params = st.tuples(st.integers(0, 20).map(lambda q: q * U), st.integers(0, 5), st.integers(0, 4),
                   st.integers(0, 30).map(lambda q: q * U), st.integers(0, 30).map(lambda q: q * U),
                   st.integers(0, 60).map(lambda q: q * U), st.sampled_from((0, U, 5 * U, 10 * U)),
                   st.integers(1, 10), st.floats(0, 200), st.floats(0, 5))
factor = st.tuples(st.integers(1, 4 * U), st.integers(0, 20)).map(lambda t: (t[0] * (100 + t[1]) * 10_000,
                                                                              U * 100 * 10_000))
operation = st.one_of(
    st.tuples(st.just("own"), st.sampled_from(NAMES), pairs),
    st.tuples(st.just("receipts"), st.sampled_from(NAMES), pairs),
    st.tuples(st.just("on_hand"), st.sampled_from(NAMES), st.integers(0, 100).map(lambda q: q * U)),
    st.tuples(st.just("params"), st.sampled_from(NAMES), params),
    st.tuples(st.just("firm"), st.just("P"), pairs),
    st.tuples(st.just("bom"), st.just("P"), st.tuples(factor, factor, st.booleans())),
    st.tuples(st.just("replan"), st.sampled_from(NAMES), st.integers(0, 3)),
    st.tuples(st.just("ops"), st.sampled_from(NAMES), st.lists(st.tuples(
        st.integers(0, 1), st.integers(0, 60).map(lambda m: m * U), st.integers(0, 9).map(lambda m: m * U // 2)),
        max_size=3)),
    st.tuples(st.just("load"), st.sampled_from(NAMES), st.sampled_from((b"\x1f\x7f", b"\x00\x20", b"\x7f\x0a"))),
)


class Model:
    """Four nodes of one kernel and the BOM links between them."""

    def __init__(self, kernel: ModuleType) -> None:
        self.kernel = kernel
        self.nodes = {name: kernel.ItemNode(name) for name in NAMES}
        self.today = T
        self.masks = b"\x1f\x7f"   # work-center calendars: 0 works Monday to Friday, 1 every day
        self.log: list[Any] = []
        # what the planner read for each node (day, qty, kind, ref), and who uses whom: for ``trace_needs``
        self.own: dict[str, list[tuple[int, int, str, str]]] = {}
        self.firm: dict[str, list[tuple[int, int, str, str]]] = {}
        self.parents: dict[str, list[str]] = {"C2": ["PH"]}
        self.nodes["P"].make = True
        self.nodes["PH"].set_bom([self.nodes["C2"]], [3 * U * 100 * 10_000], [2 * U * 100 * 10_000], True)

    def apply(self, op: tuple[str, str, Any]) -> None:
        kind, name, arg = op
        node = self.nodes[name]
        if kind == "own":
            node.set_own([d for d, _ in arg], [q for _, q in arg])
            self.own[name] = [(d, q, "sales_order", f"SO-{name}-{k}") for k, (d, q) in enumerate(arg)]
        elif kind == "receipts":
            node.set_receipts([d for d, _ in arg], [q for _, q in arg])
        elif kind == "on_hand":
            node.on_hand = arg
        elif kind == "params":
            node.set_params(*arg)
        elif kind == "ops":
            node.set_ops([o[0] for o in arg], [o[1] for o in arg], [o[2] for o in arg])
        elif kind == "load":
            self.masks = arg
            self.log.append(node.load_update(self.today, arg))
        elif kind == "firm":
            self.firm[name] = [(d, q, "production_order", f"FO-{k}") for k, (d, q) in enumerate(arg)]
            self.log.append(sorted(n.name for n in node.set_firm([d for d, _ in arg], [q for _, q in arg])))
        elif kind == "bom":
            (n1, d1), (n2, d2), with_phantom = arg
            components = [self.nodes["C1"], self.nodes["PH"]] if with_phantom else [self.nodes["C1"]]
            nums, dens = ([n1, n2], [d1, d2]) if with_phantom else ([n1], [d1])
            self.parents = {"C2": ["PH"], "C1": ["P"], **({"PH": ["P"]} if with_phantom else {})}
            self.log.append(sorted(n.name for n in node.set_bom(components, nums, dens, False)))
        else:
            self.today += arg
            if arg % 2:   # encoded records half of the time: the same changes as bytes
                stamp = self.kernel.PlanStamp("S1", None, b',"site":"S1"}')
                changes, touched = node.replan(self.today, stamp)
                changes = [(c.site, c.item, c.key, c.value) for c in changes]
            else:
                changes, touched = node.replan(self.today)
            self.log.append((changes, sorted(n.name for n in touched)))

    def view(self) -> dict[str, Any]:
        return {name: (node.planned(), node.dependent(), node.gross(), node.need_days(self.today),
                       node.past_due(self.today), node.memory_bytes(), node.released_on(self.today, self.today),
                       [node.day_stable(self.today + k) for k in (1, 3, 9)], node.load_entries(),
                       [(node.load_on(c, self.today + k), node.load_parts(c, self.today + k, self.today, self.masks))
                        for c in (0, 1) for k in (0, 1, 4)],
                       # what a shortage of a component traces back to this node's orders
                       [node.released_needs(self.nodes[c], self.today + k, self.today)
                        for c in NAMES for k in (-1, 0, 1, 2, 5)],
                       [node.component_needs(self.nodes[c], 7 * U + 3, "production_order", "F1") for c in NAMES],
                       # a shortage of this node on a day: its own requirements and what it is traced back to
                       [self.kernel.trace_needs(self.nodes, self.parents, self.own, self.firm, name, self.today + k,
                                                self.today) for k in (-1, 0, 1, 2, 5)])
                for name, node in self.nodes.items()}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(operation, min_size=1, max_size=40))
def test_compiled_node_equals_twin_step_by_step(ops: list[tuple[str, str, Any]]) -> None:
    compiled, twin = Model(load_kernel("cython")), Model(load_kernel("python"))
    for op in ops:
        compiled.apply(op)
        twin.apply(op)
        assert compiled.log == twin.log, op
        assert compiled.view() == twin.view(), op


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(own=st.lists(st.tuples(st.integers(T - 5, T + 20), qty), min_size=1, max_size=12).map(sorted),
       lead=st.integers(0, 6), max_qty=st.sampled_from((0, 7 * U, 40 * U)), moved=st.integers(0, 4),
       firsts=st.tuples(factor, factor, factor))
def test_released_needs_are_the_orders_released_that_day_times_their_lines(
        own: list[tuple[int, int]], lead: int, max_qty: int, moved: int,
        firsts: tuple[tuple[int, int], ...]) -> None:
    """A shortage's hits name a parent's planned orders released on its day (overdue ones count as today), once
    per BOM line naming the component: both kernels, and the definition over ``released_on``."""
    results = []
    for name in ("cython", "python"):
        kernel = load_kernel(name)
        parent, c1, c2 = kernel.ItemNode("P"), kernel.ItemNode("C1"), kernel.ItemNode("C2")
        (n1, d1), (n2, d2), (n3, d3) = firsts
        parent.set_bom([c1, c2, c1], [n1, n2, n3], [d1, d2, d3], False)   # C1 on two lines
        parent.set_params(0, lead, 2, 0, 0, max_qty, 0, 1, 0.0, 0.0)   # split above max_qty: ranks on a date
        parent.set_own([d for d, _ in own], [q for _, q in own])
        parent.replan(T)
        today = T + moved   # releases before it are overdue
        seen = []
        for day in range(today - 1, today + 25):
            for component, lines in ((c1, ((n1, d1), (n3, d3))), (c2, ((n2, d2),))):
                expected = [("planned_order", planned_id("P", due, rank), kernel.component_qty(q, n, d))
                            for due, rank, _release, q in parent.released_on(day, today) for n, d in lines]
                assert parent.released_needs(component, day, today) == expected
                seen.append(expected)
            assert parent.component_needs(c1, 3 * U + 1, "production_order", "F") == [
                ("production_order", "F", kernel.component_qty(3 * U + 1, n, d)) for n, d in ((n1, d1), (n3, d3))]
        assert parent.released_needs(kernel.ItemNode("C1"), today, today) == []   # another node of the same name
        results.append(seen)
    assert results[0] == results[1]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(operation, min_size=1, max_size=40))
def test_dependent_requirements_are_the_explosion_of_current_sources(ops: list[tuple[str, str, Any]]) -> None:
    """After a re-plan of the parents, each component holds exactly what their sources explode to."""
    kernel = load_kernel("python")
    model = Model(kernel)
    for op in ops:
        model.apply(op)
    for name in ("P", "PH"):  # parents first (P places requirements on PH)
        model.nodes[name].replan(model.today)
    expected: dict[str, dict[int, int]] = {"C1": {}, "PH": {}, "C2": {}}
    p = model.nodes["P"]
    sources = [(release, q) for _due, release, q, _ in p.planned()] + list(p._firm)
    for component, numerator, denominator in p._lines:
        for d, q in sources:
            need = kernel.component_qty(q, numerator, denominator)
            expected[component.name][d] = expected[component.name].get(d, 0) + need
    for d, q in model.nodes["PH"].gross():
        need = kernel.component_qty(q, 3 * U * 100 * 10_000, 2 * U * 100 * 10_000)
        expected["C2"][d] = expected["C2"].get(d, 0) + need
    for name, by_day in expected.items():
        assert model.nodes[name].dependent() == sorted((d, q) for d, q in by_day.items() if q), name


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(operation, min_size=1, max_size=40), jump=st.integers(1, 12))
def test_a_day_stable_node_keeps_its_plan_and_messages_on_the_new_day(ops: list[tuple[str, str, Any]],
                                                                       jump: int) -> None:
    """What lets the planner skip an item on a new day: re-netting it then would publish nothing.

    Every node is re-netted top-down on the model's day; then, ``jump`` days
    later, each node that says it is day-stable is re-netted on a copy: no
    planned order changes, no component is touched, the need dates of its
    receipts (exception messages) are the same and nothing is past due.
    """
    model = Model(load_kernel("python"))
    for op in ops:
        model.apply(op)
    for name in NAMES:   # parents before components
        model.nodes[name].replan(model.today)
    later = model.today + jump
    for name in NAMES:
        node = model.nodes[name]
        if node.day_stable(later):
            moved = copy.deepcopy(node)
            changes, touched = moved.replan(later)
            assert (changes, touched) == ([], []), name
            assert moved.need_days(later) == node.need_days(model.today), name
            assert moved.past_due(later) == [], name


def test_day_stable_only_when_no_date_of_the_item_moves(kernel: ModuleType) -> None:
    node = kernel.ItemNode("P")
    node.set_params(0, 2, 0, 0, 0, 0, 0, 1, 0.0, 0.0)
    node.set_own([T + 5], [4 * U])
    assert not node.day_stable(T + 1), "never re-netted: no plan to keep"
    node.replan(T)   # planned 4 due T+5, released T+3
    assert node.day_stable(T + 1) and node.day_stable(T + 2)
    assert not node.day_stable(T + 4), "the release on T+3 would be past due"
    node.set_receipts([T + 2], [U])
    node.replan(T)
    assert node.day_stable(T + 1) and not node.day_stable(T + 2), "the receipt due T+2 would be overdue"
    node.set_params(0, 2, kernel.EOQ, 0, 0, 0, 0, 1, 10.0, 0.5)
    node.replan(T)
    assert not node.day_stable(T + 1), "EOQ sizes look a year ahead of today"
    node.set_params(5 * U, 2, 0, 0, 0, 0, 0, 1, 0.0, 0.0)
    node.replan(T)   # below safety stock today: an order due today
    assert not node.day_stable(T + 1)


def test_component_qty_rounds_up_and_caps(kernel: ModuleType) -> None:
    # 3 units x 1.1 (10 % scrap) / 0.9 yield = 3.6666.. -> rounded up at 1e-6
    numerator, denominator = U * 110 * 10_000, U * 90 * 10_000
    assert kernel.component_qty(3 * U, numerator, denominator) == 3_666_667
    assert kernel.component_qty(0, numerator, denominator) == 0
    # factors beyond int64 (a 1e9-unit qty_per) stay exact, and the result is capped at the contract's maximum
    assert kernel.component_qty(2, 10**9 * U * 100 * 10_000, U * 100 * 10_000) == 2 * 10**9
    assert kernel.component_qty(10**15, 10**9 * U * 200 * 10_000, 1) == kernel.QTY_CAP


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_copied_node_plans_like_the_original(kernel: ModuleType, how: str) -> None:
    parent, component = kernel.ItemNode("P"), kernel.ItemNode("C")
    parent.set_params(0, 2, 0, 0, 0, 0, 0, 1, 0.0, 0.0)
    parent.set_bom([component], [2 * U * 100 * 10_000], [U * 100 * 10_000], False)
    parent.set_own([T + 5, T + 9], [4 * U, 6 * U])
    parent.replan(T)
    pair = [parent, component]
    parent2, component2 = copy.deepcopy(pair) if how == "deepcopy" else pickle.loads(pickle.dumps(pair))
    assert parent2.planned() == parent.planned() == [(T + 5, T + 3, 4 * U, 4 * U), (T + 9, T + 7, 6 * U, 6 * U)]
    assert component2.dependent() == component.dependent() == [(T + 3, 8 * U), (T + 7, 12 * U)]
    parent2.set_own([T + 9], [6 * U])  # the copy moves on alone
    changes, touched = parent2.replan(T)
    assert [c[-1] for c in changes] == [True] and [n.name for n in touched] == ["C"]
    assert component2.dependent() == [(T + 7, 12 * U)]
    assert component.dependent() == [(T + 3, 8 * U), (T + 7, 12 * U)]
