"""The local stack: real Kafka (transactions work) and real MariaDB configured for CDC."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from binlog_pipeline_tools.stack import Stack
from binlog_pipeline_tools.stack.process import is_alive, port_open
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.services import Services, query, unique

pytestmark = pytest.mark.integration


def read_committed(bootstrap: str, topic: str, timeout_s: float = 10) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("g"),
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        consumer.assign([TopicPartition(topic, 0, 0)])
        seen: list[bytes] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                # Drained once our position has passed every offset up to the high watermark.
                if consumer.position([TopicPartition(topic, 0)])[0].offset >= high:
                    break
                continue
            if msg.error() is None:
                seen.append(msg.value())
        return seen
    finally:
        consumer.close()


def test_kafka_transactions_commit_and_abort(services: Services) -> None:
    """A committed Kafka transaction is visible to a read_committed consumer; an aborted one is not."""
    topic = unique("txn")
    admin = AdminClient({"bootstrap.servers": services.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(10)
    producer = Producer({"bootstrap.servers": services.bootstrap, "transactional.id": unique("tx")})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, b"aborted")
    producer.abort_transaction(30)
    producer.begin_transaction()
    producer.produce(topic, b"committed-1")
    producer.produce(topic, b"committed-2")
    producer.commit_transaction(30)
    assert read_committed(services.bootstrap, topic) == [b"committed-1", b"committed-2"]


def test_source_binlog_is_configured_for_cdc(services: Services) -> None:
    """The source writes a ROW binlog with full images and full metadata."""
    rows = dict(
        query(
            services.source_admin,
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN "
            "('log_bin','binlog_format','binlog_row_image','binlog_row_metadata')",
        )
    )
    assert rows == {
        "log_bin": "ON",
        "binlog_format": "ROW",
        "binlog_row_image": "FULL",
        "binlog_row_metadata": "FULL",
    }


def test_least_privilege_users(services: Services) -> None:
    """The producer's user can read the binlog and tables but cannot write; the applier's can write."""
    producer_grants = " ".join(r[0] for r in query(services.source_url, "SHOW GRANTS"))
    assert "REPLICATION SLAVE" in producer_grants and "INSERT" not in producer_grants
    assert query(services.target_url, "SELECT 1") == [(1,)]
    assert query(services.source_url, "SELECT 1") == [(1,)]


def test_source_and_target_are_separate_servers(services: Services) -> None:
    """Source and target are distinct mariadbd instances."""
    source_id = query(services.source_admin, "SELECT @@server_id")[0][0]
    target_id = query(services.target_admin, "SELECT @@server_id")[0][0]
    assert source_id != target_id


def run_cli(*args: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "binlog_pipeline", "stack", *args, "--state-dir", str(state_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_stack_lifecycle_from_nothing(tmp_path: Path) -> None:
    """`up` from an empty dir starts healthy services, a second `up` is a no-op, `env` points at
    them, and `down` leaves no process or listening port; `--purge` removes the state."""
    state = tmp_path / "st"
    first = run_cli("up", state_dir=state)
    assert first.returncode == 0, first.stderr
    stack = Stack(state)
    rows = stack.status()
    assert [r.service for r in rows] == ["kafka", "source", "target"]
    assert all(r.healthy for r in rows)
    pids = {r.service: r.pid for r in rows}

    again = run_cli("up", state_dir=state)
    assert again.returncode == 0, again.stderr
    assert {r.service: r.pid for r in Stack(state).status()} == pids

    env = run_cli("env", state_dir=state)
    assert f"BINLOG_PIPELINE_BOOTSTRAP_SERVERS=127.0.0.1:{stack.describe()['ports']['kafka']}" in env.stdout
    assert "BINLOG_PIPELINE_STACK_SOURCE_ADMIN_URL=" in env.stdout

    status = run_cli("status", state_dir=state)
    assert status.returncode == 0 and "healthy" in status.stdout

    down = run_cli("down", state_dir=state)
    assert down.returncode == 0, down.stderr
    assert not any(is_alive(pid) for pid in pids.values())
    assert not any(port_open(port) for port in stack.describe()["ports"].values())
    stopped = run_cli("status", state_dir=state)
    assert stopped.returncode == 1 and "stopped" in stopped.stdout

    assert run_cli("down", "--purge", state_dir=state).returncode == 0
    assert not state.exists()


def test_unknown_service_is_a_clear_error(tmp_path: Path) -> None:
    """Naming a service that does not exist fails with the list of known ones."""
    result = run_cli("down", "zookeeper", state_dir=tmp_path)
    assert result.returncode == 1
    assert "unknown service(s) zookeeper; known: kafka, source, target" in result.stderr


def test_env_before_up_says_what_to_do(tmp_path: Path) -> None:
    """`env` on a stack that never started tells the user to run `stack up`."""
    result = run_cli("env", state_dir=tmp_path)
    assert result.returncode == 1 and "stack up" in result.stderr


def test_missing_tools_say_how_to_install(tmp_path: Path) -> None:
    """Without java / mariadbd on PATH, `stack up` fails with the install command, not a traceback."""
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(
        [sys.executable, "-m", "binlog_pipeline", "stack", "up", "--state-dir", str(tmp_path / "st")],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
    )
    assert result.returncode == 1
    assert "`java` is not on PATH" in result.stderr and "apt-get install" in result.stderr
    assert "Traceback" not in result.stderr
