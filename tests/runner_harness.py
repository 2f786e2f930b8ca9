"""Run a producer or applier runner in-process (a thread; ``stop()`` is what SIGTERM does) or its
CLI as a real child process (for kill -9 and SIGTERM)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

from binlog_pipeline_tools.stack.process import terminate

from tests.services import Services


class Runner(Protocol):
    def run(self) -> None: ...


R = TypeVar("R", bound=Runner)


class RunnerThread(Generic[R]):
    def __init__(self, make: Callable[[threading.Event], R]) -> None:
        self.stop_event = threading.Event()
        self.runner: R = make(self.stop_event)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.runner.run()
        except BaseException as exc:
            self.error = exc

    def __enter__(self) -> RunnerThread[R]:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 60) -> None:
        """Stop as SIGTERM would and re-raise what the runner raised, if anything."""
        self.stop_event.set()
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "runner did not stop"
        if self.error is not None:
            raise self.error

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_event.set()
        self._thread.join(60)


class CliProcess:
    """``python -m <module>`` with settings as ``--set`` flags, output appended to ``log_path``."""

    def __init__(
        self, module: str, services: Services, log_path: Path, args: list[str], settings: dict[str, Any]
    ) -> None:
        self.args = [sys.executable, "-m", module, *args]
        for key, value in settings.items():
            self.args += ["--set", f"{key}={value}"]
        self.env = services.env()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> CliProcess:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` (e.g. SIGSTOP / SIGCONT to freeze the whole process, threads and all)."""
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self, timeout_s: float = 60) -> int:
        """SIGTERM, and the exit code (-9 when it had to be killed after ``timeout_s``)."""
        assert self.proc is not None
        return terminate(self.proc, timeout_s)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]
