"""The native anchor: MariaDB's own replication applying the sysbench backlog our pipeline
replicates, next to ours end to end over the same binlog range — what a DBA compares us with.

The protocol (one at a time, same source range ``[start, end)``, same starting rows):

1. Once the target holds sysbench's prepared tables (the backlog's starting rows), they are
   copied into ``bench_sbtest_start`` on the target.
2. A third ``mariadbd`` (its own datadir, a free port, a server id of its own; no binlog, as the
   target) replicates from the position before ``sysbench prepare`` UNTIL the backlog's start:
   the source's own definitions and rows as of ``start``, copied into ``bench_sbtest_start``
   there too.
3. Native, per mode — serial as shipped (``slave_parallel_threads=0``), then 4 threads in the
   shipped ``slave_parallel_mode``: the replica's tables are reset to the starting rows, the
   channel is pointed at ``start`` with no relay logs (``RESET SLAVE ALL``: its IO thread reads the
   backlog from the source, as our producer must), and the run is timed from ``START SLAVE``
   until ``Exec_Master_Log_Pos`` reaches ``end``.
4. Ours: the target's tables are reset to the starting rows; producer (from ``start``, new topics)
   and applier (new group) are spawned together, cold, and timed from the spawn until the applier
   applied every row change of the range and the producer's checkpoint reached ``end``.

Each side's tables must then be ``CHECKSUM TABLE``-equal to the source's (which stays at ``end``
meanwhile). Rates: the range's row changes / seconds from the start command to the last applied.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.progress import Progress

from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.core.errors import PipelineError, ToolError
from binlog_pipeline_tools.bench import workloads as w
from binlog_pipeline_tools.bench.processes import APPLIED, PipelineProcess, caught_up
from binlog_pipeline_tools.stack.replica import Position, Replica, position_key

STARTING_ROWS_DB = "bench_sbtest_start"  # the backlog's starting rows, on the target and the replica
PARALLEL_THREADS = 4
SAMPLE_S = 0.25  # both sides are polled at this interval: the timings' resolution
STALL_S = 300.0  # no progress this long: the phase fails and says where it stood
FIRST_REPLICA_SERVER_ID = 3  # source 1, target 2 in the local stack


@dataclass(frozen=True)
class Backlog:
    """A binlog range of the source that only writes ``tables`` of ``database``, whose tables
    were created and filled between ``before`` and ``start``."""

    database: str
    tables: tuple[str, ...]
    before: Position
    start: Position
    end: Position
    rows: int  # row changes in [start, end)

    def qualified(self, database: str | None = None) -> list[str]:
        return [f"`{database or self.database}`.`{table}`" for table in self.tables]


@dataclass(frozen=True)
class Drained:
    """One side's run over the backlog, timed from its start command."""

    rows: int
    seconds: float  # start command → last row change applied
    first_row_s: float  # start command → first transaction applied (start-up)

    @property
    def rows_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_s": round(self.rows_s),
            "seconds": round(self.seconds, 2),
            "first_row_s": round(self.first_row_s, 2),
        }


def keep_starting_rows(url: DatabaseUrl, database: str, tables: tuple[str, ...]) -> None:
    """Copy ``tables`` of ``database`` as they are now into :data:`STARTING_ROWS_DB` on ``url``."""
    copy_tables(url, database, STARTING_ROWS_DB, tables)


def reset_to_starting_rows(url: DatabaseUrl, backlog: Backlog) -> None:
    copy_tables(url, STARTING_ROWS_DB, backlog.database, backlog.tables)


def copy_tables(url: DatabaseUrl, from_db: str, to_db: str, tables: tuple[str, ...]) -> None:
    """``to_db``'s ``tables`` become copies (definition and rows) of ``from_db``'s, on one server."""
    statements = [f"CREATE DATABASE IF NOT EXISTS `{to_db}`"]
    for table in tables:
        statements += [
            f"DROP TABLE IF EXISTS `{to_db}`.`{table}`",
            f"CREATE TABLE `{to_db}`.`{table}` LIKE `{from_db}`.`{table}`",
            f"INSERT INTO `{to_db}`.`{table}` SELECT * FROM `{from_db}`.`{table}`",
        ]
    w.execute(url, *statements)


