"""Options every command shares: ``--config``, the common settings flags and ``--set KEY=VALUE``
for any other setting. Turns them into :class:`Settings` or a clean non-zero exit."""

from __future__ import annotations

import concurrent.futures
import enum
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from binlog_pipeline.core import logs, shutdown
from binlog_pipeline.core.config import FIELDS, Settings, load_settings
from binlog_pipeline.core.errors import ConfigError, PipelineError
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
    try:
        settings = load_settings(config, flags=merged)
    except ConfigError as exc:
        fail(f"configuration error: {exc}")
    logs.configure(settings.log_level, settings.log_format)
    return settings


def fail(message: str, code: int = 2) -> Any:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def reported_errors(settings: Settings, code: int = 2) -> Iterator[None]:
    """An operations command's expected failures as one clear line on stderr and exit ``code``:
    our own errors as they are, Kafka errors and timeouts naming the brokers asked, database
    errors with the server's message (no traceback: these are conditions, not bugs)."""
    import pymysql
    from confluent_kafka import KafkaException

    try:
        yield
    except PipelineError as exc:
        fail(str(exc), code)
    except KafkaException as exc:
        fail(f"Kafka at {settings.bootstrap_servers}: {exc.args[0].str()}", code)
    except pymysql.MySQLError as exc:
        fail(f"database error: {exc}", code)
    except concurrent.futures.TimeoutError:
        fail(
            f"Kafka at {settings.bootstrap_servers} did not answer within {settings.kafka_timeout_s:g}s", code
        )


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
