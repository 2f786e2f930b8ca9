"""binlog-pipeline replay against the real stack: the plan, the refusals, and a replay from the
earliest offset that really re-applies (a target row damaged after the first pass is repaired)."""

from __future__ import annotations

import json
import subprocess

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from binlog_pipeline.core.kafka_admin import create_topic
from binlog_pipeline.schemas.topics import TopicNames
from tests.applier_harness import ApplierThread, applier_settings, drop_target_database, equal
from tests.kafka_helpers import wait_for
from tests.ops.test_ops import pipeline_cli
from tests.producer_harness import ProducerThread, current_position, producer_settings
from tests.services import Services, connect, query

pytestmark = pytest.mark.integration


def kafka_committed(services: Services, group: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": services.bootstrap, "group.id": group})
    try:
        return int(consumer.committed([TopicPartition(topic, 0)], timeout=30)[0].offset)
    finally:
        consumer.close()


def target_checkpoint(services: Services, group: str, topic: str) -> int:
    rows = query(
        services.target_admin,
        "SELECT next_offset FROM binlog_pipeline.applier_checkpoint WHERE group_id=%s AND topic=%s",
        (group, topic),
    )
    return int(rows[0][0])


def replay(services: Services, prefix: str, *args: str) -> subprocess.CompletedProcess[str]:
    return pipeline_cli(services, "replay", "--topic-prefix", prefix, "--group", f"applier-{prefix}", *args)


def test_replay_from_earliest_reapplies_and_target_stays_equal(
    services: Services, source_db: str, topic_prefix: str
) -> None:
    group = f"applier-{topic_prefix}"
    names = TopicNames(topic_prefix)
    t, k = names.table(source_db, "t"), names.table(source_db, "k")
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{source_db}`.t (id INT PRIMARY KEY, v VARCHAR(20))")
        cur.execute(f"CREATE TABLE `{source_db}`.k (v INT)")
    try:
        with ProducerThread(
            producer_settings(services, topic_prefix, start_position=current_position(services))
        ) as producer:
            with ApplierThread(applier_settings(services, topic_prefix)) as applier:
                with connect(services.source_admin) as conn, conn.cursor() as cur:
                    cur.executemany(
                        f"INSERT INTO `{source_db}`.t VALUES (%s, %s)", [(i, f"v{i}") for i in range(50)]
                    )
                    cur.execute(f"UPDATE `{source_db}`.t SET v = 'updated' WHERE id < 10")
                    cur.execute(f"DELETE FROM `{source_db}`.t WHERE id >= 40")
                    cur.execute(f"INSERT INTO `{source_db}`.k VALUES (1), (2)")
                wait_for(lambda: equal(services, source_db, ("t", "k")), what="t and k equal")
                wait_for(lambda: kafka_committed(services, group, t) > 0, what="offsets committed")

                busy = replay(services, topic_prefix, f"{source_db}.t", "--to-earliest")
                assert busy.returncode == 2 and "active member" in busy.stderr, busy.stderr
                applier.stop()
            producer.stop()
        before = kafka_committed(services, group, t)
        assert target_checkpoint(services, group, t) == before

        dry = replay(
            services, topic_prefix, f"{source_db}.t", "--to-earliest", "--dry-run", "--format", "json"
        )
        assert dry.returncode == 0, dry.stderr
        [step] = json.loads(dry.stdout.splitlines()[0])["partitions"]
        assert (step["topic"], step["current"], step["new"], step["messages"]) == (t, before, 0, before)
        assert (step["kafka_committed"], step["target_checkpoint"]) == (before, before)  # both records read
        assert kafka_committed(services, group, t) == before  # dry run changed nothing
        assert target_checkpoint(services, group, t) == before
        elsewhere = f"dry_{topic_prefix}"  # a checkpoint table that does not exist yet stays absent
        dry = replay(
            services,
            topic_prefix,
            f"{source_db}.t",
            "--to-earliest",
            "--dry-run",
            "--set",
            f"checkpoint_table={elsewhere}.cp",
            "--format",
            "json",
        )
        assert dry.returncode == 0, dry.stderr
        # No target row there: the applier would resume at the group's Kafka commit, and so plans replay.
        [step] = json.loads(dry.stdout.splitlines()[0])["partitions"]
        assert (step["kafka_committed"], step["target_checkpoint"], step["current"]) == (before, None, before)
        assert dry.returncode == 0 and not query(
            services.target_admin,
            "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME=%s",
            (elsewhere,),
        ), dry.stderr

        keyless = replay(services, topic_prefix, f"{source_db}.k", "--to-earliest")
        assert keyless.returncode == 1 and f"{source_db}.k has no primary key" in keyless.stderr
        assert kafka_committed(services, group, k) > 0
        # Full topic names whatever --topic-prefix says (here the default): the plan probes each
        # topic with its own prefix's schema topic, so the keyless table is still found.
        full = pipeline_cli(services, "replay", t, k, "--group", group, "--to-earliest", "--dry-run")
        assert full.returncode == 1 and f"{source_db}.k has no primary key" in full.stderr, full.stderr
        assert f"{t} " in full.stdout and kafka_committed(services, group, k) > 0

        future = replay(services, topic_prefix, f"{source_db}.t", "--to-datetime", "2999-01-01T00:00:00Z")
        assert future.returncode == 0 and "unchanged" in future.stdout
        assert kafka_committed(services, group, t) == before

        # Damage the target after the first pass: only a real re-apply repairs it.
        with connect(services.target_admin) as conn, conn.cursor() as cur:
            cur.execute(f"DELETE FROM `{source_db}`.t WHERE id < 20")
        assert not equal(services, source_db, ("t",))
        done = replay(services, topic_prefix, f"{source_db}.t", "--by-duration", "PT1H")
        assert done.returncode == 0, done.stderr
        assert kafka_committed(services, group, t) == 0
        assert target_checkpoint(services, group, t) == 0
        with ApplierThread(applier_settings(services, topic_prefix)) as applier:
            wait_for(lambda: kafka_committed(services, group, t) >= before, what="replay applied")
            applier.stop()
        assert equal(services, source_db, ("t", "k"))
        assert target_checkpoint(services, group, t) == kafka_committed(services, group, t) == before
    finally:
        drop_target_database(services, source_db)


def test_replay_errors(services: Services, topic_prefix: str) -> None:
    """Bad flags, a bad duration, a missing topic, an unknown group, an unreachable broker."""
    both = replay(services, topic_prefix, "x.y", "--to-earliest", "--to-offset", "3")
    assert both.returncode == 2 and "exactly one of" in both.stderr
    neither = replay(services, topic_prefix, "--to-earliest")
    assert neither.returncode == 2 and "--all-topics" in neither.stderr
    duration = replay(services, topic_prefix, "x.y", "--by-duration", "an hour")
    assert duration.returncode == 2 and "not an ISO 8601 duration: 'an hour'" in duration.stderr
    naive = replay(services, topic_prefix, "x.y", "--to-datetime", "2026-01-01T00:00:00")
    assert naive.returncode == 2 and "needs a UTC offset" in naive.stderr
    missing = replay(services, topic_prefix, "x.y", "--to-earliest")
    assert missing.returncode == 2 and f"no such topic on {services.bootstrap}: {topic_prefix}.x.y" in (
        missing.stderr
    )
    no_topics = replay(services, topic_prefix, "--all-topics", "--to-earliest")
    assert no_topics.returncode == 2 and f"no table topics with prefix {topic_prefix!r}" in no_topics.stderr
    topic = TopicNames(topic_prefix).table("x", "y")
    create_topic(
        AdminClient({"bootstrap.servers": services.bootstrap}),
        applier_settings(services, topic_prefix),
        topic,
    )
    unknown = replay(services, topic_prefix, "x.y", "--to-earliest", "--group", "no-such-group")
    assert unknown.returncode == 2 and "consumer group 'no-such-group' does not exist" in unknown.stderr
    down = replay(
        services,
        topic_prefix,
        "x.y",
        "--to-earliest",
        "--bootstrap-servers",
        "127.0.0.1:1",
        "--set",
        "kafka=socket.timeout.ms=2000",
        "--set",
        "kafka_timeout_s=5",
    )
    assert down.returncode == 2 and "127.0.0.1:1" in down.stderr, down.stderr
