"""Prometheus metrics and /healthz /readyz of the real producer and applier processes.

Counters are checked for exact values (each row counted once, even when its batch was retried
after a fault), readiness is checked to follow real faults injected with the loopback proxy."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from binlog_pipeline_tools.chaos.tcp_proxy import COMMIT, TcpProxy
from confluent_kafka import Consumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.schemas.topics import TopicNames
from tests.applier_harness import ApplierProcess, drop_target_database, equal
from tests.kafka_helpers import wait_for
from tests.producer_harness import ProducerProcess, current_position
from tests.runner_harness import CliProcess
from tests.services import Services, connect

pytestmark = pytest.mark.integration


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def endpoint_port(process: CliProcess) -> int:
    found = wait_for(
        lambda: re.search(r"/readyz on http://[^:]+:(\d+)", process.log()), what="the endpoints to be served"
    )
    return int(found.group(1))


def sample(port: int, name: str, **labels: str) -> float:
    """The value of one sample (0 when absent)."""
    _, text = get(port, "/metrics")
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


def proxied(url: DatabaseUrl, proxy: TcpProxy) -> str:
    return DatabaseUrl(url.host, proxy.port, url.user, url.password).unmasked()


def test_metrics_count_final_work_once_and_readiness_follows_faults(
    services: Services, source_db: str, topic_prefix: str, tmp_path: Path
) -> None:
    table = f"{source_db}.t"
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, v INT)")
    target_proxy = TcpProxy(services.target_url.port)
    source_proxy = TcpProxy(services.source_url.port)
    producer = ProducerProcess(
        services,
        topic_prefix,
        tmp_path / "producer.log",
        source_url=proxied(services.source_url, source_proxy),
        start_position=current_position(services),
        metrics_port=0,
    ).start()
    applier = ApplierProcess(
        services,
        topic_prefix,
        tmp_path / "applier.log",
        target_url=proxied(services.target_url, target_proxy),
        metrics_port=0,
    ).start()
    try:
        pport, aport = endpoint_port(producer), endpoint_port(applier)
        assert get(pport, "/healthz") == (200, "ok\n") and get(aport, "/healthz") == (200, "ok\n")
        assert get(aport, "/nothing")[0] == 404
        wait_for(lambda: get(pport, "/readyz")[0] == 200, what="producer ready")
        wait_for(lambda: get(aport, "/readyz")[0] == 200, what="applier ready")

        with connect(services.source_admin) as conn, conn.cursor() as cur:
            for start in range(0, 100, 25):
                cur.executemany(
                    f"INSERT INTO {table} VALUES (%s, %s)", [(i, i) for i in range(start, start + 25)]
                )
            cur.execute(f"UPDATE {table} SET v = v + 1 WHERE id < 10")
            cur.execute(f"DELETE FROM {table} WHERE id >= 95")
        wait_for(lambda: equal(services, source_db, ("t",)), what="t equal")

        # A COMMIT that never reaches the target: the batch is applied again, counted once.
        rule = target_proxy.set_rule(COMMIT, "cut_before", times=1)
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {table} VALUES (%s, %s)", [(i, i) for i in range(100, 120)])
        wait_for(lambda: equal(services, source_db, ("t",)), what="t equal after the cut COMMIT")
        assert rule.fired == 1

        # The target unreachable: the applier is not ready, says why, and recovers.
        target_proxy.refuse()
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            cur.execute(f"INSERT INTO {table} VALUES (500, 500)")
        _, why = wait_for(
            lambda: (lambda r: r if r[0] == 503 else None)(get(aport, "/readyz")), what="applier not ready"
        )
        assert "retrying after" in why, why
        target_proxy.accept()
        wait_for(lambda: get(aport, "/readyz")[0] == 200, timeout_s=90, what="applier ready again")
        wait_for(lambda: equal(services, source_db, ("t",)), what="t equal after the outage")

        # The source unreachable: the producer is not ready until it is back.
        source_proxy.refuse()
        wait_for(lambda: get(pport, "/readyz")[0] == 503, what="producer not ready")
        source_proxy.accept()
        wait_for(lambda: get(pport, "/readyz")[0] == 200, timeout_s=90, what="producer ready again")

        changes = {"c": 100 + 20 + 1, "u": 10, "d": 5}
        total = sum(changes.values())
        assert sample(pport, "binlog_pipeline_producer_rows_produced_total", table=table) == total
        assert sample(pport, "binlog_pipeline_producer_rows_read_total", table=table) >= total
        assert sample(pport, "binlog_pipeline_producer_kafka_transactions_total", outcome="committed") >= 1
        assert sample(pport, "binlog_pipeline_producer_checkpoint_binlog_position") > 0
        assert sample(pport, "binlog_pipeline_producer_checkpoint_source_timestamp_seconds") > 1.7e9
        assert sample(pport, "binlog_pipeline_retries_total", component="producer") >= 1
        assert sample(pport, "process_resident_memory_bytes") > 0

        for op, count in changes.items():
            assert sample(aport, "binlog_pipeline_applier_rows_applied_total", table=table, op=op) == count
        assert sample(aport, "binlog_pipeline_applier_end_to_end_seconds_count") == total
        assert sample(aport, "binlog_pipeline_applier_batch_rows_sum") == total
        assert sample(aport, "binlog_pipeline_applier_commit_seconds_count") >= 3
        assert sample(aport, "binlog_pipeline_retries_total", component="applier") >= 2
        topic = TopicNames(topic_prefix).table(source_db, "t")
        consumer = Consumer({"bootstrap.servers": services.bootstrap, "group.id": f"applier-{topic_prefix}"})
        try:
            committed = consumer.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        finally:
            consumer.close()
        assert (
            sample(aport, "binlog_pipeline_applier_checkpoint_offset", topic=topic, partition="0")
            == committed
        )
        # Lag in messages as `binlog-pipeline lag` reports it: high watermark minus committed
        # (1 here: the last transaction's commit marker).
        assert high - committed == 1
        wait_for(
            lambda: sample(aport, "binlog_pipeline_applier_lag_messages", topic=topic, partition="0") == 1,
            what="lag gauge settled at the commit marker",
        )
        assert producer.terminate() == 0 and applier.terminate() == 0
    finally:
        for process in (producer, applier):
            if process.proc is not None and process.proc.poll() is None:
                process.kill9()
        target_proxy.close()
        source_proxy.close()
        drop_target_database(services, source_db)


def test_metrics_port_in_use_is_a_clear_error(services: Services, topic_prefix: str, tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        applier = ApplierProcess(
            services, topic_prefix, tmp_path / "applier.log", metrics_port=port, metrics_host="127.0.0.1"
        ).start()
        assert applier.proc is not None and applier.proc.wait(60) == 2
    assert f"cannot serve metrics on 127.0.0.1:{port}" in applier.log()
