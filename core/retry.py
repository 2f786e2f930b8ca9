"""The one retry policy: transient errors are retried with exponential backoff and jitter,
each wait capped, the whole attempt bounded by a deadline on the monotonic clock; anything else
propagates at once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    stop_when_event_set,
    wait_exponential_jitter,
)

from binlog_pipeline.core.config import Settings
from binlog_pipeline.core.errors import TransientError
from binlog_pipeline.core.health import Health
from binlog_pipeline.core.metrics import RETRIES

T = TypeVar("T")
log = logging.getLogger(__name__)


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning("transient error, retrying: %s", error, extra={"attempt": state.attempt_number})


def observed_retry(component: str, health: Health) -> Callable[[RetryCallState], None]:
    """Log the retry, count it by the class of its underlying error, and mark the process
    not ready until the retried work succeeds."""

    def on_retry(state: RetryCallState) -> None:
        _log_retry(state)
        error = state.outcome.exception() if state.outcome else None
        cause = (error.__cause__ or error) if error is not None else None
        RETRIES.labels(component, type(cause).__name__).inc()
        health.problem(f"retrying after: {error}")

    return on_retry


def _sleep_until(event: threading.Event) -> Callable[[float], None]:
    """tenacity's sleep, cut short when ``event`` is set."""

    def sleep(seconds: float) -> None:
        event.wait(seconds)

    return sleep


def retrying(
    settings: Settings,
    fn: Callable[[], T],
    on_retry: Callable[[RetryCallState], None] = _log_retry,
    stopping: threading.Event | None = None,
) -> T:
    """Call ``fn`` until it succeeds, retrying transient errors; a set ``stopping`` event (SIGTERM)
    ends the waiting at once and re-raises the last error — the caller then stops cleanly."""
    initial = settings.retry_initial_backoff_ms / 1000
    event = stopping or threading.Event()
    retryer = Retrying(
        retry=retry_if_exception_type(TransientError),
        wait=wait_exponential_jitter(
            multiplier=initial, max=settings.retry_max_backoff_ms / 1000, jitter=initial
        ),
        stop=stop_after_delay(settings.retry_deadline_s) | stop_when_event_set(event),
        sleep=_sleep_until(event),
        before_sleep=on_retry,
        reraise=True,
    )
    return retryer(fn)
