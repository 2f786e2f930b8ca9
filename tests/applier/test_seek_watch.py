"""The applier's check that a partition's first message after a seek is the first committed one
(transaction markers and aborted transactions in between are fine), against the real broker."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from binlog_pipeline.applier.continuity import SeekWatch
from binlog_pipeline.core.config import load_settings
from binlog_pipeline.core.errors import TransientError
from tests.services import Services

pytestmark = pytest.mark.integration


def test_a_forward_jump_past_committed_messages_is_refused(services: Services) -> None:
    """Offsets: committed 0-2, marker 3, committed 4-5, marker 6, aborted 7-8, marker 9, committed
    10, marker 11. First messages 4 after a seek to 3 and 10 after a seek to 7 are lawful; 4 after
    a seek to 0 skipped committed messages."""
    topic = f"seekwatch-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": services.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": services.bootstrap, "transactional.id": topic})
    producer.init_transactions(30)
    for values, commit in (
        ([b"a", b"b", b"c"], True),
        ([b"d", b"e"], True),
        ([b"x", b"y"], False),
        ([b"f"], True),
    ):
        producer.begin_transaction()
        for value in values:
            producer.produce(topic, value)
        producer.flush(30)
        if commit:
            producer.commit_transaction(30)
        else:
            producer.abort_transaction(30)
    settings = load_settings(env={}, flags={"bootstrap_servers": services.bootstrap})
    watch = SeekWatch(settings)
    key = (topic, 0)
    watch.sought(key, 3)
    watch.delivered(key, 4)  # a marker at 3
    watch.sought(key, 7)
    watch.delivered(key, 10)  # an aborted transaction and its marker
    watch.delivered(key, 12)  # not right after a seek: not checked
    watch.sought(key, 0)
    with pytest.raises(TransientError, match="committed offset 0 comes before it"):
        watch.delivered(key, 4)
