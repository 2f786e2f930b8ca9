"""Reading one partition from an offset up to its current end, read_committed — how the producer
finds its checkpoint, how consumers load writer schemas, and how the applier finds a table's
definition in the schema-change history."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from binlog_pipeline.core.errors import TransientError
from binlog_pipeline.core.waiting import Deadline


def committed_reader(kafka_conf: dict[str, Any], purpose: str) -> Consumer:
    """A consumer that never joins a group's assignment or commits: for assign() + reads."""
    return Consumer(
        {
            **kafka_conf,
            "group.id": f"{purpose}-{uuid.uuid4().hex[:8]}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )


def read_to_end(
    consumer: Consumer, topic: str, partition: int = 0, start: int = 0, *, timeout_s: float
) -> Iterator[Message]:
    """Yield every committed message of ``topic[partition]`` from ``start`` to the end as of the
    call: the high watermark then, or a partition EOF before it. Raises :class:`TransientError` on
    timeout, ``KafkaException`` on errors.

    Not "until EOF": while a transactional producer keeps writing, a read_committed consumer never
    sees one (the end moves on before it gets there)."""
    tp = TopicPartition(topic, partition, start)
    _, high = consumer.get_watermark_offsets(tp, timeout=timeout_s)
    if high <= start:
        return
    consumer.assign([tp])
    deadline = Deadline(timeout_s, f"{topic}[{partition}] up to offset {high}")
    try:
        while True:
            if deadline.passed():
                raise TransientError(
                    f"timed out reading {topic}[{partition}] to offset {high} "
                    f"(at {_position(consumer, tp)} after {timeout_s:.0f} s)"
                )
            msg = consumer.poll(0.5)
            if msg is None:
                if _position(consumer, tp) >= high:  # past the last commit marker below it
                    return
                continue
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    return
                raise KafkaException(error)
            yield msg
            if _position(consumer, tp) >= high:
                return
    finally:
        consumer.unassign()


def _position(consumer: Consumer, tp: TopicPartition) -> int:
    """The next offset the consumer will return (negative before the first fetch)."""
    return int(consumer.position([TopicPartition(tp.topic, tp.partition)])[0].offset)


def undecided(kafka_conf: dict[str, Any], topic: str, partition: int = 0, *, timeout_s: float) -> bool:
    """Whether ``topic[partition]`` holds writes of a transaction not decided yet: its last stable
    offset is below its end. A transaction's commit reaches each partition separately, so another
    partition may already show messages of a transaction whose writes here are not readable yet."""
    tp = TopicPartition(topic, partition)
    ends = []
    for isolation in ("read_committed", "read_uncommitted"):
        consumer = Consumer(
            {**kafka_conf, "group.id": f"end-{uuid.uuid4().hex[:8]}", "isolation.level": isolation}
        )
        try:
            ends.append(consumer.get_watermark_offsets(tp, timeout=timeout_s)[1])
        finally:
            consumer.close()
    return bool(ends[0] < ends[1])
