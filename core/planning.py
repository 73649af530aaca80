"""Net-change MRP over a site's connected record.

After each batch the planner re-nets only the items the batch touched, in
low-level-code order; an item whose planned orders changed passes new
dependent requirements to its components, which are re-netted in turn.  The
result equals a full regenerative run (``regenerate``), which tests check.

Outputs are emitted only when something changed: ``planned_order``
upsert/delete, ``shortage`` open/resolved, ``exception`` open/resolved.
Definitions are in ``docs/planning.md``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from schemas import events as ev
from schemas.codecs import json_encoder
from schemas.outputs import Exception_, Shortage, ShortageHit

from .bomgraph import BomGraph
from .capacity import CapacityBook
from .consumption import forecast_requirements
from .costing import CostBook
from .master import ItemSpec
from .netting import kernel as default_kernel
from .orders import Demand
from .planids import iso as _iso
from .planids import planned_id, planned_ids
from .quantity import to_number
from .site import COST, DEMAND, EVERYTHING, MASTER, STOCK, SUPPLY, SiteState

__all__ = ["Planner", "PlannerSettings", "SitePlan", "planned_id", "planned_ids"]

#: largest stock (micro-units, either sign) the planner nets with: 10**18 < 2**63, and room for the receipts
ON_HAND_CAP = 10**18
_RULES = {"lot_for_lot": 0, "fixed": 1, "min_multiple": 2, "period": 3, "eoq": 4}
_DEFAULT_SPEC = ItemSpec("", "buy", "ea", 0, 0, "lot_for_lot", 0, 0, 0, 0, 1, 0.0, 0.0, None)


@dataclass(slots=True, frozen=True)
class PlannerSettings:
    #: an open order arriving this many days or more before it is needed gets a "defer" message
    defer_tolerance_days: int = 3


@dataclass(slots=True)
class SitePlan:
    """One site's planning state: an ``ItemNode`` per item, and what was last published.

    The nodes hold the numbers (requirements, receipts, planned orders, what
    each item exploded onto its components); the dicts beside them hold the
    references (which demand, which order) needed only to explain a shortage or
    an exception, so the hot path never builds them.
    """

    nodes: dict[str, Any] = field(default_factory=dict)   # a new node reads its inputs at its first re-net
    graph: BomGraph | None = None   # the BOM graph whose low-level codes the nodes carry
    own: dict[str, list[tuple[int, int, str, str]]] = field(default_factory=dict)       # demands, allocations
    receipts: dict[str, list[tuple[int, int, str, str]]] = field(default_factory=dict)  # open supply
    firm: dict[str, list[tuple[int, int, str, str]]] = field(default_factory=dict)      # firm planned orders
    boms: dict[str, Any] = field(default_factory=dict)   # the BOM each node exploded with
    shortages: dict[str, dict[str, Shortage]] = field(default_factory=dict)         # item -> id -> open shortage
    exceptions: dict[str, dict[str, Exception_]] = field(default_factory=dict)      # item -> ref -> message
    # item -> (receipts, need days, today, past-due orders) the item's messages were last derived from
    exception_inputs: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    @property
    def planned(self) -> dict[str, list[tuple[int, int, int, int]]]:
        """Planned orders (due, release, qty, short) per item that has any."""
        return {item: node.planned() for item, node in self.nodes.items() if node.planned_count()}

    def dependent(self) -> dict[str, list[tuple[int, int]]]:
        """Requirements placed by parents, (day, qty) totals per item that has any."""
        return {item: dep for item, node in self.nodes.items() if (dep := node.dependent())}


class Planner:
    """Incremental MRP and cost roll-up for every site of an engine."""

    def __init__(self, kernel: ModuleType | None = None, settings: PlannerSettings | None = None) -> None:
        self.kernel = kernel or default_kernel
        self.settings = settings or PlannerSettings()
        self.plans: dict[str, SitePlan] = {}
        self.graphs: dict[str, BomGraph] = {}
        self.costs: dict[str, CostBook] = {}
        self.capacity: dict[str, CapacityBook] = {}
        self._master_dirty: dict[str, None] = {}   # items whose master data changed (all sites)
        self._master_centers: dict[str, None] = {}   # work centers whose master data changed
        self.replanned = 0  # items re-netted, for metrics and benchmarks
        #: plan without building planned-order records (``StateRows.restore`` for the service: a restored
        #: site's plan is what its outputs on the topics say already)
        self.quiet = False

    # --- engine hooks ----------------------------------------------------------------

    def master_changed(self, engine: Any, event: Any) -> None:
        """Master data changed: the item (and for a BOM, its old and new components) re-net."""
        if isinstance(event, ev.WorkCenter):
            self._master_centers[event.work_center] = None
            return
        self._master_dirty[event.item] = None
        if hasattr(event, "components"):
            for component in event.components:
                self._master_dirty[component.item] = None

    def plan(self, engine: Any) -> list[Any]:
        out: list[Any] = []
        master_dirty, centers = self._master_dirty, self._master_centers
        self._master_dirty, self._master_centers = {}, {}
        for site in engine.sites.values():
            dirty, site.touched = site.touched, {}
            day_items: list[str] = []
            if site.day_changed:
                # overdue dates count as today and releases turn past due: a new day re-nets every item,
                # but no input changed with the date, so only the items events touched are read again
                site.day_changed = False
                day_items = self.all_items(site)
            if master_dirty:
                for item in master_dirty:
                    dirty[item] = EVERYTHING
                    # a firm planned order loads the operations of its item's BOM as it is now
                    site.capacity_orders.update(dict.fromkeys(ref for kind, ref in site.refs(item)
                                                              if kind == "production_order"))
                    for parent in self.graph(site).parents.get(item, ()):
                        dirty[parent] = EVERYTHING
            if centers:
                self._centers_changed(site, centers, dirty)
            if dirty or day_items or site.cost_dirty or site.capacity_orders:
                self._plan_site(site, dirty, out, day_items)
        return out

    def _centers_changed(self, site: SiteState, centers: dict[str, None], dirty: dict[str, int]) -> None:
        """Work centers changed: items whose BOMs name them load again, production orders are re-spread."""
        book = self.capacity.get(site.site)
        if book is None:
            return   # the site's first plan builds its book from the master data as it is
        book.refresh(site, centers)
        boms = dict(site.master.boms)
        boms.update(site.master.site_boms.get(site.site, {}))
        for item, bom in boms.items():
            if any(operation.work_center in centers for operation in bom.operations):
                dirty[item] = dirty.get(item, 0) | MASTER
        site.capacity_orders.update(dict.fromkeys(book.open_orders(site)))

    def graph(self, site: SiteState) -> BomGraph:
        graph = self.graphs.get(site.site)
        if graph is None or graph.version != site.master.version:
            graph = self.graphs[site.site] = BomGraph.build(site.master, site.site)
        return graph

    def regenerate(self, site: SiteState) -> list[Any]:
        """Re-net every item of a site from scratch (the reference for net-change)."""
        out: list[Any] = []
        self._plan_site(site, dict.fromkeys(self.all_items(site), EVERYTHING), out)
        return out

    def all_items(self, site: SiteState) -> list[str]:
        items: dict[str, None] = dict.fromkeys(site.master.items)
        items.update(dict.fromkeys(site.master.site_items.get(site.site, ())))
        items.update(dict.fromkeys(site.stock.by_item))
        items.update(dict.fromkeys(site.item_refs))
        plan = self.plans.get(site.site)
        if plan is not None:
            items.update(dict.fromkeys(plan.nodes))
        return list(items)

    def mrp_record(self, site: SiteState, item: str) -> dict[str, Any] | None:
        """The time-phased record of one item as last planned (JSON-ready), or None if unknown."""
        plan = self.plans.get(site.site)
        node = plan.nodes.get(item) if plan is not None else None
        if node is None or site.today is None or plan is None:
            return None
        today = site.today.toordinal()
        planned = node.planned()
        gross_by_day: dict[int, int] = {}
        for day, qty in node.gross():
            gross_by_day[max(day, today)] = gross_by_day.get(max(day, today), 0) + qty
        receipts_by_day: dict[int, int] = {}
        for day, qty, _kind, _ref in plan.receipts.get(item, ()):
            receipts_by_day[max(day, today)] = receipts_by_day.get(max(day, today), 0) + qty
        planned_by_day: dict[int, int] = {}
        for due, _release, qty, _short in planned:   # dated by an overdue requirement: covers it today
            planned_by_day[max(due, today)] = planned_by_day.get(max(due, today), 0) + qty
        balance = node.on_hand
        projected = []
        for day in sorted(set(gross_by_day) | set(receipts_by_day) | set(planned_by_day)):
            gross, receipts, orders = gross_by_day.get(day, 0), receipts_by_day.get(day, 0), planned_by_day.get(day, 0)
            balance += receipts + orders - gross
            projected.append({"date": _iso(day), "gross": to_number(gross), "receipts": to_number(receipts),
                              "planned": to_number(orders), "balance": to_number(balance)})
        own = [{"date": _iso(d), "qty": to_number(q), "kind": k, "ref": r} for d, q, k, r in plan.own.get(item, ())]
        dependent = [{"date": _iso(d), "qty": to_number(q), "kind": "dependent", "ref": ""}
                     for d, q in node.dependent()]
        return {
            "item": item, "today": _iso(today), "on_hand": to_number(node.on_hand),
            "safety_stock": to_number(node.safety_stock),
            "gross_requirements": sorted(own + dependent, key=lambda r: (r["date"], r["kind"], r["ref"])),
            "scheduled_receipts": [{"date": _iso(d), "qty": to_number(q), "kind": k, "ref": r}
                                   for d, q, k, r in plan.receipts.get(item, ())],
            "projected": projected,
            "planned_orders": [{"planned_id": pid, "qty": to_number(qty), "release": _iso(release),
                                "due": _iso(due), "past_due": release < today}
                               for pid, (due, release, qty, _short) in zip(planned_ids(item, planned), planned,
                                                                           strict=True)],
        }

    # --- netting -------------------------------------------------------------------------

    def _plan_site(self, site: SiteState, dirty: dict[str, int], out: list[Any],
                   day_items: list[str] | None = None) -> None:
        """Re-net ``dirty`` items (what changed, ``STOCK | DEMAND | ...``, read again) and ``day_items``
        (re-netted as they are), and what lies below them.

        Costs are rolled for items whose moving average or master data changed: nothing else moves a cost.
        """
        if site.today is None:
            return
        plan = self.plans.get(site.site)
        if plan is None:
            plan = self.plans[site.site] = SitePlan()
        graph = self.graph(site)
        costs = self.costs.get(site.site)
        book = self.capacity.get(site.site)
        if book is None:   # a site's first plan (or after a restore): every open order loads its centers
            book = self.capacity[site.site] = CapacityBook(self.kernel)
            site.capacity_orders.update(dict.fromkeys(book.open_orders(site)))
        if costs is None:  # a site's first plan (or after a restore): every item's cost is published once
            costs = self.costs[site.site] = CostBook()
            site.standard_costs = costs.standard
            out.extend(costs.update(site, graph, dict.fromkeys([*dirty, *self.all_items(site)])))
        else:
            costed = {item: None for item, what in dirty.items() if what & (COST | MASTER)}
            out.extend(costs.update(site, graph, costed))
        for item in costs.changed:  # EOQ sizes depend on the unit cost
            spec = site.master.item(site.site, item)
            if spec is not None and spec.lot_rule == "eoq":
                dirty[item] = dirty.get(item, 0) | COST
        today = site.today.toordinal()
        nodes = plan.nodes
        if plan.graph is not graph:   # low-level codes change with the BOMs: every node takes its new one
            plan.graph = graph
            for item, node in nodes.items():
                node.level = graph.levels.get(item, 0)
        start = []
        for item, what in dirty.items():
            node = nodes.get(item) or self._node(plan, item)
            node.pending |= what
            start.append(node)
        for item in day_items or ():
            # re-netted only because the day moved: skipped when no date of theirs moved (day_stable)
            if item not in dirty:
                node = nodes.get(item) or self._node(plan, item)
                node.day_only = True
                start.append(node)

        def load(node: Any, what: int) -> list[Any]:
            return self._load(site, plan, costs, book, node.name, node, what)

        def after(node: Any) -> None:
            self._after(site, plan, graph, book, node, today, out)

        self.replanned += self.kernel.cascade(today, self._stamp(site), start, load, after, out)

        # production orders events changed, and on a new day every loading one (an overdue start moves with it)
        orders = dict.fromkeys([*book.orders, *site.capacity_orders]) if day_items else site.capacity_orders
        site.capacity_orders = {}
        book.update_orders(site, orders, today)
        out.extend(book.publish(site, plan, today))

    def _node(self, plan: SitePlan, item: str) -> Any:
        node = plan.nodes.get(item)
        if node is None:
            node = plan.nodes[item] = self.kernel.ItemNode(item)
            node.pending = EVERYTHING   # a new node reads all its inputs at its first re-net
            if plan.graph is not None:
                node.level = plan.graph.levels.get(item, 0)
        return node

    def _after(self, site: SiteState, plan: SitePlan, graph: BomGraph, book: CapacityBook, node: Any, today: int,
               out: list[Any]) -> None:
        """After an item's re-net: its shortages and messages, and the work-center load of its orders."""
        item = node.name
        past_due = node.past_due(today) if node.planned_count() else []
        if past_due or item in plan.shortages:
            self._publish_shortages(site, plan, graph, item, today, past_due, out)
        if past_due or item in plan.receipts or item in plan.exceptions:
            self._publish_exceptions(site, plan, item, node, today, past_due, out)
        if item in book.users:
            book.replanned(item, node, today)
        _watch(plan, book, node)

    def _load(self, site: SiteState, plan: SitePlan, costs: CostBook, book: CapacityBook, item: str, node: Any,
              what: int) -> list[Any]:
        """Read what changed of an item's inputs (``what``) into its node; returns components whose
        requirements changed.

        Only items an event touched (or master data) are read, and only what the
        event changed: a scan reads the stock, not the item's demands and orders.
        """
        if what == STOCK:   # a scan: nothing else of the item moved, nor what the cascade watches it for
            node.on_hand = _on_hand(site, item)
            return []
        reached: list[Any] = []
        cap = self.kernel.QTY_CAP
        if what & (COST | MASTER):
            spec = site.master.item(site.site, item) or _DEFAULT_SPEC
            holding = spec.holding_cost_rate * costs.unit_cost_for_planning(site, item)
            node.set_params(spec.safety_stock, spec.lead_time_days, _RULES[spec.lot_rule], spec.fixed_qty,
                            spec.min_qty, spec.max_qty, spec.multiple, spec.period_days, spec.ordering_cost, holding)
            node.make = spec.source == "make"
        if what & STOCK:
            node.on_hand = _on_hand(site, item)
        refs = site.item_refs.get(item)   # most components have no order, demand or transfer of their own
        if what & SUPPLY and (refs or item in plan.receipts):   # no open supply before or now: nothing to set
            receipts = site.scheduled_receipts(item)
            if _replace(plan.receipts, item, receipts):
                node.set_receipts([r[0] for r in receipts], [r[1] for r in receipts])
        bom = site.master.bom(site.site, item)
        if what & MASTER and bom is not plan.boms.get(item):
            lines = bom.lines if bom is not None else ()
            reached.extend(node.set_bom([self._node(plan, line.item) for line in lines],
                                        [line.numerator for line in lines], [line.denominator for line in lines],
                                        bom is not None and bom.phantom))
            if bom is None:
                del plan.boms[item]
            else:
                plan.boms[item] = bom
        if what & MASTER:
            book.set_ops(item, node, book.ops(site, bom))
        if what & (DEMAND | MASTER) and (refs or item in site.alloc_refs or item in plan.own or item in plan.firm):
            # (else it had no requirement or firm order of its own before, and has none now: nothing to set)
            own, firm = self._own_and_firm(site, item)
            if _replace(plan.own, item, own):
                node.set_own([r[0] for r in own], [min(r[1], cap) for r in own])
            if bom is None or bom.phantom:
                firm = []  # only a made item explodes its firm planned orders; a phantom passes requirements
            if _replace(plan.firm, item, firm):
                reached.extend(node.set_firm([r[0] for r in firm], [min(r[1], cap) for r in firm]))
        _watch(plan, book, node)
        return reached

    @staticmethod
    def _own_and_firm(site: SiteState, item: str
                      ) -> tuple[list[tuple[int, int, str, str]], list[tuple[int, int, str, str]]]:
        """Own gross requirements (open demands, forecasts consumed; released orders' reservations) and firm
        planned orders.

        Read again for every new or changed demand of a finished good (a year of them): plain
        attribute arithmetic, not the records' ``open_qty`` properties, on this path.
        """
        refs = site.item_refs.get(item)
        if not refs and item not in site.alloc_refs:
            return [], []   # most components: no demand, order or reservation of their own
        own: list[tuple[int, int, str, str]] = []
        firm: list[tuple[int, int, str, str]] = []
        forecasts: list[Demand] = []
        orders: list[Demand] = []
        demands, production = site.demands, site.production
        for kind, ref in refs or ():
            if kind == "demand":
                demand = demands[ref]
                if demand.kind == "forecast":
                    forecasts.append(demand)   # what the sales orders of its week leave of it: below
                    continue
                orders.append(demand)
                if demand.status == "open" and demand.qty > demand.delivered:
                    own.append((demand.due.toordinal(), demand.qty - demand.delivered, demand.kind, ref))
            elif kind == "production_order":
                order = production[ref]
                if order.status == "planned" and order.open_qty:
                    firm.append((order.start.toordinal(), order.open_qty, kind, ref))
        if forecasts:   # forecast consumption (core/consumption.py)
            own.extend(forecast_requirements(forecasts, orders))
        for order_id in site.alloc_refs.get(item, ()):
            order = production[order_id]
            qty = order.reserved.get(item, 0)
            if qty and order.status == "released":
                own.append((order.start.toordinal(), qty, "production_order", order_id))
        own.sort()
        firm.sort()
        return own, firm

    # --- outputs -------------------------------------------------------------------------

    def _stamp(self, site: SiteState) -> Any:
        """The key prefix and JSON tail (site, event time) of this site's planned-order records.

        Planned orders are published by the thousand (lot-sized orders downstream
        of a new demand all move), so the kernel encodes them; the shared tail is
        encoded here, once per re-plan of the site, by the output codec itself.
        """
        head = _SITE_FIELDS.get(site.site)
        if head is None:
            head = _SITE_FIELDS[site.site] = b',"site":' + json_encoder.encode(site.site)
        tail = head + b',"ts":' + json_encoder.encode(site.clock) + b"}" if site.clock is not None else head + b"}"
        return self.kernel.PlanStamp(site.site, site.clock, tail, self.quiet)

    def _publish_shortages(self, site: SiteState, plan: SitePlan, graph: BomGraph, item: str, today: int,
                           past_due: list[tuple[int, int, int, int]], out: list[Any]) -> None:
        """A shortage: a requirement that only a past-due planned order could cover."""
        short_by_day: dict[int, int] = {}
        for due, _release, _qty, short in past_due:
            if short > 0:
                short_by_day[due] = short_by_day.get(due, 0) + short
        current: dict[str, Shortage] = {}
        for day, qty in short_by_day.items():
            hits = self._hits(plan, graph, item, day, today)
            shortage_id = f"{site.site}|{item}|{_iso(day)}"
            current[shortage_id] = Shortage(site=site.site, ts=site.clock, shortage_id=shortage_id, item=item,
                                            date=_date(day), qty=to_number(qty), state="open", hits=hits)
        previous = plan.shortages.get(item, {})
        for shortage_id, shortage in current.items():
            old = previous.get(shortage_id)
            if old is None or old.qty != shortage.qty or old.hits != shortage.hits:
                out.append(shortage)
        for shortage_id, old in previous.items():
            if shortage_id not in current:
                out.append(Shortage(site=site.site, ts=site.clock, shortage_id=shortage_id, item=item,
                                    date=old.date, qty=0, state="resolved", hits=old.hits))
        _keep(plan.shortages, item, current)

    def _hits(self, plan: SitePlan, graph: BomGraph, item: str, day: int, today: int) -> list[ShortageHit]:
        """The requirements of ``item`` due on ``day`` (overdue ones count as today), with what they are for,
        in (kind, ref, qty) order: the kernel traces them (``trace_needs``)."""
        due = _date(day)   # a past-due order's date: overdue requirements are traced as today's
        return [ShortageHit(ref=ref, kind=kind, qty=to_number(qty), due=due)
                for kind, ref, qty in self.kernel.trace_needs(plan.nodes, graph.parents, plan.own, plan.firm, item,
                                                              max(day, today), today)]

    def _publish_exceptions(self, site: SiteState, plan: SitePlan, item: str, node: Any, today: int,
                            past_due: list[tuple[int, int, int, int]], out: list[Any]) -> None:
        """Expedite, defer or cancel open orders whose date does not match the need."""
        receipts = plan.receipts.get(item, ())
        needs = node.need_days(today, True) if receipts else []   # an overdue need keeps its own date
        inputs = (receipts, needs, today, past_due)
        if plan.exception_inputs.get(item) == inputs:
            return   # what the messages are derived from is unchanged: so are they (most re-plans of a scan)
        _keep(plan.exception_inputs, item, inputs if receipts or past_due else None)
        tolerance = self.settings.defer_tolerance_days
        previous = plan.exceptions.get(item, {})
        current: dict[str, Exception_] = {}
        for (day, _qty, kind, ref), need in zip(receipts, needs, strict=True):
            if kind == "transfer":
                continue  # goods already on the road: nothing to reschedule
            arrives = max(day, today)
            action: str | None = None
            suggested: int | None = None
            if need < 0:
                action = "cancel"
            elif max(need, today) < arrives or (day < today and need <= today + tolerance):
                # suggested: when it is needed, a past date if overdue ("at once", and not moving with the clock)
                action, suggested = "expedite", need
            elif need > arrives + tolerance:
                action, suggested = "defer", need
            if action is not None:
                exception_id = f"{site.site}|{kind}|{ref}"
                current[exception_id] = _message(site, previous.get(exception_id), exception_id, ref, item, action,
                                                 day, suggested, out)
        for ref, (_due, release, _qty, _short) in zip(planned_ids(item, past_due), past_due, strict=True):
            exception_id = f"{site.site}|planned_order|{ref}"   # release at once: no date to suggest
            current[exception_id] = _message(site, previous.get(exception_id), exception_id, ref, item, "past_due",
                                             release, None, out)
        for exception_id, old in previous.items():
            if exception_id not in current:
                out.append(Exception_(site=site.site, ts=site.clock, exception_id=exception_id, ref=old.ref,
                                      item=item, action=old.action, state="resolved"))
        _keep(plan.exceptions, item, current)


