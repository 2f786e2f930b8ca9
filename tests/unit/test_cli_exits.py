"""The one mapping of our errors to a command's message and exit code, and the commands that
end through it — no services needed."""

from __future__ import annotations

import concurrent.futures
import os
import sys
from pathlib import Path

import pymysql
import pytest
import typer
from binlog_pipeline_tools.bench.processes import PipelineProcess, ProcessFailed
from confluent_kafka import KafkaError, KafkaException
from typer.testing import CliRunner

from binlog_pipeline.cli import app
from binlog_pipeline.core.cli_common import (
    EXIT_FAILED,
    EXIT_USAGE,
    EXITS,
    SERVICE_EXITS,
    SETTINGS_EXITS,
    ExitRules,
    exit_for,
    expected_errors,
    fail,
    reported_errors,
)
from binlog_pipeline.core.config import load_settings
from binlog_pipeline.core.errors import (
    ConfigError,
    PermanentError,
    PipelineError,
    StackError,
    ToolError,
    TransientError,
    UsageError,
)
from binlog_pipeline.producer.cli import EXIT_FENCED, PRODUCER_EXITS
from binlog_pipeline.producer.publisher import ProducerFenced
from binlog_pipeline.producer.source_check import SourceMisconfigured


@pytest.mark.parametrize(
    ("error", "code", "rules", "expected"),
    [
        # operations commands: the message as it is; the step's code unless the class has its own
        (PermanentError("no such topic"), EXIT_FAILED, EXITS, ("no such topic", EXIT_FAILED)),
        (PermanentError("no such topic"), EXIT_USAGE, EXITS, ("no such topic", EXIT_USAGE)),
        (ConfigError("source_url is required"), EXIT_FAILED, EXITS, ("source_url is required", EXIT_USAGE)),
        (UsageError("choose one"), EXIT_FAILED, EXITS, ("choose one", EXIT_USAGE)),
        (StackError("run stack up"), EXIT_FAILED, EXITS, ("run stack up", EXIT_FAILED)),
        (StackError("run stack up"), EXIT_USAGE, EXITS, ("run stack up", EXIT_USAGE)),
        (ToolError("sysbench failed"), EXIT_FAILED, EXITS, ("sysbench failed", EXIT_FAILED)),
        (ProcessFailed("applier did not start"), EXIT_FAILED, EXITS, ("applier did not start", EXIT_FAILED)),
        # loading settings names the kind of error
        (ConfigError("bad"), EXIT_USAGE, SETTINGS_EXITS, ("configuration error: bad", EXIT_USAGE)),
        # the services: any other error of ours stopped them
        (ConfigError("bad"), EXIT_FAILED, SERVICE_EXITS, ("configuration error: bad", EXIT_USAGE)),
        (TransientError("deadline"), EXIT_FAILED, SERVICE_EXITS, ("stopped: deadline", EXIT_FAILED)),
        (PipelineError("odd"), EXIT_FAILED, SERVICE_EXITS, ("stopped: odd", EXIT_FAILED)),
        (ProducerFenced("fenced"), EXIT_FAILED, PRODUCER_EXITS, ("fenced", EXIT_FENCED)),
        (
            SourceMisconfigured("binlog_format"),
            EXIT_FAILED,
            PRODUCER_EXITS,
            ("source not ready for CDC: binlog_format", EXIT_FAILED),
        ),
        (PermanentError("bad row"), EXIT_FAILED, PRODUCER_EXITS, ("stopped: bad row", EXIT_FAILED)),
    ],
)
def test_exit_for(error: PipelineError, code: int, rules: ExitRules, expected: tuple[str, int]) -> None:
    """The most specific rule for the error's class decides prefix and code; without one, the
    message as it is and the code of the step that raised it."""
    assert exit_for(error, code, rules) == expected


def test_exit_codes_are_the_documented_ones() -> None:
    """1 for a failure found or hit, 2 for usage and configuration (as click's usage errors), 3
    for a fenced producer (README)."""
    assert (EXIT_FAILED, EXIT_USAGE, EXIT_FENCED) == (1, 2, 3)


