"""Waiting for a condition, bounded by a deadline on the monotonic clock: one helper instead of a
hand-written "poll until deadline" loop at every place that waits.

:func:`wait_until` polls a predicate (built on tenacity, like :mod:`core.retry`); :class:`Deadline`
serves the loops that do other work between their checks (reading messages, supervising
processes). Both raise :class:`WaitTimeout` — a :class:`TimeoutError` that names what was awaited.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_fixed,
)

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """What was awaited did not happen in time."""

    def __init__(self, what: str, timeout_s: float) -> None:
        super().__init__(f"timed out after {timeout_s:g} s waiting for {what}")
        self.what = what
        self.timeout_s = timeout_s


def wait_until(
    predicate: Callable[[], T],
    timeout_s: float,
    interval_s: float = 0.5,
    what: str = "a condition",
    *,
    ignoring: tuple[type[BaseException], ...] = (),
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``predicate`` every ``interval_s`` until it returns a true value, and return that value.

    An exception from ``predicate`` propagates at once unless it is one of ``ignoring`` (then it
    counts as "not yet": e.g. a server that refuses connections while it starts). After
    ``timeout_s`` without success :class:`WaitTimeout` is raised, chained to the last ignored
    exception if the last call raised one. ``predicate`` runs at least once."""
    retryer = Retrying(
        retry=retry_if_result(lambda value: not value) | retry_if_exception_type(ignoring),
        wait=wait_fixed(interval_s),
        stop=stop_after_delay(timeout_s),
        sleep=sleep,
        reraise=False,
    )
    try:
        return retryer(predicate)
    except RetryError as exc:
        last = exc.last_attempt
        raise WaitTimeout(what, timeout_s) from (last.exception() if last.failed else None)


class Deadline:
    """A point on the monotonic clock ``timeout_s`` from now, for a loop that awaits ``what``."""

    def __init__(self, timeout_s: float, what: str = "a condition") -> None:
        self.timeout_s = timeout_s
        self.what = what
        self._at = time.monotonic() + timeout_s

    def left(self) -> float:
        """Seconds until the deadline (0 once it has passed)."""
        return max(self._at - time.monotonic(), 0.0)

    def passed(self) -> bool:
        return time.monotonic() > self._at

    def check(self) -> None:
        """Raise :class:`WaitTimeout` once the deadline has passed."""
        if self.passed():
            raise WaitTimeout(self.what, self.timeout_s)
