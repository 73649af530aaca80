"""Where the simulated events go: a JSON Lines stream, or the input topics at a steady rate.

Kafka goes through ``connectors.publisher.publish_lines`` (routing, keys, the producer settings and the
contract check stay in one place); the simulator only paces the lines it hands over.  Pacing uses the
wall clock, the events' timestamps never do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from connectors.publisher import PublishReport
    from millstream.settings import Settings

__all__ = ["paced", "publish", "write"]


def write(lines: Iterable[bytes], out: IO[bytes]) -> int:
    """Write every line; returns how many."""
    count = 0
    for line in lines:
        out.write(line)
        count += 1
    out.flush()
    return count


def paced(lines: Iterable[bytes], rate: float, clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep) -> Iterator[bytes]:
    """The lines at ``rate`` a second (0: as fast as they come); a slow consumer is not made up for twice."""
    if rate <= 0:
        yield from lines
        return
    interval = 1.0 / rate
    due = clock()
    for line in lines:
        wait = due - clock()
        if wait > 0:
            sleep(wait)
        else:
            due -= wait if wait < -1.0 else 0.0   # more than a second behind: start counting from now
        due += interval
        yield line


def publish(lines: Iterable[bytes], settings: Settings, rate: float) -> PublishReport:
    """Create the missing topics, then send the lines at ``rate`` events a second; the publisher's report."""
    from connectors.publisher import publish_lines
    from streams.topics import ensure_topics

    ensure_topics(settings)
    return publish_lines(paced(lines, rate), settings)
