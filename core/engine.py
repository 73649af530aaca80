"""The Millstream engine: events in, connected site records and outputs out.

One engine serves the embedded replay and the streaming service alike.  It is
deterministic: time is the event time (a site's clock is the latest ``ts`` it
has seen), iteration orders are insertion orders, and nothing reads the wall
clock.  ``apply`` takes a batch; planning runs once per batch over the union
of what the batch touched.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from schemas import events as ev
from schemas.outputs import Rejected

from .errors import Missing, Reject
from .ids import SeenIds, id_table
from .master import MasterData
from .netting import load as load_kernel
from .planning import Planner
from .site import SiteSettings, SiteState

__all__ = ["EARLIEST_TS", "LATEST_TS", "Engine", "EngineSettings", "in_time_range", "source_topic"]


#: Event times the engine takes (UTC): its windows, lead times and lot-sizing periods (up to ten years) and
#: UTC days stay inside the calendar; a time outside is a typo or garbage, rejected before it moves a clock.
EARLIEST_TS = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST_TS = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)
_RANGE_IN_ZONE: dict[dt.tzinfo, tuple[dt.datetime, dt.datetime]] = {}


def in_time_range(ts: dt.datetime) -> bool:
    """``EARLIEST_TS <= ts < LATEST_TS``, compared in ``ts``'s own zone.

    Times in two zones compare through both offsets (1.6 µs for the pair of
    comparisons, on every event); in one zone object, by their fields (50 ns).
    The codecs decode one fixed-offset zone object per offset, so the bounds
    are kept per zone.  Other zones (daylight saving, none) compare as before.
    """
    zone = ts.tzinfo
    bounds = _RANGE_IN_ZONE.get(zone)
    if bounds is None:
        if not isinstance(zone, dt.timezone):
            return EARLIEST_TS <= ts < LATEST_TS
        bounds = _RANGE_IN_ZONE[zone] = (EARLIEST_TS.astimezone(zone), LATEST_TS.astimezone(zone))
    return bounds[0] <= ts < bounds[1]


@dataclass(slots=True, frozen=True)
class EngineSettings:
    allow_negative_stock: bool = False
    #: how long (event time) an event may wait for the order/item it refers to
    park_window: dt.timedelta = dt.timedelta(hours=24)
    #: how long (event time) an ``event_id`` is remembered for de-duplication
    dedup_window: dt.timedelta = dt.timedelta(days=30)
    #: "cython", "python" (the twin) or None (best available); "off" disables planning
    kernel: str | None = None
    #: True: a shipment is announced to the receiving site inside this engine (a replay holds every
    #: site).  False: the announcement is returned as an output, for the service to route to the
    #: worker that owns the receiving site.
    local_transfers: bool = True
    #: keep what each batch changed, so durable state is written per batch for what changed (core/persist.py)
    track_changes: bool = False
    #: closed orders, delivered demands, received transfers are dropped this long (event time) after they
    #: are done, so a site's memory follows its open business (core/retention.py); None keeps them for ever
    retention: dt.timedelta | None = dt.timedelta(days=60)


@dataclass(slots=True)
class _Held:
    """An event waiting for the watermark: applied once every input has passed its time."""

    event: Any
    source: str | None
    order: tuple[Any, ...]   # tie-break among equal times: where it came from, never when it arrived


@dataclass(slots=True)
class _Parked:
    event: Any
    source: str | None
    deadline: dt.datetime
    reason: str


class Engine:
    def __init__(self, settings: EngineSettings | None = None) -> None:
        self.settings = settings or EngineSettings()
        self.master = MasterData()
        self.sites: dict[str, SiteState] = {}
        self._site_settings = SiteSettings(allow_negative_stock=self.settings.allow_negative_stock,
                                           retention=self.settings.retention,
                                           track_changes=self.settings.track_changes)
        self._ids: dict[str | None, SeenIds] = {}
        self._shared: dict[object, object] = {}   # the sites' one object per item name, partner, date
        self._id_table = id_table(self.settings.kernel)   # the twin's with the twin kernel, else compiled
        self._parked: dict[tuple[str, str, str], list[_Parked]] = {}   # (site, kind, key) -> events
        self._park_deadlines: dict[str, list[tuple[dt.datetime, int, tuple[str, str, str]]]] = {}
        self._park_seq = 0
        # park keys whose waiting events changed since core/persist.py looked (with change tracking on)
        self._parked_changed: dict[tuple[str, str, str], None] | None = {} if self.settings.track_changes else None
        # site -> its waiting events in (time, order) order: a batch's are appended and the list sorted
        # once (the inputs' runs are in time order already), and released from the front
        self._held: dict[str, list[tuple[dt.datetime, tuple[Any, ...], int, _Held]]] = {}
        self._held_seq = 0
        # events waiting for the watermark per (origin, class), kept as they come and go: a backlog holds
        # hundreds of thousands, and metrics read this at every scrape instead of walking them (``held_by``)
        self._held_by: Counter[tuple[str, type]] = Counter()
        self._held_changed: dict[str, None] | None = {} if self.settings.track_changes else None
        # with change tracking: what was held and what went in since core/persist.py looked, per site, so
        # it writes a row per event newly waiting and deletes the rows of those released
        self._held_added: dict[str, list[_Held]] | None = {} if self.settings.track_changes else None
        self._held_released: dict[str, list[_Held]] | None = {} if self.settings.track_changes else None
        self.planner: Planner | None = None
        if self.settings.kernel != "off":
            self.planner = Planner(kernel=load_kernel(self.settings.kernel))

    # --- public API -------------------------------------------------------------------

    def seen_ids(self, track: bool) -> SeenIds:
        """A site's empty record of event ids, in this engine's id table."""
        return SeenIds(track, self._id_table)

    def site(self, name: str) -> SiteState:
        state = self.sites.get(name)
        if state is None:
            state = self.sites[name] = SiteState(name, self.master, self._site_settings, self._shared)
        return state

    def apply(self, events: Iterable[Any], sources: Sequence[str | None] | None = None, *,
              watermark: Callable[[str], dt.datetime] | None = None,
              order: Sequence[tuple[Any, ...]] | None = None) -> list[Any]:
        """Apply a batch of decoded events (or ``Rejected`` from the decoder).

        ``sources`` (aligned with ``events``) say where each came from, e.g. a
        file line or a topic partition and offset; rejections carry it.

        Without ``watermark`` events are applied in the order given (a replay
        file's order).  With one (site -> the time every input of that site
        has reached), site events are merged in event time: they wait until
        their site's watermark passes their ``ts``, then go in ``(ts, order)``
        order, so a site's final state does not depend on how its input topics
        interleaved.  ``order`` is the
        tie-break per event (e.g. topic, partition, offset); waiting events are
        durable state like parked ones.
        """
        out: list[Any] = []
        arriving: dict[str, list[tuple[Any, str | None, tuple[Any, ...]]]] = {}   # site -> its events to hold
        for index, event in enumerate(events):
            source = sources[index] if sources is not None else None
            if isinstance(event, Rejected):
                out.append(event)
            elif not in_time_range(event.ts):
                out.append(self._rejected(event, f"event time out of range: {event.ts.isoformat()} is not between "
                                                 f"{EARLIEST_TS.date()} and {LATEST_TS.date()} (UTC)", source))
            elif watermark is None or event.site is None or isinstance(event, ev.MASTER_TYPES):
                self._apply_one(event, source, out)
            else:
                waiting = arriving.get(event.site)
                if waiting is None:
                    waiting = arriving[event.site] = []
                waiting.append((event, source, tuple(order[index]) if order is not None else ()))
        for site, waiting in arriving.items():
            self.hold(site, waiting)
        if watermark is not None:
            self._release_held(watermark, out)
        if self.planner is not None:
            out.extend(self.planner.plan(self))
        else:
            self._settle_uncosted()
        return out

    def _settle_uncosted(self) -> None:
        """Planning off (``kernel="off"``): no cost will come for a closed order, so it is kept small at once and
        retires like any other (queued for that cost, it stayed whole and retention passed it over)."""
        for state in self.sites.values():
            if state.closed_orders:
                for order_id in state.closed_orders:
                    if order_id in state.production:
                        state.keep_closed(order_id)
                state.closed_orders.clear()

    def hold(self, site: str, waiting: list[tuple[Any, str | None, tuple[Any, ...]]]) -> list[_Held]:
        """Keep a site's events (event, source, order) until the watermark passes their time: a batch's, or
        what a restore puts back.  The site's list stays in (time, order) order: one sort per call."""
        entries = []
        for event, source, order in waiting:
            self._held_seq += 1
            entries.append((event.ts, order, self._held_seq, _Held(event, source, order)))
        held = [entry[3] for entry in entries]   # in the order given, before the sort (a restore's row numbers)
        kept = self._held.get(site)
        if kept:
            kept.extend(entries)
            kept.sort()   # runs already in order, as each input's are: close to linear
        else:
            entries.sort()
            self._held[site] = entries
        counts = self._held_by
        for one in held:
            counts[(source_topic(one.source), type(one.event))] += 1
        self._note_held(site)
        if self._held_added is not None:
            self._held_added.setdefault(site, []).extend(held)
        return held

    def held(self, site: str | None = None) -> int:
        """Events waiting for the watermark (of one site, or of all)."""
        if site is not None:
            return len(self._held.get(site, ()))
        return sum(len(waiting) for waiting in self._held.values())

    def drop_held(self, site: str) -> None:
        """Forget a site's waiting events without applying them (its partition went to another worker)."""
        for *_, held in self._held.pop(site, ()):
            self._uncount_held(held)

    def held_by(self) -> dict[tuple[str, type], int]:
        """Events waiting for the watermark per (origin, event class); the origin is the source up to its
        last ``[`` (a topic, for the service's ``topic[partition]@offset``), ``""`` without one."""
        return dict(self._held_by)

    def finish(self) -> list[Any]:
        """End of input (a replay's end): events waiting for the watermark go in; any still parked is rejected."""
        out: list[Any] = []
        if self._held:
            self._release_held(lambda _site: dt.datetime.max.replace(tzinfo=dt.UTC), out)
            if self.planner is not None:
                out.extend(self.planner.plan(self))
        # in the order they would have expired, then by what they waited for: the same whether the engine
        # ran through or was restored from durable rows (which do not keep the order keys were parked in)
        waiting = sorted(((parked.deadline, key, position, parked) for key, queue in self._parked.items()
                          for position, parked in enumerate(queue)), key=lambda entry: entry[:3])
        for key in self._parked:
            self._note_parked(key)
        for _deadline, (site, _kind, _ref), _position, parked in waiting:
            self._forget(site, parked.event.event_id)
            out.append(self._rejected(parked.event, parked.reason, parked.source))
        self._parked.clear()
        self._park_deadlines.clear()
        return out

    def _release_held(self, watermark: Callable[[str], dt.datetime], out: list[Any]) -> None:
        for site, waiting in list(self._held.items()):
            until = watermark(site) if waiting else None
            if until is not None and waiting[0][0] <= until:
                self._note_held(site)
                released = self._held_released.setdefault(site, []) if self._held_released is not None else None
                gone = 0
                try:
                    for ts, _order, _seq, held in waiting:
                        if ts > until:
                            break
                        gone += 1
                        self._uncount_held(held)
                        if released is not None:
                            released.append(held)
                        self._apply_one(held.event, held.source, out)
                finally:
                    del waiting[:gone]
            if not waiting:
                del self._held[site]

    def _uncount_held(self, held: _Held) -> None:
        key = (source_topic(held.source), type(held.event))
        left = self._held_by[key] - 1
        if left:
            self._held_by[key] = left
        else:
            del self._held_by[key]

    def _note_held(self, site: str) -> None:
        if self._held_changed is not None:
            self._held_changed[site] = None

    # --- one event --------------------------------------------------------------------

    def _apply_one(self, event: Any, source: str | None, out: list[Any]) -> None:
        site = event.site
        if site is None and not isinstance(event, ev.MASTER_TYPES):
            out.append(self._rejected(event, f"{type(event).__name__.lower()} event needs a site", source))
            return
        master = isinstance(event, ev.MASTER_TYPES)
        # master data is every worker's (read whole, never site state): its ids are kept apart from the site's
        if not self._remember(None if master else site, event):
            out.append(self._rejected(event, f"duplicate event_id {event.event_id!r}: already applied", source))
            return
        if master:
            self._apply_master(event, source, out)
            return
        state = self.site(site)
        # a shipment's announcement is exempt: the shipping site may be read far behind this one (a
        # backlog), refusing it would leave a receipt without its shipment and stock in transit for
        # ever; its transfer id refuses it twice, and the internal topic is read exactly once
        if (state.clock is not None and event.ts + self.settings.dedup_window < state.clock
                and not isinstance(event, ev.TransferInTransit)):
            # its id may be forgotten already (_prune_ids): a re-sent event would be applied twice
            self._forget(site, event.event_id)
            out.append(self._rejected(
                event, f"event too old for de-duplication: {event.ts.isoformat()} is more than "
                       f"{self.settings.dedup_window.days} days (dedup_window) before the site's clock "
                       f"{state.clock.isoformat()}, so a re-sent event could not be told from a new one", source))
            return
        self._apply_timed(state, event, source, out)

    def _apply_timed(self, state: SiteState, event: Any, source: str | None, out: list[Any]) -> None:
        """Apply a site event; only an applied event moves the site clock (and may start a new day).

        The parked events it releases go in once it is complete, its day included, as if they came
        right after it.  Applied inside it, a released event of a later day would start that day
        before this one's day began: the day's inventory value would be sampled twice, with the
        released event in it, and this event's day never (an order read after the issues of a later
        day that waited for it).
        """
        previous = state.clock
        previous_day = state.today   # the date of the clock as it stands, kept by the site: no conversion
        # a shipment's announcement carries the shipping site's time, which the service may read days
        # after this site's later events: it dates a new site but never moves a running clock (nor
        # samples a day), so a site's days are the same in whatever order the two sites are read
        advance = previous is None or (event.ts > previous and not isinstance(event, ev.TransferInTransit))
        if advance:
            state.clock = event.ts
        released = self._dispatch(state, event, source, out)
        if released is None:
            if advance:
                state.clock = previous  # a rejected or waiting event leaves no trace, not even in time
            return
        if advance:
            if previous is None or state.today != previous_day:
                state.new_day(state.today)
            self._prune_ids(state.site, event.ts)
            self._expire_parked(state.site, event.ts, out)
        for parked in released:
            self._apply_timed(state, parked.event, parked.source, out)

    def _dispatch(self, state: SiteState, event: Any, source: str | None,
                  out: list[Any]) -> list[_Parked] | None:
        """Apply one event to its site: None if it was not applied, else the parked events it releases."""
        try:
            internal = state.handle(event)
        except Missing as missing:
            self._park(state.site, missing, event, source)
            return None
        except Reject as reject:
            self._forget(state.site, event.event_id)
            out.append(self._rejected(event, reject.reason, source))
            return None
        for routed in internal:
            if self.settings.local_transfers:
                self._apply_one(routed, source, out)
            else:
                out.append(routed)
        if not self._parked:
            return []
        return [parked for kind, key in _created_refs(event, state) for parked in self._release(state.site, kind, key)]

    def _apply_master(self, event: Any, source: str | None, out: list[Any]) -> None:
        try:
            if isinstance(event, ev.Item):
                self.master.put_item(event)
            elif isinstance(event, ev.WorkCenter):
                self.master.put_work_center(event)
            else:
                self.master.put_bom(event)
        except Reject as reject:
            self._forget(None, event.event_id)
            out.append(self._rejected(event, reject.reason, source))
            return
        if self.planner is not None:
            self.planner.master_changed(self, event)
        if isinstance(event, ev.Item):
            sites = [event.site] if event.site is not None else list(self.sites)
            for site in sites:
                self._unpark(site, "item", event.item, out)

    # --- de-duplication ----------------------------------------------------------------

    def _remember(self, site: str | None, event: Any) -> bool:
        ids = self._ids.get(site)
        if ids is None:
            ids = self._ids[site] = self.seen_ids(self.settings.track_changes)
        if ids.knows(event.event_id):
            return False
        expiry = event.ts + self.settings.dedup_window
        ids.remember(event.event_id, expiry)
        if ids.fresh is not None:
            ids.fresh[event.event_id] = expiry
        return True

    def _prune_ids(self, site: str | None, now: dt.datetime) -> None:
        """Forget ids older than the window, by the clock of applied events only."""
        ids = self._ids.get(site)
        if ids is not None:
            ids.prune(now)

    def _forget(self, site: str | None, event_id: str) -> None:
        """A rejected event's id is free again, so a corrected event can reuse it."""
        ids = self._ids.get(site)
        if ids is None:
            return
        expiry = ids.forget(event_id)
        if ids.fresh is None:
            return
        if event_id in ids.fresh:
            del ids.fresh[event_id]
        elif expiry is not None:
            ids.dropped[event_id] = expiry

    # --- waiting for references -----------------------------------------------------------

    def _park(self, site: str, missing: Missing, event: Any, source: str | None) -> None:
        """Hold an event until its reference arrives, for ``park_window`` of the site's event time.

        A transfer receipt does not wait for its shipment: another site announces that, and
        the service may read it days of event time late (``SiteState._receive_unannounced``).
        """
        key = (site, missing.kind, missing.key)
        deadline = event.ts + self.settings.park_window
        self._parked.setdefault(key, []).append(_Parked(event, source, deadline, missing.reason))
        self._note_parked(key)
        self._park_seq += 1
        heapq.heappush(self._park_deadlines.setdefault(site, []), (deadline, self._park_seq, key))

    def _release(self, site: str, kind: str, key: str) -> list[_Parked]:
        """The events parked for a reference that now exists, no longer parked (the caller applies them)."""
        waiting = self._parked.pop((site, kind, key), None)
        if not waiting:
            return []
        self._note_parked((site, kind, key))
        return waiting

    def _unpark(self, site: str, kind: str, key: str, out: list[Any]) -> None:
        waiting = self._release(site, kind, key)
        if waiting:
            state = self.site(site)
            for parked in waiting:
                self._apply_timed(state, parked.event, parked.source, out)

    def _expire_parked(self, site: str, now: dt.datetime, out: list[Any]) -> None:
        deadlines = self._park_deadlines.get(site)
        while deadlines and deadlines[0][0] < now:
            _, _, key = heapq.heappop(deadlines)
            waiting = self._parked.get(key)
            if not waiting:
                continue
            keep = [p for p in waiting if p.deadline >= now]
            self._note_parked(key)
            for parked in waiting:
                if parked.deadline < now:
                    self._forget(site, parked.event.event_id)
                    hours = self.settings.park_window.total_seconds() / 3600
                    out.append(self._rejected(parked.event, f"{parked.reason} (waited {hours:g} h)",
                                              parked.source))
            if keep:
                self._parked[key] = keep
            else:
                del self._parked[key]

    def _note_parked(self, key: tuple[str, str, str]) -> None:
        if self._parked_changed is not None:
            self._parked_changed[key] = None

    @staticmethod
    def _rejected(event: Any, reason: str, source: str | None) -> Rejected:
        return Rejected(reason=reason, event=event, source=source,
                        site=getattr(event, "site", None), ts=getattr(event, "ts", None))


def source_topic(source: str | None) -> str:
    """The topic of a record source ``topic[partition]@offset`` (``#index`` inside an envelope), ``""`` for a
    source without one (a file line): what waiting events are counted by (``Engine.held_by``), and the topic
    label of the worker's metrics (``monitoring.labels.topic_of``)."""
    return source.rpartition("[")[0] if source else ""


def _created_refs(event: Any, state: SiteState) -> list[tuple[str, str]]:
    """References an applied event brings into existence (waiting events may go on)."""
    if isinstance(event, (ev.Receipt, ev.TransferReceived, ev.Count)):
        return [("lot", f"{event.item}/{event.lot}")]
    if isinstance(event, ev.Output):
        order = state.production.get(event.order_id)
        return [("lot", f"{order.item}/{event.lot}")] if order is not None else []
    if isinstance(event, ev.ProductionOrder):
        return [("production order", event.order_id)]
    if isinstance(event, ev.PurchaseOrder):
        return [("purchase order", event.po_id)]
    if isinstance(event, ev.Demand):
        return [("demand", event.demand_id)]
    return []

