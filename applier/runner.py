"""The applier's main loop: consume a batch, apply it in one target transaction together with
the checkpoint rows, and only then commit the Kafka offsets (:func:`applier.checkpoint.commit_batch`).

Any failure — connect, BEGIN, execute, COMMIT, an unknown outcome, a rebalance, a bug — drops the
in-memory batch and rewinds every partition to its last committed position; transient errors then
retry the same messages with backoff, anything else stops the process with nothing committed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

import pymysql
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from binlog_pipeline.applier.batch import Batch, Diverted, Entry, partition_of
from binlog_pipeline.applier.checkpoint import (
    CheckpointTable,
    commit_batch,
    commit_offsets,
    execute_all,
    resume_points,
)
from binlog_pipeline.applier.continuity import SeekWatch
from binlog_pipeline.applier.ddl_barrier import DdlBarrier, DdlLedger, spans_partitions
from binlog_pipeline.applier.ddl_guard import DdlClaims, commit_ddl, guarded
from binlog_pipeline.applier.messages import BadMessage, Coordinates, RowChange, SchemaChange, decode
from binlog_pipeline.applier.planner import STRICT, Planner, Route
from binlog_pipeline.applier.ports import (
    DeadLetterProducer,
    GroupConsumer,
    SchemaSource,
    TargetFactory,
    TopicEnsurer,
)
from binlog_pipeline.applier.retention import RetentionGap, check_retention, describe_gap
from binlog_pipeline.applier.schema_apply import SchemaApplier
from binlog_pipeline.applier.target import Target, classify
from binlog_pipeline.core import kafka_errors
from binlog_pipeline.core.config import Settings
from binlog_pipeline.core.errors import ConfigError, PermanentError, PipelineError, TransientError
from binlog_pipeline.core.health import Health
from binlog_pipeline.core.kafka_admin import ensure_topic
from binlog_pipeline.core.metrics import (
    APPLIER_BATCH_ROWS,
    APPLIER_CHECKPOINT_OFFSET,
    APPLIER_DEAD_LETTERS,
    APPLIER_END_TO_END_LAG,
    APPLIER_END_TO_END_SECONDS,
    APPLIER_LAG_MESSAGES,
    APPLIER_ROWS_APPLIED,
    APPLIER_SCHEMA_CHANGES,
)
from binlog_pipeline.core.retry import observed_retry, retrying
from binlog_pipeline.core.schema_store import TopicSchemaStore
from binlog_pipeline.schemas.ddl import is_pure_rename, is_truncate
from binlog_pipeline.schemas.topics import TopicNames

log = logging.getLogger(__name__)
# Static membership would stall a table silently: a restarted static member gets its old
# assignment back without a rebalance, so a topic created while it was down (a new table) is
# assigned to nobody — the broker (4.1) and librdkafka never rebalance for it (found by `chaos`;
# cf. KAFKA-13435). Dynamic membership rebalances on every join and picks new topics up.
STATIC_MEMBERSHIP = "group.instance.id"
STATIC_MEMBERSHIP_REFUSED = (
    "kafka.group.instance.id (static membership) is not supported by the applier: a restarted "
    "static member keeps its old assignment, so the topic of a table created while it was down "
    "would never be applied. For faster restarts after a crash lower kafka_consumer.session.timeout.ms "
    "(e.g. 10000) instead"
)
Offsets = dict[tuple[str, int], int]
# A member that runs a long DDL does not poll meanwhile; librdkafka's default (5 min) would make it
# leave the group mid-ALTER, and the next owner would wait for that ALTER all the same. A crashed
# or frozen member is still found by its missing heartbeats (session.timeout.ms).
POLL_INTERVAL = "max.poll.interval.ms"
DDL_POLL_INTERVAL_MS = 3_600_000


def _group_member(settings: Settings) -> dict[str, Any]:
    """The group consumer's own librdkafka settings (on top of kafka and kafka_consumer)."""
    return {
        "group.id": settings.group_id,
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        # Never jump silently: a position retention deleted is an error (see retention.py);
        # a group with no position at all starts at the beginning (set in _on_assign).
        "auto.offset.reset": "error",
        "partition.assignment.strategy": "cooperative-sticky",
        # How soon the subscription pattern finds a new table's topic (one metadata request a
        # second): at 5 s a cold start waited ~5 s for its first row (bench replica anchor).
        "topic.metadata.refresh.interval.ms": 1000,
        # Prefetch at most 16 MB per partition queue (librdkafka's default is 64 MB):
        # batches are 5,000 rows, so more buys no speed, only memory.
        "queued.max.messages.kbytes": 16384,
        **(
            {}
            if POLL_INTERVAL in settings.kafka or POLL_INTERVAL in settings.kafka_consumer
            else {POLL_INTERVAL: DDL_POLL_INTERVAL_MS}
        ),
    }


