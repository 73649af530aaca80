"""Random BOM structures and event streams for the net-change property tests.

Everything is drawn from a ``random.Random``-like object, so a test can pass
Hypothesis' ``st.randoms()`` (shrinkable, reproducible) and a person can
replay a case with ``scenario(random.Random(seed))``.

``bom_dag`` draws a DAG of up to 8 BOM levels: end items on top, purchased
parts at the bottom, shared parts used on several levels, phantom
subassemblies, scrap, yield, batch sizes, operations (on work centers with
small, overloadable calendars, one of them never defined), and a random lot
rule, lead time and safety stock per item.  Components always come from a deeper
level than their parent, so no BOM can close a cycle.

``scenario`` adds a stream of site events (demands, purchase orders,
production orders planned/released/closed/cancelled, receipts, issues,
material issues, operation reports, outputs, counts, demand changes and
cancellations, optionally master data changes) with strictly increasing
timestamps.  A small model of the site keeps most events valid; the ones the
engine rejects (say an issue beyond stock) are part of the test too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import msgspec

from schemas import events as ev

SITE = "P1"
SITE2 = "P2"
START = dt.datetime(2026, 1, 5, 0, 5, tzinfo=dt.UTC)

_QTY_PER = (1, 1, 1, 2, 0.5, 1.5, 3)
_SCRAP = (0, 0, 0, 5, 12.5)
_YIELD = (100, 100, 100, 95, 80)
_BATCH = (1, 1, 1, 2, 5)
#: work centers operations name: WC-X never gets master data (its operations load nothing)
CENTERS = ("WC-A", "WC-B", "WC-X")


@dataclass
class Spec:
    """What the generator decided about one item (kept to draw valid events)."""

    name: str
    level: int
    source: str
    components: list[tuple[str, float]] = field(default_factory=list)
    phantom: bool = False


@dataclass
class Scenario:
    master: list[Any]          # item and bom events, in an order the engine accepts
    events: list[Any]          # site events (and master changes), strictly increasing ts
    specs: dict[str, Spec]
    head: int = 0              # events that belong in the first batch together
    site: str = SITE

    @property
    def all_events(self) -> list[Any]:
        return [*self.master, *self.events]


def make(type_name: str, **fields: Any) -> Any:
    """A validated v1 input event (as the decoder would produce it)."""
    return msgspec.convert({"type": type_name, **fields}, ev.InputEvent)


# --- master data -------------------------------------------------------------------------


def lot_size(rng: Any, *, eoq: bool = True) -> dict[str, Any]:
    rules = ["lot_for_lot", "fixed", "min_multiple", "period", *(["eoq"] if eoq else [])]
    rule = rng.choice(rules)
    if rule == "fixed":
        return {"rule": rule, "fixed_qty": rng.choice((10, 25, 7.5))}
    if rule == "min_multiple":
        out: dict[str, Any] = {"rule": rule, "min_qty": rng.choice((0, 20, 50))}
        multiple = rng.choice((None, 5, 10, 2.5))
        if multiple is not None:
            out["multiple"] = multiple
        maximum = rng.choice((None, None, 300, 1000))
        if maximum is not None:
            out["max_qty"] = maximum
        return out
    if rule == "period":
        return {"rule": rule, "period_days": rng.randint(2, 21)}
    if rule == "eoq":
        return {"rule": rule, "ordering_cost": rng.choice((50, 200, 1000)),
                "holding_cost_rate": rng.choice((0.2, 0.5, 2.0))}
    return {"rule": rule}


def item_event(rng: Any, spec: Spec, ts: dt.datetime, event_id: str, *, eoq_on_make: bool = True,
               site: str | None = None) -> Any:
    fields: dict[str, Any] = {"site": site,
        "event_id": event_id, "ts": ts, "item": spec.name, "source": spec.source,
        "lead_time_days": 0 if spec.phantom else rng.choice((0, 1, 2, 3, 5, 7, 10)),
        "safety_stock": rng.choice((0, 0, 0, 5, 12.5)),
        "lot_size": lot_size(rng, eoq=eoq_on_make or spec.source == "buy"),
    }
    if spec.source == "buy" and rng.random() < 0.5:
        fields["standard_cost"] = rng.choice((1.25, 4, 10, 33.5))
    return make("item", **fields)


def bom_event(rng: Any, spec: Spec, ts: dt.datetime, event_id: str, site: str | None = None) -> Any:
    components = []
    for name, qty_per in spec.components:
        line: dict[str, Any] = {"item": name, "qty_per": qty_per}
        scrap = rng.choice(_SCRAP)
        if scrap:
            line["scrap_pct"] = scrap
        components.append(line)
    fields: dict[str, Any] = {"site": site, "event_id": event_id, "ts": ts, "item": spec.name,
                              "components": components,
                              "batch_qty": rng.choice(_BATCH), "yield_pct": rng.choice(_YIELD),
                              "phantom": spec.phantom}
    if rng.random() < 0.5:
        fields["operations"] = [{"name": name, "setup_minutes": rng.choice((0, 30)),
                                 "run_minutes_per_unit": rng.choice((1, 2.5, 6)),
                                 "rate_per_hour": rng.choice((30, 60, 90)),
                                 "work_center": rng.choice((None, *CENTERS))}
                                for name in ("assemble", "test")[:rng.randint(1, 2)]]
    return make("bom", **fields)


def work_center_event(rng: Any, name: str, ts: dt.datetime, event_id: str, site: str | None = None) -> Any:
    """A small calendar (an hour to a shift, some days off), so planned orders overload it."""
    return make("work_center", event_id=event_id, ts=ts, site=site, work_center=name,
                minutes_per_day=rng.choice((60, 240, 480, 0)), efficiency_pct=rng.choice((100, 85, 125)),
                working_days=rng.choice((None, [1, 2, 3, 4, 5], [2, 4], [6])))


def bom_dag(rng: Any, max_depth: int = 8) -> dict[str, Spec]:
    """Items by name; make items carry their components (always from deeper levels)."""
    depth = rng.randint(1, max_depth)
    specs: dict[str, Spec] = {}
    levels: list[list[str]] = []
    for level in range(depth + 1):
        if level == depth:
            names = [f"B{level}-{k}" for k in range(rng.randint(1, 3))]
            for name in names:
                specs[name] = Spec(name, level, "buy")
        else:
            count = rng.randint(1, 2)
            names = [f"M{level}-{k}" for k in range(count)]
            for name in names:
                specs[name] = Spec(name, level, "make", phantom=level > 0 and rng.random() < 0.2)
        levels.append(names)
    shared = [f"S-{k}" for k in range(rng.randint(1, 2))]
    for name in shared:
        specs[name] = Spec(name, depth, "buy")      # bottom level: usable by any make item
    deeper: list[str] = []
    for level in range(depth - 1, -1, -1):
        below = [*levels[level + 1], *deeper, *shared]
        for name in levels[level]:
            spec = specs[name]
            chosen = [rng.choice(levels[level + 1])]
            for _ in range(rng.randint(0, 2)):
                chosen.append(rng.choice(below))
            spec.components = [(c, rng.choice(_QTY_PER)) for c in dict.fromkeys(chosen)]
        deeper.extend(levels[level + 1])
    # every shared part is used on at least two levels when there are two
    make_items = [s for s in specs.values() if s.source == "make"]
    for name in shared:
        users = rng.sample(make_items, k=min(len(make_items), rng.randint(1, 3)))
        for user in users:
            if name not in dict(user.components):
                user.components.append((name, rng.choice(_QTY_PER)))
    return specs


def master_events(rng: Any, specs: dict[str, Spec], clock: Clock, *, eoq_on_make: bool = True) -> list[Any]:
    out = [item_event(rng, spec, clock.tick(), clock.next_id(), eoq_on_make=eoq_on_make)
           for spec in specs.values()]
    out += [work_center_event(rng, name, clock.tick(), clock.next_id()) for name in CENTERS[:2]]
    # components before parents is not needed (cycles are checked, not existence), but keep it tidy
    for spec in sorted(specs.values(), key=lambda s: -s.level):
        if spec.source == "make":
            out.append(bom_event(rng, spec, clock.tick(), clock.next_id()))
    return out


# --- the event stream ---------------------------------------------------------------------


class Clock:
    """Strictly increasing event times and unique event ids."""

    def __init__(self, rng: Any, *, same_day: bool) -> None:
        self.rng = rng
        self.same_day = same_day
        self.now = START
        self.count = 0

    def next_id(self) -> str:
        self.count += 1
        return f"{SITE}-{self.count:05d}"

    def tick(self) -> dt.datetime:
        if self.same_day:
            self.now += dt.timedelta(seconds=self.rng.randint(1, 30))
        elif self.rng.random() < 0.08:
            self.now += dt.timedelta(days=self.rng.randint(1, 3), minutes=self.rng.randint(0, 600))
        else:
            self.now += dt.timedelta(minutes=self.rng.randint(1, 90))
        return self.now


@dataclass
class _Order:
    item: str
    qty: float
    due: dt.date
    status: str


def scenario(rng: Any, *, n_events: int = 80, same_day: bool = False, master_changes: bool = False,
             eoq_on_make: bool = True, max_depth: int = 8, opening: bool = False,
             second_site: bool = False) -> Scenario:
    """A random BOM DAG and ``n_events`` site events after its master data.

    ``opening`` starts the site events with a receipt that is always accepted
    (``Scenario.head`` then counts the master data and that receipt), for
    tests that load master data and the site's first stock in one batch.
    ``second_site`` adds a few events at ``SITE2`` and transfers between the sites.
    """
    specs = bom_dag(rng, max_depth=max_depth)
    clock = Clock(rng, same_day=same_day)
    master = master_events(rng, specs, clock, eoq_on_make=eoq_on_make)
    names = list(specs)
    makes = [n for n, s in specs.items() if s.source == "make"]
    tops = [n for n, s in specs.items() if s.level == 0]
    day0 = START.date()
    demands: dict[str, _Order] = {}
    purchases: dict[str, _Order] = {}
    production: dict[str, _Order] = {}
    events: list[Any] = []

    def due() -> dt.date:
        return day0 + dt.timedelta(days=rng.randint(-4, 45))

    def qty(low: float = 1, high: int = 60) -> float:
        return rng.choice((rng.randint(int(low), high), rng.randint(int(low), high) + 0.5))

    def emit(type_name: str, site: str = SITE, **fields: Any) -> None:
        events.append(make(type_name, event_id=clock.next_id(), ts=clock.tick(), site=site, **fields))

    shipped: dict[str, tuple[str, str, float, str]] = {}   # transfer -> (item, lot, qty, to site)

    kinds = ["demand", "demand", "demand", "demand_change", "purchase_order", "po_change", "receipt",
             "receipt", "issue", "production_order", "release", "material_issue", "operation_report",
             "output", "close", "count"]
    kinds += ["reschedule", "reschedule", "quality", "scrap"]
    if master_changes:
        kinds += ["item_change", "bom_change", "work_center_change"]
    if second_site:
        kinds += ["site2", "site2", "transfer", "transfer_received"]
    if opening:
        emit("receipt", item=rng.choice(names), qty=qty(), lot="L1", unit_cost=rng.choice((2, 5.5)))
    while len(events) < n_events:
        kind = rng.choice(kinds)
        if kind == "demand":
            demand_id = f"D{len(demands) + 1}"
            item = rng.choice(tops) if rng.random() < 0.8 else rng.choice(names)
            demands[demand_id] = _Order(item, qty(), due(), "open")
            emit("demand", demand_id=demand_id, item=item, qty=demands[demand_id].qty,
                 due=demands[demand_id].due, kind=rng.choice(("sales_order", "forecast")))
        elif kind == "demand_change" and demands:
            demand_id = rng.choice(list(demands))
            demand = demands[demand_id]
            if demand.status != "open":
                continue
            if rng.random() < 0.4:
                demand.status = "cancelled"
            else:
                demand.qty, demand.due = qty(), due()
            emit("demand", demand_id=demand_id, item=demand.item, qty=demand.qty, due=demand.due,
                 status=demand.status)
        elif kind == "purchase_order":
            po_id = f"PO{len(purchases) + 1}"
            item = rng.choice(names)
            purchases[po_id] = _Order(item, qty(), due(), "open")
            fields: dict[str, Any] = {}
            if rng.random() < 0.6:
                fields["unit_price"] = rng.choice((1.5, 3.25, 8, 12.75))
            emit("purchase_order", po_id=po_id, item=item, qty=purchases[po_id].qty, due=purchases[po_id].due,
                 **fields)
        elif kind == "po_change" and purchases:
            po_id = rng.choice(list(purchases))
            order = purchases[po_id]
            if order.status != "open":
                continue
            order.status = rng.choice(("open", "open", "closed", "cancelled"))
            if order.status == "open":
                order.due = due()
            emit("purchase_order", po_id=po_id, item=order.item, qty=order.qty, due=order.due, status=order.status)
        elif kind == "receipt":
            open_pos = [p for p, o in purchases.items() if o.status == "open"]
            fields = {}
            if open_pos and rng.random() < 0.6:
                po_id = rng.choice(open_pos)
                fields["po_id"] = po_id
                item = purchases[po_id].item
            else:
                item = rng.choice(names)
            if rng.random() < 0.5:
                fields["unit_cost"] = rng.choice((1.5, 2, 3.25, 9.5, 20))
            if rng.random() < 0.15:
                fields["status"] = "qc_pending"
            emit("receipt", item=item, qty=qty(), lot=rng.choice(("L1", "L2")), **fields)
        elif kind == "issue":
            fields = {}
            open_demands = [d for d, o in demands.items() if o.status == "open"]
            if open_demands and rng.random() < 0.5:
                demand_id = rng.choice(open_demands)
                fields["demand_id"] = demand_id
                item = demands[demand_id].item
            else:
                item = rng.choice(names)
            emit("issue", item=item, qty=qty(1, 20), **fields)
        elif kind == "production_order":
            order_id = f"MO{len(production) + 1}"
            item = rng.choice(makes)
            status = rng.choice(("planned", "released"))
            production[order_id] = _Order(item, qty(), due(), status)
            fields = {}
            if rng.random() < 0.3:
                fields["start"] = production[order_id].due - dt.timedelta(days=rng.randint(0, 6))
            emit("production_order", order_id=order_id, item=item, qty=production[order_id].qty,
                 due=production[order_id].due, status=status, **fields)
        elif kind in ("release", "close") and production:
            order_id = rng.choice(list(production))
            order = production[order_id]
            if order.status in ("closed", "cancelled"):
                continue
            if kind == "release":
                order.status = rng.choice(("released", "cancelled")) if order.status == "planned" else "released"
                if rng.random() < 0.3:
                    order.qty = qty()
            else:
                order.status = "closed" if order.status == "released" else "cancelled"
            emit("production_order", order_id=order_id, item=order.item, qty=order.qty, due=order.due,
                 status=order.status)
        elif kind in ("material_issue", "operation_report", "output"):
            released = [o for o, p in production.items() if p.status == "released"]
            if not released:
                continue
            order_id = rng.choice(released)
            order = production[order_id]
            if kind == "material_issue":
                components = specs[order.item].components
                item = rng.choice(components)[0] if components and rng.random() < 0.9 else rng.choice(names)
                emit("material_issue", order_id=order_id, item=item, qty=qty(1, 30))
            elif kind == "operation_report":
                emit("operation_report", order_id=order_id, operation="assemble", minutes=rng.randint(5, 300))
            else:
                good = rng.choice((0, qty(1, 40)))
                scrap = rng.choice((0, 0, 1))
                if not good and not scrap:
                    good = 1
                emit("output", order_id=order_id, good_qty=good, scrap_qty=scrap, lot="O1",
                     status=rng.choice(("available", "qc_pending")))
        elif kind == "reschedule":
            # new due date and/or start of an open order (mostly released: they hold allocations)
            released = [o for o, p in production.items() if p.status == "released"]
            open_orders = [o for o, p in production.items() if p.status in ("planned", "released")]
            if not open_orders:
                continue
            order_id = rng.choice(released if released and rng.random() < 0.7 else open_orders)
            order = production[order_id]
            fields = {}
            if rng.random() < 0.5:
                order.due = due()
            if rng.random() < 0.8:
                fields["start"] = order.due - dt.timedelta(days=rng.randint(0, 8))
            emit("production_order", order_id=order_id, item=order.item, qty=order.qty, due=order.due,
                 status=order.status, **fields)
        elif kind == "quality":
            emit("quality", item=rng.choice(names), lot=rng.choice(("L1", "L2", "O1")), qty=qty(1, 10),
                 from_status="qc_pending", to_status=rng.choice(("available", "available", "rejected")))
        elif kind == "scrap":
            emit("scrap", item=rng.choice(names), lot=rng.choice(("L1", "L2", "O1")), qty=qty(1, 5),
                 status=rng.choice(("available", "rejected")))
        elif kind == "site2":
            item = rng.choice(names)
            if rng.random() < 0.5:
                emit("receipt", site=SITE2, item=item, qty=qty(), lot="L1",
                     **({"unit_cost": rng.choice((2, 7.5))} if rng.random() < 0.7 else {}))
            else:
                emit("demand", site=SITE2, demand_id=f"D2-{len(events)}", item=item, qty=qty(), due=due())
        elif kind == "transfer":
            transfer_id = f"T{len(shipped) + 1}"
            source, target = rng.choice(((SITE, SITE2), (SITE2, SITE)))
            item, amount = rng.choice(names), qty(1, 20)
            shipped[transfer_id] = (item, "L1", amount, target)
            emit("transfer_shipped", site=source, transfer_id=transfer_id, to_site=target, item=item,
                 qty=amount, lot="L1", arrival=due())
        elif kind == "transfer_received" and shipped:
            transfer_id = rng.choice(list(shipped))
            item, lot, amount, target = shipped.pop(transfer_id)
            emit("transfer_received", site=target, transfer_id=transfer_id, item=item, qty=amount, lot=lot)
        elif kind == "count":
            emit("count", item=rng.choice(names), lot=rng.choice(("L1", "L2")), counted_qty=rng.randint(0, 80))
        elif kind == "item_change":
            # a quarter of the changes are overrides for one site only
            scope = rng.choice((None, None, None, SITE, *((SITE2,) if second_site else ())))
            spec = specs[rng.choice(names)]
            events.append(item_event(rng, spec, clock.tick(), clock.next_id(), eoq_on_make=eoq_on_make, site=scope))
        elif kind == "work_center_change":   # a new calendar, or WC-X defined at last (maybe for one site)
            scope = rng.choice((None, None, SITE, *((SITE2,) if second_site else ())))
            events.append(work_center_event(rng, rng.choice(CENTERS), clock.tick(), clock.next_id(), site=scope))
        elif kind == "bom_change":
            scope = rng.choice((None, None, None, SITE, *((SITE2,) if second_site else ())))
            spec = specs[rng.choice(makes)]
            candidates = [n for n, s in specs.items() if s.level > spec.level]
            spec.components = [(c, rng.choice(_QTY_PER))
                               for c in dict.fromkeys(rng.choice(candidates) for _ in range(rng.randint(1, 3)))]
            if spec.level > 0 and rng.random() < 0.2:
                spec.phantom = not spec.phantom
            events.append(bom_event(rng, spec, clock.tick(), clock.next_id(), site=scope))
    return Scenario(master, events, specs, head=len(master) + (1 if opening else 0))


def split_batches(rng: Any, events: list[Any], max_batch: int = 25, head: int = 0) -> list[list[Any]]:
    """Cut ``events`` into consecutive batches of random sizes (1 .. max_batch).

    The first ``head`` events stay together in the first batch.
    """
    batches: list[list[Any]] = [events[:head]] if head else []
    index = head
    while index < len(events):
        size = rng.randint(1, max_batch)
        batches.append(events[index:index + size])
        index += size
    return batches


class Stream:
    """Hand-written events for focused tests: unique ids, a clock that moves 1 minute an event.

    ``stream("demand", demand_id="D1", item="A", qty=5, due=day(3))`` -- site events get
    ``site`` by default, master data (item, bom) is global unless a site is given.
    """

    def __init__(self, start: dt.datetime = START, site: str = SITE) -> None:
        self.now = start
        self.site = site
        self.count = 0

    def __call__(self, type_name: str, **fields: Any) -> Any:
        self.count += 1
        self.now += dt.timedelta(minutes=1)
        if type_name not in ("item", "bom", "work_center"):
            fields.setdefault("site", self.site)
        fields.setdefault("event_id", f"{self.site}-h{self.count:05d}")
        fields.setdefault("ts", self.now)
        return make(type_name, **fields)

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)

    @property
    def today(self) -> dt.date:
        return self.now.date()


def encode(output: Any) -> bytes:
    """An output as the service publishes it (JSON)."""
    from schemas.codecs import encode_json

    return encode_json(output)
