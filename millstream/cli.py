"""The ``millstream`` command line."""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__

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
    from connectors.publisher import publish_lines
    from streams.topics import ensure_topics

    from .settings import load_settings

    settings = load_settings(args.config)
    ensure_topics(settings)
    result = publish_lines(args.events.read_bytes().splitlines(), settings)
    print(f"sent {result.sent} events to {settings.bootstrap}; {len(result.invalid)} invalid")
    for number, reason in result.invalid:
        print(f"  line {number}: {reason}")
    return 0 if not result.invalid else 1


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
    url = args.url or f"http://127.0.0.1:{load_settings(args.config).web_port}"
    try:
        report = status.fetch(url, top=args.top)
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
    return run(settings, args.events, seconds=args.seconds)


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

    publish = sub.add_parser("publish", help="validate a JSON Lines file and send it to the input topics")
    publish.add_argument("events", type=Path)
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
    run.add_argument("--seconds", type=float, help="stop after this long (default: until Ctrl-C)")
    run.add_argument("--prefix", help="topic prefix (default: a fresh one per run)")
    run.add_argument("--config", type=Path, help="TOML settings file (else MILLSTREAM_CONFIG)")
    run.set_defaults(func=cmd_run)

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
