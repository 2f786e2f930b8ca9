"""Readiness of a running producer or applier: connected and making progress.

The main loop reports ``progress()`` whenever it has proof that its connections work (a Kafka
transaction committed, a source heartbeat or row read; a batch committed or an idle poll with
Kafka reachable) and ``problem(reason)`` when it starts retrying. Ready means: no open problem and
progress within ``stale_after_s``.
"""

from __future__ import annotations

import threading
import time


class Health:
    def __init__(self, stale_after_s: float = 60.0) -> None:
        self._stale_after_s = stale_after_s
        self._lock = threading.Lock()
        self._last_progress: float | None = None
        self._problem: str | None = "starting"

    def progress(self) -> None:
        with self._lock:
            self._last_progress = time.monotonic()
            self._problem = None

    def problem(self, reason: str) -> None:
        with self._lock:
            self._problem = reason

    @property
    def open_problem(self) -> str | None:
        with self._lock:
            return self._problem

    def ready(self) -> tuple[bool, str]:
        """(ready, why) — the reason is what /readyz prints."""
        with self._lock:
            if self._problem is not None:
                return False, self._problem
            if self._last_progress is None:
                return False, "starting"
            idle = time.monotonic() - self._last_progress
            if idle > self._stale_after_s:
                return False, f"no progress for {idle:.0f}s"
            return True, "ready"
