"""Operations commands against the real stack: lag (cross-checked with Kafka's own
consumer-groups tool) and tail."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from binlog_pipeline_tools.stack.kafka import jar_cache_dir

from binlog_pipeline.producer.source_check import binlog_status
from binlog_pipeline.schemas.topics import TopicNames
from tests.applier_harness import ApplierThread, applier_settings, drop_target_database, equal
from tests.kafka_helpers import wait_for
from tests.producer_harness import ProducerThread, current_position, producer_settings
from tests.services import Services, connect

pytestmark = pytest.mark.integration


def pipeline_cli(services: Services, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "binlog_pipeline", *args],
        capture_output=True,
        text=True,
        env=services.env(),
        timeout=120,
    )


def kafka_tool_lag(services: Services, group: str) -> dict[tuple[str, int], tuple[int, int, int]]:
    """(current, log-end, lag) per partition from `kafka-consumer-groups --describe`."""
    result = subprocess.run(
        [
            "java",
            "-cp",
            f"{jar_cache_dir()}/*",
            "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
            "--bootstrap-server",
            services.bootstrap,
            "--describe",
            "--group",
            group,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    rows = {}
    for line in result.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[0] == group:
            rows[(fields[1], int(fields[2]))] = (int(fields[3]), int(fields[4]), int(fields[5]))
    assert rows, result.stdout + result.stderr
    return rows


def test_lag_equals_kafkas_tool_and_thresholds(services: Services, source_db: str, topic_prefix: str) -> None:
    """lag reports the same committed offset, end offset and lag as kafka-consumer-groups, with
    unapplied changes pending; --max-lag-messages exits 1 when exceeded; an unknown group is an
    error. The producer side shows the stopped producer's checkpoint behind the source's position."""
    group = f"applier-{topic_prefix}"
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{source_db}`.t (id INT PRIMARY KEY)")
        cur.execute(f"CREATE TABLE `{source_db}`.u (id INT PRIMARY KEY)")
    try:
        with ProducerThread(
            producer_settings(services, topic_prefix, start_position=current_position(services))
        ) as producer:
            with ApplierThread(applier_settings(services, topic_prefix)) as applier:
                with connect(services.source_admin) as conn, conn.cursor() as cur:
                    cur.executemany(f"INSERT INTO `{source_db}`.t VALUES (%s)", [(i,) for i in range(20)])
                    cur.execute(f"INSERT INTO `{source_db}`.u VALUES (1)")
                wait_for(lambda: equal(services, source_db, ("t", "u")), what="t and u equal")
                applier.stop()
            with connect(services.source_admin) as conn, conn.cursor() as cur:
                cur.executemany(f"INSERT INTO `{source_db}`.t VALUES (%s)", [(i,) for i in range(100, 130)])
            topic = TopicNames(topic_prefix).table(source_db, "t")
            wait_for(
                lambda: kafka_tool_lag(services, group)[(topic, 0)][2] >= 30, what="30 unapplied messages"
            )
            producer.stop()
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            cur.execute(f"INSERT INTO `{source_db}`.u VALUES (2)")  # the stopped producer falls behind
            source_file, source_pos = binlog_status(cur)[:2]
        ours = json.loads(
            pipeline_cli(
                services, "lag", "--topic-prefix", topic_prefix, "--group", group, "--format", "json"
            ).stdout
        )
        theirs = kafka_tool_lag(services, group)
        mine = {
            (p["topic"], p["partition"]): (p["committed"], p["end"], p["lag"]) for p in ours["partitions"]
        }
        assert mine == theirs
        assert mine[(topic, 0)][2] > 30  # 30 changes + the commit marker(s) of their Kafka transaction(s)
        [producer_side] = [p for p in ours["producers"] if p["transactional_id"].endswith(topic_prefix)]
        checkpoint_file, checkpoint_pos = producer_side["checkpoint"].split(":")
        assert producer_side["source"] == f"{source_file}:{source_pos}"
        if checkpoint_file == source_file:
            assert producer_side["behind_bytes"] == source_pos - int(checkpoint_pos) > 0
        assert producer_side["behind_bytes"] > 0 and producer_side["behind_seconds"] >= 0
        behind = next(p for p in ours["partitions"] if p["topic"] == topic)
        assert 0 <= behind["lag_seconds"] < 600 and ours["total_lag"] == sum(v[2] for v in theirs.values())
        exceeded = pipeline_cli(
            services, "lag", "--topic-prefix", topic_prefix, "--group", group, "--max-lag-messages", "5"
        )
        assert exceeded.returncode == 1 and "TOTAL" in exceeded.stdout
        within = pipeline_cli(
            services, "lag", "--topic-prefix", topic_prefix, "--group", group, "--max-lag-messages", "1000"
        )
        assert within.returncode == 0
        unknown = pipeline_cli(services, "lag", "--topic-prefix", topic_prefix, "--group", "no-such-group")
        assert unknown.returncode == 2 and "consumer group 'no-such-group' does not exist" in unknown.stderr
    finally:
        drop_target_database(services, source_db)


def test_tail_decodes_to_json_lines(services: Services, source_db: str, topic_prefix: str) -> None:
    """tail prints the definition record and the changes as JSON lines with exact values."""
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE `{source_db}`.t (id INT PRIMARY KEY, amount DECIMAL(30,10), b VARBINARY(4))"
        )
    with ProducerThread(
        producer_settings(services, topic_prefix, start_position=current_position(services))
    ) as producer:
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            cur.execute(f"INSERT INTO `{source_db}`.t VALUES (1, 12345678901234567890.0123456789, 0x00ff)")
            cur.execute(f"UPDATE `{source_db}`.t SET amount = 0 WHERE id = 1")
        result = wait_for(
            lambda: (lambda r: r if r.stdout.count("\n") >= 3 else None)(
                pipeline_cli(
                    services, "tail", f"{source_db}.t", "--topic-prefix", topic_prefix, "--from-beginning"
                )
            ),
            what="3 lines",
        )
        producer.stop()
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line.get("op") for line in lines] == ["schema_change", "c", "u"]
    # the definition record carries the source time of the change that needed it (lag ages use it)
    assert abs(lines[0]["source"]["ts_sec"] - lines[1]["source"]["ts_sec"]) < 5
    assert lines[1]["after"] == {
        "id": 1,
        "amount": "12345678901234567890.0123456789",
        "b": {"base64": "AP8="},
    }
    assert lines[2]["before"]["amount"] == "12345678901234567890.0123456789" and lines[2]["offset"] == 2


def test_tail_takes_a_full_topic_name_of_any_prefix(
    services: Services, source_db: str, topic_prefix: str
) -> None:
    """tail of a full topic name decodes with that topic's own prefix (its schema topic), whatever
    --topic-prefix says; a name that is neither an existing topic nor db.table is one clear error."""
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{source_db}`.t (id INT PRIMARY KEY)")
    with ProducerThread(
        producer_settings(services, topic_prefix, start_position=current_position(services))
    ) as producer:
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            cur.execute(f"INSERT INTO `{source_db}`.t VALUES (7)")
            cur.execute(f"ALTER TABLE `{source_db}`.t ADD COLUMN v INT")
        topic = TopicNames(topic_prefix).table(source_db, "t")

        def three_lines() -> subprocess.CompletedProcess[str] | None:
            result = pipeline_cli(services, "tail", topic, "--from-beginning")  # the default prefix
            if result.returncode == 0 and result.stdout.count("\n") >= 3:
                return result
            # until the producer has created the topic; any other error is the answer
            if result.returncode and "no such topic" not in result.stderr:
                return result
            return None

        result = wait_for(three_lines, what="3 lines")
        producer.stop()
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line.get("op") for line in lines] == ["schema_change", "c", "schema_change"]
    assert {line["topic"] for line in lines} == {topic} and lines[1]["after"] == {"id": 7}
    # an internal topic of that prefix too (one part after the prefix, so never read as db.table)
    history = pipeline_cli(services, "tail", f"{topic_prefix}.schema-changes", "--from-beginning")
    assert history.returncode == 0 and "ADD COLUMN v INT" in history.stdout, history.stderr
    nowhere = pipeline_cli(services, "tail", f"{topic_prefix}.nothing.here")
    assert nowhere.returncode == 1 and "Traceback" not in nowhere.stderr
    assert f"no such topic on {services.bootstrap}: {topic_prefix}.nothing.here" in nowhere.stderr


def test_commands_fail_clearly(services: Services, topic_prefix: str) -> None:
    """Every operations command turns a missing topic, an unreachable broker or database and a
    bad flag into one error line naming what failed, and a non-zero exit — never a traceback,
    never an empty success."""
    down = ("--bootstrap-servers", "127.0.0.1:1", "--set", "kafka_timeout_s=3")
    cases = [
        (["lag", *down], 2, "Kafka at 127.0.0.1:1"),
        (["lag", "--watch", "0"], 2, "--watch"),
        (["lag", "--format", "xml"], 2, "'xml' is not one of"),
        (["tail", "x.y", *down], 1, "Kafka at 127.0.0.1:1"),
        (["tail", "x.y", "--topic-prefix", topic_prefix], 1, f"no such topic on {services.bootstrap}"),
        (["tail", "x.y", "--max-messages", "many"], 2, "Invalid value for '--max-messages'"),
        (["verify", "--set", "target_url=mysql://u:secret@127.0.0.1:1/"], 2, "cannot connect to the target"),
        (["verify", "--chunk-rows", "0"], 2, "chunk"),
        (["replay", "x.y", "--to-earliest", *down], 2, "Kafka at 127.0.0.1:1"),
    ]
    for args, code, expected in cases:
        result = pipeline_cli(services, *args)
        said = " ".join(result.stderr.replace("│", " ").split())  # typer boxes and wraps usage errors
        assert (result.returncode, expected in said) == (code, True), (args, result.stderr)
        assert "Traceback" not in result.stderr and "secret" not in result.stderr
        assert "%3|" not in result.stderr  # librdkafka's raw connection log stays out of the way


def test_tail_wrong_partition(services: Services, topic_prefix: str) -> None:
    from confluent_kafka.admin import AdminClient

    from binlog_pipeline.core.kafka_admin import create_topic
    from tests.applier_harness import applier_settings

    topic = TopicNames(topic_prefix).table("x", "y")
    create_topic(
        AdminClient({"bootstrap.servers": services.bootstrap}),
        applier_settings(services, topic_prefix),
        topic,
    )
    result = pipeline_cli(services, "tail", topic, "--partition", "3")
    assert result.returncode == 1 and f"{topic} has partitions [0], not 3" in result.stderr
