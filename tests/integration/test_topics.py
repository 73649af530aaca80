"""The app creates the topics it needs on the real broker, with the right partitions and compaction."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from millstream.settings import Settings
from streams.topics import ensure_topics, topic_specs

pytestmark = pytest.mark.integration


def test_missing_topics_are_created_once_with_their_settings(bootstrap: str) -> None:
    settings = Settings(bootstrap=bootstrap, partitions=3, topic_prefix=f"t{uuid.uuid4().hex[:8]}")
    expected = sorted(spec.name for spec in topic_specs(settings))
    assert ensure_topics(settings) == expected
    assert ensure_topics(settings) == []  # idempotent: nothing left to create

    admin = AdminClient({"bootstrap.servers": bootstrap})
    metadata = admin.list_topics(timeout=30).topics
    assert all(len(metadata[name].partitions) == 3 for name in expected)
    resources = [ConfigResource(ConfigResource.Type.TOPIC, settings.topic(t)) for t in ("costs", "inventory")]
    configs = {r.name: f.result(30) for r, f in admin.describe_configs(resources).items()}
    assert configs[settings.topic("costs")]["cleanup.policy"].value == "compact"
    assert configs[settings.topic("inventory")]["cleanup.policy"].value == "delete"
