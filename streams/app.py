"""The Faust worker: site-keyed topics in, engine batches, outputs out, state durable.

Thin on purpose.  One agent reads every site-keyed input topic in batches
(Faust's consumer hands each fetch's records over as one list, ``streams.feed``,
not message by message) and hands the records to ``streams.durable``, which
runs the transport-free ``Processor`` (with the event-time merge of a site's
inputs) and commits the batch's state rows, outputs and input offsets in one
Kafka transaction per site partition.  Master data must reach every worker
whatever partitions it owns, so each worker reads the whole master topic with
its own group-less consumer and feeds it to the same engine, on the same event
loop.

``processing_guarantee="exactly_once"`` gives ``read_committed`` consumers
(inputs, table recovery); why the batches are committed by producers of our
own, and why the agent never acks, is in ``streams/durable.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import Any

import faust

from core.engine import Engine, EngineSettings
from millstream.kafka_security import (
    KafkaAccessError,
    KafkaSecurityError,
    aiokafka_config,
    confluent_config,
    faust_credentials,
)
from millstream.settings import Settings
from monitoring.metrics import Metrics
from monitoring.worker import EndOffsets, instrument_worker

from .changelog import TABLE, app_id, ensure_changelog
from .collector import FullCollections
from .durable import DurableSites
from .feed import FeedTransport, RecordFeed
from .intake import joined
from .processor import InRecord
from .release import MemoryRelease
from .topics import ensure_topics
from .web import register_views

__all__ = ["create_app"]

log = logging.getLogger(__name__)

SITE_TOPICS = ("inventory", "production", "purchase", "demand", "transfers")
#: inputs merged in event time: what upstream systems publish, each site's records in time order.  The
#: internal transfers topic is left out: written in transactions, its end offset counts commit markers
#: (never delivered), so it would never look read to the end; shipments are matched by reference instead.
MERGED_TOPICS = ("inventory", "production", "purchase", "demand")
#: how often waiting events are offered to the engine when no batch comes (seconds)
TICK = 0.25
#: how long a batch waits for more events before the engine runs (seconds)
BATCH_WITHIN = 0.05
#: longest a worker behind its inputs takes records for one batch (seconds; ``catchup_bytes`` bounds it too)
CATCHUP_WINDOW = 1.0
#: Faust's periodic offset commit (and livelock check), in effect off: offsets are committed per batch
FAUST_COMMIT_INTERVAL = 24 * 3600.0
FAUST_COMMIT_EVERY = 1 << 30
#: values of the ``kernel`` setting ("": the compiled kernel when it is built, else the twin)
KERNELS = ("", "cython", "python", "off")


def create_app(settings: Settings) -> faust.App:
    app = faust.App(
        app_id(settings),
        broker=f"kafka://{settings.bootstrap}",
        broker_credentials=faust_credentials(settings),   # TLS and SASL/SCRAM (millstream/kafka_security.py)
        value_serializer="raw",
        key_serializer="raw",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        topic_allow_declare=False,  # ensure_topics creates them with the right settings
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        web_host=settings.web_host,
        web_bind=settings.web_bind,
        web_port=settings.web_port,
        datadir=settings.data_dir,
        store="rocksdb://",   # the state table (streams/durable.py); rocksdict driver
        processing_guarantee="exactly_once",
        # input offsets are committed in each batch's transactions (streams/durable.py) and the agent
        # never acks: Faust has nothing to commit, to wait for on revocation, or to watch for livelock
        broker_commit_interval=FAUST_COMMIT_INTERVAL,
        broker_commit_every=FAUST_COMMIT_EVERY,
        stream_wait_empty=False,
        # a poll hands over no more than this many records (unbounded by default: all that was prefetched); the
        # site topics' back-pressure is the feed's (streams/feed.py), the stream buffer only any other topic's
        stream_buffer_maxsize=settings.read_ahead,
        broker_max_poll_records=settings.read_ahead,
        # a worker that stops heartbeating loses its partitions after this (docs/settings.md)
        broker_session_timeout=float(settings.session_timeout),
        broker_heartbeat_interval=min(3.0, settings.session_timeout / 3),
        # in exactly_once mode Faust takes a changelog's end from the last fetch, which may be missing at
        # recovery; streams/changelog.py catches the store up itself and the store may be ahead of that
        recovery_consistency_check=False,
        # static membership: a restarted worker takes its place in the group at once instead of waiting out
        # the old session; named by its canonical URL, which is unique per worker
        consumer_group_instance_id=f"{app_id(settings)}-{settings.web_host}-{settings.web_port}",
        # nothing runs "on the leader" here; Faust's leader topic, not declared by it (topic_allow_declare),
        # would be created by the broker on first use and picked up by the next metadata refresh: a needless
        # rebalance of every worker five minutes after a fresh deployment's first start
        topic_disable_leader=True,
    )
    site_topics = [settings.topic(name) for name in SITE_TOPICS]
    # the site topics' records go from Faust's consumer to the agent a fetch at a time (streams/feed.py)
    feed = RecordFeed(site_topics, settings.read_ahead, settings.read_ahead_bytes)
    transport = FeedTransport(app.conf.broker_consumer, app)
    transport.feed = feed
    app.transport = transport
    engine = Engine(EngineSettings(local_transfers=False, allow_negative_stock=settings.allow_negative_stock,
                                   track_changes=True, kernel=settings.kernel or None,
                                   retention=dt.timedelta(days=settings.retention_days)
                                   if settings.retention_days > 0 else None))
    metrics = Metrics()
    collector = FullCollections(settings.gc_full_interval)   # installed by run_worker (streams/collector.py)
    release = MemoryRelease(settings.memory_release_interval, observe=metrics.memory_release_seconds.observe)
    register_views(app, engine, settings, metrics)  # the HTTP query API, /status and /metrics (streams/web.py)
    inputs = app.topic(*site_topics, value_type=bytes, key_type=bytes)
    master_ready = asyncio.Event()

    @app.agent(inputs)
    async def apply_site_events(_stream: faust.StreamT) -> None:
        """Batches of site records, never acked: their offsets are committed in the batch's transactions.

        The records come from the feed, not the agent's stream (which subscribes
        the topics and stays empty).  Faust commits acked offsets on its own (on
        revocation, at shutdown, when an agent fails), including those of a
        batch cut short; with no acks it has nothing to commit and cannot get
        ahead of the durable state.
        """
        await master_ready.wait()  # items and BOMs first: site events must not wait for them in event time

        async def takes() -> AsyncIterator[list[InRecord]]:
            while True:
                yield await feed.take(settings.batch_size, BATCH_WITHIN)

        # behind by a take's worth of records or more: takes joined into one batch (streams/intake.py)
        async for batch in joined(takes(), durable.backlog, behind=settings.batch_size, max_records=settings.read_ahead,
                                  max_bytes=settings.catchup_bytes, window=CATCHUP_WINDOW, queued=feed.__len__):
            await durable.apply(batch)
            collector.after_batch()

    async def follow_master() -> None:
        """Every worker holds all master data: read the master topic whole, from the beginning.

        Started by ``durable`` at the first table recovery (the first restore needs it).
        """
        consumer, ends = _master_consumer(settings)
        loop = asyncio.get_running_loop()
        try:
            while True:
                messages = await loop.run_in_executor(None, consumer.consume, 500, 0.2)
                records = [InRecord(m.topic(), m.partition(), m.offset(), m.value() or b"")
                           for m in messages if m.error() is None]
                if records:
                    await durable.apply(records, master=True)
                    for record in records:
                        if ends.get(record.partition, -1) <= record.offset + 1:
                            ends.pop(record.partition, None)
                if not ends and not master_ready.is_set():
                    log.info("master data read up to where it stood at start: site events flow")
                    master_ready.set()
        finally:
            consumer.close()

    durable = DurableSites(app, settings, engine, site_topics, follow_master, master_ready, metrics=metrics,
                           merged_topics=[settings.topic(name) for name in MERGED_TOPICS])
    end_offsets = EndOffsets(aiokafka_config(settings))   # lag from the brokers' end offsets (monitoring/worker.py)
    instrument_worker(app, metrics, topics=site_topics, tables={TABLE: durable.table}, ends=end_offsets)

    @app.timer(TICK)
    async def release_waiting() -> None:
        """Events waiting for the event-time merge go in once every input has caught up, records or not."""
        await durable.tick()

    @app.timer(TICK)
    async def give_memory_back() -> None:
        """Freed memory goes back to the system every ``memory_release_interval`` seconds, busy or idle."""
        release.when_due()

    @app.on_before_shutdown.connect
    async def close_writers(_sender: Any, **_kwargs: Any) -> None:
        await durable.stop()
        await end_offsets.close()

    return app


def _master_consumer(settings: Settings) -> tuple[Any, dict[int, int]]:
    """A group-less reader of the whole master topic, and the end offset of each partition at start."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**confluent_config(settings), "group.id": f"{settings.topic_prefix}-master",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    topic = settings.topic("master")
    metadata = consumer.list_topics(topic, timeout=30)
    partitions = metadata.topics[topic].partitions
    ends = {}
    for partition in partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
        if high > low:
            ends[partition] = high
    consumer.assign([TopicPartition(topic, p, -2) for p in partitions])  # -2: from the beginning
    return consumer, ends


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Create the topics that are missing, then run one worker until stopped.

    Refused credentials, a failed TLS handshake or contradictory security settings stop it here, with
    the reason, before Faust starts (and would retry them forever).
    """
    if settings.kernel not in KERNELS:
        raise SystemExit(f"millstream worker: kernel must be one of {', '.join(map(repr, KERNELS))}, "
                         f"not {settings.kernel!r}")
    try:
        ensure_topics(settings)
        ensure_changelog(settings)
    except (KafkaAccessError, KafkaSecurityError) as exc:
        raise SystemExit(f"millstream worker: {exc}") from None
    app = create_app(settings)
    FullCollections.install(settings.gc_full_interval)
    worker = faust.Worker(app, loglevel=loglevel)
    worker.execute_from_commandline()
