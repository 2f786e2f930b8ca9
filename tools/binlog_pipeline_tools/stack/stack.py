"""Orchestrates the local stack's three services and remembers their ports, pids and passwords
in ``<state_dir>/stack.json`` so that ``up`` is idempotent and ``env``/``status``/``down`` work
from any later shell."""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.core.errors import StackError
from binlog_pipeline_tools.stack import process
from binlog_pipeline_tools.stack.kafka import KafkaBroker
from binlog_pipeline_tools.stack.mariadb import APPLIER_GRANTS, PRODUCER_GRANTS, MariaDBServer

SERVICES = ("kafka", "source", "target")
PRODUCER_USER = "binlog_producer"
APPLIER_USER = "binlog_applier"
DEFAULT_STATE_DIR = Path(".stack")


@dataclass
class _State:
    ports: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StackStatus:
    service: str
    port: int | None
    pid: int | None
    running: bool
    healthy: bool


class Stack:
    def __init__(self, state_dir: Path = DEFAULT_STATE_DIR) -> None:
        self.state_dir = state_dir.resolve()
        self._state_path = self.state_dir / "stack.json"
        self._state = self._load()

    # --- state -----------------------------------------------------------------------------
    def _load(self) -> _State:
        if self._state_path.exists():
            return _State(**json.loads(self._state_path.read_text()))
        return _State()

    def _save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._state_path.write_text(json.dumps(asdict(self._state), indent=2))
        self._state_path.chmod(0o600)  # holds the stack's passwords

    def _ensure_ports_and_passwords(self) -> None:
        for name in ("kafka", "kafka_controller", "source", "target", "kafka_proxied", "kafka_via_proxy"):
            self._state.ports.setdefault(name, process.free_port())
        for name in ("source_admin", "target_admin", PRODUCER_USER, APPLIER_USER):
            self._state.passwords.setdefault(name, secrets.token_hex(12))
        self._save()

    # --- services ----------------------------------------------------------------------------
    @property
    def kafka(self) -> KafkaBroker:
        ports = self._state.ports
        return KafkaBroker(
            self.state_dir,
            ports["kafka"],
            ports["kafka_controller"],
            ports.get("kafka_proxied"),
            ports.get("kafka_via_proxy"),
        )

    def _mariadb(self, name: str) -> MariaDBServer:
        return MariaDBServer(
            name=name,
            state_dir=self.state_dir,
            port=self._state.ports[name],
            server_id=1 if name == "source" else 2,
            binlog=name == "source",
        )

    @property
    def source(self) -> MariaDBServer:
        return self._mariadb("source")

    @property
    def target(self) -> MariaDBServer:
        return self._mariadb("target")

    def up(self, services: Iterable[str] = SERVICES) -> list[StackStatus]:
        """Start every requested service that is not running and wait until it answers."""
        self._ensure_ports_and_passwords()
        for name in _checked(services):
            pid = self._state.pids.get(name)
            if process.is_alive(pid):
                continue
            if name == "kafka":
                pid = self.kafka.start()
                self._state.pids[name] = pid
                self._save()
                self.kafka.wait_ready(pid)
            else:
                server = self._mariadb(name)
                pid = server.start()
                self._state.pids[name] = pid
                self._save()
                server.wait_ready(pid)
                user, grants = (
                    (PRODUCER_USER, PRODUCER_GRANTS) if name == "source" else (APPLIER_USER, APPLIER_GRANTS)
                )
                server.create_users(
                    self._state.passwords[f"{name}_admin"], user, self._state.passwords[user], grants
                )
        return self.status()

    def down(self, services: Iterable[str] = SERVICES, purge: bool = False) -> None:
        """Stop the requested services cleanly (SIGTERM, then SIGKILL after a grace period)."""
        for name in _checked(services):
            process.stop(self._state.pids.pop(name, None), timeout_s=60)
            self._save()
        if purge:
            if any(process.is_alive(pid) for pid in self._state.pids.values()):
                raise StackError("--purge needs every service stopped: run `stack down --purge` alone")
            shutil.rmtree(self.state_dir, ignore_errors=True)
            self._state = _State()

    def kill(self, service: str) -> None:
        """``kill -9`` one service (fault injection); ``up`` restarts it."""
        import signal

        process.stop(self._state.pids.pop(_checked([service])[0], None), timeout_s=0, sig=signal.SIGKILL)
        self._save()

    def status(self) -> list[StackStatus]:
        rows = []
        for name in SERVICES:
            pid = self._state.pids.get(name)
            running = process.is_alive(pid)
            port = self._state.ports.get(name)
            if not running:
                healthy = False
            elif name == "kafka":
                healthy = self.kafka.round_trip()
            else:
                healthy = self._mariadb(name).healthy(self._state.passwords[f"{name}_admin"])
            rows.append(StackStatus(name, port, pid if running else None, running, healthy))
        return rows

    # --- connection details --------------------------------------------------------------------
    def _url(self, service: str, user: str, password_key: str) -> DatabaseUrl:
        if service not in self._state.ports:
            raise StackError(
                f"the stack in {self.state_dir} was never started: run `binlog-pipeline stack up`"
            )
        return DatabaseUrl("127.0.0.1", self._state.ports[service], user, self._state.passwords[password_key])

    def env(self) -> dict[str, str]:
        """Variables that point every binlog-pipeline command at this stack."""
        return {
            "BINLOG_PIPELINE_SOURCE_URL": self._url("source", PRODUCER_USER, PRODUCER_USER).unmasked(),
            "BINLOG_PIPELINE_TARGET_URL": self._url("target", APPLIER_USER, APPLIER_USER).unmasked(),
            "BINLOG_PIPELINE_BOOTSTRAP_SERVERS": f"127.0.0.1:{self._state.ports['kafka']}",
            "BINLOG_PIPELINE_STACK_SOURCE_ADMIN_URL": self._url("source", "root", "source_admin").unmasked(),
            "BINLOG_PIPELINE_STACK_TARGET_ADMIN_URL": self._url("target", "root", "target_admin").unmasked(),
            "BINLOG_PIPELINE_STACK_DIR": str(self.state_dir),
        }

    def port(self, name: str) -> int:
        if name not in self._state.ports:
            raise StackError(
                f"the stack in {self.state_dir} has no port {name!r}: run `binlog-pipeline stack up`"
            )
        return self._state.ports[name]

    def describe(self) -> dict[str, Any]:
        return {"state_dir": str(self.state_dir), "ports": dict(self._state.ports)}


def _checked(services: Iterable[str]) -> list[str]:
    names = list(services) or list(SERVICES)
    unknown = [n for n in names if n not in SERVICES]
    if unknown:
        raise StackError(f"unknown service(s) {', '.join(unknown)}; known: {', '.join(SERVICES)}")
    return names
