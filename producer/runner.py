"""The producer's main loop: binlog → Kafka transactions, each ending with its checkpoint.

A failure anywhere (source, broker, our own code) aborts the open Kafka transaction and resumes
from the last *committed* checkpoint, so the position can never pass unpublished events.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import replace
from typing import Any

import pymysql
from confluent_kafka import KafkaException
from pymysqlreplication.exceptions import BinLogNotEnabled

from binlog_pipeline.core.config import Settings
from binlog_pipeline.core.errors import PermanentError, TransientError
from binlog_pipeline.core.health import Health
from binlog_pipeline.core.metrics import (
    PRODUCER_CHECKPOINT_FILE,
    PRODUCER_CHECKPOINT_POSITION,
    PRODUCER_CHECKPOINT_SOURCE_TIME,
    PRODUCER_ROWS_PRODUCED,
    PRODUCER_ROWS_READ,
    binlog_file_index,
)
from binlog_pipeline.core.retry import observed_retry, retrying
from binlog_pipeline.core.sql import qualified
from binlog_pipeline.producer.binlog_reader import BinlogReader, Idle, SchemaChangeEvent, TxnEnd, TxnStart
from binlog_pipeline.producer.charsets import SourceCharsets
from binlog_pipeline.producer.events import EventBuilder, Message, Spread
from binlog_pipeline.producer.filters import ColumnFilter, TableFilter
from binlog_pipeline.producer.position import BinlogPosition, Checkpoint, GtidStart
from binlog_pipeline.producer.publisher import ProducerFenced, TransactionalPublisher, classify
from binlog_pipeline.producer.row_decoder import RowImageDecoder
from binlog_pipeline.producer.row_events import CapturedTable, RowChange
from binlog_pipeline.producer.snapshot_progress import SnapshotProgress, TableProgress
from binlog_pipeline.producer.snapshot_reader import Chunk, ChunkReader
from binlog_pipeline.producer.snapshot_requests import RequestReader
from binlog_pipeline.producer.snapshotter import Snapshotter
from binlog_pipeline.producer.source_check import (
    CONNECTION_ERRORS,
    SourceInfo,
    check_available,
    connect,
    inspect_source,
    resolve_start,
)
from binlog_pipeline.producer.source_identity import check_same_server
from binlog_pipeline.producer.source_tables import captured_tables
from binlog_pipeline.schemas.ddl import rename_pairs, statement_kind
from binlog_pipeline.schemas.envelope import TableSchema
from binlog_pipeline.schemas.topics import TopicNames

log = logging.getLogger(__name__)
# MariaDB ER_SLAVE_SAME_ID: a newer connection with our server_id displaced this one.
REPLICA_DISPLACED = 4052


class ProducerRunner:
    def __init__(self, settings: Settings, stop: threading.Event, health: Health | None = None) -> None:
        settings.require("source_url")
        self._settings = settings
        self._stop = stop
        self.health = health or Health()
        self._on_retry = observed_retry("producer", self.health)
        self._topics = TopicNames(settings.topic_prefix)
        self._filter = TableFilter(settings.include_tables, settings.exclude_tables)
        self._publisher: TransactionalPublisher | None = None
        self._requests: RequestReader | None = None
        self.committed: Checkpoint | None = None
        self.finished = False  # snapshot_mode=only: the snapshot is complete

    def run(self) -> None:
        """Stream until stopped. Transient failures retry with capped exponential backoff and
        jitter until ``retry_deadline_s`` passes without progress; permanent ones raise."""
        s = self._settings
        try:
            info = self._retrying(lambda: inspect_source(s))
            self._publisher = TransactionalPublisher(s, self._topics, self._stop.is_set)
            self._retrying(self._publisher.init)
            self._requests = RequestReader(s, self._topics.snapshot_requests)
            while not self._stop.is_set() and not self.finished:
                self._retrying(lambda: self._stream_once(info))
        except TransientError:
            if not self._stop.is_set():
                raise
            log.info("stopped while retrying; the last committed checkpoint stands")
        finally:
            if self._publisher is not None:
                self._publisher.close()
            if self._requests is not None:
                self._requests.close()

    def _retrying(self, fn: Any) -> Any:
        """Retry transient errors (SIGTERM ends the waiting at once)."""
        return retrying(self._settings, fn, self._on_retry, self._stop)

    def _stream_once(self, info: SourceInfo) -> None:
        assert self._publisher is not None
        if self._publisher.needs_replacing:
            self._publisher.close()
            self._publisher = TransactionalPublisher(self._settings, self._topics, self._stop.is_set)
            self._publisher.init()  # fences the old instance's epoch, finishing its transaction
            log.info("a new Kafka producer replaced the one that could do no more")
        publisher = self._publisher
        publisher.abort()
        checkpoint = publisher.read_checkpoint()
        mode = self._settings.snapshot_mode
        start: BinlogPosition | GtidStart
        snapshot: SnapshotProgress | None = None
        if checkpoint is not None:
            info = inspect_source(self._settings)
            self._check_same_server(checkpoint, info)
            if mode == "when_needed" and checkpoint.position.file not in dict(info.binlogs):
                log.warning(
                    "the checkpoint's binlog file is gone from the source (%s): snapshot_mode=when_needed "
                    "takes a new snapshot and streams from the current position",
                    checkpoint.position,
                )
                start = info.current
                snapshot = self._plan_snapshot()
                resumed: Checkpoint | None = Checkpoint(
                    info.current,
                    defined_tables=checkpoint.defined_tables,
                    snapshot_requests_offset=checkpoint.snapshot_requests_offset,
                    server_id=info.server_id,
                    gtid_domain_id=info.identity.gtid_domain_id,
                    server_uuid=info.identity.server_uuid,
                )
            else:
                start = checkpoint.position
                check_available(checkpoint.position, info)
                snapshot = checkpoint.snapshot
                resumed = checkpoint
                log.info("resuming at %s", checkpoint.position, extra={"skip_rows": checkpoint.skip_rows})
        else:
            start = resolve_start(self._settings, info)
            resumed = None
            log.info(
                "no checkpoint: starting at %s (start_position=%s)", start, self._settings.start_position
            )
            if mode != "never":
                snapshot = self._plan_snapshot()
        if mode == "only" and not (snapshot is not None and snapshot.running):
            log.info("snapshot_mode=only: no snapshot in progress; nothing to do")
            self.finished = True
            return
        if snapshot is not None and snapshot.running:
            log.info(
                "snapshot: %d of %d tables to go",
                snapshot.count_tables() - snapshot.tables_done(),
                snapshot.count_tables(),
            )
        self.committed = checkpoint
        try:
            self._stream(start, resumed, info, snapshot)
        except KafkaException as exc:
            publisher.abort()
            raise classify(exc, "streaming") from exc
        except pymysql.MySQLError as exc:
            publisher.abort()
            code = exc.args[0] if exc.args else 0
            if code == REPLICA_DISPLACED:
                raise ProducerFenced(
                    f"another replica connected to the source with server_id {self._settings.server_id} "
                    "(another producer of this pipeline, or a clash: set a unique server_id)"
                ) from exc
            if code in CONNECTION_ERRORS:
                raise TransientError(f"source connection lost: {exc}") from exc
            raise PermanentError(f"source error: {exc}") from exc
        except BinLogNotEnabled as exc:
            raise PermanentError("the source has no binary log") from exc
        except BaseException:
            publisher.abort()
            raise

    def _check_same_server(self, checkpoint: Checkpoint, info: SourceInfo) -> None:
        assert self._settings.source_url is not None
        conn = connect(self._settings.source_url)
        try:
            check_same_server(checkpoint, info.identity, conn, {file for file, _size in info.binlogs})
        finally:
            conn.close()

    def _captured_tables(self) -> dict[str, int]:
        """Every captured table (``db.table``, in name order) with information_schema's row estimate."""
        assert self._settings.source_url is not None
        conn = connect(self._settings.source_url)
        try:
            with conn.cursor() as cur:
                return dict(captured_tables(cur, self._filter))
        finally:
            conn.close()

    def _plan_snapshot(self) -> SnapshotProgress:
        tables = self._captured_tables()
        return SnapshotProgress.start(
            [TableProgress(name, estimated_rows=rows) for name, rows in tables.items()]
        )

    def _stream(
        self,
        start: BinlogPosition | GtidStart,
        resumed: Checkpoint | None,
        info: SourceInfo,
        snapshot_progress: SnapshotProgress | None = None,
    ) -> None:
        """Stream from ``start``: the checkpoint's position when ``resumed``, else the configured
        start (for a GTID start, the exact position is learnt from the first transaction)."""
        s = self._settings
        assert s.source_url is not None and self._publisher is not None
        publisher = self._publisher
        builder = EventBuilder(self._topics, info.server_id)
        heartbeat_s = min(max(s.txn_max_ms / 1000, 0.05), 1.0)
        columns = ColumnFilter(s.exclude_columns)
        texts = SourceCharsets(s.source_url)  # one set of decoders for the binlog and the snapshot
        control = connect(s.source_url)
        with control.cursor() as cur:
            # SHOW CREATE TABLE prints TIMESTAMP defaults in the session's time zone; the applier
            # runs recorded definitions in UTC, so they must be read in UTC.
            cur.execute("SET SESSION time_zone = '+00:00'")
        reader = BinlogReader(
            s.source_url,
            s.server_id,
            start,
            self._filter,
            heartbeat_s,
            columns,
            is_mariadb=info.is_mariadb,
            table_type=lambda database, table: table_type(control, database, table),
            prepared=resumed.prepared_xa if resumed else (),
            texts=texts,
        )
        boundary: BinlogPosition | None = start if isinstance(start, BinlogPosition) else None
        skip = resumed.skip_rows if resumed else 0
        gtid = resumed.gtid if resumed else None
        gtid_at = resumed.gtid_at if resumed else None  # where the GTID event of ``gtid`` starts
        defined = set(resumed.defined_tables) if resumed else set()
        rows_done = skip  # captured rows published from the current source transaction
        produced: Counter[str] = Counter()  # per table, in the open Kafka transaction
        rows_read = RowsRead()
        last_event_ts = resumed.event_ts if resumed else 0
        boundary_ts = resumed.position_ts if resumed else 0
        last_commit = time.monotonic()
        requests_offset = resumed.snapshot_requests_offset if resumed else 0
        snapshot_committing: SnapshotProgress | None = None  # progress in the open commit
        snapshot = Snapshotter(
            ChunkReader(s.source_url, columns, info.is_mariadb, texts),
            self._filter,
            snapshot_progress,
            s.snapshot_chunk_rows,
        )
        requests = self._requests
        assert requests is not None

        def at() -> BinlogPosition:
            assert boundary is not None, "a transaction boundary precedes every row and commit"
            return boundary

        def checkpoint() -> Checkpoint:
            return Checkpoint(
                at(),
                skip_rows=rows_done,
                gtid=gtid,
                server_id=info.server_id,
                event_ts=last_event_ts,
                position_ts=boundary_ts,
                defined_tables=frozenset(defined),
                snapshot=snapshot_committing or snapshot.progress,
                snapshot_requests_offset=requests_offset,
                gtid_domain_id=info.identity.gtid_domain_id,
                server_uuid=info.identity.server_uuid,
                gtid_at=gtid_at,
                prepared_xa=tuple(reader.prepared.values()),  # as of ``at()``: see BinlogReader
            )

        def heartbeat_due() -> bool:
            """Nothing captured is open, the position moved, and the last commit is old enough."""
            return (
                not publisher.in_transaction
                and boundary is not None
                and (self.committed is None or boundary != self.committed.position)
                and (time.monotonic() - last_commit) * 1000 >= s.heartbeat_interval_ms
            )

        def commit() -> None:
            nonlocal last_commit
            state = checkpoint()
            publisher.commit(state)
            self.committed = state
            if state.snapshot is not None:
                snapshot.committed(state.snapshot)
            last_commit = time.monotonic()
            for table, count in produced.items():
                PRODUCER_ROWS_PRODUCED.labels(table).inc(count)
            produced.clear()
            PRODUCER_CHECKPOINT_FILE.set(binlog_file_index(state.position.file))
            PRODUCER_CHECKPOINT_POSITION.set(state.position.pos)
            PRODUCER_CHECKPOINT_SOURCE_TIME.set(state.position_ts)
            self.health.progress()

        def send(message: Message) -> None:
            publisher.send(message.topic, message.key, message.value, message.schemas, message.partition)

        def everywhere(message: Message) -> None:
            """A schema record goes to every partition of its topic: each partition's rows are
            applied in order with it (the applier runs it once, when all have reached it)."""
            partitions = publisher.partitions(message.topic)
            for partition in range(partitions) if partitions > 1 else (None,):
                send(replace(message, partition=partition))

        spreads: dict[tuple[str, str], Spread] = {}

        def spread(schema: TableSchema) -> Spread:
            """How this table's rows go over its topic's partitions (decided once per definition)."""
            key = (schema.database, schema.table)
            found = spreads.get(key)
            if found is None:
                if publisher.partitions(self._topics.table(*key)) == 1:
                    found = Spread.ONE
                elif not schema.primary_key or has_unique_secondary_key(control, *key):
                    found = Spread.FIRST  # order across all of its rows matters: keep them together
                else:
                    found = Spread.BY_KEY
                spreads[key] = found
            return found

        def define(database: str, table: str, ts: int) -> None:
            """A table's first record: its CREATE TABLE, so the applier can create it."""
            name = f"{database}.{table}"
            if name in defined:
                return
            publisher.ensure_topic(self._topics.table(database, table))
            own, history = builder.schema_change(
                database,
                table,
                "definition",
                "",
                show_create(control, database, table),
                at(),
                gtid,
                ts,  # the source time of the change that needs the definition
            )
            everywhere(own)
            send(history)
            defined.add(name)

        def publish_chunk(chunk: Chunk) -> None:
            """A snapshot chunk as op=r rows, committed with the progress that counts it done."""
            database, table = chunk.table.split(".", 1)
            now = int(time.time())
            if chunk.source is not None:
                schema = chunk.source.schema
                define(database, table, now)
                if not schema.primary_key:  # one chunk, over whatever a previous attempt left
                    statement = f"TRUNCATE TABLE {qualified(database, table)}"
                    definition = show_create(control, database, table)
                    own, _history = builder.schema_change(
                        database, table, "ddl", statement, definition, chunk.position, None, now
                    )
                    # only the partition its rows go to (keyless: the first)
                    send(own if spread(schema) is Spread.ONE else replace(own, partition=0))
                captured = CapturedTable(schema, NO_DECODER)
                layout = spread(schema)
                for index, row in enumerate(chunk.rows):
                    change = RowChange(captured, "r", None, row, now, index)
                    for message in builder.row_messages(change, chunk.position, None, layout):
                        send(message)
                produced[chunk.table] += chunk.rows.count
            nonlocal snapshot_committing
            snapshot_committing = snapshot.published(chunk)
            try:
                commit()
            finally:
                snapshot_committing = None

        def safe_point(done_to: BinlogPosition | None) -> None:
            """Between source transactions: poll snapshot requests, publish due chunks."""
            nonlocal requests_offset
            if boundary is None or done_to is None or skip:
                return  # mid-way through a transaction published partly before a restart
            if requests.due():
                taken = requests.read(requests_offset)
                if taken:
                    wanted = self._requested_tables([t for r in taken for t in r.tables])
                    if wanted:
                        snapshot.request(wanted)
                    requests_offset = taken[-1].next_offset
                    commit()  # the request is taken: durable in the checkpoint
            if snapshot.running:
                snapshot.safe_point(at(), done_to, publish_chunk, self._stop.is_set)
                if s.snapshot_mode == "only" and not snapshot.running:
                    self.finished = True

        try:
            if isinstance(start, BinlogPosition):
                safe_point(start)
            for item in reader:
                if self.finished:
                    return
                if isinstance(item, RowChange):
                    if item.row < skip:
                        continue  # published before a restart inside this source transaction
                    schema = item.table.schema
                    define(schema.database, schema.table, item.ts)
                    for message in builder.row_messages(item, at(), gtid, spread(schema)):
                        send(message)
                    produced[rows_read.count(schema.database, schema.table)] += 1
                    rows_done = item.row + 1
                    last_event_ts = item.ts
                    if publisher.rows_in_transaction >= s.txn_max_rows:
                        commit()  # inside a large source transaction: checkpoint carries rows_done
                elif isinstance(item, TxnEnd):
                    boundary, boundary_ts, skip, rows_done = item.position, item.ts, 0, 0
                    if publisher.in_transaction and (
                        publisher.rows_in_transaction >= s.txn_max_rows
                        or (time.monotonic() - publisher.opened_at) * 1000 >= s.txn_max_ms
                    ):
                        commit()
                    elif heartbeat_due():
                        commit()  # uncaptured traffic moved the position: keep the checkpoint near
                    safe_point(boundary)
                elif isinstance(item, TxnStart):
                    safe_point(item.position)  # before any event of this transaction
                    gtid, gtid_at = item.gtid, item.gtid_at
                    if boundary is None:  # GTID start: the first exact position we can resume from
                        boundary = item.position
                elif isinstance(item, SchemaChangeEvent):
                    boundary, boundary_ts, skip, rows_done = item.position, item.ts, 0, 0
                    tables = list(dict.fromkeys(item.tables))  # once each, however often named
                    topics = [self._topics.table(database, table) for database, table in tables]
                    for topic in topics:
                        publisher.ensure_topic(topic)
                    participants = tuple((topic, publisher.partitions(topic)) for topic in topics)
                    for database, table in tables:
                        create_table = show_create(control, database, table)
                        if create_table is None and statement_kind(item.statement) == "CREATE TABLE":
                            # Dropped again before we got here: the statement is its definition.
                            create_table = item.statement
                        own, history = builder.schema_change(
                            database,
                            table,
                            "ddl",
                            item.statement,
                            create_table,
                            boundary,
                            gtid,
                            item.ts,
                            item.session,
                            participants,
                        )
                        everywhere(own)
                        send(history)
                        spreads.pop((database, table), None)  # its keys may have changed
                        defined.add(f"{database}.{table}")
                        log.info("schema change on %s.%s at %s", database, table, boundary)
                    snapshot.schema_changed(item)
                    arrived = renamed_into_capture(item.statement, item.database, self._filter)
                    if arrived:
                        # Its rows come from a table we never captured: read them (the applier
                        # creates it empty from its definition at the RENAME record).
                        log.info("snapshot of %s: renamed in from an uncaptured table", ", ".join(arrived))
                        snapshot.request(self._requested_tables(arrived))
                    if publisher.in_transaction:
                        commit()
                    safe_point(boundary)
                elif isinstance(item, Idle):
                    self.health.progress()  # the source answers; Kafka is proven at each commit
                    if (publisher.in_transaction and rows_done == 0) or heartbeat_due():
                        commit()  # the server is idle: close what is open, or record how far we are
                    if rows_done == 0:
                        safe_point(reader.position)
                if self._stop.is_set():
                    # A checkpoint is valid after any row (rows_done), so stopping commits
                    # everything published so far and nothing more.
                    if publisher.in_transaction and boundary is not None:
                        commit()
                    return
                publisher.poll()
        finally:
            reader.close()
            control.close()
            snapshot.close()

    def _requested_tables(self, names: list[str]) -> list[tuple[str, int]]:
        """Requested tables that exist and are captured, with their row estimates; the others
        are reported (the command checks the same before it sends a request)."""
        known = self._captured_tables()
        wanted = []
        for name in dict.fromkeys(names):
            if name in known:
                wanted.append((name, known[name]))
            else:
                log.error(
                    "snapshot request for %s ignored: no such table is captured (include/exclude_tables)",
                    name,
                )
        return wanted


