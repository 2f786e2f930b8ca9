"""``binlog-pipeline stack``: the local development stack (Kafka + source and target MariaDB)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Annotated

import typer

from binlog_pipeline.core.cli_common import EXIT_FAILED, FormatOption, OutputFormat, expected_errors
from binlog_pipeline_tools.stack import SERVICES, Stack, StackStatus

app = typer.Typer(
    help="A local Apache Kafka (KRaft) broker plus source and target MariaDB, as plain processes. "
    "State, logs and data live in --state-dir (default .stack/).",
    no_args_is_help=True,
)

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


def render_status(rows: list[StackStatus], state_dir: Path, fmt: OutputFormat = OutputFormat.table) -> str:
    """Each service's port, pid and health, as a table or as JSON."""
    if fmt is OutputFormat.json:
        return json.dumps([row.__dict__ for row in rows], indent=2)
    lines = [f"{'service':8} {'port':>6} {'pid':>8}  health"]
    for row in rows:
        health = "healthy" if row.healthy else ("running, not answering" if row.running else "stopped")
        lines.append(f"{row.service:8} {row.port or '-':>6} {row.pid or '-':>8}  {health}")
    lines.append(f"state: {state_dir}")
    return "\n".join(lines)


@app.command("up")
def stack_up(services: ServiceArgs = None, state_dir: StateDir = Path(".stack")) -> None:
    """Install what is missing (Kafka jars via Maven, MariaDB via apt) and start the services.
    Idempotent: running services are left alone and reported."""
    stack = Stack(state_dir)
    with expected_errors(EXIT_FAILED):
        stack.up(services or SERVICES)
    typer.echo(render_status(stack.status(), stack.state_dir))
    typer.echo('ready: eval "$(binlog-pipeline stack env)" to point every command at it')


@app.command("down")
def stack_down(
    services: ServiceArgs = None,
    state_dir: StateDir = Path(".stack"),
    purge: Annotated[bool, typer.Option(help="Also delete all state (data, logs, passwords).")] = False,
) -> None:
    """Stop services cleanly; with --purge remove the state directory too."""
    with expected_errors(EXIT_FAILED):
        Stack(state_dir).down(services or SERVICES, purge=purge)
    typer.echo("stopped" + (" and purged" if purge else ""))


@app.command("status")
def stack_status(
    state_dir: StateDir = Path(".stack"),
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Show each service's port, pid and health; exit 1 unless all are healthy."""
    stack = Stack(state_dir)
    rows = stack.status()
    typer.echo(render_status(rows, stack.state_dir, fmt))
    if not all(row.healthy for row in rows):
        raise typer.Exit(EXIT_FAILED)


@app.command("env")
def stack_env(state_dir: StateDir = Path(".stack")) -> None:
    """Print `export BINLOG_PIPELINE_...` lines: eval "$(binlog-pipeline stack env)"."""
    with expected_errors(EXIT_FAILED):
        variables = Stack(state_dir).env()
    for key, value in variables.items():
        typer.echo(f"export {key}={shlex.quote(value)}")


@app.command("kill")
def stack_kill(
    service: Annotated[str, typer.Argument(help="kafka, source or target")],
    state_dir: StateDir = Path(".stack"),
) -> None:
    """kill -9 one service (fault injection); `stack up` starts it again."""
    with expected_errors(EXIT_FAILED):
        Stack(state_dir).kill(service)
