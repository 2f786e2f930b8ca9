"""The applier's checkpoint. Two functions move it — :func:`commit_batch` for a batch of row
changes, :func:`applier.ddl_guard.commit_ddl` for a DDL record — and both commit Kafka offsets
only after the target COMMIT that moved the checkpoint row returned without error.

The target also stores ``(group, topic, partition, next_offset)`` in a checkpoint table, updated
in the same transaction as the rows, so the true position survives a COMMIT whose reply was lost
and a crash between the target COMMIT and the Kafka commit: on start and on every assignment the
applier resumes from the target's row where it has one (:class:`ResumePoints`).

Several appliers share a group, so a member's batch can outlive its ownership of a partition (it
stalled past its session: a long ALTER, a VM pause). The checkpoint row write is therefore a
compare-and-set on the offset the batch started from: a row another member moved past that offset
rolls the whole target transaction back (:class:`CheckpointFenced`), and a row never moves backwards.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from confluent_kafka import KafkaException, TopicPartition

from binlog_pipeline.applier.sql_writer import Statement
from binlog_pipeline.applier.target import Target
from binlog_pipeline.core.errors import TransientError
from binlog_pipeline.core.metrics import (
    APPLIER_APPLY_SECONDS,
    APPLIER_COMMIT_SECONDS,
    APPLIER_OFFSET_COMMIT_SECONDS,
)
from binlog_pipeline.core.sql import qualified, quote

log = logging.getLogger(__name__)


Partition = tuple[str, int]
Offsets = dict[Partition, int]
# Kafka names are case-sensitive ('Orders' and 'orders' are two topics): compared byte for byte.
NAME_COLUMN = "VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL"


def exact_names(cur: Any, database: str, table: str, columns: tuple[str, ...]) -> None:
    """Make name columns of a table created by an earlier version compare byte for byte."""
    cur.execute(
        "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
        "AND COLUMN_NAME IN %s AND COLLATION_NAME <> 'utf8mb4_bin'",
        (database, table, columns),
    )
    for (column,) in cur.fetchall():
        cur.execute(f"ALTER TABLE {qualified(database, table)} MODIFY {quote(str(column))} {NAME_COLUMN}")


class CommittedOffsets(Protocol):
    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]: ...


@dataclass(frozen=True)
class ResumePoints:
    """The two records of a group's position — the Kafka commit and the target checkpoint row —
    and the one rule for where a partition resumes (:meth:`at`)."""

    kafka: Offsets  # the group's committed Kafka offsets (partitions with one)
    stored: Offsets  # the target checkpoint rows

    def at(self, partition: Partition) -> int:
        """The target checkpoint row — the proof of what the target holds; a row behind the Kafka
        commit means the target was restored, and it must get those changes again — else the
        group's Kafka commit; -1 for neither (the beginning)."""
        return self.stored[partition] if partition in self.stored else self.kafka.get(partition, -1)


def resume_points(
    consumer: CommittedOffsets,
    partitions: Iterable[Partition],
    read_stored: Callable[[], Offsets],
    timeout_s: float,
) -> ResumePoints:
    """Read both records of ``partitions``: the Kafka commit of ``consumer``'s group (it need not
    be a member: the applier's consumer, or a reader with the group's id), then the target rows
    (``read_stored``)."""
    committed = consumer.committed([TopicPartition(t, p) for t, p in partitions], timeout=timeout_s)
    kafka = {(tp.topic, tp.partition): tp.offset for tp in committed if tp.offset >= 0}
    return ResumePoints(kafka, read_stored())


class CheckpointFenced(TransientError):
    """Another member applied past the offset this batch started from: the batch is stale and its
    transaction was rolled back. Retried as usual — the retry re-reads the positions first."""


class OffsetCommitter(Protocol):
    def commit(
        self, *, offsets: list[TopicPartition], asynchronous: Literal[False]
    ) -> list[TopicPartition]: ...


