"""Start, probe and stop detached service processes by pid."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path

from binlog_pipeline.core.errors import StackError
from binlog_pipeline.core.waiting import WaitTimeout, wait_until

KILLED_EXIT_S = 30.0


def start_detached(argv: Sequence[str], log_path: Path, cwd: Path | None = None) -> int:
    """Start ``argv`` in its own session (so it outlives the CLI and ignores its ^C) and return
    the pid. Output goes to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )
    return proc.pid


def is_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process still answers kill(0); reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop(pid: int | None, timeout_s: float = 30.0, sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` to a detached service (by pid: it need not be our child) and wait; escalate to
    SIGKILL after ``timeout_s``."""
    if not is_alive(pid):
        return
    assert pid is not None
    os.kill(pid, sig)
    try:
        wait_until(lambda: not is_alive(pid), timeout_s, 0.1, f"process {pid} to exit")
        return
    except WaitTimeout:
        with contextlib.suppress(ProcessLookupError):  # it exited just now
            os.kill(pid, signal.SIGKILL)
    try:  # only a process stuck in the kernel (uninterruptible I/O) outlives SIGKILL for long
        wait_until(lambda: not is_alive(pid), KILLED_EXIT_S, 0.05, f"process {pid} to exit after SIGKILL")
    except WaitTimeout as exc:
        raise StackError(f"process {pid} did not exit {KILLED_EXIT_S:.0f}s after SIGKILL") from exc


def terminate(proc: subprocess.Popen[bytes], timeout_s: float, sig: int = signal.SIGTERM) -> int:
    """Stop a child process: send ``sig`` (SIGTERM: the clean shutdown path), wait up to
    ``timeout_s`` for it to exit, then SIGKILL it. Returns its exit code (negative: the signal that
    ended it) and leaves no zombie."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            return proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"
