"""`bench --compare debezium`: our pipeline next to Debezium (MariaDB source connector + JDBC sink
connector on Kafka Connect) over the same source workloads, one pipeline at a time, on the same
broker and servers, into separate target databases.

The protocol:

1. Source database ``cmp`` gets the tables (bulk, all types, latency, sysbench's with its prepared
   rows). Both targets, ``cmp_ours`` and ``cmp_debezium``, get the source's own definitions and
   sysbench's prepared rows, so ``CHECKSUM TABLE`` compares values, not DDL choices.
2. Debezium's connectors start streaming (proven by a sentinel row reaching its target); then its
   source connector is stopped (Connect's ``stop``: offsets committed) while ours runs.
3. Each throughput workload is written on the source as a backlog. Ours (producer and applier
   together) replicates it; then Debezium's source is resumed over the same binlog range. Both are
   timed from their first row on the target side to their last: ours by the applier's applied
   rows, Debezium by its sink's committed offsets (committed every second) — one record per row
   change on both sides, so the counts must match.
4. Fixed rate: sysbench at ``--rate`` plus a probe writing NOW(6)-stamped rows, with ours live;
   then Debezium catches up that range and runs the same load live. Latency is the target row's
   insert time minus its source NOW(6), per probe row, same clock.
5. Ours catches up what Debezium's live run wrote; the all-types table is written and replicated by
   each last (a sink that fails on a type stops for good); then every table is compared by
   ``CHECKSUM TABLE`` and row count, and the all-types table column by column.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.core.errors import StackError
from binlog_pipeline.core.sql import quote
from binlog_pipeline.core.waiting import WaitTimeout, wait_until
from binlog_pipeline_tools.bench import workloads as w
from binlog_pipeline_tools.bench.ceilings import Rate
from binlog_pipeline_tools.bench.connect import (
    CONNECT_VERSION,
    DEBEZIUM_VERSION,
    MARIADB_JDBC_VERSION,
    ConnectWorker,
    DebeziumNames,
    sink_config,
    source_config,
)
from binlog_pipeline_tools.bench.fidelity import column_differences
from binlog_pipeline_tools.bench.processes import APPLIED, PipelineProcess, caught_up
from binlog_pipeline_tools.bench.run import (
    LATENCY_FINGERPRINT,
    PROBE_ROWS_S,
    Bench,
    probe_latencies,
    sysbench_at_fixed_rate,
)
from binlog_pipeline_tools.bench.workloads import checksum, one_row

SOURCE_DB = "cmp"
WIDE_TABLE = "all_types"
COLUMN_SAMPLE_ROWS = 2_000  # all-types rows per column in Debezium's column-by-column pass
OURS_DB = "cmp_ours"
DEBEZIUM_DB = "cmp_debezium"
DEBEZIUM_PROBE_IDS = 10_000_001  # probe ids of Debezium's live run (ours: from 1)
STALL_S = 300.0  # no progress this long: the run stops and says where
SAMPLE_S = 0.25
DEBEZIUM_USER = "bench_debezium"


class Progress:
    """First and last moment a growing count changed: the rate's interval."""

    def __init__(self, baseline: float, resolution_s: float) -> None:
        self.baseline = baseline
        self.resolution_s = resolution_s
        self.count = baseline
        self.first_at: float | None = None
        self.last_at = time.monotonic()

    def observe(self, count: float) -> bool:
        now = time.monotonic()
        if count <= self.count:
            return now - self.last_at < STALL_S
        if self.first_at is None:
            self.first_at = now - self.resolution_s / 2  # it changed within the last interval
        self.count, self.last_at = count, now
        return True

    def result(self) -> Rate:
        rows = int(self.count - self.baseline)
        seconds = self.last_at - self.first_at if self.first_at is not None else 0.0
        return Rate(rows, max(seconds, self.resolution_s))


