"""The applier's checkpoint. The one code path that moves it is :func:`commit_batch`, and it
commits Kafka offsets only after the target COMMIT returned without error.

The target also stores ``(group, topic, partition, next_offset)`` in a checkpoint table, updated
in the same transaction as the rows, so the true position survives a COMMIT whose reply was lost
and a crash between the target COMMIT and the Kafka commit: on start and on every assignment the
applier resumes from the later of the two.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Literal, Protocol

from confluent_kafka import KafkaException, TopicPartition

from applier.sql_writer import Statement
from applier.target import Target
from binlog_pipeline.metrics import (
    APPLIER_APPLY_SECONDS,
    APPLIER_COMMIT_SECONDS,
    APPLIER_OFFSET_COMMIT_SECONDS,
)
from binlog_pipeline.sql import qualified, quote

log = logging.getLogger(__name__)


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
                " group_id VARCHAR(255) NOT NULL, topic VARCHAR(255) NOT NULL, `partition` INT NOT NULL,"
                " next_offset BIGINT NOT NULL, updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),"
                " PRIMARY KEY (group_id, topic, `partition`)) ENGINE=InnoDB"
            )
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

    def upsert(self, offsets: dict[tuple[str, int], int]) -> Statement:
        params: list[Any] = []
        for (topic, partition), offset in sorted(offsets.items()):
            params += [self.group_id, topic, partition, offset]
        sql = (
            f"INSERT INTO {self.name} (group_id, topic, `partition`, next_offset) VALUES "
            + ", ".join(["(%s, %s, %s, %s)"] * len(offsets))
            + " ON DUPLICATE KEY UPDATE next_offset = VALUES(next_offset), updated_at = CURRENT_TIMESTAMP(6)"
        )
        return Statement(sql, tuple(params), ())


def commit_batch(
    target: Target,
    statements: Iterable[Statement],
    checkpoint: CheckpointTable,
    offsets: dict[tuple[str, int], int],
    consumer: OffsetCommitter,
    before_commit: Callable[[], None] = lambda: None,
) -> None:
    """Apply one batch and move the checkpoint past it — or raise and move nothing.

    1. BEGIN a target transaction.
    2. Execute the batch's statements.
    3. Upsert the checkpoint rows ``(group, topic, partition, next_offset)`` in the same transaction.
    4. ``before_commit()`` — e.g. wait for dead-letter deliveries; raising here aborts everything.
    5. COMMIT. Any exception in steps 1 to 5 propagates: nothing was committed to Kafka, and the
       caller rolls back, drops its batch and re-reads from the last committed position.
    6. Only now, after COMMIT returned, commit exactly these offsets to Kafka, synchronously, and
       check each partition's result. A failure here loses nothing (the target row holds the
       position); it is logged and the next batch's commit carries the offsets forward.
    """
    conn = target.conn
    with APPLIER_APPLY_SECONDS.time():
        conn.begin()
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement.sql, statement.params)
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
