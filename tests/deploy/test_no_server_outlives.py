"""A test session leaves no server behind, even when another process restarted one of the
stack's services (as `binlog-pipeline chaos` does in its own process, recording the new pid only
in the stack's state file): a pytest session with its own stack runs such a stack-fault test
(tests/deploy/restarted_elsewhere.py), and afterwards no process names its base temp dir.
Before the session fixture read the state file again, the restarted mariadbd and broker stayed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import processes_under
from tests.source_copy import ROOT

pytestmark = pytest.mark.integration


def test_a_service_restarted_by_another_process_is_stopped_with_the_session(tmp_path: Path) -> None:
    basetemp = tmp_path / "session"
    # No BINLOG_PIPELINE_* variables: the inner session starts (and must stop) its own stack.
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINLOG_PIPELINE_")}
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                f"--basetemp={basetemp}",
                str(ROOT / "tests" / "deploy" / "restarted_elsewhere.py"),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        # The session's own check (conftest.no_server_outlives_the_session) fails it otherwise.
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        assert "1 passed" in result.stdout, result.stdout[-2000:]
    finally:
        left = processes_under(basetemp)
    assert left == {}, left
