"""The Kafka side of the producer: an idempotent, transactional producer whose every
transaction ends with the checkpoint record — the only place the producer's position is written.

Writer schemas go to the compacted schema topic inside the same transaction as their first use,
so a read_committed consumer can always decode what it sees.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient

from binlog_pipeline.core.config import Settings
from binlog_pipeline.core.errors import PipelineError
from binlog_pipeline.core.kafka_admin import create_topic
from binlog_pipeline.core.kafka_errors import (
    TransientKafkaError,
    Verdict,
    call_again,
    commit_in_progress,
    error_of,
    verdict,
)
from binlog_pipeline.core.kafka_read import committed_reader, read_to_end
from binlog_pipeline.core.metrics import (
    PRODUCER_COMMIT_SECONDS,
    PRODUCER_TRANSACTION_ROWS,
    PRODUCER_TRANSACTIONS,
)
from binlog_pipeline.core.waiting import Deadline
from binlog_pipeline.producer.position import Checkpoint
from binlog_pipeline.schemas.codec import WriterSchema
from binlog_pipeline.schemas.topics import TopicNames

log = logging.getLogger(__name__)

CLOSE_FLUSH_S = 5.0


class ProducerFenced(PipelineError):
    """A newer producer with the same transactional.id took over; this one must stop."""


class ProducerBroken(TransientKafkaError):
    """librdkafka raised a fatal error: this producer instance can do nothing more, but a new one
    can (its init_transactions fences the old epoch and finishes its open transaction). Seen under
    broker stalls: an EndTxn retried after the coordinator had already completed it answers
    INVALID_TXN_STATE, which librdkafka treats as fatal."""


def classify(exc: KafkaException, doing: str) -> PipelineError:
    """Turn a Kafka error into retry-or-stop (:func:`core.kafka_errors.verdict`). The producer
    replaces an instance that hit a fatal error; every other error is retried, within the retry
    deadline (a transaction refused for a moment — a coordinator moving — succeeds again)."""
    err = error_of(exc)
    match verdict(err):
        case Verdict.FENCED:
            return ProducerFenced(
                f"fenced while {doing}: another producer with this transactional.id is running ({err.str()})"
            )
        case Verdict.FATAL:
            return ProducerBroken(f"fatal Kafka error while {doing}: {err.str()}; making a new producer", err)
        case _:
            return TransientKafkaError(f"Kafka error while {doing}: {err.str()}", err)


class TransactionalPublisher:
    def __init__(
        self, settings: Settings, topics: TopicNames, stopping: Callable[[], bool] = lambda: False
    ) -> None:
        self._settings = settings
        self._topics = topics
        self._transactional_id = settings.effective_transactional_id()
        self._timeout_s = settings.kafka_timeout_s
        self._stopping = stopping
        # A fatal error, or an abort the client refused: this instance can do no more (the runner
        # makes a new one, whose init_transactions fences this one's epoch).
        self.needs_replacing = False
        self._producer = Producer(
            settings.producer_librdkafka(
                **{
                    "transactional.id": self._transactional_id,
                    "enable.idempotence": True,
                    "acks": "all",
                    "linger.ms": 5,
                    "batch.num.messages": 10000,
                    "compression.type": "lz4",
                    # The coordinator's bound on an open transaction (it aborts one left open
                    # longer, e.g. by a killed producer), not a wait of ours.
                    "transaction.timeout.ms": 60000,
                    "queue.buffering.max.kbytes": 131072,
                }
            )
        )
        self._admin = AdminClient(settings.librdkafka())
        self._known_topics: dict[str, int] = {}  # name → partitions
        self._published: set[bytes] = set()
        self._pending: dict[bytes, WriterSchema] = {}
        self.in_transaction = False
        self.rows_in_transaction = 0
        self.opened_at = 0.0

    # --- set-up ----------------------------------------------------------------------------
    def init(self) -> None:
        """Fence older instances and finish their open transactions, then make the internal
        topics. Must run before :meth:`read_checkpoint` so that the checkpoint read is final."""
        try:
            self._producer.init_transactions(self._timeout_s)
            metadata = self._admin.list_topics(timeout=self._timeout_s)
        except KafkaException as exc:
            raise self._failure(exc, "initialising Kafka transactions") from exc
        self._known_topics = {name: len(topic.partitions) for name, topic in metadata.topics.items()}
        self.ensure_topic(self._topics.checkpoints, compacted=True)
        self.ensure_topic(self._topics.schemas, compacted=True)
        self.ensure_topic(self._topics.schema_changes, retain_forever=True)
        self.ensure_topic(self._topics.snapshot_requests, retain_forever=True)

    def ensure_topic(self, name: str, compacted: bool = False, retain_forever: bool = False) -> bool:
        """Create ``name`` if absent; True when this call created it."""
        if name in self._known_topics:
            return False
        created = create_topic(self._admin, self._settings, name, compacted, retain_forever)
        if created:
            self._known_topics[name] = 1 if (compacted or retain_forever) else self._settings.topic_partitions
        else:  # made meanwhile by someone else: ask how many partitions it has
            metadata = self._admin.list_topics(name, timeout=self._timeout_s)
            self._known_topics[name] = len(metadata.topics[name].partitions)
        return created

    def partitions(self, topic: str) -> int:
        """The partition count of a table topic (made with :meth:`ensure_topic`)."""
        return self._known_topics[topic]

    # --- the transaction ---------------------------------------------------------------------
    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        schemas: tuple[WriterSchema, ...] = (),
        partition: int | None = None,
    ) -> None:
        if not self.in_transaction:
            self._begin()
        for schema in schemas:
            if schema.fingerprint not in self._published and schema.fingerprint not in self._pending:
                self._produce(
                    self._topics.schemas, schema.fingerprint.hex().encode(), schema.to_json().encode()
                )
                self._pending[schema.fingerprint] = schema
        self._produce(topic, key, value, partition)
        self.rows_in_transaction += 1

    def _begin(self) -> None:
        try:
            self._producer.begin_transaction()
        except KafkaException as exc:
            raise self._failure(exc, "beginning a Kafka transaction") from exc
        self.in_transaction = True
        self.rows_in_transaction = 0
        self.opened_at = time.monotonic()

    def _produce(self, topic: str, key: bytes | None, value: bytes, partition: int | None = None) -> None:
        while True:
            try:
                if partition is None:
                    self._producer.produce(topic, value, key)
                else:
                    self._producer.produce(topic, value, key, partition=partition)
                return
            except BufferError:
                # librdkafka's queue is full: let it deliver (bounded memory), then retry. A tick,
                # not a timeout: librdkafka fails what it cannot deliver within
                # message.timeout.ms (at most transaction.timeout.ms), which frees the queue.
                self._producer.poll(0.05)
            except KafkaException as exc:
                raise self._failure(exc, f"producing to {topic}") from exc

    def commit(self, checkpoint: Checkpoint) -> None:
        """Append the checkpoint record and commit the transaction (opening one if only the
        checkpoint moves). On any error the transaction is not committed: the caller aborts and
        resumes from the last committed checkpoint."""
        if not self.in_transaction:
            self._begin()
        self._produce(self._topics.checkpoints, self._transactional_id.encode(), checkpoint.to_json())
        started = time.monotonic()
        self._commit_transaction(f"committing the Kafka transaction ending at {checkpoint.position}")
        PRODUCER_COMMIT_SECONDS.observe(time.monotonic() - started)
        PRODUCER_TRANSACTIONS.labels("committed").inc()
        PRODUCER_TRANSACTION_ROWS.observe(self.rows_in_transaction)
        self.in_transaction = False
        self._published.update(self._pending)
        self._pending.clear()

    def _commit_transaction(self, doing: str) -> None:
        """librdkafka's contract: a commit that fails with a *retriable* error (the broker did not
        answer in time) is still in progress and must be called again — aborting or beginning
        another transaction meanwhile is refused ("Conflicting commit_transaction API call is
        already in progress") — until it succeeds, or fails for good (then abort), for as long as
        ``retry_deadline_s`` allows."""
        deadline = Deadline(self._settings.retry_deadline_s, doing)
        while True:
            try:
                self._producer.commit_transaction(self._timeout_s)
                return
            except KafkaException as exc:
                err = error_of(exc)
                if not commit_in_progress(err):
                    raise self._failure(exc, doing) from exc
                if deadline.passed() or self._stopping():
                    self.needs_replacing = True  # the commit is still in progress in this client
                    raise self._failure(exc, doing) from exc
                log.warning(
                    "the Kafka transaction's commit is not confirmed yet, committing again: %s", err.str()
                )

    def _failure(self, exc: KafkaException, doing: str) -> PipelineError:
        error = classify(exc, doing)
        if isinstance(error, ProducerBroken):
            self.needs_replacing = True
        return error

    def abort(self) -> None:
        """Abort the open transaction, if any; never raises (the caller is already failing). An
        abort the client refuses (a commit still in progress, a fatal state) leaves this instance
        to be replaced."""
        self._pending.clear()
        if not self.in_transaction:
            return
        self.in_transaction = False
        PRODUCER_TRANSACTIONS.labels("aborted").inc()
        for _attempt in range(3):
            try:
                self._producer.abort_transaction(self._timeout_s)
                return
            except KafkaException as exc:
                err = error_of(exc)
                log.warning("aborting the Kafka transaction failed: %s", err.str())
                if not call_again(err):
                    break
        self.needs_replacing = True

    def poll(self) -> None:
        self._producer.poll(0)

    # --- the checkpoint -----------------------------------------------------------------------
    def read_checkpoint(self) -> Checkpoint | None:
        """The last committed checkpoint of this transactional.id (read_committed)."""
        consumer = committed_reader(
            self._settings.librdkafka(), f"{self._transactional_id}.checkpoint-reader"
        )
        key = self._transactional_id.encode()
        latest: bytes | None = None
        try:
            for msg in read_to_end(consumer, self._topics.checkpoints, timeout_s=self._timeout_s):
                if msg.key() == key:
                    latest = msg.value()
        except KafkaException as exc:
            raise self._failure(exc, "reading the checkpoint topic") from exc
        finally:
            consumer.close()
        return Checkpoint.from_json(latest) if latest is not None else None

    def close(self) -> None:
        """Abort what is open and let go; never raises (a broken instance is closed to be replaced)."""
        self.abort()
        try:
            # After the abort nothing of a transaction is left to deliver: the wait is short, so
            # that a broken instance is replaced at once, and never longer than kafka_timeout_s.
            self._producer.flush(min(self._timeout_s, CLOSE_FLUSH_S))
        except KafkaException as exc:
            log.warning("closing the Kafka producer: %s", error_of(exc).str())
