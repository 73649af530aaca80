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
import heapq
from array import array
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from schemas.outputs import Exception_, PlannedOrder, Shortage, ShortageHit

from .bomgraph import BomGraph
from .costing import CostBook
from .master import ItemSpec
from .netting import kernel as default_kernel
from .quantity import to_number
from .site import SiteState

__all__ = ["Planner", "PlannerSettings", "SitePlan", "planned_ids"]

_RULES = {"lot_for_lot": 0, "fixed": 1, "min_multiple": 2, "period": 3, "eoq": 4}
_DEFAULT_SPEC = ItemSpec("", "buy", "ea", 0, 0, "lot_for_lot", 0, 0, 0, 0, 1, 0.0, 0.0, None)


@dataclass(slots=True, frozen=True)
class PlannerSettings:
    #: an open order arriving this many days or more before it is needed gets a "defer" message
    defer_tolerance_days: int = 3


@dataclass(slots=True)
class SitePlan:
    """What the planner last published for one site."""

    planned: dict[str, list[tuple[int, int, int, int]]] = field(default_factory=dict)
    #: component -> (parent, kind, ref) -> (day, qty): requirements placed by parents
    dependent: dict[str, dict[tuple[str, str, str], tuple[int, int]]] = field(default_factory=dict)
    #: parent -> (parent, kind, ref) -> (day, qty): the orders (sources) it exploded last time, and with which BOM
    sources: dict[str, dict[tuple[str, str, str], tuple[int, int]]] = field(default_factory=dict)
    source_boms: dict[str, Any] = field(default_factory=dict)
    ids: dict[str, list[str]] = field(default_factory=dict)  # item -> planned ids, aligned with planned
    shortages: dict[str, dict[str, Shortage]] = field(default_factory=dict)         # item -> id -> open shortage
    exceptions: dict[str, dict[str, Exception_]] = field(default_factory=dict)      # item -> ref -> message
    past_due: dict[str, list[bool]] = field(default_factory=dict)                   # item -> flag per planned


