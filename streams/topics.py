"""The service's topics: names, partitioning, compaction, and creating what is missing.

Inputs are keyed by site, so one site's events stay in one partition and in
order.  Outputs are keyed by what they describe (a planned order, a shortage,
an item's cost) and compacted, so a consumer that starts late still finds the
latest state of every key.
"""

from __future__ import annotations

from dataclasses import dataclass

from millstream.kafka_security import connect_admin
from millstream.settings import Settings

__all__ = ["INPUTS", "OUTPUTS", "TopicSpec", "ensure_topics", "topic_specs"]

#: input topic -> what it carries
INPUTS = {
    "master": "items, BOMs and work centers (compacted; every worker reads all of it)",
    "inventory": "scans: receipt, issue, transfer_shipped, transfer_received, count, quality, scrap",
    "production": "production_order, material_issue, operation_report, output",
    "purchase": "purchase_order",
    "demand": "demand",
    "transfers": "internal: shipments announced to the receiving site, keyed by that site",
}
#: output topic -> what it carries
OUTPUTS = {
    "planned-orders": "planned_order upserts and deletes, keyed site|planned_id",
    "shortages": "shortage open/resolved, keyed by shortage_id",
    "exceptions": "expedite/defer/cancel/past_due messages, keyed by exception_id",
    "costs": "cost (keyed site|item) and order_cost (keyed site|order:id)",
    "capacity": "capacity_overload open/resolved, keyed by overload_id (site|work_center|date)",
    "rejected": "dead letters: reason, topic, partition, offset, original bytes",
}
#: event type -> input topic (short name): publishers route by this
TOPIC_OF_TYPE = {
    "item": "master", "bom": "master", "work_center": "master",
    "receipt": "inventory", "issue": "inventory", "transfer_shipped": "inventory",
    "transfer_received": "inventory", "count": "inventory", "quality": "inventory", "scrap": "inventory",
    "production_order": "production", "material_issue": "production", "operation_report": "production",
    "output": "production",
    "purchase_order": "purchase",
    "demand": "demand",
    "transfer_in_transit": "transfers",
}
_COMPACTED = {"master", "planned-orders", "shortages", "exceptions", "costs", "capacity"}


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    replication: int
    config: dict[str, str]


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """Every topic the service needs, with partition counts from the settings."""
    specs = []
    for short in [*INPUTS, *OUTPUTS]:
        config = {"cleanup.policy": "compact"} if short in _COMPACTED else {}
        if settings.replication > 1:
            config["min.insync.replicas"] = str(min(2, settings.replication))
        specs.append(TopicSpec(settings.topic(short), settings.partitions, settings.replication, config))
    return specs


def ensure_topics(settings: Settings, timeout: float = 30.0) -> list[str]:
    """Create the topics that do not exist yet; returns the names created.

    Existing topics are left alone: partition counts are fixed once data is
    keyed by site, and changing them is an operator's decision.
    """
    from confluent_kafka.admin import NewTopic

    admin, metadata = connect_admin(settings, timeout)   # a refused login or TLS failure is said by name
    existing = set(metadata.topics)
    missing = [spec for spec in topic_specs(settings) if spec.name not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [NewTopic(s.name, num_partitions=s.partitions, replication_factor=s.replication, config=s.config)
         for s in missing], operation_timeout=timeout)
    created = []
    for name, future in futures.items():
        try:
            future.result(timeout)
            created.append(name)
        except Exception as exc:  # a concurrent creator may have won the race
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    return sorted(created)
