"""The compiled id table (``core/_ids.pyx``) answers as its twin (``core/_ids_py.py``), entry for entry.

The engine's de-duplication window (``core.ids.SeenIds``) keeps every event id of a site
in one of them; the compiled one packs ids into byte buffers and an 8-byte slot each,
so what could go wrong is in the packing: a reused id pointing at an old entry, an
hour's ids not all forgotten, a slot lost when the table grows or sheds its
tombstones, an id of other bytes taken for one with the same hash tag.
"""

from __future__ import annotations

import random

import pytest

from core import _ids_py
from core.ids import id_table

Compiled = id_table("cython")


def _state(table: object) -> dict[str, tuple[int, int]]:
    return {i: (table.hour_of(i), table.micros_of(i)) for i in table}   # type: ignore[attr-defined]


def _check(a: object, b: object, probes: list[str]) -> None:
    assert len(a) == len(b)   # type: ignore[arg-type]
    assert _state(a) == _state(b)
    for i in probes:
        assert (i in a) == (i in b)   # type: ignore[operator]
        assert a.hour_of(i) == b.hour_of(i)   # type: ignore[attr-defined]


@pytest.mark.parametrize("seed", range(6))
def test_random_steps_leave_both_tables_alike(seed: int) -> None:
    rng = random.Random(seed)
    pool = [f"E-{k}" for k in range(400)] + ["", "é-ü-中", "\ud800lone", "x" * 300, "E-1\x00", "E-1 "]
    compiled, twin = Compiled(), _ids_py.IdTable()
    hours = [-3, 0, 1, 2, 5, 488_000, 488_001]
    for step in range(6_000):
        roll = rng.random()
        event_id = rng.choice(pool)
        if roll < 0.7:
            hour, micros = rng.choice(hours), rng.randrange(3_600_000_000)
            compiled.add(event_id, hour, micros)
            twin.add(event_id, hour, micros)
        elif roll < 0.85:
            assert compiled.pop(event_id) == twin.pop(event_id)
        elif roll < 0.9:
            hour = rng.choice(hours)
            compiled.drop_hour(hour)
            twin.drop_hour(hour)
        else:
            assert compiled.hour_of(event_id) == twin.hour_of(event_id)
            if event_id in twin:
                assert compiled.micros_of(event_id) == twin.micros_of(event_id)
            else:
                with pytest.raises(KeyError):
                    compiled.micros_of(event_id)
        if step % 200 == 0:
            _check(compiled, twin, pool)
    _check(compiled, twin, pool)


def test_an_hour_forgets_only_the_ids_whose_latest_entry_it_holds() -> None:
    for table in (Compiled(), _ids_py.IdTable()):
        table.add("a", 10, 5)
        table.add("b", 10, 6)
        table.add("a", 11, 7)   # a's latest entry is in hour 11 now
        table.drop_hour(10)
        assert sorted(table) == ["a"] and table.hour_of("a") == 11 and table.micros_of("a") == 7
        table.drop_hour(11)
        assert len(table) == 0 and "a" not in table


def test_a_million_ids_grow_the_table_and_an_hour_beyond_one_buffer_is_forgotten_whole() -> None:
    """An hour holds at most 2**20 entries in one buffer: the rest go on in another of the same hour."""
    table = Compiled()
    count = (1 << 20) + 1_000
    for k in range(count):
        table.add(f"id-{k}", 7, k % 3_600_000_000)
    table.add("other", 8, 1)
    assert len(table) == count + 1
    assert all(table.micros_of(f"id-{k}") == k for k in range(count))
    assert {table.hour_of(f"id-{k}") for k in range(count)} == {7}
    table.drop_hour(7)
    assert list(table) == ["other"] and table.hour_of("id-5") is None and table.hour_of(f"id-{count - 1}") is None
    for k in range(50_000):   # the buffers freed are used again, and the shrunk table grows again
        table.add(f"again-{k}", 9, k)
    assert len(table) == 50_001 and table.micros_of("again-49999") == 49_999 and table.hour_of("other") == 8


def test_ids_alike_in_their_first_bytes_or_length_are_told_apart() -> None:
    table = Compiled()
    ids = ["", "a", "a\x00", "ab", "ba", "a" * 1000, "a" * 1001, "é", "e\u0301", "\U0001f600"]
    for k, event_id in enumerate(ids):
        table.add(event_id, 3, k)
    assert sorted(table) == sorted(ids)
    assert [table.micros_of(i) for i in ids] == list(range(len(ids)))
    assert "a\x00\x00" not in table and "aa" not in table


def test_a_window_moving_over_many_hours_keeps_the_table_the_size_of_the_window() -> None:
    """Ids come in one hour after another and the oldest hour is forgotten: tombstones must not pile up."""
    import sys

    table, twin = Compiled(), _ids_py.IdTable()
    sizes = []
    for hour in range(60):
        for k in range(5_000):
            event_id = f"h{hour}-{k}"
            table.add(event_id, hour, k)
            twin.add(event_id, hour, k)
        if hour >= 3:
            table.drop_hour(hour - 3)
            twin.drop_hour(hour - 3)
        sizes.append(sys.getsizeof(table))
        assert len(table) == len(twin) == 5_000 * min(hour + 1, 3)
    assert _state(table) == _state(twin)
    assert max(sizes[10:]) <= 1.5 * min(sizes[10:])
    assert all(table.hour_of(f"h{h}-17") is None for h in range(57)) and table.micros_of("h59-17") == 17


def test_a_copy_answers_alike_and_goes_its_own_way() -> None:
    import copy
    import pickle

    table = Compiled()
    for k in range(300):
        table.add(f"c-{k % 200}", k % 5, k)
    for clone in (copy.deepcopy(table), pickle.loads(pickle.dumps(table))):
        assert _state(clone) == _state(table)
        clone.drop_hour(0)
        clone.add("new", 1, 1)
        assert "new" not in table and table.hour_of("c-0") == 0 and clone.hour_of("c-0") is None
