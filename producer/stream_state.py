"""What the stream loop knows between two binlog items: where the last source transaction ended,
how far into the current one it has published, and what the next checkpoint will say.

The loop (:mod:`producer.stream`) changes this state only through the methods below, one per
kind of item, and turns it into a :class:`~producer.position.Checkpoint` only in
:meth:`StreamState.checkpoint`. Whether to commit is decided elsewhere, from this state, by
:mod:`producer.commit_policy`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from binlog_pipeline.producer.position import BinlogPosition, Checkpoint, GtidStart, PreparedXa
from binlog_pipeline.producer.snapshot_progress import SnapshotProgress
from binlog_pipeline.producer.source_identity import SourceIdentity


@dataclass
class StreamState:
    source: SourceIdentity  # the server streamed from (recorded in every checkpoint)
    # The end of the last source transaction (or DDL) read: every checkpoint's position. None only
    # after a GTID start, until the first transaction tells the exact position.
    boundary: BinlogPosition | None
    committed: Checkpoint | None  # the last checkpoint committed (or read at the start)
    last_commit: float  # time.monotonic() of that commit (or of the start)
    boundary_ts: int = 0  # source time of the event that ends at ``boundary``
    # Rows of the source transaction starting at ``boundary`` published before a restart: the
    # reader yields them again and the loop drops them (0 once that transaction ends).
    skip_rows: int = 0
    rows_done: int = 0  # captured rows of the current source transaction published (0: at a boundary)
    gtid: str | None = None  # of the current source transaction
    gtid_at: BinlogPosition | None = None  # where the GTID event of ``gtid`` starts
    last_event_ts: int = 0  # source time of the last change published
    defined_tables: set[str] = field(default_factory=set)  # "db.table" whose first record is out
    requests_offset: int = 0  # next offset of the snapshot-requests topic to act on
    produced: Counter[str] = field(default_factory=Counter)  # rows per table in the open Kafka transaction

    @classmethod
    def starting(
        cls,
        start: BinlogPosition | GtidStart,
        resumed: Checkpoint | None,
        committed: Checkpoint | None,
        source: SourceIdentity,
        now: float,
    ) -> StreamState:
        """The state at ``start``: ``resumed`` is the checkpoint streaming continues from (None on a
        first start); ``committed`` the one last committed (they differ when a new snapshot
        replaces a position the source no longer has)."""
        state = cls(
            source=source,
            boundary=start if isinstance(start, BinlogPosition) else None,
            committed=committed,
            last_commit=now,
        )
        if resumed is not None:
            state.skip_rows = state.rows_done = resumed.skip_rows
            state.gtid, state.gtid_at = resumed.gtid, resumed.gtid_at
            state.last_event_ts, state.boundary_ts = resumed.event_ts, resumed.position_ts
            state.defined_tables = set(resumed.defined_tables)
            state.requests_offset = resumed.snapshot_requests_offset
        return state

    def at(self) -> BinlogPosition:
        """The boundary, which a transaction start always sets before any row or commit."""
        assert self.boundary is not None, "a transaction boundary precedes every row and commit"
        return self.boundary

    # --- one transition per kind of binlog item -------------------------------------------------
    def transaction_started(
        self, gtid: str | None, gtid_at: BinlogPosition, position: BinlogPosition | None
    ) -> None:
        self.gtid, self.gtid_at = gtid, gtid_at
        if self.boundary is None:  # GTID start: the first exact position we can resume from
            self.boundary = position

    def row_published(self, table: str, row: int, ts: int) -> None:
        """Row ``row`` (its index in the source transaction) of ``table`` is in the Kafka transaction."""
        self.produced[table] += 1
        self.rows_done = row + 1
        self.last_event_ts = ts

    def transaction_ended(self, position: BinlogPosition, ts: int) -> None:
        """A source transaction or a DDL ended at ``position``: the next boundary."""
        self.boundary, self.boundary_ts = position, ts
        self.skip_rows = self.rows_done = 0

    # --- the checkpoint ---------------------------------------------------------------------------
    def checkpoint(
        self, snapshot: SnapshotProgress | None, prepared_xa: tuple[PreparedXa, ...]
    ) -> Checkpoint:
        """The checkpoint of everything published so far: valid after any row, since
        ``skip_rows`` counts the rows of the open source transaction already out.
        ``prepared_xa``: the XA transactions prepared and not completed as of ``boundary``."""
        return Checkpoint(
            position=self.at(),
            skip_rows=self.rows_done,
            gtid=self.gtid,
            server_id=self.source.server_id,
            event_ts=self.last_event_ts,
            position_ts=self.boundary_ts,
            defined_tables=frozenset(self.defined_tables),
            snapshot=snapshot,
            snapshot_requests_offset=self.requests_offset,
            gtid_domain_id=self.source.gtid_domain_id,
            server_uuid=self.source.server_uuid,
            gtid_at=self.gtid_at,
            prepared_xa=prepared_xa,
        )

    def committed_as(self, checkpoint: Checkpoint, now: float) -> Counter[str]:
        """``checkpoint`` is committed; returns the rows per table it carried (for the metrics)."""
        self.committed, self.last_commit = checkpoint, now
        produced, self.produced = self.produced, Counter()
        return produced
