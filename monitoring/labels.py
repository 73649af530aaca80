"""Bounded label values, and what the engine holds that metrics read at scrape time.

Labels name topics, event and output types, sites and partitions: sets fixed by
the deployment and the contract, never item, order or lot ids (one series per
id would grow without bound).  Reading the engine's waiting events and plans
happens once per scrape, not per batch, so the hot path pays nothing for it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from core.engine import source_topic
from schemas.events import InputEvent
from schemas.outputs import Rejected

__all__ = ["EVENT_TYPES", "INVALID", "event_class_type", "event_type", "output_type", "site_plans", "topic_of",
           "waiting_events", "waiting_labels", "waiting_totals"]

#: the type label of a message that did not decode into an event (malformed, unknown type, bad field)
INVALID = "invalid"
EVENT_TYPES = frozenset({cls.__struct_config__.tag for cls in InputEvent.__args__}) | {INVALID}

_TAGS: dict[type, str] = {}


def _tag(cls: type) -> str | None:
    tag = _TAGS.get(cls)
    if tag is None:
        config = getattr(cls, "__struct_config__", None)
        tag = config.tag if config is not None else getattr(cls, "tag", "")  # encoded outputs name their tag
        tag = tag if isinstance(tag, str) else ""
        _TAGS[cls] = tag
    return tag or None


def event_class_type(cls: type) -> str:
    """The ``type`` label of an event class; ``Rejected`` straight from the decoder holds no event: ``invalid``."""
    tag = _tag(cls)
    return tag if tag in EVENT_TYPES else INVALID


def event_type(event: Any) -> str:
    """The ``type`` label of an input event, or of the event inside a ``Rejected``; undecodable: ``invalid``."""
    if isinstance(event, Rejected):
        event = event.event
    return event_class_type(type(event))


def output_type(cls: type) -> str:
    """The ``type`` label of an output class."""
    return _tag(cls) or cls.__name__.lower()


#: the topic of a record source ``topic[partition]@offset``; the engine counts waiting events by the same
topic_of = source_topic


def waiting_events(engine: Any) -> Iterator[tuple[str, Any, str | None]]:
    """(reason, event, source) of every event the engine holds back: ``watermark`` (the event-time merge
    waits for the other inputs) or ``reference`` (parked until its order or item arrives)."""
    for heap in getattr(engine, "_held", {}).values():
        for entry in heap:
            held = entry[-1]
            yield "watermark", held.event, held.source
    for parked in getattr(engine, "_parked", {}).values():
        for waiting in parked:
            yield "reference", waiting.event, waiting.source


def waiting_labels(engine: Any) -> Counter[tuple[str, str]]:
    """What ``waiting_events`` holds, counted per (topic, type label).

    A backlog can hold hundreds of thousands of events waiting for the
    watermark: the engine keeps their count per origin and class
    (``Engine.held_by``), so a scrape labels a few dozen pairs instead of
    walking them (a third of a second per 300,000, on the event loop).  The
    events parked for a reference are few and are walked.
    """
    labels: Counter[tuple[str, str]] = Counter()
    held_by = getattr(engine, "held_by", None)
    if held_by is not None:
        for (origin, cls), count in held_by().items():
            labels[(origin, event_class_type(cls))] += count
    for queue in getattr(engine, "_parked", {}).values():
        for parked in queue:
            labels[(topic_of(parked.source), event_type(parked.event))] += 1
    return labels


def waiting_totals(engine: Any) -> dict[str, int]:
    """How many events wait, per reason (``waiting_events``'): ``watermark`` and ``reference``."""
    return {"watermark": engine.held(),
            "reference": sum(len(queue) for queue in getattr(engine, "_parked", {}).values())}


def site_plans(engine: Any) -> dict[str, tuple[int, int, int]]:
    """Per site: (open shortages, planned orders, overloaded work-center days) as the planner last published them."""
    planner = getattr(engine, "planner", None)
    if planner is None:
        return {}
    return {site: (sum(len(open_) for open_ in plan.shortages.values()),
                   sum(node.planned_count() for node in plan.nodes.values()),
                   len(book.overloads) if (book := planner.capacity.get(site)) is not None else 0)
            for site, plan in planner.plans.items()}
