"""Replay: move the applier back to an earlier point of its table topics, consistently.

The applier resumes each partition at its row in the target checkpoint table (at the group's
committed Kafka offset only where the target has none: :class:`applier.checkpoint.ResumePoints`), and
lag tools read the Kafka offset, so a replay lowers **both**. Replay only
ever moves a partition backwards: a partition already at or before the requested point keeps its
position, because moving forward would skip changes that were never applied. The one exception is
explicit: a position below the partition's log start (retention deleted what the group never
applied, which the applier refuses) is moved up to the log start with ``accept_retention_gap``.

Order of the writes: target checkpoint rows first (one transaction), then the Kafka offsets. If
the second step fails the applier replays from the target rows all the same; the group's Kafka
offsets (what lag tools show) stay behind until replay is run again, and the failure is reported. Kafka itself refuses to alter the
offsets of a group with active members, on top of our own check.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass
from typing import Any

import pymysql
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from binlog_pipeline.applier.checkpoint import CheckpointTable, resume_points
from binlog_pipeline.applier.messages import BadMessage, Coordinates, RowChange, decode
from binlog_pipeline.applier.target import Target
from binlog_pipeline.core import mysql_errors
from binlog_pipeline.core.config import Settings
from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.core.kafka_admin import require_group
from binlog_pipeline.core.kafka_errors import error_of
from binlog_pipeline.core.kafka_read import committed_reader, read_to_end
from binlog_pipeline.core.schema_store import TopicSchemaStore
from binlog_pipeline.schemas.topics import TopicNames

KEYLESS_PROBE = 50  # messages read per partition to find a row change and its key


@dataclass(frozen=True)
class ReplayPoint:
    """Where to replay from: exactly one of the fields is set."""

    earliest: bool = False
    offset: int | None = None
    timestamp_ms: int | None = None

    @classmethod
    def by_duration(cls, duration: dt.timedelta) -> ReplayPoint:
        return cls(timestamp_ms=int((time.time() - duration.total_seconds()) * 1000))

    @classmethod
    def at(cls, when: dt.datetime) -> ReplayPoint:
        if when.tzinfo is None:
            raise PermanentError(f"--to-datetime {when.isoformat()} needs a UTC offset, e.g. ...Z or +02:00")
        return cls(timestamp_ms=int(when.timestamp() * 1000))


@dataclass(frozen=True)
class PartitionReplay:
    topic: str
    partition: int
    kafka_committed: int | None
    target_checkpoint: int | None
    current: int  # where the applier would resume: the target row, else the Kafka commit
    new: int
    end: int  # high watermark
    keyless_table: str | None  # db.table when the partition carries changes of a table without a key
    retention_gap: int = 0  # offsets retention deleted below the log start before they were applied
    gap_accepted: bool = False  # moved forward over that gap, on request

    @property
    def moves(self) -> bool:
        return self.new < self.current or self.gap_accepted

    @property
    def messages(self) -> int:
        """Offsets to re-apply (transaction markers included, as in Kafka's own tools)."""
        return max(self.current - self.new, 0)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "messages": self.messages}


