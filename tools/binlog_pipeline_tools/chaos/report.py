"""The chaos run's summary as the terminal (and the README) shows it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from binlog_pipeline_tools.chaos.model import ChaosResult


def render(result: ChaosResult) -> str:
    f = result.figures
    lines = [
        f"{'FAULT KIND':<26} {'INJECTED':>8} {'RECOVERED':>9} {'MEDIAN_S':>8} {'MAX_S':>7}",
    ]
    for kind, entry in f.get("faults_by_kind", {}).items():
        lines.append(
            f"{kind:<26} {entry['injected']:>8} {entry['recovered']:>9} "
            f"{_s(entry['median_recovery_s']):>8} {_s(entry['max_recovery_s']):>7}"
        )
    lines += [
        "",
        f"faults injected {f.get('faults_injected')}, recovered {f.get('recoveries')}, "
        f"time to recover median {_s(f.get('median_recovery_s'))} s / max {_s(f.get('max_recovery_s'))} s",
        f"source transactions {f.get('source_transactions')} (sysbench {f.get('sysbench_transactions')}, "
        f"mixed {f.get('mixed_transactions')}, of which large {f.get('large_transactions')}); "
        f"DDL {len(f.get('ddl') or [])}",
        f"Kafka transactions committed {f.get('kafka_transactions_committed')}, rows produced "
        f"{f.get('rows_produced')}, rows applied {f.get('rows_applied_incl_reapplied')} (incl. re-applied)",
        f"unplanned process exits {len(f.get('unplanned_exits') or [])}, dead letters {f.get('dead_letters')}",
        f"tables equal (CHECKSUM TABLE, row count, verify): {'yes' if f.get('verdict_ok') else 'NO'}"
        f" — {f.get('rows_in_replicated_tables')} rows in {len(result.verdict.tables) if result.verdict else 0} tables",
    ]
    for exit_ in f.get("unplanned_exits") or []:
        lines.append(
            f"  unplanned exit: {exit_['component']} pid {exit_['pid']} code {exit_['code']} at {exit_['at_s']} s"
        )
    for difference in f.get("differences") or []:
        lines.append(f"  DIFFERENCE: {difference}")
    if result.failure:
        lines.append(f"  FAILURE: {result.failure}")
    lines.append(("OK" if result.ok else "FAILED") + f" — seed {result.options.seed}")
    return "\n".join(lines)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def markdown(f: dict[str, Any]) -> str:
    """The results file's table (and the README's) from a run's figures: per fault kind, then
    the totals."""
    lines = [
        f"Seed {f.get('seed')}, {f.get('faults_injected')} faults in {f.get('duration_s', 0) / 60:.1f} min; "
        f"{'**all tables equal**' if f.get('verdict_ok') else '**DIFFERENCES**'} "
        f"(CHECKSUM TABLE, row counts, verify), dead letters {f.get('dead_letters')}, "
        f"unplanned exits {len(f.get('unplanned_exits') or [])}.",
        "",
        "| fault kind | injected | recovered | median s to recover | max s |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind, entry in f.get("faults_by_kind", {}).items():
        lines.append(
            f"| `{kind}` | {entry['injected']} | {entry['recovered']} | "
            f"{_s(entry['median_recovery_s'])} | {_s(entry['max_recovery_s'])} |"
        )
    lines += [
        f"| **all** | {f.get('faults_injected')} | {f.get('recoveries')} | "
        f"{_s(f.get('median_recovery_s'))} | {_s(f.get('max_recovery_s'))} |",
        "",
        f"- Source transactions: {_n(f.get('source_transactions'))} (sysbench {_n(f.get('sysbench_transactions'))}, "
        f"mixed {_n(f.get('mixed_transactions'))}, of which {_n(f.get('large_transactions'))} large (5,000 rows); "
        f"{len(f.get('ddl') or [])} DDL).",
        f"- Kafka transactions committed by the producer: {_n(f.get('kafka_transactions_committed'))}; "
        f"row changes produced {_n(f.get('rows_produced'))}; applied {_n(f.get('rows_applied_incl_reapplied'))} "
        "(approximate: summed over process lives as last sampled — a stopping process's last batch "
        "may be missing, a batch re-applied after a fault counts twice).",
        f"- Rows in the replicated tables at the end: {_n(f.get('rows_in_replicated_tables'))}.",
    ]
    return "\n".join(lines) + "\n"


def _n(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def save(result: ChaosResult, out_dir: Path, name: str) -> Path:
    """``<name>.json`` (every figure and fault) and ``<name>.md`` (the summary table)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.md").write_text(markdown(result.figures))
    path = out_dir / f"{name}.json"
    payload = {
        "ok": result.ok,
        "failure": result.failure,
        "reproduce": result.reproduce(),
        "options": result.options.__dict__,
        "topic_prefix": result.topic_prefix,
        "group": result.group,
        **result.figures,
        "partitions": result.verdict.partitions if result.verdict else {},
        "tables": result.verdict.tables if result.verdict else {},
        "faults": [r.as_dict() for r in result.records],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
