"""The producer: binlog → Kafka transactions, each ending with its checkpoint.

The runner decides where each pass of the stream starts (the last committed checkpoint, or the
configured start, or a new snapshot), opens the clients, and retries: a failure anywhere
(source, broker, our own code) aborts the open Kafka transaction and resumes from the last
*committed* checkpoint, so the position can never pass unpublished events. The stream itself —
one handler per binlog item kind — is :mod:`producer.stream`; when it commits is
:mod:`producer.commit_policy`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import pymysql
from confluent_kafka import KafkaException
from pymysqlreplication.exceptions import BinLogNotEnabled

from binlog_pipeline.core import mysql_errors
from binlog_pipeline.core.config import Settings
from binlog_pipeline.core.errors import PermanentError, TransientError
from binlog_pipeline.core.health import Health
from binlog_pipeline.core.retry import observed_retry, retrying
from binlog_pipeline.producer.clients import ProducerClients, Publisher, SnapshotRequests, real_clients
from binlog_pipeline.producer.commit_policy import CommitPolicy
from binlog_pipeline.producer.filters import TableFilter
from binlog_pipeline.producer.position import BinlogPosition, Checkpoint, GtidStart
from binlog_pipeline.producer.publisher import ProducerFenced, classify
from binlog_pipeline.producer.snapshot_progress import SnapshotProgress, TableProgress
from binlog_pipeline.producer.snapshotter import Snapshotter
from binlog_pipeline.producer.source_check import (
    SourceInfo,
    check_available,
    connect,
    inspect_source,
    resolve_start,
)
from binlog_pipeline.producer.source_identity import check_same_server
from binlog_pipeline.producer.source_tables import captured_tables
from binlog_pipeline.producer.stream import Stream
from binlog_pipeline.producer.stream_state import StreamState
from binlog_pipeline.schemas.topics import TopicNames

log = logging.getLogger(__name__)
T = TypeVar("T")
# MariaDB ER_SLAVE_SAME_ID: a newer connection with our server_id displaced this one.
REPLICA_DISPLACED = 4052


class ProducerRunner:
    """``clients``: how the Kafka and source clients are made (default: the real ones)."""

    def __init__(
        self,
        settings: Settings,
        stop: threading.Event,
        health: Health | None = None,
        clients: ProducerClients | None = None,
    ) -> None:
        settings.require("source_url")
        self._settings = settings
        self._stop = stop
        self.health = health or Health()
        self._clients = clients or real_clients(settings, stop)
        self._on_retry = observed_retry("producer", self.health)
        self._topics = TopicNames(settings.topic_prefix)
        self._filter = TableFilter(settings.include_tables, settings.exclude_tables)
        self._policy = CommitPolicy.from_settings(settings)
        self._publisher: Publisher | None = None
        self._requests: SnapshotRequests | None = None
        self._state: StreamState | None = None  # of the current (or last) pass of the stream
        self.finished = False  # snapshot_mode=only: the snapshot is complete

    @property
    def committed(self) -> Checkpoint | None:
        """The last checkpoint committed (or read when the current pass started)."""
        return self._state.committed if self._state is not None else None

    def run(self) -> None:
        """Stream until stopped. Transient failures retry with capped exponential backoff and
        jitter until ``retry_deadline_s`` passes without progress; permanent ones raise."""
        s = self._settings
        try:
            info = self._retrying(lambda: inspect_source(s))
            self._publisher = self._clients.publisher()
            self._retrying(self._publisher.init)
            self._requests = self._clients.snapshot_requests()
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

    def _retrying(self, fn: Callable[[], T]) -> T:
        """Retry transient errors (SIGTERM ends the waiting at once)."""
        return retrying(self._settings, fn, self._on_retry, self._stop)

    def _stream_once(self, info: SourceInfo) -> None:
        """One pass: from the last committed checkpoint until stopped, finished or failing."""
        assert self._publisher is not None
        if self._publisher.needs_replacing:
            self._publisher.close()
            self._publisher = self._clients.publisher()
            self._publisher.init()  # fences the old instance's epoch, finishing its transaction
            log.info("a new Kafka producer replaced the one that could do no more")
        publisher = self._publisher
        publisher.abort()
        checkpoint = publisher.read_checkpoint()
        if checkpoint is not None:
            info = inspect_source(self._settings)
            self._check_same_server(checkpoint, info)
        start, resumed, snapshot = self._start_point(checkpoint, info)
        if self._settings.snapshot_mode == "only" and not (snapshot is not None and snapshot.running):
            log.info("snapshot_mode=only: no snapshot in progress; nothing to do")
            self.finished = True
            return
        if snapshot is not None and snapshot.running:
            log.info(
                "snapshot: %d of %d tables to go",
                snapshot.count_tables() - snapshot.tables_done(),
                snapshot.count_tables(),
            )
        self._state = StreamState.starting(start, resumed, checkpoint, info.identity, time.monotonic())
        try:
            self._stream(self._state, start, resumed, info, snapshot)
        except KafkaException as exc:
            publisher.abort()
            raise classify(exc, "streaming") from exc
        except pymysql.MySQLError as exc:
            publisher.abort()
            if mysql_errors.code(exc) == REPLICA_DISPLACED:
                raise ProducerFenced(
                    f"another replica connected to the source with server_id {self._settings.server_id} "
                    "(another producer of this pipeline, or a clash: set a unique server_id)"
                ) from exc
            # transient (connection, contention, read-only, resources) or not: core.mysql_errors
            raise mysql_errors.classify(exc, f"source error: {exc}") from exc
        except BinLogNotEnabled as exc:
            raise PermanentError("the source has no binary log") from exc
        except BaseException:
            publisher.abort()
            raise

    def _start_point(
        self, checkpoint: Checkpoint | None, info: SourceInfo
    ) -> tuple[BinlogPosition | GtidStart, Checkpoint | None, SnapshotProgress | None]:
        """(where to start, the checkpoint streaming continues from, the snapshot to run)."""
        mode = self._settings.snapshot_mode
        if checkpoint is None:
            start = resolve_start(self._settings, info)
            log.info(
                "no checkpoint: starting at %s (start_position=%s)", start, self._settings.start_position
            )
            return start, None, self._plan_snapshot() if mode != "never" else None
        if mode == "when_needed" and checkpoint.position.file not in dict(info.binlogs):
            log.warning(
                "the checkpoint's binlog file is gone from the source (%s): snapshot_mode=when_needed "
                "takes a new snapshot and streams from the current position",
                checkpoint.position,
            )
            resumed = Checkpoint(
                position=info.current,
                defined_tables=checkpoint.defined_tables,
                snapshot_requests_offset=checkpoint.snapshot_requests_offset,
                server_id=info.server_id,
                gtid_domain_id=info.identity.gtid_domain_id,
                server_uuid=info.identity.server_uuid,
            )
            return info.current, resumed, self._plan_snapshot()
        check_available(checkpoint.position, info)
        log.info("resuming at %s", checkpoint.position, extra={"skip_rows": checkpoint.skip_rows})
        return checkpoint.position, checkpoint, checkpoint.snapshot

    def _stream(
        self,
        state: StreamState,
        start: BinlogPosition | GtidStart,
        resumed: Checkpoint | None,
        info: SourceInfo,
        snapshot_progress: SnapshotProgress | None,
    ) -> None:
        """Stream from ``start``: the checkpoint's position when ``resumed``, else the configured
        start (for a GTID start, the exact position is learnt from the first transaction)."""
        assert self._publisher is not None and self._requests is not None
        s = self._settings
        with contextlib.ExitStack() as opened:
            source = self._clients.source_session(
                start, resumed.prepared_xa if resumed else (), info.is_mariadb
            )
            opened.callback(source.close)
            snapshot = Snapshotter(source.chunks, self._filter, snapshot_progress, s.snapshot_chunk_rows)
            opened.callback(snapshot.close)
            stream = Stream(
                state,
                policy=self._policy,
                kafka=self._publisher,
                binlog=source.binlog,
                catalog=source.catalog,
                snapshot=snapshot,
                requests=self._requests,
                topics=self._topics,
                captured=self._filter,
                requested_tables=self._requested_tables,
                snapshot_only=s.snapshot_mode == "only",
                stopping=self._stop.is_set,
                health=self.health,
            )
            try:
                stream.run()
            finally:
                self.finished = self.finished or stream.finished

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


__all__ = ["BinlogPosition", "ProducerRunner"]
