"""The benchmark's outputs for people: a markdown table (for the README) and a PNG plot of
throughput and end-to-end latency over the run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from binlog_pipeline_tools.bench.model import Timeline


def markdown(r: dict[str, Any]) -> str:
    """Our phases (when run) and the Debezium comparison (when run)."""
    parts = [_ours(r)] if "workloads" in r else [_machine(r["machine"])]
    if "debezium" in r:
        parts.append(_debezium(r["debezium"]))
    return "\n".join(parts)


def _machine(m: dict[str, Any]) -> str:
    return f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GiB; source {m['source_server']}; Python {m['python']}.\n"


def _fixed_rate_probe(fixed: dict[str, Any]) -> str:
    """The probe's latency, for results that have it (runs before the probe was added do not)."""
    if "e2e_p99_ms" not in fixed:
        return ""
    return (
        f"probe rows ({fixed['probe_rows_s']}/s beside sysbench), source commit → target row: "
        f"p50 {fixed['e2e_p50_ms']:.0f} ms, p99 {fixed['e2e_p99_ms']:.0f} ms, max {fixed['e2e_max_ms']:.0f} ms; "
    )


def _rate(value: int | None) -> str:
    return f"{value:,}" if value is not None else "failed"


def _debezium(d: dict[str, Any]) -> str:
    if "skipped" in d:
        return f"Debezium comparison: {d['skipped']}\n"
    v, wl = d["versions"], d["workloads"]
    fixed = wl["fixed_rate"]
    lines = [
        f"Ours vs Debezium {v['debezium']} (MariaDB source + JDBC sink connectors on Kafka Connect "
        f"{v['kafka_connect']} standalone, {d['converter']}, MariaDB JDBC {v['mariadb_jdbc']}): the same "
        "workloads from one source into separate target databases, one pipeline at a time, end to end "
        "(source binlog → Kafka → target committed).",
        "",
        "| workload | row changes | ours rows/s | Debezium rows/s | ours / Debezium |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label in (
        ("bulk", "bulk load (10,000-row transactions)"),
        ("sysbench", "sysbench oltp_write_only backlog (full speed)"),
        ("wide", "all-types table"),
    ):
        p = wl[key]
        ratio = f"{p['ratio']:.2f}" if p["ratio"] is not None else ""
        lines.append(
            f"| {label} | {p['rows']:,} | {p['ours_rows_s']:,} | {_rate(p['debezium_rows_s'])} | {ratio} |"
        )
    ours, dbz = fixed["ours"], fixed["debezium"]
    rss = d["rss_peak_mb"]
    lines += [
        "",
        f"- Fixed rate (sysbench {fixed['rate_tps']:,} tps + {fixed['probe_rows_s']} probe rows/s for "
        f"{fixed['seconds']} s, pipeline live), probe rows, source commit → target row: ours p50 {ours['p50_ms']:.0f} ms, "
        f"p99 {ours['p99_ms']:.0f} ms; Debezium p50 {dbz['p50_ms']:.0f} ms, p99 {dbz['p99_ms']:.0f} ms. "
        f"Everything applied (every table) {ours.get('catch_up_s', 0):.1f} s (ours) and {dbz.get('catch_up_s', 0):.1f} s "
        f"(Debezium) after the load stopped; sysbench achieved {ours.get('sysbench_tps', 0):,} / {dbz.get('sysbench_tps', 0):,} tps.",
        f"- Peak RSS: ours producer {rss['ours_producer']} MB + applier {rss['ours_applier']} MB = "
        f"{rss['ours_total']} MB; Debezium's Connect worker (source + sink) {rss['debezium_connect_worker']} MB.",
    ]
    for side in ("ours", "debezium"):
        equal = d["equal"][side]
        unequal = [t for t, same in equal.items() if not same]
        fidelity = d["fidelity"][side]
        wrong = _wrong_columns(fidelity)
        lines.append(
            f"- {'Ours' if side == 'ours' else 'Debezium'}: target == source (CHECKSUM TABLE, row count): "
            + ("every table" if not unequal else "NOT for " + ", ".join(unequal))
            + f"; all-types columns wrong: {wrong or 'none'}"
            + (f"; rows missing {fidelity['rows_missing']:,}" if fidelity["rows_missing"] else "")
            + "."
        )
    if d.get("debezium_failure"):
        lines.append(f"- Debezium stopped: {d['debezium_failure'][:600]}")
    per_column = d["fidelity"].get("debezium_per_column")
    if per_column:
        columns = per_column["columns"]
        failed = [f"`{c}` ({_cause(r['error'])})" for c, r in columns.items() if r["status"] == "failed"]
        wrong_values = [
            f"`{c}` ({r['rows_wrong']:,} rows, e.g. id {r['example']['id']}: {r['example']['source']} → {r['example']['target']})"
            if r.get("example")
            else f"`{c}` ({r['rows_missing']:,} rows missing)"
            for c, r in columns.items()
            if r["status"] == "wrong"
        ]
        ok = sum(1 for r in columns.values() if r["status"] == "ok")
        lines.append(
            f"- Debezium column by column (the first {per_column['rows']:,} all-types rows, each column alone "
            f"through its own sink): {ok} of {len(columns)} columns exact; sink stopped on "
            + (", ".join(failed) or "none")
            + "; values wrong in "
            + (", ".join(wrong_values) or "none")
            + "."
        )
    lines.append("")
    return "\n".join(lines)


