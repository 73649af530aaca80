"""Durable site state: each batch committed in one Kafka transaction per site partition.

Why this shape (docs/design.md, "Durability"):

* The rows ``core/persist.py`` produces for a batch, the outputs of the batch
  and the consumer group's position on the inputs must become visible
  together or not at all.  Each site partition has its own transactional
  producer (``<app>-rows-<p>``): a batch sends the rows of the partition's
  sites to the state table's changelog partition, the outputs those sites
  produced and the input offsets it consumed, then commits.  A crash before
  the commit leaves nothing a ``read_committed`` reader sees; the next
  owner's producer (same id) aborts the open transaction and fences the old
  one.  The applied offsets in each site row make a record delivered twice
  anyway a no-op.
* Faust's own ``exactly_once`` mode picks a send's transaction by the
  *destination* partition and topic group, so keyed outputs (planned orders
  hash anywhere) would fall outside the transaction of the site that made
  them (or outside any), and it commits on a timer, not per batch.  It stays
  on for what it does right: ``read_committed`` consumers for the inputs (the
  transfers topic is written in transactions) and for table recovery.  The
  agent never acks, so Faust never commits offsets of its own.
* The table (``streams.changelog``) is the read side: on assignment the
  sites of a gained partition are restored from its rows; on revocation they
  are dropped.  Rows are not written through the table's mapping API: that
  needs a current event, and a batch spans partitions.
* A site's partition is the murmur2 hash of its key (``streams.routing``):
  the publisher, Faust's producer and the query router assume the same.
* Reading a backlog, one input of a partition can run far ahead of another in
  event time (Kafka fetches by bytes, not by time), and its events wait for
  the merge in the engine.  Once a partition holds ``merge_hold_limit`` of
  them, the inputs running ahead are paused until the ones holding the site
  back have caught up, so memory stays bounded; a rebalance resumes every
  input (a new assignment starts unpaused) and the next batch decides again.
  They are paused in aiokafka itself (``_fetching``), which keeps its
  position at the first record it has not returned.  Faust's
  ``pause_partitions`` drops the records it had fetched already while
  aiokafka's position has moved past them, and an input it fetched again
  later (a full stream buffer draining re-activates it) skipped them for
  good: 958 to 1,477 of 2,000,000 events in three of four benchmark drains.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import faust
from aiokafka import AIOKafkaProducer, TopicPartition
from faust.types import TP

from core.engine import Engine
from core.netting import PLANNED_RECORDS
from core.persist import StateRows, site_of
from millstream.kafka_security import aiokafka_config
from millstream.settings import Settings
from monitoring.metrics import Metrics
from schemas import events as ev
from schemas import outputs as out

from .batches import BATCH_BYTES, BatchedSends
from .changelog import TABLE, LocalRows, StateTable, app_id, changelog_topic, committed_positions
from .inflight import GapGuard, StallWatch
from .processor import InRecord, OutRecord, Processor
from .routing import site_partition

__all__ = ["DurableSites", "OwnedProcessor", "OwnedRecord"]

log = logging.getLogger(__name__)

ABORT_TIMEOUT = 5.0
#: seconds between log lines saying which inputs hold events back, while they do
HOLD_REPORT = 30.0
#: seconds between looks for inputs read past what was applied (``streams.inflight``)
STALL_CHECK = 5.0
#: seconds a crashed worker is given to stop before the process exits with ``EXIT_CRASHED`` anyway
CRASH_EXIT_TIMEOUT = 60.0
EXIT_CRASHED = 70   # EX_SOFTWARE
#: longest a producer may take to close, or a stop to wait for the batch under way (seconds): a batch whose
#: outputs cannot be written never ends, and its producer cannot flush; both are left to the next owner,
#: whose producer fences them (the batch is not durable, so the state restored there does not hold it)
CLOSE_TIMEOUT = 10.0
#: a writer's wait before it sends a refused request again (ms; aiokafka's default is 100).  A batch's
#: transaction often begins while the coordinator still writes the previous one's commit markers: brokers
#: that verify transactional produce (Kafka 3.6+, the default) then refuse its first records with a retriable
#: NOT_ENOUGH_REPLICAS, and the whole batch waits for that retry (BENCHMARKS.md, issue 7)
WRITER_RETRY_BACKOFF_MS = 20
_SOURCE = re.compile(r"(.+)\[(\d+)\]@\d+")
#: RocksDB of the state table, one database per partition.  The store is written after every commit and read
#: only by a restore, once, from start to end, so it keeps small write buffers and a small block cache: Faust's
#: defaults (up to three 64 MiB write buffers and a 2 GiB block cache per partition) left a worker 175 MiB
#: larger after 2,000,000 events (BENCHMARKS.md, issue 7)
STORE_OPTIONS = {"write_buffer_size": 8 << 20, "max_write_buffer_number": 2, "block_cache_size": 16 << 20}


@dataclass(slots=True)   # not frozen, as OutRecord
class OwnedRecord(OutRecord):
    """An output and the site that produced it: its transaction is that site's partition's."""

    owner: str | None = None      # the site whose state made it; None for master data
    source_partition: int | None = None   # input partition of a rejected record without a site


class OwnedProcessor(Processor):
    """The service's processor, with each output labelled by the site that produced it."""

    def route(self, output: Any, origins: dict[str, InRecord]) -> OutRecord:
        if type(output) in PLANNED_RECORDS:   # most outputs: encoded by the planner, made by their site
            return OwnedRecord(self._topic["planned-orders"], output.key, output.value, output.site)
        record = super().route(output, origins)
        if isinstance(output, ev.TransferInTransit):
            owner = output.from_site   # keyed by the receiving site, made by the shipping one
        else:
            owner = getattr(output, "site", None)
        partition = None
        if owner is None and isinstance(output, out.Rejected):
            match = _SOURCE.match(output.source or "")
            if match and match[1] != self.settings.topic("master"):
                partition = int(match[2])
        return OwnedRecord(record.topic, record.key, record.value, owner, partition)