class Comparison:
    def __init__(self, bench: Bench, connect_lib: Path) -> None:
        self.bench = bench
        self.sizes = bench.sizes
        self.source_admin: DatabaseUrl = bench.source_admin
        self.target_admin: DatabaseUrl = bench.target_admin
        self.progress = bench.progress
        stamp = int(time.time())
        self.ours_prefix = f"cmp{stamp}"
        self.names = DebeziumNames(f"dbz{stamp}", SOURCE_DB)
        self.worker = ConnectWorker(connect_lib, bench.out_dir / "connect", bench.settings.bootstrap_servers)
        self.sysbench_tables = [f"sbtest{n}" for n in range(1, self.sizes.sysbench_tables + 1)]
        self.tables = ["bulk", WIDE_TABLE, "latency", *self.sysbench_tables]
        self.ours_rss = {"producer": 0.0, "applier": 0.0}
        self.debezium_failure: str | None = None
        self.debezium_committed = 0  # records Debezium's sink must have committed by now
        self._marker = 0

    # --- the run ----------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        self._prepare()
        self.worker.start()
        try:
            self._start_debezium()
            start = w.binlog_position(self.source_admin)
            phases: dict[str, Any] = {}
            phases["bulk"] = self._backlog("bulk", start, self._write_bulk)
            phases["sysbench"] = self._backlog("sysbench", None, self._write_sysbench)
            phases["fixed_rate"] = self._fixed_rate()
            phases["wide"] = self._backlog("wide", None, self._write_wide)
            equal = self._equality()
            fidelity = {
                "ours": column_differences(
                    self.source_admin, SOURCE_DB, self.target_admin, OURS_DB, WIDE_TABLE
                ),
                "debezium": column_differences(
                    self.source_admin, SOURCE_DB, self.target_admin, DEBEZIUM_DB, WIDE_TABLE
                ),
            }
            fidelity["debezium_per_column"] = self._debezium_per_column()
        finally:
            self.worker.stop()
        return self._summary(phases, equal, fidelity)

    def _summary(
        self, phases: dict[str, Any], equal: dict[str, Any], fidelity: dict[str, Any]
    ) -> dict[str, Any]:
        bulk, sysbench, fixed = phases["bulk"], phases["sysbench"], phases["fixed_rate"]
        return {
            "versions": {
                "kafka_connect": CONNECT_VERSION,
                "debezium": DEBEZIUM_VERSION,
                "mariadb_jdbc": MARIADB_JDBC_VERSION,
            },
            "converter": "org.apache.kafka.connect.json.JsonConverter, schemas.enable=true",
            "ours_rows_s": bulk["ours_rows_s"],
            "debezium_rows_s": bulk["debezium_rows_s"],
            "ratio": bulk["ratio"],
            "sysbench_ratio": sysbench["ratio"],
            "ours_p50_ms": fixed["ours"]["p50_ms"],
            "ours_p99_ms": fixed["ours"]["p99_ms"],
            "debezium_p50_ms": fixed["debezium"]["p50_ms"],
            "debezium_p99_ms": fixed["debezium"]["p99_ms"],
            "rss_peak_mb": {
                "ours_producer": round(self.ours_rss["producer"]),
                "ours_applier": round(self.ours_rss["applier"]),
                "ours_total": round(self.ours_rss["producer"] + self.ours_rss["applier"]),
                "debezium_connect_worker": round(self.worker.peak_rss_mb),
            },
            "equal": equal,
            "fidelity": fidelity,
            "debezium_failure": self.debezium_failure,
            "workloads": phases,
        }

    # --- setup ------------------------------------------------------------------------------
    def _prepare(self) -> None:
        s = self.sizes
        task = self.progress.add_task("compare: preparing source and both targets", total=None)
        w.execute(
            self.source_admin,
            f"DROP DATABASE IF EXISTS {SOURCE_DB}",
            f"CREATE DATABASE {SOURCE_DB}",
            w.BULK_DDL.format(table=f"{SOURCE_DB}.bulk"),
            w.ALL_TYPES_DDL.format(db=SOURCE_DB),
            w.LATENCY_DDL.format(table=f"{SOURCE_DB}.latency", extra=""),
            f"CREATE USER IF NOT EXISTS {DEBEZIUM_USER}@'%' IDENTIFIED BY '{DEBEZIUM_USER}'",
            # The grants Debezium's MariaDB connector documents.
            "GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT, LOCK TABLES "
            f"ON *.* TO {DEBEZIUM_USER}@'%'",
        )
        w.sysbench(self.source_admin, "prepare", s.sysbench_tables, s.sysbench_table_size, database=SOURCE_DB)
        definitions = {t: w.show_create(self.source_admin, f"{SOURCE_DB}.{t}") for t in self.tables}
        for db in (OURS_DB, DEBEZIUM_DB):
            w.execute(self.target_admin, f"DROP DATABASE IF EXISTS {db}", f"CREATE DATABASE {db}")
            for table, ddl in definitions.items():
                if table == "latency":  # the target copy records when its row was written
                    ddl = w.LATENCY_DDL.format(table=f"{db}.latency", extra=w.APPLIED_AT)
                w.execute(self.target_admin, f"USE {db}", ddl)
            for table in self.sysbench_tables:
                w.copy_rows(self.source_admin, f"{SOURCE_DB}.{table}", self.target_admin, f"{db}.{table}")
        self._create_topics(self.tables)
        self.progress.update(task, total=1, completed=1)

    def _create_topics(self, tables: list[str]) -> None:
        """Debezium's topics, before its sinks subscribe to exactly these names."""
        # log_level 4: no info lines about its background queue when it is garbage-collected
        admin = AdminClient({"bootstrap.servers": self.bench.settings.bootstrap_servers, "log_level": 4})
        topics = [NewTopic(self.names.topic(t), 1, -1) for t in tables]
        for future in admin.create_topics(topics).values():
            future.result(30)

    def _start_debezium(self) -> None:
        task = self.progress.add_task("compare: Debezium connectors streaming", total=None)
        source = DatabaseUrl(self.source_admin.host, self.source_admin.port, DEBEZIUM_USER, DEBEZIUM_USER)
        self.worker.add(
            self.names.source,
            source_config(
                self.names, source, self.bench.settings.bootstrap_servers, self.bench.settings.server_id + 200
            ),
        )
        self.worker.add(self.names.sink, sink_config(self.names, self.tables, self.target_admin, DEBEZIUM_DB))

        # Streaming has begun when a row written after it started reaches the target; rows written
        # before the connector fixed its start position never will, so write one every 5 s.
        def markers_on_target() -> int:
            return _count(self.target_admin, f"SELECT COUNT(*) FROM {DEBEZIUM_DB}.latency WHERE id < 0")

        def streaming() -> bool:
            if markers_on_target() > 0:
                return True
            self._check_debezium()
            self._next_marker()
            self._wait(
                lambda: markers_on_target() > 0,
                "Debezium's first row",
                timeout_s=5,
                raise_on_timeout=False,
            )
            return False

        try:
            wait_until(streaming, 180, 0, "Debezium's first streamed row")
        except WaitTimeout as exc:
            raise StackError(
                f"Debezium did not stream a row within 180 s; see {self.worker.log_path}"
            ) from exc
        # The markers are not part of any workload: delete them, on Debezium's target through
        # Debezium (ours starts after this and never sees them).
        w.execute(self.source_admin, f"DELETE FROM {SOURCE_DB}.latency WHERE id < 0")
        self._wait(lambda: markers_on_target() == 0, "Debezium: markers deleted")
        self.worker.halt(self.names.source)
        self.debezium_committed = sum(self.worker.sink_offsets(self.names.sink).values())
        self.progress.update(task, total=1, completed=1)

    # --- workloads --------------------------------------------------------------------------
    def _write_bulk(self) -> None:
        task = self.progress.add_task("compare bulk: writing on the source", total=self.sizes.bulk_rows)
        w.write_bulk(
            self.source_admin,
            f"{SOURCE_DB}.bulk",
            self.sizes.bulk_rows,
            self.sizes.bulk_txn_rows,
            self.bench.advancer(task),
        )

    def _write_wide(self) -> None:
        task = self.progress.add_task("compare wide: writing every type", total=self.sizes.wide_rows)
        w.write_wide(self.source_admin, self.sizes.wide_rows, self.bench.advancer(task), database=SOURCE_DB)

    def _write_sysbench(self) -> None:
        s = self.sizes
        task = self.progress.add_task(f"compare sysbench: full speed, {s.sysbench_seconds}s", total=None)
        w.sysbench_run(
            self.source_admin,
            s.sysbench_tables,
            s.sysbench_table_size,
            s.sysbench_seconds,
            s.sysbench_threads,
            database=SOURCE_DB,
            seed=2,
        )
        self.progress.update(task, total=1, completed=1)

    # --- phases -----------------------------------------------------------------------------
    def _backlog(
        self, phase: str, start: tuple[str, int] | None, write: Callable[[], None]
    ) -> dict[str, Any]:
        """The workload as a backlog, replicated by ours, then by Debezium over the same range."""
        write()
        end = w.binlog_position(self.source_admin)
        ours = self._ours_catch_up(phase, end, start)
        debezium = self._debezium_catch_up(phase, ours.rows)
        return _versus(ours, debezium)

    def _fixed_rate(self) -> dict[str, Any]:
        s = self.sizes
        producer, applier = self._ours("fixed-rate")
        try:
            marker = self._next_marker()
            self._wait(lambda: applier.metrics().get(APPLIED, 0.0) >= 1, f"ours: marker row {marker}")
            first_probe, (probes, ours_tps) = 1, self._load_at_fixed_rate("ours", 1)
            load_ended = time.monotonic()
            end = w.binlog_position(self.source_admin)
            self._wait(
                lambda: caught_up(producer, applier.metrics().get(APPLIED, 0.0), end),
                "ours: fixed-rate load applied",
                timeout_s=1800,
            )
            ours_catch_up = time.monotonic() - load_ended
            ours_rows = int(applier.metrics().get(APPLIED, 0.0))
        finally:
            self._stop_ours(producer, applier)
        ours = probe_latencies(self.target_admin, OURS_DB, first_probe, probes)
        ours.update(sysbench_tps=ours_tps, catch_up_s=round(ours_catch_up, 1))
        # Debezium first replicates what ours' run wrote (not timed), then runs the same load live.
        self._debezium_catch_up("fixed-rate (ours' range)", ours_rows)
        self.worker.resume(self.names.source)
        try:
            probes, debezium_tps = self._load_at_fixed_rate("Debezium", DEBEZIUM_PROBE_IDS)
            load_ended = time.monotonic()
            last_probe = DEBEZIUM_PROBE_IDS + probes - 1
            self._wait(
                lambda: (
                    _count(
                        self.target_admin,
                        f"SELECT COUNT(*) FROM {DEBEZIUM_DB}.latency WHERE id = {last_probe}",
                    )
                    > 0
                    and self._debezium_drained()
                ),
                "Debezium: fixed-rate load applied",
                timeout_s=1800,
                check=self._check_debezium,
            )
            debezium_catch_up = time.monotonic() - load_ended
        finally:
            self.worker.halt(self.names.source)
        self.debezium_committed = sum(self.worker.sink_offsets(self.names.sink).values())
        debezium = probe_latencies(self.target_admin, DEBEZIUM_DB, DEBEZIUM_PROBE_IDS, probes)
        debezium.update(sysbench_tps=debezium_tps, catch_up_s=round(debezium_catch_up, 1))
        # Ours catches up what Debezium's live run wrote, so both targets end complete.
        self._ours_catch_up("fixed-rate (Debezium's range)", w.binlog_position(self.source_admin), None)
        return {
            "rate_tps": s.sysbench_rate_tps,
            "probe_rows_s": PROBE_ROWS_S,
            "seconds": s.sysbench_rate_seconds,
            "ours": ours,
            "debezium": debezium,
        }

    def _load_at_fixed_rate(self, who: str, first_id: int) -> tuple[int, int]:
        """sysbench at the fixed rate and the latency probe side by side; then one last probe row
        after sysbench ended: when it arrives, everything before it in the binlog was read.
        Returns the probe rows written and the transactions/s sysbench achieved."""
        s = self.sizes
        task = self.progress.add_task(
            f"compare fixed rate ({who} live): sysbench {s.sysbench_rate_tps} tps + probe {PROBE_ROWS_S} rows/s",
            total=PROBE_ROWS_S * s.sysbench_rate_seconds,
        )
        runner = sysbench_at_fixed_rate(self.source_admin, s, database=SOURCE_DB, seed=3)
        written = w.write_at_rate(
            self.source_admin,
            f"{SOURCE_DB}.latency",
            PROBE_ROWS_S,
            s.sysbench_rate_seconds,
            self.bench.advancer(task),
            first_id=first_id,
        )
        achieved = runner.join()
        w.execute(
            self.source_admin,
            f"INSERT INTO {SOURCE_DB}.latency VALUES ({first_id + written}, NOW(6), 'last')",
        )
        return written + 1, round(achieved.tps)

    # --- ours -------------------------------------------------------------------------------
    def _ours(
        self, phase: str, start: tuple[str, int] | None = None
    ) -> tuple[PipelineProcess, PipelineProcess]:
        """Producer and applier, started together; the producer resumes from its checkpoint (its
        first start: from ``start``)."""
        producer_settings: dict[str, object] = {
            "include_tables": f"{SOURCE_DB}.*",
            "snapshot_mode": "never",
        }
        if start is not None:
            producer_settings["start_position"] = f"{start[0]}:{start[1]}"
        producer = self.bench.start_process(
            "producer", f"compare-{phase}", producer_settings, self.ours_prefix
        )
        applier = self.bench.start_process(
            "applier", f"compare-{phase}", {"routes": f"{SOURCE_DB}={OURS_DB}"}, self.ours_prefix
        )
        return producer, applier

    def _ours_catch_up(self, phase: str, end: tuple[str, int], start: tuple[str, int] | None) -> Rate:
        producer, applier = self._ours(phase.split(" ")[0], start)
        try:
            progress = Progress(0.0, SAMPLE_S)
            task = self.progress.add_task(f"compare {phase}: ours (producer + applier)", total=None)

            def done() -> bool:
                applied = applier.metrics().get(APPLIED, 0.0)
                if not progress.observe(applied):
                    raise StackError(
                        f"ours made no progress for {STALL_S:.0f}s in {phase}; see {applier.log_path}"
                    )
                self.progress.update(task, completed=applied)
                return caught_up(producer, applied, end)

            self._wait(done, f"ours: {phase}", timeout_s=None)
            self.progress.update(task, total=progress.count)
        finally:
            self._stop_ours(producer, applier)
        return progress.result()

    def _stop_ours(self, producer: PipelineProcess, applier: PipelineProcess) -> None:
        producer.stop()
        applier.stop()
        for p in (producer, applier):
            self.ours_rss[p.module] = max(self.ours_rss[p.module], p.peak_rss_mb)

    # --- Debezium ---------------------------------------------------------------------------
    def _debezium_catch_up(self, phase: str, rows: int) -> Rate | None:
        """Resume Debezium's source until its sink committed the ``rows`` row changes of this
        range; None when Debezium failed (the failure is kept and reported)."""
        if self.debezium_failure:
            return None
        self.debezium_committed += rows
        baseline = sum(self.worker.sink_offsets(self.names.sink).values())
        progress = Progress(baseline, 1.0)  # sink offsets are committed every second
        task = self.progress.add_task(f"compare {phase}: Debezium (source + sink)", total=rows)
        self.worker.resume(self.names.source)
        try:

            def done() -> bool:
                committed = sum(self.worker.sink_offsets(self.names.sink).values())
                if not progress.observe(committed):
                    raise StackError(f"Debezium made no progress for {STALL_S:.0f}s in {phase}")
                self.progress.update(task, completed=committed - baseline)
                return committed >= self.debezium_committed

            self._wait(done, f"Debezium: {phase}", timeout_s=None, check=self._check_debezium)
        except StackError as exc:
            self.debezium_failure = f"{phase}: {exc}"
            return None
        finally:
            self.worker.halt(self.names.source)
        return replace(progress.result(), rows=rows)  # the range's row changes, however timed

    def _check_debezium(self, connectors: list[str] | None = None) -> None:
        failures = self.worker.failures(connectors)
        if failures:
            raise StackError("Debezium failed: " + " | ".join(failures))

    def _debezium_drained(self) -> bool:
        """The sink committed every record its topics hold."""
        committed = self.worker.sink_offsets(self.names.sink)
        ends = topic_ends(self.bench.settings.bootstrap_servers, [self.names.topic(t) for t in self.tables])
        return all(committed.get(topic, 0) >= end for topic, end in ends.items())

    def _debezium_per_column(self) -> dict[str, Any]:
        """Debezium's JDBC sink stops for good at the first value it cannot write, so one such
        type hides every other column. Here each column of the all-types table is replicated
        alone — table ``col_<column>`` (id, column) holding the first rows — through a sink of its
        own: per column, the rows it got wrong or the error that stopped it."""
        rows = min(self.sizes.wide_rows, COLUMN_SAMPLE_ROWS)
        columns = w.column_names(self.source_admin, SOURCE_DB, WIDE_TABLE)[1:]
        tables = {column: f"col_{column}" for column in columns}
        for column, table in tables.items():
            w.execute(
                self.source_admin,
                f"CREATE TABLE {SOURCE_DB}.{table} (PRIMARY KEY (id)) "
                f"SELECT id, {quote(column)} FROM {SOURCE_DB}.{WIDE_TABLE} WHERE 1 = 0",
            )
            ddl = w.show_create(self.source_admin, f"{SOURCE_DB}.{table}")
            w.execute(self.target_admin, f"USE {DEBEZIUM_DB}", ddl)
        self._create_topics(list(tables.values()))
        self.worker.resume(self.names.source)
        for column, table in tables.items():
            w.execute(
                self.source_admin,
                f"INSERT INTO {SOURCE_DB}.{table} SELECT id, {quote(column)} FROM {SOURCE_DB}.{WIDE_TABLE} "
                f"WHERE id <= {rows}",
            )
        task = self.progress.add_task("compare wide: Debezium, one column at a time", total=len(columns))
        result: dict[str, Any] = {}
        try:
            for column, table in tables.items():
                result[column] = self._debezium_one_column(table, column, rows)
                self.progress.advance(task)
        finally:
            self.worker.halt(self.names.source)
        return {"rows": rows, "columns": result}

    def _debezium_one_column(self, table: str, column: str, rows: int) -> dict[str, Any]:
        sink = f"{self.names.sink}-{table}"
        self.worker.add(sink, sink_config(self.names, [table], self.target_admin, DEBEZIUM_DB))
        try:
            self._wait(
                lambda: sum(self.worker.sink_offsets(sink).values()) >= rows,
                f"Debezium: column {column}",
                timeout_s=120,
                check=lambda: self._check_debezium([sink]),
            )
        except StackError as exc:
            return {"status": "failed", "error": str(exc)}
        finally:
            self.worker.remove(sink)
        differences = column_differences(self.source_admin, SOURCE_DB, self.target_admin, DEBEZIUM_DB, table)
        wrong = differences["columns_wrong"].get(column)
        if wrong is None and not differences["rows_missing"]:
            return {"status": "ok"}
        return {
            "status": "wrong",
            "rows_wrong": wrong["rows"] if wrong else 0,
            "example": wrong["example"] if wrong else None,
            "rows_missing": differences["rows_missing"],
        }

    # --- checks -----------------------------------------------------------------------------
    def _equality(self) -> dict[str, dict[str, bool]]:
        result: dict[str, dict[str, bool]] = {"ours": {}, "debezium": {}}
        for table in self.tables:
            if table == "latency":
                source = one_row(self.source_admin, f"SELECT {LATENCY_FINGERPRINT} FROM {SOURCE_DB}.latency")
                for side, db in (("ours", OURS_DB), ("debezium", DEBEZIUM_DB)):
                    result[side][table] = source == one_row(
                        self.target_admin, f"SELECT {LATENCY_FINGERPRINT} FROM {db}.latency"
                    )
                continue
            source = checksum(self.source_admin, f"{SOURCE_DB}.{table}")
            for side, db in (("ours", OURS_DB), ("debezium", DEBEZIUM_DB)):
                result[side][table] = source == checksum(self.target_admin, f"{db}.{table}")
        return result

    # --- helpers ----------------------------------------------------------------------------
    def _next_marker(self) -> int:
        self._marker -= 1
        w.execute(
            self.source_admin, f"INSERT INTO {SOURCE_DB}.latency VALUES ({self._marker}, NOW(6), 'marker')"
        )
        return self._marker

    def _wait(
        self,
        condition: Callable[[], bool],
        what: str,
        timeout_s: float | None = STALL_S,
        check: Callable[[], None] | None = None,
        raise_on_timeout: bool = True,
    ) -> None:
        """Until ``condition()`` holds, calling ``check`` (which raises on a failure) every 5 s;
        ``timeout_s`` None: no limit (``condition`` itself raises on a stall)."""
        checked = time.monotonic()

        def met() -> bool:
            nonlocal checked
            if condition():
                return True
            if check is not None and time.monotonic() - checked > 5:
                check()
                checked = time.monotonic()
            return False

        try:
            wait_until(met, math.inf if timeout_s is None else timeout_s, SAMPLE_S, what)
        except WaitTimeout as exc:
            if raise_on_timeout:
                raise StackError(f"timed out after {timeout_s:.0f}s waiting for {what}") from exc


def _versus(ours: Rate, debezium: Rate | None) -> dict[str, Any]:
    return {
        "rows": ours.rows,
        "ours_rows_s": round(ours.rows_s),
        "ours_seconds": round(ours.seconds, 1),
        "debezium_rows": debezium.rows if debezium else None,
        "debezium_rows_s": round(debezium.rows_s) if debezium else None,
        "debezium_seconds": round(debezium.seconds, 1) if debezium else None,
        "ratio": round(ours.rows_s / debezium.rows_s, 2) if debezium and debezium.rows_s else None,
    }


def topic_ends(bootstrap: str, topics: list[str]) -> dict[str, int]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-compare-watermarks"})
    try:
        return {t: consumer.get_watermark_offsets(TopicPartition(t, 0), timeout=30)[1] for t in topics}
    finally:
        consumer.close()


def _count(url: DatabaseUrl, sql: str) -> int:
    return int(one_row(url, sql)[0])
