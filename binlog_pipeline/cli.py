"""``binlog-pipeline``: operations on a running pipeline and the local development stack."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Annotated

import typer

from binlog_pipeline.cli_common import ConfigOption, SetOption, build_settings, fail
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
