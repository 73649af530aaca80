"""Shared test setup: import paths and a fresh event factory per test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parent
for _path in (_TESTS.parent, _TESTS):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))



@pytest.fixture(autouse=True)
def _fresh_event_factory() -> None:
    """Event ids and timestamps restart in every test, so tests do not depend on order.

    Only when a test module uses ``helpers``: other suites need not import the engine.
    """
    helpers = sys.modules.get("helpers")
    if helpers is not None:
        helpers.reset()