def plan(
    settings: Settings,
    group: str,
    topics: list[str],
    point: ReplayPoint,
    accept_retention_gap: bool = False,
) -> list[PartitionReplay]:
    """Compute the replay of ``topics`` (full names of any prefix, or ``db.table``) for ``group``
    without changing anything. Raises :class:`PermanentError` when the group is unknown or has
    active members, or a topic is missing."""
    settings.require("target_url")
    assert settings.target_url is not None
    conf = settings.librdkafka()
    admin = AdminClient(conf)
    metadata = admin.list_topics(timeout=settings.kafka_timeout_s)
    names = TopicNames(settings.topic_prefix)
    topics = [names.resolve(t, metadata.topics) for t in topics]
    missing = [t for t in topics if t not in metadata.topics]
    if missing:
        raise PermanentError(f"no such topic on {settings.bootstrap_servers}: {', '.join(missing)}")
    _require_idle_group(admin, group, settings)
    partitions = [TopicPartition(t, p) for t in topics for p in sorted(metadata.topics[t].partitions)]
    # The group's own id, to read its committed offsets (a reader never joins the group).
    reader = Consumer(
        {**conf, "group.id": group, "enable.auto.commit": False, "isolation.level": "read_committed"}
    )
    target = Target(settings.target_url)
    stores: dict[str, TopicSchemaStore] = {}  # per prefix: each topic's own prefix has its schemas

    def store_of(topic: str) -> TopicSchemaStore:
        prefix = TopicNames.of_topic(topic, settings.topic_prefix)
        if prefix.prefix not in stores:
            stores[prefix.prefix] = TopicSchemaStore(conf, prefix.schemas, timeout_s=settings.kafka_timeout_s)
        return stores[prefix.prefix]

    try:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        points = resume_points(
            reader,
            keys,
            lambda: _target_checkpoints(target, settings, group, partitions),
            settings.kafka_timeout_s,
        )
        kafka, stored = points.kafka, points.stored
        requested = _requested_offsets(reader, partitions, point, settings.kafka_timeout_s)
        steps = []
        for tp in partitions:
            key = (tp.topic, tp.partition)
            low, high = reader.get_watermark_offsets(tp, timeout=settings.kafka_timeout_s)
            current = points.at(key)
            gap = low - max(current, 0)
            if current < 0 and gap <= 0:
                current = low  # never applied: the applier starts at the beginning anyway
            current = max(current, 0)
            new = min(max(requested[key], low), current)
            accepted = gap > 0 and accept_retention_gap
            if accepted:
                new = low
            steps.append(
                PartitionReplay(
                    tp.topic,
                    tp.partition,
                    kafka.get(key),
                    stored.get(key),
                    current,
                    new,
                    high,
                    _keyless_table(conf, store_of(tp.topic), tp, new, current, settings.kafka_timeout_s)
                    if new < current
                    else None,
                    max(gap, 0),
                    accepted,
                )
            )
        return steps
    finally:
        reader.close()
        target.close()
        for store in stores.values():
            store.close()


def execute(settings: Settings, group: str, steps: list[PartitionReplay]) -> None:
    """Set the target checkpoint rows, then the group's Kafka offsets, for every step that moves."""
    assert settings.target_url is not None
    moving = [s for s in steps if s.moves]
    if not moving:
        return
    admin = AdminClient(settings.librdkafka())
    _require_idle_group(admin, group, settings)
    target = Target(settings.target_url)
    try:
        checkpoint = CheckpointTable(settings.checkpoint_table, group)
        checkpoint.ensure(target)
        upsert = checkpoint.upsert({(s.topic, s.partition): s.new for s in moving})
        conn = target.conn
        conn.begin()
        with conn.cursor() as cur:
            cur.execute(upsert.sql, upsert.params)
        conn.commit()
    except pymysql.MySQLError as exc:
        raise PermanentError(f"could not rewrite the target checkpoint rows, nothing changed: {exc}") from exc
    finally:
        target.close()
    request = ConsumerGroupTopicPartitions(
        group, [TopicPartition(s.topic, s.partition, s.new) for s in moving]
    )
    try:
        result = admin.alter_consumer_group_offsets([request])[group].result()
    except KafkaException as exc:
        raise PermanentError(
            f"target checkpoint rows were lowered but Kafka refused the new offsets ({error_of(exc).str()}); "
            "the applier replays from the target rows, but the group's Kafka offsets (what lag shows) "
            "are still the old ones — run replay again"
        ) from exc
    failed = [tp for tp in result.topic_partitions if tp.error is not None]
    if failed:
        raise PermanentError(
            "Kafka refused the new offsets for "
            + ", ".join(f"{tp.topic}[{tp.partition}]: {tp.error}" for tp in failed)
            + " — the applier replays from the target rows, but Kafka's offsets (what lag shows) are still "
            "the old ones there; run replay again"
        )


