"""atheris (libFuzzer) harness for ``decode_message``: raw bytes in, events or reasons out, never an exception.

Not run in CI.  From the repository root (``.venv/bin/pip install -e ".[fuzz]"`` first)::

    .venv/bin/python -m fuzz.fuzz_decode -max_total_time=300

It mutates the sample's events (JSON, msgpack, envelopes) coverage-guided; a crash stops it and leaves the
input in ``crash-<sha1>``: add it to ``tests/unit/test_poison_regressions.py`` and fix the product.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from schemas import events as ev
    from schemas.codecs import decode_message, decode_output, encode_json, encode_msgpack
    from schemas.outputs import Rejected

from fuzz.corpus import corpus_dir, seed_messages

LIMIT = 64 * 1024   # a small max_message_bytes, so large inputs take the "message too large" path too


def test_one_input(data: bytes) -> None:
    decoded = decode_message(data, source="fuzz@0", max_bytes=LIMIT)
    if not decoded:
        raise AssertionError(f"no answer for {data[:80]!r}")
    for item in decoded:
        if isinstance(item, Rejected):
            if not item.reason:
                raise AssertionError(f"a rejection without a reason: {item!r}")
            if not isinstance(decode_output(encode_json(item)), Rejected):   # the dead letter is publishable
                raise AssertionError(f"rejection does not round-trip: {item!r}")
        elif type(item) not in ev.InputEvent.__args__:
            raise AssertionError(f"not an event: {item!r}")
        elif decode_message(encode_json(item)) != [item] or decode_message(encode_msgpack(item)) != [item]:
            raise AssertionError(f"event does not round-trip: {item!r}")


def main() -> None:
    corpus = corpus_dir("decode", seed_messages())
    atheris.Setup([sys.argv[0], *sys.argv[1:], str(corpus)], test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
