"""Run the producer in-process (a thread) or as a real child process (for kill -9 / SIGTERM)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from binlog_pipeline.config import Settings, load_settings
from producer.runner import ProducerRunner
from tests.services import Services, query


def producer_settings(services: Services, prefix: str, **overrides: Any) -> Settings:
    flags = {
        "source_url": services.source_url.unmasked(),
        "bootstrap_servers": services.bootstrap,
        "topic_prefix": prefix,
        "transactional_id": f"producer-{prefix}",
        "retry_deadline_s": 60,
        **overrides,
    }
    return load_settings(env={}, flags=flags)


def current_position(services: Services) -> str:
    file, pos = query(services.source_admin, "SHOW MASTER STATUS")[0][:2]
    return f"{file}:{pos}"


class ProducerThread:
    """The real ProducerRunner on a thread; ``stop()`` is what SIGTERM does."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stop_event = threading.Event()
        self.runner = ProducerRunner(settings, self.stop_event)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.runner.run()
        except BaseException as exc:
            self.error = exc

    def __enter__(self) -> ProducerThread:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 30) -> None:
        self.stop_event.set()
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "producer did not stop"
        if self.error is not None:
            raise self.error

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_event.set()
        self._thread.join(30)


class ProducerProcess:
    """``binlog-producer`` as a child process with the given settings as flags."""

    def __init__(self, services: Services, prefix: str, log_path: Path, **settings: Any) -> None:
        self.args = [sys.executable, "-m", "producer", "--topic-prefix", prefix]
        self.args += ["--set", f"transactional_id=producer-{prefix}", "--set", "retry_deadline_s=60"]
        for key, value in settings.items():
            self.args += ["--set", f"{key}={value}"]
        self.env = services.env()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ProducerProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def terminate(self, timeout_s: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout_s)
