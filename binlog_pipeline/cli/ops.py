"""Commands on a running pipeline: lag, replay, tail, verify. Each parses its options, calls
the matching module of :mod:`binlog_pipeline.ops` (decisions in :mod:`.policy`), and hands the
result to :mod:`.render`; our errors end it through one mapping (``reported_errors``). Imports
inside the commands keep ``--help`` fast."""

from __future__ import annotations

import contextlib
import time
from typing import Annotated

import typer

from binlog_pipeline.core.cli_common import (
    EXIT_FAILED,
    EXIT_USAGE,
    BootstrapOption,
    ConfigOption,
    FormatOption,
    OutputFormat,
    PrefixOption,
    SetOption,
    TargetUrlOption,
    build_settings,
    expected_errors,
    reported_errors,
)

app = typer.Typer()
GroupOverride = Annotated[str | None, typer.Option("--group", help="Consumer group (default: group_id).")]


@app.command("lag")
def lag(
    config: ConfigOption = None,
    sets: SetOption = None,
    bootstrap_servers: BootstrapOption = None,
    topic_prefix: PrefixOption = None,
    group: GroupOverride = None,
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
    from binlog_pipeline.cli.policy import lag_exceeded
    from binlog_pipeline.cli.render import lag_report
    from binlog_pipeline.ops.lag import measure
    from binlog_pipeline.ops.producer_lag import measure_producers

    settings = build_settings(config, sets, bootstrap_servers=bootstrap_servers, topic_prefix=topic_prefix)
    group = group or settings.group_id
    while True:
        with reported_errors(settings):
            rows = measure(settings, group)
            producers = measure_producers(settings)
        typer.echo(lag_report(group, rows, producers, fmt))
        if watch is None:
            break
        time.sleep(watch)
    if lag_exceeded(rows, max_lag_messages, max_lag_seconds):
        raise typer.Exit(EXIT_FAILED)


@app.command("replay")
def replay_command(
    topics: Annotated[
        list[str] | None,
        typer.Argument(
            help="Topics of any prefix, or db.table (--topic-prefix is added); omit with --all-topics.",
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
    sets: SetOption = None,
    bootstrap_servers: BootstrapOption = None,
    topic_prefix: PrefixOption = None,
    target_url: TargetUrlOption = None,
    group: GroupOverride = None,
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
    from binlog_pipeline.cli.policy import refuse_keyless, replay_point
    from binlog_pipeline.cli.render import replay_done, replay_plan
    from binlog_pipeline.core.kafka_admin import table_topics
    from binlog_pipeline.ops.replay import execute, plan

    with expected_errors(EXIT_USAGE):
        point = replay_point(topics, all_topics, to_earliest, to_offset, to_datetime, by_duration)
    settings = build_settings(
        config, sets, bootstrap_servers=bootstrap_servers, topic_prefix=topic_prefix, target_url=target_url
    )
    group = group or settings.group_id
    with reported_errors(settings):  # planning changes nothing: a failure here is exit 2
        selected = list(table_topics(settings)) if all_topics else list(topics or [])
        steps = plan(settings, group, selected, point, accept_retention_gap)
    typer.echo(replay_plan(group, dry_run, steps, fmt))
    with reported_errors(settings, code=EXIT_FAILED):
        refuse_keyless(steps, allow_keyless)
        if dry_run:
            typer.echo("dry run: nothing changed")
            return
        execute(settings, group, steps)
    typer.echo(replay_done(steps))


@app.command("tail")
def tail_command(
    topic: Annotated[
        str, typer.Argument(help="A topic of any prefix, or db.table (--topic-prefix is added).")
    ],
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
    with reported_errors(settings, code=EXIT_FAILED):
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
    from binlog_pipeline.cli.policy import all_equal
    from binlog_pipeline.cli.progress import verify_tables
    from binlog_pipeline.cli.render import verify_report
    from binlog_pipeline.ops.verify import Side, tables_to_check

    settings = build_settings(config, sets)
    with reported_errors(settings):
        settings.require("source_url", "target_url")
        assert settings.source_url is not None and settings.target_url is not None
        source = Side("source", settings.source_url)
        target = Side("target", settings.target_url)
    with reported_errors(settings), contextlib.closing(source), contextlib.closing(target):
        tables = tables_to_check(source, database, table)
        reports = verify_tables(
            source, target, tables, dict(settings.routes), chunk_rows, retries, retry_wait
        )
    if reports:
        typer.echo(verify_report(reports))
    if not all_equal(reports):
        raise typer.Exit(EXIT_FAILED)
