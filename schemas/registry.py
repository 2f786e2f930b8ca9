"""Fills a :class:`SchemaStore` from the compacted schema topic (read_committed), so any consumer
can decode the project's messages without a schema registry."""

from __future__ import annotations

import time
import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from schemas.codec import Decoded, DecodeError, SchemaStore, WriterSchema


class TopicSchemaStore(SchemaStore):
    """A schema store that reads (and on an unknown fingerprint re-reads) the schema topic."""

    def __init__(self, kafka_conf: dict[str, Any], topic: str, timeout_s: float = 30.0) -> None:
        super().__init__()
        self._topic = topic
        self._timeout_s = timeout_s
        self._consumer = Consumer(
            {
                **kafka_conf,
                "group.id": f"schema-reader-{uuid.uuid4().hex[:8]}",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            }
        )
        self._next_offset = 0

    def refresh(self) -> None:
        """Read every schema committed since the last refresh."""
        partition = TopicPartition(self._topic, 0, self._next_offset)
        _, high = self._consumer.get_watermark_offsets(partition, timeout=self._timeout_s)
        if high <= self._next_offset:
            return
        self._consumer.assign([partition])
        deadline = time.monotonic() + self._timeout_s
        while time.monotonic() < deadline:
            msg = self._consumer.poll(0.5)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    break
                raise KafkaException(error)
            value = msg.value()
            if value is not None:  # a tombstone carries no schema
                self.add(WriterSchema.from_json(value))
            self._next_offset = (msg.offset() or 0) + 1
        self._consumer.unassign()

    def decode(self, data: bytes) -> Decoded:
        if self.fingerprint_of(data) not in self:
            self.refresh()
        return super().decode(data)

    def close(self) -> None:
        self._consumer.close()


__all__ = ["DecodeError", "TopicSchemaStore"]
