"""The faults a chaos run injects, and the seeded schedule that orders them.

Every fault is real: a signal to our own process, a stopped or killed broker or target, a killed
database session, ``read_only`` on the target, or a loopback TCP proxy (in front of the target, the
source and the broker) that cuts or pauses every connection. A fault is *injected*, optionally
*held* for a while, then *healed*; the run then waits for the pipeline to make progress again."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import pymysql

from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline_tools.chaos.tcp_proxy import TcpProxy
from binlog_pipeline_tools.stack import Stack

Heal = Callable[[], object]


# Appliers in a chaos run leave the group after this long without polling (SIGSTOP outlasts it).
MEMBER_POLL_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class FaultKind:
    name: str
    what: str
    held: bool  # lasts for a random hold before it is healed (else instantaneous)
    min_hold_s: float = 0.0  # added to the random hold (a stall must outlast a timeout to count)


KINDS: dict[str, FaultKind] = {
    k.name: k
    for k in (
        FaultKind("producer_kill9", "kill -9 the producer; restart it after the hold", True),
        FaultKind("producer_sigterm", "SIGTERM the producer; restart it after the hold", True),
        FaultKind("applier_kill9", "kill -9 one applier of the group; restart it after the hold", True),
        FaultKind("applier_sigterm", "SIGTERM one applier of the group; restart it after the hold", True),
        FaultKind(
            "applier_sigstop",
            "SIGSTOP one applier past max.poll.interval.ms (its partitions move while it may hold a "
            "batch: it must be fenced); SIGCONT after the hold",
            True,
            min_hold_s=MEMBER_POLL_TIMEOUT_S + 1,
        ),
        FaultKind("applier_join", "start one more applier in the group; SIGTERM it after the hold", True),
        FaultKind("broker_restart", "stop the Kafka broker cleanly; start it after the hold", True),
        FaultKind("broker_kill9", "kill -9 the Kafka broker; start it after the hold", True),
        FaultKind("target_restart", "stop the target MariaDB; start it after the hold", True),
        FaultKind("target_kill_connection", "KILL CONNECTION of every applier session", False),
        FaultKind("target_read_only", "SET GLOBAL read_only=1 on the target; 0 after the hold", True),
        FaultKind("source_kill_replication", "KILL the producer's binlog dump connection", False),
        FaultKind(
            "proxy_cut_target", "cut every applier→target connection; refuse new ones for the hold", True
        ),
        FaultKind(
            "proxy_cut_source", "cut every producer→source connection; refuse new ones for the hold", True
        ),
        FaultKind(
            "proxy_cut_broker", "cut every pipeline→broker connection; refuse new ones for the hold", True
        ),
        FaultKind("proxy_stall_target", "pause all applier↔target traffic for the hold", True),
        FaultKind("proxy_stall_source", "pause all producer↔source traffic for the hold", True),
        FaultKind("proxy_stall_broker", "pause all pipeline↔broker traffic for the hold", True),
    )
}


@dataclass(frozen=True)
class PlannedFault:
    index: int
    kind: str
    hold_s: float
    gap_s: float  # pause after this fault (after recovery, or after healing when overlapping)
    overlap: bool  # the next fault lands before the pipeline has recovered from this one

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan(seed: int, count: int, kinds: list[str], max_hold_s: float = 6.0) -> list[PlannedFault]:
    """``count`` faults drawn from ``kinds`` like cards from a shuffled deck, reshuffled when empty:
    every kind appears once before any appears twice, so a short run still covers them all. The
    same seed gives the same schedule."""
    rng = random.Random(seed)
    deck: list[str] = []
    faults = []
    for index in range(count):
        if not deck:
            deck = sorted(kinds)
            rng.shuffle(deck)
        kind = deck.pop()
        hold = round(KINDS[kind].min_hold_s + rng.uniform(0.5, max_hold_s), 2) if KINDS[kind].held else 0.0
        faults.append(PlannedFault(index, kind, hold, round(rng.uniform(0.0, 3.0), 2), rng.random() < 0.2))
    return faults


class Injector:
    """Knows where every fault goes: the stack's services, the proxies, our processes."""

    def __init__(
        self,
        stack: Stack,
        proxies: dict[str, TcpProxy],
        processes: dict[str, Any],  # "producer", "applier-1", … → Supervised
        source_admin: DatabaseUrl,
        target_admin: DatabaseUrl,
        producer_user: str,
        applier_user: str,
        seed: int = 0,
        join: Callable[[], Any] | None = None,  # starts one more applier, returns its Supervised
    ) -> None:
        self.stack = stack
        self.proxies = proxies
        self.processes = processes
        self.source_admin = source_admin
        self.target_admin = target_admin
        self.producer_user = producer_user
        self.applier_user = applier_user
        self.rng = random.Random(seed)  # which applier a fault hits
        self.join = join

    def _applier(self) -> Any:
        members = [s for name, s in sorted(self.processes.items()) if name.startswith("applier")]
        running = [s for s in members if s.alive() and not s.paused and not s.down_on_purpose]
        return self.rng.choice(running or members)

    def inject(self, kind: str) -> tuple[Heal, str]:
        """Inject ``kind`` now; returns how to heal it and a note on what was hit."""
        component, _, action = kind.partition("_")
        if kind == "applier_join":
            assert self.join is not None
            extra = self.join()
            return extra.stop, f"{extra.name} joined (pid {extra.last_pid})"
        if kind == "applier_sigstop":
            member = self._applier()
            member.pause()
            return member.resume, f"{member.name} pid {member.last_pid} stopped"
        if component in ("producer", "applier"):
            process = self.processes["producer"] if component == "producer" else self._applier()
            process.stop(kill=action == "kill9")
            return process.restart, f"{process.name} pid {process.last_pid} {action}"
        if component == "broker":
            if action == "kill9":
                self.stack.kill("kafka")
            else:
                self.stack.down(["kafka"])
            return lambda: self.stack.up(["kafka"]), f"broker {action}"
        if kind == "target_restart":
            self.stack.down(["target"])
            return lambda: self.stack.up(["target"]), "target stopped"
        if kind == "target_kill_connection":
            killed = _kill_sessions(self.target_admin, self.applier_user, "")
            return _nothing, f"killed {killed} applier session(s)"
        if kind == "target_read_only":
            _execute(self.target_admin, "SET GLOBAL read_only = 1")
            return lambda: _execute(self.target_admin, "SET GLOBAL read_only = 0"), "target read_only"
        if kind == "source_kill_replication":
            killed = _kill_sessions(self.source_admin, self.producer_user, "Binlog Dump%")
            return _nothing, f"killed {killed} binlog dump connection(s)"
        if component == "proxy":
            mode, _, side = action.partition("_")
            proxy = self.proxies[side]
            if mode == "cut":
                proxy.refuse()
                return proxy.accept, f"{side} connections cut"
            proxy.pause()
            return proxy.resume, f"{side} traffic paused"
        raise ValueError(f"unknown fault kind {kind!r}")


def _nothing() -> None:
    pass


def _execute(url: DatabaseUrl, sql: str) -> None:
    conn = pymysql.connect(**url.connect_kwargs(), autocommit=True, connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def _kill_sessions(url: DatabaseUrl, user: str, command_like: str) -> int:
    """KILL CONNECTION every session of ``user`` (whose command matches, when given)."""
    conn = pymysql.connect(**url.connect_kwargs(), autocommit=True, connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = %s AND COMMAND LIKE %s",
                (user, command_like or "%"),
            )
            ids = [int(row[0]) for row in cur.fetchall()]
            for session in ids:
                with contextlib.suppress(pymysql.MySQLError):  # it may have ended in between
                    cur.execute(f"KILL CONNECTION {session}")
            return len(ids)
    finally:
        conn.close()
