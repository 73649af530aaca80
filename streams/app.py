"""The Faust worker: site-keyed topics in, engine batches, outputs out.

Thin on purpose.  One agent reads every site-keyed input topic in batches
(``take_events``: Faust's per-message cost is paid once per batch of engine
work, not once per event), hands the records to the transport-free
``Processor`` and sends what it returns.  Master data must reach every worker
whatever partitions it owns, so each worker reads the whole master topic with
its own group-less consumer and feeds it to the same engine, on the same event
loop.

Durable state in tables, restore on assignment and exactly-once delivery are
the next steps of the service issue; this worker is at-least-once and keeps
its engine in memory.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

from core.engine import Engine, EngineSettings
from millstream.settings import Settings

from .processor import InRecord, Processor
from .topics import ensure_topics
from .web import register_views

__all__ = ["create_app"]

log = logging.getLogger(__name__)

SITE_TOPICS = ("inventory", "production", "purchase", "demand", "transfers")
#: how long a batch waits for more events before the engine runs (seconds)
BATCH_WITHIN = 0.05


def create_app(settings: Settings) -> faust.App:
    app = faust.App(
        f"{settings.topic_prefix}-worker",
        broker=f"kafka://{settings.bootstrap}",
        value_serializer="raw",
        key_serializer="raw",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        topic_allow_declare=False,  # ensure_topics creates them with the right settings
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        web_host="127.0.0.1",
        web_bind="127.0.0.1",
        web_port=settings.web_port,
        datadir=settings.data_dir,
    )
    engine = Engine(EngineSettings(local_transfers=False, allow_negative_stock=settings.allow_negative_stock))
    processor = Processor(engine, settings)
    register_views(app, engine, settings)  # the HTTP query API (streams/web.py)
    inputs = app.topic(*(settings.topic(name) for name in SITE_TOPICS), value_type=bytes, key_type=bytes)
    out_topics: dict[str, Any] = {}

    async def send(records: list[Any]) -> None:
        for record in records:
            topic = out_topics.get(record.topic)
            if topic is None:
                topic = out_topics[record.topic] = app.topic(record.topic, value_type=bytes, key_type=bytes)
            await topic.send(key=record.key, value=record.value)

    master_ready = asyncio.Event()

    @app.agent(inputs)
    async def apply_site_events(stream: faust.StreamT) -> None:
        await master_ready.wait()  # items and BOMs first: site events must not wait for them in event time
        async for batch in stream.take_events(settings.batch_size, within=BATCH_WITHIN):
            records = [InRecord(e.message.topic, e.message.partition, e.message.offset, e.value or b"")
                       for e in batch]
            await send(processor.process(records))

    @app.task
    async def follow_master() -> None:
        """Every worker holds all master data: read the master topic whole, from the beginning."""
        consumer, ends = _master_consumer(settings)
        loop = asyncio.get_running_loop()
        try:
            while True:
                messages = await loop.run_in_executor(None, consumer.consume, 500, 0.2)
                records = [InRecord(m.topic(), m.partition(), m.offset(), m.value() or b"")
                           for m in messages if m.error() is None]
                if records:
                    await send(processor.process(records))
                    for record in records:
                        if ends.get(record.partition, -1) <= record.offset + 1:
                            ends.pop(record.partition, None)
                if not ends and not master_ready.is_set():
                    log.info("master data read up to where it stood at start: site events flow")
                    master_ready.set()
        finally:
            consumer.close()

    return app


def _master_consumer(settings: Settings) -> tuple[Any, dict[int, int]]:
    """A group-less reader of the whole master topic, and the end offset of each partition at start."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": settings.bootstrap, "group.id": f"{settings.topic_prefix}-master",
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
    """Create the topics that are missing, then run one worker until stopped."""
    ensure_topics(settings)
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=loglevel)
    worker.execute_from_commandline()
