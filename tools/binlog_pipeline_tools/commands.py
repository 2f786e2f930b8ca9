"""The tools' areas of the ``binlog-pipeline`` command (entry point ``binlog_pipeline.commands``)."""

from __future__ import annotations

from collections.abc import Callable

import typer


def register(add_area: Callable[[typer.Typer, str | None], None]) -> None:
    from binlog_pipeline_tools.bench.cli import app as bench
    from binlog_pipeline_tools.chaos.cli import app as chaos
    from binlog_pipeline_tools.stack.cli import app as stack

    add_area(stack, "stack")
    add_area(bench, None)
    add_area(chaos, None)