class DurableSites:
    """The worker's engine with its state in a changelogged table: apply, restore, drop.

    One lock orders batches (site and master) with assignment and restore, so
    the rows a batch reads from the engine are committed in the order they
    were made.
    """

    def __init__(self, app: faust.App, settings: Settings, engine: Engine, site_topics: Sequence[str],
                 read_master: Callable[[], Awaitable[None]], master_ready: asyncio.Event, *,
                 merged_topics: Sequence[str] = (), metrics: Metrics | None = None) -> None:
        self.app = app
        self.settings = settings
        self.engine = engine
        self.metrics = metrics
        self.rows = StateRows(engine)
        self.processor = OwnedProcessor(engine, settings, self.rows, metrics=metrics)
        self.processor.partition_of = self._home
        self.read_master = read_master
        self.master_ready = master_ready
        self._master_reader: asyncio.Future[None] | None = None
        self.site_topics = frozenset(site_topics)
        # inputs merged in event time (streams/processor.py); transfers are matched by reference instead
        self.merged_topics = tuple(merged_topics)
        self._next: dict[tuple[str, int], int] = {}   # input partition owned -> next offset to apply (committed)
        # the store comes from the app's ``store="rocksdb://"`` (a table-level "rocksdb://" URL is falsy in
        # yarl, and Faust would silently fall back to the memory store)
        self.table = app.tables.add(StateTable(
            app, name=TABLE, beacon=app.tables.beacon, key_type=bytes, value_type=bytes,
            partitions=settings.partitions, options={"driver": "rocksdict", **STORE_OPTIONS},
            help="site state rows (core/persist.py), written in transactions"))
        self.table.on_recover(self._on_recovered)
        self.local = self.table.local = LocalRows(self.table, settings)
        app.on_partitions_revoked.connect(self._on_revoked)
        app.on_partitions_assigned.connect(self._on_assigned)
        self.owned: set[int] = set()       # partitions whose sites the engine holds
        self.pending: set[int] = set()     # assigned, sites not restored yet
        self.partitions = settings.partitions
        self._homes: dict[str, int] = {}   # site -> partition, for ``self.partitions``
        self._topic_partitions: dict[str, int] = {}   # output topic -> partitions (streams.batches)
        self._writers: dict[int, AIOKafkaProducer] = {}
        self._lock = asyncio.Lock()
        self._settled = asyncio.Event()   # cleared while a rebalance is under way
        self._settled.set()
        self._restored = asyncio.Event()   # set while no assigned partition waits for its sites' restore
        self._restored.set()
        self._broken: BaseException | None = None
        self._held_since: float | None = None   # when events began to wait for the merge (for the log)
        self._generation: int | None = None     # the consumer group generation of the last assignment
        self._paused: set[tuple[str, int]] = set()   # merged inputs paused because they run ahead
        self._gaps = GapGuard()
        self._stalls = StallWatch()
        self._stall_checked = 0.0   # when inputs were last looked at for records lost in flight
        self._site_records = 0.0    # when the agent last handed over site records

    # --- batches ------------------------------------------------------------------------

    async def apply(self, records: list[InRecord], *, master: bool = False) -> None:
        """Apply a batch and commit it: per site partition, its rows, outputs and input offsets together.

        Site records of partitions this worker no longer owns are left to the
        new owner (a batch may straddle a revocation).  Master records have no
        offsets to commit: every worker reads the master topic whole.
        """
        if not master:
            self._site_records = time.monotonic()   # processing time: when to look for stalls only
        await self._settled.wait()
        if not master and any(r.partition in self.pending for r in records):
            # Faust may hand over records while the table recovers: their sites are not restored yet, and
            # dropping the records would lose them for good if no seek brought them back
            await self._restored.wait()
        async with self._lock:
            if not master:   # a record before a committed position was applied already: re-read after a rewind
                records = [r for r in records
                           if r.partition in self.owned and r.offset >= self._next.get((r.topic, r.partition), 0)]
                records = await self._without_gaps(records)
                if not records:
                    return
            await self._run(records, master)

    async def _without_gaps(self, records: list[InRecord]) -> list[InRecord]:
        """The batch's records up to the first offset of an upstream input missing since its commit; that
        input is read again from there (``streams.inflight``: records dropped in flight by a rebalance).

        Records gone from the log (retention moved its start past them while the worker was away) can
        never come: the input's next offset moves to the log start, and what follows goes in.
        """
        kept, rereads = self._gaps.cut(records, self._next, self.merged_topics)
        if rereads and await self._pass_gone(rereads):
            kept, rereads = self._gaps.cut(records, self._next, self.merged_topics)
        for (topic, partition), offset in rereads.items():
            log.warning("%s[%d]: the batch's records start after offset %d, the next to apply: records were "
                        "dropped in flight; reading them again", topic, partition, offset)
            await self._read_again(topic, partition, offset)
        return kept

    async def _read_again(self, topic: str, partition: int, offset: int) -> None:
        """Seek an input back to ``offset`` (counted).  A partition revoked meanwhile is left alone: the
        rebalance puts it back to the committed offset itself (``_rewind``)."""
        if self.metrics is not None:
            self.metrics.reread(topic)
        try:
            await self.app.consumer.seek(TP(topic, partition), offset)
        except Exception as exc:
            log.warning("%s[%d] could not be read again from %d: %r", topic, partition, offset, exc)

    async def _pass_gone(self, missing: dict[tuple[str, int], int]) -> bool:
        """Move each input's next offset past records the log no longer holds (retention moved its start past
        ``missing[input]``, the first one not applied): they can never come.  True if any was moved."""
        try:
            starts = await self.app.consumer.earliest_offsets(*(TP(topic, partition) for topic, partition in missing))
        except Exception as exc:   # not known now: read again, the next gap asks again
            log.warning("log starts of %s not known: %r", sorted(missing), exc)
            return False
        moved = False
        for tp, start in starts.items():
            key = (tp.topic, tp.partition)
            if start is not None and key in missing and start > missing[key]:
                log.warning("%s[%d]: records %d to %d are gone from the log (it starts at %d now): passed",
                            tp.topic, tp.partition, missing[key], start - 1, start)
                self._next[key] = start
                moved = True
        return moved

    async def tick(self) -> None:
        """Let site events waiting for the event-time merge go in once their inputs are read (no new records)."""
        await self._read_stalled_again()
        if not self.engine.held() and not self._paused:
            self._held_since = None
            return
        await self._settled.wait()
        self._say_what_holds()
        async with self._lock:
            await self._run([], False)

    async def _run(self, records: list[InRecord], master: bool) -> None:
        if self._broken is not None:
            raise RuntimeError("the engine is ahead of its durable state: restart") from self._broken
        positions: dict[int, dict[TopicPartition, int]] = defaultdict(dict)   # partition -> next offsets
        if not master:
            for record in records:
                tp = TopicPartition(record.topic, record.partition)
                positions[record.partition][tp] = max(positions[record.partition].get(tp, 0), record.offset + 1)
        merge = None if master else self._merge_inputs()
        try:
            if merge is None:
                outputs = self.processor.process(records)
            else:
                outputs = self.processor.process(records, *merge)
            await self._commit(self.rows.changed(), outputs, positions)
        except BaseException as exc:
            # the engine holds what is not durable: no more batches; the worker stops and a restart restores
            self._broken = exc
            if not isinstance(exc, asyncio.CancelledError):
                _exit_unless_stopped(exc, CRASH_EXIT_TIMEOUT)
                await self.app.crash(exc)
            raise
        for by_tp in positions.values():
            self._next.update({(tp.topic, tp.partition): offset for tp, offset in by_tp.items()})
        if merge is not None:
            await self._regulate()

    async def _regulate(self) -> None:
        """Pause the merged inputs that run ahead of a partition holding ``merge_hold_limit`` waiting events.

        The inputs that set a waiting site's watermark (``Processor.holding_back``)
        keep flowing, so the site always progresses; the others wait until the
        partition holds fewer than half that.  Only restored partitions,
        never during a rebalance (Faust's recovery pauses and resumes inputs itself).
        """
        if self.pending or not self._settled.is_set() or getattr(self.app, "in_recovery", False):
            return
        # what the batch's watermarks waited for: an input holding a site back keeps flowing, whatever else
        # looks behind (records written since the batch before count for the grace only: Processor.behind)
        lagging = self.processor.lagging
        waiting: dict[int, list[str]] = defaultdict(list)
        for site in self.engine.sites:
            if self.engine.held(site):
                waiting[self._home(site)].append(site)
        wanted: set[tuple[str, int]] = set()
        for partition, sites in waiting.items():
            if partition not in self.owned:
                continue
            held = sum(self.engine.held(site) for site in sites)
            paused = any(tp[1] == partition for tp in self._paused)
            limit = self.settings.merge_hold_limit
            if held < (limit // 2 if paused else limit):
                continue
            behind = {tp for tp in lagging if tp[1] == partition}
            keep = set().union(*(self.processor.holding_back(site, behind) for site in sites))
            wanted |= behind - keep
        if wanted == self._paused:
            return
        await _fetching(self.app.consumer, self._paused - wanted, paused=False)
        await _fetching(self.app.consumer, wanted - self._paused, paused=True)
        log.info("inputs paused while their partition's waiting events catch up: %s",
                 sorted(f"{topic}[{partition}]" for topic, partition in wanted) or "none")
        self._paused = wanted

    async def _read_stalled_again(self) -> None:
        """Seek the upstream inputs read past their last commit back to it, when the worker has had no site
        records for ``StallWatch.limit`` seconds and they stayed so (``streams.inflight``: records dropped in
        flight by a rebalance).  Looked at every ``STALL_CHECK`` seconds; while records come, records of an
        input may wait behind others in the feed (``streams.feed``), so only an idle worker is a sign of loss."""
        now = time.monotonic()   # when to look only: nothing the engine decides depends on it
        if now - self._stall_checked < STALL_CHECK:
            return
        self._stall_checked = now
        if (self.pending or not self._settled.is_set() or self._broken is not None
                or getattr(self.app, "in_recovery", False) or now - self._site_records < self._stalls.limit):
            return
        async with self._lock:
            keys = [(topic, partition) for topic in self.merged_topics for partition in sorted(self.owned)]
            positions = await _positions(self.app.consumer, keys)
            due = self._stalls.rewinds(self._next, positions, time.monotonic())
            if due and await self._pass_gone(due):
                due = {key: offset for key, offset in due.items() if self._next[key] <= offset}
            for (topic, partition), offset in due.items():
                log.warning("%s[%d] was read up to offset %s but applied only up to %d, and nothing came for "
                            "%.0f s: records were dropped in flight; reading them again", topic, partition,
                            positions[(topic, partition)], offset, self._stalls.limit)
                await self._read_again(topic, partition, offset)

    def _home(self, site: str) -> int:
        """The site's partition (murmur2, computed once per site: every record, row and output asks)."""
        home = self._homes.get(site)
        if home is None:
            home = self._homes[site] = site_partition(site, self.partitions)
        return home

    def _say_what_holds(self) -> None:
        """Every ``HOLD_REPORT`` seconds that events keep waiting for the merge, log which inputs are behind."""
        now = time.monotonic()   # when to log only: nothing the engine decides depends on it
        if self._held_since is None:
            self._held_since = now
        elif now - self._held_since >= HOLD_REPORT:
            self._held_since = now
            ends, positions = self._merge_inputs()
            behind = self.processor.behind(ends, positions)
            log.info("%d events wait for the event-time merge; inputs behind (seen, end): %s",
                     self.engine.held(), {f"{t}[{p}]": (self.processor.last_offset.get((t, p)), ends[(t, p)])
                                          for t, p in sorted(behind)})

    def backlog(self, last: dict[tuple[str, int], int]) -> int:
        """Records the merged inputs hold past ``last`` (the highest offset handed over, per input), as the
        consumer's latest fetches tell: what the agent's next takes would bring (``streams.intake``).

        Inputs paused for the merge bring nothing until resumed, and the transfers topic's end counts commit
        markers, which are never delivered: neither counts.
        """
        consumer = self.app.consumer
        waiting = 0
        for key, offset in last.items():
            topic, partition = key
            if topic in self.merged_topics and key not in self._paused:
                end = consumer.highwater(TP(topic, partition))
                if end is not None and end > offset + 1:
                    waiting += end - offset - 1
        return waiting

    def _merge_inputs(self) -> tuple[dict[tuple[str, int], int | None], dict[tuple[str, int], int | None]]:
        """End offsets and committed positions of the merged inputs of the partitions owned."""
        consumer = self.app.consumer
        ends: dict[tuple[str, int], int | None] = {}
        for topic in self.merged_topics:
            for partition in self.owned:
                ends[(topic, partition)] = consumer.highwater(TP(topic, partition))
        return ends, {key: self._next.get(key) for key in ends}

    async def _commit(self, rows: dict[str, bytes | None], outputs: Iterable[OutRecord],
                      positions: dict[int, dict[TopicPartition, int]]) -> None:
        changelog = changelog_topic(self.settings)
        batches: dict[int, list[tuple[str, bytes, bytes | None, int | None]]] = defaultdict(list)
        loose: list[OutRecord] = []
        for key, value in rows.items():
            partition = self._partition_of(site_of(key))
            batches[partition].append((changelog, key.encode(), value, partition))
        owned: dict[str, list[tuple[str, bytes, bytes | None, int | None]]] = {}   # per owner: its batch
        for record in outputs:
            owner = getattr(record, "owner", None)
            sends = owned.get(owner) if owner is not None else None   # millions of outputs, a few owners
            if sends is None:
                partition = self._output_partition(record)
                if partition is None:
                    loose.append(record)
                    continue
                sends = batches[partition]
                if owner is not None:
                    owned[owner] = sends
            sends.append((record.topic, record.key, record.value, None))
        await asyncio.gather(*(self._transaction(p, batches.get(p, []), positions.get(p, {}))
                               for p in {*batches, *positions}))
        for record in loose:   # master data's own rejections: re-read (and re-sent) at every start anyway
            await self.app.producer.send_and_wait(record.topic, record.key, record.value, None, None, None)

    def _partition_of(self, site: str) -> int:
        partition = self._home(site)
        if partition not in self._writers:
            raise RuntimeError(
                f"site {site!r} hashes to partition {partition}, not one of this worker's "
                f"{sorted(self._writers)}: site-keyed records must be partitioned by murmur2 of the site")
        return partition

    def _output_partition(self, record: OutRecord) -> int | None:
        owner = getattr(record, "owner", None)
        if owner is not None:
            return self._partition_of(owner)
        partition = getattr(record, "source_partition", None)
        return partition if partition in self._writers else None

    async def _transaction(self, partition: int, sends: list[tuple[str, bytes, bytes | None, int | None]],
                           positions: dict[TopicPartition, int]) -> None:
        producer = self._writers[partition]
        await producer.begin_transaction()
        changelog = changelog_topic(self.settings)
        batched = BatchedSends(producer, self._topic_partitions, tracked=changelog)
        try:
            await batched.send_all(sends)
            if positions:   # the consumer group's position moves with the state it produced
                await producer.send_offsets_to_transaction(positions, app_id(self.settings))
            await producer.commit_transaction()
        except BaseException:
            # the engine is now ahead of what is durable: abort, crash, and let the restart restore
            if self.metrics is not None:
                for topic in {send[0] for send in sends}:
                    self.metrics.produce_error(topic)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.abort_transaction(), ABORT_TIMEOUT)
            raise
        self.local.committed(partition, batched.tracked_records())

    # --- assignment, restore, revocation ----------------------------------------------------

    async def _on_revoked(self, _sender: Any, _revoked: set[Any], **_kwargs: Any) -> None:
        """A rebalance started: let the batch under way commit, hold the next ones until the new assignment.

        A partition may be moving to another worker, whose producer would fence
        this worker's in the middle of a commit.
        """
        self._settled.clear()
        async with self._lock:
            # the new assignment starts with every input unpaused (aiokafka); the next batch decides again
            self._paused.clear()
            self.processor.inputs_moved()

    async def _on_assigned(self, _sender: Any, assigned: set[Any], **_kwargs: Any) -> None:
        """Keep what this worker held throughout, drop what it lost, restore what it gained.

        A generation skipped means the group rebalanced without this worker (its heartbeats stopped for a
        session timeout: a long stall, a busy machine): its partitions may have been another worker's
        meanwhile, which applied records to them and fenced their producers.  Everything it held is then
        dropped and restored from the changelog, with producers of its own again; keeping them crashed the
        worker at its next commit (ProducerFenced) and would have applied records to stale state.
        """
        generation = self.app.consumer_generation_id
        if self._generation is not None and generation != self._generation + 1:
            log.info("group generation %s after %s: this worker was out of the group, so its partitions "
                     "may have moved meanwhile; restoring them", generation, self._generation)
            await self._sync(set())
        self._generation = generation
        self.processor.inputs_moved()
        await self._sync({tp.partition for tp in assigned if tp.topic in self.site_topics})
        self._settled.set()

    async def _sync(self, partitions: set[int]) -> None:
        """Drop the sites of partitions gone, start (fence) the producers of partitions gained.

        A gained partition's producer starts before its rows are read:
        ``start`` registers the transactional id, so the previous owner can
        commit nothing more and its open transaction is aborted.
        """
        topic = min(self.site_topics)
        self.partitions = self.app.consumer.topic_partitions(topic) or self.settings.partitions
        self._homes.clear()
        async with self._lock:
            gone = (self.owned | self.pending) - partitions
            for site in [s for s in self.engine.sites if site_partition(s, self.partitions) in gone]:
                self.rows.drop(site)
            for partition in sorted(gone):
                producer = self._writers.pop(partition, None)
                if producer is not None:
                    await _close(producer, partition)
            self.owned -= gone
            self._next = {key: offset for key, offset in self._next.items() if key[1] not in gone}
            self.pending = partitions - self.owned
            if self.pending:
                self._restored.clear()
            else:
                self._restored.set()
            for partition in sorted(self.pending):
                if partition not in self._writers:
                    self._writers[partition] = await self._start_writer(partition)
        if gone or self.pending:
            log.info("partitions dropped %s, to restore %s", sorted(gone), sorted(self.pending))

    async def _start_writer(self, partition: int) -> AIOKafkaProducer:
        name = f"{app_id(self.settings)}-rows-{partition}"
        producer = AIOKafkaProducer(
            **aiokafka_config(self.settings), client_id=name, transactional_id=name,
            enable_idempotence=True, acks="all", max_request_size=max(self.settings.max_message_bytes, 1 << 20),
            max_batch_size=BATCH_BYTES, retry_backoff_ms=WRITER_RETRY_BACKOFF_MS,
            # a batch whose outputs the brokers refuse waits (its sends are retried) this long before the
            # coordinator aborts it and fences this producer (docs/settings.md)
            transaction_timeout_ms=self.settings.transaction_timeout * 1000)
        await producer.start()   # InitProducerId: fences the previous owner, aborts its open transaction
        return producer

    async def _on_recovered(self) -> None:
        """Table recovery is done (streams resume after this): restore the sites of the gained partitions.

        Waits for the master data first (the planner needs items and BOMs).
        The master reader starts here, at the first recovery: Faust starts app
        tasks only after recovery, and the first restore needs the master.
        Restore outputs are not re-sent: transactions put every committed
        batch's outputs on the topics already, and the re-planned state equals
        what they say.
        """
        try:
            await self._restore_gained()
        except Exception as exc:   # streams resume after this callback whatever it raises: stop instead
            log.error("cannot restore: %r", exc)
            _exit_unless_stopped(exc, CRASH_EXIT_TIMEOUT)
            await self.app.crash(exc)

    async def _restore_gained(self) -> None:
        actives = self.app.assignor.assigned_actives()
        await self._sync({tp.partition for tp in actives if tp.topic in self.site_topics})
        await self._rewind([TopicPartition(tp.topic, tp.partition) for tp in actives if tp.topic in self.site_topics])
        if self._master_reader is None:
            self._master_reader = self.app.add_future(self.read_master())
        await self.master_ready.wait()
        async with self._lock:
            if not self.pending:
                return
            token = self.metrics.restore_started(TABLE) if self.metrics is not None else None
            await self.local.catch_up(self.pending)
            sites: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
            for key, value in self.local.items():
                site = site_of(key)
                if self._home(site) in self.pending:
                    sites[site].append((key, value))
            for site, rows in sites.items():
                self.rows.restore(site, rows, outputs=False)   # its outputs are on the topics already
            self._next.update(await committed_positions(
                self.settings, [TopicPartition(t, p) for t in self.merged_topics for p in self.pending]))
            if token is not None:
                self.metrics.restore_finished(token)   # type: ignore[union-attr]
            log.info("restored %d sites of partitions %s", len(sites), sorted(self.pending))
            self.owned |= self.pending
            self.pending = set()
            self._restored.set()

    async def _rewind(self, tps: list[TopicPartition]) -> None:
        """Put the fetch position of every assigned input back where the group committed (log start if nothing).

        When a rebalance suspends the flow, Faust drops the record it was handing to the agent and clears
        the agent's buffer, yet its read position has moved past them; it re-reads them by seeking to the
        committed offsets after recovery, but aiokafka's ``seek_to_committed`` skips a partition whose
        committed offset is missing or 0.  On such a partition (no batch of it committed yet) the records
        fetched during the rebalance were never applied: the event-time merge then waited for them forever,
        and the next batch's offsets would have been committed past them.  Records this worker applied
        already are skipped by ``apply`` (and by their sites' applied offsets).
        """
        if not tps:
            return
        for key, offset in (await committed_positions(self.settings, tps)).items():
            # the group's committed offset may not show this worker's last commit yet (its markers are
            # written after the commit returns): never back before what this worker knows it committed
            await self.app.consumer.seek(TP(*key), max(offset, self._next.get(key, 0)))

    async def stop(self) -> None:
        """Shutdown: the batch under way commits (if it can within ``CLOSE_TIMEOUT``), no other starts, the
        producers close.

        A batch stuck on outputs the brokers refuse is given up: it is not durable, and the next owner's
        producer aborts it.  Waiting for it would keep the process from ever exiting.
        """
        self._settled.clear()
        try:
            await asyncio.wait_for(self._lock.acquire(), CLOSE_TIMEOUT)
        except TimeoutError:
            log.warning("the batch under way did not commit within %.0f s: left to the next owner", CLOSE_TIMEOUT)
        else:
            self._lock.release()
        writers, self._writers = self._writers, {}
        await asyncio.gather(*(_close(producer, partition) for partition, producer in writers.items()))


