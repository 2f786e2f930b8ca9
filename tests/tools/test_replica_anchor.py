"""The bench's native anchor for real: a third mariadbd replicates a small backlog from the
source, serial and with parallel threads, from the same starting rows; a failure names the phase
and the replication error, and the replica never outlives its block. (`bench --quick` runs the
whole anchor, ours end to end included: tests/tools/test_bench.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from binlog_pipeline_tools.bench import workloads as w
from binlog_pipeline_tools.bench.replica_anchor import (
    PARALLEL_THREADS,
    STARTING_ROWS_DB,
    Backlog,
    NativeReplica,
    replica_server_id,
)
from rich.progress import Progress

from binlog_pipeline.core.errors import ToolError
from tests.services import Services, processes_under, query

pytestmark = pytest.mark.integration
TABLES = ("t1", "t2")
PREPARED_ROWS = 300  # per table
TRANSACTIONS = 150  # in the backlog, 4 row changes each


@pytest.fixture
def mariadb_source(services: Services) -> Services:
    version = str(query(services.source_admin, "SELECT VERSION()")[0][0])
    if "MariaDB" not in version:
        pytest.skip(f"the native anchor replicates MariaDB into MariaDB; the source is {version}")
    return services


def write_backlog(services: Services, db: str) -> Backlog:
    """Tables created and filled (like sysbench prepare), then a backlog of small transactions
    (like oltp_write_only: an update, a delete and an insert of the same id, another update)."""
    before = w.binlog_position(services.source_admin)
    for table in TABLES:
        w.execute(
            services.source_admin,
            f"CREATE TABLE `{db}`.{table} (id INT PRIMARY KEY AUTO_INCREMENT, k INT NOT NULL, "
            "c VARCHAR(40) NOT NULL, KEY (k))",
            f"INSERT INTO `{db}`.{table} (k, c) SELECT seq % 97, CONCAT('c', seq) FROM `{db}`.seq_1_to_{PREPARED_ROWS}",
        )
    start = w.binlog_position(services.source_admin)
    conn = w.connect(services.source_admin, autocommit=False)
    try:
        with conn.cursor() as cur:
            for n in range(TRANSACTIONS):
                table, row = TABLES[n % 2], 1 + n * 7 % PREPARED_ROWS
                cur.execute(f"UPDATE `{db}`.{table} SET k = k + 1 WHERE id = {row}")
                cur.execute(f"DELETE FROM `{db}`.{table} WHERE id = {row + 1}")
                cur.execute(f"INSERT INTO `{db}`.{table} VALUES ({row + 1}, {n}, 'again')")
                cur.execute(f"UPDATE `{db}`.{table} SET c = 'updated' WHERE id = {row + 2}")
                conn.commit()
    finally:
        conn.close()
    end = w.binlog_position(services.source_admin)
    return Backlog(db, TABLES, before, start, end, rows=4 * TRANSACTIONS)


def native(services: Services, home: Path, backlog: Backlog) -> NativeReplica:
    source_id = int(query(services.source_admin, "SELECT @@server_id")[0][0])
    return NativeReplica(
        home,
        services.source_url,
        services.source_admin,
        backlog,
        replica_server_id({source_id, 5301, 5401}),
        Progress(disable=True),
    )


def test_native_replica_drains_the_backlog_serial_and_parallel(
    mariadb_source: Services, source_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Provisioned up to the backlog's start, the replica replays the backlog from the same
    starting rows serially and with parallel threads, ends CHECKSUM-equal to the source each time,
    and is stopped with its datadir removed afterwards. Its home is a relative path, as under
    bench's default --out-dir (mariadbd resolved a relative datadir against /usr)."""
    backlog = write_backlog(mariadb_source, source_db)
    monkeypatch.chdir(tmp_path)
    anchor = native(mariadb_source, Path("logs"), backlog)
    with anchor:
        pid = anchor.replica.pid
        starting = w.checksum(anchor.replica.admin_url, f"`{STARTING_ROWS_DB}`.t1")
        assert starting[1] == PREPARED_ROWS
        serial = anchor.drain(0)
        parallel = anchor.drain(PARALLEL_THREADS)
        for table in backlog.qualified():
            assert w.checksum(anchor.replica.admin_url, table) == w.checksum(
                mariadb_source.source_admin, table
            )
        assert anchor.replica.variable("slave_parallel_threads") == str(PARALLEL_THREADS)
    for run in (serial, parallel):
        assert run.rows == backlog.rows and run.seconds >= run.first_row_s >= 0 and run.rows_s > 0
    assert pid is not None and processes_under(tmp_path) == {}
    assert not anchor.replica.server.datadir.exists() and anchor.replica.log_path.exists()


def test_a_failing_native_replica_names_its_phase_and_is_stopped(
    mariadb_source: Services, source_db: str, tmp_path: Path
) -> None:
    """A replica provisioned from a position after the tables were created stops on the first
    row event (no such table): the ToolError names the phase and the replication error, and the
    replica does not outlive the failure."""
    backlog = write_backlog(mariadb_source, source_db)
    wrong = Backlog(backlog.database, backlog.tables, backlog.start, backlog.end, backlog.end, backlog.rows)
    anchor = native(mariadb_source, tmp_path, wrong)
    with pytest.raises(ToolError, match=r"native replica \(provisioning.*SQL thread error 1146") as raised:
        anchor.__enter__()  # provisions, or stops the replica and raises
    assert "see " + str(anchor.replica.log_path) in str(raised.value)
    assert processes_under(tmp_path) == {} and not anchor.replica.server.datadir.exists()
