"""Planned-order changes encoded by the kernel are the bytes the output codec writes for them.

The planner publishes planned orders as records the kernel encodes (key and
JSON value), not as ``PlannedOrder`` Structs; every consumer that decodes them
must get exactly the Struct the planner would otherwise have built.
"""

from __future__ import annotations

import datetime as dt
import pickle
from types import ModuleType

from hypothesis import given, settings
from hypothesis import strategies as st

from core.netting import PLANNED_RECORDS
from core.quantity import to_number
from schemas.codecs import decode_output, encode_json, json_encoder
from schemas.outputs import PlannedOrder

from .conftest import load_kernel

ordinal = st.integers(1, dt.date.max.toordinal())
names = st.text(min_size=1, max_size=12)
stamps = st.tuples(names, st.none() | st.datetimes(timezones=st.just(dt.UTC)))
quantities = st.one_of(st.integers(1, 10**15), st.integers(1, 10**9).map(lambda q: q * 10**6),
                       st.integers(-10**15, 0))


def _stamp(kernel: ModuleType, site: str, ts: dt.datetime | None) -> object:
    tail = b',"site":' + json_encoder.encode(site)
    if ts is not None:
        tail += b',"ts":' + json_encoder.encode(ts)
    return kernel.PlanStamp(site, ts, tail + b"}")


@settings(max_examples=400, deadline=None)
@given(item=names, stamp=stamps, make=st.booleans(), due=ordinal, rank=st.integers(0, 40), release=ordinal,
       qty=quantities, past_due=st.booleans(), deleted=st.booleans())
def test_record_is_the_codec_encoding_of_the_planned_order(item: str, stamp: tuple[str, dt.datetime | None],
                                                          make: bool, due: int, rank: int, release: int, qty: int,
                                                          past_due: bool, deleted: bool) -> None:
    site, ts = stamp
    planned_id = f"{item}@{dt.date.fromordinal(due).isoformat()}" + (f"#{rank + 1}" if rank else "")
    flags = {"action": "delete"} if deleted else {"past_due": past_due}
    expected = PlannedOrder(site=site, ts=ts, planned_id=planned_id, item=item, kind="make" if make else "buy",
                            qty=to_number(qty), release=dt.date.fromordinal(release),
                            due=dt.date.fromordinal(due), **flags)
    for name in ("cython", "python"):
        kernel = load_kernel(name)
        record = kernel.encode_change(item, make, _stamp(kernel, site, ts), due, rank, release, qty, past_due,
                                      deleted)
        assert type(record) in PLANNED_RECORDS
        assert record.value == encode_json(expected), name
        assert encode_json(record) == record.value   # the codec writes a record as it is
        assert decode_output(record.value) == expected
        assert record.key == f"{site}|{planned_id}".encode()
        assert (record.planned_id, record.site, record.ts, record.item) == (planned_id, site, ts, item)
        copied = pickle.loads(pickle.dumps(record))
        assert (copied.key, copied.value, copied.site, copied.ts, copied.item) == (
            record.key, record.value, record.site, record.ts, record.item)


def test_replan_with_a_stamp_encodes_the_changes_it_returns_without_one() -> None:
    for name in ("cython", "python"):
        kernel = load_kernel(name)
        plain, encoded = kernel.ItemNode("X"), kernel.ItemNode("X")
        stamp = _stamp(kernel, "S1", dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
        for node in (plain, encoded):
            node.set_params(0, 3, kernel.FIXED, 40 * 10**6, 0, 0, 0, 0, 0.0, 0.0)
            node.set_own([739_000, 739_010], [25 * 10**6, 30 * 10**6])
        changes, _ = plain.replan(738_999)
        records, _ = encoded.replan(738_999, stamp)
        assert len(changes) == 2
        assert [r.value for r in records] == [
            kernel.encode_change("X", False, stamp, due, rank, release, qty, past_due, deleted).value
            for due, rank, release, qty, past_due, deleted in changes]
        for node in (plain, encoded):
            node.set_own([739_000], [25 * 10**6])
        changes, _ = plain.replan(738_999)
        records, _ = encoded.replan(738_999, stamp)
        assert [decode_output(r.value).action for r in records] == ["delete"] and changes[0][5]


def test_a_quiet_stamp_plans_alike_and_builds_no_record() -> None:
    for name in ("cython", "python"):
        kernel = load_kernel(name)
        loud, quiet = kernel.ItemNode("X"), kernel.ItemNode("X")
        ts = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
        tail = b',"site":"S1","ts":' + json_encoder.encode(ts) + b"}"
        stamps = {loud: kernel.PlanStamp("S1", ts, tail), quiet: kernel.PlanStamp("S1", ts, tail, True)}
        assert stamps[quiet].quiet and not stamps[loud].quiet
        assert pickle.loads(pickle.dumps(stamps[quiet])).quiet
        for node in (loud, quiet):
            node.set_params(0, 3, kernel.FIXED, 40 * 10**6, 0, 0, 0, 0, 0.0, 0.0)
        for day, own in ((738_999, [25, 30]), (739_001, [25]), (739_001, [25, 60, 5])):
            for node in (loud, quiet):
                node.set_own([739_000 + 10 * k for k in range(len(own))], [q * 10**6 for q in own])
            records, _ = loud.replan(day, stamps[loud])
            assert records, name   # every step changes the plan
            assert quiet.replan(day, stamps[quiet]) == ([], []), name
            assert quiet.planned() == loud.planned(), name