def _exit_unless_stopped(exc: BaseException, timeout: float) -> None:
    """Make sure a worker whose engine is ahead of its durable state ends, so a supervisor restarts it.

    Faust's shutdown after ``app.crash`` has been seen to wait forever on an idle event loop (the process
    then answered neither requests nor SIGTERM).  Nothing is lost by exiting: the batch is not committed,
    and the next owner (or this worker restarted) aborts its transaction and restores the sites.
    """
    def exit_now() -> None:
        log.critical("worker did not stop within %.0f s of %r: exiting", timeout, exc)
        logging.shutdown()
        os._exit(EXIT_CRASHED)

    timer = threading.Timer(timeout, exit_now)
    timer.daemon = True   # a clean stop before the timeout ends the process without it
    timer.start()


async def _fetching(consumer: Any, tps: set[tuple[str, int]], *, paused: bool) -> None:
    """Pause or resume fetching of input partitions in aiokafka, in the thread Faust runs it in.

    aiokafka's pause returns no more records of a partition and keeps its position at the first one not
    returned; Faust's ``pause_partitions`` only filters what aiokafka returns, dropping records whose
    position is already past.  Partitions no longer assigned (a rebalance under way) are left alone: a
    new assignment starts unpaused.
    """
    if not tps:
        return
    thread = consumer._thread   # Faust's aiokafka driver: the consumer lives in this thread's event loop

    async def apply() -> None:
        client = thread._ensure_consumer()
        assigned = client.assignment()
        parts = [tp for tp in (TopicPartition(topic, partition) for topic, partition in sorted(tps))
                 if tp in assigned]
        if paused:
            client.pause(*parts)
        else:
            client.resume(*parts)

    await thread.call_thread(apply)


async def _positions(consumer: Any, keys: list[tuple[str, int]]) -> dict[tuple[str, int], int | None]:
    """The next offset the consumer fetches of each input (None: not known, or no longer assigned)."""
    found: dict[tuple[str, int], int | None] = {}
    for topic, partition in keys:
        try:
            found[(topic, partition)] = await asyncio.wait_for(consumer.position(TP(topic, partition)), 1.0)
        except Exception:   # an offset reset under way, or revoked meanwhile: next time
            found[(topic, partition)] = None
    return found


async def _close(producer: AIOKafkaProducer, partition: int) -> None:
    """Stop a partition's producer; one whose records cannot be delivered is abandoned after ``CLOSE_TIMEOUT``."""
    try:
        await asyncio.wait_for(producer.stop(), CLOSE_TIMEOUT)
    except TimeoutError:
        log.warning("the producer of partition %d did not flush within %.0f s: abandoned", partition, CLOSE_TIMEOUT)
    except Exception as exc:   # closing is best effort: its transaction is aborted or fenced anyway
        log.warning("the producer of partition %d did not close cleanly: %r", partition, exc)
