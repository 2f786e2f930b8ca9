"""The producer or the applier under a chaos run: started, stopped and restarted on the schedule's
orders, and — like systemd or Kubernetes would — restarted when it exits on its own. Such an
unplanned exit is recorded: the pipeline is meant to ride out every fault without one."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from binlog_pipeline_tools.bench.processes import PipelineProcess, ProcessFailed
from binlog_pipeline_tools.stack.process import tail


@dataclass(frozen=True)
class UnplannedExit:
    component: str
    pid: int
    code: int | None
    at_s: float
    last_lines: str


class Supervised:
    def __init__(
        self, name: str, make: Callable[[], PipelineProcess], progress_metric: str, clock: float
    ) -> None:
        self.name = name
        self.make = make
        self.progress_metric = progress_metric
        self.clock = clock  # the run's start (monotonic): exits are reported relative to it
        self.process: PipelineProcess | None = None
        self.down_on_purpose = False
        self.unplanned: list[UnplannedExit] = []
        self.last_pid = 0
        self.last_seen: dict[int, dict[str, float]] = {}  # pid → its metrics when last sampled
        self.paused = False  # SIGSTOPped: alive, but answers nothing
        self._retry_at = 0.0

    def start(self) -> None:
        self.down_on_purpose = False
        self.process = self.make().start()
        assert self.process.proc is not None
        self.last_pid = self.process.proc.pid

    def stop(self, kill: bool = False) -> None:
        self.down_on_purpose = True
        if self.paused:
            self.resume()  # a stopped process takes no SIGTERM
        self.sample()  # keep this life's count before it ends
        if self.process is not None:
            self.process.stop(kill=kill)

    def pause(self) -> None:
        """SIGSTOP: every thread freezes (no heartbeats, no polls) — a long GC or VM pause."""
        self.sample()
        if self.alive():
            assert self.process is not None and self.process.proc is not None
            os.kill(self.process.proc.pid, signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self.paused and self.alive():
            assert self.process is not None and self.process.proc is not None
            os.kill(self.process.proc.pid, signal.SIGCONT)
        self.paused = False

    def restart(self) -> None:
        self.start()

    def alive(self) -> bool:
        return self.process is not None and self.process.proc is not None and self.process.proc.poll() is None

    def watch(self) -> None:
        """Restart the process if it exited when nobody asked it to (with a 2 s back-off)."""
        if self.down_on_purpose or self.alive() or time.monotonic() < self._retry_at:
            return
        if (
            self.process is not None
            and self.process.proc is not None
            and self.process.proc.pid == self.last_pid
        ):
            self.unplanned.append(
                UnplannedExit(
                    self.name,
                    self.last_pid,
                    self.process.proc.returncode,
                    round(time.monotonic() - self.clock, 1),
                    tail(self.process.log_path, lines=5),
                )
            )
        try:
            self.start()
        except ProcessFailed:
            self._retry_at = time.monotonic() + 2.0

    def sample(self) -> tuple[int, float] | None:
        """(pid, progress counter) now, or None when the process does not answer."""
        if not self.alive() or self.paused:
            return None
        assert self.process is not None and self.process.proc is not None
        try:
            metrics = self.process.metrics()
        except (OSError, ProcessFailed):
            return None
        pid = self.process.proc.pid
        self.last_seen[pid] = metrics
        return pid, metrics.get(self.progress_metric, 0.0)

    def metrics(self) -> dict[str, float]:
        assert self.process is not None
        return self.process.metrics()

    def total(self, metric: str) -> float:
        """``metric`` summed over every life of the process (each as last sampled)."""
        return sum(metrics.get(metric, 0.0) for metrics in self.last_seen.values())


def progressed(before: tuple[int, float] | None, now: tuple[int, float] | None) -> bool:
    """Did the counter move since ``before``? A new process counts from zero."""
    if now is None:
        return False
    if before is None or before[0] != now[0]:
        return now[1] > 0
    return now[1] > before[1]
