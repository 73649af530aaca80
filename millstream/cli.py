"""The ``millstream`` command line."""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .forecast_command import add_forecast_parser

__all__ = ["main"]


def _format_rows(name: str, rows: list[dict[str, Any]], fmt: str) -> str:
    from tabulate import tabulate

    from schemas.codecs import encode_json

    if fmt == "json":
        return encode_json(rows).decode()
    if not rows:
        return f"== {name}: no rows"
    return f"== {name} ({len(rows)} rows)\n" + tabulate(rows, headers="keys", tablefmt="simple",
                                                        disable_numparse=True)


def cmd_replay(args: argparse.Namespace) -> int:
    from connectors.replay import replay
    from core.engine import Engine, EngineSettings
    from core.reports import REPORTS, report

    names = args.report or ["availability"]
    for name in names:
        if name not in REPORTS:
            print(f"millstream: unknown report {name!r}; choose from {', '.join(REPORTS)}", file=sys.stderr)
            return 2
    if args.format == "json" and len(names) != 1:
        print("millstream: --format json prints exactly one --report", file=sys.stderr)
        return 2
    engine = Engine(EngineSettings(allow_negative_stock=args.allow_negative_stock))
    if args.out:
        with open(args.out, "wb") as out:
            count = replay(args.events, engine, out, batch_size=args.batch)
    else:
        count = replay(args.events, engine, None, batch_size=args.batch)
    if args.format == "table":
        print(f"replayed {args.events}: {count} outputs" + (f" written to {args.out}" if args.out else ""))
    for name in names:
        print(_format_rows(name, report(engine, name), args.format))
    return 0


def cmd_whatif(args: argparse.Namespace) -> int:
    from connectors.replay import replay
    from core.engine import Engine
    from core.whatif import compare

    base = Engine()
    replay(args.base, base)
    changed = Engine()
    replay(args.base, changed)
    sink = io.BytesIO()
    replay(args.changes, changed, sink)
    rejected = [line for line in sink.getvalue().splitlines() if line.startswith(b'{"type":"rejected"')]
    rows = compare(base, changed)
    print(_format_rows("what the changes do", rows, args.format))
    for line in rejected:
        print("change rejected:", line.decode(), file=sys.stderr)
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    import msgspec

    from schemas.events import Envelope, InputEvent
    from schemas.outputs import OutputEvent

    targets: dict[str, Any] = {"input": InputEvent, "output": OutputEvent, "envelope": Envelope}
    schema = msgspec.json.schema(targets[args.kind])
    print(msgspec.json.format(msgspec.json.encode(schema), indent=2).decode())
    return 0


def cmd_kafka(args: argparse.Namespace) -> int:
    from . import broker

    return broker.main([args.action, *args.rest])


def cmd_publish(args: argparse.Namespace) -> int:
    """Check a JSON Lines or CSV file against the contract and send its valid events (docs/publish.md)."""
    from confluent_kafka import KafkaException

    from connectors.publisher import publish_file
    from streams.topics import ensure_topics

    from .settings import load_settings

    settings = load_settings(args.config)
    if str(args.events) != "-" and not args.events.is_file():
        print(f"millstream: no such file: {args.events}", file=sys.stderr)
        return 2
    try:
        ensure_topics(settings)
        result = publish_file(args.events, settings, fmt=args.format, envelopes=not args.no_envelopes,
                              progress=sys.stderr.isatty())
    except ValueError as exc:   # an unusable CSV header (CsvHeaderError) or envelope setting, before any send
        print(f"millstream: {args.events}: {exc}; nothing was sent", file=sys.stderr)
        return 2
    except KafkaException as exc:
        print(f"millstream: Kafka at {settings.bootstrap}: {exc}", file=sys.stderr)
        return 1
    packing = "one event per message" if args.no_envelopes else \
        f"envelopes of up to {settings.envelope_size} events of one site; master data one per message"
    print(f"sent {result.sent} events in {sum(result.messages.values())} messages to {settings.bootstrap} "
          f"({packing}); {len(result.invalid)} invalid, {len(result.failed)} not delivered")
    for topic in sorted(result.events):
        print(f"  {topic}: {result.events[topic]} events in {result.messages[topic]} messages")
    for title, rows in (("invalid, not sent", result.invalid), ("not delivered", result.failed)):
        if rows:
            print(f"{title}:")
            for number, reason in rows:
                print(f"  line {number}: {reason}")
    return 0 if not result.invalid and not result.failed else 1


