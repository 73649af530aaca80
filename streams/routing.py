"""Which worker holds a site, and asking that worker.

Engine state is keyed by site and lives with the worker assigned the site's
partition of the input topics.  Faust's assignor gives the five site topics
(same partition count, same subscribers) co-partitioned, so one partition
number names one owner.  The partition is the Java client's murmur2 hash of
the site key: Faust's producer uses it, and the publisher asks librdkafka for
the same (``murmur2_random``), so a query finds the worker the events went to.
The owner's URL comes from the assignment every member receives
(``app.router.external_topics_metadata``), as Faust's own ``route_topic_req``
does; that helper needs producer metadata for the topic, so this reads the
distribution directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
from confluent_kafka import murmur2
from yarl import URL

__all__ = ["ROUTED_HEADER", "WORKER_HEADER", "SiteRouter", "owner_url", "site_partition"]

#: set on a request one worker forwards to another: answer it locally, never forward it again
ROUTED_HEADER = "X-Millstream-Routed"
#: on every answer: the canonical URL of the worker whose engine answered
WORKER_HEADER = "X-Millstream-Worker"
FORWARD_TIMEOUT = aiohttp.ClientTimeout(total=10)

Distribution = Mapping[str, Mapping[str, Sequence[int]]]   # worker url -> topic -> partitions


def site_partition(site: str, partitions: int) -> int:
    """The partition of a site key, as the Java client's default partitioner computes it."""
    return murmur2(site.encode(), partitions)   # librdkafka's, the Java client's (positive) hash modulo


def owner_url(site: str, topic: str, distribution: Distribution, partitions: int | None = None) -> str | None:
    """URL of the worker assigned the site's partition of ``topic``; None while nobody is."""
    if partitions is None:
        seen = [p for topics in distribution.values() for p in topics.get(topic, ())]
        if not seen:
            return None
        partitions = max(seen) + 1
    partition = site_partition(site, partitions)
    for url, topics in distribution.items():
        if partition in topics.get(topic, ()):
            return url
    return None


def _ident(url: str | URL) -> tuple[str, int]:
    url = URL(str(url))
    return (url.host or "", url.port or 80)


class SiteRouter:
    """Ownership of sites by this worker and its peers, from the current assignment."""

    def __init__(self, app: Any, topic: str, token: str = "") -> None:
        self.app = app
        self.topic = topic   # any one of the co-partitioned input topics
        # the workers share ``api_token``: a forwarded request shows it to the peer like any client
        self._headers = {ROUTED_HEADER: "1", **({"Authorization": f"Bearer {token}"} if token else {})}

    @property
    def url(self) -> str:
        return str(self.app.conf.canonical_url)

    def _distribution(self) -> Distribution:
        try:
            return self.app.router.external_topics_metadata()
        except (AttributeError, KeyError):   # no assignment received yet
            return {}

    def _partitions(self) -> int | None:
        try:
            return self.app.consumer.topic_partitions(self.topic) or None
        except Exception:   # consumer not started: count the assigned partitions instead
            return None

    def assigned(self) -> bool:
        return any(topics.get(self.topic) for topics in self._distribution().values())

    def owner(self, site: str) -> str | None:
        return owner_url(site, self.topic, self._distribution(), self._partitions())

    def is_self(self, url: str) -> bool:
        return _ident(url) == _ident(self.url)

    def owns(self, site: str) -> bool:
        owner = self.owner(site)
        return owner is not None and self.is_self(owner)

    def peers(self) -> list[str]:
        """The other workers of the group."""
        return sorted(url for url in self._distribution() if not self.is_self(url))

    async def forward(self, url: str, raw_path: str,
                      timeout: aiohttp.ClientTimeout | None = None) -> tuple[int, bytes, str]:
        """GET ``raw_path`` (path and query, still encoded) from another worker: status, body, who answered."""
        target = URL(str(URL(url).origin()) + raw_path, encoded=True)
        async with self.app.http_client.get(target, headers=self._headers,
                                            timeout=timeout or FORWARD_TIMEOUT) as response:
            body = await response.read()
            return response.status, body, response.headers.get(WORKER_HEADER, url)
