"""``binlog-pipeline bench``: the producer and applier measured against raw ceilings (and, with
--compare debezium, against Debezium) on the local stack."""

from __future__ import annotations

import enum
import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from binlog_pipeline.core.cli_common import (
    EXIT_FAILED,
    ConfigOption,
    SetOption,
    build_settings,
    expected_errors,
    reported_errors,
)
from binlog_pipeline.core.errors import ToolError, UsageError

app = typer.Typer()


class CompareWith(enum.StrEnum):
    debezium = "debezium"


@app.command("bench")
def bench_command(
    config: ConfigOption = None,
    sets: SetOption = None,
    quick: Annotated[bool, typer.Option(help="A smoke run: small workloads, under 4 minutes.")] = False,
    out_dir: Annotated[Path, typer.Option(help="Where results go (JSON, markdown, PNG, logs).")] = Path(
        "bench/results"
    ),
    name: Annotated[str | None, typer.Option(help="File name stem (default: date and mode).")] = None,
    scale: Annotated[
        float, typer.Option(help="Multiply every workload size (e.g. 0.1 for a test run).", min=0.001)
    ] = 1.0,
    source_admin_url: Annotated[
        str | None,
        typer.Option(
            envvar="BINLOG_PIPELINE_STACK_SOURCE_ADMIN_URL",
            help="A source user that may create databases and run sysbench (stack env sets it).",
            show_default=False,
        ),
    ] = None,
    target_admin_url: Annotated[
        str | None,
        typer.Option(
            envvar="BINLOG_PIPELINE_STACK_TARGET_ADMIN_URL",
            help="A target user that may create databases (stack env sets it).",
            show_default=False,
        ),
    ] = None,
    compare: Annotated[
        CompareWith | None,
        typer.Option(
            help="Also run the same workloads through another pipeline on the same stack: 'debezium' "
            "(Kafka Connect standalone + Debezium MariaDB source + JDBC sink, jars from Maven Central).",
            show_default=False,
        ),
    ] = None,
    compare_only: Annotated[
        bool, typer.Option(help="With --compare: skip our own ceiling phases, run only the comparison.")
    ] = False,
) -> None:
    """Measure the producer and the applier against the raw ceilings (bare python-mysql-replication
    decode, bare batched pymysql upserts) over the same workloads in one run: bulk rows in large
    transactions and one huge transaction, a wide table of every type, sysbench oltp_write_only at
    full speed, and end-to-end latency at a fixed rate; and, over the sysbench backlog, ours end to
    end against MariaDB's own replication (a replica mariadbd the run starts and stops, serial and
    with 4 parallel threads). Writes the results JSON, a markdown table and a PNG plot. Drops and recreates the databases `bench` and `sbtest` on both servers: run
    it on the local stack (`binlog-pipeline stack up`), not on servers you care about.

    --compare debezium then replicates the bulk load, sysbench at full speed and at a fixed rate and
    the all-types table with our pipeline and with Debezium, one at a time, from database `cmp` into
    `cmp_ours` and `cmp_debezium`, and reports rows/s, the ratio, latency, peak RSS and which
    columns each target got wrong. Without Maven Central it is skipped with a message."""
    from dataclasses import asdict

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from binlog_pipeline.core.dburl import DatabaseUrl
    from binlog_pipeline_tools.bench.model import FULL, QUICK
    from binlog_pipeline_tools.bench.report import save
    from binlog_pipeline_tools.bench.run import Bench, machine

    settings = build_settings(config, sets)
    with reported_errors(settings):
        settings.require("source_url", "target_url")
        source_admin, target_admin = require_admin_urls(source_admin_url, target_admin_url)
        if compare_only and compare is None:
            raise UsageError("--compare-only needs --compare debezium")
    connect_lib, skipped = debezium_jars() if compare is CompareWith.debezium else (None, None)
    if skipped:
        typer.echo(skipped, err=True)
        if compare_only:
            return
    sizes = (QUICK if quick else FULL).scaled(scale)
    stem = name or time.strftime("%Y-%m-%d") + ("-quick" if quick else "-full")
    logs = out_dir / f"{stem}-logs"
    logs.mkdir(parents=True, exist_ok=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with reported_errors(settings, code=EXIT_FAILED), Progress(*columns) as progress:
        bench = Bench(
            settings,
            DatabaseUrl.parse(source_admin),
            DatabaseUrl.parse(target_admin),
            sizes,
            logs,
            progress,
        )
        results = (
            {"machine": machine(bench.source_admin), "sizes": asdict(sizes)} if compare_only else bench.run()
        )
        if connect_lib is not None:
            from binlog_pipeline_tools.bench.compare import Comparison

            results["debezium"] = Comparison(bench, connect_lib).run()
        elif skipped:
            results["debezium"] = {"skipped": skipped}
    paths = save(results, bench.timeline, out_dir, stem)
    typer.echo(paths[1].read_text())
    typer.echo("wrote " + ", ".join(str(p) for p in paths))
    with expected_errors(EXIT_FAILED):
        require_equal(results)


def require_admin_urls(source: str | None, target: str | None) -> tuple[str, str]:
    """Both admin URLs (bench creates and drops its databases with them), or :class:`UsageError`."""
    if not source or not target:
        raise UsageError(
            'needs --source-admin-url and --target-admin-url (eval "$(binlog-pipeline stack env)" sets them)'
        )
    return source, target


def debezium_jars() -> tuple[Path | None, str | None]:
    """Kafka Connect's and Debezium's jars, or why the comparison is skipped: Maven Central out of
    reach. Any other failure to get them (a bad pom, a missing artifact, no Java) ends the run."""
    from binlog_pipeline_tools.bench.connect import ensure_jars
    from binlog_pipeline_tools.stack.maven import MavenUnreachable

    with expected_errors(EXIT_FAILED):
        try:
            return ensure_jars(), None
        except MavenUnreachable as exc:
            return None, f"Debezium comparison skipped: {exc}"


def require_equal(results: dict[str, Any]) -> None:
    """Raise :class:`ToolError` when a target differs from the source after the run: a benchmark
    of a pipeline that lost or changed rows measures nothing."""
    if not all(results.get("equal", {}).values()):
        raise ToolError("source and target differ after the run: " + json.dumps(results["equal"]))
    ours_equal = results.get("debezium", {}).get("equal", {}).get("ours", {})
    if not all(ours_equal.values()):
        raise ToolError("our target differs from the source after the comparison: " + json.dumps(ours_equal))
