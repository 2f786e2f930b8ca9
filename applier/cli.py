"""``binlog-applier``: apply the change topics to the target database."""

from __future__ import annotations

import gc

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


def collect_rarely() -> None:
    """Run the cyclic garbage collector rarely. A batch makes ~6 container objects per change (the
    decoded record's dicts, the change): at the default threshold (700 allocations) the collector
    ran hundreds of times a batch, its older generations walking the batch again and again —
    ~9% of the applier's CPU on the bench's bulk rows. What the applier makes is freed by
    reference counting (no cycles), so the collector has almost nothing to find; the start-up
    objects are frozen out of its walks."""
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def main() -> None:
    app()