def _message(site: SiteState, old: Exception_ | None, exception_id: str, ref: str, item: str, action: str,
             day: int, suggested: int | None, out: list[Any]) -> Exception_:
    """The open message, published only when new or changed (an unchanged one keeps its object and ``ts``)."""
    current_date = _date(day)
    suggested_date = _date(suggested) if suggested is not None else None
    if old is not None and (old.action, old.current_date, old.suggested_date) == (action, current_date,
                                                                                  suggested_date):
        return old
    message = Exception_(site=site.site, ts=site.clock, exception_id=exception_id, ref=ref, item=item,
                         action=action, current_date=current_date, suggested_date=suggested_date)
    out.append(message)
    return message


def _on_hand(site: SiteState, item: str) -> int:
    """The stock the planner nets with.  The site's is exact whatever its size; the kernel nets in 64 bits, so
    the planner sees at most ON_HAND_CAP (a thousand times the contract's largest quantity), as it caps each
    requirement."""
    return max(-ON_HAND_CAP, min(site.stock.unrestricted(item), ON_HAND_CAP))


def _watch(plan: SitePlan, book: CapacityBook, node: Any) -> None:
    """Whether the cascade hands the item to ``Planner._after`` after a re-net (it does when an order is past
    due): open shortages or messages to keep, open supply to check, work centers to load.  Messages and
    past-due orders derive from what the kernel sees, which tells when they may have moved; an open
    shortage names the parents' orders it hits and a work-center load changes with the plan: ``always``."""
    item = node.name
    node.always = item in plan.shortages or item in book.users
    node.watch = node.always or item in plan.receipts or item in plan.exceptions


def _keep(store: dict[str, Any], key: str, value: Any) -> None:
    """Keep a non-empty value under ``key``; forget the key when empty (sparse per-item dicts)."""
    if value:
        store[key] = value
    else:
        store.pop(key, None)


def _replace(store: dict[str, Any], key: str, value: list[Any]) -> bool:
    """Keep an item's input read again (sparse, as ``_keep``); False when it equals what is kept, which its
    node already holds: nothing to set, and the kept list stays the one its messages were derived from."""
    if store.get(key, []) == value:   # a kept value is never empty: absent and empty are alike
        return False
    _keep(store, key, value)
    return True


_DATES: dict[int, dt.date] = {}
_SITE_FIELDS: dict[str, bytes] = {}   # a site's encoded ``"site"`` field, the same at every re-plan


def _date(ordinal: int) -> dt.date:
    """Date of a day ordinal, memoised: outputs name the same few hundred days over and over.  A day before
    the calendar's first (lead times from a requirement near it) is its first, as the kernels publish it."""
    day = _DATES.get(ordinal)
    if day is None:
        day = _DATES[ordinal] = dt.date.fromordinal(max(1, ordinal))
    return day
