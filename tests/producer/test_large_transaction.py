"""Memory is bounded by configuration, never by transaction size: a single 1,000,000-row source
transaction streams through producer and applier (slow suite)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.applier_harness import ApplierProcess, drop_target_database, equal
from tests.producer_harness import ProducerProcess, current_position
from tests.services import Services, connect

pytestmark = [pytest.mark.integration, pytest.mark.slow]
RSS_BOUND_MB = 400  # generous: what is proven is "bounded", the benchmark reports the figure


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_one_million_row_transaction(
    services: Services, source_db: str, topic_prefix: str, tmp_path: Path
) -> None:
    """One INSERT … SELECT of 1M rows in one source transaction: target equal, RSS bounded."""
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE `{source_db}`.big (id INT PRIMARY KEY, n BIGINT, s VARCHAR(32), d DECIMAL(12,2))"
        )
    producer = ProducerProcess(
        services, topic_prefix, tmp_path / "producer.log", start_position=current_position(services)
    ).start()
    applier = ApplierProcess(services, topic_prefix, tmp_path / "applier.log").start()
    peaks = {"producer": 0.0, "applier": 0.0}
    try:
        time.sleep(3)
        started = time.monotonic()
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            cur.execute(f"USE `{source_db}`")  # the sequence engine's seq_* tables live in any database
            cur.execute(
                f"INSERT INTO `{source_db}`.big SELECT seq, seq * 7, CONCAT('row-', seq), seq / 100 "
                "FROM seq_1_to_1000000"
            )  # MariaDB sequence engine
        deadline = time.monotonic() + 900
        while not equal(services, source_db, ("big",)):
            assert time.monotonic() < deadline, "1M rows did not arrive in 15 minutes"
            for name, proc in (("producer", producer), ("applier", applier)):
                assert proc.proc is not None and proc.proc.poll() is None, proc.log()
                peaks[name] = max(peaks[name], rss_mb(proc.proc.pid))
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        print(
            f"\n1M-row transaction: {elapsed:.1f}s end to end ({1_000_000 / elapsed:,.0f} rows/s); "
            f"peak RSS producer {peaks['producer']:.0f} MB, applier {peaks['applier']:.0f} MB"
        )
    finally:
        assert producer.terminate() == 0, producer.log()
        assert applier.terminate() == 0, applier.log()
        drop_target_database(services, source_db)
    assert peaks["producer"] < RSS_BOUND_MB and peaks["applier"] < RSS_BOUND_MB, peaks
