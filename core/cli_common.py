"""Options every command shares: ``--config``, the common settings flags and ``--set KEY=VALUE``
for any other setting, turned into :class:`Settings`; and the one mapping of our errors to a
command's message and exit code (:func:`exit_for`), so every command ends a failure the same way:
one line on stderr, no traceback, the documented code."""

from __future__ import annotations

import concurrent.futures
import enum
import logging
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, NoReturn

import typer

from binlog_pipeline.core import kafka_errors, logs, shutdown
from binlog_pipeline.core.config import FIELDS, Settings, load_settings
from binlog_pipeline.core.errors import ConfigError, PipelineError, UsageError
from binlog_pipeline.core.health import Health

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="TOML config file (env: BINLOG_PIPELINE_CONFIG).", show_default=False
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set", help="Any setting as KEY=VALUE (repeatable); see docs/configuration.md.", show_default=False
    ),
]
BootstrapOption = Annotated[
    str | None, typer.Option("--bootstrap-servers", help="Kafka bootstrap servers.", show_default=False)
]
PrefixOption = Annotated[
    str | None, typer.Option("--topic-prefix", help="Topic prefix (default binlog).", show_default=False)
]
SourceUrlOption = Annotated[
    str | None,
    typer.Option("--source-url", help="mysql://user:password@host:port/ of the source.", show_default=False),
]
TargetUrlOption = Annotated[
    str | None,
    typer.Option("--target-url", help="mysql://user:password@host:port/ of the target.", show_default=False),
]
GroupOption = Annotated[
    str | None, typer.Option("--group-id", help="Applier consumer group.", show_default=False)
]


class OutputFormat(enum.StrEnum):
    table = "table"
    json = "json"


FormatOption = Annotated[OutputFormat, typer.Option("--format", help="Human table or one JSON document.")]
LogFormatOption = Annotated[
    str | None, typer.Option("--log-format", help="text or json.", show_default=False)
]


EXIT_FAILED = 1  # the command ran and failed, or found what it looks for (differences, lag too high)
EXIT_USAGE = 2  # bad flags, arguments or configuration: nothing was done (click's own usage code)


@dataclass(frozen=True)
class Exit:
    """How an expected error of one class ends a command: its message's prefix, and its exit code
    (None: the code the command gave the step that raised it — e.g. replay exits 2 when planning
    fails, nothing changed, and 1 when applying the plan fails)."""

    code: int | None = None
    prefix: str = ""


ExitRules = Mapping[type[PipelineError], Exit]

# Operations commands: the message as it is. A configuration or usage error is 2 wherever it is raised.
EXITS: ExitRules = MappingProxyType({ConfigError: Exit(EXIT_USAGE), UsageError: Exit(EXIT_USAGE)})
# Loading the settings at start-up says what kind of error it is.
SETTINGS_EXITS: ExitRules = MappingProxyType(
    {**EXITS, ConfigError: Exit(EXIT_USAGE, "configuration error: ")}
)
# The services (producer, applier): any other error of ours stopped them (a supervisor restarts).
SERVICE_EXITS: ExitRules = MappingProxyType({**SETTINGS_EXITS, PipelineError: Exit(EXIT_FAILED, "stopped: ")})


def exit_for(exc: PipelineError, code: int, rules: ExitRules = EXITS) -> tuple[str, int]:
    """The one mapping of our errors to a command's message and exit code: the rule in ``rules``
    for the error's most specific class, else the error's message and ``code``."""
    for kind in type(exc).__mro__:
        rule = rules.get(kind)
        if rule is not None:
            return rule.prefix + str(exc), code if rule.code is None else rule.code
    return str(exc), code


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """End the command: ``error: message`` on stderr and exit ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def expected_errors(code: int, rules: ExitRules = EXITS) -> Iterator[None]:
    """Our own errors raised inside end the command through :func:`exit_for` (``code`` for the
    classes ``rules`` gives none); anything else is a bug and keeps its traceback."""
    try:
        yield
    except PipelineError as exc:
        fail(*exit_for(exc, code, rules))


@contextmanager
def reported_errors(settings: Settings, code: int = EXIT_USAGE) -> Iterator[None]:
    """An operations command's expected failures as one clear line on stderr and exit ``code``:
    our own errors through :func:`exit_for`, Kafka errors and timeouts naming the brokers asked,
    database errors with the server's message (no traceback: these are conditions, not bugs)."""
    import pymysql
    from confluent_kafka import KafkaException

    try:
        with expected_errors(code):
            yield
    except KafkaException as exc:
        fail(f"Kafka at {settings.bootstrap_servers}: {kafka_errors.error_of(exc).str()}", code)
    except pymysql.MySQLError as exc:
        fail(f"database error: {exc}", code)
    except concurrent.futures.TimeoutError:
        fail(
            f"Kafka at {settings.bootstrap_servers} did not answer within {settings.kafka_timeout_s:g}s", code
        )


def build_settings(config: Path | None, sets: list[str] | None, **flags: Any) -> Settings:
    """Load settings or exit 2 with the config error (key, origin, expectation)."""
    merged = dict(flags)
    for item in sets or []:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            fail(f"--set expects KEY=VALUE, got {item!r}")
        if key not in FIELDS:
            fail(f"--set: unknown setting {key!r}")
        merged[key] = value
    with expected_errors(EXIT_USAGE, SETTINGS_EXITS):
        settings = load_settings(config, flags=merged)
    logs.configure(settings.log_level, settings.log_format)
    return settings


def start_endpoints(settings: Settings) -> Health:
    """The process's readiness, served with /metrics and /healthz when metrics_port is set."""
    health = Health()
    if settings.metrics_port is not None:
        from binlog_pipeline.core.http_endpoints import serve

        try:
            serve(settings.metrics_host, settings.metrics_port, health)
        except OSError as exc:
            fail(f"cannot serve metrics on {settings.metrics_host}:{settings.metrics_port}: {exc.strerror}")
    return health


def run_until_signalled(name: str, on_signal: str, run: Callable[[threading.Event], None]) -> None:
    """Run ``run(stop)``; SIGTERM/SIGINT set ``stop`` so the loop ends at a safe point (shutdown is
    a path, not an accident)."""
    log = logging.getLogger(name)
    stop = shutdown.STOP  # may already be set: a signal during start-up

    def handle(signum: int, _frame: object) -> None:
        log.info("received %s: %s", signal.Signals(signum).name, on_signal)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    run(stop)
    log.info("stopped cleanly")
