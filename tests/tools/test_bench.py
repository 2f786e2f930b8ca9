"""`binlog-pipeline bench` end to end at a tiny scale: it runs every phase against the real stack,
writes the results JSON with the keys runs are compared by, the markdown table and the plot, and
finds source and target equal. (Speed is reported by the benchmark, never asserted here.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import Services

pytestmark = pytest.mark.integration
KEYS = (
    "machine",
    "decode_ceiling_rows_s",
    "apply_ceiling_rows_s",
    "producer_rows_s",
    "applier_rows_s",
    "producer_ratio",
    "applier_ratio",
    "e2e_p50_ms",
    "e2e_p99_ms",
    "rss_peak_mb",
    "resume_s",
)


def run_bench(
    services: Services, out_dir: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """`binlog-pipeline bench --quick --scale 0.05 …` against the test stack, results as ``t.*``."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "binlog_pipeline",
            "bench",
            "--quick",
            "--scale",
            "0.05",
            *args,
            "--out-dir",
            str(out_dir),
            "--name",
            "t",
        ],
        capture_output=True,
        text=True,
        env={
            **services.env(),
            "BINLOG_PIPELINE_STACK_SOURCE_ADMIN_URL": services.source_admin.unmasked(),
            "BINLOG_PIPELINE_STACK_TARGET_ADMIN_URL": services.target_admin.unmasked(),
            **(env or {}),
        },
        timeout=timeout,
    )


@pytest.mark.slow  # about two minutes: the benchmark is a development tool, run with --run-slow
def test_bench_quick_at_tiny_scale(services: Services, tmp_path: Path) -> None:
    result = run_bench(services, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = json.loads((tmp_path / "t.json").read_text())
    for key in KEYS:
        assert key in results, key
    for key in (*KEYS[1:7], "resume_s"):
        assert results[key] > 0, (key, results[key])
    assert results["rss_peak_mb"]["producer"] > 0 and results["rss_peak_mb"]["applier"] > 0
    assert results["e2e_p99_ms"] >= results["e2e_p50_ms"] > 0
    assert all(results["equal"].values()), results["equal"]
    sysbench = results["workloads"]["sysbench"]
    assert sysbench["sysbench_tps"] > 0
    # the native anchor: MariaDB's own replica, serial and parallel, and ours end to end, same backlog
    for key in ("native_serial_rows_s", "native_parallel_rows_s", "e2e_rows_s"):
        assert sysbench[key] > 0, (key, sysbench[key])
    assert sysbench["e2e_vs_native_serial"] == pytest.approx(
        sysbench["e2e_rows_s"] / sysbench["native_serial_rows_s"], rel=0.01
    )
    assert sysbench["e2e_vs_native_parallel"] > 0
    assert sysbench["native_replica"]["parallel"]["slave_parallel_threads"] == 4
    fixed = sysbench["fixed_rate"]
    assert fixed["e2e_p99_ms"] >= fixed["e2e_p50_ms"] > 0, fixed  # the probe beside fixed-rate sysbench
    snapshot = results["workloads"]["snapshot"]
    assert (
        snapshot["read_ceiling_rows_s"] > 0
        and snapshot["producer_rows_s"] > 0
        and snapshot["applier_rows_s"] > 0
    )
    report = (tmp_path / "t.md").read_text()
    assert "| bulk (large txns + one huge txn) |" in report
    assert "| MariaDB replica, serial (slave_parallel_threads=0, as shipped) |" in report
    assert not (tmp_path / "t-logs" / "replica" / "data").exists()  # the replica's datadir went with it
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
