"""What a chaos run proves once the pipeline has drained: nothing lost, doubled or skipped.

Read directly from the servers (never through the fault proxies): every table CHECKSUM- and
row-count-equal, `verify`'s row-level comparison clean, the dead-letter topic empty, and for every
table-topic partition the group's committed offset past the last committed message and equal to
the target's checkpoint row."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from binlog_pipeline.core.config import Settings
from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.core.kafka_admin import table_topics
from binlog_pipeline.core.kafka_read import committed_reader, read_to_end
from binlog_pipeline.ops.verify import Side, verify_table
from binlog_pipeline_tools.bench.workloads import checksum


@dataclass
class Verdict:
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    differences: list[str] = field(default_factory=list)
    dead_letters: int = 0
    partitions: dict[str, dict[str, int | None]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.differences


def committed_offsets(settings: Settings, group: str) -> dict[str, int]:
    """``topic[partition]`` → the group's committed offset (-1: none) for every table topic."""
    partitions = [TopicPartition(t, p) for t, parts in table_topics(settings).items() for p in parts]
    consumer = Consumer({**settings.librdkafka(), "group.id": group, "enable.auto.commit": False})
    try:
        found = consumer.committed(partitions, timeout=settings.kafka_timeout_s)
    finally:
        consumer.close()
    return {f"{tp.topic}[{tp.partition}]": tp.offset for tp in found}


def unapplied(settings: Settings, group: str, offsets: dict[str, int] | None = None) -> dict[str, int]:
    """Committed messages at or after the group's committed offset (``offsets``, read when not
    given), per partition. Zero everywhere means the applier has applied (and committed offsets
    for) everything the producer committed; transaction markers and aborted messages are not
    counted (read_committed)."""
    counts = {}
    reader = committed_reader(settings.librdkafka(), "chaos-drain")
    try:
        for name, offset in (offsets or committed_offsets(settings, group)).items():
            topic, partition = name[:-1].rsplit("[", 1)
            start = max(offset, 0)
            counts[name] = sum(
                1
                for _ in read_to_end(reader, topic, int(partition), start, timeout_s=settings.kafka_timeout_s)
            )
    finally:
        reader.close()
    return counts


def count_messages(settings: Settings, topic: str) -> int:
    reader = committed_reader(settings.librdkafka(), "chaos-dlq")
    try:
        return sum(1 for _ in read_to_end(reader, topic, 0, 0, timeout_s=settings.kafka_timeout_s))
    finally:
        reader.close()


def target_checkpoints(target_admin: DatabaseUrl, table: str, group: str) -> dict[str, int]:
    import pymysql

    conn = pymysql.connect(**target_admin.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT topic, `partition`, next_offset FROM {table} WHERE group_id = %s", (group,))
            return {f"{t}[{p}]": int(o) for t, p, o in cur.fetchall()}
    finally:
        conn.close()


def tables_in(side: Side, schemas: list[str]) -> list[tuple[str, str]]:
    """Every table of ``schemas`` on one server, sorted."""
    marks = ", ".join(["%s"] * len(schemas))
    rows = side.rows(
        "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
        f"WHERE TABLE_SCHEMA IN ({marks}) ORDER BY 1, 2",
        schemas,
    )
    return [(str(db), str(name)) for db, name in rows]


def _tables(side: Side, schemas: list[str]) -> set[str]:
    return {".".join(t) for t in tables_in(side, schemas)}


def judge(
    settings: Settings,
    group: str,
    source_admin: DatabaseUrl,
    target_admin: DatabaseUrl,
    tables: list[tuple[str, str]],
    dead_letter_topic: str,
) -> Verdict:
    verdict = Verdict()
    source, target = Side("source", source_admin), Side("target", target_admin)
    with contextlib.closing(source), contextlib.closing(target):
        # Same set of tables: a DROP or RENAME not applied leaves one behind on the target.
        schemas = sorted({db for db, _ in tables})
        on_source, on_target = (_tables(side, schemas) for side in (source, target))
        for name in sorted(on_target - on_source):
            verdict.differences.append(f"{name}: on the target only (a DROP or RENAME not applied?)")
        for name in sorted(on_source - on_target):
            verdict.differences.append(f"{name}: missing on the target")
        for table in tables:
            name = ".".join(table)
            src, dst = checksum(source_admin, name), checksum(target_admin, name)
            report = verify_table(source, target, table, table, 1000, 0, 0.0, lambda _n: None)
            verdict.tables[name] = {
                "source_checksum": src[0],
                "target_checksum": dst[0],
                "source_rows": src[1],
                "target_rows": dst[1],
                "verify": "equal" if report.equal else "different",
            }
            if src != dst:
                verdict.differences.append(f"{name}: CHECKSUM/rows source {src} != target {dst}")
            if not report.equal:
                details = report.missing[:3] + report.extra[:3] + report.changed[:3] + [report.note]
                verdict.differences.append(
                    f"{name}: verify found differences: {'; '.join(filter(None, details))}"
                )
    verdict.dead_letters = count_messages(settings, dead_letter_topic)
    if verdict.dead_letters:
        verdict.differences.append(
            f"{verdict.dead_letters} message(s) on the dead-letter topic {dead_letter_topic}"
        )
    kafka = committed_offsets(settings, group)
    left = unapplied(settings, group, kafka)
    rows = target_checkpoints(target_admin, settings.checkpoint_table, group)
    for name in sorted(kafka):
        verdict.partitions[name] = {
            "committed": kafka[name],
            "target_checkpoint": rows.get(name),
            "unapplied": left[name],
        }
        if left[name]:
            verdict.differences.append(f"{name}: {left[name]} committed message(s) past the group's offset")
        if rows.get(name) != kafka[name]:
            verdict.differences.append(
                f"{name}: Kafka committed offset {kafka[name]} != target checkpoint row {rows.get(name)}"
            )
    return verdict
