"""The producer and the applier as the benchmark runs them: real child processes (the installed
CLIs), observed only from outside — their /metrics endpoint and the kernel's peak RSS."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client import Counter, Gauge
from prometheus_client.parser import text_string_to_metric_families

from binlog_pipeline.core.errors import ToolError
from binlog_pipeline.core.metrics import (
    APPLIER_END_TO_END_LAG,
    APPLIER_ROWS_APPLIED,
    PRODUCER_CHECKPOINT_FILE,
    PRODUCER_CHECKPOINT_POSITION,
    PRODUCER_ROWS_PRODUCED,
    PRODUCER_TRANSACTIONS,
    binlog_file_index,
    sample_name,
)
from binlog_pipeline.core.waiting import WaitTimeout, wait_until
from binlog_pipeline_tools.stack.process import terminate


class ProcessFailed(ToolError):
    """A pipeline process did not start, or exited while it should be running."""


def sample_key(metric: Counter | Gauge, **labels: str) -> str:
    """The key :meth:`PipelineProcess.metrics` files a sample of ``metric`` under: with ``labels``
    that one sample, without them the sum of all of its samples."""
    name = sample_name(metric)
    if not labels:
        return name
    return name + "{" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}"


PRODUCED = sample_key(PRODUCER_ROWS_PRODUCED)
APPLIED = sample_key(APPLIER_ROWS_APPLIED)
END_TO_END_LAG = sample_key(APPLIER_END_TO_END_LAG)
KAFKA_TRANSACTIONS_COMMITTED = sample_key(PRODUCER_TRANSACTIONS, outcome="committed")


def caught_up(producer: PipelineProcess, applied: float, end: tuple[str, int]) -> bool:
    """The producer's committed checkpoint reached ``end`` and the applier applied (``applied``,
    read before this) all the producer produced."""
    produced = producer.metrics()
    reached = producer_checkpoint(produced) >= (binlog_file_index(end[0]), end[1])
    return reached and applied >= produced.get(PRODUCED, 0.0)


def producer_checkpoint(samples: dict[str, float]) -> tuple[float, float]:
    """(binlog file index, position) of the producer's committed checkpoint, from its samples."""
    return (
        samples.get(sample_key(PRODUCER_CHECKPOINT_FILE), 0),
        samples.get(sample_key(PRODUCER_CHECKPOINT_POSITION), 0),
    )


class PipelineProcess:
    def __init__(self, module: str, env: dict[str, str], settings: dict[str, object], log_path: Path) -> None:
        self.module = module
        self.args = [sys.executable, "-m", module]
        for key, value in {**settings, "metrics_port": 0, "metrics_host": "127.0.0.1"}.items():
            self.args += ["--set", f"{key}={value}"]
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.started_at = 0.0
        self._log_offset = 0
        self.peak_rss_mb = 0.0

    def start(self, timeout_s: float = 60) -> PipelineProcess:
        return self.spawn().wait_started(timeout_s)

    def spawn(self) -> PipelineProcess:
        """Start the process without waiting for it (:meth:`wait_started` does): two processes
        spawned one after the other start up side by side."""
        self.started_at = time.monotonic()
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def wait_started(self, timeout_s: float = 60) -> PipelineProcess:
        """Until the spawned process serves its metrics; :class:`ProcessFailed` if it exits first."""
        proc, offset = self.proc, self._log_offset  # this start's log lines only
        assert proc is not None, "spawn() first"

        def listening() -> int:
            """The metrics port once the process logged it (0: not yet); raises if it exited."""
            with self.log_path.open("rb") as log:
                log.seek(offset)
                found = re.search(rb"/readyz on http://[^:]+:(\d+)", log.read())
            if found:
                return int(found.group(1))
            if proc.poll() is not None:
                raise ProcessFailed(f"{self.module} exited during start-up; see {self.log_path}")
            return 0

        try:
            self.port = wait_until(listening, timeout_s, 0.1, f"{self.module} to start")
        except WaitTimeout as exc:
            raise ProcessFailed(f"{self.module} did not start; see {self.log_path}") from exc
        return self

    def metrics(self) -> dict[str, float]:
        """Every sample, keyed ``name{label=value,...}`` and summed per bare name too."""
        self.check_alive()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as response:
                text = response.read().decode()
        except OSError:
            # It exited between the check and the scrape: say so with its log, not a socket error.
            if self.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=2)
            self.check_alive()
            raise
        samples: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
                samples[f"{s.name}{{{labels}}}"] = float(s.value)
                samples[s.name] = samples.get(s.name, 0.0) + float(s.value)
        self.peak_rss_mb = max(self.peak_rss_mb, self._vm_hwm_mb())
        return samples

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise ProcessFailed(f"{self.module} exited unexpectedly:\n{tail}")

    def _vm_hwm_mb(self) -> float:
        assert self.proc is not None
        return peak_rss_mb(self.proc.pid)

    def stop(self, kill: bool = False) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.peak_rss_mb = max(self.peak_rss_mb, self._vm_hwm_mb())
        terminate(self.proc, 120, signal.SIGKILL if kill else signal.SIGTERM)


def peak_rss_mb(pid: int) -> float:
    """The kernel's peak resident set size of a live process (VmHWM), in MB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0.0
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(found.group(1)) / 1024 if found else 0.0
