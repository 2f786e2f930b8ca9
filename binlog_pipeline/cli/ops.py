"""Commands on a running pipeline: lag, replay, tail, verify. Each parses its options, calls
the matching module of :mod:`binlog_pipeline.ops`, and renders the result."""

from __future__ import annotations

import contextlib
import datetime
import json
import time
from typing import Annotated

import typer

from binlog_pipeline.core.cli_common import (
    BootstrapOption,
    ConfigOption,
    FormatOption,
    OutputFormat,
    PrefixOption,
    SetOption,
    TargetUrlOption,
    build_settings,
    fail,
    reported_errors,
)

app = typer.Typer()


@app.command("lag")
def lag(
    config: ConfigOption = None,
    sets: SetOption = None,
    bootstrap_servers: BootstrapOption = None,
    topic_prefix: PrefixOption = None,
    group: Annotated[str | None, typer.Option("--group", help="Consumer group (default: group_id).")] = None,
    fmt: FormatOption = OutputFormat.table,
    max_lag_messages: Annotated[
        int | None, typer.Option(help="Exit 1 when the total lag exceeds this.")
    ] = None,
    max_lag_seconds: Annotated[
        float | None, typer.Option(help="Exit 1 when the oldest unapplied change is older.")
    ] = None,
    watch: Annotated[float | None, typer.Option(help="Refresh every N seconds until ^C.", min=0.1)] = None,
) -> None:
    """Per table-topic partition: committed offset, end offset (high watermark, as Kafka's
    kafka-consumer-groups reports it), lag in messages and in seconds; totals. On transactional
    topics a fully applied partition shows lag 1: the last commit marker. Then the producer side:
    each producer's checkpoint against the source's binlog position (bytes and seconds behind;
    needs source_url). Thresholds apply to the consumer side."""
    from binlog_pipeline.ops.lag import measure, render_table
    from binlog_pipeline.ops.producer_lag import measure_producers, render_producers

    settings = build_settings(config, sets, bootstrap_servers=bootstrap_servers, topic_prefix=topic_prefix)
    while True:
        with reported_errors(settings):
            rows = measure(settings, group or settings.group_id)
            producers = measure_producers(settings)
        if fmt is OutputFormat.json:
            typer.echo(
                json.dumps(
                    {
                        "group": group or settings.group_id,
                        "partitions": [r.as_dict() for r in rows],
                        "total_lag": sum(r.lag for r in rows),
                        "producers": [p.as_dict() for p in producers],
                    }
                )
            )
        else:
            typer.echo(render_table(rows))
            typer.echo(render_producers(producers))
        if watch is None:
            break
        time.sleep(watch)
    too_many = max_lag_messages is not None and sum(r.lag for r in rows) > max_lag_messages
    too_old = (
        max_lag_seconds is not None and max((r.lag_seconds for r in rows), default=0.0) > max_lag_seconds
    )
    if too_many or too_old:
        raise typer.Exit(1)


