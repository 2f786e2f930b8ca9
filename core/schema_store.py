"""Fills a :class:`SchemaStore` from the compacted schema topic (read_committed), so any consumer
can decode the project's messages without a schema registry."""

from __future__ import annotations

from typing import Any

from binlog_pipeline.core.errors import TransientError
from binlog_pipeline.core.kafka_read import committed_reader, read_to_end, undecided
from binlog_pipeline.schemas.codec import DecodeError, SchemaStore, WriterSchema


class TopicSchemaStore(SchemaStore):
    """A schema store that reads (and on an unknown fingerprint re-reads) the schema topic."""

    def __init__(self, kafka_conf: dict[str, Any], topic: str, *, timeout_s: float) -> None:
        super().__init__()
        self._topic = topic
        self._timeout_s = timeout_s
        self._kafka_conf = kafka_conf
        self._consumer = committed_reader(kafka_conf, "schema-reader")
        self._next_offset = 0

    def refresh(self) -> None:
        """Read every schema committed since the last refresh."""
        for msg in read_to_end(
            self._consumer, self._topic, start=self._next_offset, timeout_s=self._timeout_s
        ):
            value = msg.value()
            if value is not None:  # a tombstone carries no schema
                self.add(WriterSchema.from_json(value))
            self._next_offset = (msg.offset() or 0) + 1

    def unknown(self, fp: bytes) -> WriterSchema:
        """Read the schemas committed since the last look, then take ``fp``'s."""
        self.refresh()
        schema = self.get(fp)
        if schema is not None:
            return schema
        # A message's schema is written in the message's own transaction, but the commit reaches
        # each partition separately: the message may be readable before its schema.
        if undecided(self._kafka_conf, self._topic, 0, timeout_s=self._timeout_s):
            raise TransientError(
                f"writer schema {fp.hex()} is not in {self._topic} yet, which holds a "
                "transaction not decided yet: reading it again once it is"
            )
        return super().unknown(fp)

    def close(self) -> None:
        self._consumer.close()


__all__ = ["DecodeError", "TopicSchemaStore"]
