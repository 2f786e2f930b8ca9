"""The snapshot command: ask the running producer for an incremental snapshot of tables, or
show (and follow with a progress bar) the progress of its snapshot."""

from __future__ import annotations

from typing import Annotated

import typer

from binlog_pipeline.core.cli_common import (
    BootstrapOption,
    ConfigOption,
    PrefixOption,
    SetOption,
    SourceUrlOption,
    build_settings,
    reported_errors,
)
from binlog_pipeline.core.config import Settings

app = typer.Typer()


@app.command("snapshot")
def snapshot_command(
    tables: Annotated[
        list[str] | None,
        typer.Option(
            "--table",
            help="db.table to snapshot while streaming continues (repeat for several). Without it: "
            "show the progress of the producer's snapshot.",
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
    sets: SetOption = None,
    bootstrap_servers: BootstrapOption = None,
    topic_prefix: PrefixOption = None,
    source_url: SourceUrlOption = None,
    follow_progress: Annotated[
        bool, typer.Option("--follow", help="Show a progress bar until the snapshot is complete.")
    ] = False,
) -> None:
    """Incremental snapshot: with --table, ask the running producer (same topic_prefix and
    transactional id) to snapshot those tables while it keeps streaming — e.g. a table just
    added to include_tables. The request is stored in Kafka ({prefix}.snapshot-requests), so a
    producer that is down takes it when it starts. Each table must exist on the source and be
    captured by include/exclude_tables. Without --table: the progress of the producer's
    snapshot as its last committed checkpoint records it (tables, rows, estimate)."""
    from binlog_pipeline.ops.snapshot import describe, request_snapshot, snapshot_progress

    settings = build_settings(
        config, sets, bootstrap_servers=bootstrap_servers, topic_prefix=topic_prefix, source_url=source_url
    )
    with reported_errors(settings):
        requested_at = None
        if tables:
            requested_at = request_snapshot(settings, tables)
            typer.echo(
                f"requested a snapshot of {', '.join(tables)} from {settings.effective_transactional_id()}"
            )
        if not follow_progress:
            if not tables:
                typer.echo(describe(snapshot_progress(settings)))
            return
        follow_with_bar(settings, requested_at)


def follow_with_bar(settings: Settings, requested_at: int | None = None) -> None:
    """A rich progress bar over the committed snapshot progress: rows done of the estimate,
    tables, rows/s and ETA (once the producer has taken the request sent at ``requested_at``)."""
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from binlog_pipeline.ops.snapshot import follow
    from binlog_pipeline.producer.snapshot_progress import SnapshotProgress

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

        final = follow(settings, 1.0, show, requested_at)
    if final is not None and not final.running:
        typer.echo(f"snapshot complete: {final.count_tables()} tables, {final.rows_done():,} rows")
