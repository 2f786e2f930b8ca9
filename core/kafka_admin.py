"""Topics: creating the producer's table and internal topics and the applier's dead-letter
topic; listing the table topics of a prefix for the operations commands."""

from __future__ import annotations

import logging
import re

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from binlog_pipeline.core.config import Settings
from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.core.kafka_errors import classify_admin, error_of
from binlog_pipeline.schemas.topics import TopicNames

log = logging.getLogger(__name__)


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
        futures[name].result(settings.kafka_timeout_s)
    except KafkaException as exc:
        err = error_of(exc)
        if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return False
        raise classify_admin(
            exc,
            f"creating topic {name}: {err.str()}",
            f"cannot create topic {name}: {err.str()} (create it yourself or allow this principal to CREATE topics)",
        ) from exc
    log.info("created topic %s", name, extra={"partitions": partitions})
    return True


def ensure_topic(settings: Settings, name: str) -> None:
    admin = AdminClient(settings.librdkafka())
    if name not in admin.list_topics(timeout=settings.kafka_timeout_s).topics:
        create_topic(admin, settings, name)


def table_topics(settings: Settings, admin: AdminClient | None = None) -> dict[str, list[int]]:
    """Every table topic of ``settings.topic_prefix`` with its partitions, sorted; raises
    :class:`PermanentError` when there is none (a wrong prefix or broker)."""
    admin = admin or AdminClient(settings.librdkafka())
    pattern = re.compile(TopicNames(settings.topic_prefix).table_pattern)
    metadata = admin.list_topics(timeout=settings.kafka_timeout_s)
    found = {
        name: sorted(topic.partitions)
        for name, topic in sorted(metadata.topics.items())
        if pattern.match(name)
    }
    if not found:
        raise PermanentError(
            f"no table topics with prefix {settings.topic_prefix!r} on {settings.bootstrap_servers}"
        )
    return found


def require_group(admin: AdminClient, settings: Settings, group: str) -> None:
    """Raise :class:`PermanentError` unless consumer group ``group`` exists on the brokers."""
    listed = admin.list_consumer_groups().result(settings.kafka_timeout_s)
    if group not in {g.group_id for g in listed.valid}:
        raise PermanentError(f"consumer group {group!r} does not exist on {settings.bootstrap_servers}")
