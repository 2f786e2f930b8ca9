"""The stream loop's state and the checkpoint it becomes (no services: pure transitions)."""

from __future__ import annotations

import pytest

from binlog_pipeline.producer.position import BinlogPosition, Checkpoint, GtidStart, PreparedXa
from binlog_pipeline.producer.snapshot_progress import SnapshotProgress, TableProgress
from binlog_pipeline.producer.source_identity import SourceIdentity
from binlog_pipeline.producer.stream_state import StreamState

SOURCE = SourceIdentity(server_id=7, gtid_domain_id=0, server_uuid=None)
START = BinlogPosition("mysql-bin.000002", 4)
END = BinlogPosition("mysql-bin.000002", 1200)


def test_a_checkpoint_is_built_from_keywords_only() -> None:
    """Checkpoint fields are keyword-only: thirteen fields are never matched by position."""
    with pytest.raises(TypeError):
        Checkpoint(START)  # type: ignore[misc]


def test_a_resume_inside_a_source_transaction_skips_and_counts_its_published_rows() -> None:
    """Resumed at a checkpoint 5 rows into a transaction: those 5 are skipped, and a checkpoint
    before any new row still says 5."""
    resumed = Checkpoint(position=START, skip_rows=5, gtid="0-7-3", defined_tables=frozenset({"db.t"}))
    state = StreamState.starting(START, resumed, resumed, SOURCE, now=0.0)
    assert (state.boundary, state.skip_rows, state.rows_done) == (START, 5, 5)
    checkpoint = state.checkpoint(None, ())
    assert (checkpoint.position, checkpoint.skip_rows, checkpoint.gtid) == (START, 5, "0-7-3")
    assert checkpoint.defined_tables == {"db.t"}


def test_rows_then_the_transaction_end_move_the_checkpoint_to_the_next_boundary() -> None:
    """Mid-transaction the checkpoint is the boundary plus the rows out; at its end, the new
    boundary with nothing to skip."""
    state = StreamState.starting(START, None, None, SOURCE, now=0.0)
    state.transaction_started("0-7-4", BinlogPosition("mysql-bin.000002", 4), START)
    state.row_published("db.t", row=0, ts=100)
    state.row_published("db.t", row=1, ts=101)
    middle = state.checkpoint(None, ())
    assert (middle.position, middle.skip_rows, middle.event_ts) == (START, 2, 101)
    state.transaction_ended(END, ts=102)
    end = state.checkpoint(None, ())
    assert (end.position, end.skip_rows, end.position_ts, end.gtid) == (END, 0, 102, "0-7-4")


def test_a_gtid_start_learns_its_position_from_the_first_transaction() -> None:
    """After a GTID start the boundary is unknown until the first transaction starts, then kept."""
    state = StreamState.starting(GtidStart("0-7-10"), None, None, SOURCE, now=0.0)
    assert state.boundary is None
    state.transaction_started("0-7-11", START, START)
    state.transaction_started("0-7-12", END, END)
    assert state.boundary == START


def test_the_checkpoint_carries_the_source_snapshot_and_prepared_xa() -> None:
    """The checkpoint records the source's identity, the snapshot progress and the XA
    transactions held prepared (their rows are published at their XA COMMIT)."""
    state = StreamState.starting(START, None, None, SOURCE, now=0.0)
    progress = SnapshotProgress.start([TableProgress("db.t", estimated_rows=3)])
    held = PreparedXa(xid="X'01',X'',1", start=START, gtid="0-7-5", tables=("db.t",))
    checkpoint = state.checkpoint(progress, (held,))
    assert (checkpoint.server_id, checkpoint.gtid_domain_id, checkpoint.server_uuid) == (7, 0, None)
    assert checkpoint.snapshot == progress and checkpoint.prepared_xa == (held,)
    assert Checkpoint.from_json(checkpoint.to_json()) == checkpoint


def test_a_commit_resets_the_rows_counted_for_the_metrics() -> None:
    """The rows per table of the committed Kafka transaction are handed over once."""
    state = StreamState.starting(START, None, None, SOURCE, now=0.0)
    state.row_published("db.t", row=0, ts=1)
    checkpoint = state.checkpoint(None, ())
    assert state.committed_as(checkpoint, now=5.0) == {"db.t": 1}
    assert (state.committed, state.last_commit, state.produced) == (checkpoint, 5.0, {})
