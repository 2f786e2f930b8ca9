"""What the operations commands print: each command's result as a human table or one JSON
document. Plain functions from results to text, so tests call them without Typer or services."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from binlog_pipeline.core.cli_common import OutputFormat
from binlog_pipeline.ops.lag import PartitionLag
from binlog_pipeline.ops.lag import render_table as lag_table
from binlog_pipeline.ops.producer_lag import ProducerLag, render_producers
from binlog_pipeline.ops.replay import PartitionReplay
from binlog_pipeline.ops.replay import render_table as replay_table
from binlog_pipeline.ops.verify import TableReport

if TYPE_CHECKING:
    from binlog_pipeline.producer.snapshot_progress import SnapshotProgress


def lag_report(group: str, rows: list[PartitionLag], producers: list[ProducerLag], fmt: OutputFormat) -> str:
    """The consumer side per table-topic partition with totals, then the producer side."""
    if fmt is OutputFormat.json:
        return json.dumps(
            {
                "group": group,
                "partitions": [r.as_dict() for r in rows],
                "total_lag": sum(r.lag for r in rows),
                "producers": [p.as_dict() for p in producers],
            }
        )
    return lag_table(rows) + "\n" + render_producers(producers)


def replay_plan(group: str, dry_run: bool, steps: list[PartitionReplay], fmt: OutputFormat) -> str:
    """Per partition: where the applier would resume now, where after the replay, and how many
    offsets it re-applies."""
    if fmt is OutputFormat.json:
        return json.dumps({"group": group, "dry_run": dry_run, "partitions": [s.as_dict() for s in steps]})
    return replay_table(steps)


def replay_done(steps: list[PartitionReplay]) -> str:
    """The one line after a replay took effect: what moved, and what to do next."""
    moved = sum(1 for s in steps if s.new < s.current)
    gaps = sum(1 for s in steps if s.gap_accepted)
    return (
        f"replay set: {moved} partition(s) moved back"
        + (f", {gaps} moved up to the log start over a retention gap" if gaps else "")
        + "; start the applier to re-apply"
    )


def verify_report(reports: list[TableReport]) -> str:
    """A line per table (equal or DIFFERENT, rows, chunks), then each differing key and note."""
    lines = []
    for report in reports:
        status = "equal" if report.equal else "DIFFERENT"
        lines.append(
            f"{report.source} -> {report.target}: {status} ({report.rows} rows, {report.chunks} chunks)"
        )
        for kind in ("missing", "extra", "changed"):
            lines.extend(f"  {kind} on target: {key}" for key in getattr(report, kind))
        if report.note:
            lines.append(f"  {report.note}")
    return "\n".join(lines)


def snapshot_followed(final: SnapshotProgress | None) -> str | None:
    """The line after following a snapshot to its end (None when no snapshot completed)."""
    if final is None or final.running:
        return None
    return f"snapshot complete: {final.count_tables()} tables, {final.rows_done():,} rows"
