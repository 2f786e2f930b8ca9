"""The ``binlog-pipeline`` command: one sub-app per area (ops commands on a running pipeline,
snapshot, config), plus the development tools' areas (stack, bench, chaos) when the
``binlog-pipeline-tools`` distribution is installed — found through the
``binlog_pipeline.commands`` entry points, so this package never imports the tools."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

import typer

from binlog_pipeline.cli import config, ops, snapshot

COMMAND_PLUGINS = "binlog_pipeline.commands"

app = typer.Typer(
    help="Operate binlog-pipeline: lag, replay, tail, verify, snapshot and config; with "
    "binlog-pipeline-tools installed also the local stack, bench and chaos.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _quiet_kafka_client() -> None:
    """These commands report a broker they cannot reach in one error line (after kafka_timeout_s);
    librdkafka's per-attempt connection errors would only bury it."""
    logging.getLogger("librdkafka").setLevel(logging.CRITICAL)


def _add_area(area: typer.Typer, name: str | None = None) -> None:
    """A sub-app with a name becomes a command group; without one, its commands join the top."""
    if name is None:
        for command in area.registered_commands:
            app.registered_commands.append(command)
    else:
        app.add_typer(area, name=name)


_add_area(ops.app)
_add_area(snapshot.app)
_add_area(config.app, "config")
for plugin in entry_points(group=COMMAND_PLUGINS):
    plugin.load()(_add_area)


def main() -> None:
    app()