def require_equal(side: str, url: DatabaseUrl, source_admin: DatabaseUrl, backlog: Backlog) -> None:
    """:class:`ToolError` unless every table on ``url`` is CHECKSUM-equal to the source's."""
    for table in backlog.qualified():
        ours, theirs = w.checksum(url, table), w.checksum(source_admin, table)
        if ours != theirs:
            raise ToolError(
                f"{side}: {table} differs from the source after the backlog "
                f"(CHECKSUM TABLE, rows): {ours} here, {theirs} on the source"
            )


def replica_server_id(taken: set[int]) -> int:
    """The first server id from :data:`FIRST_REPLICA_SERVER_ID` up that is not ``taken`` (the
    source's own — a replica skips events of its own id — and our readers' ids)."""
    server_id = FIRST_REPLICA_SERVER_ID
    while server_id in taken:
        server_id += 1
    return server_id


class NativeReplica:
    """MariaDB's replication of a :class:`Backlog` into a replica of its own under ``home``."""

    def __init__(
        self,
        home: Path,
        primary: DatabaseUrl,
        source_admin: DatabaseUrl,
        backlog: Backlog,
        server_id: int,
        progress: Progress,
    ) -> None:
        self.home = home
        self.primary = primary  # the user the replica reads the binlog as (REPLICATION SLAVE)
        self.source_admin = source_admin
        self.backlog = backlog
        self.progress = progress
        self.replica = Replica(home, server_id)

    def __enter__(self) -> NativeReplica:
        """Start the replica (a leftover datadir of an earlier run is removed first) and provision
        it with the starting rows."""
        shutil.rmtree(self.replica.server.datadir, ignore_errors=True)
        try:
            self.replica.start()
        except PipelineError as exc:
            raise ToolError(f"native replica: mariadbd did not start: {exc}") from exc
        try:
            self._provision()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the replica and remove its datadir (its error log stays, next to the run's logs)."""
        self.replica.stop()
        shutil.rmtree(self.replica.server.datadir, ignore_errors=True)

    @property
    def server_version(self) -> str:
        return self.replica.variable("version")

    def _provision(self) -> None:
        b = self.backlog
        phase = f"native replica (provisioning: the source from {_at(b.before)} until {_at(b.start)})"
        task = self.progress.add_task(f"{b.database}: provisioning the native replica", total=None)
        create = str(w.one_row(self.source_admin, f"SHOW CREATE DATABASE `{b.database}`")[1])
        w.execute(
            self.replica.admin_url,
            f"DROP DATABASE IF EXISTS `{b.database}`",
            f"DROP DATABASE IF EXISTS `{STARTING_ROWS_DB}`",
            create,
        )
        self.replica.replicate_from(self.primary, b.before)
        self.replica.start_replication(until=b.start)
        self._wait(phase, b.before, b.start, until=True)
        self.replica.stop_replication()
        executed = self.replica.status().executed
        if executed != b.start:
            raise ToolError(f"{phase}: stopped at {_at(executed)}, not at the backlog's start")
        keep_starting_rows(self.replica.admin_url, b.database, b.tables)
        self.progress.update(task, total=1, completed=1)

    def drain(self, parallel_threads: int) -> Drained:
        """Replicate the backlog from its start with ``parallel_threads`` (0: serial), timed from
        ``START SLAVE`` until the replica executed up to the backlog's end."""
        b = self.backlog
        phase = f"native replica ({mode_name(parallel_threads)})"
        task = self.progress.add_task(f"{b.database}: {phase}", total=None)
        # Every run, and ours, starts from tables built alike: copies of the starting rows.
        reset_to_starting_rows(self.replica.admin_url, b)
        self.replica.replicate_from(self.primary, b.start, parallel_threads)
        started = time.monotonic()
        self.replica.start_replication()
        first_at = self._wait(phase, b.start, b.end, until=False)
        finished = time.monotonic()
        self.replica.stop_replication()
        self.progress.update(task, total=1, completed=1)
        require_equal(phase, self.replica.admin_url, self.source_admin, b)
        return Drained(b.rows, finished - started, (first_at or finished) - started)

    def _wait(self, phase: str, origin: Position, target: Position, until: bool) -> float | None:
        """Poll the channel, started at ``origin``, until it executed up to ``target`` (``until``:
        and its SQL thread stopped there); returns when it was first seen past ``origin``."""
        last, last_moved = position_key(origin), time.monotonic()
        first_at: float | None = None
        while True:
            status = self.replica.status()
            now = time.monotonic()
            failure = status.failure()
            if failure:
                raise ToolError(
                    f"{phase}: stopped at {_at(status.executed)}: {failure}; see {self.replica.log_path}"
                )
            at = position_key(status.executed)
            if at > last:
                last, last_moved = at, now
                if first_at is None:
                    first_at = now - SAMPLE_S / 2  # it moved within the last interval
            if status.reached(target) and (not until or status.sql_running == "No"):
                return first_at
            if status.sql_running == "No":
                raise ToolError(
                    f"{phase}: the SQL thread stopped at {_at(status.executed)}, before {_at(target)}"
                )
            if now - last_moved > STALL_S:
                raise ToolError(
                    f"{phase}: no progress for {STALL_S:.0f}s at {_at(status.executed)} (IO thread "
                    f"{status.io_running}, read up to {_at(status.read)}); see {self.replica.log_path}"
                )
            time.sleep(SAMPLE_S)


def end_to_end(
    producer: PipelineProcess,
    applier: PipelineProcess,
    backlog: Backlog,
    progress: Progress,
) -> Drained:
    """Ours over the backlog: producer (configured to start at its start) and applier spawned
    together, cold, timed from the spawn until the applier applied every row change of the range
    and the producer's checkpoint reached its end. Both are stopped on the way out."""
    phase = "end to end (producer + applier started together)"
    task = progress.add_task(f"{backlog.database}: ours {phase}", total=backlog.rows)
    started = time.monotonic()
    first_at: float | None = None
    try:
        producer.spawn()
        applier.spawn()
        producer.wait_started()
        applier.wait_started()
        last, last_moved = 0.0, time.monotonic()
        while True:
            applied = applier.metrics().get(APPLIED, 0.0)
            now = time.monotonic()
            progress.update(task, completed=applied)
            if applied > last:
                last, last_moved = applied, now
                if first_at is None:
                    first_at = now - SAMPLE_S / 2
            if applied >= backlog.rows and caught_up(producer, applied, backlog.end):
                break
            if now - last_moved > STALL_S:
                raise ToolError(
                    f"{phase}: no progress for {STALL_S:.0f}s at {applied:.0f} of {backlog.rows} row "
                    f"changes; see {producer.log_path} and {applier.log_path}"
                )
            time.sleep(SAMPLE_S)
    except ToolError as exc:
        if str(exc).startswith(phase):
            raise
        raise ToolError(f"{phase}: {exc}") from exc
    finally:
        producer.stop()
        applier.stop()
    return Drained(backlog.rows, now - started, (first_at or now) - started)


def results(serial: Drained, parallel: Drained, ours: Drained, version: str, mode: str) -> dict[str, Any]:
    """The anchor's figures, as they go under ``workloads.sysbench`` in the results JSON."""
    return {
        "native_serial_rows_s": round(serial.rows_s),
        "native_parallel_rows_s": round(parallel.rows_s),
        "e2e_rows_s": round(ours.rows_s),
        "e2e_vs_native_serial": _ratio(ours, serial),
        "e2e_vs_native_parallel": _ratio(ours, parallel),
        "native_replica": {
            "server": version,
            "serial": {"slave_parallel_threads": 0, **serial.as_dict()},
            "parallel": {
                "slave_parallel_threads": PARALLEL_THREADS,
                "slave_parallel_mode": mode,
                **parallel.as_dict(),
            },
        },
        "e2e": ours.as_dict(),
    }


def mode_name(parallel_threads: int) -> str:
    kind = "serial" if parallel_threads == 0 else "parallel"
    return f"{kind}, slave_parallel_threads={parallel_threads}"


def _ratio(ours: Drained, native: Drained) -> float:
    return round(ours.rows_s / native.rows_s, 3) if native.rows_s else 0.0


def _at(position: Position) -> str:
    return f"{position[0]}:{position[1]}"
