"""Durable site state as keyed rows: what a batch changed, and a site rebuilt from its rows.

The service keeps these rows in a compacted, changelogged table.  A table write
costs far more than applying an event (~250 µs in Faust), so rows are coarse and
a batch writes only the rows it changed.  Every key starts with the (escaped)
site, so a site's rows stay with the site's partition of the input topics.
Values are msgpack; ``None`` deletes a row.  ``S`` is the site::

    S|site               clock, count accuracy, KPI accumulators, closed orders still to cost,
                         highest applied offset per (topic, partition), next ids row, format version
    S|item|ITEM          lots in first-receipt order with quantity per status, movements by kind,
                         reservation, moving average, cost of goods issued
    S|prod|ID            production order: status, BOM at release, WIP, lots in and out (genealogy)
    S|po|ID  S|demand|ID  S|transfer-in|KEY  S|transfer-out|ID
    S|hist|ITEM          usage by week, lateness of receipts, counts (``core/history.py``); a site
                         without these rows (written before they existed) restores with no history
    S|ids|N              event ids first remembered in batch N, and older ids forgotten then
    S|parked|KIND|KEY    events waiting for the KIND KEY to arrive
    S|held|N             one event waiting for the watermark (event-time merge of the input topics),
                         numbered per site: a batch writes the events it held and deletes those it let go

Derived on restore, not stored: stock totals, the planning indexes (orders by
item, allocations), genealogy by lot (the inverse of each order's lots), and the
plan and standard costs, which the planner rebuilds from scratch.

Offsets make a re-delivered record a no-op (``applied_offset``), provided the
rows of a batch reach the table atomically (a Kafka transaction): a batch
whose rows landed only in part cannot be repaired from aggregate rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
from collections.abc import Iterable
from typing import Any, Literal

import msgspec

from schemas import events as ev
from schemas.codecs import encode_json

from .closed_orders import ClosedOrder, Lines, as_rows
from .engine import Engine, _Parked
from .history import ItemHistory
from .ids import SeenIds
from .master import BomSpec
from .orders import Demand, InboundTransfer, OutboundTransfer, ProductionOrder, PurchaseOrder
from .quality import STATUSES
from .site import EVERYTHING, SiteState
from .stock import MOVEMENT_KINDS

__all__ = ["FORMAT", "RestoreError", "StateRows", "fold_rows", "site_of"]

#: bumped when a row's layout changes incompatibly; restore refuses other versions
#: (2: one row per event waiting for the watermark instead of one row per site, which outgrew a Kafka
#: message when a backlog was read)
FORMAT = 2

Status = Literal[STATUSES]  # type: ignore[valid-type]
Movement = Literal[MOVEMENT_KINDS]  # type: ignore[valid-type]


class RestoreError(ValueError):
    """A row that cannot be read back: unknown kind, corrupt bytes, another format or site."""


# --- row layouts -------------------------------------------------------------------------


class SiteRow(msgspec.Struct, array_like=True, omit_defaults=True):
    version: int
    clock: str | None = None            # ISO 8601 with the sender's offset: outputs carry it
    counts: tuple[int, int, int, int] = (0, 0, 0, 0)   # lines, exact, Σ|difference|, Σ book
    value_days: int = 0
    value_sum: float = 0.0
    first_day: dt.date | None = None
    closed_orders: list[str] = []
    offsets: list[tuple[str, int, int]] = []   # (topic, partition, highest applied offset)
    ids_next: int = 0
    retired: tuple[int, int] = (0, 0)   # sales-order lines retired after their due date, and late ones


class ItemRow(msgspec.Struct, array_like=True, omit_defaults=True):
    lots: list[tuple[str, dict[Status, int]]] = []   # first-receipt order (FIFO picks); empty lots kept
    moves: dict[Movement, int] = {}
    reserved: int = 0
    avg_cost: float | None = None
    issued_value: float | None = None
    emptied: dict[str, dt.date] = {}   # lot -> the day it was found empty (core/retention.py)


class ProdRow(msgspec.Struct, array_like=True, omit_defaults=True):
    order: ProductionOrder
    inputs: list[tuple[str, str, int]] = []    # (item, lot, micro-units) issued to the order
    outputs: list[tuple[str, str, int]] = []   # (item, lot, micro-units) it produced


#: event ids per ids row: an id and its expiry take ~40 bytes of msgpack, so a row stays under ~200 KB
IDS_PER_ROW = 5000


class IdsRow(msgspec.Struct, array_like=True, omit_defaults=True):
    remembered: list[tuple[str, dt.datetime]] = []   # (event id, when it may be forgotten)
    forgotten: list[tuple[str, dt.datetime]] = []


class HeldRow(msgspec.Struct, array_like=True):
    event: bytes              # JSON: keeps the sender's UTC offset
    source: str | None
    order: list[Any]


class ParkedRow(msgspec.Struct, array_like=True):
    event: bytes              # JSON: keeps the sender's UTC offset
    source: str | None
    deadline: dt.datetime
    reason: str


_RECORDS: dict[str, tuple[str, type, str]] = {   # row kind -> (SiteState attribute, record type, its key field)
    "po": ("purchase", PurchaseOrder, "po_id"),
    "demand": ("demands", Demand, "demand_id"),
    "transfer-in": ("inbound", InboundTransfer, "key"),
    "transfer-out": ("outbound", OutboundTransfer, "transfer_id"),
    "hist": ("history", ItemHistory, "item"),
}
_encoder = msgspec.msgpack.Encoder()
_BOM = msgspec.msgpack.Decoder(BomSpec)
_DECODERS: dict[str, msgspec.msgpack.Decoder[Any]] = {
    "site": msgspec.msgpack.Decoder(SiteRow),
    "item": msgspec.msgpack.Decoder(ItemRow),
    "prod": msgspec.msgpack.Decoder(ProdRow),
    "ids": msgspec.msgpack.Decoder(IdsRow),
    "parked": msgspec.msgpack.Decoder(list[ParkedRow]),
    "held": msgspec.msgpack.Decoder(HeldRow),
    **{kind: msgspec.msgpack.Decoder(record) for kind, (_, record, _) in _RECORDS.items()},
}
_event_decoder = msgspec.json.Decoder(ev.InputEvent)


def fold_rows(table: dict[str, bytes], rows: dict[str, bytes | None]) -> dict[str, bytes]:
    """What a compacted table keeps of ``changed()`` rows: the latest value per key, deletes removed."""
    for key, value in rows.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    return table


def _escape(site: str) -> str:
    return site.replace("%", "%25").replace("|", "%7C") if "|" in site or "%" in site else site


def site_of(key: str) -> str:
    """The site a row belongs to (its key's first field, unescaped)."""
    head = key.split("|", 1)[0]
    return head.replace("%7C", "|").replace("%25", "%") if "%" in head else head


# --- per-site bookkeeping ------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class _Track:
    """What this tracker knows of one site's rows beyond the engine's state."""

    prefix: str
    site_row: bytes | None = None                                   # as last handed out
    items: set[str] = dataclasses.field(default_factory=set)        # items that have a row
    offsets: dict[tuple[str, int], int] = dataclasses.field(default_factory=dict)
    offsets_moved: bool = False
    ids_next: int = 0
    ids_rows: list[tuple[dt.datetime, int]] = dataclasses.field(default_factory=list)  # heap: (keep until, N)
    # events waiting for the watermark that have a row: id(waiting entry) -> (the entry, its row number)
    held: dict[int, tuple[Any, int]] = dataclasses.field(default_factory=dict)
    held_next: int = 0


class StateRows:
    """The rows of an engine's sites: the changes after each batch, a site's restore and drop.

    One per engine, built before the first event (it needs ``track_changes``).
    """

    def __init__(self, engine: Engine) -> None:
        if not engine.settings.track_changes:
            raise ValueError("durable rows need an engine built with EngineSettings(track_changes=True)")
        self.engine = engine
        self._tracks: dict[str, _Track] = {}

    # --- applied offsets -----------------------------------------------------------------

    def applied_offset(self, site: str, topic: str, partition: int) -> int:
        """Highest offset of (topic, partition) applied to the site; -1 if none."""
        track = self._tracks.get(site)
        return track.offsets.get((topic, partition), -1) if track is not None else -1

    def record_offset(self, site: str, topic: str, partition: int, offset: int) -> None:
        """A record of the site was applied: its offset goes into the next site row."""
        track = self._track(site)
        key = (topic, partition)
        if offset > track.offsets.get(key, -1):
            track.offsets[key] = offset
            track.offsets_moved = True

    # --- writing -------------------------------------------------------------------------

    def changed(self) -> dict[str, bytes | None]:
        """Rows changed since the last call (call after each ``Engine.apply``), key -> value or None."""
        engine = self.engine
        rows: dict[str, bytes | None] = {}
        parked: dict[str, list[tuple[str, str, str]]] = {}
        for key in engine._parked_changed or ():
            parked.setdefault(key[0], []).append(key)
        if engine._parked_changed:
            engine._parked_changed.clear()
        held = dict(engine._held_changed or {})
        if engine._held_changed:
            engine._held_changed.clear()
        for name in [n for n, t in self._tracks.items() if t.offsets_moved and n not in engine.sites]:
            engine.site(name)  # offsets of a site whose records were all rejected: its row must say so
        for name, state in engine.sites.items():
            track = self._tracks.get(name)
            ids = engine._ids.get(name)
            ids_moved = ids is not None and bool(ids.fresh or ids.dropped)
            if (track is not None and not state.changed and not ids_moved and not track.offsets_moved
                    and name not in parked and name not in held):
                continue
            track = self._track(name)
            for kind, key in state.changed or ():
                self._record_row(state, track, kind, key, rows)
            if state.changed:
                state.changed.clear()
            if ids is not None and ids_moved:
                self._ids_row(ids, track, rows)
            while track.ids_rows and state.clock is not None and track.ids_rows[0][0] < state.clock:
                rows[f"{track.prefix}ids|{heapq.heappop(track.ids_rows)[1]}"] = None  # every id in it expired
            for key in parked.get(name, ()):
                waiting = engine._parked.get(key)
                rows[f"{track.prefix}parked|{key[1]}|{key[2]}"] = _parked_bytes(waiting) if waiting else None
            if name in held:
                self._held_rows(name, track, rows)
            site_row = _encoder.encode(_site_row(state, track))
            if site_row != track.site_row:
                rows[f"{track.prefix}site"] = track.site_row = site_row
            track.offsets_moved = False
        return rows

    def current_rows(self, site: str) -> dict[str, bytes]:
        """The site, item, record and parked rows of a site encoded afresh (ids rows aside).

        What the rows folded from ``changed`` must equal: a check of the change tracking.
        """
        engine = self.engine
        state = engine.sites[site]
        track = self._track(site)
        rows: dict[str, bytes | None] = {}
        for item in _items(state):
            self._record_row(state, track, "item", item, rows)
        for kind, attribute in (("prod", "production"), *((k, a) for k, (a, _, _) in _RECORDS.items())):
            for key in getattr(state, attribute):
                self._record_row(state, track, kind, key, rows)
        for (name, kind, key), waiting in engine._parked.items():
            if name == site and waiting:
                rows[f"{track.prefix}parked|{kind}|{key}"] = _parked_bytes(waiting)
        for position, (*_, entry) in enumerate(engine._held.get(site, ())):
            written = track.held.get(id(entry))   # one that ``changed`` has not written yet cannot match
            rows[f"{track.prefix}held|{written[1] if written else f'unwritten-{position}'}"] = _held_bytes(entry)
        rows[f"{track.prefix}site"] = _encoder.encode(_site_row(state, track))
        return {key: value for key, value in rows.items() if value is not None}

    def _record_row(self, state: SiteState, track: _Track, kind: str, key: str,
                    rows: dict[str, bytes | None]) -> None:
        if kind == "item":
            row = _item_row(state, key)
            if row is None:
                if key not in track.items:
                    return  # touched, but never had a row: nothing to delete
                track.items.discard(key)
            else:
                track.items.add(key)
        elif kind == "prod":
            whole = state.whole_order(key)
            row = whole and ProdRow(whole[0], as_rows(whole[1]), as_rows(whole[2]))
        else:
            row = getattr(state, _RECORDS[kind][0]).get(key)
        rows[f"{track.prefix}{kind}|{key}"] = _encoder.encode(row) if row is not None else None

    def _ids_row(self, ids: SeenIds, track: _Track, rows: dict[str, bytes | None]) -> None:
        """Ids remembered and forgotten in this batch, as new rows of at most ``IDS_PER_ROW`` ids each.

        A restore replays the rows in number order.  A batch remembers and forgets disjoint ids, so how
        they are cut into rows does not matter; cutting keeps each row far below Kafka's 1 MiB message
        limit (a batch of envelopes carries tens of thousands of events: one row of 1.1 MB crashed a worker).
        """
        assert ids.fresh is not None
        remembered = [(i, expiry) for i, expiry in ids.fresh.items() if i in ids.seen]
        forgotten = list(ids.dropped.items())
        ids.fresh.clear()
        ids.dropped.clear()
        pieces = [IdsRow(remembered=remembered[i:i + IDS_PER_ROW]) for i in range(0, len(remembered), IDS_PER_ROW)]
        pieces += [IdsRow(forgotten=forgotten[i:i + IDS_PER_ROW]) for i in range(0, len(forgotten), IDS_PER_ROW)]
        for piece in pieces:
            number = track.ids_next
            track.ids_next += 1
            rows[f"{track.prefix}ids|{number}"] = _encoder.encode(piece)
            heapq.heappush(track.ids_rows, (max(expiry for _, expiry in (*piece.remembered, *piece.forgotten)),
                                            number))

    def _held_rows(self, site: str, track: _Track, rows: dict[str, bytes | None]) -> None:
        """A row for each event newly waiting for the watermark, a delete for each row whose event went in.

        Rows are per event (not one per site) so that none outgrows a Kafka message while a backlog is
        read, and a batch writes what it changed (the engine says what it held and released), not every
        waiting event again.  An event held and released within the batch gets no row.
        """
        engine = self.engine
        added = engine._held_added.pop(site, []) if engine._held_added is not None else []
        released = engine._held_released.pop(site, []) if engine._held_released is not None else []
        written = track.held
        gone = set()
        for entry in released:   # kept alive by the list, so no id is reused in here
            gone.add(id(entry))
            row = written.pop(id(entry), None)
            if row is not None:
                rows[f"{track.prefix}held|{row[1]}"] = None
        for entry in added:
            if id(entry) not in gone:
                written[id(entry)] = (entry, track.held_next)
                rows[f"{track.prefix}held|{track.held_next}"] = _held_bytes(entry)
                track.held_next += 1

    def _track(self, site: str) -> _Track:
        track = self._tracks.get(site)
        if track is None:
            track = self._tracks[site] = _Track(_escape(site) + "|")
        return track

    # --- assignment and revocation ----------------------------------------------------------

    def drop(self, site: str) -> None:
        """Forget a site (its partition was revoked): engine state, planner state, bookkeeping."""
        engine = self.engine
        engine.sites.pop(site, None)
        engine._ids.pop(site, None)
        for key in [k for k in engine._parked if k[0] == site]:
            del engine._parked[key]
        if engine._parked_changed:
            for key in [k for k in engine._parked_changed if k[0] == site]:
                del engine._parked_changed[key]
        engine._park_deadlines.pop(site, None)
        engine.drop_held(site)
        for tracked in (engine._held_changed, engine._held_added, engine._held_released):
            if tracked:
                tracked.pop(site, None)
        planner = engine.planner
        if planner is not None:
            for per_site in (planner.plans, planner.costs, planner.graphs, planner.capacity):
                per_site.pop(site, None)
        self._tracks.pop(site, None)

    def restore(self, site: str, rows: Iterable[tuple[str, bytes]], *, outputs: bool = True) -> list[Any]:
        """Rebuild a site from its rows, then re-plan it; returns the planner's outputs.

        The plan is derived state: the restored site is re-netted whole.  It is
        planned here, not with the next batch, because the rolled standard costs
        value the next events (issues of make items, the daily inventory value).
        Master data must be loaded first.  Raises ``RestoreError`` for a row that
        cannot be read; the site is then left out.  ``outputs=False`` (the
        service, whose topics hold the outputs already) returns none and builds
        no planned-order record: a site's whole plan, millions of records at
        100,000 items.
        """
        self.drop(site)
        prefix = _escape(site) + "|"
        read = _read_rows(site, prefix, rows)
        if not read:
            return []
        try:
            self._restore(site, prefix, read)
        except RestoreError:
            self.drop(site)
            raise
        if outputs:
            return self.engine.apply([])
        planner = self.engine.planner
        if planner is not None:
            planner.quiet = True
        try:
            self.engine.apply([])
        finally:
            if planner is not None:
                planner.quiet = False
        return []

    def _restore(self, site: str, prefix: str, read: dict[str, dict[str, Any]]) -> None:
        engine = self.engine
        site_rows = read.pop("site", {})
        if "" not in site_rows:
            raise RestoreError(f"site {site!r}: rows without the {prefix}site row")
        head: SiteRow = site_rows[""]
        if head.version != FORMAT:
            raise RestoreError(f"site {site!r}: row format {head.version}, this engine reads {FORMAT}")
        state = engine.site(site)
        track = self._track(site)
        _restore_site_row(state, head)
        track.offsets = {(topic, partition): offset for topic, partition, offset in head.offsets}
        track.ids_next = head.ids_next
        for item, row in read.get("item", {}).items():
            item = state.shared(item)   # the key the stock's tables keep, as the records' own (_share)
            _restore_item(state, item, row)
            track.items.add(item)
        boms: dict[bytes, BomSpec] = {}
        for order_id, row in read.get("prod", {}).items():
            _restore_order(state, order_id, row, boms)
        for kind, (attribute, _, field) in _RECORDS.items():
            records = getattr(state, attribute)
            for key, record in read.get(kind, {}).items():
                if getattr(record, field) != key:
                    raise RestoreError(f"site {site!r}: row {kind}|{key} holds {getattr(record, field)!r}")
                records[state.shared(key) if kind == "hist" else key] = record
        _share(state)
        _index(state)
        self._restore_ids(state, track, read.get("ids", {}))
        self._restore_parked(site, read.get("parked", {}))
        self._restore_held(site, track, read.get("held", {}))
        track.site_row = _encoder.encode(head)
        # everything re-nets: the planner's state for the site was dropped with it
        state.touched.update(dict.fromkeys(_items(state), EVERYTHING))
        state.day_changed = True
        if state.changed:
            state.changed.clear()

    def _restore_ids(self, state: SiteState, track: _Track, rows: dict[str, IdsRow]) -> None:
        """Replay the ids rows in batch order; ids past their window are forgotten now, not later."""
        seen: dict[str, dt.datetime] = {}
        numbered = sorted((_row_number(state.site, key), row) for key, row in rows.items())
        for number, row in numbered:
            for event_id, _ in row.forgotten:
                seen.pop(event_id, None)
            seen.update(row.remembered)
            entries = (*row.remembered, *row.forgotten)
            if entries:
                heapq.heappush(track.ids_rows, (max(expiry for _, expiry in entries), number))
            track.ids_next = max(track.ids_next, number + 1)
        ids = self.engine.seen_ids(track=True)
        for event_id, expiry in seen.items():   # into their hours
            ids.remember(event_id, expiry)
        if state.clock is not None:   # forgotten as the engine forgot them, up to its clock
            ids.prune(state.clock)
        self.engine._ids[state.site] = ids

    def _restore_held(self, site: str, track: _Track, rows: dict[str, HeldRow]) -> None:
        waiting, numbers = [], []
        for name, row in rows.items():
            numbers.append(_row_number(site, name, "held"))
            try:
                event = _event_decoder.decode(row.event)
            except msgspec.DecodeError as exc:
                raise RestoreError(f"site {site!r}: event waiting for the watermark: {exc}") from None
            if event.site != site:
                raise RestoreError(f"site {site!r}: a waiting event of site {event.site!r}")
            waiting.append((event, row.source, tuple(row.order)))
        for entry, number in zip(self.engine.hold(site, waiting), numbers, strict=True):
            track.held[id(entry)] = (entry, number)
            track.held_next = max(track.held_next, number + 1)
        for tracked in (self.engine._held_changed, self.engine._held_added):   # restored: not a change
            if tracked:
                tracked.pop(site, None)

    def _restore_parked(self, site: str, rows: dict[str, list[ParkedRow]]) -> None:
        engine = self.engine
        for name, waiting in rows.items():
            kind, _, key = name.partition("|")
            parked = []
            for row in waiting:
                try:
                    event = _event_decoder.decode(row.event)
                except msgspec.DecodeError as exc:
                    raise RestoreError(f"site {site!r}: parked event for {name!r}: {exc}") from None
                parked.append(_Parked(event, row.source, row.deadline, row.reason))
            engine._parked[(site, kind, key)] = parked
            for entry in parked:
                engine._park_seq += 1
                heapq.heappush(engine._park_deadlines.setdefault(site, []),
                               (entry.deadline, engine._park_seq, (site, kind, key)))


# --- encoding ---------------------------------------------------------------------------------


def _site_row(state: SiteState, track: _Track) -> SiteRow:
    counts = state.counts
    return SiteRow(
        version=FORMAT, clock=state.clock.isoformat() if state.clock is not None else None,
        counts=(counts.lines, counts.exact, counts.abs_difference, counts.book_total),
        value_days=state.value_days, value_sum=state.value_sum, first_day=state.first_day,
        closed_orders=list(state.closed_orders),
        offsets=[(topic, partition, offset) for (topic, partition), offset in sorted(track.offsets.items())],
        ids_next=track.ids_next, retired=(state.retired_due, state.retired_late))


def _item_row(state: SiteState, item: str) -> ItemRow | None:
    stock = state.stock
    lots = stock.lots.get(item)
    reserved = stock.reserved.get(item, 0)
    avg = state.avg_cost.get(item)
    issued = state.issued_value.get(item)
    if not lots and not reserved and avg is None and issued is None:
        return None
    if lots and len(lots) == 1:   # most items: the lot holds the item's totals
        lots_row = [(lot, {s: q for s, q in zip(STATUSES, stock.by_item[item], strict=True) if q}) for lot in lots]
    else:
        qty = stock.qty
        lots_row = [(lot, {s: q for s in STATUSES if (q := qty.get((item, lot, s)))}) for lot in lots or ()]
    return ItemRow(
        lots=lots_row, moves=stock.moves.get(item, {}),
        reserved=reserved, avg_cost=avg, issued_value=issued,
        emptied={lot: day for lot, day in (lots or {}).items() if day is not None})


def _held_bytes(held: Any) -> bytes:
    """One event waiting for the watermark, with where it came from and its tie-break."""
    return _encoder.encode(HeldRow(encode_json(held.event), held.source, list(held.order)))


def _parked_bytes(waiting: list[_Parked]) -> bytes:
    return _encoder.encode([ParkedRow(encode_json(p.event), p.source, p.deadline, p.reason) for p in waiting])


def _items(state: SiteState) -> list[str]:
    """Items with any item-row state."""
    items = dict.fromkeys(state.stock.lots)
    items.update(dict.fromkeys(state.stock.reserved))
    items.update(dict.fromkeys(state.avg_cost))
    items.update(dict.fromkeys(state.issued_value))
    return list(items)


# --- decoding ---------------------------------------------------------------------------------


def _read_rows(site: str, prefix: str, rows: Iterable[tuple[str, bytes]]) -> dict[str, dict[str, Any]]:
    """Decode and validate every row: kind -> name -> row."""
    read: dict[str, dict[str, Any]] = {}
    for key, value in rows:
        if not key.startswith(prefix):
            raise RestoreError(f"row {key!r} is not a row of site {site!r}")
        kind, _, name = key[len(prefix):].partition("|")
        decoder = _DECODERS.get(kind)
        if decoder is None:
            raise RestoreError(f"row {key!r}: unknown row kind {kind!r}")
        try:
            read.setdefault(kind, {})[name] = decoder.decode(value)
        except (msgspec.DecodeError, TypeError, ValueError) as exc:
            raise RestoreError(f"row {key!r}: {exc}") from None
    return read


def _row_number(site: str, name: str, kind: str = "ids") -> int:
    if not name.isdigit():
        raise RestoreError(f"site {site!r}: {kind} row {name!r} is not numbered")
    return int(name)


def _restore_site_row(state: SiteState, row: SiteRow) -> None:
    if row.clock is not None:
        try:
            clock = dt.datetime.fromisoformat(row.clock)
        except ValueError:
            clock = None
        if clock is None or clock.tzinfo is None:
            raise RestoreError(f"site {state.site!r}: clock {row.clock!r} is not a time with an offset")
        state.clock = clock
    counts = state.counts
    counts.lines, counts.exact, counts.abs_difference, counts.book_total = row.counts
    state.value_days, state.value_sum, state.first_day = row.value_days, row.value_sum, row.first_day
    state.closed_orders = list(row.closed_orders)
    state.retired_due, state.retired_late = row.retired


def _restore_item(state: SiteState, item: str, row: ItemRow) -> None:
    stock = state.stock
    if row.lots:
        totals = [0] * len(STATUSES)
        for lot, by_status in row.lots:
            for status, qty in by_status.items():
                stock.qty[(item, lot, status)] = qty
                totals[STATUSES.index(status)] += qty
        stock.lots[item] = {lot: row.emptied.get(lot) for lot, _ in row.lots}
        stock.touched = None   # the next day looks at every lot (and queues the empty ones again)
        stock.by_item[item] = totals
        if row.moves:
            stock.moves[item] = dict(row.moves)
    if row.reserved:
        stock.reserved[item] = row.reserved
    if row.avg_cost is not None:
        state.avg_cost[item] = row.avg_cost
    if row.issued_value is not None:
        state.issued_value[item] = row.issued_value


def _restore_order(state: SiteState, order_id: str, row: ProdRow, boms: dict[bytes, BomSpec]) -> None:
    if row.order.order_id != order_id:
        raise RestoreError(f"site {state.site!r}: row prod|{order_id} holds order {row.order.order_id!r}")
    order = row.order
    inputs = _by_lot(state, order_id, row.inputs, state.consumed_by)
    outputs = _by_lot(state, order_id, row.outputs, state.produced_by)
    if not order.is_open and order_id not in state.closed_orders:   # done and costed: kept small
        try:
            state.production[order_id] = ClosedOrder(order, inputs, outputs)
        except ValueError as exc:
            raise RestoreError(f"site {state.site!r}: row prod|{order_id}: {exc}") from None
        return
    state.production[order_id] = order
    if inputs:
        state.order_inputs[order_id] = inputs
    if outputs:
        state.order_outputs[order_id] = outputs
    if order.bom is not None:
        # the BOM at release is the master's object while the order lives (core/site.py); decoded, each order
        # would hold a copy of its own (~1.4 KiB): share the item's current BOM, or one copy per older version.
        # Compared encoded (the dataclasses' own == costs more than the restore saves); the current BOM is
        # encoded as read back, so its numbers have the types decoding gives (a scrap of 0 is 0.0 there)
        key = _encoder.encode(order.bom)
        shared = boms.get(key)
        if shared is None:
            current = state.master.bom(state.site, order.item)
            same = current is not None and _encoder.encode(_BOM.decode(_encoder.encode(current))) == key
            shared = boms[key] = current if same else order.bom
        order.bom = shared


def _by_lot(state: SiteState, order_id: str, lines: list[tuple[str, str, int]],
            by_lot: dict[tuple[str, str], dict[str, int]]) -> Lines:
    """An order's lots keyed as the site keeps them; the order entered in the lots' own index."""
    mine: Lines = {}
    for item, lot, qty in lines:
        key = (state.shared(item), lot)
        mine[key] = qty
        by_lot.setdefault(key, {})[order_id] = qty
    return mine


def _share(state: SiteState) -> None:
    """Decoded rows hold copies of their own: the records share one object per name and date (``shared``).

    Field by field, not through ``getattr``: a restore of the service benchmark's state goes through
    ~450,000 records here.  A date not set (None) is shared as None.
    """
    same = state._shared.setdefault
    for order in state.production.values():
        order.item = same(order.item, order.item)
        order.due = same(order.due, order.due)
        order.start = same(order.start, order.start)
        order.ended = same(order.ended, order.ended)
    for po in state.purchase.values():
        po.item = same(po.item, po.item)
        po.supplier = same(po.supplier, po.supplier)
        po.due = same(po.due, po.due)
        po.promised = same(po.promised, po.promised)
        po.ended = same(po.ended, po.ended)
    for demand in state.demands.values():
        demand.item = same(demand.item, demand.item)
        demand.customer = same(demand.customer, demand.customer)
        demand.due = same(demand.due, demand.due)
        demand.completed = same(demand.completed, demand.completed)
        demand.ended = same(demand.ended, demand.ended)
    for history in state.history.values():
        history.item = same(history.item, history.item)


def _index(state: SiteState) -> None:
    """The planning indexes, from the records: open orders, demands and transfers by item; allocations."""
    for order in state.production.values():
        if order.is_open:
            state._index(order.item, "production_order", order.order_id)
        for component in order.reserved:
            state.alloc_refs.setdefault(component, {})[order.order_id] = None
    for po in state.purchase.values():
        if po.status == "open":
            state._index(po.item, "purchase_order", po.po_id)
    for demand in state.demands.values():
        if demand.status == "open":
            state._index(demand.item, "demand", demand.demand_id)
    for transfer in state.inbound.values():
        if not transfer.announced:
            state.unannounced += 1
        elif not transfer.done:
            state._index(transfer.item, "transfer", transfer.key)
