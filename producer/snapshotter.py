"""The snapshot, interleaved with the binlog stream (the watermark idea of Netflix's DBLog, with
MariaDB's exact snapshot position standing in for the watermarks).

Each chunk is read in its own consistent snapshot whose binlog position ``P`` MariaDB reports
(:mod:`producer.snapshot_reader`). The stream loop keeps streaming and offers *safe points*: moments
between source transactions where everything before a position has been published and nothing
after it. The chunk is published as ``op=r`` rows at the safe point that reaches ``P`` — exactly
where its rows are true — and the checkpoint of that Kafka transaction records the chunk as done.
A chunk the stream has already passed (its table changed after ``P``) is read again.

Why this holds, per key: every change before ``P`` is published before the chunk and every change
after ``P`` after it, so the last write of each key in the topic is its latest state. Stream
events therefore pass through untouched, and the target only ever holds rows as they are at the
stream's position, so unique keys never collide. A table without a primary key is one chunk (one
read, spooled to disk rather than memory) preceded by a TRUNCATE record: what its stream events
did to the target before that point is replaced by the table as it is at ``P``.

No lock is taken on MariaDB and no read view lives longer than one chunk; a restart resumes after
the last chunk whose transaction committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from binlog_pipeline.core.metrics import SNAPSHOT_ROWS, SNAPSHOT_RUNNING, SNAPSHOT_TABLES
from binlog_pipeline.producer.binlog_reader import SchemaChangeEvent
from binlog_pipeline.producer.filters import TableFilter
from binlog_pipeline.producer.position import BinlogPosition
from binlog_pipeline.producer.snapshot_progress import SnapshotProgress, TableProgress
from binlog_pipeline.producer.snapshot_reader import Chunk, ChunkReader
from binlog_pipeline.schemas.ddl import affected_tables, statement_kind

log = logging.getLogger(__name__)
REPORT_EVERY_S = 10.0


class Snapshotter:
    def __init__(
        self, reader: ChunkReader, captured: TableFilter, progress: SnapshotProgress | None, chunk_rows: int
    ) -> None:
        self._reader = reader
        self._captured = captured
        self.progress = progress
        self._chunk_rows = chunk_rows
        self._pending: Chunk | None = None
        self._reported_at = time.monotonic()
        self._reported_rows = progress.rows_done() if progress else 0
        self.publish_metrics()

    @property
    def running(self) -> bool:
        return self.progress is not None and self.progress.running

    def schema_changed(self, item: SchemaChangeEvent) -> None:
        """DDL on a table mid-snapshot (its key or columns may differ now) restarts that table;
        a rename carries the table's place in the snapshot to its new name."""
        if not self.running:
            return
        assert self.progress is not None
        tables = [f"{db}.{t}" for db, t in affected_tables(item.statement, item.database)]
        pairs: list[tuple[str, str | None]]
        kind = statement_kind(item.statement)
        if kind == "RENAME TABLE" or (kind == "ALTER TABLE" and len(tables) == 2):
            pairs = list(zip(tables[::2], tables[1::2], strict=False))
        else:
            pairs = [(t, None) for t in tables]
        for table, renamed in pairs:
            if not self.progress.unfinished(table):
                continue
            if renamed is not None and not self._captured(*renamed.split(".", 1)):
                renamed = None  # renamed out of the captured set: nothing left to read
            log.info("snapshot of %s restarts: %s", table, item.statement[:200])
            self.progress = self.progress.restarted(table, renamed)
            if self._pending is not None and self._pending.table == table:
                self._discard()

    def request(self, tables: list[tuple[str, int]]) -> None:
        """Snapshot these tables (``db.table``, estimated rows) while streaming continues."""
        entries = [TableProgress(name, estimated_rows=rows) for name, rows in tables]
        base = self.progress or SnapshotProgress()
        self.progress = base.requested(entries)
        if self._pending is not None and self._pending.table in {name for name, _ in tables}:
            self._discard()
        log.info("snapshot requested", extra={"tables": [name for name, _ in tables]})
        self.publish_metrics()

    def safe_point(
        self,
        boundary: BinlogPosition,
        done_to: BinlogPosition,
        publish: Callable[[Chunk], None],
        stopping: Callable[[], bool],
    ) -> None:
        """The stream has published every event before ``done_to`` and none after it;
        ``boundary`` is the end of its last transaction. Publish every chunk whose position lies
        between the two, reading the next chunk as soon as one is out (on an idle source the
        whole snapshot runs here), until ``stopping()``."""
        while self.running and not stopping():
            assert self.progress is not None
            if self._pending is None:
                current = self.progress.current
                assert current is not None
                self._pending = self._reader.read(current.table, current.last_key, self._chunk_rows)
            chunk = self._pending
            if chunk.position < boundary:
                # A transaction after the chunk's view has been published: its rows may be stale.
                log.debug(
                    "snapshot chunk of %s at %s is behind the stream; reading again",
                    chunk.table,
                    chunk.position,
                )
                self._discard()
                continue
            if chunk.position > done_to:
                return  # the stream has yet to reach the chunk's position
            try:
                publish(chunk)
            finally:
                self._discard()

    def published(self, chunk: Chunk) -> SnapshotProgress:
        """The progress once ``chunk`` is out (the caller commits it with the chunk)."""
        assert self.progress is not None
        return self.progress.advanced(chunk.table, chunk.last_key, chunk.rows.count, chunk.complete)

    def committed(self, progress: SnapshotProgress) -> None:
        was_running = self.running
        self.progress = progress
        self.publish_metrics()
        self._report(force=was_running and not progress.running)

    def close(self) -> None:
        self._discard()
        self._reader.close()

    def _discard(self) -> None:
        if self._pending is not None:
            self._pending.close()
            self._pending = None

    # --- progress --------------------------------------------------------------------------
    def publish_metrics(self) -> None:
        progress = self.progress or SnapshotProgress()
        SNAPSHOT_RUNNING.set(1 if progress.running else 0)
        SNAPSHOT_TABLES.labels("total").set(progress.count_tables())
        SNAPSHOT_TABLES.labels("done").set(progress.tables_done())
        SNAPSHOT_ROWS.labels("done").set(progress.rows_done())
        SNAPSHOT_ROWS.labels("estimated").set(progress.rows_estimated())

    def _report(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.progress is None or (not force and now - self._reported_at < REPORT_EVERY_S):
            return
        progress = self.progress
        rows = progress.rows_done()
        rate = (rows - self._reported_rows) / max(now - self._reported_at, 1e-6)
        self._reported_at, self._reported_rows = now, rows
        if not progress.running:
            elapsed = progress.finished_at - progress.started_at
            log.info(
                "snapshot complete: %d tables, %d rows in %.1f s",
                progress.count_tables(),
                rows,
                elapsed,
                extra={"rows": rows, "seconds": round(elapsed, 1)},
            )
            return
        estimated = progress.rows_estimated()
        eta = (estimated - rows) / rate if rate > 0 else None
        log.info(
            "snapshot: %d/%d tables, %d/~%d rows, %.0f rows/s, ETA %s",
            progress.tables_done(),
            progress.count_tables(),
            rows,
            estimated,
            rate,
            f"{eta:.0f} s" if eta is not None else "unknown",
            extra={"table": progress.current.table if progress.current else None},
        )
