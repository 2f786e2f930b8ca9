"""`binlog-pipeline bench`: one run that measures the pipeline next to its raw ceilings.

Each workload is written on the source while the producer is stopped, so the binlog holds a
backlog; then, over exactly that binlog range, the run measures the bare library decode (the
ceiling), the producer (started at the range's start, timed to the last row produced), the bare
batched upsert (the applier's ceiling) and the applier (timed to the last row applied). Rates are
from the first row to the last, sampled from the processes' /metrics every 0.25 s. End-to-end
latency is measured at a fixed rate with both processes live, from timestamps the workload writes.
Over the sysbench backlog, ours end to end (producer and applier started together) is measured
against MariaDB's own replication of the same range (replica_anchor.py).
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.progress import Progress

from binlog_pipeline.core.config import Settings
from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.core.errors import ToolError
from binlog_pipeline.core.waiting import WaitTimeout, wait_until
from binlog_pipeline_tools.bench import workloads as w
from binlog_pipeline_tools.bench.ceilings import Rate, apply_ceiling, decode_ceiling, read_ceiling
from binlog_pipeline_tools.bench.model import Sizes, Timeline
from binlog_pipeline_tools.bench.processes import (
    APPLIED,
    END_TO_END_LAG,
    PRODUCED,
    PipelineProcess,
    caught_up,
)
from binlog_pipeline_tools.bench.replica_anchor import (
    PARALLEL_THREADS,
    STARTING_ROWS_DB,
    Backlog,
    NativeReplica,
    end_to_end,
    keep_starting_rows,
    replica_server_id,
    require_equal,
    reset_to_starting_rows,
)
from binlog_pipeline_tools.bench.replica_anchor import results as anchor_results
from binlog_pipeline_tools.bench.workloads import checksum, one_row

# Each sample scrapes the measured process's /metrics: at 4 a second the scrapes were a few % of
# the producer's CPU (py-spy), far above a Prometheus scrape every 15 s. Twice a second keeps the
# rate's error under 1% on the full run's phases (the first row is placed mid-interval).
SAMPLE_S = 0.5
SNAPSHOT_DB = "bench_snapshot"  # the snapshot phase's target database
PROBE_ROWS_S = 50  # latency probe rows per second next to fixed-rate sysbench
# The fixed-rate probe's ids in bench.latency: negative, outside the latency phase's sample (id > 0).
FIXED_RATE_PROBE_IDS = -10_000_000


class Bench:
    def __init__(
        self,
        settings: Settings,
        source_admin: DatabaseUrl,
        target_admin: DatabaseUrl,
        sizes: Sizes,
        out_dir: Path,
        progress: Progress,
    ) -> None:
        assert settings.source_url is not None and settings.target_url is not None
        self.settings = settings
        self.source_admin = source_admin
        self.target_admin = target_admin
        self.sizes = sizes
        self.out_dir = out_dir
        self.progress = progress
        self.prefix = f"bench{int(time.time())}"
        self.timeline = Timeline()
        self.rss = {"producer": 0.0, "applier": 0.0}
        self._marker_id = 0  # negative ids in bench.latency: rows outside the latency sample
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("BINLOG_PIPELINE_")},
            "BINLOG_PIPELINE_SOURCE_URL": settings.source_url.unmasked(),
            "BINLOG_PIPELINE_TARGET_URL": settings.target_url.unmasked(),
            "BINLOG_PIPELINE_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        }

    # --- the run ----------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        self._prepare()
        bulk = self._bulk()
        snapshot = self._snapshot(bulk["apply_ceiling_rows_s"])
        wide = self._wide()
        sysbench = self._sysbench()
        sysbench["fixed_rate"] = self._sysbench_fixed_rate()
        latency = self._latency()
        equal = self._equality()
        return {
            "machine": machine(self.source_admin),
            "sizes": asdict(self.sizes),
            "decode_ceiling_rows_s": bulk["decode_ceiling_rows_s"],
            "apply_ceiling_rows_s": bulk["apply_ceiling_rows_s"],
            "producer_rows_s": bulk["producer_rows_s"],
            "applier_rows_s": bulk["applier_rows_s"],
            "producer_ratio": bulk["producer_ratio"],
            "applier_ratio": bulk["applier_ratio"],
            "e2e_p50_ms": latency["p50_ms"],
            "e2e_p95_ms": latency["p95_ms"],
            "e2e_p99_ms": latency["p99_ms"],
            "rss_peak_mb": dict(self.rss),
            "resume_s": wide["resume_s"],
            "workloads": {
                "bulk": bulk,
                "snapshot": snapshot,
                "wide": wide,
                "sysbench": sysbench,
                "latency": latency,
            },
            "equal": equal,
        }

    def _prepare(self) -> None:
        task = self.progress.add_task("preparing databases", total=None)
        for url in (self.source_admin, self.target_admin):
            w.execute(url, "DROP DATABASE IF EXISTS bench", "DROP DATABASE IF EXISTS sbtest")
        w.execute(
            self.target_admin,
            f"DROP DATABASE IF EXISTS {SNAPSHOT_DB}",
            f"DROP DATABASE IF EXISTS {STARTING_ROWS_DB}",
        )
        w.execute(
            self.source_admin,
            "CREATE DATABASE bench",
            "CREATE DATABASE sbtest",
            w.BULK_DDL.format(table="bench.bulk"),
            w.BULK_DDL.format(table="bench.bulk_one"),
            w.ALL_TYPES_DDL.format(db="bench"),
            w.LATENCY_DDL.format(table="bench.latency", extra=""),
        )
        w.execute(
            self.target_admin,
            "CREATE DATABASE bench",
            w.LATENCY_DDL.format(table="bench.latency", extra=w.APPLIED_AT),
        )
        self.progress.update(task, total=1, completed=1)

    # --- phases -----------------------------------------------------------------------------
    def _bulk(self) -> dict[str, Any]:
        s = self.sizes
        start = w.binlog_position(self.source_admin)
        total = s.bulk_rows + s.single_txn_rows
        write = self.progress.add_task("bulk: writing on the source", total=total)
        advance = self.advancer(write)
        w.write_bulk(self.source_admin, "bench.bulk", s.bulk_rows, s.bulk_txn_rows, advance)
        w.write_bulk(self.source_admin, "bench.bulk_one", s.single_txn_rows, s.single_txn_rows, advance)
        end = w.binlog_position(self.source_admin)
        result = self._stream_and_apply("bulk", start, end, ["bench"], total)
        ceiling_task = self.progress.add_task("bulk: apply ceiling (bare upserts)", total=s.bulk_rows)
        ceiling = apply_ceiling(
            self.target_admin, s.bulk_rows, self.settings.batch_max_rows, self.advancer(ceiling_task)
        )
        result["apply_ceiling_rows_s"] = round(ceiling.rows_s)
        result["applier_ratio"] = (
            round(result["applier_rows_s"] / ceiling.rows_s, 3) if ceiling.rows_s else 0.0
        )
        return result

    def _snapshot(self, apply_ceiling_rows_s: float) -> dict[str, Any]:
        """The initial snapshot of the bulk table (its own topics, routed to another target
        database): producer and applier against bare chunked consistent reads and bare upserts."""
        rows = self.sizes.bulk_rows
        chunk_rows = self.settings.snapshot_chunk_rows
        task = self.progress.add_task("snapshot: read ceiling (bare chunked reads)", total=rows)
        ceiling = read_ceiling(self.source_admin, "bench.bulk", chunk_rows, self.advancer(task))
        prefix = f"{self.prefix}s"
        producer = self.start_process(
            "producer",
            "snapshot",
            {"snapshot_mode": "initial", "include_tables": "bench.bulk"},
            prefix=prefix,
        )
        produced = self._until(producer, PRODUCED, rows, "snapshot: producer")
        producer.stop()
        applier = self.start_process("applier", "snapshot", {"routes": f"bench={SNAPSHOT_DB}"}, prefix=prefix)
        applied = self._until(applier, APPLIED, rows, "snapshot: applier")
        applier.stop()
        return {
            "rows": rows,
            "chunk_rows": chunk_rows,
            "read_ceiling_rows_s": round(ceiling.rows_s),
            "producer_rows_s": round(produced.rate.rows_s),
            "producer_ratio": round(produced.rate.rows_s / ceiling.rows_s, 3) if ceiling.rows_s else 0.0,
            "apply_ceiling_rows_s": round(apply_ceiling_rows_s),
            "applier_rows_s": round(applied.rate.rows_s),
            "applier_ratio": round(applied.rate.rows_s / apply_ceiling_rows_s, 3)
            if apply_ceiling_rows_s
            else 0.0,
        }

    def _wide(self) -> dict[str, Any]:
        start = w.binlog_position(self.source_admin)
        task = self.progress.add_task("wide: writing every type", total=self.sizes.wide_rows)
        w.write_wide(self.source_admin, self.sizes.wide_rows, self.advancer(task))
        end = w.binlog_position(self.source_admin)
        return self._stream_and_apply("wide", start, end, ["bench"], self.sizes.wide_rows)

    def _sysbench(self) -> dict[str, Any]:
        s = self.sizes
        task = self.progress.add_task("sysbench: prepare + replicate the tables", total=None)
        before = w.binlog_position(self.source_admin)
        w.sysbench(self.source_admin, "prepare", s.sysbench_tables, s.sysbench_table_size)
        prepared = s.sysbench_tables * s.sysbench_table_size
        self._stream_and_apply(
            "sysbench-prepare", before, w.binlog_position(self.source_admin), ["sbtest"], prepared
        )
        tables = tuple(f"sbtest{n}" for n in range(1, s.sysbench_tables + 1))
        keep_starting_rows(self.target_admin, "sbtest", tables)
        self.progress.update(task, total=1, completed=1)
        run = self.progress.add_task(
            f"sysbench: oltp_write_only, full speed, {s.sysbench_seconds}s", total=None
        )
        start = w.binlog_position(self.source_admin)
        result = w.sysbench_run(
            self.source_admin,
            s.sysbench_tables,
            s.sysbench_table_size,
            s.sysbench_seconds,
            s.sysbench_threads,
        )
        end = w.binlog_position(self.source_admin)
        self.progress.update(run, total=1, completed=1)
        measured = self._stream_and_apply("sysbench", start, end, ["sbtest"], None)
        source_rows_s = measured["rows"] / result.seconds
        measured.update(
            sysbench_tps=round(result.tps),
            sysbench_rows_s=round(source_rows_s),
            producer_vs_sysbench=round(measured["producer_rows_s"] / source_rows_s, 3),
            applier_vs_sysbench=round(measured["applier_rows_s"] / source_rows_s, 3),
        )
        measured.update(
            self._versus_native_replica(Backlog("sbtest", tables, before, start, end, measured["rows"]))
        )
        return measured

    def _versus_native_replica(self, backlog: Backlog) -> dict[str, Any]:
        """Ours end to end (producer and applier started together, cold) and MariaDB's own
        replication, serial and parallel, over the same backlog from the same starting rows; the
        protocol is in replica_anchor.py."""
        source_id = int(one_row(self.source_admin, "SELECT @@server_id")[0])
        server_id = replica_server_id({source_id, self.settings.server_id, self.settings.server_id + 100})
        primary = self.settings.source_url  # the producer's user: REPLICATION SLAVE, as a replica's
        assert primary is not None
        with NativeReplica(
            self.out_dir, primary, self.source_admin, backlog, server_id, self.progress
        ) as native:
            reset_to_starting_rows(self.target_admin, backlog)
            prefix = f"{self.prefix}e"
            producer = self.pipeline_process(
                "producer",
                "sysbench-e2e",
                {
                    "start_position": f"{backlog.start[0]}:{backlog.start[1]}",
                    "include_tables": f"{backlog.database}.*",
                    "snapshot_mode": "never",
                },
                prefix,
            )
            applier = self.pipeline_process("applier", "sysbench-e2e", {}, prefix)
            ours = end_to_end(producer, applier, backlog, self.progress)
            for process in (producer, applier):
                self.rss[process.module] = max(self.rss[process.module], process.peak_rss_mb)
            require_equal("end to end", self.target_admin, self.source_admin, backlog)
            serial = native.drain(0)
            parallel = native.drain(PARALLEL_THREADS)
            version, mode = native.server_version, native.replica.variable("slave_parallel_mode")
        w.execute(self.target_admin, f"DROP DATABASE IF EXISTS {STARTING_ROWS_DB}")
        return anchor_results(serial, parallel, ours, version, mode)

    def _sysbench_fixed_rate(self) -> dict[str, Any]:
        """sysbench at ``--rate`` with both processes live, and a latency probe beside it: does the
        pipeline keep up, and how long does a change take from source commit to target commit?
        Reports the probe's percentiles, the applier's end-to-end lag gauge (whole seconds) while
        it runs and the catch-up time after."""
        s = self.sizes
        producer, applier = self._live("sysbench-rate", "sbtest.*,bench.latency")
        # Warm up: the probe's topic exists and is assigned before timing starts, as in steady state.
        self._marker_id -= 1
        w.execute(
            self.source_admin, f"INSERT INTO bench.latency VALUES ({self._marker_id}, NOW(6), 'warm-up')"
        )
        self._until(applier, APPLIED, 1, "sysbench fixed rate: warm-up")
        task = self.progress.add_task(
            f"sysbench: oltp_write_only at {s.sysbench_rate_tps} tps + probe {PROBE_ROWS_S} rows/s, "
            f"{s.sysbench_rate_seconds}s, live",
            total=PROBE_ROWS_S * s.sysbench_rate_seconds,
        )
        runner = sysbench_at_fixed_rate(self.source_admin, s)
        probe = w.Background(
            lambda: w.write_at_rate(
                self.source_admin,
                "bench.latency",
                PROBE_ROWS_S,
                s.sysbench_rate_seconds,
                self.advancer(task),
                first_id=FIXED_RATE_PROBE_IDS,
            )
        )
        lags: list[float] = []
        while runner.is_alive() or probe.is_alive():
            lags.append(applier.metrics().get(END_TO_END_LAG, 0.0))
            time.sleep(0.5)
        achieved = runner.join()
        probes = probe.join()
        finished = time.monotonic()
        end = w.binlog_position(self.source_admin)
        try:
            applied = wait_until(
                lambda: _applied_if_caught_up(producer, applier, end), 1800, 0.25, "the catch-up"
            )
        except WaitTimeout as exc:
            raise ToolError(
                "the pipeline did not catch up with fixed-rate sysbench within 30 minutes"
            ) from exc
        catch_up = time.monotonic() - finished
        producer.stop()
        applier.stop()
        rows = int(applied)
        latency = probe_latencies(self.target_admin, "bench", FIXED_RATE_PROBE_IDS, probes)
        return {
            "rate_tps": s.sysbench_rate_tps,
            "achieved_tps": round(achieved.tps),
            "rows": rows,
            "rows_s": round(rows / achieved.seconds),
            "probe_rows_s": PROBE_ROWS_S,
            "e2e_p50_ms": latency["p50_ms"],
            "e2e_p99_ms": latency["p99_ms"],
            "e2e_max_ms": latency["max_ms"],
            "max_e2e_lag_s": max(lags, default=0.0),
            "catch_up_s": round(catch_up, 2),
            "kept_up": catch_up < 2.0,
        }

    def _stream_and_apply(
        self, phase: str, start: tuple[str, int], end: tuple[str, int], schemas: list[str], rows: int | None
    ) -> dict[str, Any]:
        """Decode ceiling, then producer, then applier over the binlog range ``[start, end)``."""
        decode_task = self.progress.add_task(f"{phase}: decode ceiling (bare library)", total=rows)
        decoded = decode_ceiling(
            self.settings.source_url,  # type: ignore[arg-type]
            start,
            end,
            schemas,
            self.settings.server_id + 100,
            self.advancer(decode_task),
        )
        self.progress.update(decode_task, total=decoded.rows, completed=decoded.rows)  # stops its clock
        expected = rows if rows is not None else decoded.rows
        include = ",".join(f"{schema}.*" for schema in schemas)
        producer = self.start_process(
            "producer",
            phase,
            {"start_position": f"{start[0]}:{start[1]}", "include_tables": include, "snapshot_mode": "never"},
        )
        produced = self._until(producer, PRODUCED, expected, f"{phase}: producer")
        producer.stop()
        applier = self.start_process("applier", phase, {})
        applied = self._until(applier, APPLIED, expected, f"{phase}: applier")
        applier.stop()
        return {
            "rows": expected,
            "decode_ceiling_rows_s": round(decoded.rows_s),
            "producer_rows_s": round(produced.rate.rows_s),
            "producer_ratio": round(produced.rate.rows_s / decoded.rows_s, 3) if decoded.rows_s else 0.0,
            "applier_rows_s": round(applied.rate.rows_s),
            "resume_s": round(applied.first_row_s, 2),
        }

    def _latency(self) -> dict[str, Any]:
        s = self.sizes
        producer, applier = self._live("latency", "bench.latency")
        # Warm up: the topic exists and is assigned before timing starts, as in steady state.
        w.execute(self.source_admin, "INSERT INTO bench.latency VALUES (0, NOW(6), 'warm-up')")
        self._until(applier, APPLIED, 1, "latency: warm-up")
        task = self.progress.add_task(
            f"latency: {s.latency_rows_s} rows/s for {s.latency_seconds}s",
            total=s.latency_rows_s * s.latency_seconds,
        )
        written = w.write_at_rate(
            self.source_admin, "bench.latency", s.latency_rows_s, s.latency_seconds, self.advancer(task)
        )
        self._until(applier, APPLIED, written + 1, "latency: draining")
        applier.stop()
        resume = {
            "resume_after_kill9_s": round(self._resume_after_kill9(short_session=False), 2),
            "resume_after_kill9_short_session_s": round(self._resume_after_kill9(short_session=True), 2),
        }
        producer.stop()
        conn = w.connect(self.target_admin)
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT UNIX_TIMESTAMP(created_at), TIMESTAMPDIFF(MICROSECOND, created_at, applied_at) / 1000 "
                    "FROM bench.latency WHERE id > 0 ORDER BY id"
                )
                rows = [(float(ts), float(ms)) for ts, ms in cur.fetchall()]
        finally:
            conn.close()
        latencies = sorted(ms for _, ms in rows)
        first = rows[0][0] if rows else 0.0
        by_second: dict[int, list[float]] = {}
        for ts, ms in rows:
            by_second.setdefault(int(ts - first), []).append(ms)
        self.timeline.latency = [
            (second, percentile(sorted(v), 50), percentile(sorted(v), 99))
            for second, v in sorted(by_second.items())
        ]
        return {
            "rows": len(rows),
            "target_rows_s": s.latency_rows_s,
            "achieved_rows_s": round(written / s.latency_seconds),
            "p50_ms": round(percentile(latencies, 50), 1),
            "p95_ms": round(percentile(latencies, 95), 1),
            "p99_ms": round(percentile(latencies, 99), 1),
            "max_ms": round(latencies[-1], 1) if latencies else 0.0,
            "note": "source NOW(6) at insert → target statement time of the applier's upsert (same clock)",
            **resume,
        }

    def _resume_after_kill9(self, short_session: bool) -> float:
        """Seconds from starting an applier after its predecessor was killed with -9 to its first
        applied row. The group waits for the dead member's session to time out: librdkafka's
        default 45 s, or ``session.timeout.ms=10000`` as the README suggests for faster restarts."""
        settings: dict[str, object] = {"kafka_consumer": "session.timeout.ms=10000"} if short_session else {}
        label = "session.timeout.ms=10000" if short_session else "default session timeout"
        self._marker_id -= 1
        w.execute(
            self.source_admin, f"INSERT INTO bench.latency VALUES ({self._marker_id}, NOW(6), 'marker')"
        )
        first = self.start_process("applier", "resume", settings)
        self._until(first, APPLIED, 1, f"resume ({label}): first applier")
        first.stop(kill=True)
        self._marker_id -= 1
        w.execute(
            self.source_admin, f"INSERT INTO bench.latency VALUES ({self._marker_id}, NOW(6), 'marker')"
        )
        second = self.start_process("applier", "resume", settings)
        measured = self._until(second, APPLIED, 1, f"resume ({label}): after kill -9")
        second.stop()
        return measured.first_row_s

    def _equality(self) -> dict[str, bool]:
        task = self.progress.add_task("checking source == target", total=None)
        tables = ["bench.bulk", "bench.bulk_one", "bench.all_types"] + [
            f"sbtest.sbtest{n}" for n in range(1, self.sizes.sysbench_tables + 1)
        ]
        result = {
            table: checksum(self.source_admin, table) == checksum(self.target_admin, table)
            for table in tables
        }
        result[f"{SNAPSHOT_DB}.bulk (snapshot of bench.bulk)"] = checksum(
            self.source_admin, "bench.bulk"
        ) == checksum(self.target_admin, f"{SNAPSHOT_DB}.bulk")
        result["bench.latency"] = one_row(
            self.source_admin, f"SELECT {LATENCY_FINGERPRINT} FROM bench.latency"
        ) == one_row(self.target_admin, f"SELECT {LATENCY_FINGERPRINT} FROM bench.latency")
        self.progress.update(task, total=1, completed=1)
        return result

    # --- helpers ----------------------------------------------------------------------------
    def _live(self, phase: str, include: str) -> tuple[PipelineProcess, PipelineProcess]:
        """Producer (from the source's current position) and applier, both running."""
        position = w.binlog_position(self.source_admin)
        settings: dict[str, object] = {
            "start_position": f"{position[0]}:{position[1]}",
            "include_tables": include,
            "snapshot_mode": "never",  # the binlog phases measure streaming only
        }
        return self.start_process("producer", phase, settings), self.start_process("applier", phase, {})

    def pipeline_process(
        self, role: str, phase: str, settings: dict[str, object], prefix: str | None = None
    ) -> PipelineProcess:
        """A producer or applier of this run, not started yet."""
        prefix = prefix or self.prefix
        common: dict[str, object] = {"topic_prefix": prefix}
        if role == "producer":
            common["transactional_id"] = f"{prefix}-producer"
        else:
            common["group_id"] = f"{prefix}-applier"
        log = self.out_dir / f"{phase}-{role}.log"
        return PipelineProcess(role, self.env, {**common, **settings}, log)

    def start_process(
        self, role: str, phase: str, settings: dict[str, object], prefix: str | None = None
    ) -> PipelineProcess:
        return self.pipeline_process(role, phase, settings, prefix).start()

    def _until(self, process: PipelineProcess, metric: str, rows: int, label: str) -> Measured:
        """Sample ``metric`` until it reaches ``rows``; the rate is from the first row to the last."""
        task = self.progress.add_task(label, total=rows)
        first_at: float | None = None
        last_count: float | None = None  # no rate from the first sample: its interval is unknown
        last_at = time.monotonic()
        while True:
            count = process.metrics().get(metric, 0.0)
            now = time.monotonic()
            if count > 0 and first_at is None:
                first_at = now - SAMPLE_S / 2  # the first row arrived within the last interval
            if last_count is not None and count > last_count:
                self.timeline.throughput.append(
                    (
                        now - self.timeline.start,
                        label.split(":")[0],
                        process.module,
                        (count - last_count) / (now - last_at),
                    )
                )
            self.progress.update(task, completed=count)
            last_count, last_at = count, now
            if count >= rows:
                break
            time.sleep(SAMPLE_S)
        self.rss[process.module] = max(self.rss[process.module], process.peak_rss_mb)
        assert first_at is not None
        return Measured(Rate(int(count), max(now - first_at, SAMPLE_S)), first_at - process.started_at)

    def advancer(self, task: Any) -> Callable[[int], None]:
        return lambda n: self.progress.advance(task, n)


def _applied_if_caught_up(producer: PipelineProcess, applier: PipelineProcess, end: tuple[str, int]) -> float:
    """The applier's applied count once the pipeline caught up with ``end`` (0: not yet)."""
    applied = applier.metrics().get(APPLIED, 0.0)
    return applied if caught_up(producer, applied, end) else 0.0


# Compares the latency table without the target's extra applied_at column.
LATENCY_FINGERPRINT = "COUNT(*), BIT_XOR(CRC32(CONCAT_WS('#', id, created_at, payload)))"


def sysbench_at_fixed_rate(
    url: DatabaseUrl, sizes: Sizes, database: str = "sbtest", seed: int = 1
) -> w.Background[w.SysbenchResult]:
    """sysbench oltp_write_only at the sizes' fixed rate and duration, on its own thread."""
    return w.Background(
        lambda: w.sysbench_run(
            url,
            sizes.sysbench_tables,
            sizes.sysbench_table_size,
            sizes.sysbench_rate_seconds,
            sizes.sysbench_threads,
            rate_tps=sizes.sysbench_rate_tps,
            database=database,
            seed=seed,
        )
    )


@dataclass(frozen=True)
class Measured:
    rate: Rate
    first_row_s: float  # from process start to its first row: the restart-to-resumed time


def probe_latencies(target: DatabaseUrl, db: str, first_id: int, count: int) -> dict[str, Any]:
    """Percentiles of ``db.latency`` probe rows ``first_id`` … (+count): the target's applied_at
    minus the source's NOW(6) at insert, per row (one machine, one clock)."""
    conn = w.connect(target)
    try:
        with conn.cursor() as cur:
            cur.execute(
                f"SELECT TIMESTAMPDIFF(MICROSECOND, created_at, applied_at) / 1000 FROM {db}.latency "
                f"WHERE id BETWEEN {int(first_id)} AND {int(first_id + count - 1)}"
            )
            values = sorted(float(v) for (v,) in cur.fetchall())
    finally:
        conn.close()
    return {
        "rows": len(values),
        "p50_ms": round(percentile(values, 50), 1),
        "p99_ms": round(percentile(values, 99), 1),
        "max_ms": round(values[-1], 1) if values else 0.0,
    }


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(pct) - 1]


def machine(source_admin: DatabaseUrl) -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
        "source_server": one_row(source_admin, "SELECT VERSION()")[0],
    }
