"""``binlog-pipeline snapshot``: request an incremental snapshot of tables from the running
producer, and show a snapshot's progress (from the producer's committed checkpoint: what is
reported is what a restart would continue from)."""

from __future__ import annotations

import time
from collections.abc import Callable

from binlog_pipeline.core.config import Settings
from binlog_pipeline.core.errors import ConfigError
from binlog_pipeline.core.kafka_admin import ensure_topic
from binlog_pipeline.ops.producer_lag import latest_checkpoints
from binlog_pipeline.producer.filters import TableFilter
from binlog_pipeline.producer.snapshot_progress import SnapshotProgress
from binlog_pipeline.producer.snapshot_requests import send_request
from binlog_pipeline.producer.source_check import connect
from binlog_pipeline.producer.source_tables import captured_tables
from binlog_pipeline.schemas.topics import TopicNames


def request_snapshot(settings: Settings, tables: list[str]) -> int:
    """Check each ``db.table`` exists on the source and is captured, then append the request
    (the producer takes it at its next safe point, or when it next starts)."""
    settings.require("source_url")
    assert settings.source_url is not None
    for name in tables:
        if name.count(".") != 1 or not all(name.split(".")):
            raise ConfigError(f"--table {name!r}: expected database.table")
    conn = connect(settings.source_url)
    try:
        with conn.cursor() as cur:
            everything = dict(captured_tables(cur, TableFilter([], [])))
    finally:
        conn.close()
    captured = TableFilter(settings.include_tables, settings.exclude_tables)
    for name in tables:
        if name not in everything:
            raise ConfigError(f"{name} is not a table on the source {settings.source_url}")
        if not captured(*name.split(".")):
            raise ConfigError(
                f"{name} is not captured: include_tables={settings.include_tables} "
                f"exclude_tables={settings.exclude_tables}; add it to include_tables and restart the "
                "producer, then request its snapshot"
            )
    topic = TopicNames(settings.topic_prefix).snapshot_requests
    ensure_topic(settings, topic)
    return send_request(settings, topic, tables)


def snapshot_progress(settings: Settings) -> SnapshotProgress | None:
    checkpoint = latest_checkpoints(settings).get(settings.effective_transactional_id())
    return None if checkpoint is None else checkpoint.snapshot


def _taken(settings: Settings, requested_at: int) -> tuple[bool, SnapshotProgress | None]:
    """Whether the producer has taken the request at ``requested_at``, and its progress since."""
    checkpoint = latest_checkpoints(settings).get(settings.effective_transactional_id())
    if checkpoint is None or checkpoint.snapshot_requests_offset <= requested_at:
        return False, None
    return True, checkpoint.snapshot


def describe(progress: SnapshotProgress | None) -> str:
    if progress is None:
        return "no snapshot recorded in the producer's checkpoint"
    if not progress.running:
        took = progress.finished_at - progress.started_at
        return (
            f"snapshot complete: {progress.count_tables()} tables, {progress.rows_done():,} rows, "
            f"{took:.1f} s, finished {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(progress.finished_at))}"
        )
    current = progress.current
    lines = [
        f"snapshot running: {progress.tables_done()}/{progress.count_tables()} tables, "
        f"{progress.rows_done():,}/~{progress.rows_estimated():,} rows"
        + (f", now {current.table}" if current else "")
    ]
    for entry in progress.tables:
        state = "done" if entry.done else ("reading" if entry is current else "waiting")
        lines.append(f"  {entry.table:<40} {state:<8} {entry.rows:>12,} / ~{entry.estimated_rows:,}")
    return "\n".join(lines)


def follow(
    settings: Settings,
    every_s: float,
    show: Callable[[SnapshotProgress | None], None],
    requested_at: int | None = None,
) -> SnapshotProgress | None:
    """Call ``show`` with the committed progress every ``every_s`` until no snapshot runs — after
    the producer has taken the request sent at offset ``requested_at`` of the request topic (until
    then the last snapshot's progress says nothing about this one)."""
    while True:
        if requested_at is None:
            taken, progress = True, snapshot_progress(settings)
        else:
            taken, progress = _taken(settings, requested_at)
        show(progress)
        if taken and (progress is None or not progress.running):
            return progress
        time.sleep(every_s)
