"""Group membership and new tables: a table created while the applier is down is applied after it
restarts. Static membership (group.instance.id) breaks exactly this — a restarted static member
gets its old assignment back and the broker never rebalances for the new topic (found by
`binlog-pipeline chaos`) — so the applier refuses it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.applier_harness import ApplierProcess, drop_target_database, equal
from tests.kafka_helpers import wait_for
from tests.producer_harness import ProducerProcess, current_position
from tests.services import Services, connect

pytestmark = pytest.mark.integration


def test_table_created_while_the_applier_was_killed_is_applied_after_restart(
    services: Services, source_db: str, topic_prefix: str, tmp_path: Path
) -> None:
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{source_db}`.old (id INT PRIMARY KEY, v INT)")
    producer = ProducerProcess(
        services, topic_prefix, tmp_path / "producer.log", start_position=current_position(services)
    ).start()
    applier = ApplierProcess(services, topic_prefix, tmp_path / "applier.log").start()
    try:
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            cur.execute(f"INSERT INTO `{source_db}`.old VALUES (1, 1), (2, 2)")
        wait_for(lambda: equal(services, source_db, ("old",)), what="old applied")
        applier.kill9()
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            cur.execute(f"CREATE TABLE `{source_db}`.new (id INT PRIMARY KEY, v INT)")
            cur.execute(f"INSERT INTO `{source_db}`.new VALUES (1, 10), (2, 20)")
            cur.execute(f"INSERT INTO `{source_db}`.old VALUES (3, 3)")
        applier.start()  # the same group; its dead predecessor's session expires first
        wait_for(lambda: equal(services, source_db, ("old", "new")), timeout_s=90, what="both tables applied")
        assert producer.terminate() == 0 and applier.terminate() == 0
    finally:
        for process in (producer, applier):
            if process.proc is not None and process.proc.poll() is None:
                process.kill9()
        drop_target_database(services, source_db)


def test_static_membership_is_refused_with_the_reason(
    services: Services, topic_prefix: str, tmp_path: Path
) -> None:
    applier = ApplierProcess(
        services, topic_prefix, tmp_path / "applier.log", kafka="group.instance.id=applier-1"
    ).start()
    assert applier.proc is not None
    assert applier.proc.wait(60) == 2
    log = applier.log()
    assert "group.instance.id (static membership) is not supported" in log
    assert "session.timeout.ms" in log and "Traceback" not in log
