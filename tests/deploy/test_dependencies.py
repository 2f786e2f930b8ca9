"""The declared dependency floors are real: every direct dependency has one, and with whatever
versions are installed every module imports, the command's whole tree builds and renders its help,
and the retry policy is built and used. scripts/test.sh runs this file (and tests/unit) once more in
.venv-floor, where every direct dependency is at its floor; the calls below are the ones that a
too-old dependency breaks only at run time (typer on a `Path | None` option, tenacity on a keyword
it does not know yet), not at import."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from typing import Any

import binlog_pipeline_tools
import typer
from typer.testing import CliRunner

import binlog_pipeline
from binlog_pipeline.cli import app
from binlog_pipeline.core.config import load_settings
from binlog_pipeline.core.errors import TransientError
from binlog_pipeline.core.retry import retrying
from tests.source_copy import ROOT


def _modules() -> list[str]:
    names = []
    for package in (binlog_pipeline, binlog_pipeline_tools):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if not module.name.endswith(".__main__"):  # importing one runs the command
                names.append(module.name)
    return names


def test_every_direct_dependency_declares_a_floor() -> None:
    """scripts/floors.py reads the floors from both pyproject files and fails on a dependency
    without one; what it prints is what .venv-floor installs."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "floors.py")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    pins = result.stdout.split()
    names = {pin.split("==")[0] for pin in pins}
    assert {"tenacity", "typer", "confluent-kafka", "pytest", "matplotlib"} <= names, pins
    assert "binlog-pipeline" not in names  # the tools' own pin on the runtime is not a floor
    assert all(pin.count("==") == 1 and "[" not in pin for pin in pins), pins


def test_every_module_imports() -> None:
    names = _modules()
    assert len(names) > 50 and "binlog_pipeline.core.retry" in names, names
    failed = {}
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # every failure, not only the first, in one report
            failed[name] = f"{type(exc).__name__}: {exc}"
    assert not failed, failed


def _command_paths(command: Any, path: list[str]) -> list[list[str]]:
    paths = [path]
    for name, sub in getattr(command, "commands", {}).items():  # a group
        paths += _command_paths(sub, [*path, name])
    return paths


def test_every_command_builds_and_renders_its_help() -> None:
    """typer turns every option's annotation into a click parameter only here, at run time."""
    paths = _command_paths(typer.main.get_command(app), [])
    assert ["config", "check"] in paths and ["stack", "up"] in paths, paths
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output, result.exception)
        assert "Usage" in result.output, (path, result.output)


def test_the_retry_policy_retries_a_transient_error() -> None:
    settings = load_settings(env={}, flags={"retry_initial_backoff_ms": 1, "retry_max_backoff_ms": 2})
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TransientError("not yet")
        return "done"

    assert retrying(settings, flaky) == "done"
    assert len(calls) == 3
