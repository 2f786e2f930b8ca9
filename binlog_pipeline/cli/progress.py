"""Progress bars of the long-running commands (rich, on the terminal only): verify's table by
table check, and a snapshot followed to its end."""

from __future__ import annotations

from typing import TYPE_CHECKING

from binlog_pipeline.core.config import Settings
from binlog_pipeline.ops.verify import Side, TableReport

if TYPE_CHECKING:
    from binlog_pipeline.producer.snapshot_progress import SnapshotProgress


def verify_tables(
    source: Side,
    target: Side,
    tables: list[tuple[str, str]],
    routes: dict[str, str],
    chunk_rows: int,
    retries: int,
    retry_wait: float,
) -> list[TableReport]:
    """Each source table against its (routed) target table, with a bar over the estimated rows."""
    from rich.progress import Progress

    from binlog_pipeline.ops.verify import estimated_rows, routed, verify_table

    reports = []
    with Progress(transient=True) as progress:
        task = progress.add_task("verifying", total=sum(estimated_rows(source, t) for t in tables) or None)
        for src in tables:
            progress.update(task, description=f"verifying {'.'.join(src)}")
            reports.append(
                verify_table(
                    source,
                    target,
                    src,
                    routed(routes, src),
                    chunk_rows,
                    retries,
                    retry_wait,
                    lambda n: progress.advance(task, n),
                )
            )
    return reports


def follow_with_bar(settings: Settings, requested_at: int | None = None) -> SnapshotProgress | None:
    """A rich progress bar over the committed snapshot progress: rows done of the estimate,
    tables, rows/s and ETA (once the producer has taken the request sent at ``requested_at``),
    until the snapshot is complete; returns the last progress seen."""
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from binlog_pipeline.ops.snapshot import follow

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]}"),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns) as bar:
        task = bar.add_task("snapshot", total=None, rate="", rows="")

        def show(progress: SnapshotProgress | None) -> None:
            if progress is None:
                bar.update(
                    task,
                    description="waiting for the producer to take the request"
                    if requested_at is not None
                    else "no snapshot recorded",
                )
                return
            done, total = progress.rows_done(), max(progress.rows_estimated(), progress.rows_done(), 1)
            speed = bar.tasks[0].speed
            bar.update(
                task,
                completed=done,
                total=total,
                description=f"snapshot {progress.tables_done()}/{progress.count_tables()} tables",
                rate=f"{speed:,.0f} rows/s" if speed else "",
                rows=f"{done:,}/~{total:,} rows",
            )

        return follow(settings, 1.0, show, requested_at)
