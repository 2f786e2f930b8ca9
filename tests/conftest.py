"""Session fixtures on real services: the local stack (started from nothing into a temporary
state dir) or external services given by BINLOG_PIPELINE_* variables."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from binlog_pipeline_tools.stack import Stack

from tests.services import Services, connect, external_env, unique


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="also run suites marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Suites that stop and kill the stack's services run last, after every test that shares them.
    items.sort(key=lambda item: "stack_faults" in item.keywords)
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: pass --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    env = external_env()
    if env is not None:
        yield Services.from_env(env, stack=None)
        return
    stack = Stack(tmp_path_factory.mktemp("stack"))
    try:
        stack.up()
        yield Services.from_env(stack.env(), stack=stack)
    finally:
        stack.down(purge=True)


@pytest.fixture
def source_db(services: Services) -> Iterator[str]:
    """A fresh database on the source, dropped afterwards."""
    name = unique("src")
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    yield name
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def topic_prefix() -> str:
    return unique("t")
