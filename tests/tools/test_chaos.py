"""`binlog-pipeline chaos` on the real stack: a seeded schedule of every fault kind under load, then
the proof (CHECKSUM TABLE, row counts, verify, dead letters, offsets at the end of every topic).
The oracle is shown to fail too: a target row changed behind the pipeline's back is reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from binlog_pipeline_tools.chaos import checks
from binlog_pipeline_tools.chaos.faults import KINDS, MEMBER_POLL_TIMEOUT_S, plan
from binlog_pipeline_tools.chaos.model import ChaosOptions, ChaosResult
from binlog_pipeline_tools.chaos.tcp_proxy import TcpProxy

from binlog_pipeline.core.config import load_settings
from tests.services import Services, connect

ALL_KINDS = sorted(KINDS)


def test_schedule_is_seeded_and_covers_every_kind_first() -> None:
    first = plan(7, 40, ALL_KINDS)
    assert first == plan(7, 40, ALL_KINDS)  # the seed reproduces the schedule
    assert first != plan(8, 40, ALL_KINDS)
    assert sorted(f.kind for f in first[: len(ALL_KINDS)]) == ALL_KINDS  # a short run hits all
    assert all(f.hold_s == 0 for f in first if not KINDS[f.kind].held)
    assert all(0.5 <= f.hold_s - KINDS[f.kind].min_hold_s <= 6.0 for f in first if KINDS[f.kind].held)
    # a stalled applier stays stopped past max.poll.interval.ms, so that it loses its partitions
    assert all(f.hold_s > MEMBER_POLL_TIMEOUT_S for f in first if f.kind == "applier_sigstop")
    # A failed run prints the command that replays it, with every option that shapes it.
    options = ChaosOptions(
        7, 40, ["broker_kill9", "applier_kill9"], max_hold_s=2.0, sysbench_tps=10, appliers=2
    )
    assert ChaosResult(options).reproduce() == (
        "binlog-pipeline chaos --seed 7 --faults 40 --kinds broker_kill9,applier_kill9 --max-hold 2 "
        "--sysbench-tps 10 --appliers 2"
    )


def run_chaos(
    services: Services, tmp_path: Path, seed: int, faults: int
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    if services.stack is None:
        pytest.skip("chaos stops and starts the stack's services: needs the local stack")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "binlog_pipeline",
            "chaos",
            f"--seed={seed}",
            f"--faults={faults}",
            f"--state-dir={services.stack.state_dir}",
            f"--out-dir={tmp_path}",
            "--name=run",
        ],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    path = tmp_path / "run.json"
    assert path.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    return result, json.loads(path.read_text())


def assert_clean(result: subprocess.CompletedProcess[str], figures: dict[str, Any], faults: int) -> None:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert figures["ok"] and figures["verdict_ok"] and figures["checksums_equal"]
    assert figures["faults_injected"] == faults and figures["recoveries"] == faults
    assert set(figures["faults_by_kind"]) == set(ALL_KINDS)
    assert figures["unplanned_exits"] == [] and figures["dead_letters"] == 0
    assert figures["differences"] == []
    assert len(figures["ddl"]) == 8 and figures["source_transactions"] > 0
    assert any(d.startswith("pt-online-schema-change") for d in figures["ddl"])
    assert all(t["verify"] == "equal" for t in figures["tables"].values())
    tables = set(figures["tables"])
    assert {
        "chaos.mixed",
        "chaos.keyless",
        "chaos.composite",
        "chaos.accounts",
        "chaos.late_renamed",
    } <= tables
    assert not {"chaos.late", "chaos.scratch", "chaos._composite_new", "chaos._composite_old"} & tables
    assert figures["appliers"] == 3
    for name, p in figures["partitions"].items():
        assert p["unapplied"] == 0 and p["committed"] == p["target_checkpoint"], name
    assert f"OK — seed {figures['seed']}" in result.stdout


@pytest.mark.integration
@pytest.mark.stack_faults
def test_chaos_short_run_then_the_oracle_catches_a_tampered_target(
    services: Services, tmp_path: Path
) -> None:
    result, figures = run_chaos(services, tmp_path, seed=11, faults=20)
    assert_clean(result, figures, 20)
    logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "run-logs").glob("*.log"))
    assert "CONFWARN" not in logs  # librdkafka warns when a client gets a setting it cannot use
    assert "Traceback" not in logs

    # The same checks, after the target was changed behind the pipeline's back, must fail.
    with connect(services.target_admin) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM chaos.mixed ORDER BY id LIMIT 1")
        cur.execute("UPDATE chaos_sb.sbtest1 SET k = k + 1 WHERE id = 7")
        cur.execute("CREATE TABLE chaos.scratch (id INT PRIMARY KEY)")  # as if the DROP was lost
    settings = load_settings(
        env={
            "BINLOG_PIPELINE_BOOTSTRAP_SERVERS": services.bootstrap,
            "BINLOG_PIPELINE_TOPIC_PREFIX": figures["topic_prefix"],
        }
    )
    tables = [(name.split(".")[0], name.split(".")[1]) for name in figures["tables"]]
    verdict = checks.judge(
        settings,
        figures["group"],
        services.source_admin,
        services.target_admin,
        tables,
        f"{figures['topic_prefix']}-dead-letters",
    )
    assert not verdict.ok
    joined = "\n".join(verdict.differences)
    assert "chaos.mixed: CHECKSUM/rows" in joined and "chaos.mixed: verify" in joined
    assert "chaos_sb.sbtest1: verify found differences: id=7" in joined
    assert "chaos.scratch: on the target only" in joined


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.stack_faults
def test_chaos_long_run(services: Services, tmp_path: Path) -> None:
    result, figures = run_chaos(services, tmp_path, seed=2026, faults=200)
    assert_clean(result, figures, 200)


def test_a_closed_proxy_frees_its_port_at_once() -> None:
    """A proxy closed while its accept thread waits for a connection must stop listening, so that
    the next proxy can take the same port (the chaos run's broker proxy takes the stack's fixed
    port that tests' proxies used before it: "Address already in use" before the fix)."""
    first = TcpProxy(1)
    first.close()
    TcpProxy(1, listen_port=first.port).close()
