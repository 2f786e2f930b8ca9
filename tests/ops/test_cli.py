"""The three commands' --help, the configuration reference and config check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from binlog_pipeline.core.config_docs import reference

ROOT = Path(__file__).resolve().parents[2]


def run(module: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("BINLOG_PIPELINE_")}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=60,
    )


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("producer", "binlog position"),
        ("applier", "only after the target COMMIT"),
        ("binlog_pipeline", "stack"),
    ],
)
def test_help_explains_the_command(module: str, expected: str) -> None:
    """--help on each command says what it does and exits 0."""
    result = run(module, "--help")
    assert result.returncode == 0, result.stderr
    assert expected in " ".join(result.stdout.split())


def test_configuration_reference_is_current() -> None:
    """docs/configuration.md is exactly what the settings model generates."""
    assert (ROOT / "docs" / "configuration.md").read_text() == reference()


def test_config_check_masks_secrets_and_reports_errors() -> None:
    """config check prints effective values with the password masked, and exits 2 on a bad value."""
    ok = run(
        "binlog_pipeline", "config", "check", env={"BINLOG_PIPELINE_SOURCE_URL": "mysql://u:hunter2@db:3306/"}
    )
    assert ok.returncode == 0, ok.stderr
    assert "source_url = mysql://u:***@db:3306/" in ok.stdout and "hunter2" not in ok.stdout
    bad = run("binlog_pipeline", "config", "check", "--set", "txn_max_ms=soon")
    assert bad.returncode == 2
    assert "invalid txn_max_ms (from flag --txn-max-ms)" in bad.stderr


def test_producer_without_source_url_says_how_to_set_it() -> None:
    """Missing required settings exit 2 naming the key, env variable and flag."""
    result = run("producer")
    assert result.returncode == 2
    assert "source_url is required" in result.stderr and "BINLOG_PIPELINE_SOURCE_URL" in result.stderr