class CheckpointTable:
    def __init__(self, qualified_name: str, group_id: str) -> None:
        database, table = qualified_name.split(".", 1)
        self.database = database
        self.name = qualified(database, table)
        self.group_id = group_id

    def ensure(self, target: Target) -> None:
        with target.conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {quote(self.database)}")
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {self.name} ("
                f" group_id {NAME_COLUMN}, topic {NAME_COLUMN}, `partition` INT NOT NULL,"
                " next_offset BIGINT NOT NULL, updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),"
                " PRIMARY KEY (group_id, topic, `partition`)) ENGINE=InnoDB"
            )
            exact_names(cur, self.database, self.name.split(".", 1)[1].strip("`"), ("group_id", "topic"))
        target.conn.commit()

    def read(self, target: Target, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        wanted = set(partitions)
        with target.conn.cursor() as cur:
            cur.execute(
                f"SELECT topic, `partition`, next_offset FROM {self.name} WHERE group_id = %s",
                (self.group_id,),
            )
            rows = {(str(t), int(p)): int(o) for t, p, o in cur.fetchall()}
        target.conn.commit()  # end the read's snapshot; the next batch starts fresh
        return {tp: offset for tp, offset in rows.items() if tp in wanted}

    def applied_at(self, target: Target, key: Partition) -> Any:
        """When the group last moved this partition's row (target clock), or None."""
        with target.conn.cursor() as cur:
            cur.execute(
                f"SELECT updated_at FROM {self.name} WHERE group_id = %s AND topic = %s AND `partition` = %s",
                (self.group_id, *key),
            )
            row = cur.fetchone()
        target.conn.commit()
        return row[0] if row else None

    def fence(self, cur: Any, starts: Offsets) -> None:
        """Lock the batch's checkpoint rows (until COMMIT) and prove that none moved past the offset
        the batch started from; raise :class:`CheckpointFenced` otherwise. A row below the start is
        fine (the Kafka commit was ahead, e.g. the table was restored from a backup)."""
        keys = sorted(starts)
        if not keys:
            return
        rows = self._lock(cur, keys)
        # A partition without a row yet gets one at the batch's start, then it is locked again: the
        # insert waits for any other transaction inserting the same row, so a racing member sees
        # the committed row. A locking read of a missing row alone proves nothing under READ
        # COMMITTED (no gap lock): both members' first batches would commit.
        missing = {key: starts[key] for key in keys if key not in rows and starts[key] >= 0}
        if missing:
            cur.execute(*self._insert(missing, "next_offset = next_offset"))
            rows.update(self._lock(cur, sorted(missing)))
        moved = {key: offset for key, offset in rows.items() if offset > starts[key]}
        if moved:
            described = ", ".join(
                f"{t}[{p}] at {offset} (this batch started at {starts[(t, p)]})"
                for (t, p), offset in sorted(moved.items())
            )
            raise CheckpointFenced(
                f"another member of group {self.group_id} applied past this batch: {described}; "
                "rolled back, re-reading positions"
            )

    def upsert(self, offsets: dict[tuple[str, int], int]) -> Statement:
        sql, params = self._insert(
            offsets, "next_offset = VALUES(next_offset), updated_at = CURRENT_TIMESTAMP(6)"
        )
        return Statement(sql, params, ())

    def _insert(self, offsets: Offsets, on_duplicate: str) -> tuple[str, tuple[Any, ...]]:
        params: list[Any] = []
        for (topic, partition), offset in sorted(offsets.items()):
            params += [self.group_id, topic, partition, offset]
        sql = (
            f"INSERT INTO {self.name} (group_id, topic, `partition`, next_offset) VALUES "
            + ", ".join(["(%s, %s, %s, %s)"] * len(offsets))
            + f" ON DUPLICATE KEY UPDATE {on_duplicate}"
        )
        return sql, tuple(params)

    def _lock(self, cur: Any, keys: list[Partition]) -> dict[Partition, int]:
        """The rows of ``keys`` that exist, locked until the transaction ends."""
        params: list[Any] = [self.group_id]
        for topic, partition in keys:
            params += [topic, partition]
        cur.execute(
            f"SELECT topic, `partition`, next_offset FROM {self.name} WHERE group_id = %s AND ("
            + " OR ".join(["(topic = %s AND `partition` = %s)"] * len(keys))
            + ") FOR UPDATE",
            tuple(params),
        )
        return {(str(t), int(p)): int(o) for t, p, o in cur.fetchall()}


def execute_all(statements: Iterable[Statement]) -> Callable[[Any], None]:
    """The usual body of a batch: run its statements in order."""

    def run(cur: Any) -> None:
        for statement in statements:
            cur.execute(statement.sql, statement.params)

    return run


def commit_batch(
    target: Target,
    apply: Callable[[Any], None],
    checkpoint: CheckpointTable,
    starts: Offsets,
    offsets: Offsets,
    consumer: OffsetCommitter,
    before_commit: Callable[[], None] = lambda: None,
) -> None:
    """Apply one batch and move the checkpoint past it — or raise and move nothing.

    1. BEGIN a target transaction.
    2. Fence: lock the checkpoint rows of the batch's partitions and check that each is still at
       most the offset the batch started from (``starts``); else another member owns the
       partition now and :class:`CheckpointFenced` is raised.
    3. ``apply(cursor)``: execute the batch's statements.
    4. Upsert the checkpoint rows ``(group, topic, partition, next_offset)`` in the same transaction.
    5. ``before_commit()`` — e.g. wait for dead-letter deliveries; raising here aborts everything.
    6. COMMIT. Any exception in steps 1 to 6 propagates: nothing was committed to Kafka, and the
       caller rolls back, drops its batch and re-reads from the last committed position.
    7. Only now, after COMMIT returned, commit exactly these offsets to Kafka, synchronously, and
       check each partition's result. A failure here loses nothing (the target row holds the
       position); it is logged and the next batch's commit carries the offsets forward.
    """
    conn = target.conn
    with APPLIER_APPLY_SECONDS.time():
        conn.begin()
        with conn.cursor() as cur:
            checkpoint.fence(cur, starts)
            apply(cur)
            upsert = checkpoint.upsert(offsets)
            cur.execute(upsert.sql, upsert.params)
    before_commit()
    with APPLIER_COMMIT_SECONDS.time():
        conn.commit()
    with APPLIER_OFFSET_COMMIT_SECONDS.time():
        commit_offsets(consumer, offsets)


def commit_offsets(consumer: OffsetCommitter, offsets: dict[tuple[str, int], int]) -> None:
    """The only call of ``consumer.commit``. Its callers pass offsets proven applied: either
    :func:`commit_batch` right after its COMMIT returned, or positions read back from the target
    checkpoint table, whose rows are written only inside a COMMIT that succeeded."""
    partitions = [TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())]
    try:
        result = consumer.commit(offsets=partitions, asynchronous=False)
    except KafkaException as exc:
        log.warning(
            "Kafka offset commit failed after the target COMMIT (target checkpoint holds it): %s", exc
        )
        return
    for tp in result:
        if tp.error is not None:
            log.warning("Kafka offset commit failed for %s[%s]: %s", tp.topic, tp.partition, tp.error)
