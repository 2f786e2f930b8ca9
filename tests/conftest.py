"""Session fixtures on real services: the local stack (started from nothing into a temporary
state dir) or external services given by BINLOG_PIPELINE_* variables."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from binlog_pipeline_tools.stack import Stack, process

from tests.services import Services, connect, external_env, processes_under, unique


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


@pytest.fixture(scope="session", autouse=True)
def no_server_outlives_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every server a test starts lives under the session's base temp dir (the stack's state dir,
    a test's own mariadbd), so none may still run there once the session's fixtures are torn down.
    Set up before any other session fixture, this one is torn down after them all."""
    yield
    left = processes_under(tmp_path_factory.getbasetemp())
    for pid in left:
        process.stop(pid, timeout_s=30)
    if left:
        lines = "\n".join(f"  {pid}: {line[:300]}" for pid, line in sorted(left.items()))
        pytest.fail(f"processes a test started outlived the session (stopped now):\n{lines}", pytrace=False)


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
        # Read the state file again: a test may have restarted a service from another process
        # (`binlog-pipeline chaos` does), which recorded the new pid only there, so this stack's
        # own copy still names the old one and stopping that would leave the new one running.
        Stack(stack.state_dir).down(purge=True)


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
