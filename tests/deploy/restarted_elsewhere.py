"""A stack-fault test that restarts services from another process, as `binlog-pipeline chaos`
does: the new pids are recorded only in the stack's state file. Not collected by the suite (the
file name is no test_*.py); tests/deploy/test_no_server_outlives.py runs it in a session of its own
and checks that the session leaves no server behind."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.services import Services


@pytest.mark.stack_faults
def test_services_restarted_by_another_process(services: Services) -> None:
    assert services.stack is not None, "needs the session's own stack"
    for action in ("down", "up"):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "binlog_pipeline",
                "stack",
                action,
                "target",
                "kafka",
                f"--state-dir={services.stack.state_dir}",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
