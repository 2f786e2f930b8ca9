"""``binlog-pipeline``: operations on a running pipeline and the local development stack."""

from __future__ import annotations

import contextlib
import datetime
import enum
import json
import logging
import shlex
import time
from pathlib import Path
from typing import Annotated

import typer

from binlog_pipeline.cli_common import (
    BootstrapOption,
    ConfigOption,
    PrefixOption,
    SetOption,
    SourceUrlOption,
    TargetUrlOption,
    build_settings,
    fail,
    reported_errors,
)
from binlog_pipeline.config import Settings
from binlog_pipeline.errors import StackError
from binlog_pipeline.stack import SERVICES, Stack

app = typer.Typer(
    help="Operate binlog-pipeline: the local stack (Kafka + source and target MariaDB) and, "
    "as they land, lag / replay / tail / verify.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _quiet_kafka_client() -> None:
    """These commands report a broker they cannot reach in one error line (after kafka_timeout_s);
    librdkafka's per-attempt connection errors would only bury it."""
    logging.getLogger("librdkafka").setLevel(logging.CRITICAL)


stack_app = typer.Typer(
    help="A local Apache Kafka (KRaft) broker plus source and target MariaDB, as plain processes. "
    "State, logs and data live in --state-dir (default .stack/).",
    no_args_is_help=True,
)
app.add_typer(stack_app, name="stack")
config_app = typer.Typer(
    help="Configuration: the reference of every key, and a check of a config.", no_args_is_help=True
)
app.add_typer(config_app, name="config")

StateDir = Annotated[
    Path,
    typer.Option(
        "--state-dir", envvar="BINLOG_PIPELINE_STACK_DIR", help="Where the stack keeps state and logs."
    ),
]


class OutputFormat(enum.StrEnum):
    table = "table"
    json = "json"


FormatOption = Annotated[OutputFormat, typer.Option("--format", help="Human table or one JSON document.")]
ServiceArgs = Annotated[
    list[str] | None,
    typer.Argument(help=f"Services ({', '.join(SERVICES)}); default all.", show_default=False),
]


def _print_status(stack: Stack, fmt: OutputFormat = OutputFormat.table) -> bool:
    rows = stack.status()
    if fmt is OutputFormat.json:
        typer.echo(json.dumps([row.__dict__ for row in rows], indent=2))
    else:
        typer.echo(f"{'service':8} {'port':>6} {'pid':>8}  health")
        for row in rows:
            health = "healthy" if row.healthy else ("running, not answering" if row.running else "stopped")
            typer.echo(f"{row.service:8} {row.port or '-':>6} {row.pid or '-':>8}  {health}")
        typer.echo(f"state: {stack.state_dir}")
    return all(row.healthy for row in rows)


@stack_app.command("up")
def stack_up(services: ServiceArgs = None, state_dir: StateDir = Path(".stack")) -> None:
    """Install what is missing (Kafka jars via Maven, MariaDB via apt) and start the services.
    Idempotent: running services are left alone and reported."""
    stack = Stack(state_dir)
    try:
        stack.up(services or SERVICES)
    except StackError as exc:
        fail(str(exc), code=1)
    _print_status(stack)
    typer.echo('ready: eval "$(binlog-pipeline stack env)" to point every command at it')


@stack_app.command("down")
def stack_down(
    services: ServiceArgs = None,
    state_dir: StateDir = Path(".stack"),
    purge: Annotated[bool, typer.Option(help="Also delete all state (data, logs, passwords).")] = False,
) -> None:
    """Stop services cleanly; with --purge remove the state directory too."""
    try:
        Stack(state_dir).down(services or SERVICES, purge=purge)
    except StackError as exc:
        fail(str(exc), code=1)
    typer.echo("stopped" + (" and purged" if purge else ""))


@stack_app.command("status")
def stack_status(
    state_dir: StateDir = Path(".stack"),
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Show each service's port, pid and health; exit 1 unless all are healthy."""
    if not _print_status(Stack(state_dir), fmt):
        raise typer.Exit(1)


@stack_app.command("env")
def stack_env(state_dir: StateDir = Path(".stack")) -> None:
    """Print `export BINLOG_PIPELINE_...` lines: eval "$(binlog-pipeline stack env)"."""
    try:
        variables = Stack(state_dir).env()
    except StackError as exc:
        fail(str(exc), code=1)
    for key, value in variables.items():
        typer.echo(f"export {key}={shlex.quote(value)}")


@stack_app.command("kill")
def stack_kill(
    service: Annotated[str, typer.Argument(help="kafka, source or target")],
    state_dir: StateDir = Path(".stack"),
) -> None:
    """kill -9 one service (fault injection); `stack up` starts it again."""
    try:
        Stack(state_dir).kill(service)
    except StackError as exc:
        fail(str(exc), code=1)


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
            help="Topics, or db.table (the prefix is added); omit with --all-topics.", show_default=False
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

    from binlog_pipeline.errors import PipelineError
    from binlog_pipeline.kafka_admin import table_topics
    from binlog_pipeline.ops.replay import ReplayPoint, execute, plan, render_table
    from schemas.topics import TopicNames

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
    names = TopicNames(settings.topic_prefix)
    group = group or settings.group_id
    with reported_errors(settings):
        selected = list(table_topics(settings)) if all_topics else [names.resolve(t) for t in topics or []]
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
    topic: Annotated[str, typer.Argument(help="A topic, or db.table (the prefix is added).")],
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
    from schemas.topics import TopicNames

    settings = build_settings(config, sets, bootstrap_servers=bootstrap_servers, topic_prefix=topic_prefix)
    topic = TopicNames(settings.topic_prefix).resolve(topic)
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
    from producer.snapshot_progress import SnapshotProgress

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


class CompareWith(enum.StrEnum):
    debezium = "debezium"


@app.command("bench")
def bench_command(
    config: ConfigOption = None,
    sets: SetOption = None,
    quick: Annotated[bool, typer.Option(help="A smoke run: small workloads, under 3 minutes.")] = False,
    out_dir: Annotated[Path, typer.Option(help="Where results go (JSON, markdown, PNG, logs).")] = Path(
        "bench/results"
    ),
    name: Annotated[str | None, typer.Option(help="File name stem (default: date and mode).")] = None,
    scale: Annotated[
        float, typer.Option(help="Multiply every workload size (e.g. 0.1 for a test run).", min=0.001)
    ] = 1.0,
    source_admin_url: Annotated[
        str | None,
        typer.Option(
            envvar="BINLOG_PIPELINE_STACK_SOURCE_ADMIN_URL",
            help="A source user that may create databases and run sysbench (stack env sets it).",
            show_default=False,
        ),
    ] = None,
    target_admin_url: Annotated[
        str | None,
        typer.Option(
            envvar="BINLOG_PIPELINE_STACK_TARGET_ADMIN_URL",
            help="A target user that may create databases (stack env sets it).",
            show_default=False,
        ),
    ] = None,
    compare: Annotated[
        CompareWith | None,
        typer.Option(
            help="Also run the same workloads through another pipeline on the same stack: 'debezium' "
            "(Kafka Connect standalone + Debezium MariaDB source + JDBC sink, jars from Maven Central).",
            show_default=False,
        ),
    ] = None,
    compare_only: Annotated[
        bool, typer.Option(help="With --compare: skip our own ceiling phases, run only the comparison.")
    ] = False,
) -> None:
    """Measure the producer and the applier against the raw ceilings (bare python-mysql-replication
    decode, bare batched pymysql upserts) over the same workloads in one run: bulk rows in large
    transactions and one huge transaction, a wide table of every type, sysbench oltp_write_only at
    full speed, and end-to-end latency at a fixed rate. Writes the results JSON, a markdown table
    and a PNG plot. Drops and recreates the databases `bench` and `sbtest` on both servers: run
    it on the local stack (`binlog-pipeline stack up`), not on servers you care about.

    --compare debezium then replicates the bulk load, sysbench at full speed and at a fixed rate and
    the all-types table with our pipeline and with Debezium, one at a time, from database `cmp` into
    `cmp_ours` and `cmp_debezium`, and reports rows/s, the ratio, latency, peak RSS and which
    columns each target got wrong. Without Maven Central it is skipped with a message."""
    from dataclasses import asdict

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from binlog_pipeline.bench.run import FULL, QUICK, Bench, machine, save
    from binlog_pipeline.dburl import DatabaseUrl

    settings = build_settings(config, sets)
    with reported_errors(settings):
        settings.require("source_url", "target_url")
    if not source_admin_url or not target_admin_url:
        fail(
            'needs --source-admin-url and --target-admin-url (eval "$(binlog-pipeline stack env)" sets them)'
        )
    assert source_admin_url and target_admin_url
    if compare_only and compare is None:
        fail("--compare-only needs --compare debezium")
    connect_lib, skipped = None, None
    if compare is CompareWith.debezium:
        from binlog_pipeline.bench.connect import ensure_jars
        from binlog_pipeline.errors import StackError
        from binlog_pipeline.stack.maven import MavenUnreachable

        try:
            connect_lib = ensure_jars()
        except MavenUnreachable as exc:
            skipped = f"Debezium comparison skipped: {exc}"
            typer.echo(skipped, err=True)
            if compare_only:
                return
        except StackError as exc:  # a bad pom, a missing artifact, no Java: not "offline"
            fail(str(exc), code=1)
    sizes = (QUICK if quick else FULL).scaled(scale)
    stem = name or time.strftime("%Y-%m-%d") + ("-quick" if quick else "-full")
    logs = out_dir / f"{stem}-logs"
    logs.mkdir(parents=True, exist_ok=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with reported_errors(settings, code=1), Progress(*columns) as progress:
        bench = Bench(
            settings,
            DatabaseUrl.parse(source_admin_url),
            DatabaseUrl.parse(target_admin_url),
            sizes,
            logs,
            progress,
        )
        results = (
            {"machine": machine(bench.source_admin), "sizes": asdict(sizes)} if compare_only else bench.run()
        )
        if connect_lib is not None:
            from binlog_pipeline.bench.compare import Comparison

            results["debezium"] = Comparison(bench, connect_lib).run()
        elif skipped:
            results["debezium"] = {"skipped": skipped}
    paths = save(results, bench.timeline, out_dir, stem)
    typer.echo(paths[1].read_text())
    typer.echo("wrote " + ", ".join(str(p) for p in paths))
    if not all(results.get("equal", {}).values()):
        fail("source and target differ after the run: " + json.dumps(results["equal"]), code=1)
    ours_equal = results.get("debezium", {}).get("equal", {}).get("ours", {})
    if not all(ours_equal.values()):
        fail("our target differs from the source after the comparison: " + json.dumps(ours_equal), code=1)


@app.command("chaos")
def chaos_command(
    config: ConfigOption = None,
    sets: SetOption = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the fault schedule and workload (default: random, printed).")
    ] = None,
    faults: Annotated[int, typer.Option(help="How many faults to inject.", min=1)] = 20,
    kinds: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated fault kinds (default: all; see --list-kinds).", show_default=False
        ),
    ] = None,
    list_kinds: Annotated[bool, typer.Option("--list-kinds", help="Print the fault kinds and exit.")] = False,
    duration: Annotated[
        float | None,
        typer.Option(help="Stop injecting after this many seconds, even short of --faults.", min=1),
    ] = None,
    max_hold: Annotated[
        float, typer.Option(help="Longest a fault is held before it is healed (s).", min=0.5)
    ] = 6.0,
    recovery_timeout: Annotated[
        float, typer.Option(help="A fault not recovered from within this many seconds fails the run.", min=1)
    ] = 180.0,
    sysbench_tps: Annotated[
        int, typer.Option(help="sysbench oltp_write_only rate during the run.", min=1)
    ] = 40,
    mixed_tps: Annotated[float, typer.Option(help="Mixed-workload transactions per second.", min=0.1)] = 20.0,
    appliers: Annotated[int, typer.Option(help="Applier processes in the consumer group.", min=1)] = 3,
    out_dir: Annotated[Path, typer.Option(help="Where the results JSON and the process logs go.")] = Path(
        "bench/results"
    ),
    name: Annotated[str | None, typer.Option(help="File name stem (default: date, seed, faults).")] = None,
    state_dir: StateDir = Path(".stack"),
) -> None:
    """Run the producer and a group of appliers on the local stack under load (sysbench
    oltp_write_only plus a mixed workload with PK changes, keyless and composite-key tables, large
    transactions, DDL and a pt-online-schema-change cut-over) while injecting a seeded random
    schedule of real faults: kill -9 / SIGTERM of the producer or an applier, SIGSTOP of an applier
    past max.poll.interval.ms, an extra applier joining, broker stop and kill -9, target stop, KILL
    CONNECTION, read_only, KILL of the binlog dump, and TCP proxies that cut or stall the target,
    source and broker connections. Then drain and prove
    nothing was lost, doubled or skipped: CHECKSUM TABLE and row counts equal, `verify` clean, no
    dead letters, committed offsets at the end of every topic and equal to the target checkpoint.
    Exits 1 on any difference or unrecovered fault, printing the seed to reproduce it. Drops and
    recreates the databases `chaos` and `chaos_sb` on both servers: local stack only."""
    import random

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from binlog_pipeline.chaos.faults import KINDS
    from binlog_pipeline.chaos.report import render
    from binlog_pipeline.chaos.run import ChaosOptions, ChaosRun, save

    if list_kinds:
        for kind in KINDS.values():
            typer.echo(f"{kind.name:<26} {kind.what}")
        return
    chosen = [k.strip() for k in kinds.split(",") if k.strip()] if kinds else sorted(KINDS)
    unknown = [k for k in chosen if k not in KINDS]
    if unknown:
        fail(f"unknown fault kind(s) {', '.join(unknown)}; see --list-kinds")
    seed = seed if seed is not None else random.SystemRandom().randrange(1, 1_000_000)
    stack = Stack(state_dir)
    try:
        env = stack.env()
    except StackError as exc:
        fail(str(exc))
    settings = build_settings(
        config,
        [
            f"source_url={env['BINLOG_PIPELINE_SOURCE_URL']}",
            f"target_url={env['BINLOG_PIPELINE_TARGET_URL']}",
            f"bootstrap_servers={env['BINLOG_PIPELINE_BOOTSTRAP_SERVERS']}",
            *(sets or []),
        ],
    )
    options = ChaosOptions(
        seed=seed,
        faults=faults,
        kinds=chosen,
        duration_s=duration,
        recovery_timeout_s=recovery_timeout,
        sysbench_tps=sysbench_tps,
        mixed_tps=mixed_tps,
        max_hold_s=max_hold,
        appliers=appliers,
    )
    stem = name or f"{time.strftime('%Y-%m-%d')}-chaos-seed{seed}-{faults}faults"
    typer.echo(
        f"chaos: seed {seed}, {faults} faults of {len(chosen)} kinds, {appliers} applier(s); "
        f"logs in {out_dir / (stem + '-logs')}"
    )
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with reported_errors(settings, code=1), Progress(*columns) as progress:
        result = ChaosRun(stack, settings, options, out_dir / f"{stem}-logs", progress).run()
    path = save(result, out_dir, stem)
    typer.echo(render(result))
    typer.echo(f"wrote {path}")
    if not result.ok:
        fail(f"chaos run FAILED (seed {seed}); reproduce with: {result.reproduce()}", code=1)


@config_app.command("reference")
def config_reference() -> None:
    """Print the configuration reference (every key, env variable, default, meaning) as Markdown."""
    from binlog_pipeline.config_docs import reference

    typer.echo(reference(), nl=False)


@config_app.command("check")
def config_check(config: ConfigOption = None, sets: SetOption = None) -> None:
    """Load the configuration (file, BINLOG_PIPELINE_* env, --set) and print the effective values,
    secrets masked; exit 2 with the key, its origin and what is expected when invalid."""
    settings = build_settings(config, sets)
    for key in type(settings).model_fields:
        typer.echo(f"{key} = {getattr(settings, key)}")  # str() of a URL masks its password


def main() -> None:
    app()
