"""A same-day re-net after a scan or a parent's moved order stops where the plan settles.

The compiled kernel stops netting at the first day, after the last day whose
requirements changed, on which the projected balance is the old one again, and
keeps the old plan from there (``net_core``). Each re-net must equal netting
the same inputs from scratch, for every lot rule, and the twin (which always
nets the whole horizon).  Requirements that only move between days leave the
total unchanged: the balance in between differs though the sums agree, which
is why no day before the last change may end the netting.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import load_kernel

U = 1_000_000
T = 739_000

# (rule, fixed_qty, min_qty, max_qty, multiple, period_days)
rules = st.sampled_from([
    (0, 0, 0, 0, 0, 1),              # lot for lot
    (1, 25 * U, 0, 0, 0, 1),         # fixed
    (2, 0, 10 * U, 40 * U, 5 * U, 1),  # min / multiple, split above the maximum
    (3, 0, 0, 0, 0, 7),              # period of a week
    (4, 0, 0, 0, 0, 1),              # EOQ (always netted whole)
])
days = st.integers(T - 3, T + 90)
qtys = st.integers(1, 60).map(lambda q: q * U)
requirements = st.lists(st.tuples(days, qtys), min_size=1, max_size=25)
step = st.one_of(
    st.tuples(st.just("on_hand"), st.integers(-100, 300).map(lambda q: q * U)),
    st.tuples(st.just("add"), st.tuples(days, qtys)),
    st.tuples(st.just("move"), st.tuples(days, days, qtys)),   # a parent's order moved: -q on one day, +q on another
)


def _params(node: Any, rule: tuple[int, ...], safety: int, lead: int) -> None:
    kind, fixed, min_qty, max_qty, multiple, period = rule
    node.set_params(safety, lead, kind, fixed, min_qty, max_qty, multiple, period, 50.0, 0.000002)


def _fresh(kernel: Any, node: Any, rule: tuple[int, ...], safety: int, lead: int) -> list[tuple[int, ...]]:
    """What netting ``node``'s inputs from scratch plans."""
    again = kernel.ItemNode("fresh")
    _params(again, rule, safety, lead)
    for day, qty in node.dependent():
        again.add_dep(day, qty)
    again.on_hand = node.on_hand
    again.replan(T)
    return again.planned()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=rules, deps=requirements, safety=st.integers(0, 20).map(lambda q: q * U), lead=st.integers(0, 10),
       on_hand=st.integers(0, 200).map(lambda q: q * U), steps=st.lists(st.lists(step, min_size=1, max_size=3),
                                                                       min_size=1, max_size=8))
def test_same_day_re_nets_equal_netting_from_scratch(rule: tuple[int, ...], deps: list[tuple[int, int]],
                                                     safety: int, lead: int, on_hand: int,
                                                     steps: list[list[tuple[str, Any]]]) -> None:
    kernels = [load_kernel("cython"), load_kernel("python")]
    nodes = []
    for kernel in kernels:
        node = kernel.ItemNode("X")
        _params(node, rule, safety, lead)
        for day, qty in deps:
            node.add_dep(day, qty)
        node.on_hand = on_hand
        node.replan(T)
        nodes.append(node)
    for batch in steps:   # a cascade applies several changes to a node before its re-net
        for kind, arg in batch:
            for node in nodes:
                if kind == "on_hand":
                    node.on_hand = arg
                elif kind == "add":
                    node.add_dep(*arg)
                elif dict(node.dependent()).get(arg[0], 0) >= arg[2]:   # move only what is there
                    node.add_dep(arg[0], -arg[2])
                    node.add_dep(arg[1], arg[2])
        for node in nodes:
            node.replan(T)
        compiled, twin = nodes
        assert compiled.planned() == _fresh(kernels[0], compiled, rule, safety, lead)
        assert compiled.planned() == twin.planned()
