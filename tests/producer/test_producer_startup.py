"""The producer refuses a source it cannot stream losslessly, with the exact fix, and stops
cleanly on SIGTERM."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.producer.source_check import SourceMisconfigured
from tests.kafka_helpers import wait_for
from tests.producer_harness import ProducerProcess, ProducerThread, current_position, producer_settings
from tests.services import Services, connect, unique
from tests.workload import Workload

pytestmark = pytest.mark.integration


def start_error(services: Services, prefix: str, **overrides: object) -> BaseException:
    producer = ProducerThread(producer_settings(services, prefix, **overrides))
    with producer:
        wait_for(lambda: producer.error is not None, timeout_s=30, what="the producer to refuse")
    assert producer.error is not None
    return producer.error


@pytest.fixture
def row_image_minimal(services: Services) -> Iterator[None]:
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute("SET GLOBAL binlog_row_image = 'MINIMAL'")
    yield
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute("SET GLOBAL binlog_row_image = 'FULL'")


def test_refuses_partial_row_images(services: Services, topic_prefix: str, row_image_minimal: None) -> None:
    """binlog_row_image=MINIMAL is refused with the SET GLOBAL that fixes it."""
    error = start_error(services, topic_prefix)
    assert isinstance(error, SourceMisconfigured)
    assert "binlog_row_image is MINIMAL, must be FULL: SET GLOBAL binlog_row_image='FULL'" in str(error)


def test_refuses_a_purged_position(services: Services, topic_prefix: str) -> None:
    """A start position whose binlog file is gone is refused, never silently skipped ahead."""
    error = start_error(services, topic_prefix, start_position="mysql-bin.000000:4")
    assert isinstance(error, SourceMisconfigured)
    assert "binlog position mysql-bin.000000:4 is no longer on the source" in str(error)


def test_refuses_the_sources_own_server_id(services: Services, topic_prefix: str) -> None:
    """Using the source's own server_id as the replica id is refused."""
    error = start_error(services, topic_prefix, server_id=1)
    assert isinstance(error, SourceMisconfigured) and "is the source's own server id" in str(error)


def test_refuses_a_user_without_replication_privileges(services: Services, topic_prefix: str) -> None:
    """A source user lacking REPLICATION grants gets the GRANT statement to run."""
    user, password = unique("u")[:30], "pw-" + unique("p")
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY %s", (password,))
        cur.execute(f"GRANT SELECT ON *.* TO '{user}'@'127.0.0.1'")
    try:
        url = DatabaseUrl(services.source_url.host, services.source_url.port, user, password)
        error = start_error(services, topic_prefix, source_url=url.unmasked())
        assert isinstance(error, SourceMisconfigured)
        assert "GRANT REPLICATION" in str(error) and password not in str(error)
    finally:
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            cur.execute(f"DROP USER '{user}'@'127.0.0.1'")


def test_sigterm_commits_and_exits_zero(
    services: Services, source_db: str, topic_prefix: str, tmp_path: Path
) -> None:
    """SIGTERM ends the open Kafka transaction and exits 0 within seconds."""
    workload = Workload(services.source_admin, source_db, tables=("w1",), seed=8)
    workload.create_tables()
    log = tmp_path / "producer.log"
    producer = ProducerProcess(services, topic_prefix, log, start_position=current_position(services)).start()
    workload.run(50, large_every=25, large_rows=2000)
    time.sleep(3)
    started = time.monotonic()
    assert producer.terminate() == 0, log.read_text()[-3000:]
    assert time.monotonic() - started < 10
    assert "stopped cleanly" in log.read_text()