def _require_idle_group(admin: AdminClient, group: str, settings: Settings) -> None:
    require_group(admin, settings, group)
    description = admin.describe_consumer_groups([group])[group].result(settings.kafka_timeout_s)
    if description.members:
        hosts = ", ".join(sorted(f"{m.client_id}@{m.host}" for m in description.members))
        raise PermanentError(
            f"consumer group {group!r} has {len(description.members)} active member(s) ({hosts}): "
            "stop the applier(s) first; replay changes nothing while the group is in use"
        )


def _target_checkpoints(
    target: Target, settings: Settings, group: str, partitions: list[TopicPartition]
) -> dict[tuple[str, int], int]:
    checkpoint = CheckpointTable(settings.checkpoint_table, group)
    try:
        return checkpoint.read(target, ((tp.topic, tp.partition) for tp in partitions))
    except pymysql.MySQLError as exc:
        if mysql_errors.code(exc) in mysql_errors.NO_SUCH_TABLE:  # never applied: planning creates nothing
            return {}
        raise PermanentError(
            f"could not read the target checkpoint table {settings.checkpoint_table}: {exc}"
        ) from exc


def _requested_offsets(
    reader: Any, partitions: list[TopicPartition], point: ReplayPoint, timeout: float
) -> dict[tuple[str, int], int]:
    if point.timestamp_ms is None:
        wanted = 0 if point.earliest else int(point.offset or 0)
        return {(tp.topic, tp.partition): wanted for tp in partitions}
    query = [TopicPartition(tp.topic, tp.partition, point.timestamp_ms) for tp in partitions]
    found = reader.offsets_for_times(query, timeout=timeout)
    offsets = {}
    for tp in found:
        if tp.error is not None:
            raise PermanentError(f"offsets for time on {tp.topic}[{tp.partition}] failed: {tp.error}")
        if tp.offset < 0:  # no message at or after that time: nothing there to replay
            _, high = reader.get_watermark_offsets(tp, timeout=timeout)
            offsets[(tp.topic, tp.partition)] = high
        else:
            offsets[(tp.topic, tp.partition)] = tp.offset
    return offsets


def _keyless_table(
    conf: dict[str, Any], store: TopicSchemaStore, tp: TopicPartition, start: int, end: int, timeout_s: float
) -> str | None:
    """db.table when the replayed range holds changes of a table without a primary key: applying
    those again inserts their rows again, so replay refuses them unless told otherwise."""
    consumer = committed_reader(conf, "replay-probe")
    try:
        for count, msg in enumerate(
            read_to_end(consumer, tp.topic, tp.partition, start=start, timeout_s=timeout_s)
        ):
            if count >= KEYLESS_PROBE or int(msg.offset() or 0) >= end:
                return None
            where = Coordinates(tp.topic, tp.partition, int(msg.offset() or 0))
            try:
                message = decode(store, where, msg.value())
            except BadMessage:
                continue
            if isinstance(message, RowChange):
                return None if message.primary_key else f"{message.database}.{message.table}"
        return None
    finally:
        consumer.close()


def render_table(steps: list[PartitionReplay]) -> str:
    width = max([len(s.topic) for s in steps] + [5])
    lines = [f"{'TOPIC':<{width}} {'PART':>4} {'CURRENT':>10} {'NEW':>10} {'REPLAY':>8}  NOTE"]
    for s in steps:
        note = "unchanged (already at or before that point)" if not s.moves else ""
        if s.retention_gap:
            note = f"retention gap: {s.retention_gap} offsets deleted before they were applied; " + (
                "moving up to the log start" if s.gap_accepted else "pass --accept-retention-gap"
            )
        if s.keyless_table:
            note = f"{s.keyless_table} has no primary key: rows would be inserted again"
        lines.append(
            f"{s.topic:<{width}} {s.partition:>4} {s.current:>10} {s.new:>10} {s.messages:>8}  {note}"
        )
    lines.append(f"{'TOTAL':<{width}} {'':>4} {'':>10} {'':>10} {sum(s.messages for s in steps):>8}")
    return "\n".join(lines)
