"""Re-plans on the same day: what a node publishes when a few of many planned orders move.

A scan changes an item's stock and re-nets it on the day it already planned:
most of its orders stand, and the compiled kernel skips the unchanged head and
tail of the plan before matching orders by identity (due, rank within the due).
Orders split on one due date (``min_multiple`` above ``max_qty``) make ranks
matter; both kernels must publish the same changes, and those changes must
turn the old plan into the new one.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import load_kernel

U = 1_000_000
T = 739_000
MIN_MULTIPLE = 2

requirements = st.lists(st.tuples(st.integers(T, T + 60), st.integers(1, 400).map(lambda q: q * U)),
                        min_size=1, max_size=30).map(sorted)
# small maximum lots: a day's requirement splits into several orders due the same day
lot = st.tuples(st.integers(0, 20).map(lambda q: q * U), st.integers(5, 60).map(lambda q: q * U),
                st.sampled_from((0, U, 5 * U)), st.integers(0, 3))
step = st.one_of(st.tuples(st.just("on_hand"), st.integers(-200, 400).map(lambda q: q * U)),
                 st.tuples(st.just("own"), requirements),
                 st.tuples(st.just("safety"), st.integers(0, 50).map(lambda q: q * U)))


def _node(kernel: Any, own: list[tuple[int, int]], params: tuple[int, int, int, int]) -> Any:
    node = kernel.ItemNode("X")
    min_qty, max_qty, multiple, lead = params
    node.set_params(0, lead, MIN_MULTIPLE, 0, min_qty, max_qty, multiple, 1, 0.0, 0.0)
    node.set_own([d for d, _ in own], [q for _, q in own])
    return node


def _params(node: Any, params: tuple[int, int, int, int], safety: int) -> None:
    min_qty, max_qty, multiple, lead = params
    node.set_params(safety, lead, MIN_MULTIPLE, 0, min_qty, max_qty, multiple, 1, 0.0, 0.0)


def _apply(plan: dict[tuple[int, int], tuple[int, int]], changes: list[Any]) -> None:
    for due, rank, release, qty, _past_due, deleted in changes:
        if deleted:
            del plan[(due, rank)]
        else:
            plan[(due, rank)] = (release, qty)


def _keyed(planned: list[tuple[int, int, int, int]]) -> dict[tuple[int, int], tuple[int, int]]:
    keyed: dict[tuple[int, int], tuple[int, int]] = {}
    rank = 0
    for k, (due, release, qty, _short) in enumerate(planned):
        rank = rank + 1 if k and planned[k - 1][0] == due else 0
        keyed[(due, rank)] = (release, qty)
    return keyed


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(own=requirements, params=lot, steps=st.lists(step, min_size=1, max_size=12))
def test_same_day_changes_agree_and_rebuild_the_plan(own: list[tuple[int, int]], params: tuple[int, int, int, int],
                                                     steps: list[tuple[str, Any]]) -> None:
    compiled, twin = load_kernel("cython"), load_kernel("python")
    nodes = [_node(compiled, own, params), _node(twin, own, params)]
    published: list[dict[tuple[int, int], tuple[int, int]]] = [{}, {}]
    for node, plan in zip(nodes, published, strict=True):
        _apply(plan, node.replan(T)[0])
    for kind, arg in steps:
        results = []
        for node, plan in zip(nodes, published, strict=True):
            if kind == "on_hand":
                node.on_hand = arg
            elif kind == "own":
                node.set_own([d for d, _ in arg], [q for _, q in arg])
            else:
                _params(node, params, arg)
            changes = node.replan(T)[0]
            _apply(plan, changes)
            assert plan == _keyed(node.planned()), (kind, arg)
            results.append(changes)
        assert results[0] == results[1], (kind, arg)
