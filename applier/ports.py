"""What the applier's main loop uses of its clients, as small interfaces.

:class:`applier.runner.ApplierRunner` builds the real ones by default — confluent-kafka's
``Consumer`` and ``Producer``, :class:`core.schema_store.TopicSchemaStore`,
:class:`applier.target.Target`, :func:`core.kafka_admin.ensure_topic` — and takes any of them
from its caller instead, so that its logic can be driven without a broker (tests/unit).

The target stays a class, not an interface: the checkpoint, DDL and schema modules share the
runner's :class:`Target` objects and use most of it; a test passes a subclass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from confluent_kafka import KafkaError, TopicPartition

from binlog_pipeline.applier.checkpoint import OffsetCommitter
from binlog_pipeline.applier.messages import SchemaLookup
from binlog_pipeline.applier.target import Target
from binlog_pipeline.core.config import Settings
from binlog_pipeline.core.dburl import DatabaseUrl

RebalanceCallback = Callable[[Any, list[TopicPartition]], None]
DeliveryReport = Callable[[KafkaError | None, Any], None]


class ConsumedMessage(Protocol):
    """A message (or an error event) as ``consume()`` returns it."""

    def error(self) -> KafkaError | None: ...
    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...


class GroupConsumer(OffsetCommitter, Protocol):
    """The applier's consumer-group member: subscription with rebalance callbacks, fetching,
    positioning (seek, pause, resume), committed offsets and watermarks."""

    def subscribe(
        self,
        topics: list[str],
        on_assign: RebalanceCallback = ...,
        on_revoke: RebalanceCallback = ...,
        on_lost: RebalanceCallback = ...,
    ) -> None: ...
    def consume(self, num_messages: int = ..., timeout: float = ...) -> Sequence[ConsumedMessage]: ...
    def committed(self, partitions: list[TopicPartition], timeout: float = ...) -> list[TopicPartition]: ...
    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float = ..., cached: bool = ...
    ) -> tuple[int, int]: ...
    def seek(self, partition: TopicPartition) -> None: ...
    def pause(self, partitions: list[TopicPartition]) -> None: ...
    def resume(self, partitions: list[TopicPartition]) -> None: ...
    def incremental_assign(self, partitions: list[TopicPartition]) -> None: ...
    def incremental_unassign(self, partitions: list[TopicPartition]) -> None: ...
    def list_topics(self, topic: str | None = ..., timeout: float = ...) -> Any: ...
    def close(self) -> None: ...


class DeadLetterProducer(Protocol):
    """Sends undeliverable messages to the dead-letter topic; ``flush`` returns how many are
    still undelivered when it gives up waiting."""

    def produce(
        self,
        topic: str,
        value: bytes | None = ...,
        key: bytes | None = ...,
        *,
        on_delivery: DeliveryReport | None = ...,
        headers: dict[str, str | bytes | None] | None = ...,
    ) -> None: ...
    def flush(self, timeout: float = ...) -> int: ...


class SchemaSource(SchemaLookup, Protocol):
    """Writer schemas by fingerprint (from the schema topic), closed at shutdown."""

    def close(self) -> None: ...


# Connects lazily: constructing one opens nothing.
TargetFactory = Callable[[DatabaseUrl], Target]
# The admin client's one use here: create the dead-letter topic unless it exists.
TopicEnsurer = Callable[[Settings, str], None]