NO_DECODER = RowImageDecoder([])  # snapshot rows arrive decoded


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


def has_unique_secondary_key(conn: Any, database: str, table: str) -> bool:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
            "AND NON_UNIQUE = 0 AND INDEX_NAME <> 'PRIMARY'",
            (database, table),
        )
        row = cur.fetchone()
    return bool(row and row[0])


def renamed_into_capture(statement: str, database: str, captured: TableFilter) -> list[str]:
    """Captured tables that a RENAME gives the name of a table that was not captured (e.g. an
    online schema change tool's shadow table when shadow tables are filtered out)."""
    return [
        f"{new[0]}.{new[1]}"
        for old, new in rename_pairs(statement, database)
        if captured(*new) and not captured(*old)
    ]


def table_type(conn: Any, database: str, table: str) -> str | None:
    """information_schema's TABLE_TYPE ('BASE TABLE', 'VIEW', …), or None: no such table (a
    session's temporary table, or dropped since)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            (database, table),
        )
        row = cur.fetchone()
    return str(row[0]) if row else None


def show_create(conn: Any, database: str, table: str) -> str | None:
    """SHOW CREATE TABLE, or None when the table no longer exists (dropped or renamed away)."""
    quoted = qualified(database, table)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SHOW CREATE TABLE {quoted}")
            row = cur.fetchone()
            return str(row[1]) if row else None
    except pymysql.err.ProgrammingError:
        return None


__all__ = ["BinlogPosition", "ProducerRunner"]
