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
    from binlog_pipeline.cli.progress import follow_with_bar
    from binlog_pipeline.cli.render import snapshot_followed
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
        done = snapshot_followed(follow_with_bar(settings, requested_at))
    if done is not None:
        typer.echo(done)
