"""The one way the pipeline and its tools wait for a condition (core/waiting.py), without services."""

from __future__ import annotations

import time

import pytest

from binlog_pipeline.core.waiting import Deadline, WaitTimeout, wait_until


def test_returns_the_first_true_value() -> None:
    """wait_until polls until the predicate returns a true value and hands that value back."""
    answers = iter([None, 0, "", "ready", "later"])
    assert wait_until(lambda: next(answers), timeout_s=5, interval_s=0.001) == "ready"
    assert next(answers) == "later"  # not called again once it succeeded


def test_timeout_names_what_was_awaited() -> None:
    """After the timeout a TimeoutError names what was awaited and how long, having polled meanwhile."""
    calls = 0

    def never() -> bool:
        nonlocal calls
        calls += 1
        return False

    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"timed out after 0\.2 s waiting for the broker") as caught:
        wait_until(never, timeout_s=0.2, interval_s=0.01, what="the broker")
    assert 0.2 <= time.monotonic() - started < 2
    assert calls > 2
    assert isinstance(caught.value, WaitTimeout)
    assert caught.value.what == "the broker"
    assert caught.value.__cause__ is None


def test_other_exceptions_propagate_at_once() -> None:
    """An exception not declared ignorable ends the wait at once, unchanged."""
    calls = 0

    def broken() -> bool:
        nonlocal calls
        calls += 1
        raise ValueError("bug")

    with pytest.raises(ValueError, match="bug"):
        wait_until(broken, timeout_s=5, interval_s=0.001)
    assert calls == 1


def test_ignored_exceptions_count_as_not_yet() -> None:
    """An ignorable exception is retried like a false result; the timeout is chained to the last one."""
    answers: list[object] = [ConnectionRefusedError("starting"), ConnectionRefusedError("starting"), 7]

    def probe() -> object:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert wait_until(probe, timeout_s=5, interval_s=0.001, ignoring=(OSError,)) == 7

    def refused() -> bool:
        raise ConnectionRefusedError("still starting")

    with pytest.raises(WaitTimeout) as caught:
        wait_until(refused, timeout_s=0.05, interval_s=0.01, what="the server", ignoring=(OSError,))
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


def test_the_predicate_runs_at_least_once() -> None:
    """A zero timeout still asks once: a condition that already holds is not a timeout."""
    assert wait_until(lambda: True, timeout_s=0) is True
    with pytest.raises(WaitTimeout):
        wait_until(lambda: False, timeout_s=0)


def test_deadline() -> None:
    """A Deadline counts down on the monotonic clock and raises, naming what was awaited, once passed."""
    deadline = Deadline(10, "the drain")
    assert not deadline.passed()
    assert 9 < deadline.left() <= 10
    deadline.check()
    passed = Deadline(0.01, "the drain")
    time.sleep(0.02)
    assert passed.passed()
    assert passed.left() == 0
    with pytest.raises(WaitTimeout, match="waiting for the drain"):
        passed.check()