class ApplierRunner:
    def __init__(
        self,
        settings: Settings,
        stop: threading.Event,
        health: Health | None = None,
        *,
        consumer: GroupConsumer | None = None,
        dead_letters: DeadLetterProducer | None = None,
        schemas: SchemaSource | None = None,
        connect_target: TargetFactory = Target,
        ensure_dead_letter_topic: TopicEnsurer = ensure_topic,
    ) -> None:
        """The clients (:mod:`applier.ports`) are built from ``settings`` unless given; the
        dead-letter producer only when ``dead_letter_topic`` is set."""
        settings.require("target_url")
        assert settings.target_url is not None
        if STATIC_MEMBERSHIP in settings.kafka or STATIC_MEMBERSHIP in settings.kafka_consumer:
            raise ConfigError(STATIC_MEMBERSHIP_REFUSED)
        self._settings = settings
        self._stop = stop
        self.health = health or Health()
        self._on_retry = observed_retry("applier", self.health)
        self._kafka_probe_at = 0.0
        self._lag_observed_at = 0.0
        self._topics = TopicNames(settings.topic_prefix)
        # `is None` tests, never `or`: an empty store and a producer with nothing queued are falsy
        if schemas is None:
            schemas = TopicSchemaStore(
                settings.librdkafka(), self._topics.schemas, timeout_s=settings.kafka_timeout_s
            )
        self._store = schemas
        self._ensure_topic = ensure_dead_letter_topic
        self.target = connect_target(settings.target_url)
        # DDL runs on the target connection while the checkpoint row is locked on this one
        self._guard = connect_target(settings.target_url)
        self._checkpoint = CheckpointTable(settings.checkpoint_table, settings.group_id)
        self._schema = SchemaApplier(self.target, settings, self._topics)
        self._claims = DdlClaims(self._checkpoint.database, settings.group_id)
        self._ledger = DdlLedger(self._checkpoint.database, settings.group_id)
        self._ddl = DdlBarrier(
            self.target, self._guard, self._checkpoint, self._claims, self._ledger, settings.group_id
        )
        self._planner = Planner(Route(dict(settings.routes)), self._schema.target_table)
        if consumer is None:
            consumer = Consumer(settings.consumer_librdkafka(**_group_member(settings)))
        self._consumer: GroupConsumer = consumer
        self._dlq: DeadLetterProducer | None = None
        self._dlq_errors: list[str] = []
        self._dlq_pending = 0  # diverted in the open batch; counted once it commits
        if settings.dead_letter_topic:
            if dead_letters is None:
                dead_letters = Producer(
                    settings.producer_librdkafka(**{"enable.idempotence": True, "acks": "all"})
                )
            self._dlq = dead_letters
        # next offset to apply per assigned partition: the last committed position.
        self.positions: Offsets = {}
        self._filling: Batch | None = None  # the batch consume() is adding to (rebalances edit it)
        self._unstarted: set[tuple[str, int]] = set()  # assigned, paused, start not chosen yet
        self._seeks = SeekWatch(settings)
        self._dead_lettered: set[Coordinates] = (
            set()
        )  # sent in this attempt (the culprit pass repeats a batch)
        self._reconcile = False
        # partitions held at a RENAME record until the source table's topic applied the rename
        self._waiting: dict[tuple[str, int], tuple[SchemaChange, float]] = {}

    # --- lifecycle -------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._retrying(self._prepare_target)
            if self._settings.dead_letter_topic:
                self._retrying(
                    lambda: self._ensure_topic(self._settings, self._settings.dead_letter_topic or "")
                )
            self._consumer.subscribe(
                [self._topics.table_pattern],
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_revoke,
            )
            while not self._stop.is_set():
                self._retrying(self._step)
        except TransientError:
            if not self._stop.is_set():
                raise
            log.info("stopped while retrying; nothing past the last target COMMIT was taken as applied")
        finally:
            self._consumer.close()
            self._store.close()
            self.target.close()
            self._guard.close()

    def _retrying(self, fn: Callable[[], object]) -> None:
        """Retry transient errors (SIGTERM ends the waiting at once)."""
        retrying(self._settings, fn, self._on_retry, self._stop)

    def _prepare_target(self) -> None:
        try:
            self._checkpoint.ensure(self.target)
            self._ddl.ensure()
            self._claims.ensure(self.target)
        except pymysql.MySQLError as exc:
            self.target.reset()
            raise classify(exc, f"creating the checkpoint table {self._settings.checkpoint_table}") from exc

    # --- rebalancing: callbacks run inside consume(), i.e. while a batch is being filled ----------
    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        """Take the partitions, paused, and leave where each starts to the main loop
        (:meth:`_start_assigned`): in a callback an error (a broker or target that does not answer
        for a moment) cannot be retried, and a start chosen without all its facts could skip
        changes. The placeholder is the log *start*: librdkafka may apply its lookup after the
        main loop's seek (seen in chaos: a placeholder at the log end skipped two transactions),
        and a position moved back only makes the batch drop messages it has already applied."""
        for tp in partitions:
            tp.offset = OFFSET_BEGINNING
        consumer.incremental_assign(partitions)
        consumer.pause(partitions)
        self._unstarted.update((tp.topic, tp.partition) for tp in partitions)

    def _start_assigned(self) -> None:
        """Start each newly assigned partition at the target checkpoint row — the proof of what the
        target holds — or, where the target has none, at the group's Kafka commit; after checking
        that retention has not deleted anything from there on."""
        if not self._unstarted:
            return
        keys = sorted(self._unstarted)
        partitions = [TopicPartition(*key) for key in keys]
        points = resume_points(
            self._consumer,
            keys,
            lambda: self._checkpoint.read(self.target, keys),
            self._settings.kafka_timeout_s,
        )
        kafka, stored = points.kafka, points.stored
        starts = {key: points.at(key) for key in keys}
        check_retention(self._consumer, self._settings, starts, kafka, stored, self._checkpoint, self.target)
        self.target.forget_tables()  # another member may have changed them (DDL) while it owned them
        ahead: Offsets = {}
        for key in keys:
            start = starts[key]
            # Never applied: the log start, as an offset. check_retention proved it is 0; a logical
            # "beginning" would follow the log start wherever retention moves it later, silently.
            offset = max(start, 0)
            self.positions[key] = offset
            self._consumer.seek(TopicPartition(*key, offset))
            self._seeks.sought(key, offset)
            if key in stored and stored[key] > kafka.get(key, -1):
                ahead[key] = stored[key]  # a COMMIT whose Kafka offset commit never happened
            if key in stored and stored[key] < kafka.get(key, -1):
                log.warning(
                    "%s[%s]: the target checkpoint row (%s) is behind the group's Kafka commit (%s) — was "
                    "the target restored from a backup? Resuming from the target's row: the changes "
                    "since are applied again",
                    *key,
                    stored[key],
                    kafka[key],
                )
            log.info(
                "assigned %s[%s] from offset %s",
                *key,
                start if start >= 0 else "0 (nothing applied yet)",
                extra={"kafka_committed": kafka.get(key), "target_checkpoint": stored.get(key)},
            )
        self._consumer.resume(partitions)
        self._unstarted.clear()
        if ahead:
            commit_offsets(self._consumer, ahead)

    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        """Give the partitions up: their messages leave the batch being filled (the new owner
        applies them). The partitions kept are not rewound — their messages stay in the batch."""
        keys = [(tp.topic, tp.partition) for tp in partitions]
        for key in keys:
            self._unstarted.discard(key)
            self._seeks.forget(key)
            self.positions.pop(key, None)
            with contextlib.suppress(KeyError):  # no longer ours: no stale lag on the dashboard
                APPLIER_LAG_MESSAGES.remove(key[0], str(key[1]))
            self._waiting.pop(key, None)
        if self._filling is not None:
            self._filling.revoke(keys)
        consumer.incremental_unassign(partitions)

    def _rewind(self) -> None:
        """Drop whatever was consumed but not committed: seek every partition back."""
        for (topic, partition), offset in self.positions.items():
            try:
                self._consumer.seek(TopicPartition(topic, partition, offset))
                self._seeks.sought((topic, partition), offset)
            except KafkaException as exc:
                log.warning("seek %s[%s] to %s failed: %s", topic, partition, offset, exc)

    def _reconcile_with_target(self) -> None:
        """After an unknown outcome the target checkpoint may be ahead of what we know: a COMMIT
        succeeded whose reply was lost. The target row is the proof of success, so Kafka follows it."""
        stored = self._checkpoint.read(self.target, self.positions)
        ahead: Offsets = {}
        for key, offset in stored.items():
            if offset > self.positions.get(key, -1):
                log.info("target checkpoint ahead for %s[%s]: %s", *key, offset)
                self.positions[key] = offset
                ahead[key] = offset
        if ahead:
            commit_offsets(self._consumer, ahead)
        self._rewind()
        self._reconcile = False

    # --- one batch -------------------------------------------------------------------------------
    def _step(self) -> None:
        self._dead_lettered.clear()
        try:
            self._start_assigned()
            if self._reconcile:
                self._reconcile_with_target()
            self._resume_ready()
            batch = self._fill_batch()
            if batch:
                self._apply(batch)
                self.health.progress()
            else:
                self._idle_health()
        except BaseException as exc:
            # Proof of success only: whatever happened, nothing past the last COMMIT is kept.
            self.target.reset()
            self._guard.reset()
            self._reconcile = True
            self._dlq_pending = 0
            self._rewind()
            if isinstance(exc, pymysql.MySQLError):
                raise classify(exc, "applying a batch") from exc
            if isinstance(exc, KafkaException):
                raise kafka_errors.classify(exc, f"Kafka: {kafka_errors.error_of(exc).str()}") from exc
            raise

    def _fill_batch(self) -> Batch:
        s = self._settings
        batch = self._filling = Batch(self.positions)
        try:
            deadline = time.monotonic() + s.batch_max_ms / 1000
            idle_deadline = time.monotonic() + 1.0
            while (
                batch.rows < s.batch_max_rows and batch.size < s.batch_max_bytes and not self._stop.is_set()
            ):
                timeout = (deadline if batch else idle_deadline) - time.monotonic()
                if timeout <= 0:
                    break
                for msg in self._consumer.consume(
                    num_messages=min(1000, s.batch_max_rows - batch.rows), timeout=timeout
                ):
                    error = msg.error()
                    if error is not None:
                        self._consumer_error(msg, error)
                        continue
                    where = Coordinates(str(msg.topic()), int(msg.partition() or 0), int(msg.offset() or 0))
                    if not batch.accepts(where):
                        continue  # a partition revoked meanwhile, or delivered again after a seek
                    self._seeks.delivered((where.topic, where.partition), where.offset)
                    try:
                        batch.add(decode(self._store, where, msg.value()))
                    except BadMessage as exc:
                        if self._dlq is None:
                            self._stop_at(where, str(exc), "?", "?")
                        batch.add(Diverted(where, msg.key(), msg.value(), str(exc), len(msg.value() or b"")))
        finally:
            self._filling = None
        return batch

    def _consumer_error(self, msg: Any, error: KafkaError) -> None:
        if kafka_errors.client_is_done(error):
            raise KafkaException(error)
        if error.code() == KafkaError._AUTO_OFFSET_RESET:
            # the fetch position is below the partition's log start: retention deleted it
            key = (str(msg.topic()), int(msg.partition() or 0))
            if key not in self.positions:
                return  # not started (or no longer ours): its start is checked when it is
            position = self.positions[key]
            raise RetentionGap(
                describe_gap(self._settings, self._checkpoint, self.target, key, position, None)
            )
        if error.code() in kafka_errors.BROKERS_DOWN:
            self.health.problem(f"Kafka: {error.str()}")
        if error.code() != KafkaError.UNKNOWN_TOPIC_OR_PART:  # pattern with no topic yet
            log.warning("consumer error: %s", error.str())

    def _apply(self, batch: Batch) -> None:
        held: set[tuple[str, int]] = set()
        for whole in _segments(batch.entries):
            segment = [e for e in whole if partition_of(e) not in held] if held else whole
            if not segment:
                continue
            first = segment[0]
            if isinstance(first, SchemaChange):
                if spans_partitions(first):
                    if not self._reach_barrier(first):
                        held.add(partition_of(first))
                        self._hold(first)
                    continue
                self._apply_schema_change(first)
                if first.kind == "ddl" and is_pure_rename(first.statement):
                    self._schema.renames.forget(first.statement_id)  # its marker served its purpose
                continue
            changes = [e for e in segment if isinstance(e, RowChange)]
            self._ensure_tables(changes)
            self._refuse_unordered(changes)
            self._apply_changes(changes, segment)

    def _refuse_unordered(self, changes: list[RowChange]) -> None:
        """Rows of a table applied in exact order (no primary key, or unique secondary keys on the
        target) must all come from one partition: rows spread by key over several cannot be put
        back in order, and a unique value moving between keys could then land on the wrong row."""
        for change in changes:
            if change.where.partition != 0 and self._planner.writer(change).exact_only:
                table = ".".join(self._planner.target_of(change))
                raise PermanentError(
                    f"message {change.where} (table {table}, key {change.describe_key()}) comes from partition "
                    f"{change.where.partition}, but {table} must be applied in source order (it has no primary "
                    "key, or unique secondary keys on the target): its rows cannot be ordered across "
                    "partitions. The producer spreads such tables by key only when it found no unique key on "
                    "the source (a key added or dropped while it was behind); re-sync the table "
                    "(snapshot --table) or run this table's topic with one partition"
                )

    def _ensure_tables(self, changes: list[RowChange]) -> None:
        """Create the target tables these changes need and lack — while their partitions'
        checkpoint rows are held (a member that lost them must not create a table anew after the
        new owner applied its DROP)."""
        missing = [
            change
            for change in {(c.database, c.table): c for c in changes}.values()  # once per table
            if not self.target.info(*self._planner.target_of(change)).exists
        ]
        if not missing:
            return
        starts = {partition_of(c): self.positions.get(partition_of(c), -1) for c in missing}
        with guarded(self.target, self._guard, self._checkpoint, self._claims, starts):
            for change in missing:
                self._schema.ensure_table(change, self._planner.target_of(change))

    def _apply_schema_change(self, change: SchemaChange) -> None:
        """A DDL (MySQL commits it on its own) runs while this partition's checkpoint row is locked
        and fenced on a second connection, which then moves the row past it: a member that lost the
        partition (stalled past its session) cannot run it after the new owner went on, and the new
        owner cannot run it a second time while the old one still is."""
        key = partition_of(change)
        offsets = {key: change.where.offset + 1}

        def apply(cur: Any) -> None:
            if change.kind == "ddl" and self._ledger.has(cur, change) and not is_truncate(change.statement):
                # replayed: it ran here before, on a definition older than the target's now
                log.info("DDL already applied (ledger), skipping: %s", change.statement[:200])
                return
            self._schema.apply(change)
            if change.kind == "ddl":
                self._ledger.record(cur, change)

        commit_ddl(
            self.target,
            self._guard,
            apply,
            self._checkpoint,
            self._claims,
            {key: self.positions.get(key, -1)},
            offsets,
            self._consumer,
        )
        self.positions.update(offsets)
        self._observe_commit([change], offsets)

    # --- DDL that spans partitions (applier/ddl_barrier.py) ----------------------------------------
    def _reach_barrier(self, change: SchemaChange) -> bool:
        """Record that this partition reached ``change`` (everything before it is committed; its
        checkpoint row moves up to the record), then pass it if the statement has run or can run
        now. False: hold the partition here."""
        key = partition_of(change)
        at = {key: change.where.offset}
        if not (self.positions[key] == change.where.offset and self._ddl.arrived(change)):
            commit_batch(
                self.target,
                self._ddl.arrive(change),
                self._checkpoint,
                {key: self.positions[key]},
                at,
                self._consumer,
            )
            self.positions.update(at)
        return self._pass_if_settled(change)

    def _pass_if_settled(self, change: SchemaChange) -> bool:
        if not self._ddl.settle(change, lambda definitions: self._schema.apply(change, definitions)):
            return False
        self.target.forget_tables()  # the statement ran here or on another member
        self._commit([change], self._ddl.leave(change))
        if is_pure_rename(change.statement):
            self._schema.renames.forget(change.statement_id)  # the ledger says it ran; the marker is spent
        return True

    def _hold(self, change: SchemaChange) -> None:
        """Pause the partition at ``change`` (nothing past it is applied or committed)."""
        key = partition_of(change)
        tp = TopicPartition(*key, self.positions.get(key, change.where.offset))
        self._consumer.pause([tp])
        self._consumer.seek(tp)
        self._seeks.forget(key)  # paused: checked again from where it resumes
        self._waiting[key] = (change, time.monotonic())
        log.info(
            "holding %s until every partition of its statement has reached it",
            change.where,
            extra=change.where.log_fields(),
        )

    def _resume_ready(self) -> None:
        for key, (change, since) in list(self._waiting.items()):
            if self.positions.get(key, -1) > change.where.offset or self._pass_if_settled(change):
                # (past it already: a leave whose COMMIT's reply was lost, as reconcile found)
                self._consumer.seek(TopicPartition(*key, self.positions[key]))
                self._seeks.sought(key, self.positions[key])
                self._consumer.resume([TopicPartition(*key)])
                del self._waiting[key]
                log.info("resuming %s[%s]: its statement was applied", *key, extra=change.where.log_fields())
            elif time.monotonic() - since > 60:
                log.warning(
                    "%s still waits for the other partitions of its statement: %s",
                    change.where,
                    change.statement[:200],
                    extra=change.where.log_fields(),
                )
                self._waiting[key] = (change, time.monotonic())

    def _apply_changes(self, changes: list[RowChange], segment: list[Entry]) -> None:
        try:
            self._commit(segment, execute_all(self._planner.statements(changes)))
        except pymysql.MySQLError as exc:
            if isinstance(classify(exc, "applying a batch"), TransientError):
                raise
            # Permanent: the same batch again, one change at a time in stream order, each under a
            # savepoint, so that the changes the target refuses are named (and dead-lettered, when
            # configured) and the others still commit with the checkpoint.
            self.target.rollback()
            self._dlq_pending = 0
            self._commit(segment, self._isolating(changes))

    def _isolating(self, changes: list[RowChange]) -> Callable[[Any], None]:
        def run(cur: Any) -> None:
            cur.execute(STRICT.sql)  # the failed batch may have left the session lenient
            for change in changes:
                cur.execute("SAVEPOINT one_change")
                try:
                    for statement in self._planner.exact_statements(change):
                        cur.execute(statement.sql, statement.params)
                except pymysql.MySQLError as exc:
                    if isinstance(classify(exc, ""), TransientError):
                        raise
                    cur.execute("ROLLBACK TO SAVEPOINT one_change")
                    cur.execute(STRICT.sql)  # in case the change had switched to lenient mode
                    table = ".".join(self._planner.target_of(change))
                    self._dead_letter_or_stop(
                        change.where, None, change.raw, str(exc), table, change.describe_key()
                    )

        return run

    def _commit(self, segment: list[Entry], apply: Callable[[Any], None]) -> None:
        # a partition's messages are in offset order in a batch (Batch.add): its last one's is the highest
        offsets: Offsets = {(e.where.topic, e.where.partition): e.where.offset + 1 for e in segment}
        for key, offset in offsets.items():
            if offset <= self.positions.get(key, -1) and self.positions.get(key, -1) >= 0:
                raise PipelineError(f"bug: checkpoint for {key} would move backwards to {offset}")
        for entry in segment:
            if isinstance(entry, Diverted) and entry.where not in self._dead_lettered:
                self._dead_letter_or_stop(entry.where, entry.key, entry.value, entry.cause, "?", "?")
        starts = {key: self.positions.get(key, -1) for key in offsets}
        commit_batch(
            self.target,
            apply,
            self._checkpoint,
            starts,
            offsets,
            self._consumer,
            self._flush_dead_letters,
        )
        self.positions.update(offsets)
        self._observe_commit(segment, offsets)

    def _observe_commit(self, messages: list[Entry], offsets: Offsets) -> None:
        """Metrics of a batch whose COMMIT returned (never of one that may be retried): counted
        per batch — per (table, op) and per source second — not per row."""
        now = time.time()
        changes = [m for m in messages if type(m) is RowChange]
        if len(changes) < len(messages):
            for message in messages:
                if isinstance(message, SchemaChange):
                    APPLIER_SCHEMA_CHANGES.labels(f"{message.database}.{message.table}").inc()
        if changes:
            applied = Counter([(c.database, c.table, c.op) for c in changes])
            for (database, table, op), count in applied.items():
                APPLIER_ROWS_APPLIED.labels(f"{database}.{table}", op).inc(count)
            seconds = Counter([c.source_ts for c in changes])
            for source_ts, count in seconds.items():
                APPLIER_END_TO_END_SECONDS.observe(max(now - source_ts, 0.0), count)
            APPLIER_BATCH_ROWS.observe(len(changes))
            APPLIER_END_TO_END_LAG.set(max(now - max(seconds), 0.0))
        for (topic, partition), offset in offsets.items():
            APPLIER_CHECKPOINT_OFFSET.labels(topic, str(partition)).set(offset)
        if self._dlq_pending and self._settings.dead_letter_topic:
            APPLIER_DEAD_LETTERS.labels(self._settings.dead_letter_topic).inc(self._dlq_pending)
        self._dlq_pending = 0
        self._observe_lag(force=True)

    def _observe_lag(self, force: bool = False) -> None:
        """Lag in messages per assigned partition from librdkafka's cached high watermark (no
        broker round trip); after each commit, and at most once a second while idle."""
        if not force and time.monotonic() - self._lag_observed_at < 1.0:
            return
        self._lag_observed_at = time.monotonic()
        for (topic, partition), offset in self.positions.items():
            _, high = self._consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
            if high >= 0:
                APPLIER_LAG_MESSAGES.labels(topic, str(partition)).set(max(high - offset, 0))

    def _idle_health(self) -> None:
        """Nothing to apply: ready unless Kafka was reported down and has not answered since
        (a metadata request, at most every 5 s)."""
        self._observe_lag()
        if self.health.open_problem is None or not self.health.open_problem.startswith("Kafka"):
            self.health.progress()
            return
        if time.monotonic() < self._kafka_probe_at:
            return
        self._kafka_probe_at = time.monotonic() + 5
        try:
            self._consumer.list_topics(timeout=2)
        except KafkaException:
            return
        self.health.progress()

    # --- permanent errors: stop, or dead-letter when configured -------------------------------------
    def _stop_at(self, where: Coordinates, cause: str, table: str, row_key: str) -> NoReturn:
        raise PermanentError(
            f"cannot apply message {where} (table {table}, key {row_key}): {cause}"
            "; the applier stopped and committed nothing past it. Fix the target (or the data) "
            "and restart, or set dead_letter_topic to divert such messages"
        )

    def _dead_letter_or_stop(
        self, where: Coordinates, key: bytes | None, value: bytes | None, cause: str, table: str, row_key: str
    ) -> None:
        """Send the message to the dead-letter topic (confirmed before the COMMIT that moves the
        checkpoint past it), or stop when none is configured."""
        if self._dlq is None or not self._settings.dead_letter_topic:
            self._stop_at(where, cause, table, row_key)
        description = f"cannot apply message {where} (table {table}, key {row_key}): {cause}"
        log.error("dead-lettering: %s", description, extra=where.log_fields())
        self._dead_lettered.add(where)
        self._dlq_pending += 1
        headers: dict[str, str | bytes | None] = {
            "error": cause.encode(),
            "source.topic": where.topic.encode(),
            "source.partition": str(where.partition).encode(),
            "source.offset": str(where.offset).encode(),
        }
        self._dlq.produce(
            self._settings.dead_letter_topic,
            value if value is not None else row_key.encode(),
            key,
            headers=headers,
            on_delivery=self._on_dead_letter_delivery,
        )

    def _on_dead_letter_delivery(self, error: KafkaError | None, _msg: Any) -> None:
        if error is not None:
            self._dlq_errors.append(error.str())

    def _flush_dead_letters(self) -> None:
        """Confirm dead-letter deliveries before the COMMIT that moves the checkpoint past them."""
        if self._dlq is None:
            return
        undelivered = self._dlq.flush(self._settings.kafka_timeout_s)
        errors, self._dlq_errors = self._dlq_errors, []
        if undelivered or errors:
            raise TransientError(f"dead-letter messages not confirmed by the broker: {errors or undelivered}")


def _segments(batch: list[Entry]) -> Iterable[list[Entry]]:
    """Split at schema changes: DML before a DDL commits first, the DDL runs alone, then the rest."""
    current: list[Entry] = []
    for message in batch:
        if isinstance(message, SchemaChange):
            if current:
                yield current
                current = []
            yield [message]
        else:
            current.append(message)
    if current:
        yield current
