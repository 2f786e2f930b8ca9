"""Several pipelines side by side on one Kafka: two sources (the stack's and a second MariaDB
started here) with the same database and table names, each with its own topic prefix,
transactional id, server id, consumer group and target database (a route). Each target ends
CHECKSUM-equal to its own source; neither pipeline sees the other's topics."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from binlog_pipeline_tools.stack import process as service_process
from binlog_pipeline_tools.stack.mariadb import PRODUCER_GRANTS, MariaDBServer
from confluent_kafka.admin import AdminClient

from binlog_pipeline.core.dburl import DatabaseUrl
from tests.applier_harness import ApplierProcess, drop_target_database
from tests.kafka_helpers import wait_for
from tests.producer_harness import ProducerProcess, current_position
from tests.runner_harness import CliProcess
from tests.services import Services, connect, query, unique

pytestmark = pytest.mark.integration


def state(url: DatabaseUrl, db: str) -> tuple[Any, Any]:
    """(CHECKSUM, rows) of ``db``.orders; (None, None) while it does not exist."""
    found = query(
        url,
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 'orders'",
        (db,),
    )
    if not found[0][0]:
        return None, None
    table = f"`{db}`.orders"
    return query(url, f"CHECKSUM TABLE {table}")[0][1], query(url, f"SELECT COUNT(*) FROM {table}")[0][0]


def write(url: DatabaseUrl, db: str, tag: str, rows: int) -> None:
    with connect(url) as conn, conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO `{db}`.orders (customer, amount) VALUES (%s, %s)",
            [(f"{tag}-{i}", i * 1.25) for i in range(rows)],
        )
        cur.execute(f"UPDATE `{db}`.orders SET amount = amount + 1 WHERE id % 3 = 0")
        cur.execute(f"DELETE FROM `{db}`.orders WHERE id % 7 = 0")


def test_two_sources_two_pipelines_one_kafka(services: Services, tmp_path: Path) -> None:
    if services.stack is None:
        pytest.skip("starts a second MariaDB next to the local stack")
    second = MariaDBServer("source2", services.stack.state_dir, service_process.free_port(), 3, binlog=True)
    pid = second.start()
    processes: list[CliProcess] = []
    db = unique("shop")
    try:
        second.wait_ready(pid)
        admin_password, producer_password = secrets.token_hex(8), secrets.token_hex(8)
        second.create_users(admin_password, "binlog_producer", producer_password, PRODUCER_GRANTS)
        sources = {
            "a": (services.source_admin, services.source_url),
            "b": (
                DatabaseUrl("127.0.0.1", second.port, "root", admin_password),
                DatabaseUrl("127.0.0.1", second.port, "binlog_producer", producer_password),
            ),
        }
        prefixes = {name: unique(f"side{name}") for name in sources}
        # The shared source holds the binlog of every earlier test: start at its end, not reading
        # all of it (the second server's binlog is this test's alone).
        starts = {"a": current_position(services), "b": "earliest"}
        for admin, _ in sources.values():
            with connect(admin) as conn, conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE `{db}`")
                cur.execute(
                    f"CREATE TABLE `{db}`.orders (id BIGINT PRIMARY KEY AUTO_INCREMENT, customer VARCHAR(64) NOT NULL, amount DECIMAL(12,2) NOT NULL)"
                )
        for n, (name, (_, producer_url)) in enumerate(sources.items()):
            prefix = prefixes[name]
            processes.append(
                ProducerProcess(
                    services,
                    prefix,
                    tmp_path / f"producer-{name}.log",
                    source_url=producer_url.unmasked(),
                    start_position=starts[name],
                    include_tables=f"{db}.*",
                    server_id=6100 + n,
                    transactional_id=f"producer-{prefix}",
                ).start()
            )
            processes.append(
                ApplierProcess(
                    services, prefix, tmp_path / f"applier-{name}.log", routes=f"{db}={db}_{name}"
                ).start()
            )
        for name, (admin, _) in sources.items():
            write(admin, db, name, 300 if name == "a" else 200)

        def both_equal() -> bool:
            return all(
                state(admin, db) == state(services.target_admin, f"{db}_{name}")
                for name, (admin, _) in sources.items()
            )

        wait_for(both_equal, timeout_s=120, what="each target database equal to its own source")
        counts = {name: state(services.target_admin, f"{db}_{name}")[1] for name in sources}
        assert counts["a"] != counts["b"]  # really two different data sets, not one copied twice
        topics = AdminClient({"bootstrap.servers": services.bootstrap}).list_topics(timeout=10).topics
        for prefix in prefixes.values():
            assert f"{prefix}.{db}.orders" in topics
            checkpoints = query(
                services.target_admin,
                "SELECT topic FROM binlog_pipeline.applier_checkpoint WHERE group_id = %s",
                (f"applier-{prefix}",),
            )
            assert checkpoints and all(topic.startswith(f"{prefix}.") for (topic,) in checkpoints)
        for process in processes:
            assert process.terminate() == 0, process.log()
    finally:
        for process in processes:
            if process.proc is not None and process.proc.poll() is None:
                process.kill9()
        service_process.stop(pid, timeout_s=30)
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
        for name in ("a", "b"):
            drop_target_database(services, f"{db}_{name}")
