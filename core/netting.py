"""Picks the netting kernel: the compiled one, else its pure-Python twin.

``MILLSTREAM_REQUIRE_COMPILED=1`` (set in CI) turns a missing compiled module
into an error, so tests never compare the twin with itself by accident.
``MILLSTREAM_KERNEL=python`` forces the twin (benchmarks and parity tests).
"""

from __future__ import annotations

import os
from types import ModuleType

from . import _netting_py

__all__ = ["COMPILED", "PLANNED_RECORDS", "kernel", "load"]


def load(name: str | None = None) -> ModuleType:
    """The kernel module called ``name`` ("cython" or "python"); default: the best available."""
    name = name or os.environ.get("MILLSTREAM_KERNEL", "")
    if name == "python":
        return _netting_py
    try:
        from . import _netting  # type: ignore[attr-defined]
    except ImportError as exc:
        if name == "cython" or os.environ.get("MILLSTREAM_REQUIRE_COMPILED") == "1":
            raise ImportError(f"the compiled netting kernel is required but did not import: {exc}") from exc
        return _netting_py
    return _netting


kernel = load()
COMPILED = bool(kernel.CYTHON_MODULE)


def _planned_records() -> tuple[type, ...]:
    try:
        from . import _netting  # type: ignore[attr-defined]
    except ImportError:
        return (_netting_py.PlannedOrderRecord,)
    return (_netting.PlannedOrderRecord, _netting_py.PlannedOrderRecord)


#: the classes of encoded planned-order outputs (either kernel), for adapters that route outputs by type
PLANNED_RECORDS = _planned_records()