def cmd_topics(args: argparse.Namespace) -> int:
    from streams.topics import ensure_topics, topic_specs

    from .settings import load_settings

    settings = load_settings(args.config)
    created = set(ensure_topics(settings))
    for spec in topic_specs(settings):
        print(f"{spec.name}: {'created' if spec.name in created else 'exists'}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    import urllib.error

    from monitoring import status

    from .settings import load_settings

    if not 0 <= args.top <= 100:
        print("millstream: --top must be from 0 to 100", file=sys.stderr)
        return 2
    settings = load_settings(args.config)
    url = args.url or f"http://127.0.0.1:{settings.web_port}"
    try:
        report = status.fetch(url, top=args.top, token=settings.api_token)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"millstream: no status from {url}: {exc}", file=sys.stderr)
        return 1
    if args.format == "json":
        from schemas.codecs import encode_json

        print(encode_json(report).decode())
    else:
        print(status.render(report, top=args.top))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from streams.app import run_worker

    from .settings import load_settings

    run_worker(load_settings(args.config), loglevel=args.loglevel)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import dataclasses
    import time

    from .live import run
    from .settings import load_settings

    settings = load_settings(args.config)
    prefix = args.prefix or f"demo{time.strftime('%Y%m%d%H%M%S')}"   # a clean set of topics per run
    settings = dataclasses.replace(settings, topic_prefix=prefix, data_dir=str(Path(settings.data_dir) / prefix))
    events = args.events
    if args.simulate is not None:   # a simulated factory instead of the bundled one (docs/simulate.md)
        from connectors.simulate import SimSpec, Simulation
        from connectors.simulate.output import write

        sites, items, days = args.simulate
        events = Path(settings.data_dir) / "simulated.jsonl"
        events.parent.mkdir(parents=True, exist_ok=True)
        with open(events, "wb") as out:
            write(Simulation(SimSpec(sites=sites, items=items, days=days)).lines(), out)
    return run(settings, events, seconds=args.seconds)


def _simulation(text: str) -> tuple[int, int, int]:
    """``SITES,ITEMS,DAYS`` of ``run --simulate``."""
    try:
        sites, items, days = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SITES,ITEMS,DAYS such as 3,600,14, got {text!r}") from None
    return sites, items, days


def cmd_subscribe(args: argparse.Namespace) -> int:
    from confluent_kafka import KafkaException

    from connectors.subscribe import subscribe

    from .settings import load_settings

    try:
        count = subscribe(load_settings(args.config), args.kind, as_json=args.json,
                          from_beginning=args.from_beginning, group=args.group, max_records=args.max_records,
                          idle_seconds=args.idle_seconds)
    except (LookupError, KafkaException) as exc:
        print(f"millstream: {exc}", file=sys.stderr)
        return 1
    print(f"{count} records", file=sys.stderr)
    return 0


