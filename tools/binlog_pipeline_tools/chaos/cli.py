"""``binlog-pipeline chaos``: the pipeline under load and a seeded schedule of real faults."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from binlog_pipeline.core.cli_common import (
    EXIT_FAILED,
    EXIT_USAGE,
    ConfigOption,
    SetOption,
    build_settings,
    expected_errors,
    fail,
    reported_errors,
)
from binlog_pipeline.core.errors import UsageError
from binlog_pipeline_tools.stack import Stack
from binlog_pipeline_tools.stack.cli import StateDir

app = typer.Typer()


@app.command("chaos")
def chaos_command(
    config: ConfigOption = None,
    sets: SetOption = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the fault schedule and workload (default: random, printed).")
    ] = None,
    faults: Annotated[int, typer.Option(help="How many faults to inject.", min=1)] = 20,
    kinds: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated fault kinds (default: all; see --list-kinds).", show_default=False
        ),
    ] = None,
    list_kinds: Annotated[bool, typer.Option("--list-kinds", help="Print the fault kinds and exit.")] = False,
    duration: Annotated[
        float | None,
        typer.Option(help="Stop injecting after this many seconds, even short of --faults.", min=1),
    ] = None,
    max_hold: Annotated[
        float, typer.Option(help="Longest a fault is held before it is healed (s).", min=0.5)
    ] = 6.0,
    recovery_timeout: Annotated[
        float, typer.Option(help="A fault not recovered from within this many seconds fails the run.", min=1)
    ] = 180.0,
    sysbench_tps: Annotated[
        int, typer.Option(help="sysbench oltp_write_only rate during the run.", min=1)
    ] = 40,
    mixed_tps: Annotated[float, typer.Option(help="Mixed-workload transactions per second.", min=0.1)] = 20.0,
    appliers: Annotated[int, typer.Option(help="Applier processes in the consumer group.", min=1)] = 3,
    out_dir: Annotated[Path, typer.Option(help="Where the results JSON and the process logs go.")] = Path(
        "bench/results"
    ),
    name: Annotated[str | None, typer.Option(help="File name stem (default: date, seed, faults).")] = None,
    state_dir: StateDir = Path(".stack"),
) -> None:
    """Run the producer and a group of appliers on the local stack under load (sysbench
    oltp_write_only plus a mixed workload with PK changes, keyless and composite-key tables, large
    transactions, DDL and a pt-online-schema-change cut-over) while injecting a seeded random
    schedule of real faults: kill -9 / SIGTERM of the producer or an applier, SIGSTOP of an applier
    past max.poll.interval.ms, an extra applier joining, broker stop and kill -9, target stop, KILL
    CONNECTION, read_only, KILL of the binlog dump, and TCP proxies that cut or stall the target,
    source and broker connections. Then drain and prove
    nothing was lost, doubled or skipped: CHECKSUM TABLE and row counts equal, `verify` clean, no
    dead letters, committed offsets at the end of every topic and equal to the target checkpoint.
    Exits 1 on any difference or unrecovered fault, printing the seed to reproduce it. Drops and
    recreates the databases `chaos` and `chaos_sb` on both servers: local stack only."""
    import random

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from binlog_pipeline_tools.chaos.faults import KINDS
    from binlog_pipeline_tools.chaos.model import ChaosOptions
    from binlog_pipeline_tools.chaos.report import render, save
    from binlog_pipeline_tools.chaos.run import ChaosRun

    if list_kinds:
        typer.echo("\n".join(f"{kind.name:<26} {kind.what}" for kind in KINDS.values()))
        return
    with expected_errors(EXIT_USAGE):
        chosen = chosen_kinds(kinds)
    seed = seed if seed is not None else random.SystemRandom().randrange(1, 1_000_000)
    stack = Stack(state_dir)
    with expected_errors(EXIT_USAGE):  # no stack to run on (not up yet): nothing was done
        env = stack.env()
    settings = build_settings(
        config,
        [
            f"source_url={env['BINLOG_PIPELINE_SOURCE_URL']}",
            f"target_url={env['BINLOG_PIPELINE_TARGET_URL']}",
            f"bootstrap_servers={env['BINLOG_PIPELINE_BOOTSTRAP_SERVERS']}",
            *(sets or []),
        ],
    )
    options = ChaosOptions(
        seed=seed,
        faults=faults,
        kinds=chosen,
        duration_s=duration,
        recovery_timeout_s=recovery_timeout,
        sysbench_tps=sysbench_tps,
        mixed_tps=mixed_tps,
        max_hold_s=max_hold,
        appliers=appliers,
    )
    stem = name or f"{time.strftime('%Y-%m-%d')}-chaos-seed{seed}-{faults}faults"
    typer.echo(
        f"chaos: seed {seed}, {faults} faults of {len(chosen)} kinds, {appliers} applier(s); "
        f"logs in {out_dir / (stem + '-logs')}"
    )
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with reported_errors(settings, code=EXIT_FAILED), Progress(*columns) as progress:
        result = ChaosRun(stack, settings, options, out_dir / f"{stem}-logs", progress).run()
    path = save(result, out_dir, stem)
    typer.echo(render(result))
    typer.echo(f"wrote {path}")
    if not result.ok:
        fail(f"chaos run FAILED (seed {seed}); reproduce with: {result.reproduce()}", code=EXIT_FAILED)


def chosen_kinds(kinds: str | None) -> list[str]:
    """The fault kinds of ``--kinds`` (comma-separated; default all); :class:`UsageError` names
    the unknown ones."""
    from binlog_pipeline_tools.chaos.faults import KINDS

    chosen = [k.strip() for k in kinds.split(",") if k.strip()] if kinds else sorted(KINDS)
    unknown = [k for k in chosen if k not in KINDS]
    if unknown:
        raise UsageError(f"unknown fault kind(s) {', '.join(unknown)}; see --list-kinds")
    return chosen
