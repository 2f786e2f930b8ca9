"""Reading what the pipeline published, as any read_committed consumer would."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from binlog_pipeline_tools.chaos.tcp_proxy import TcpProxy
from binlog_pipeline_tools.stack import Stack
from confluent_kafka import Consumer, KafkaError, TopicPartition

from binlog_pipeline.core.schema_store import TopicSchemaStore
from binlog_pipeline.core.waiting import Deadline, WaitTimeout, wait_until
from binlog_pipeline.schemas.codec import Decoded
from binlog_pipeline.schemas.topics import TopicNames
from tests.services import Services


def read_all(bootstrap: str, topic: str, timeout_s: float = 30) -> list[Any]:
    """Every committed message of partition 0 of ``topic``, up to its current end."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex[:8]}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        md = consumer.list_topics(topic, timeout=10)
        if md.topics[topic].error is not None:
            return []
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        if high == 0:
            return []
        consumer.assign([TopicPartition(topic, 0, 0)])
        messages = []
        deadline = Deadline(timeout_s, f"the end of {topic}")
        while not deadline.passed():
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error() is not None:
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    break
                raise RuntimeError(msg.error())
            messages.append(msg)
        return messages
    finally:
        consumer.close()


def decode_topic(bootstrap: str, prefix: str, database: str, table: str) -> list[Decoded]:
    topics = TopicNames(prefix)
    store = TopicSchemaStore({"bootstrap.servers": bootstrap}, topics.schemas, timeout_s=30)
    try:
        return [store.decode(m.value()) for m in read_all(bootstrap, topics.table(database, table))]
    finally:
        store.close()


def changes(decoded: list[Decoded]) -> list[dict[str, Any]]:
    """Only the row changes (not schema-change records), as envelope dicts with original column
    names in before/after."""
    result = []
    for item in decoded:
        if item.schema.kind != "change":
            continue
        names = item.schema.column_names
        record = dict(item.record)
        for image in ("before", "after"):
            if record[image] is not None:
                record[image] = {names[k]: v for k, v in record[image].items()}
        result.append(record)
    return result


def wait_for(predicate: Any, timeout_s: float = 60, interval_s: float = 0.5, what: str = "condition") -> Any:
    """The first true value of ``predicate()``; fails the test (AssertionError) after ``timeout_s``."""
    try:
        return wait_until(predicate, timeout_s, interval_s, what)
    except WaitTimeout as exc:
        raise AssertionError(str(exc)) from exc


def kafka_proxy(services: Services) -> TcpProxy:
    """A proxy on the broker's fault-injection listener: a client that bootstraps through it talks
    to the broker only through this proxy."""
    stack = services.stack
    if stack is None and os.environ.get("BINLOG_PIPELINE_STACK_DIR"):
        stack = Stack(Path(os.environ["BINLOG_PIPELINE_STACK_DIR"]))
    if stack is None:
        pytest.skip("needs the local stack's proxied Kafka listener")
    return TcpProxy(stack.port("kafka_proxied"), listen_port=stack.port("kafka_via_proxy"))
