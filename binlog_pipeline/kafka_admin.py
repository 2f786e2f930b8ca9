"""Creating topics: the producer's table and internal topics, the applier's dead-letter topic."""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from binlog_pipeline.config import Settings
from binlog_pipeline.errors import PermanentError, TransientError

log = logging.getLogger(__name__)
TIMEOUT_S = 30.0


def create_topic(
    admin: AdminClient, settings: Settings, name: str, compacted: bool = False, retain_forever: bool = False
) -> bool:
    """Create ``name`` unless it exists; True when this call created it. Internal topics
    (compacted / kept forever) have one partition; table topics ``topic_partitions``."""
    config = {"cleanup.policy": "compact"} if compacted else {}
    if retain_forever:
        config["retention.ms"] = "-1"
    partitions = 1 if (compacted or retain_forever) else settings.topic_partitions
    replication = settings.topic_replication_factor or -1
    futures = admin.create_topics([NewTopic(name, partitions, replication, config=config)])
    try:
        futures[name].result(TIMEOUT_S)
    except KafkaException as exc:
        err: KafkaError = exc.args[0]
        if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return False
        if err.retriable():
            raise TransientError(f"creating topic {name}: {err.str()}") from exc
        raise PermanentError(
            f"cannot create topic {name}: {err.str()} (create it yourself or allow this principal to CREATE topics)"
        ) from exc
    log.info("created topic %s", name, extra={"partitions": partitions})
    return True


def ensure_topic(settings: Settings, name: str) -> None:
    admin = AdminClient(settings.librdkafka())
    if name not in admin.list_topics(timeout=TIMEOUT_S).topics:
        create_topic(admin, settings, name)