def _cause(error: str) -> str:
    """The innermost cause of a Connect failure, short."""
    return error.rsplit("Caused by: ", 1)[-1][:160]


def _wrong_columns(fidelity: dict[str, Any]) -> str:
    return ", ".join(
        f"`{c}` ({e['rows']:,} rows, e.g. id {e['example']['id']}: {e['example']['source']} → {e['example']['target']})"
        for c, e in fidelity["columns_wrong"].items()
    )


def _ours(r: dict[str, Any]) -> str:
    m, wl = r["machine"], r["workloads"]
    bulk, wide, sb, lat = wl["bulk"], wl["wide"], wl["sysbench"], wl["latency"]
    snap = wl["snapshot"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GiB; source {m['source_server']}; "
        f"Python {m['python']}. Sizes: {r['sizes']['bulk_rows']:,} rows in {r['sizes']['bulk_txn_rows']:,}-row "
        f"transactions + one {r['sizes']['single_txn_rows']:,}-row transaction; {r['sizes']['wide_rows']:,} "
        f"all-types rows; sysbench {r['sizes']['sysbench_seconds']} s × {r['sizes']['sysbench_threads']} threads.",
        "",
        "| workload | decode ceiling rows/s | producer rows/s | producer / ceiling | apply ceiling rows/s | applier rows/s | applier / ceiling |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| bulk (large txns + one huge txn) | {bulk['decode_ceiling_rows_s']:,} | {bulk['producer_rows_s']:,} | "
        f"{bulk['producer_ratio']:.2f} | {bulk['apply_ceiling_rows_s']:,} | {bulk['applier_rows_s']:,} | {bulk['applier_ratio']:.2f} |",
        f"| initial snapshot of the bulk table (chunks of {snap['chunk_rows']:,}; read ceiling: bare chunked reads) | "
        f"{snap['read_ceiling_rows_s']:,} | {snap['producer_rows_s']:,} | {snap['producer_ratio']:.2f} | "
        f"{snap['apply_ceiling_rows_s']:,} | {snap['applier_rows_s']:,} | {snap['applier_ratio']:.2f} |",
        f"| wide table, every type | {wide['decode_ceiling_rows_s']:,} | {wide['producer_rows_s']:,} | "
        f"{wide['producer_ratio']:.2f} | | {wide['applier_rows_s']:,} | |",
        f"| sysbench oltp_write_only backlog | {sb['decode_ceiling_rows_s']:,} | {sb['producer_rows_s']:,} | "
        f"{sb['producer_ratio']:.2f} | | {sb['applier_rows_s']:,} | |",
        "",
        f"- sysbench at full speed on the source: {sb['sysbench_tps']:,} transactions/s = {sb['sysbench_rows_s']:,} "
        f"row changes/s; producer / source = {sb['producer_vs_sysbench']:.2f}, applier / source = {sb['applier_vs_sysbench']:.2f}.",
        f"- sysbench at a fixed {sb['fixed_rate']['rate_tps']:,} transactions/s ({sb['fixed_rate']['rows_s']:,} row changes/s) "
        f"with both processes live: {'kept up' if sb['fixed_rate']['kept_up'] else 'fell behind'} — "
        + _fixed_rate_probe(sb["fixed_rate"])
        + f"end-to-end lag gauge at most {sb['fixed_rate']['max_e2e_lag_s']:.0f} s (whole-second source clock), "
        f"caught up {sb['fixed_rate']['catch_up_s']:.1f} s after sysbench stopped.",
        f"- End-to-end latency at {lat['achieved_rows_s']:,} rows/s (source commit → target statement): "
        f"p50 {lat['p50_ms']:.0f} ms, p95 {lat['p95_ms']:.0f} ms, p99 {lat['p99_ms']:.0f} ms, max {lat['max_ms']:.0f} ms.",
        f"- Peak RSS: producer {r['rss_peak_mb']['producer']:.0f} MB, applier {r['rss_peak_mb']['applier']:.0f} MB "
        f"(including the {r['sizes']['single_txn_rows']:,}-row transaction).",
        f"- Restart to resumed apply (applier start → first batch committed): {r['resume_s']:.1f} s after a clean stop; "
        f"after kill -9 {lat['resume_after_kill9_s']:.1f} s (the group waits for the dead member's session timeout), "
        f"{lat['resume_after_kill9_short_session_s']:.1f} s with `kafka_consumer.session.timeout.ms=10000`.",
        f"- Source == target after the run: {'all tables' if all(r['equal'].values()) else 'NO: ' + str(r['equal'])}.",
        "",
    ]
    if "native_replica" in sb:
        lines += _versus_native(sb)
    return "\n".join(lines)


