"""``cascade``: the kernel's re-plan loop, compiled and twin.

A parent P over a component C over a raw material R (one each per unit):
the cascade must re-net parents before components, read a node's pending
inputs first, hand the planner only the nodes it watches or with a past-due
order (the compiled one only when their messages may have moved), skip a
day-only node whose dates did not move, and leave nothing
queued when the planner's code fails inside it.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from .conftest import load_kernel

U = 1_000_000
T = 739_000


def chain(kernel: ModuleType) -> dict[str, Any]:
    nodes = {name: kernel.ItemNode(name) for name in ("P", "C", "R")}
    for level, (parent, component) in enumerate((("P", "C"), ("C", "R"))):
        nodes[parent].set_bom([nodes[component]], [1], [1], False)
        nodes[parent].level = level
    nodes["R"].level = 2
    return nodes


def test_parents_go_before_components_and_pending_inputs_are_read_first(kernel: ModuleType) -> None:
    nodes = chain(kernel)
    order: list[str] = []

    def load(node: Any, what: int) -> list[Any]:
        order.append(f"load {node.name} {what}")
        node.set_own([T + 10], [5 * U])
        return []

    nodes["P"].pending = 3
    out: list[Any] = []
    # R is queued first, and by name before P; it must still come after C, which P's new order reaches
    count = kernel.cascade(T, None, [nodes["R"], nodes["P"]], load, lambda node: order.append(node.name), out)
    assert count == 3
    assert order == ["load P 3"], "nothing watched and nothing past due: the planner is not called"
    assert nodes["P"].pending == 0
    assert [(change[0], change[3]) for change in out] == [(T + 10, 5 * U)] * 3   # one order each, due T + 10
    assert nodes["R"].dependent() == [(T + 10, 5 * U)]
    assert not any(node.queued for node in nodes.values())


def test_the_planner_sees_watched_and_past_due_nodes(kernel: ModuleType) -> None:
    nodes = chain(kernel)
    nodes["P"].set_own([T + 1], [2 * U])
    nodes["P"].lead_time = 3            # released T - 2: past due
    nodes["R"].watch = True
    seen: list[str] = []
    kernel.cascade(T, None, [nodes["P"]], lambda node, what: [], lambda node: seen.append(node.name), [])
    # C's order covers P's overdue need of T - 2 and is dated by it: past due too, though C has no lead time
    assert seen == ["P", "C", "R"]
    assert nodes["C"].planned() == [(T - 2, T - 2, 2 * U, 2 * U)]


def test_a_day_only_node_whose_dates_did_not_move_is_skipped(kernel: ModuleType) -> None:
    nodes = chain(kernel)
    nodes["C"].set_own([T + 30], [U])
    kernel.cascade(T, None, [nodes["C"]], lambda node, what: [], lambda node: None, [])
    nodes["C"].day_only = True
    assert kernel.cascade(T + 1, None, [nodes["C"]], lambda node, what: [], lambda node: None, []) == 0
    assert not nodes["C"].day_only
    nodes["C"].day_only = True
    nodes["C"].pending = 1   # inputs to read: re-netted whatever the day
    assert kernel.cascade(T + 1, None, [nodes["C"]], lambda node, what: [], lambda node: None, []) == 1


def test_an_error_in_the_planner_leaves_nothing_queued(kernel: ModuleType) -> None:
    nodes = chain(kernel)
    nodes["P"].set_own([T + 5], [U])
    nodes["R"].day_only = True

    def fail(node: Any) -> None:
        raise RuntimeError("planner bug")

    nodes["P"].watch = True
    with pytest.raises(RuntimeError, match="planner bug"):
        kernel.cascade(T, None, [nodes["P"], nodes["R"]], lambda node, what: [], fail, [])
    assert not any(node.queued or node.day_only for node in nodes.values())
    nodes["P"].watch = False
    assert kernel.cascade(T, None, [nodes["C"]], lambda node, what: [], lambda node: None, []) == 2   # C, then R


def test_the_compiled_cascade_skips_the_planner_when_messages_cannot_have_moved() -> None:
    """A watched item with open supply, re-netted the same day: the planner is called again only when the
    need day of a receipt, the past-due orders, the receipts or the day moved, or when it watches
    ``always``.  (The twin calls it after every re-net: the kernels' streams are compared elsewhere.)"""
    kernel = load_kernel("cython")
    node = kernel.ItemNode("X")
    node.set_own([T + 5, T + 20], [10 * U, 10 * U])
    node.set_receipts([T + 10], [10 * U])
    node.watch = True
    seen: list[int] = []

    def renet(day: int = T) -> None:
        kernel.cascade(day, None, [node], lambda n, what: [], lambda n: seen.append(day), [])

    renet()
    assert seen == [T], "a new node: its messages are derived once"
    node.on_hand = 2 * U      # the receipt is still needed on T + 5
    renet()
    assert seen == [T], "nothing the messages derive from moved"
    node.on_hand = 12 * U     # now it is needed on T + 20: the message may change
    renet()
    assert seen == [T, T]
    node.set_receipts([T + 12], [10 * U])
    renet()
    assert len(seen) == 3, "new receipts"
    renet(T + 1)
    assert seen[-1] == T + 1, "a new day"
    node.always = True
    renet(T + 1)
    assert len(seen) == 5, "watched always"
    node.always = False
    node.lead_time = 5        # released on T: past due on T + 1
    node.on_hand = 0
    node.set_receipts([], [])
    renet(T + 1)
    assert node.past_due(T + 1) == [(T + 5, T, 10 * U, 10 * U)]
    assert len(seen) == 6
    node.on_hand = U          # the past-due order shrinks
    renet(T + 1)
    assert len(seen) == 7, "the past-due orders moved"
    renet(T + 1)
    assert len(seen) == 7


def test_a_subclassed_node_is_re_netted_through_its_own_replan(kernel: ModuleType) -> None:
    """The compiled cascade calls a plain node's re-net directly; a subclass (the benchmark's timed
    nodes) keeps its override, and the cascade's outputs are the same."""
    calls: list[str] = []

    class Counted(kernel.ItemNode):  # type: ignore[name-defined,misc]
        __slots__ = ()

        def replan(self, today: int, stamp: Any = None) -> Any:
            calls.append(self.name)
            return super().replan(today, stamp)

    plain, counted = chain(kernel), {name: Counted(name) for name in ("P", "C", "R")}
    for level, (parent, component) in enumerate((("P", "C"), ("C", "R"))):
        counted[parent].set_bom([counted[component]], [1], [1], False)
        counted[parent].level = level
    counted["R"].level = 2
    outs: list[list[Any]] = []
    for nodes in (plain, counted):
        nodes["P"].set_own([T + 10], [5 * U])
        out: list[Any] = []
        assert kernel.cascade(T, None, [nodes["P"]], lambda node, what: [], lambda node: None, out) == 3
        outs.append(out)
    assert outs[0] == outs[1]
    assert calls == ["P", "C", "R"]
