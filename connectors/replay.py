"""Embedded replay: a JSON Lines file through the engine, no broker.

The replay feeds the file in fixed-size batches, exactly as the service feeds
the engine from Kafka, so both give the same results for the same events.
Every line that is not a valid event becomes a ``rejected`` output naming its
line number; processing goes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from core.engine import Engine
from schemas.codecs import decode_message, encode_json

__all__ = ["DEFAULT_BATCH", "read_events", "replay"]

DEFAULT_BATCH = 500


def read_events(lines: Iterable[bytes], name: str = "input") -> Iterator[tuple[Any, str]]:
    """(event or ``Rejected``, source) pairs from JSON Lines; blank lines are skipped."""
    for number, line in enumerate(lines, start=1):
        if line.strip():
            source = f"{name}:{number}"
            for event in decode_message(line.rstrip(b"\r\n"), source=source):
                yield event, source


def _batches(pairs: Iterator[tuple[Any, str]], size: int) -> Iterator[tuple[list[Any], list[str]]]:
    events: list[Any] = []
    sources: list[str] = []
    for event, source in pairs:
        events.append(event)
        sources.append(source)
        if len(events) >= size:
            yield events, sources
            events, sources = [], []
    if events:
        yield events, sources


def replay(path: Path | str, engine: Engine, out: IO[bytes] | None = None,
           batch_size: int = DEFAULT_BATCH) -> int:
    """Run a file through ``engine``; write each output as a JSON line. Returns the output count."""
    path = Path(path)
    count = 0
    with path.open("rb") as handle:
        for events, sources in _batches(read_events(handle, path.name), batch_size):
            count += _write(engine.apply(events, sources), out)
    count += _write(engine.finish(), out)
    return count


def _write(outputs: list[Any], out: IO[bytes] | None) -> int:
    if out is not None:
        for output in outputs:
            out.write(encode_json(output))
            out.write(b"\n")
    return len(outputs)
