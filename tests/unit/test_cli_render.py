"""What the commands print and decide, from results built by hand — no Typer, no services."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from binlog_pipeline_tools.bench.cli import require_equal
from binlog_pipeline_tools.chaos.cli import chosen_kinds
from binlog_pipeline_tools.stack import StackStatus
from binlog_pipeline_tools.stack.cli import render_status

from binlog_pipeline.cli.policy import all_equal, lag_exceeded, refuse_keyless, replay_point
from binlog_pipeline.cli.render import (
    lag_report,
    replay_done,
    replay_plan,
    snapshot_followed,
    verify_report,
)
from binlog_pipeline.core.cli_common import OutputFormat
from binlog_pipeline.core.errors import PermanentError, ToolError, UsageError
from binlog_pipeline.ops.lag import PartitionLag
from binlog_pipeline.ops.producer_lag import ProducerLag
from binlog_pipeline.ops.replay import PartitionReplay, ReplayPoint
from binlog_pipeline.ops.verify import TableReport
from binlog_pipeline.producer.snapshot_progress import SnapshotProgress, TableProgress

ROWS = [
    PartitionLag("binlog.shop.orders", 0, 10, 41, 31, 12.5),
    PartitionLag("binlog.shop.users", 0, None, 3, 3, 0.0),
]
PRODUCERS = [ProducerLag("binlog-producer-1", "mariadb-bin.000001:400", "mariadb-bin.000001:900", 500, 2.0)]


def step(topic: str = "binlog.shop.orders", current: int = 40, new: int = 0, **kw: object) -> PartitionReplay:
    fields: dict[str, object] = {"kafka_committed": current, "target_checkpoint": current, "end": 41}
    fields |= {"keyless_table": None, **kw}
    return PartitionReplay(topic=topic, partition=0, current=current, new=new, **fields)  # type: ignore[arg-type]


def test_lag_report_json_and_table() -> None:
    """JSON has the group, each partition, the total and the producers; the table ends with both
    sides' lines."""
    doc = json.loads(lag_report("g", ROWS, PRODUCERS, OutputFormat.json))
    assert doc["group"] == "g" and doc["total_lag"] == 34
    assert doc["partitions"][1]["committed"] is None and doc["producers"][0]["behind_bytes"] == 500
    table = lag_report("g", ROWS, PRODUCERS, OutputFormat.table).splitlines()
    assert table[0].split() == ["TOPIC", "PART", "COMMITTED", "END", "LAG", "LAG_S"]
    assert table[3].split() == ["TOTAL", "34", "12.5"]
    assert table[4].startswith("PRODUCER") and table[5].split()[-1] == "2.0"


@pytest.mark.parametrize(
    ("max_messages", "max_seconds", "exceeded"),
    [(None, None, False), (34, None, False), (33, None, True), (None, 12.5, False), (None, 12.4, True)],
)
def test_lag_thresholds(max_messages: int | None, max_seconds: float | None, exceeded: bool) -> None:
    """lag exits 1 only when the total is over --max-lag-messages or the oldest change is older
    than --max-lag-seconds."""
    assert lag_exceeded(ROWS, max_messages, max_seconds) is exceeded
    assert lag_exceeded([], 0, 0.0) is False


def test_replay_plan_and_done() -> None:
    """The plan as JSON (each step with its message count) or a table; then one summary line."""
    steps = [
        step(),
        step("binlog.shop.users", current=5, new=5),
        step("binlog.x.y", 9, 12, gap_accepted=True),
    ]
    doc = json.loads(replay_plan("g", True, steps, OutputFormat.json))
    assert doc["dry_run"] is True and [p["messages"] for p in doc["partitions"]] == [40, 0, 0]
    table = replay_plan("g", True, steps, OutputFormat.table)
    assert "unchanged (already at or before that point)" in table and table.splitlines()[-1].split() == [
        "TOTAL",
        "40",
    ]
    assert replay_done(steps) == (
        "replay set: 1 partition(s) moved back, 1 moved up to the log start over a retention gap; "
        "start the applier to re-apply"
    )


