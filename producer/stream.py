"""One pass of the producer's stream loop: binlog items in, Kafka transactions out.

Each item kind has its handler (``_on_row``, ``_on_transaction_start``, ``_on_transaction_end``,
``_on_schema_change``, ``_on_idle``; snapshot chunks come through ``_on_chunk`` at safe points).
A handler publishes, moves the :class:`~producer.stream_state.StreamState`, and asks
:meth:`Stream._commit_if_due` — the only caller of :meth:`Stream._commit`, which is the only
caller of ``publisher.commit`` — whether this moment ends the Kafka transaction; the answer
comes from :mod:`producer.commit_policy`.

A failure anywhere propagates: the runner aborts the open Kafka transaction and resumes from the
last *committed* checkpoint, so the position never passes unpublished events.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from binlog_pipeline.core.health import Health
from binlog_pipeline.core.metrics import (
    PRODUCER_CHECKPOINT_FILE,
    PRODUCER_CHECKPOINT_POSITION,
    PRODUCER_CHECKPOINT_SOURCE_TIME,
    PRODUCER_ROWS_PRODUCED,
    PRODUCER_ROWS_READ,
    binlog_file_index,
)
from binlog_pipeline.core.sql import qualified
from binlog_pipeline.producer.binlog_reader import Idle, SchemaChangeEvent, TxnEnd, TxnStart
from binlog_pipeline.producer.clients import BinlogSource, Publisher, SnapshotRequests, SourceCatalog
from binlog_pipeline.producer.commit_policy import CommitPolicy, Moment
from binlog_pipeline.producer.events import EventBuilder, Message, Spread
from binlog_pipeline.producer.filters import TableFilter
from binlog_pipeline.producer.position import BinlogPosition
from binlog_pipeline.producer.row_decoder import RowImageDecoder
from binlog_pipeline.producer.row_events import CapturedTable, RowChange
from binlog_pipeline.producer.snapshot_progress import SnapshotProgress
from binlog_pipeline.producer.snapshot_reader import Chunk
from binlog_pipeline.producer.snapshotter import Snapshotter
from binlog_pipeline.producer.stream_state import StreamState
from binlog_pipeline.schemas.ddl import rename_pairs, statement_kind
from binlog_pipeline.schemas.envelope import TableSchema
from binlog_pipeline.schemas.topics import TopicNames

log = logging.getLogger(__name__)
NO_DECODER = RowImageDecoder([])  # snapshot rows arrive decoded
# librdkafka's delivery reports are served every this many rows (and after every other item): a
# poll per row was a few % of the producer's time; a full queue polls on its own (publisher).
_POLL_EVERY = 64


class Stream:
    """Streams ``binlog`` into ``kafka`` from ``state`` until stopped, finished or failing.

    ``requested_tables`` turns the table names of snapshot requests into the captured ones with
    their row estimates; ``snapshot_only``: stop (``finished``) once the snapshot is complete."""

    def __init__(
        self,
        state: StreamState,
        *,
        policy: CommitPolicy,
        kafka: Publisher,
        binlog: BinlogSource,
        catalog: SourceCatalog,
        snapshot: Snapshotter,
        requests: SnapshotRequests,
        topics: TopicNames,
        captured: TableFilter,
        requested_tables: Callable[[list[str]], list[tuple[str, int]]],
        snapshot_only: bool,
        stopping: Callable[[], bool],
        health: Health,
    ) -> None:
        self.state = state
        self._policy = policy
        self._kafka = kafka
        self._binlog = binlog
        self._catalog = catalog
        self._snapshot = snapshot
        self._requests = requests
        self._topics = topics
        self._captured = captured
        self._requested_tables = requested_tables
        self._snapshot_only = snapshot_only
        self._stopping = stopping
        self._health = health
        self._events = EventBuilder(topics, state.source.server_id)
        self._spreads: dict[tuple[str, str], Spread] = {}
        self._rows_read = RowsRead()
        self.finished = False  # snapshot_only: the snapshot is complete

    def run(self) -> None:
        state = self.state
        if state.boundary is not None:  # a position start (not GTID): a safe point already
            self._safe_point(state.boundary)
        served = 0
        for item in self._binlog:
            if self.finished:
                return
            match item:
                case RowChange():
                    if item.row < state.skip_rows:
                        continue  # published before a restart inside this source transaction
                    self._on_row(item)
                case TxnEnd():
                    self._on_transaction_end(item)
                case TxnStart():
                    self._on_transaction_start(item)
                case SchemaChangeEvent():
                    self._on_schema_change(item)
                case Idle():
                    self._on_idle()
            if self._stopping():
                self._commit_if_due("stop")
                return
            served += 1
            if served % _POLL_EVERY == 0 or type(item) is not RowChange:
                self._kafka.poll()

    # --- the handlers ---------------------------------------------------------------------------
    def _on_row(self, change: RowChange) -> None:
        state = self.state
        schema = change.table.schema
        self._define(schema.database, schema.table, change.ts)
        for message in self._events.row_messages(change, state.at(), state.gtid, self._spread(schema)):
            self._send(message)
        state.row_published(self._rows_read.count(schema.database, schema.table), change.row, change.ts)
        self._commit_if_due("row")

    def _on_transaction_start(self, start: TxnStart) -> None:
        self._safe_point(start.position)  # before any event of this transaction
        self.state.transaction_started(start.gtid, start.gtid_at, start.position)

    def _on_transaction_end(self, end: TxnEnd) -> None:
        self.state.transaction_ended(end.position, end.ts)
        self._commit_if_due("transaction end")
        self._safe_point(end.position)

    def _on_schema_change(self, ddl: SchemaChangeEvent) -> None:
        """A DDL record in each affected table's own topic (every partition) and in the history."""
        state = self.state
        state.transaction_ended(ddl.position, ddl.ts)
        tables = list(dict.fromkeys(ddl.tables))  # once each, however often named
        topics = [self._topics.table(database, table) for database, table in tables]
        for topic in topics:
            self._kafka.ensure_topic(topic)
        participants = tuple((topic, self._kafka.partitions(topic)) for topic in topics)
        for database, table in tables:
            create_table = self._catalog.show_create(database, table)
            if create_table is None and statement_kind(ddl.statement) == "CREATE TABLE":
                # Dropped again before we got here: the statement is its definition.
                create_table = ddl.statement
            own, history = self._events.schema_change(
                database,
                table,
                "ddl",
                ddl.statement,
                create_table,
                ddl.position,
                state.gtid,
                ddl.ts,
                ddl.session,
                participants,
            )
            self._everywhere(own)
            self._send(history)
            self._spreads.pop((database, table), None)  # its keys may have changed
            state.defined_tables.add(f"{database}.{table}")
            log.info("schema change on %s.%s at %s", database, table, ddl.position)
        self._snapshot.schema_changed(ddl)
        arrived = renamed_into_capture(ddl.statement, ddl.database, self._captured)
        if arrived:
            # Its rows come from a table we never captured: read them (the applier creates it
            # empty from its definition at the RENAME record).
            log.info("snapshot of %s: renamed in from an uncaptured table", ", ".join(arrived))
            self._snapshot.request(self._requested_tables(arrived))
        self._commit_if_due("schema change")
        self._safe_point(ddl.position)

    def _on_idle(self) -> None:
        self._health.progress()  # the source answers; Kafka is proven at each commit
        self._commit_if_due("idle")
        if self.state.rows_done == 0:
            self._safe_point(self._binlog.position)

    def _on_chunk(self, chunk: Chunk) -> None:
        """A snapshot chunk as op=r rows, committed with the progress that counts it done."""
        database, table = chunk.table.split(".", 1)
        now = int(time.time())
        if chunk.source is not None:
            schema = chunk.source.schema
            self._define(database, table, now)
            if not schema.primary_key:  # one chunk, over whatever a previous attempt left
                statement = f"TRUNCATE TABLE {qualified(database, table)}"
                definition = self._catalog.show_create(database, table)
                own, _history = self._events.schema_change(
                    database, table, "ddl", statement, definition, chunk.position, None, now
                )
                # only the partition its rows go to (keyless: the first)
                self._send(own if self._spread(schema) is Spread.ONE else replace(own, partition=0))
            captured = CapturedTable(schema, NO_DECODER)
            layout = self._spread(schema)
            for index, row in enumerate(chunk.rows):
                change = RowChange(captured, "r", None, row, now, index)
                for message in self._events.row_messages(change, chunk.position, None, layout):
                    self._send(message)
            self.state.produced[chunk.table] += chunk.rows.count
        self._commit_if_due("snapshot chunk", snapshot=self._snapshot.published(chunk))

    def _safe_point(self, done_to: BinlogPosition | None) -> None:
        """Between source transactions: take snapshot requests, publish the chunks that are due."""
        state = self.state
        if state.boundary is None or done_to is None or state.skip_rows:
            return  # mid-way through a transaction published partly before a restart
        if self._requests.due():
            taken = self._requests.read(state.requests_offset)
            if taken:
                wanted = self._requested_tables([t for r in taken for t in r.tables])
                if wanted:
                    self._snapshot.request(wanted)
                state.requests_offset = taken[-1].next_offset
                self._commit_if_due("snapshot request")
        if self._snapshot.running:
            self._snapshot.safe_point(state.at(), done_to, self._on_chunk, self._stopping)
            if self._snapshot_only and not self._snapshot.running:
                self.finished = True

    # --- the checkpoint -------------------------------------------------------------------------
    def _commit_if_due(self, moment: Moment, snapshot: SnapshotProgress | None = None) -> None:
        """Commit when the policy says so; ``snapshot``: the progress a chunk commits, if any."""
        if self._policy.should_commit(moment, self.state, self._kafka, time.monotonic()):
            self._commit(snapshot or self._snapshot.progress)

    def _commit(self, snapshot: SnapshotProgress | None) -> None:
        """Commit the Kafka transaction with the checkpoint of everything published in it."""
        checkpoint = self.state.checkpoint(snapshot, tuple(self._binlog.prepared.values()))
        self._kafka.commit(checkpoint)
        produced = self.state.committed_as(checkpoint, time.monotonic())
        if checkpoint.snapshot is not None:
            self._snapshot.committed(checkpoint.snapshot)
        for table, count in produced.items():
            PRODUCER_ROWS_PRODUCED.labels(table).inc(count)
        PRODUCER_CHECKPOINT_FILE.set(binlog_file_index(checkpoint.position.file))
        PRODUCER_CHECKPOINT_POSITION.set(checkpoint.position.pos)
        PRODUCER_CHECKPOINT_SOURCE_TIME.set(checkpoint.position_ts)
        self._health.progress()

    # --- publishing -----------------------------------------------------------------------------
    def _send(self, message: Message) -> None:
        self._kafka.send(message.topic, message.key, message.value, message.schemas, message.partition)

    def _everywhere(self, message: Message) -> None:
        """A schema record goes to every partition of its topic: each partition's rows are
        applied in order with it (the applier runs it once, when all have reached it)."""
        partitions = self._kafka.partitions(message.topic)
        for partition in range(partitions) if partitions > 1 else (None,):
            self._send(replace(message, partition=partition))

    def _spread(self, schema: TableSchema) -> Spread:
        """How this table's rows go over its topic's partitions (decided once per definition)."""
        key = (schema.database, schema.table)
        found = self._spreads.get(key)
        if found is None:
            if self._kafka.partitions(self._topics.table(*key)) == 1:
                found = Spread.ONE
            elif not schema.primary_key or self._catalog.has_unique_secondary_key(*key):
                found = Spread.FIRST  # order across all of its rows matters: keep them together
            else:
                found = Spread.BY_KEY
            self._spreads[key] = found
        return found

    def _define(self, database: str, table: str, ts: int) -> None:
        """A table's first record: its CREATE TABLE, so the applier can create it."""
        name = f"{database}.{table}"
        if name in self.state.defined_tables:
            return
        self._kafka.ensure_topic(self._topics.table(database, table))
        own, history = self._events.schema_change(
            database,
            table,
            "definition",
            "",
            self._catalog.show_create(database, table),
            self.state.at(),
            self.state.gtid,
            ts,  # the source time of the change that needs the definition
        )
        self._everywhere(own)
        self._send(history)
        self.state.defined_tables.add(name)


class RowsRead:
    """The rows-read counter per table, label children cached (this runs once per row)."""

    def __init__(self) -> None:
        self._children: dict[tuple[str, str], tuple[str, Any]] = {}

    def count(self, database: str, table: str) -> str:
        """Count one row read of ``database.table``; returns the table's label."""
        child = self._children.get((database, table))
        if child is None:
            label = f"{database}.{table}"
            child = self._children[(database, table)] = (label, PRODUCER_ROWS_READ.labels(label))
        child[1].inc()
        return child[0]


def renamed_into_capture(statement: str, database: str, captured: TableFilter) -> list[str]:
    """Captured tables that a RENAME gives the name of a table that was not captured (e.g. an
    online schema change tool's shadow table when shadow tables are filtered out)."""
    return [
        f"{new[0]}.{new[1]}"
        for old, new in rename_pairs(statement, database)
        if captured(*new) and not captured(*old)
    ]