@app.command("replay")
def replay_command(
    topics: Annotated[
        list[str] | None,
        typer.Argument(
            help="Topics of any prefix, or db.table (--topic-prefix is added); omit with --all-topics.", show_default=False
        ),
    ] = None,
    config: ConfigOption = None,
    sets: SetOption = None,
    bootstrap_servers: BootstrapOption = None,
    topic_prefix: PrefixOption = None,
    target_url: TargetUrlOption = None,
    group: Annotated[str | None, typer.Option("--group", help="Consumer group (default: group_id).")] = None,
    all_topics: Annotated[
        bool, typer.Option("--all-topics", help="Every table topic of the prefix.")
    ] = False,
    to_earliest: Annotated[
        bool, typer.Option("--to-earliest", help="From the oldest retained message.")
    ] = False,
    to_offset: Annotated[int | None, typer.Option("--to-offset", help="From this offset.", min=0)] = None,
    to_datetime: Annotated[
        str | None, typer.Option("--to-datetime", help="From the first message at or after ISO 8601 time.")
    ] = None,
    by_duration: Annotated[
        str | None, typer.Option("--by-duration", help="From this ISO 8601 duration ago, e.g. PT1H.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")] = False,
    allow_keyless: Annotated[
        bool,
        typer.Option(help="Also replay tables without a primary key (their rows get inserted again)."),
    ] = False,
    accept_retention_gap: Annotated[
        bool,
        typer.Option(
            help="Where retention deleted messages the group never applied (the applier refuses to "
            "start there), move the group up to the log start: those changes are given up. "
            "Re-sync the tables first (snapshot --table)."
        ),
    ] = False,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Make the applier re-apply table topics from an earlier point: lowers the group's committed
    offsets AND the target checkpoint rows (the applier resumes at the target row when there is one). Only
    moves backwards (except over a retention gap, with --accept-retention-gap); refuses while the
    group has active members. Stop the applier first, run this, start it again."""
    from pydantic import TypeAdapter, ValidationError

    from binlog_pipeline.core.errors import PipelineError
    from binlog_pipeline.core.kafka_admin import table_topics
    from binlog_pipeline.ops.replay import ReplayPoint, execute, plan, render_table

    chosen = [to_earliest, to_offset is not None, to_datetime is not None, by_duration is not None]
    if sum(chosen) != 1:
        fail("choose exactly one of --to-earliest, --to-offset, --to-datetime, --by-duration")
    if bool(topics) == all_topics:
        fail("name the topics to replay, or pass --all-topics")
    try:
        if to_datetime is not None:
            point = ReplayPoint.at(TypeAdapter(datetime.datetime).validate_python(to_datetime))
        elif by_duration is not None:
            point = ReplayPoint.by_duration(TypeAdapter(datetime.timedelta).validate_python(by_duration))
        else:
            point = ReplayPoint(earliest=to_earliest, offset=to_offset)
    except ValidationError as exc:
        fail(f"not an ISO 8601 {'time' if to_datetime else 'duration'}: {exc.errors()[0]['input']!r}")
    except PipelineError as exc:
        fail(str(exc))
    settings = build_settings(
        config, sets, bootstrap_servers=bootstrap_servers, topic_prefix=topic_prefix, target_url=target_url
    )
    group = group or settings.group_id
    with reported_errors(settings):
        selected = list(table_topics(settings)) if all_topics else list(topics or [])
        steps = plan(settings, group, selected, point, accept_retention_gap)
    if fmt is OutputFormat.json:
        typer.echo(
            json.dumps({"group": group, "dry_run": dry_run, "partitions": [s.as_dict() for s in steps]})
        )
    else:
        typer.echo(render_table(steps))
    keyless = sorted({s.keyless_table for s in steps if s.keyless_table})
    if keyless and not allow_keyless:
        fail(
            f"{', '.join(keyless)} {'has' if len(keyless) == 1 else 'have'} no primary key: re-applying "
            "inserts those rows again. Truncate them on the target first and pass --allow-keyless, "
            "or leave their topics out",
            code=1,
        )
    if dry_run:
        typer.echo("dry run: nothing changed")
        return
    with reported_errors(settings, code=1):
        execute(settings, group, steps)
    moved = sum(1 for s in steps if s.new < s.current)
    gaps = sum(1 for s in steps if s.gap_accepted)
    typer.echo(
        f"replay set: {moved} partition(s) moved back"
        + (f", {gaps} moved up to the log start over a retention gap" if gaps else "")
        + "; start the applier to re-apply"
    )


@app.command("tail")
def tail_command(
    topic: Annotated[str, typer.Argument(help="A topic of any prefix, or db.table (--topic-prefix is added).")],
    config: ConfigOption = None,
    sets: SetOption = None,
    bootstrap_servers: BootstrapOption = None,
    topic_prefix: PrefixOption = None,
    from_beginning: Annotated[bool, typer.Option(help="Start at the earliest message.")] = False,
    partition: Annotated[int, typer.Option(help="Partition to read.", min=0)] = 0,
    offset: Annotated[int | None, typer.Option(help="Start at this offset.", min=0)] = None,
    max_messages: Annotated[int | None, typer.Option(help="Stop after this many messages.", min=1)] = None,
    follow: Annotated[bool, typer.Option(help="Keep waiting for new messages.")] = False,
) -> None:
    """Decode the project's Avro topics to JSON lines: key columns, op, before/after, source
    position and Kafka coordinates (DECIMAL as exact strings, bytes as base64)."""
    from binlog_pipeline.ops.tail import tail, to_json

    settings = build_settings(config, sets, bootstrap_servers=bootstrap_servers, topic_prefix=topic_prefix)
    with reported_errors(settings, code=1):
        for line in tail(settings, topic, partition, offset, from_beginning, max_messages, follow):
            typer.echo(to_json(line))


@app.command("verify")
def verify_command(
    config: ConfigOption = None,
    sets: SetOption = None,
    database: Annotated[str | None, typer.Option(help="Only this source database.")] = None,
    table: Annotated[str | None, typer.Option(help="Only this source table, as db.table.")] = None,
    chunk_rows: Annotated[int, typer.Option(help="Rows per checksum chunk.", min=1)] = 1000,
    retries: Annotated[
        int, typer.Option(help="Re-checks of a differing chunk (changes in flight).", min=0)
    ] = 3,
    retry_wait: Annotated[float, typer.Option(help="Seconds between re-checks.", min=0)] = 2.0,
) -> None:
    """Compare source and target table by table in primary-key chunks, narrow differing chunks to
    rows, and exit 1 on any missing, extra or changed row. Uses source_url and target_url (and
    routes). A differing chunk is re-checked before it is reported, so changes in flight are not
    differences; for a definitive answer run it when lag is (near) zero."""
    from rich.progress import Progress

    from binlog_pipeline.ops.verify import Side, estimated_rows, routed, tables_to_check, verify_table

    settings = build_settings(config, sets)
    routes = dict(settings.routes)
    reports = []
    with reported_errors(settings):
        settings.require("source_url", "target_url")
        assert settings.source_url is not None and settings.target_url is not None
        source = Side("source", settings.source_url)
        target = Side("target", settings.target_url)
    with reported_errors(settings), contextlib.closing(source), contextlib.closing(target):
        tables = tables_to_check(source, database, table)
        with Progress(transient=True) as progress:
            task = progress.add_task(
                "verifying", total=sum(estimated_rows(source, t) for t in tables) or None
            )
            for src in tables:
                progress.update(task, description=f"verifying {'.'.join(src)}")
                dst = routed(routes, src)
                reports.append(
                    verify_table(
                        source,
                        target,
                        src,
                        dst,
                        chunk_rows,
                        retries,
                        retry_wait,
                        lambda n: progress.advance(task, n),
                    )
                )
    for report in reports:
        status = "equal" if report.equal else "DIFFERENT"
        typer.echo(
            f"{report.source} -> {report.target}: {status} ({report.rows} rows, {report.chunks} chunks)"
        )
        for kind in ("missing", "extra", "changed"):
            for key in getattr(report, kind):
                typer.echo(f"  {kind} on target: {key}")
        if report.note:
            typer.echo(f"  {report.note}")
    if not all(r.equal for r in reports):
        raise typer.Exit(1)