def cmd_sink(args: argparse.Namespace) -> int:
    import sqlite3

    from confluent_kafka import KafkaException

    from connectors.sink import run_sink, table_counts
    from connectors.sink_store import POSTGRES, SQLITE, ddl, open_store

    from .settings import load_settings

    if args.print_ddl:
        print(ddl(POSTGRES if args.db else SQLITE), end="")
        return 0
    errors: tuple[type[BaseException], ...] = (OSError, sqlite3.Error, LookupError, KafkaException)
    if args.db:
        import psycopg

        errors += (psycopg.Error,)
    try:
        store = open_store(args.db, args.sqlite)
        try:
            report = run_sink(load_settings(args.config), store, group=args.group, max_records=args.max_records,
                              idle_seconds=args.idle_seconds)
            rows = ", ".join(f"{n} {table}" for table, n in table_counts(store).items())
        finally:
            store.close()
    except errors as exc:  # the batch under way was not committed: a restart reads it again
        print(f"millstream: sink stopped: {exc}", file=sys.stderr)
        return 1
    print(f"sink: {report.records} records in {report.batches} batches ({report.upserts} upserts, "
          f"{report.deletes} deletes, {report.rejected} rejected); rows now: {rows}", file=sys.stderr)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """A spreadsheet (CSV) as v1 events; with errors nothing is written unless --keep-going (docs/importers.md)."""
    import dataclasses

    from connectors.importers import ImportOptions, import_file, load_catalog, parse_as_of, write_events
    from connectors.importers.units import unit_key

    try:
        as_of = parse_as_of(args.as_of)
    except ValueError as exc:
        print(f"millstream: bad --as-of: {exc}", file=sys.stderr)
        return 2
    options = ImportOptions(as_of=as_of, site=args.site, date_format=args.date_format,
                            decimal_comma=args.decimal_comma, root=args.root,
                            extra_units=frozenset(unit_key(code) for code in args.unit or ()))
    if args.items is not None:
        catalog, checked = load_catalog(args.items, options, args.encoding)
        if checked.errors:
            print(f"millstream: {args.items}: {len(checked.errors)} errors, first {checked.errors[0]}; "
                  f"`millstream import items {args.items} --as-of ...` lists them", file=sys.stderr)
            return 1
        options = dataclasses.replace(options, catalog=catalog)
    result = import_file(args.kind, args.file, options, args.encoding)
    for line in [*result.notes, *map(str, result.errors)]:
        print(f"{args.file.name}: {line}", file=sys.stderr)
    written = not result.errors or args.keep_going
    if written and args.out is not None:
        with open(args.out, "wb") as out:
            write_events(result.events, out)
    elif written:
        write_events(result.events, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    where = f" to {args.out}" if args.out is not None else ""
    print(f"{args.file.name}: {result.rows} rows, {len(result.events)} events"
          + (f" written{where}" if written else ", nothing written") + f", {len(result.errors)} errors"
          + ("" if written or not result.events else " (--keep-going writes the valid events)"), file=sys.stderr)
    return 1 if result.errors else 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """A simulated hearing-device manufacturer as v1 events: to a file, stdout or Kafka (docs/simulate.md)."""
    import datetime as dt

    from connectors.simulate import SimSpec, Simulation
    from connectors.simulate.output import publish, write

    try:
        start = dt.date.fromisoformat(args.start)
    except ValueError:
        print(f"millstream: --start must be a date YYYY-MM-DD, got {args.start!r}", file=sys.stderr)
        return 2
    spec = SimSpec(sites=args.sites, items=args.items, depth=args.depth, days=args.days, seed=args.seed,
                   start=start, bad_rate=args.bad_rate)
    try:
        if args.rate < 0:
            raise ValueError("--rate must not be negative")
        simulation = Simulation(spec)
    except ValueError as exc:
        print(f"millstream: {exc}", file=sys.stderr)
        return 2
    if args.kafka:
        from .settings import load_settings

        settings = load_settings(args.config)
        report = publish(simulation.lines(), settings, args.rate)
        where = f"sent to {settings.bootstrap}: {report.sent}, not valid (never sent): {len(report.invalid)}"
    elif args.out is not None:
        with open(args.out, "wb") as out:
            write(simulation.lines(), out)
        where = f"written to {args.out}"
    else:
        write(simulation.lines(), sys.stdout.buffer)
        where = "written to stdout"
    counts = simulation.counts
    print(f"simulated {spec.sites} sites, {spec.items} items, {spec.days} days from {spec.start}: "
          f"{sum(counts.values())} events {where}; by type: "
          + ", ".join(f"{name} {n}" for name, n in sorted(counts.items())), file=sys.stderr)
    return 0


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="millstream", description=__doc__)
    parser.add_argument("--version", action="version", version=f"millstream {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    replay = sub.add_parser("replay", help="run an events file through the engine, no broker")
    replay.add_argument("events", type=Path)
    replay.add_argument("--out", type=Path, help="write every output event here (JSON Lines)")
    replay.add_argument("--report", action="append", help="report to print (repeatable)")
    replay.add_argument("--format", choices=["table", "json"], default="table")
    replay.add_argument("--batch", type=int, default=500, help="events per engine batch")
    replay.add_argument("--allow-negative-stock", action="store_true")
    replay.set_defaults(func=cmd_replay)

    add_forecast_parser(sub)   # millstream/forecast_command.py

    whatif = sub.add_parser("whatif", help="what changes would do to the plan, shortages and costs")
    whatif.add_argument("base", type=Path)
    whatif.add_argument("changes", type=Path)
    whatif.add_argument("--format", choices=["table", "json"], default="table")
    whatif.set_defaults(func=cmd_whatif)

    schema = sub.add_parser("schema", help="print the JSON Schema of the event contract")
    schema.add_argument("kind", nargs="?", choices=["input", "output", "envelope"], default="input")
    schema.set_defaults(func=cmd_schema)

    worker = sub.add_parser("worker", help="run a streaming worker (settings: docs/settings.md)")
    worker.add_argument("--config", type=Path, help="TOML settings file (else MILLSTREAM_CONFIG)")
    worker.add_argument("--loglevel", default="info")
    worker.set_defaults(func=cmd_worker)

    publish = sub.add_parser("publish", help="check a JSON Lines or CSV file against the contract and send its "
                             "valid events to the input topics (docs/publish.md)")
    publish.add_argument("events", type=Path,
                         help="JSON Lines, or CSV (a header row with a `type` column); - reads standard input")
    publish.add_argument("--format", choices=["jsonl", "csv"], help="default: csv for *.csv, else jsonl")
    publish.add_argument("--no-envelopes", action="store_true", help="one event per message")
    publish.add_argument("--config", type=Path, help="TOML settings file (else MILLSTREAM_CONFIG)")
    publish.set_defaults(func=cmd_publish)

    topics = sub.add_parser("topics", help="create the service's topics that are missing (settings: partitions, "
                            "replication, topic_prefix)")
    topics.add_argument("--config", type=Path, help="TOML settings file (else MILLSTREAM_CONFIG)")
    topics.set_defaults(func=cmd_topics)

    status = sub.add_parser("status", help="per site: open shortages, busiest items, lag (asks a running worker)")
    status.add_argument("--url", help="a worker's web address (default: http://127.0.0.1:<web_port>)")
    status.add_argument("--top", type=int, default=5, help="shortages and busiest items shown per site")
    status.add_argument("--format", choices=["table", "json"], default="table")
    status.add_argument("--config", type=Path, help="TOML settings file (else MILLSTREAM_CONFIG)")
    status.set_defaults(func=cmd_status)

    run = sub.add_parser("run", help="broker, topics, a worker, the sample factory, and its outputs live")
    run.add_argument("--events", type=Path, default=Path(__file__).resolve().parent / "samples" /
                     "hearing_devices.jsonl", help="JSON Lines to publish (default: the bundled factory)")
    run.add_argument("--simulate", type=_simulation, metavar="SITES,ITEMS,DAYS",
                     help="publish a simulated factory of this size instead (e.g. 3,600,14; docs/simulate.md)")
    run.add_argument("--seconds", type=float, help="stop after this long (default: until Ctrl-C)")
    run.add_argument("--prefix", help="topic prefix (default: a fresh one per run)")
    run.add_argument("--config", type=Path, help="TOML settings file (else MILLSTREAM_CONFIG)")
    run.set_defaults(func=cmd_run)

    subscribe = sub.add_parser("subscribe", help="print an output topic live: a table, or JSON Lines (--json)")
    subscribe.add_argument("kind", choices=["shortages", "planned-orders", "costs", "exceptions", "capacity",
                                            "rejected"])
    subscribe.add_argument("--json", action="store_true", help="each record's JSON value, one per line")
    start = subscribe.add_mutually_exclusive_group()
    start.add_argument("--from-beginning", action="store_true",
                       help="every record still on the topic, then live (no group, nothing committed)")
    start.add_argument("--group", help="consumer group to follow (default millstream-subscribe-<kind>; a new "
                       "group starts at the end)")
    subscribe.add_argument("--max-records", type=_positive(int), help="stop after this many records")
    subscribe.add_argument("--idle-seconds", type=_positive(float), help="stop when nothing came for this long")
    subscribe.add_argument("--config", type=Path, help="TOML settings file (else MILLSTREAM_CONFIG)")
    subscribe.set_defaults(func=cmd_subscribe)

    sink = sub.add_parser("sink", help="keep planned orders, open shortages and costs in PostgreSQL or SQLite "
                          "tables (docs/sinks.md)")
    target = sink.add_mutually_exclusive_group()
    target.add_argument("--db", help="PostgreSQL URL or connection string (postgresql://user@host:5432/db)")
    target.add_argument("--sqlite", type=Path, help="SQLite file used when no --db is given (millstream.sqlite)")
    sink.add_argument("--group", default="millstream-sink", help="consumer group (one per database)")
    sink.add_argument("--max-records", type=_positive(int), help="stop after this many records")
    sink.add_argument("--idle-seconds", type=_positive(float), help="stop when nothing came for this long")
    sink.add_argument("--print-ddl", action="store_true", help="print the tables' DDL for the database and exit")
    sink.add_argument("--config", type=Path, help="TOML settings file (else MILLSTREAM_CONFIG)")
    sink.set_defaults(func=cmd_sink)

    importer = sub.add_parser("import", help="turn a spreadsheet (CSV) into v1 events: items, bom, stock, "
                              "purchase-orders (docs/importers.md)")
    importer.add_argument("kind", choices=["items", "bom", "stock", "purchase-orders"])
    importer.add_argument("file", type=Path, help="CSV with a header row (comma, semicolon or tab)")
    importer.add_argument("--as-of", required=True, help="the events' ts: ISO time with a UTC offset, or a date "
                          "(midnight UTC)")
    importer.add_argument("--site", help="site of rows without one (items and BOMs: a site override)")
    importer.add_argument("--out", type=Path, help="write the events here (default: stdout)")
    importer.add_argument("--keep-going", action="store_true", help="write the valid events even if rows have errors")
    importer.add_argument("--items", type=Path, help="item master CSV to check items and units against")
    importer.add_argument("--root", help="bom: the assembly whose components the file lists from its top level")
    importer.add_argument("--date-format", help="strptime format of dates, e.g. %%d.%%m.%%Y (default YYYY-MM-DD)")
    importer.add_argument("--decimal-comma", action="store_true", help="numbers are written 1234,5")
    importer.add_argument("--unit", action="append", help="accept this unit code too (repeatable)")
    importer.add_argument("--encoding", default="utf-8-sig", help="text encoding of the file (e.g. cp1252)")
    importer.set_defaults(func=cmd_import)

    simulate = sub.add_parser("simulate", help="a simulated multi-site hearing-device manufacturer as v1 events "
                              "(docs/simulate.md)")
    simulate.add_argument("--sites", type=int, default=2, help="plants: DK1, US1, SG1, ... (default 2)")
    simulate.add_argument("--items", type=int, default=2000, help="items of the catalogue, at every plant (2000)")
    simulate.add_argument("--depth", type=int, default=4, help="BOM levels below the finished devices (4)")
    simulate.add_argument("--days", type=int, default=28, help="simulated calendar days (28)")
    simulate.add_argument("--seed", type=int, default=1, help="the same arguments and seed give the same bytes")
    simulate.add_argument("--start", default="2026-03-02", help="first simulated day, YYYY-MM-DD (2026-03-02)")
    simulate.add_argument("--rate", type=float, default=1000.0, help="events a second with --kafka (0: no limit)")
    simulate.add_argument("--bad-rate", type=float, default=0.0,
                          help="chance of a deliberately bad event after each event, for dead letters (0)")
    simulate_to = simulate.add_mutually_exclusive_group()
    simulate_to.add_argument("--out", type=Path, help="JSON Lines file to write (default: stdout)")
    simulate_to.add_argument("--kafka", action="store_true", help="publish to the input topics instead")
    simulate.add_argument("--config", type=Path, help="TOML settings file (else MILLSTREAM_CONFIG)")
    simulate.set_defaults(func=cmd_simulate)

    kafka = sub.add_parser("kafka", help="fetch, start, stop the local Apache Kafka broker")
    kafka.add_argument("action", choices=["fetch", "start", "stop", "status"])
    kafka.add_argument("rest", nargs=argparse.REMAINDER)
    kafka.set_defaults(func=cmd_kafka)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
