"""Consumer lag of the applier's group over the table topics of a prefix.

The end offset is the **high watermark**, exactly as Kafka's own `kafka-consumer-groups
--describe` reports it, so the two always agree. On transactional topics the high watermark
includes the commit marker written after the last message: a fully applied partition therefore
shows a lag of 1 (its marker), never 0. `lag_seconds` is the age of the oldest unapplied change,
from the event time the producer recorded (0 when only markers remain)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from binlog_pipeline.core.config import Settings
from binlog_pipeline.core.kafka_admin import require_group, table_topics
from binlog_pipeline.core.kafka_read import committed_reader, read_to_end
from binlog_pipeline.core.schema_store import TopicSchemaStore
from binlog_pipeline.schemas.codec import DecodeError
from binlog_pipeline.schemas.topics import TopicNames


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None  # None: the group never committed on this partition
    end: int  # high watermark
    lag: int
    lag_seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure(settings: Settings, group: str) -> list[PartitionLag]:
    conf = settings.librdkafka()
    admin = AdminClient(conf)
    require_group(admin, settings, group)
    partitions = [
        TopicPartition(name, p) for name, parts in table_topics(settings, admin).items() for p in parts
    ]
    reader = Consumer({**conf, "group.id": group, "enable.auto.commit": False})
    store = TopicSchemaStore(
        conf, TopicNames(settings.topic_prefix).schemas, timeout_s=settings.kafka_timeout_s
    )
    try:
        committed = {
            (tp.topic, tp.partition): tp.offset
            for tp in reader.committed(partitions, timeout=settings.kafka_timeout_s)
        }
        rows = []
        for tp in partitions:
            low, high = reader.get_watermark_offsets(tp, timeout=settings.kafka_timeout_s)
            offset = committed.get((tp.topic, tp.partition), -1)
            start = offset if offset >= 0 else low
            lag = max(high - start, 0)
            seconds = _age_of(conf, store, tp, start, settings.kafka_timeout_s) if lag else 0.0
            rows.append(
                PartitionLag(tp.topic, tp.partition, offset if offset >= 0 else None, high, lag, seconds)
            )
        return rows
    finally:
        reader.close()
        store.close()


def _age_of(
    conf: dict[str, Any], store: TopicSchemaStore, tp: TopicPartition, offset: int, timeout_s: float
) -> float:
    """Seconds since the source event of the first committed message at or after ``offset``
    (0 when only transaction markers are left)."""
    consumer = committed_reader(conf, "lag-reader")
    try:
        for msg in read_to_end(consumer, tp.topic, tp.partition, start=offset, timeout_s=timeout_s):
            try:
                record = store.decode(msg.value() or b"").record
            except DecodeError:
                return 0.0
            ts = float(record["source"]["ts_sec"])
            if ts > 0:  # records written before this field was reliable carry 0: skip them
                return max(time.time() - ts, 0.0)
        return 0.0
    finally:
        consumer.close()


def render_table(rows: list[PartitionLag]) -> str:
    width = max([len(r.topic) for r in rows] + [5])
    lines = [f"{'TOPIC':<{width}} {'PART':>4} {'COMMITTED':>10} {'END':>10} {'LAG':>8} {'LAG_S':>8}"]
    for r in rows:
        committed = "-" if r.committed is None else str(r.committed)
        lines.append(
            f"{r.topic:<{width}} {r.partition:>4} {committed:>10} {r.end:>10} {r.lag:>8} {r.lag_seconds:>8.1f}"
        )
    lines.append(
        f"{'TOTAL':<{width}} {'':>4} {'':>10} {'':>10} {sum(r.lag for r in rows):>8} "
        f"{max((r.lag_seconds for r in rows), default=0.0):>8.1f}"
    )
    return "\n".join(lines)