def test_replay_point_from_the_options() -> None:
    """Exactly one point, topics or --all-topics, ISO 8601 times with an offset and durations."""
    assert replay_point(["x.y"], False, True, None, None, None) == ReplayPoint(earliest=True)
    assert replay_point(None, True, False, 7, None, None) == ReplayPoint(offset=7)
    at = replay_point(["x.y"], False, False, None, "2026-01-01T00:00:00Z", None)
    assert at.timestamp_ms == 1767225600000
    ago = replay_point(["x.y"], False, False, None, None, "PT1H").timestamp_ms
    assert ago is not None and abs(ago - (time.time() - 3600) * 1000) < 5000
    refusals = [
        ((["x.y"], False, True, 3, None, None), "choose exactly one of"),
        ((["x.y"], False, False, None, None, None), "choose exactly one of"),
        ((None, False, True, None, None, None), "--all-topics"),
        ((["x.y"], True, True, None, None, None), "--all-topics"),
        ((["x.y"], False, False, None, None, "an hour"), "not an ISO 8601 duration: 'an hour'"),
        ((["x.y"], False, False, None, "soon", None), "not an ISO 8601 time: 'soon'"),
    ]
    for args, said in refusals:
        with pytest.raises(UsageError, match=said):
            replay_point(*args)
    with pytest.raises(PermanentError, match="needs a UTC offset"):
        replay_point(["x.y"], False, False, None, "2026-01-01T00:00:00", None)


def test_keyless_tables_are_refused_unless_allowed() -> None:
    """A replay over a table without a primary key is refused (exit 1), naming every such table."""
    steps = [step(keyless_table="shop.k"), step("binlog.shop.l", keyless_table="shop.l"), step("binlog.a.b")]
    with pytest.raises(PermanentError, match=r"^shop\.k, shop\.l have no primary key: re-applying"):
        refuse_keyless(steps, allow_keyless=False)
    with pytest.raises(PermanentError, match=r"^shop\.k has no primary key"):
        refuse_keyless(steps[:1], allow_keyless=False)
    refuse_keyless(steps, allow_keyless=True)
    refuse_keyless(steps[2:], allow_keyless=False)


def test_verify_report() -> None:
    """One line per table, then each differing key and the note; equal only without any."""
    same = TableReport("shop.t", "shop.t", chunks=3, rows=2500)
    differs = TableReport(
        "shop.c", "copy.c", chunks=1, rows=300, missing=["(1, 'k1')"], changed=["(2, 'k2')"]
    )
    whole = TableReport("shop.np", "shop.np", chunks=1, rows=50, note="CHECKSUM TABLE differs")
    assert verify_report([same, differs, whole]).splitlines() == [
        "shop.t -> shop.t: equal (2500 rows, 3 chunks)",
        "shop.c -> copy.c: DIFFERENT (300 rows, 1 chunks)",
        "  missing on target: (1, 'k1')",
        "  changed on target: (2, 'k2')",
        "shop.np -> shop.np: DIFFERENT (50 rows, 1 chunks)",
        "  CHECKSUM TABLE differs",
    ]
    assert all_equal([same]) and all_equal([]) and not all_equal([same, whole])


def test_snapshot_followed() -> None:
    """The closing line appears only for a completed snapshot."""
    assert snapshot_followed(None) is None
    running = SnapshotProgress((TableProgress("shop.t", rows=10), TableProgress("shop.u", done=True, rows=5)))
    assert snapshot_followed(running) is None
    done = SnapshotProgress(
        (TableProgress("shop.t", done=True, rows=1200), TableProgress("shop.u", done=True))
    )
    assert snapshot_followed(done) == "snapshot complete: 2 tables, 1,200 rows"


def test_stack_status(tmp_path: Path) -> None:
    """Each service's port, pid and health, as a table with the state directory or as JSON."""
    rows = [StackStatus("kafka", 9092, 10, True, True), StackStatus("target", None, None, False, False)]
    table = render_status(rows, tmp_path).splitlines()
    assert table[1].split() == ["kafka", "9092", "10", "healthy"]
    assert table[2].split() == ["target", "-", "-", "stopped"] and table[3] == f"state: {tmp_path}"
    assert json.loads(render_status(rows, tmp_path, OutputFormat.json))[1]["healthy"] is False


def test_tool_options_and_verdicts() -> None:
    """chaos names unknown fault kinds; bench fails a run whose targets differ from the source."""
    assert chosen_kinds(None) == sorted(chosen_kinds(None)) and len(chosen_kinds(None)) > 5
    first = chosen_kinds(None)[0]
    assert chosen_kinds(f" {first} ,") == [first]
    with pytest.raises(UsageError, match="unknown fault kind"):
        chosen_kinds(f"{first},meteor")
    require_equal(
        {"equal": {"t": True}, "debezium": {"equal": {"ours": {"t": True}, "debezium": {"t": False}}}}
    )
    with pytest.raises(ToolError, match="source and target differ after the run"):
        require_equal({"equal": {"t": False}})
    with pytest.raises(ToolError, match="our target differs"):
        require_equal({"equal": {}, "debezium": {"equal": {"ours": {"t": False}}}})
