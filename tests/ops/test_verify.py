"""verify compares source and target in primary-key chunks and finds every difference."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.applier_harness import drop_target_database
from tests.services import Services, connect

pytestmark = pytest.mark.integration

DDL = [
    "CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(20), d DECIMAL(10,2) NULL)",
    "CREATE TABLE `{db}`.c (a INT, b VARCHAR(5), v INT, PRIMARY KEY (a, b))",
    "CREATE TABLE `{db}`.np (v INT)",
]


def on_both(services: Services, db: str, *statements: str) -> None:
    for url in (services.source_admin, services.target_admin):
        with connect(url) as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{db}`")
            cur.execute(f"USE `{db}`")  # the sequence engine's seq_* tables need a current database
            for statement in statements:
                cur.execute(statement.format(db=db))


def on_target(services: Services, *statements: str) -> None:
    with connect(services.target_admin) as conn, conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)


def verify(services: Services, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "binlog_pipeline", "verify", "--retries", "1", "--retry-wait", "0.2", *args],
        capture_output=True,
        text=True,
        env=services.env(),
        timeout=300,
    )


@pytest.fixture
def tables(services: Services, source_db: str) -> str:
    on_both(
        services,
        source_db,
        *DDL,
        "INSERT INTO `{db}`.t SELECT seq, CONCAT('v', seq), IF(seq % 7 = 0, NULL, seq / 4) FROM seq_1_to_2500",
        "INSERT INTO `{db}`.c SELECT seq % 10, CONCAT('k', seq), seq FROM seq_1_to_300",
        "INSERT INTO `{db}`.np SELECT seq FROM seq_1_to_50",
    )
    yield source_db
    drop_target_database(services, source_db)


def test_equal_tables_pass(services: Services, tables: str) -> None:
    """Identical tables (several chunks, a composite key, no key) verify equal, exit 0."""
    result = verify(services, "--database", tables, "--chunk-rows", "1000")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{tables}.t -> {tables}.t: equal (2500 rows, 3 chunks)" in result.stdout
    assert f"{tables}.c -> {tables}.c: equal (300 rows" in result.stdout
    assert f"{tables}.np -> {tables}.np: equal (50 rows" in result.stdout


def test_changed_missing_and_extra_rows_are_found(services: Services, tables: str) -> None:
    """A changed, a missing and two extra rows (below the first and above the last key) are each
    reported by key; a difference in a keyless table is reported; exit 1."""
    db = tables
    on_target(
        services,
        f"UPDATE `{db}`.t SET v = 'tampered' WHERE id = 1500",
        f"DELETE FROM `{db}`.t WHERE id = 10",
        f"INSERT INTO `{db}`.t VALUES (-5, 'early', NULL), (99999, 'late', 1)",
        f"UPDATE `{db}`.c SET v = 0 WHERE a = 3 AND b = 'k13'",
        f"DELETE FROM `{db}`.np LIMIT 1",
    )
    result = verify(services, "--database", db, "--chunk-rows", "1000")
    assert result.returncode == 1
    out = result.stdout
    assert f"{db}.t -> {db}.t: DIFFERENT" in out
    for line in (
        "changed on target: id=1500",
        "missing on target: id=10",
        "extra on target: id=-5",
        "extra on target: id=99999",
        "changed on target: a=3, b='k13'",
        "no primary key: CHECKSUM/rows differ",
    ):
        assert line in out, out


def test_single_table_option(services: Services, tables: str) -> None:
    """--table limits the check to one table."""
    result = verify(services, "--table", f"{tables}.np")
    assert result.returncode == 0 and result.stdout.count("->") == 1
