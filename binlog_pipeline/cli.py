"""``binlog-pipeline``: operations on a running pipeline and the local development stack."""

from __future__ import annotations

import json
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
    build_settings,
    fail,
)
from binlog_pipeline.errors import StackError
from binlog_pipeline.stack import SERVICES, Stack

app = typer.Typer(
    help="Operate binlog-pipeline: the local stack (Kafka + source and target MariaDB) and, "
    "as they land, lag / replay / tail / verify.",
    no_args_is_help=True,
    add_completion=False,
)
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
ServiceArgs = Annotated[
    list[str] | None,
    typer.Argument(help=f"Services ({', '.join(SERVICES)}); default all.", show_default=False),
]


def _print_status(stack: Stack, fmt: str = "table") -> bool:
    rows = stack.status()
    if fmt == "json":
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
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
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
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    max_lag_messages: Annotated[
        int | None, typer.Option(help="Exit 1 when the total lag exceeds this.")
    ] = None,
    max_lag_seconds: Annotated[
        float | None, typer.Option(help="Exit 1 when the oldest unapplied change is older.")
    ] = None,
    watch: Annotated[float | None, typer.Option(help="Refresh every N seconds until ^C.")] = None,
) -> None:
    """Per table-topic partition: committed offset, end offset (high watermark, as Kafka's
    kafka-consumer-groups reports it), lag in messages and in seconds; totals. On transactional
    topics a fully applied partition shows lag 1: the last commit marker."""
    from binlog_pipeline.errors import PipelineError
    from binlog_pipeline.ops.lag import measure, render_table

    settings = build_settings(config, sets, bootstrap_servers=bootstrap_servers, topic_prefix=topic_prefix)
    while True:
        try:
            rows = measure(settings, group or settings.group_id)
        except PipelineError as exc:
            fail(str(exc), code=2)
        if fmt == "json":
            typer.echo(
                json.dumps(
                    {
                        "group": group or settings.group_id,
                        "partitions": [r.as_dict() for r in rows],
                        "total_lag": sum(r.lag for r in rows),
                    }
                )
            )
        else:
            typer.echo(render_table(rows))
        if watch is None:
            break
        time.sleep(watch)
    too_many = max_lag_messages is not None and sum(r.lag for r in rows) > max_lag_messages
    too_old = (
        max_lag_seconds is not None and max((r.lag_seconds for r in rows), default=0.0) > max_lag_seconds
    )
    if too_many or too_old:
        raise typer.Exit(1)


@app.command("tail")
def tail_command(
    topic: Annotated[str, typer.Argument(help="A topic, or db.table (the prefix is added).")],
    config: ConfigOption = None,
    sets: SetOption = None,
    bootstrap_servers: BootstrapOption = None,
    topic_prefix: PrefixOption = None,
    from_beginning: Annotated[bool, typer.Option(help="Start at the earliest message.")] = False,
    partition: Annotated[int, typer.Option(help="Partition to read.")] = 0,
    offset: Annotated[int | None, typer.Option(help="Start at this offset.")] = None,
    max_messages: Annotated[int | None, typer.Option(help="Stop after this many messages.")] = None,
    follow: Annotated[bool, typer.Option(help="Keep waiting for new messages.")] = False,
) -> None:
    """Decode the project's Avro topics to JSON lines: key columns, op, before/after, source
    position and Kafka coordinates (DECIMAL as exact strings, bytes as base64)."""
    from binlog_pipeline.ops.tail import tail, to_json
    from schemas.topics import TopicNames

    settings = build_settings(config, sets, bootstrap_servers=bootstrap_servers, topic_prefix=topic_prefix)
    if not topic.startswith(settings.topic_prefix + ".") and topic.count(".") == 1:
        topic = TopicNames(settings.topic_prefix).table(*topic.split("."))
    try:
        for line in tail(settings, topic, partition, offset, from_beginning, max_messages, follow):
            typer.echo(to_json(line))
    except RuntimeError as exc:
        fail(str(exc), code=1)


@app.command("verify")
def verify_command(
    config: ConfigOption = None,
    sets: SetOption = None,
    database: Annotated[str | None, typer.Option(help="Only this source database.")] = None,
    table: Annotated[str | None, typer.Option(help="Only this source table, as db.table.")] = None,
    chunk_rows: Annotated[int, typer.Option(help="Rows per checksum chunk.")] = 1000,
    retries: Annotated[int, typer.Option(help="Re-checks of a differing chunk (changes in flight).")] = 3,
    retry_wait: Annotated[float, typer.Option(help="Seconds between re-checks.")] = 2.0,
) -> None:
    """Compare source and target table by table in primary-key chunks, narrow differing chunks to
    rows, and exit 1 on any missing, extra or changed row. Uses source_url and target_url (and
    routes). A differing chunk is re-checked before it is reported, so changes in flight are not
    differences; for a definitive answer run it when lag is (near) zero."""
    from rich.progress import Progress

    from binlog_pipeline.ops.verify import Side, estimated_rows, routed, tables_to_check, verify_table

    settings = build_settings(config, sets)
    settings.require("source_url", "target_url")
    assert settings.source_url is not None and settings.target_url is not None
    source, target = Side(settings.source_url), Side(settings.target_url)
    routes = dict(settings.routes)
    reports = []
    try:
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
    finally:
        source.close()
        target.close()
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
