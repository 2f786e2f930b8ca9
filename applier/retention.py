"""Kafka retention is a data boundary, like a purged binlog.

A group position below a partition's log-start offset means retention deleted messages this group
never applied: the target is missing those changes. The applier refuses to go on there — at
assignment, and while running (``auto.offset.reset=error``, so librdkafka never jumps on its own) —
naming the partition, the gap in offsets and time, and the recovery. Accepting the loss is an
explicit act: ``binlog-pipeline replay … --accept-retention-gap`` after re-syncing the table.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

import pymysql
from confluent_kafka import TopicPartition

from binlog_pipeline.applier.checkpoint import CheckpointTable, Offsets, Partition
from binlog_pipeline.applier.target import Target
from binlog_pipeline.core.config import Settings
from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.core.kafka_read import committed_reader


class RetentionGap(PermanentError):
    """Messages this group never applied were deleted by retention."""


def check_retention(
    consumer: Any,
    settings: Settings,
    starts: Offsets,
    kafka: Offsets,
    stored: Offsets,
    checkpoint: CheckpointTable,
    target: Target,
) -> None:
    """Raise :class:`RetentionGap` for the first partition whose start (``-1``: nothing applied
    yet, so the beginning) lies below its log-start offset."""
    for key, start in sorted(starts.items()):
        low, _high = consumer.get_watermark_offsets(TopicPartition(*key), timeout=settings.kafka_timeout_s)
        if low > max(start, 0):
            raise RetentionGap(
                describe_gap(settings, checkpoint, target, key, start, low, kafka.get(key), stored.get(key))
            )


def describe_gap(
    settings: Settings,
    checkpoint: CheckpointTable,
    target: Target,
    key: Partition,
    position: int,
    low: int | None = None,
    kafka: int | None = None,
    stored: int | None = None,
) -> str:
    topic, partition = key
    oldest_ts: dt.datetime | None = None
    reader = committed_reader(settings.librdkafka(), "retention-gap")
    try:
        if low is None:
            low, _ = reader.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=settings.kafka_timeout_s
            )
        oldest_ts = _message_time(reader, topic, partition, low, settings.kafka_timeout_s)
    finally:
        reader.close()
    applied_at = None
    with contextlib.suppress(pymysql.MySQLError):
        applied_at = checkpoint.applied_at(target, key)
    if position >= 0:
        where = (
            f"this group's position is offset {position} (target checkpoint row {stored}, "
            f"Kafka commit {kafka}), but the partition now starts at offset {low}: "
            f"{low - position} offsets ({position}..{low - 1}) were deleted by retention before they "
            "were applied"
        )
    else:
        where = (
            f"this group has applied nothing of it yet, but the partition starts at offset {low}: its "
            f"first {low} offsets (the table's definition and earliest changes) were deleted by retention"
        )
    times = []
    if applied_at is not None:
        times.append(f"this group last applied it at {applied_at.isoformat()} (target time)")
    if oldest_ts is not None:
        times.append(f"the oldest message left (offset {low}) was written at {oldest_ts.isoformat()}")
    return (
        f"retention gap on {topic}[{partition}]: {where}"
        + (f"; {' and '.join(times)}" if times else "")
        + ". The target is missing those changes, so the applier stopped and applied nothing of this "
        "partition. Recover: re-sync the table (`binlog-pipeline snapshot --table DB.TABLE` re-publishes "
        f"it), then accept the gap with `binlog-pipeline replay {topic} --to-earliest "
        "--accept-retention-gap` (moves this group to the log start) and start the applier again. "
        "To prevent it, keep the table topics' retention.ms longer than the longest applier outage "
        "(README: Topic retention)."
    )


def _message_time(
    reader: Any, topic: str, partition: int, offset: int, timeout_s: float
) -> dt.datetime | None:
    """The broker timestamp of the message at ``offset`` (None if it cannot be read in time; an
    empty partition answers at once: the reader reports its end)."""
    reader.assign([TopicPartition(topic, partition, offset)])
    try:
        msg = reader.poll(timeout_s)
        if msg is None or msg.error() is not None:
            return None
        _kind, millis = msg.timestamp()
        return dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC)
    finally:
        reader.unassign()
