"""Kernel test setup: every kernel test runs against the compiled kernel and its twin.

``MILLSTREAM_REQUIRE_COMPILED=1`` (CI) makes a compiled kernel that does not
import a loud error: ``core.netting.load("cython")`` raises, so the twin is
never silently compared with itself.  Without the variable a missing compiled
kernel fails the "cython" tests too (``load("cython")`` always insists).

Cython reports an exception it cannot propagate (a ``noexcept`` function, a
destructor) as "Exception ignored in ..." on stderr and carries on: such a
test would pass with a wrong result, so the autouse guard fails it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from core import netting

KERNELS = ("cython", "python")


def load_kernel(name: str) -> ModuleType:
    """The kernel ``name``, checked to be what it claims (compiled or the twin)."""
    module = netting.load(name)
    if name == "cython":
        assert module.CYTHON_MODULE == 1, f"load('cython') returned the pure-Python twin {module.__name__}"
    else:
        assert module.CYTHON_MODULE == 0, f"load('python') returned {module.__name__}"
    return module


def require_compiled() -> bool:
    return os.environ.get("MILLSTREAM_REQUIRE_COMPILED") == "1"


@pytest.fixture(params=KERNELS)
def kernel(request: pytest.FixtureRequest) -> ModuleType:
    """The netting kernel module: once compiled (Cython), once the pure-Python twin."""
    return load_kernel(request.param)


@pytest.fixture(params=KERNELS)
def kernel_name(request: pytest.FixtureRequest) -> str:
    """``EngineSettings.kernel`` for an engine on each kernel in turn (checked to load as named)."""
    load_kernel(request.param)
    return request.param


@pytest.fixture(autouse=True)
def _no_swallowed_errors(capfd: pytest.CaptureFixture[str]) -> Iterator[None]:
    """Fail a test during which an exception was swallowed ("Exception ignored ...")."""
    swallowed: list[str] = []
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        swallowed.append(f"{unraisable.exc_type.__name__}: {unraisable.exc_value} in {unraisable.object!r}")
        previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous
    out, err = capfd.readouterr()
    # give the captured text back to the report
    sys.stdout.write(out)
    sys.stderr.write(err)
    assert "Exception ignored" not in err, f"an exception was swallowed during the test:\n{err}"
    assert not swallowed, f"an exception was swallowed during the test: {swallowed}"