def _versus_native(sb: dict[str, Any]) -> list[str]:
    """Ours end to end against MariaDB's own replication over the same sysbench backlog."""
    native, ours = sb["native_replica"], sb["e2e"]
    serial, parallel = native["serial"], native["parallel"]
    return [
        f"Against MariaDB's own replication ({native['server']} replica on its own mariadbd): the same "
        f"sysbench backlog ({sb['rows']:,} row changes) from the same starting rows, each timed from its "
        "start command (START SLAVE; spawning producer and applier together, cold) until the last row "
        "change was applied; every table CHECKSUM-equal to the source after each run.",
        "",
        "| replicating the sysbench backlog | rows/s | ours ÷ it | seconds | first transaction applied after |",
        "|---|---:|---:|---:|---:|",
        _native_row(
            "MariaDB replica, serial (slave_parallel_threads=0, as shipped)",
            serial,
            sb["e2e_vs_native_serial"],
        ),
        _native_row(
            f"MariaDB replica, slave_parallel_threads={parallel['slave_parallel_threads']} "
            f"({parallel['slave_parallel_mode']})",
            parallel,
            sb["e2e_vs_native_parallel"],
        ),
        _native_row("ours end to end (producer + applier started together)", ours, None),
        "",
    ]


def _native_row(label: str, run: dict[str, Any], ratio: float | None) -> str:
    return (
        f"| {label} | {run['rows_s']:,} | {'' if ratio is None else f'{ratio:.2f}'} | {run['seconds']:.1f} | "
        f"{run['first_row_s']:.1f} s |"
    )


def plot(timeline: Timeline, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7))
    colors = {"producer": "tab:blue", "applier": "tab:orange"}
    labelled: set[str] = set()
    segments: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for t, phase, component, rate in timeline.throughput:
        segments.setdefault((phase, component), []).append((t, rate))
    for (_, component), points in segments.items():  # one line per phase: no lines across gaps
        top.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            color=colors.get(component, "grey"),
            label=None if component in labelled else component,
            linewidth=0.8,
        )
        labelled.add(component)
    phases: dict[str, float] = {}
    for t, phase, _, _ in timeline.throughput:
        phases.setdefault(phase, t)
    for phase, t in phases.items():
        top.axvline(t, color="grey", linewidth=0.5)
        top.annotate(phase, (t, 0), rotation=90, fontsize=7, va="bottom")
    top.set_xlabel("seconds since the start of the run")
    top.set_ylabel("rows/s")
    top.set_title("Throughput (sampled from /metrics)")
    if labelled:
        top.legend()
    if timeline.latency:
        seconds = [p[0] for p in timeline.latency]
        bottom.plot(seconds, [p[1] for p in timeline.latency], label="p50")
        bottom.plot(seconds, [p[2] for p in timeline.latency], label="p99")
        bottom.legend()
    bottom.set_xlabel("second of the fixed-rate run")
    bottom.set_ylabel("ms")
    bottom.set_title("End-to-end latency, source commit → target")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save(results: dict[str, Any], timeline: Timeline, out_dir: Path, name: str) -> list[Path]:
    """The results JSON, its markdown table and (when our phases ran) the plot, under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{name}.json"
    samples = {"throughput": timeline.throughput, "latency": timeline.latency}
    json_path.write_text(json.dumps({**results, "timeline": samples}, indent=2) + "\n")
    md_path = out_dir / f"{name}.md"
    md_path.write_text(markdown(results))
    if not timeline.throughput:  # --compare-only: nothing of ours was sampled over time
        return [json_path, md_path]
    png_path = out_dir / f"{name}.png"
    plot(timeline, png_path)
    return [json_path, md_path, png_path]