class Planner:
    """Incremental MRP and cost roll-up for every site of an engine."""

    def __init__(self, kernel: ModuleType | None = None, settings: PlannerSettings | None = None) -> None:
        self.kernel = kernel or default_kernel
        self.settings = settings or PlannerSettings()
        self.plans: dict[str, SitePlan] = {}
        self.graphs: dict[str, BomGraph] = {}
        self.costs: dict[str, CostBook] = {}
        self._master_dirty: dict[str, None] = {}
        self.replanned = 0  # items re-netted, for metrics and benchmarks

    # --- engine hooks ----------------------------------------------------------------

    def master_changed(self, engine: Any, event: Any) -> None:
        """Master data changed: the item (and for a BOM, its old and new components) re-net."""
        self._master_dirty[event.item] = None
        if hasattr(event, "components"):
            for component in event.components:
                self._master_dirty[component.item] = None

    def plan(self, engine: Any) -> list[Any]:
        out: list[Any] = []
        master_dirty = self._master_dirty
        self._master_dirty = {}
        for site in engine.sites.values():
            dirty = dict(site.touched)
            site.touched.clear()
            if site.day_changed:
                # overdue dates count as today and releases turn past due: a new day is a regenerative run
                site.day_changed = False
                dirty.update(dict.fromkeys(self.all_items(site)))
            if master_dirty:
                dirty.update(master_dirty)
                for item in master_dirty:
                    dirty.update(dict.fromkeys(self.graph(site).parents.get(item, ())))
            if dirty or site.cost_dirty:
                self._plan_site(site, dirty, out)
        return out

    def graph(self, site: SiteState) -> BomGraph:
        graph = self.graphs.get(site.site)
        if graph is None or graph.version != site.master.version:
            graph = self.graphs[site.site] = BomGraph.build(site.master, site.site)
        return graph

    def regenerate(self, site: SiteState) -> list[Any]:
        """Re-net every item of a site from scratch (the reference for net-change)."""
        out: list[Any] = []
        self._plan_site(site, dict.fromkeys(self.all_items(site)), out)
        return out

    def all_items(self, site: SiteState) -> list[str]:
        items: dict[str, None] = dict.fromkeys(site.master.items)
        items.update(dict.fromkeys(site.master.site_items.get(site.site, ())))
        items.update(dict.fromkeys(site.stock.by_item))
        items.update(dict.fromkeys(site.item_refs))
        items.update(dict.fromkeys(self.plans.get(site.site, SitePlan()).dependent))
        return list(items)

    # --- netting -------------------------------------------------------------------------

    def _plan_site(self, site: SiteState, dirty: dict[str, None], out: list[Any]) -> None:
        if site.today is None:
            return
        plan = self.plans.get(site.site)
        if plan is None:
            plan = self.plans[site.site] = SitePlan()
        graph = self.graph(site)
        costs = self.costs.get(site.site)
        if costs is None:
            costs = self.costs[site.site] = CostBook()
            site.standard_costs = costs.standard
        out.extend(costs.update(site, graph, dirty))
        for item in costs.changed:  # EOQ sizes depend on the unit cost
            spec = site.master.item(site.site, item)
            if spec is not None and spec.lot_rule == "eoq":
                dirty[item] = None
        today = site.today.toordinal()
        heap = [(graph.level(item), item) for item in dirty]
        heapq.heapify(heap)
        queued = set(dirty)
        while heap:
            _, item = heapq.heappop(heap)
            queued.discard(item)
            self.replanned += 1
            for component in self._net(site, plan, graph, costs, item, today, item in dirty, out):
                if component not in queued:
                    queued.add(component)
                    heapq.heappush(heap, (graph.level(component), component))

    def _net(self, site: SiteState, plan: SitePlan, graph: BomGraph, costs: CostBook,
             item: str, today: int, touched: bool, out: list[Any]) -> list[str]:
        """Re-net one item; returns the components whose requirements changed.

        ``touched``: an event or master data changed the item itself (not only its
        parents' requirements), so its firm-planned orders or BOM may have changed.
        """
        spec = site.master.item(site.site, item) or _DEFAULT_SPEC
        bom = site.master.bom(site.site, item)
        requirements = self._requirements(site, plan, item)
        receipts = site.scheduled_receipts(item)
        on_hand = site.stock.unrestricted(item)
        req_day = array("q", (r[0] for r in requirements))
        req_qty = array("q", (r[1] for r in requirements))
        rcp_day = array("q", (r[0] for r in receipts))
        rcp_qty = array("q", (r[1] for r in receipts))
        phantom = bom is not None and bom.phantom
        if phantom:
            new_planned = []
        else:
            holding = spec.holding_cost_rate * costs.unit_cost_for_planning(site, item)
            new_planned = self.kernel.net_item(
                today, on_hand, spec.safety_stock, spec.lead_time_days, _RULES[spec.lot_rule],
                spec.fixed_qty, spec.min_qty, spec.max_qty, spec.multiple, spec.period_days,
                spec.ordering_cost, holding, req_day, req_qty, rcp_day, rcp_qty)
        old_planned = plan.planned.get(item, [])
        past_due = [p[1] < today for p in new_planned]
        unchanged = new_planned == old_planned
        ids = planned_ids(item, new_planned)
        if not unchanged or past_due != plan.past_due.get(item, []):
            self._publish_planned(site, item, spec, old_planned, plan.ids.get(item, []), new_planned, ids,
                                  today, plan.past_due.get(item, []), out)
            if any(past_due):
                plan.past_due[item] = past_due
            else:
                plan.past_due.pop(item, None)
            if new_planned:
                plan.planned[item] = new_planned
                plan.ids[item] = ids
            else:
                plan.planned.pop(item, None)
                plan.ids.pop(item, None)
        self._publish_shortages(site, plan, item, today, new_planned, requirements, out)
        needs = self.kernel.need_days(today, on_hand, spec.safety_stock, req_day, req_qty, rcp_qty)
        self._publish_exceptions(site, plan, item, today, receipts, needs, ids, out)
        if unchanged and not touched and not phantom:
            return []  # same planned orders, same firm orders and BOM: same dependent requirements
        return self._pass_down(site, plan, item, bom, new_planned, ids, phantom, requirements, touched)

    def _requirements(self, site: SiteState, plan: SitePlan, item: str) -> list[tuple[int, int, str, str]]:
        """Gross requirements (day, qty, kind, ref), sorted by day then ref."""
        reqs: list[tuple[int, int, str, str]] = []
        for kind, ref in site.refs(item):
            if kind == "demand":
                demand = site.demands[ref]
                if demand.open_qty:
                    reqs.append((demand.due.toordinal(), demand.open_qty, demand.kind, ref))
        for order_id in site.allocations(item):
            order = site.production[order_id]
            qty = order.reserved.get(item, 0)
            if qty and order.status == "released":
                reqs.append((order.start.toordinal(), qty, "production_order", order_id))
        for (_parent, kind, ref), (day, qty) in plan.dependent.get(item, {}).items():
            reqs.append((day, qty, kind, ref))
        reqs.sort()
        return reqs

    def _pass_down(self, site: SiteState, plan: SitePlan, item: str, bom: Any,
                   planned: list[tuple[int, int, int, int]], ids: list[str], phantom: bool,
                   requirements: list[tuple[int, int, str, str]], touched: bool) -> list[str]:
        """Dependent requirements this item places on its components.

        Planned orders need components on their release date; firm planned
        production orders on their start date.  A phantom passes its own gross
        requirements straight through to its components.  Only sources (orders)
        whose date or quantity changed are exploded again.
        """
        Source = tuple[str, str, str]
        old_sources = plan.sources.get(item, {})
        new_sources: dict[Source, tuple[int, int]] = {}
        if bom is not None:
            if phantom:
                for day, qty, kind, ref in requirements:
                    key = (item, kind, ref)
                    new_sources[key] = (day, new_sources.get(key, (day, 0))[1] + qty)
            else:
                for pid, (_due, release, qty, _short) in zip(ids, planned, strict=True):
                    new_sources[(item, "planned_order", pid)] = (release, qty)
                if touched:
                    for kind, ref in site.refs(item):
                        if kind == "production_order":
                            order = site.production[ref]
                            if order.status == "planned" and order.open_qty:
                                new_sources[(item, kind, ref)] = (order.start.toordinal(), order.open_qty)
                else:  # firm planned orders only change when an event touches the item
                    new_sources.update((k, v) for k, v in old_sources.items() if k[1] == "production_order")
        old_bom = plan.source_boms.get(item)
        if bom is old_bom:
            removed = [k for k, v in old_sources.items() if new_sources.get(k) != v]
            added = [k for k, v in new_sources.items() if old_sources.get(k) != v]
        else:  # a new BOM: every source is exploded again
            removed, added = list(old_sources), list(new_sources)
        changed: dict[str, None] = {}
        if removed and old_bom is not None:
            for key in removed:
                for line in old_bom.lines:
                    dep = plan.dependent.get(line.item)
                    if dep is not None and dep.pop(key, None) is not None:
                        changed[line.item] = None
                        if not dep:
                            del plan.dependent[line.item]
        if added and bom is not None:
            for key in added:
                day, qty = new_sources[key]
                for line in bom.lines:
                    need = bom.component_qty(line, qty)
                    if need:
                        dep = plan.dependent.setdefault(line.item, {})
                        dep[key] = (day, dep.get(key, (day, 0))[1] + need)
                        changed[line.item] = None
        if new_sources:
            plan.sources[item] = new_sources
            plan.source_boms[item] = bom
        else:
            plan.sources.pop(item, None)
            plan.source_boms.pop(item, None)
        return list(changed)

    # --- outputs -------------------------------------------------------------------------

    def _publish_planned(self, site: SiteState, item: str, spec: ItemSpec,
                         old: list[tuple[int, int, int, int]], old_ids: list[str],
                         new: list[tuple[int, int, int, int]], new_ids: list[str],
                         today: int, old_past_due: list[bool], out: list[Any]) -> None:
        ts = site.clock
        was_past_due = {pid: i < len(old_past_due) and old_past_due[i] for i, pid in enumerate(old_ids)}
        kind = "make" if spec.source == "make" else "buy"
        old_by_id = dict(zip(old_ids, old, strict=True))
        new_by_id = dict(zip(new_ids, new, strict=True))
        for pid, (due, release, qty, _short) in new_by_id.items():
            before = old_by_id.get(pid)
            if before is None or before[:3] != (due, release, qty) or was_past_due[pid] != (release < today):
                out.append(PlannedOrder(site=site.site, ts=ts, planned_id=pid, item=item, kind=kind,
                                        qty=to_number(qty), release=_date(release), due=_date(due),
                                        past_due=release < today))
        for pid, (due, release, qty, _short) in old_by_id.items():
            if pid not in new_by_id:
                out.append(PlannedOrder(site=site.site, ts=ts, planned_id=pid, item=item, kind=kind,
                                        qty=to_number(qty), release=_date(release), due=_date(due),
                                        action="delete"))

    def _publish_shortages(self, site: SiteState, plan: SitePlan, item: str, today: int,
                           planned: list[tuple[int, int, int, int]],
                           requirements: list[tuple[int, int, str, str]], out: list[Any]) -> None:
        """A shortage: a requirement that only a past-due planned order could cover."""
        short_by_day: dict[int, int] = {}
        for due, release, _qty, short in planned:
            if release < today and short > 0:
                short_by_day[due] = short_by_day.get(due, 0) + short
        current: dict[str, Shortage] = {}
        for day, qty in short_by_day.items():
            hits = [ShortageHit(ref=ref, kind=kind, qty=to_number(rq), due=_date(max(rday, today)))
                    for rday, rq, kind, ref in requirements if max(rday, today) == day]
            shortage_id = f"{site.site}|{item}|{_date(day).isoformat()}"
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
        if current:
            plan.shortages[item] = current
        else:
            plan.shortages.pop(item, None)

    def _publish_exceptions(self, site: SiteState, plan: SitePlan, item: str, today: int,
                            receipts: list[tuple[int, int, str, str]], needs: list[int], ids: list[str],
                            out: list[Any]) -> None:
        """Expedite, defer or cancel open orders whose date does not match the need."""
        tolerance = self.settings.defer_tolerance_days
        current: dict[str, Exception_] = {}
        for (day, _qty, kind, ref), need in zip(receipts, needs, strict=True):
            if kind == "transfer":
                continue  # goods already on the road: nothing to reschedule
            arrives = max(day, today)
            action: str | None = None
            suggested: int | None = None
            if need < 0:
                action = "cancel"
            elif need < arrives or (day < today and need <= today + tolerance):
                action, suggested = "expedite", max(need, today)
            elif need > arrives + tolerance:
                action, suggested = "defer", need
            if action is None:
                continue
            exception_id = f"{site.site}|{kind}|{ref}"
            current[exception_id] = Exception_(
                site=site.site, ts=site.clock, exception_id=exception_id, ref=ref, item=item, action=action,
                current_date=_date(day), suggested_date=_date(suggested) if suggested is not None else None)
        for ref, (_due, release, _qty, _short) in zip(ids, plan.planned.get(item, []), strict=True):
            if release < today:
                exception_id = f"{site.site}|planned_order|{ref}"
                current[exception_id] = Exception_(
                    site=site.site, ts=site.clock, exception_id=exception_id, ref=ref, item=item,
                    action="past_due", current_date=_date(release), suggested_date=_date(today))
        previous = plan.exceptions.get(item, {})
        for exception_id, message in current.items():
            old = previous.get(exception_id)
            if old is None or (old.action, old.suggested_date, old.current_date) != (
                    message.action, message.suggested_date, message.current_date):
                out.append(message)
        for exception_id, old in previous.items():
            if exception_id not in current:
                out.append(Exception_(site=site.site, ts=site.clock, exception_id=exception_id, ref=old.ref,
                                      item=item, action=old.action, state="resolved"))
        if current:
            plan.exceptions[item] = current
        else:
            plan.exceptions.pop(item, None)


def _date(ordinal: int) -> dt.date:
    return dt.date.fromordinal(ordinal)


_ISO: dict[int, str] = {}


def _iso(ordinal: int) -> str:
    """ISO date of a day ordinal, memoised: planned ids format the same few hundred days over and over."""
    text = _ISO.get(ordinal)
    if text is None:
        text = _ISO[ordinal] = dt.date.fromordinal(ordinal).isoformat()
    return text


def planned_ids(item: str, planned: list[tuple[int, int, int, int]]) -> list[str]:
    """Stable ids: item and due date, plus the rank when several orders share a due date.

    Planned orders come in due-date order, so one pass numbers each date's orders.
    """
    ids: list[str] = []
    last_due = None
    rank = 0
    stem = ""
    for due, *_ in planned:
        if due == last_due:
            rank += 1
            ids.append(f"{stem}#{rank + 1}")
        else:
            last_due, rank = due, 0
            stem = f"{item}@{_iso(due)}"
            ids.append(stem)
    return ids
