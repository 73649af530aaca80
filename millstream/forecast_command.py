"""``millstream forecast``: forecasts from the issue history, as demand events (docs/inventory-control.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_forecast_parser", "cmd_forecast"]


def cmd_forecast(args: argparse.Namespace) -> int:
    """Forecasts per site and item from a replay file or the service, as demand events (docs/inventory-control.md)."""
    import urllib.error

    from connectors.forecast import answers_from_file, answers_from_service, events_of, write_events

    from .cli import _format_rows
    from .settings import control_settings, load_settings

    if (args.events is None) == (args.url is None):
        print("millstream: give either an events file or --url of a worker", file=sys.stderr)
        return 2
    settings = load_settings(args.config)
    try:
        control = control_settings(settings)
        if args.events is not None:
            if not args.events.is_file():
                raise LookupError(f"no such file: {args.events}")
            answers = answers_from_file(args.events, control, args.site)
        else:
            answers = answers_from_service(args.url, args.site, token=settings.api_token)
    except (ValueError, LookupError) as exc:
        print(f"millstream: {exc}", file=sys.stderr)
        return 2
    except (urllib.error.URLError, OSError) as exc:
        print(f"millstream: no forecast from {args.url}: {exc}", file=sys.stderr)
        return 1
    events, notes = events_of(answers, include_short=args.include_short_history)
    if args.format == "json":
        print(_format_rows("forecast", answers, "json"))
    else:
        rows = [{"site": answer["site"], "item": row["item"], "method": row["method"], "weeks": row["weeks"],
                 "holdout_weeks": row["holdout_weeks"], "rmse": row["rmse"], "mae": row["mae"],
                 "mase": row["mase"],
                 "this_week": row["forecast"][0]["qty"],
                 "horizon_total": round(sum(w["qty"] for w in row["forecast"]), 3)}
                for answer in answers for row in answer["items"]]
        print(_format_rows("forecast", rows, "table"))
    for note in notes:
        print(f"  {note}", file=sys.stderr)
    if args.out is not None:
        with open(args.out, "wb") as out:
            write_events(events, out)
    cancelled = sum(1 for e in events if e.status == "cancelled")
    summary = f"{len(events)} demand events ({len(events) - cancelled} open, {cancelled} cancelled)"
    if args.publish:
        from confluent_kafka import KafkaException

        from connectors.publisher import publish_records
        from streams.topics import ensure_topics

        try:
            ensure_topics(settings)
            report = publish_records(enumerate(events, 1), settings)
        except KafkaException as exc:
            print(f"millstream: Kafka at {settings.bootstrap}: {exc}", file=sys.stderr)
            return 1
        print(f"{summary}: {report.sent} sent to {settings.bootstrap}, {len(report.invalid)} invalid, "
              f"{len(report.failed)} not delivered", file=sys.stderr)
        return 0 if not report.invalid and not report.failed else 1
    print(f"{summary}" + (f" written to {args.out}" if args.out is not None else " (--out FILE or --publish sends "
                                                                                  "them)"), file=sys.stderr)
    return 0


def add_forecast_parser(sub: Any) -> None:
    """The ``forecast`` subcommand of the ``millstream`` parser."""
    forecast = sub.add_parser("forecast", help="forecast each item's demand from its issue history (a replay file "
                              "or the service) as demand events of kind forecast (docs/inventory-control.md)")
    forecast.add_argument("events", type=Path, nargs="?", help="JSON Lines to replay and forecast from")
    forecast.add_argument("--url", help="ask this worker instead (http://127.0.0.1:6066): the service's history")
    forecast.add_argument("--site", action="append", help="only this site (repeatable)")
    forecast.add_argument("--out", type=Path, help="write the demand events here (JSON Lines)")
    forecast.add_argument("--publish", action="store_true", help="send the demand events to the input topics")
    forecast.add_argument("--include-short-history", action="store_true",
                          help="also send the mean of items with too little history for a holdout")
    forecast.add_argument("--format", choices=["table", "json"], default="table",
                          help="json: each site's full answer (methods, errors, weekly forecasts)")
    forecast.add_argument("--config", type=Path, help="TOML settings file (else MILLSTREAM_CONFIG)")
    forecast.set_defaults(func=cmd_forecast)

