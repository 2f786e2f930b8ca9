"""The unit layer: pure logic, no services, fast. ``pytest tests/unit`` runs it alone; ``-m unit``
picks it out of a wider run (every test here gets the ``unit`` mark).

What keeps it honest, so that it passes on a laptop with nothing running:
- a test here may not ask for a fixture that reaches the stack (collection fails naming it);
- it sees no ``BINLOG_PIPELINE_*`` variable: its result cannot depend on the shell it runs in
  (``load_settings()`` reads the real environment by default);
- it cannot open a network connection: a test that would reach a server fails at once, naming
  the address, instead of waiting for a connect timeout or a retry deadline.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

UNIT_DIR = Path(__file__).parent
STACK_FIXTURES = frozenset({"services", "source_db"})

# A shared 2-core machine makes per-example timings meaningless; the example counts stay each
# test's own choice.
settings.register_profile("unit", deadline=None)
settings.load_profile("unit")


class NetworkInUnitTest(RuntimeError):
    """Raised instead of connecting. Not an OSError: pymysql and the retry policy would take an
    OSError for a server that is down and retry it until the deadline."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "unit: pure logic, no services (tests/unit)")


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if UNIT_DIR not in item.path.parents:
            continue
        item.add_marker(pytest.mark.unit)
        stack = sorted(STACK_FIXTURES.intersection(getattr(item, "fixturenames", ())))
        if stack:
            raise pytest.UsageError(f"{item.nodeid}: a unit test may not use {', '.join(stack)} (the stack)")


def _refuse(_sock: Any, address: Any, *_args: Any) -> Any:
    raise NetworkInUnitTest(f"a unit test tried to connect to {address!r}")


# Module scope (not function scope): hypothesis refuses function-scoped fixtures around @given
# tests, and the environment comes back before any later test directory runs.
@pytest.fixture(autouse=True, scope="module")
def _isolated() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("BINLOG_PIPELINE_"):
                patch.delenv(name)
        patch.setattr(socket.socket, "connect", _refuse)
        patch.setattr(socket.socket, "connect_ex", _refuse)
        yield
