"""`tail`: the project's Avro topics as JSON lines — what kcat is to raw topics."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, KafkaError, TopicPartition

from binlog_pipeline.core.config import Settings
from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.core.kafka_read import committed_reader
from binlog_pipeline.core.schema_store import TopicSchemaStore
from binlog_pipeline.schemas.codec import DecodeError
from binlog_pipeline.schemas.topics import TopicNames


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact; a float would round
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _renamed(image: dict[str, Any] | None, names: dict[str, str]) -> dict[str, Any] | None:
    return None if image is None else {names.get(k, k): _plain(v) for k, v in image.items()}


def tail(
    settings: Settings,
    name: str,
    partition: int,
    offset: int | None,
    from_beginning: bool,
    max_messages: int | None,
    follow: bool,
    idle_s: float = 10.0,
) -> Iterator[dict[str, Any]]:
    """Decoded messages of topic ``name`` (a full topic name of any prefix, or ``db.table``)."""
    conf = settings.librdkafka()
    consumer = committed_reader(conf, "tail")
    store: TopicSchemaStore | None = None
    try:
        topic = _existing_topic(consumer, settings, name, partition)
        # the topic's own prefix holds its writer schemas, whatever --topic-prefix says
        store = TopicSchemaStore(
            conf,
            TopicNames.of_topic(topic, settings.topic_prefix).schemas,
            timeout_s=settings.kafka_timeout_s,
        )
        start = offset if offset is not None else (OFFSET_BEGINNING if from_beginning else OFFSET_END)
        consumer.assign([TopicPartition(topic, partition, start)])
        seen = 0
        while max_messages is None or seen < max_messages:
            msg = consumer.poll(0.5 if follow else idle_s)
            if msg is None:
                if follow:
                    continue
                return
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF and not follow:
                    return
                if error.code() != KafkaError._PARTITION_EOF:
                    raise PermanentError(f"{topic}[{partition}]: {error.str()}")
                continue
            line: dict[str, Any] = {
                "topic": msg.topic(),
                "partition": msg.partition(),
                "offset": msg.offset(),
            }
            try:
                decoded = store.decode(msg.value() or b"")
            except DecodeError as exc:
                line["error"] = str(exc)
            else:
                record = decoded.record
                if decoded.schema.kind == "change":
                    names = decoded.schema.column_names
                    line.update(
                        op=record["op"],
                        before=_renamed(record["before"], names),
                        after=_renamed(record["after"], names),
                        source=record["source"],
                        transaction=record["transaction"],
                    )
                else:
                    line.update(op="schema_change", **_plain(record))
            yield line
            seen += 1
    finally:
        consumer.close()
        if store is not None:
            store.close()


def _existing_topic(consumer: Any, settings: Settings, name: str, partition: int) -> str:
    """The topic ``name`` means, failing loudly up front: an unreachable broker (KafkaException),
    or a wrong topic or partition — otherwise tail would wait, print nothing and look like an
    empty topic."""
    metadata = consumer.list_topics(timeout=settings.kafka_timeout_s)
    topic = TopicNames(settings.topic_prefix).resolve(name, metadata.topics)
    if topic not in metadata.topics:
        raise PermanentError(f"no such topic on {settings.bootstrap_servers}: {topic}")
    partitions = sorted(metadata.topics[topic].partitions)
    if partition not in partitions:
        raise PermanentError(f"{topic} has partitions {partitions}, not {partition}")
    return topic


def to_json(line: dict[str, Any]) -> str:
    return json.dumps(line, ensure_ascii=False, default=str)


__all__ = ["tail", "to_json"]
