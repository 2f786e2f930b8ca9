"""Reading a partition to its end while a transactional producer keeps writing to it — what `lag`,
`snapshot --follow`, replay and the schema history do on a busy pipeline — against the real broker."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from binlog_pipeline.core.kafka_read import committed_reader, read_to_end
from tests.services import Services

pytestmark = pytest.mark.integration


def test_read_to_end_returns_while_transactions_keep_committing(services: Services) -> None:
    """Each read ends at the end as of its call, with every committed message below it, even
    though new transactions commit all the time (a read_committed consumer never sees a partition
    EOF then: before the fix every read timed out)."""
    topic = f"busy-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": services.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": services.bootstrap, "transactional.id": topic})
    producer.init_transactions(30)
    stop = threading.Event()
    committed = [0]

    def write() -> None:
        while not stop.is_set():
            producer.begin_transaction()
            producer.produce(topic, str(committed[0]).encode())
            producer.commit_transaction(30)
            committed[0] += 1
            time.sleep(0.003)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        time.sleep(1)
        for _ in range(5):
            at_least = committed[0]
            consumer = committed_reader({"bootstrap.servers": services.bootstrap}, "busy")
            try:
                values = [int(msg.value()) for msg in read_to_end(consumer, topic, timeout_s=15)]
            finally:
                consumer.close()
            assert values == list(range(len(values))), "a committed message missing or out of order"
            assert len(values) >= at_least
    finally:
        stop.set()
        writer.join(30)
