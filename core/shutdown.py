"""The stop flag, installed before anything heavy is imported, so that a SIGTERM that arrives
while the process is still starting is a clean stop too (not the default action: death)."""

from __future__ import annotations

import signal
import threading

STOP = threading.Event()


def install() -> None:
    def handle(_signum: int, _frame: object) -> None:
        STOP.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
