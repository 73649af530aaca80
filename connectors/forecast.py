"""``millstream forecast``: forecasts from a replay file or from the running service, as demand events.

Either way the per-site forecast answer is the one the query API serves
(``core.control.answers``): from a file it is computed by an embedded engine
after a replay; from the service each site's ``/sites/{site}/forecast`` is
asked (the sites from ``/status``).  The answer goes through JSON in both
cases, and ``core.control.publish`` turns it into ``demand`` events of kind
``forecast``, so the same history gives the same events whichever way it was
read.  The events are written as JSON Lines or sent to the input topics.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from core.control import ControlSettings
from core.control.answers import forecast_answer, forecast_inputs
from core.control.publish import forecast_events
from schemas import events as ev
from schemas.codecs import encode_json

__all__ = ["answers_from_file", "answers_from_service", "events_of", "write_events"]

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))   # workers are never behind a proxy


def _as_sent(answer: Any) -> dict[str, Any]:
    """The answer as the query API sends it (numbers as JSON numbers)."""
    return json.loads(encode_json(answer))


def answers_from_file(events: Path, settings: ControlSettings, sites: Iterable[str] | None = None,
                      batch_size: int = 500) -> list[dict[str, Any]]:
    """Replay ``events`` through an embedded engine and forecast each site (or the named ones)."""
    from core.engine import Engine

    from .replay import replay

    engine = Engine()
    replay(events, engine, None, batch_size=batch_size)
    names = sorted(engine.sites) if sites is None else list(sites)
    missing = [name for name in names if name not in engine.sites]
    if missing:
        raise LookupError(f"no events of site {missing[0]!r} in {events}")
    return [_as_sent(forecast_answer(forecast_inputs(engine.sites[name]), settings)) for name in names]


def _get(url: str, timeout: float, token: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with _OPENER.open(request, timeout=timeout) as response:
        return json.loads(response.read())


def answers_from_service(base: str, sites: Iterable[str] | None = None, token: str = "",
                         timeout: float = 600.0) -> list[dict[str, Any]]:
    """Ask a worker for each site's forecast (every site of the service unless named).

    The forecast horizon and season are the workers' settings.
    """
    base = base.rstrip("/")
    names = list(sites) if sites is not None else [row["site"] for row in _get(f"{base}/status?top=0", 30, token)
                                                   ["sites"]]
    return [_get(f"{base}/sites/{urllib.parse.quote(name, safe='')}/forecast", timeout, token) for name in names]


def events_of(answers: Iterable[dict[str, Any]], include_short: bool = False) -> tuple[list[ev.Demand], list[str]]:
    """The demand events of every site's answer, and notes on what was left out."""
    events: list[ev.Demand] = []
    notes: list[str] = []
    for answer in answers:
        found, said = forecast_events(answer, include_short)
        events.extend(found)
        notes.extend(said)
    return events, notes


def write_events(events: Iterable[ev.Demand], out: IO[bytes]) -> None:
    for event in events:
        out.write(encode_json(event) + b"\n")
