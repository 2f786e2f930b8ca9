"""The one retry policy (core/retry.py): transient errors retried with capped exponential backoff
and jitter until a deadline, anything else at once; a stop request ends the waiting."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from prometheus_client import REGISTRY
from tenacity import RetryCallState

from binlog_pipeline.core.config import Settings
from binlog_pipeline.core.errors import PermanentError, TransientError
from binlog_pipeline.core.health import Health
from binlog_pipeline.core.retry import observed_retry, retrying


def policy(initial_ms: int = 10, max_ms: int = 40, deadline_s: float = 5.0) -> Settings:
    return Settings(
        retry_initial_backoff_ms=initial_ms, retry_max_backoff_ms=max_ms, retry_deadline_s=deadline_s
    )


def failing(errors: list[BaseException], result: str = "done") -> tuple[Callable[[], str], list[float]]:
    """A function that raises ``errors`` one per call, then returns ``result``; and its call times."""
    calls: list[float] = []

    def fn() -> str:
        calls.append(time.monotonic())
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    return fn, calls


def test_transient_errors_are_retried_with_capped_exponential_backoff() -> None:
    """Each wait is initial·2ⁿ plus up to initial of jitter, never above the cap; then success."""
    fn, calls = failing([TransientError(f"try {i}") for i in range(4)])
    waits: list[float] = []

    def on_retry(state: RetryCallState) -> None:
        waits.append(state.upcoming_sleep)

    assert retrying(policy(initial_ms=10, max_ms=40), fn, on_retry) == "done"
    assert len(calls) == 5
    assert 0.010 <= waits[0] <= 0.020 and 0.020 <= waits[1] <= 0.030
    assert waits[2:] == [0.040, 0.040]


@pytest.mark.parametrize("error", [PermanentError("bad data"), ValueError("a bug")])
def test_anything_else_propagates_at_once(error: Exception) -> None:
    """A permanent error (or a bug) is raised on its first occurrence, never retried."""
    fn, calls = failing([error])
    retried: list[int] = []
    with pytest.raises(type(error)) as raised:
        retrying(policy(), fn, lambda state: retried.append(state.attempt_number))
    assert raised.value is error
    assert len(calls) == 1 and retried == []


def test_the_deadline_ends_retrying_with_the_last_error() -> None:
    """Past the deadline (monotonic clock) the last transient error is raised."""
    errors = [TransientError(f"try {i}") for i in range(1000)]
    fn, calls = failing(errors)
    started = time.monotonic()
    with pytest.raises(TransientError) as raised:
        retrying(policy(initial_ms=5, max_ms=20, deadline_s=0.2), fn)
    assert raised.value is errors[len(calls) - 1]
    assert 1 < len(calls) < 100
    assert 0.2 <= time.monotonic() - started < 5


def test_a_stop_request_ends_the_wait_at_once() -> None:
    """A set ``stopping`` event cuts a long backoff short and re-raises the error: SIGTERM does not
    wait out a retry."""
    stopping = threading.Event()
    fn, calls = failing([TransientError("first"), TransientError("second")])
    started = time.monotonic()
    with pytest.raises(TransientError, match="second"):
        retrying(policy(initial_ms=60_000, max_ms=60_000), fn, lambda state: stopping.set(), stopping)
    assert len(calls) == 2
    assert time.monotonic() - started < 5


def test_observed_retry_counts_by_cause_and_marks_not_ready() -> None:
    """A retry is counted under its underlying error's class and leaves the process not ready
    until progress is reported."""
    health = Health()
    health.progress()
    labels = {"component": "unit-test", "error": "ConnectionResetError"}
    before = REGISTRY.get_sample_value("binlog_pipeline_retries_total", labels) or 0.0
    error = TransientError("target gone")
    error.__cause__ = ConnectionResetError("reset")
    fn, _ = failing([error])
    assert retrying(policy(), fn, observed_retry("unit-test", health)) == "done"
    assert REGISTRY.get_sample_value("binlog_pipeline_retries_total", labels) == before + 1
    assert health.ready() == (False, "retrying after: target gone")
