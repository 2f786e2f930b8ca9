"""The producer under test: settings, and the runner as a thread or a child process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from binlog_pipeline.core.config import Settings, load_settings
from binlog_pipeline.producer.position import Checkpoint
from binlog_pipeline.producer.runner import ProducerRunner
from binlog_pipeline.producer.source_check import binlog_status
from binlog_pipeline.schemas.topics import TopicNames
from tests.kafka_helpers import read_all
from tests.runner_harness import CliProcess, RunnerThread
from tests.services import Services, connect


def producer_settings(services: Services, prefix: str, **overrides: Any) -> Settings:
    flags = {
        "source_url": services.source_url.unmasked(),
        "bootstrap_servers": services.bootstrap,
        "topic_prefix": prefix,
        "transactional_id": f"producer-{prefix}",
        "retry_deadline_s": 60,
        "snapshot_mode": "never",  # tests of the snapshot ask for one
        **overrides,
    }
    return load_settings(env={}, flags=flags)


def current_position(services: Services) -> str:
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        file, pos = binlog_status(cur)[:2]
    return f"{file}:{pos}"


def producer_checkpoint(services: Services, prefix: str) -> Checkpoint | None:
    """The producer's last committed checkpoint (read_committed), None before its first commit."""
    messages = read_all(services.bootstrap, TopicNames(prefix).checkpoints)
    return Checkpoint.from_json(messages[-1].value()) if messages else None


def snapshot_complete(services: Services, prefix: str) -> bool:
    """The producer committed the end of its snapshot."""
    checkpoint = producer_checkpoint(services, prefix)
    return checkpoint is not None and checkpoint.snapshot is not None and not checkpoint.snapshot.running


class ProducerThread(RunnerThread[ProducerRunner]):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__(lambda stop: ProducerRunner(settings, stop))


def ProducerProcess(services: Services, prefix: str, log_path: Path, **settings: Any) -> CliProcess:
    """``binlog-producer`` as a child process."""
    return CliProcess(
        "producer",
        services,
        log_path,
        ["--topic-prefix", prefix],
        {
            "transactional_id": f"producer-{prefix}",
            "retry_deadline_s": 60,
            "snapshot_mode": "never",
            **settings,
        },
    )


def checkpoint_records(services: Services, prefix: str, transactional_id: str) -> list[Checkpoint]:
    """Every committed checkpoint of ``transactional_id``, oldest first."""
    records = read_all(services.bootstrap, TopicNames(prefix).checkpoints)
    return [Checkpoint.from_json(m.value()) for m in records if m.key() == transactional_id.encode()]


def commit_checkpoint_record(
    services: Services, prefix: str, transactional_id: str, checkpoint: Checkpoint | bytes
) -> None:
    """Commit ``checkpoint`` as the producer's latest checkpoint record (a rewind, or a record
    as an older version wrote it), fencing any producer of that transactional id."""
    value = checkpoint.to_json() if isinstance(checkpoint, Checkpoint) else checkpoint
    producer = Producer({"bootstrap.servers": services.bootstrap, "transactional.id": transactional_id})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(TopicNames(prefix).checkpoints, key=transactional_id.encode(), value=value)
    producer.commit_transaction(30)
