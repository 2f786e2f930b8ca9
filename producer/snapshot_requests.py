"""Snapshot requests: ``binlog-pipeline snapshot --table db.t`` appends one to the topic
``{prefix}.snapshot-requests``; the running producer reads the topic from the offset in its
checkpoint and records each request it takes in the checkpoint of the same Kafka transaction that
starts acting on it. A request is therefore durable when the command returns, taken exactly once,
and works whether or not the producer is running at the time."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer

from binlog_pipeline.core import kafka_errors
from binlog_pipeline.core.config import Settings
from binlog_pipeline.core.errors import TransientError
from binlog_pipeline.core.kafka_read import committed_reader, read_to_end

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SnapshotRequest:
    tables: tuple[str, ...]
    next_offset: int  # the offset after this request


def encode_request(tables: list[str]) -> bytes:
    return json.dumps({"tables": tables, "requested_at": time.time()}).encode()


def send_request(settings: Settings, topic: str, tables: list[str]) -> int:
    """Append a request and wait until the broker has it (acks=all); returns its offset."""
    producer = Producer(settings.producer_librdkafka(acks="all", **{"enable.idempotence": True}))
    errors: list[str] = []
    offsets: list[int] = []

    def delivered(err: object, msg: Any) -> None:
        if err is not None:
            errors.append(str(err))
        else:
            offsets.append(int(msg.offset()))

    producer.produce(
        topic, encode_request(tables), settings.effective_transactional_id().encode(), on_delivery=delivered
    )
    remaining = producer.flush(settings.kafka_timeout_s)
    if remaining or errors or not offsets:
        raise TransientError(f"the snapshot request was not acknowledged by Kafka: {errors or 'timed out'}")
    return offsets[0]


class RequestReader:
    """The producer's reader of the request topic (one consumer, reused; assign, never commit)."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self._topic = topic
        self._timeout_s = settings.kafka_timeout_s
        self._key = settings.effective_transactional_id().encode()
        self._consumer: Consumer = committed_reader(
            settings.librdkafka(), f"{settings.effective_transactional_id()}.snapshot-requests"
        )
        self._last_check = 0.0

    def due(self, every_s: float = 1.0) -> bool:
        return time.monotonic() - self._last_check >= every_s

    def read(self, offset: int) -> list[SnapshotRequest]:
        """Requests for this producer (its transactional id) from ``offset`` to the end."""
        self._last_check = time.monotonic()
        requests = []
        try:
            for msg in read_to_end(self._consumer, self._topic, 0, offset, timeout_s=self._timeout_s):
                tables: tuple[str, ...] = ()
                if msg.key() == self._key:  # others belong to other producers on the same topic
                    try:
                        tables = tuple(str(t) for t in json.loads(msg.value() or b"")["tables"])
                    except (ValueError, KeyError, TypeError) as exc:
                        log.error(
                            "ignoring a malformed snapshot request at %s[0]@%d: %s",
                            self._topic,
                            msg.offset(),
                            exc,
                        )
                requests.append(SnapshotRequest(tables, (msg.offset() or 0) + 1))
        except KafkaException as exc:
            raise TransientError(f"reading {self._topic}: {kafka_errors.error_of(exc).str()}") from exc
        return requests

    def close(self) -> None:
        self._consumer.close()
