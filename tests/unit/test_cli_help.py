"""--help of every command of binlog-pipeline (the tools' areas included) and of the two services:
it works, says what the command does and lists every option and argument."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from binlog_pipeline.applier.cli import app as applier
from binlog_pipeline.cli import app as pipeline
from binlog_pipeline.producer.cli import app as producer


# typer's own click command classes (duck-typed: typer may bring its own copy of click)
def commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, command in getattr(group, "commands", {}).items():
        found += commands(command, (*path, name))
    return found


def shown(param: Any) -> str:
    """How --help names a parameter: an option by its first flag, an argument by its name."""
    return str(param.opts[0] if param.param_type_name == "option" else param.name)


ROOT = typer.main.get_command(pipeline)
PATHS = commands(ROOT)


def test_every_area_is_there() -> None:
    """The ops commands, snapshot, config and (binlog-pipeline-tools installed) stack, bench, chaos."""
    top = {path[0] for path in PATHS if path}
    assert {"lag", "replay", "tail", "verify", "snapshot", "config", "stack", "bench", "chaos"} <= top


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "binlog-pipeline")
def test_help_is_complete(path: tuple[str, ...]) -> None:
    """--help exits 0, shows the command's own help text and every parameter it takes."""
    command: Any = ROOT
    for name in path:
        command = command.commands[name]
    result = CliRunner().invoke(pipeline, [*path, "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.replace("│", " ").split())
    assert command.help and " ".join(command.help.split()[:6]) in text
    for param in command.params:
        assert shown(param) in text, (path, shown(param))


@pytest.mark.parametrize("app", [producer, applier], ids=["binlog-producer", "binlog-applier"])
def test_service_help_is_complete(app: typer.Typer) -> None:
    """The services' --help works and lists every option."""
    command = typer.main.get_command(app)
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.replace("│", " ").split())
    assert command.params and all(shown(p) in text for p in command.params)
