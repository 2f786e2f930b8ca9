"""The applier's main loop driven through its ports (applier/ports.py) with fakes, where only a
fake reaches the branch: no broker, no target."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, KafkaError, TopicPartition

from binlog_pipeline.applier.runner import ApplierRunner
from binlog_pipeline.applier.target import Target
from binlog_pipeline.core.config import Settings
from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.core.retry import retrying
from binlog_pipeline.schemas.codec import SchemaStore, encode
from binlog_pipeline.schemas.envelope import TableSchema
from tests.unit.rows import COLUMNS

TOPIC = "binlog.shop.orders"


class Message:
    """A consumed message as the runner reads it (confluent-kafka 2.6, our floor, cannot build a
    confluent_kafka.Message by hand)."""

    def __init__(
        self,
        topic: str,
        partition: int,
        offset: int = -1,
        value: bytes | None = None,
        error: KafkaError | None = None,
    ) -> None:
        self._topic, self._partition, self._offset = topic, partition, offset
        self._value, self._error = value, error

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return None

    def error(self) -> KafkaError | None:
        return self._error

    def timestamp(self) -> tuple[int, int]:
        return TIMESTAMP_NOT_AVAILABLE, 0


class FakeConsumer:
    """A group member whose fetches return the given message lists, in turn; it records the
    positions it is sent to and every offset commit."""

    def __init__(self, *fetches: list[Message]) -> None:
        self.fetches = list(fetches)
        self.consumed = 0
        self.seeks: list[tuple[str, int, int]] = []
        self.commits: list[list[TopicPartition]] = []

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]:
        self.consumed += 1
        return self.fetches.pop(0) if self.fetches else []

    def seek(self, partition: TopicPartition) -> None:
        self.seeks.append((partition.topic, partition.partition, partition.offset))

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> list[TopicPartition]:
        self.commits.append(offsets)
        return offsets

    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float = -1, cached: bool = False
    ) -> tuple[int, int]:
        return 0, 100

    def subscribe(self, topics: list[str], **callbacks: Any) -> None: ...
    def committed(self, partitions: list[TopicPartition], timeout: float = -1) -> list[TopicPartition]:
        return []

    def pause(self, partitions: list[TopicPartition]) -> None: ...
    def resume(self, partitions: list[TopicPartition]) -> None: ...
    def incremental_assign(self, partitions: list[TopicPartition]) -> None: ...
    def incremental_unassign(self, partitions: list[TopicPartition]) -> None: ...
    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any: ...
    def close(self) -> None: ...


class UntouchedTarget(Target):
    """A target connection that must never be used; it counts the resets that drop it."""

    def __init__(self, url: DatabaseUrl) -> None:
        super().__init__(url)
        self.resets = 0

    @property
    def conn(self) -> Any:
        raise AssertionError("the target was used")

    def reset(self) -> None:
        self.resets += 1
        super().reset()


class Schemas(SchemaStore):
    def close(self) -> None: ...


def order_message(offset: int) -> tuple[Schemas, Message]:
    """A schema store that knows shop.orders, and an insert into it at ``offset`` of TOPIC[0]."""
    schema = TableSchema("shop", "orders", COLUMNS, ("id",)).value_schema()
    store = Schemas()
    store.add(schema)
    source = {
        "server_id": 1,
        "file": "b.1",
        "pos": 4,
        "gtid": None,
        "ts_sec": 0,
        "db": "shop",
        "table": "orders",
        "row": 0,
    }
    record = {
        "before": None,
        "after": {"id": 1, "name": "a"},
        "op": "c",
        "source": source,
        "transaction": {"id": "t", "order": 1},
        "ts_ms": 0,
    }
    return store, Message(topic=TOPIC, partition=0, offset=offset, value=encode(schema, record))


def test_a_fatal_consumer_error_stops_with_nothing_applied_or_committed() -> None:
    """A fatal consumer error in the middle of a batch stops the applier (a permanent error, not
    retried), drops the batch, rewinds to the last committed position and commits nothing.
    librdkafka raises fatal consumer errors only for static membership (a fenced
    group.instance.id), which the applier refuses — so no real fault reaches this branch."""
    store, message = order_message(offset=5)
    fatal = KafkaError(KafkaError._FATAL, "fenced by another instance", fatal=True)
    consumer = FakeConsumer([message, Message(topic=TOPIC, partition=0, error=fatal)])
    targets: list[UntouchedTarget] = []

    def connect(url: DatabaseUrl) -> UntouchedTarget:
        targets.append(UntouchedTarget(url))
        return targets[-1]

    settings = Settings(
        target_url=DatabaseUrl("192.0.2.1", 3306, "applier", ""),
        retry_initial_backoff_ms=10,
        retry_deadline_s=2,
    )
    runner = ApplierRunner(
        settings, threading.Event(), consumer=consumer, schemas=store, connect_target=connect
    )
    runner.positions[(TOPIC, 0)] = 5  # as assignment leaves it: the partition's committed position

    with pytest.raises(PermanentError, match=r"^Kafka: fenced by another instance$"):
        retrying(settings, runner._step)  # the main loop's policy: a permanent error is not retried

    assert consumer.consumed == 1
    assert consumer.commits == []
    assert consumer.seeks == [(TOPIC, 0, 5)]
    assert runner.positions == {(TOPIC, 0): 5}
    assert [t.resets for t in targets] == [1, 1]  # both connections dropped, neither ever used
