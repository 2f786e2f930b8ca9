"""``binlog-applier``: apply the change topics to the target database."""

from __future__ import annotations

import typer

from binlog_pipeline.applier.runner import ApplierRunner
from binlog_pipeline.core.cli_common import (
    EXIT_FAILED,
    SERVICE_EXITS,
    BootstrapOption,
    ConfigOption,
    GroupOption,
    LogFormatOption,
    PrefixOption,
    SetOption,
    TargetUrlOption,
    build_settings,
    expected_errors,
    run_until_signalled,
    start_endpoints,
)
from binlog_pipeline.core.garbage_collection import collect_rarely

app = typer.Typer(add_completion=False)


@app.command(
    help="Consume the table topics {prefix}.{db}.{table} (read_committed) and apply them to the target "
    "MySQL/MariaDB in batches. Kafka offsets are committed only after the target COMMIT that contains "
    "those messages succeeded; the target also stores its position in a checkpoint table, so an "
    "unknown COMMIT outcome neither loses nor repeats anything.\n\n"
    "Needs target_url and bootstrap_servers. SIGTERM/SIGINT finish the current batch and exit 0. "
    "A permanent error (bad data, missing table, privilege) stops with exit 1 and names the "
    "topic/partition/offset, table and key — unless dead_letter_topic is set."
)
def run(
    config: ConfigOption = None,
    sets: SetOption = None,
    target_url: TargetUrlOption = None,
    bootstrap_servers: BootstrapOption = None,
    topic_prefix: PrefixOption = None,
    group_id: GroupOption = None,
    log_format: LogFormatOption = None,
) -> None:
    settings = build_settings(
        config,
        sets,
        target_url=target_url,
        bootstrap_servers=bootstrap_servers,
        topic_prefix=topic_prefix,
        group_id=group_id,
        log_format=log_format,
    )
    health = start_endpoints(settings)
    collect_rarely()
    with expected_errors(EXIT_FAILED, SERVICE_EXITS):
        run_until_signalled(
            "applier", "finishing the current batch", lambda stop: ApplierRunner(settings, stop, health).run()
        )


def main() -> None:
    app()
