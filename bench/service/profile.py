"""Where a profiled worker spent its samples: py-spy's collapsed stacks summed by layer and by function.

``python -m bench.service.profile FILE [--top 25]``.  A sample is charged to the *innermost* layer its
stack passes through, in the order of ``LAYERS`` (so planning inside the engine counts as planning, and a
transaction commit inside the durable layer as the producer); a sample whose innermost frame is the event
loop's ``select`` is idle.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

__all__ = ["LAYERS", "summarise"]

#: (layer, substrings of a frame that mark it), innermost first
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("netting kernel (ItemNode)", ("_netting", "ItemNode")),
    ("planner (core/planning.py)", ("core/planning.py",)),
    ("costing (core/costing.py)", ("core/costing.py",)),
    ("ledger (core/site.py, stock, orders)", ("core/site.py", "core/stock.py", "core/orders.py", "core/quality.py")),
    ("engine dispatch (core/engine.py)", ("core/engine.py",)),
    ("state rows (core/persist.py)", ("core/persist.py",)),
    ("decode (schemas/codecs.py)", ("schemas/codecs.py",)),
    ("metrics (monitoring/)", ("monitoring/",)),
    ("processor (streams/processor.py)", ("streams/processor.py",)),
    ("local store (rocksdict, streams/changelog.py)", ("streams/changelog.py", "faust/stores")),
    ("transactions and sends (aiokafka producer, streams/batches.py)",
     ("aiokafka/producer", "send_offsets_to_transaction", "streams/batches.py")),
    ("durable layer (streams/durable.py)", ("streams/durable.py",)),
    ("aiokafka consumer and fetcher", ("aiokafka/consumer",)),
    ("faust (streams, conductor, consumer)", ("faust/",)),
    ("asyncio and mode", ("asyncio/", "mode/")),
)


IDLE = "idle (the event loop waiting in select)"


def _layer(stack: str) -> str:
    leaf = stack.rsplit(";", 1)[-1]
    if leaf.startswith(("select (", "poll (", "epoll")) or "selectors.py" in leaf:
        return IDLE
    for name, marks in LAYERS:
        if any(mark in stack for mark in marks):
            return name
    return "other"


def summarise(path: Path, top: int = 25) -> tuple[int, Counter[str], Counter[str]]:
    """(samples, samples per layer, samples per innermost function)."""
    layers: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        layers[_layer(stack)] += n
        functions[stack.split(";")[-1]] += n
    return total, layers, Counter(dict(functions.most_common(top)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.service.profile")
    parser.add_argument("profile", type=Path, help="py-spy record --format raw output")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    total, layers, functions = summarise(args.profile, args.top)
    print(f"{total:,} samples")
    print("| layer (innermost) | share |\n|---|---|")
    for name, n in layers.most_common():
        print(f"| {name} | {n / total:.1%} |")
    print("\n| innermost frame | share |\n|---|---|")
    for name, n in functions.most_common():
        print(f"| `{name}` | {n / total:.1%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