def test_fail_prints_one_line_and_exits(capsys: pytest.CaptureFixture[str]) -> None:
    """fail() never returns: one ``error:`` line on stderr, then typer.Exit with the code."""
    with pytest.raises(typer.Exit) as raised:
        fail("nothing to do", EXIT_FAILED)
    assert raised.value.exit_code == EXIT_FAILED
    assert capsys.readouterr().err == "error: nothing to do\n"


def test_expected_errors_end_ours_and_leave_bugs_alone(capsys: pytest.CaptureFixture[str]) -> None:
    """Our errors end the command through exit_for; anything else keeps its traceback."""
    with pytest.raises(typer.Exit) as raised, expected_errors(EXIT_FAILED, SERVICE_EXITS):
        raise ConfigError("target_url is required")
    assert raised.value.exit_code == EXIT_USAGE
    assert capsys.readouterr().err == "error: configuration error: target_url is required\n"
    with pytest.raises(ZeroDivisionError), expected_errors(EXIT_FAILED):
        _ = 1 / 0


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (KafkaException(KafkaError(KafkaError._TRANSPORT, "Connection refused")), "Kafka at 127.0.0.1:1: "),
        (pymysql.err.OperationalError(2003, "Can't connect"), "database error: (2003"),
        (concurrent.futures.TimeoutError(), "Kafka at 127.0.0.1:1 did not answer within 3s"),
        (PermanentError("no such topic on 127.0.0.1:1: x"), "no such topic on 127.0.0.1:1: x"),
    ],
)
def test_reported_errors_name_what_failed(
    error: Exception, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An operations command's client errors name the brokers or the database, with its code."""
    settings = load_settings(env={}, flags={"bootstrap_servers": "127.0.0.1:1", "kafka_timeout_s": 3})
    for code in (EXIT_FAILED, EXIT_USAGE):
        with pytest.raises(typer.Exit) as raised, reported_errors(settings, code):
            raise error
        assert raised.value.exit_code == code
        assert capsys.readouterr().err.startswith("error: " + said)


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (["replay", "x.y", "--to-earliest", "--to-offset", "3"], 2, "choose exactly one of"),
        (["replay", "--to-earliest"], 2, "name the topics to replay, or pass --all-topics"),
        (["replay", "x.y", "--by-duration", "an hour"], 2, "not an ISO 8601 duration: 'an hour'"),
        (["replay", "x.y", "--to-datetime", "2026-01-01T00:00:00"], 2, "needs a UTC offset"),
        (["config", "check", "--set", "txn_max_ms=soon"], 2, "configuration error: invalid txn_max_ms"),
        (["config", "check", "--set", "nope=1"], 2, "--set: unknown setting 'nope'"),
        (["chaos", "--kinds", "meteor"], 2, "unknown fault kind(s) meteor; see --list-kinds"),
        (["stack", "env"], 1, "stack up"),  # a stack command: a StackError is its failure
        (["stack", "kill", "nothing"], 1, "nothing"),
        (["chaos"], 2, "stack up"),  # chaos without a stack: nothing was done
    ],
)
def test_commands_end_through_the_mapping(
    args: list[str], code: int, said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commands that fail before reaching any service exit with the documented code and one line."""
    for key in [k for k in os.environ if k.startswith("BINLOG_PIPELINE_")]:
        monkeypatch.delenv(key)
    if args[0] in ("stack", "chaos"):
        args = [*args, "--state-dir", str(tmp_path / "no-stack")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == code, result.output
    assert said in " ".join(result.output.split()) and "Traceback" not in result.output


def test_a_pipeline_process_that_cannot_start_is_a_tool_error(tmp_path: Path) -> None:
    """bench/chaos: a child that exits before serving /readyz raises ProcessFailed (ours, exit 1
    through the mapping), no RuntimeError traceback."""
    process = PipelineProcess("binlog_pipeline_no_such_module", {"PATH": "/usr/bin"}, {}, tmp_path / "log")
    with pytest.raises(ProcessFailed, match="exited during start-up") as raised:
        process.start(timeout_s=30)
    assert isinstance(raised.value, ToolError) and sys.executable in process.args
