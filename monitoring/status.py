"""``millstream status``: per site the open shortages, the busiest items and the lag, at a glance.

For people who would rather look than read dashboards.  A worker's ``/status``
view (``streams/web.py``) answers for the sites it owns and asks its peers; the
command asks one worker for that, then each site's ``/sites/{site}/shortages``,
and prints a plain-text summary.  Everything shown comes from the workers' HTTP
API, so the command needs no Kafka client and sees what users of the API see.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection
from typing import Any

from .metrics import Metrics

__all__ = ["fetch", "local_status", "render"]

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))   # workers are never behind a proxy


def local_status(metrics: Metrics | None, worker: str, sites: Collection[str], partition_of: Callable[[str], int],
                 site_topics: Collection[str], top: int) -> dict[str, Any]:
    """One worker's answer: its sites (open shortages, planned orders, lag of the site's partition, busiest
    items by outputs) and its totals.  Without metrics only what the engine knows is filled in."""
    lags = metrics.lags() if metrics is not None else {}
    plans = metrics.site_plans() if metrics is not None else {}
    rows = []
    for site in sorted(sites):
        partition = partition_of(site)
        busiest = metrics.busiest(site, top) if metrics is not None else []
        open_shortages, planned, overloads = plans.get(site, (0, 0, 0))
        rows.append({
            "site": site, "worker": worker, "open_shortages": open_shortages, "planned_orders": planned,
            "overloaded_work_center_days": overloads,
            "partition": partition,
            "lag": sum(n for (topic, p), n in lags.items() if p == partition and topic in site_topics),
            "busiest_items": [{"item": item, "outputs": n} for item, n in busiest],
        })
    events: dict[str, Any] = {}
    if metrics is not None:
        events = {"consumed": sum(metrics.consumed_counts().values()),
                  "applied": sum(metrics.applied_counts().values()),
                  "rejected": sum(metrics.rejected_counts.values()), "waiting": metrics.waiting()}
    return {"workers": [{"worker": worker, "lag": sum(lags.values()), "events": events}], "sites": rows}


def merge(local: dict[str, Any], others: list[dict[str, Any]]) -> dict[str, Any]:
    """The union of workers' answers; a site reported twice (mid-rebalance) keeps the first."""
    workers = list(local["workers"])
    sites = {row["site"]: row for row in local["sites"]}
    for other in others:
        workers.extend(other.get("workers", []))
        for row in other.get("sites", []):
            sites.setdefault(row["site"], row)
    return {"workers": workers, "sites": [sites[name] for name in sorted(sites)]}


# --- the command -------------------------------------------------------------------------------


def _get(url: str, timeout: float, token: str = "") -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with _OPENER.open(request, timeout=timeout) as response:
        return json.loads(response.read())


def fetch(base: str, top: int = 5, timeout: float = 15.0, token: str = "") -> dict[str, Any]:
    """``/status`` of the worker at ``base`` and every site's open shortages (``shortages`` per site row).

    ``token``: the workers' ``api_token`` when they require one (docs/security.md).
    """
    base = base.rstrip("/")
    status = _get(f"{base}/status?top={top}", timeout, token)
    for row in status["sites"]:
        try:
            answer = _get(f"{base}/sites/{urllib.parse.quote(row['site'], safe='')}/shortages", timeout, token)
            row["shortages"] = answer.get("shortages", [])
        except (urllib.error.URLError, OSError, ValueError) as exc:
            row["shortages_error"] = str(exc)
    return status


def _text(value: Any) -> str:
    """Ids come from event producers: never let one move the cursor or clear the terminal."""
    return "".join(c if c.isprintable() else "?" for c in str(value))


def render(status: dict[str, Any], top: int = 5) -> str:
    lines = []
    for worker in status["workers"]:
        if worker.get("error"):
            lines.append(f"worker {_text(worker['worker'])}: NOT ANSWERING ({_text(worker['error'])})")
            continue
        events = worker.get("events") or {}
        waiting = sum((events.get("waiting") or {}).values())
        counts = (f"; events consumed {events['consumed']}, applied {events['applied']}, "
                  f"rejected {events['rejected']}, waiting {waiting}") if events else ""
        lines.append(f"worker {_text(worker['worker'])}: lag {worker.get('lag', 0)}{counts}")
    if not status["sites"]:
        lines.append("no sites yet")
    for row in status["sites"]:
        lines.append("")
        lines.append(f"site {_text(row['site'])} (partition {row['partition']}, worker {_text(row['worker'])}): "
                     f"{row['open_shortages']} open shortages, {row['planned_orders']} planned orders, "
                     f"{row.get('overloaded_work_center_days', 0)} overloaded work-center days, lag {row['lag']}")
        shortages = row.get("shortages") or []
        for shortage in shortages[:top]:
            lines.append(f"  short  {_text(shortage['item'])}  {shortage['qty']} on {_text(shortage['date'])}")
        if len(shortages) > top:
            lines.append(f"  ... and {len(shortages) - top} more")
        if row.get("shortages_error"):
            lines.append(f"  shortages unavailable: {_text(row['shortages_error'])}")
        busiest = ", ".join(f"{_text(b['item'])} ({b['outputs']})" for b in row["busiest_items"])
        if busiest:
            lines.append(f"  busiest (outputs): {busiest}")
    return "\n".join(lines)
