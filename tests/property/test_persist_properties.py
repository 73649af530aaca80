"""A site restored from its durable rows goes on exactly like the engine that never stopped.

Random event sequences (the ledger property generator: two sites, transfers, orders, duplicates,
events waiting for their orders) are cut into batches.  Engine A applies every batch.  Engine B
applies the batches up to a random point, handing its changed rows after each batch to a table that
keeps the latest value per key; engine C restores every site from that table and applies the rest.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from test_ledger_properties import MASTER, PROPERTY_SETTINGS, sequences, splits

from core.engine import Engine, EngineSettings
from core.persist import StateRows, fold_rows, site_of
from core.reports import REPORTS, report
from helpers import rejected, to_json
from schemas.codecs import encode_json


def _reports(engine: Engine) -> dict[str, bytes]:
    return {name: encode_json(report(engine, name)) for name in REPORTS}



@PROPERTY_SETTINGS
@given(st.data())
def test_a_restored_engine_reports_and_rejects_like_one_that_never_stopped(data: Any) -> None:
    events = data.draw(sequences())
    batches = data.draw(splits(events))
    cut = data.draw(st.integers(0, len(batches)))

    whole = Engine()
    whole.apply(MASTER)
    after_cut: list[Any] = []
    for index, batch in enumerate(batches):
        out = whole.apply(batch)
        if index >= cut:
            after_cut += out
    after_cut += whole.finish()

    first = Engine(EngineSettings(track_changes=True))
    rows = StateRows(first)
    first.apply(MASTER)
    table: dict[str, bytes] = {}
    for batch in batches[:cut]:
        first.apply(batch)
        fold_rows(table, rows.changed())
        for site in first.sites:   # what was written is the state, row for row
            assert rows.current_rows(site) == {k: v for k, v in table.items()
                                               if site_of(k) == site and k.split("|")[1] != "ids"}

    second = Engine(EngineSettings(track_changes=True))
    restored = StateRows(second)
    second.apply(MASTER)
    for site in sorted({site_of(key) for key in table}):
        restored.restore(site, [(k, v) for k, v in table.items() if site_of(k) == site])
    resumed: list[Any] = []
    for batch in batches[cut:]:
        resumed += second.apply(batch)
    resumed += second.finish()

    assert _reports(second) == _reports(whole)
    assert to_json(rejected(resumed)) == to_json(rejected(after_cut))
