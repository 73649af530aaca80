"""What only the Faust worker can measure: rebalances, failed sends, consumer lag.

A Faust ``Sensor`` hears rebalances, and failed sends through Faust's topics,
without touching the agents (producers of the app's own report theirs with
``Metrics.produce_error``); a timer samples each assigned input partition's lag
(end offset - position), so the lag keeps growing on the dashboard even when
the agent is stuck and no batch reports anything.  The end offsets are asked of
the brokers (``EndOffsets``): the consumer's own highwater comes with fetch
responses, and back-pressure stops fetching a partition exactly when the worker
falls behind, so the lag would freeze then.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as KafkaTP

from .metrics import Metrics, TopicPartition

__all__ = ["LAG_INTERVAL", "EndOffsets", "MetricsSensor", "instrument_worker", "sample_lag", "store_size"]

log = logging.getLogger(__name__)

#: seconds between consumer lag samples (well under Prometheus' scrape interval)
LAG_INTERVAL = 5.0


class MetricsSensor(faust.Sensor):
    """Counts rebalances and their duration, and records the producer could not send, by topic."""

    def __init__(self, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metrics = metrics

    def on_rebalance_start(self, app: Any) -> dict[str, float]:
        self.metrics.rebalances.inc()
        return {"started": self.metrics.timer()}

    def on_rebalance_end(self, app: Any, state: dict[str, float]) -> None:
        self.metrics.rebalance_seconds.observe(self.metrics.timer() - state["started"])

    def on_send_initiated(self, producer: Any, topic: str, message: Any, keysize: int, valsize: int) -> Any:
        return {"topic": topic}

    def on_send_error(self, producer: Any, exc: BaseException, state: Any) -> None:
        self.metrics.produce_error(state.get("topic", "") if isinstance(state, dict) else "")


Ends = Callable[[list[Any]], Awaitable[Mapping[TopicPartition, int]]]


class EndOffsets:
    """End offsets of topic-partitions asked of the brokers (``read_committed``: the last stable offsets),
    by a client of its own, started at the first call."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = dict(config)
        self._client: AIOKafkaConsumer | None = None

    async def __call__(self, tps: list[Any]) -> dict[TopicPartition, int]:
        if self._client is None:
            client = AIOKafkaConsumer(**self.config, group_id=None, enable_auto_commit=False,
                                      isolation_level="read_committed")
            await client.start()
            self._client = client
        found = await self._client.end_offsets([KafkaTP(tp.topic, tp.partition) for tp in tps])
        return {(tp.topic, tp.partition): offset for tp, offset in found.items()}

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.stop()


async def sample_lag(consumer: Any, metrics: Metrics, topics: Iterable[str] | None = None,
                     ends: Ends | None = None) -> dict[TopicPartition, int]:
    """Lag of every assigned partition (of ``topics``, if given): its end offset minus the consumer's position.

    ``ends``: asks the brokers for the end offsets; without it the consumer's highwater from its last fetch.
    """
    wanted = set(topics) if topics is not None else None
    tps = [tp for tp in consumer.assignment() if wanted is None or tp.topic in wanted]
    known = await ends(tps) if ends is not None and tps else None
    lags: dict[TopicPartition, int] = {}
    for tp in tps:
        high = known.get((tp.topic, tp.partition)) if known is not None else consumer.highwater(tp)
        position = await consumer.position(tp)
        if high is None or high < 0 or position is None:
            continue   # nothing fetched yet: unknown, not zero
        lags[(tp.topic, tp.partition)] = max(high - position, 0)
    metrics.set_lag(lags)
    return lags


def store_size(store: Any) -> tuple[int, int]:
    """(keys, bytes) of a Faust table store: RocksDB's estimates per partition database, else its length.

    RocksDB counts keys only approximately (``estimate-num-keys``) but without
    reading them; bytes are the SST files plus the memtables.
    """
    dbs = getattr(store, "_dbs", None)
    if dbs is None:
        return len(store), 0
    keys = size = 0
    for db in list(dbs.values()):
        keys += db.property_int_value("rocksdb.estimate-num-keys") or 0
        size += (db.property_int_value("rocksdb.total-sst-files-size") or 0) + (
            db.property_int_value("rocksdb.cur-size-all-mem-tables") or 0)
    return keys, size


def instrument_worker(app: Any, metrics: Metrics, *, topics: Iterable[str], tables: Mapping[str, Any] | None = None,
                      interval: float = LAG_INTERVAL, ends: Ends | None = None) -> MetricsSensor:
    """Add the sensor and the lag timer to a Faust app (before it starts); report the tables' sizes.

    ``topics``: the inputs whose lag is sampled.  Changelog partitions are left
    out on purpose: a worker that writes its own changelog does not consume
    its active partitions after recovery, so their "lag" would only grow.
    """
    sensor = MetricsSensor(metrics)
    app.sensors.add(sensor)
    inputs = frozenset(topics)
    for name, table in (tables or {}).items():
        metrics.state_size_from(name, lambda table=table: store_size(table.data))

    @app.timer(interval)
    async def millstream_sample_lag() -> None:
        try:
            await sample_lag(app.consumer, metrics, inputs, ends)
        except Exception as exc:   # during a rebalance the consumer may not know its positions yet
            log.debug("consumer lag not sampled: %r", exc)

    return sensor
