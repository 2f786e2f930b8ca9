"""The snapshot's progress as the checkpoint stores it (no services needed)."""

from __future__ import annotations

from binlog_pipeline.producer.position import BinlogPosition, Checkpoint
from binlog_pipeline.producer.snapshot_progress import SnapshotProgress, TableProgress
from binlog_pipeline.producer.snapshot_reader import next_chunk_condition


def test_progress_round_trips_through_the_checkpoint_with_binary_keys() -> None:
    progress = SnapshotProgress.start(
        [
            TableProgress(
                "db.a", [b"\x00\xff", "2026-01-01 00:00:00.123", "caf\u00e9"], rows=10, estimated_rows=99
            ),
            TableProgress("db.b", estimated_rows=5),
        ]
    )
    checkpoint = Checkpoint(
        position=BinlogPosition("mysql-bin.000003", 4), snapshot=progress, snapshot_requests_offset=7
    )
    back = Checkpoint.from_json(checkpoint.to_json())
    assert back == checkpoint
    assert back.snapshot is not None and back.snapshot.tables[0].last_key == [
        b"\x00\xff",
        "2026-01-01 00:00:00.123",
        "caf\u00e9",
    ]


def test_a_checkpoint_written_before_snapshots_existed_still_reads() -> None:
    old = b'{"file":"mysql-bin.000001","pos":4,"skip_rows":0,"gtid":null,"server_id":1,"event_ts":0,"position_ts":0,"defined_tables":[]}'
    checkpoint = Checkpoint.from_json(old)
    assert checkpoint.snapshot is None and checkpoint.snapshot_requests_offset == 0


def test_progress_advances_table_by_table_and_compacts_when_done() -> None:
    progress = SnapshotProgress.start([TableProgress("db.a", estimated_rows=3), TableProgress("db.b")])
    assert progress.running and progress.current is not None and progress.current.table == "db.a"
    progress = progress.advanced("db.a", ["2"], 2, done=False)
    progress = progress.advanced("db.a", ["3"], 1, done=True)
    assert progress.current is not None and progress.current.table == "db.b"
    assert (progress.tables_done(), progress.rows_done(), progress.rows_estimated()) == (1, 3, 3)
    done = progress.advanced("db.b", None, 0, done=True)
    assert not done.running and done.tables == ()  # the checkpoint no longer lists every table
    assert (done.count_tables(), done.tables_done(), done.rows_done()) == (2, 2, 3)
    assert done.finished_at >= done.started_at > 0


def test_a_restart_or_rename_mid_snapshot_reads_the_table_again() -> None:
    progress = SnapshotProgress.start([TableProgress("db.a", estimated_rows=9)]).advanced(
        "db.a", ["5"], 5, False
    )
    renamed = progress.restarted("db.a", "db.a2")
    assert renamed.tables == (TableProgress("db.a2", estimated_rows=9),)
    again = progress.requested([TableProgress("db.a"), TableProgress("db.c")])
    assert [t.table for t in again.tables] == ["db.a", "db.c"] and again.tables[0].last_key is None


def test_the_next_chunk_condition_follows_the_key_order() -> None:
    sql, params = next_chunk_condition(("a", "b", "c"), ["1", "x", "9"])
    assert sql == "(`a` > %s) OR (`a` = %s AND `b` > %s) OR (`a` = %s AND `b` = %s AND `c` > %s)"
    assert params == ["1", "1", "x", "1", "x", "9"]
