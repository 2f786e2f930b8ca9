"""``binlog-producer``: stream the source binlog into Kafka, exactly once."""

from __future__ import annotations

from types import MappingProxyType
from typing import Annotated

import typer

from binlog_pipeline.core.cli_common import (
    EXIT_FAILED,
    SERVICE_EXITS,
    BootstrapOption,
    ConfigOption,
    Exit,
    ExitRules,
    LogFormatOption,
    PrefixOption,
    SetOption,
    SourceUrlOption,
    build_settings,
    expected_errors,
    run_until_signalled,
    start_endpoints,
)
from binlog_pipeline.core.garbage_collection import collect_rarely
from binlog_pipeline.producer.clients import real_clients
from binlog_pipeline.producer.publisher import ProducerFenced
from binlog_pipeline.producer.runner import ProducerRunner
from binlog_pipeline.producer.source_check import SourceMisconfigured

EXIT_FENCED = 3
PRODUCER_EXITS: ExitRules = MappingProxyType(
    {
        **SERVICE_EXITS,
        ProducerFenced: Exit(EXIT_FENCED),  # a newer producer took over: not a failure to restart on
        SourceMisconfigured: Exit(EXIT_FAILED, "source not ready for CDC: "),
    }
)

app = typer.Typer(add_completion=False)


@app.command(
    help="Read the source MySQL/MariaDB binlog and publish one Avro change event per row change to "
    "Kafka topics {prefix}.{db}.{table}, in Kafka transactions that also carry the producer's binlog "
    "position, so a restart resumes exactly where the last committed transaction ended.\n\n"
    "Needs source_url and bootstrap_servers (config file, BINLOG_PIPELINE_* env or flags). "
    "SIGTERM/SIGINT commit what was published and exit 0. Exit codes: 1 error, 2 configuration, "
    "3 fenced by another producer with the same transactional id."
)
def run(
    config: ConfigOption = None,
    sets: SetOption = None,
    source_url: SourceUrlOption = None,
    bootstrap_servers: BootstrapOption = None,
    topic_prefix: PrefixOption = None,
    server_id: Annotated[
        int | None, typer.Option(help="Replica server id (unique on the source).", show_default=False)
    ] = None,
    start_position: Annotated[
        str | None, typer.Option(help="Without a checkpoint: end | earliest | FILE:POS.", show_default=False)
    ] = None,
    log_format: LogFormatOption = None,
) -> None:
    settings = build_settings(
        config,
        sets,
        source_url=source_url,
        bootstrap_servers=bootstrap_servers,
        topic_prefix=topic_prefix,
        server_id=server_id,
        start_position=start_position,
        log_format=log_format,
    )
    health = start_endpoints(settings)
    collect_rarely()
    with expected_errors(EXIT_FAILED, PRODUCER_EXITS):
        run_until_signalled(
            "producer",
            "finishing the open transaction",
            lambda stop: ProducerRunner(settings, stop, health, real_clients(settings, stop)).run(),
        )


def main() -> None:
    app()
