"""atheris (libFuzzer) harness for the engine, driving the hypothesis properties of the fuzz tests.

Not run in CI.  From the repository root (``.venv/bin/pip install -e ".[fuzz]"`` first)::

    .venv/bin/python -m fuzz.fuzz_engine -max_total_time=300            # random event sequences
    .venv/bin/python -m fuzz.fuzz_engine --mutants -max_total_time=300  # mutated sample events, decoded

libFuzzer's bytes become hypothesis' choices (``fuzz_one_input``), so the generators and the invariants
(``fuzz/invariants.py``) are those of ``tests/unit/test_fuzz_engine.py`` and ``test_fuzz_decoders.py``,
explored coverage-guided for as long as you let it run instead of a fixed 150 examples.  A failure stops
it and leaves the input in ``crash-<sha1>``; hypothesis prints the events it made of it.
"""

from __future__ import annotations

import importlib
import sys

import atheris

from fuzz.corpus import ROOT, corpus_dir

with atheris.instrument_imports():   # instrumented for coverage before the tests import them
    for module in ("core.engine", "core.site", "core.master", "core.planning", "schemas.codecs"):
        importlib.import_module(module)

sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "unit")]


def main() -> None:
    mutants = "--mutants" in sys.argv
    argv = [arg for arg in sys.argv if arg != "--mutants"]
    if mutants:
        import test_fuzz_decoders as tests

        target = tests.test_mutated_events_through_the_engine_come_out_exactly_once
    else:
        import test_fuzz_engine as tests

        target = tests.test_every_event_is_applied_or_rejected_exactly_once
    corpus = corpus_dir("engine-mutants" if mutants else "engine")
    atheris.Setup([argv[0], *argv[1:], str(corpus)], target.hypothesis.fuzz_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
