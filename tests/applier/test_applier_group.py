"""Several appliers in one consumer group: partitions move between members while batches are being
filled, members leave, are killed, or stall past their session and come back — and no message is
ever applied twice or lost.

The oracle is tables without a primary key whose rows repeat: a message applied twice shows as an
extra row, a lost one as a missing row. Every test ends with CHECKSUM TABLE and row counts equal.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from binlog_pipeline_tools.chaos.tcp_proxy import BEGIN, TcpProxy

from binlog_pipeline.core.dburl import DatabaseUrl
from tests.applier_harness import ApplierProcess, ApplierThread, applier_settings, drop_target_database, equal
from tests.kafka_helpers import wait_for
from tests.producer_harness import ProducerThread, current_position, producer_settings
from tests.runner_harness import CliProcess
from tests.services import Services, query
from tests.workload import KeylessLoad

pytestmark = pytest.mark.integration
# Members notice a dead or frozen peer after its session times out; keep that short.
FAST_GROUP = "session.timeout.ms=6000,heartbeat.interval.ms=1000"


@dataclass
class Group:
    services: Services
    db: str
    prefix: str
    load: KeylessLoad
    logs: Path
    members: list[Any] = field(default_factory=list)

    @property
    def group_id(self) -> str:
        return f"applier-{self.prefix}"

    def process(self, target_url: DatabaseUrl | None = None, **settings: Any) -> CliProcess:
        url = (target_url or self.services.target_url).unmasked()
        member = ApplierProcess(
            self.services,
            self.prefix,
            self.logs / f"applier-{len(self.members)}.log",
            target_url=url,
            kafka_consumer=FAST_GROUP,
            **settings,
        ).start()
        self.members.append(member)
        return member

    def thread(self, **settings: Any) -> ApplierThread:
        member = ApplierThread(
            applier_settings(self.services, self.prefix, kafka_consumer=FAST_GROUP, **settings)
        )
        member.__enter__()
        self.members.append(member)
        return member

    def checkpoint_rows(self) -> dict[tuple[str, int], int]:
        rows = query(
            self.services.target_admin,
            "SELECT topic, `partition`, next_offset FROM binlog_pipeline.applier_checkpoint "
            "WHERE group_id = %s",
            (self.group_id,),
        )
        return {(str(t), int(p)): int(o) for t, p, o in rows}

    def wait_equal(self, timeout_s: float = 120) -> None:
        wait_for(
            lambda: equal(self.services, self.db, self.load.tables),
            timeout_s=timeout_s,
            what="every keyless table equal on the target",
        )

    def assert_stays_equal(self, seconds: float = 3) -> None:
        """Equal now and still equal a moment later: a batch applied a second time after
        equality was first reached would show here."""
        self.wait_equal()
        time.sleep(seconds)
        differing = [t for t in self.load.tables if not equal(self.services, self.db, (t,))]
        assert not differing, f"tables differ after settling: {differing}"


@pytest.fixture
def group(services: Services, source_db: str, topic_prefix: str, tmp_path: Path) -> Iterator[Group]:
    load = KeylessLoad(services.source_admin, source_db, tables=6, seed=18)
    load.create_tables()
    producer = ProducerThread(
        producer_settings(services, topic_prefix, start_position=current_position(services))
    )
    g = Group(services, source_db, topic_prefix, load, tmp_path)
    with producer:
        load.touch_every_table()
        try:
            yield g
        finally:
            load.stop()
            for member in g.members:
                if isinstance(member, CliProcess):
                    if member.running():
                        member.signal(signal.SIGCONT)
                        member.kill9()
                else:
                    member.__exit__(None, None, None)
    drop_target_database(services, source_db)


def test_members_join_and_leave_while_batches_fill(group: Group) -> None:
    """Three appliers join and leave one group under a steady load, so partitions are revoked and
    assigned while every member is filling a (long) batch: nothing is applied twice or lost."""
    settings = {"batch_max_ms": 1500, "batch_max_rows": 100_000}
    group.load.start()
    first = group.thread(**settings)
    time.sleep(3)
    second = group.thread(**settings)
    time.sleep(4)
    third = group.thread(**settings)
    time.sleep(4)
    second.stop()
    time.sleep(3)
    fourth = group.thread(**settings)
    time.sleep(4)
    first.stop()
    time.sleep(4)
    group.load.stop()
    group.assert_stays_equal()
    for member in (third, fourth):
        assert member.error is None, member.error
        member.stop()


@pytest.mark.slow  # the chaos suite kills, stops and adds appliers on every run
def test_members_killed_and_restarted_under_load(group: Group) -> None:
    """Appliers as processes: members are killed -9, stopped with SIGTERM and started again while
    the load runs; the group ends with every table equal."""
    group.load.start()
    a, b = group.process(), group.process()
    time.sleep(5)
    c = group.process()
    time.sleep(4)
    a.kill9()
    time.sleep(3)
    assert b.terminate() == 0, b.log()
    d = group.process()
    time.sleep(5)
    c.kill9()
    e = group.process()
    time.sleep(5)
    group.load.stop()
    group.assert_stays_equal(seconds=8)  # > session timeout: the killed members' partitions moved
    for member in (d, e):
        assert member.running(), member.log()
        assert member.terminate() == 0, member.log()


def test_stalled_member_cannot_commit_its_stale_batch(group: Group) -> None:
    """A member holding a batch stalls (SIGSTOP while its BEGIN is held) past its session and loses
    its partitions; another member applies newer messages. When the stalled member resumes, its
    stale batch must roll back: the checkpoint row never moves backwards and no row is doubled."""
    proxy = TcpProxy(group.services.target_url.port)
    try:
        via_proxy = DatabaseUrl(
            group.services.target_url.host,
            proxy.port,
            group.services.target_url.user,
            group.services.target_url.password,
        )
        stalled = group.process(target_url=via_proxy)
        group.load.burst(20)
        group.wait_equal()
        proxy.set_rule(BEGIN, "stall_before", times=1)
        group.load.burst(20)
        wait_for(proxy.stalled.is_set, what="the first member's BEGIN to be held")
        stalled.signal(signal.SIGSTOP)
        group.process()  # takes every partition once the frozen member's session expires
        group.load.burst(20)
        group.wait_equal()
        newest = group.checkpoint_rows()
        watching = CheckpointWatch(group)
        proxy.clear_rule()
        stalled.signal(signal.SIGCONT)
        group.load.burst(10)
        group.assert_stays_equal(seconds=8)
        watching.stop()
        assert not watching.backwards, f"the checkpoint row moved backwards: {watching.backwards}"
        final = group.checkpoint_rows()
        assert all(final[key] >= offset for key, offset in newest.items())
    finally:
        proxy.close()


class CheckpointWatch:
    """Samples the group's checkpoint rows in the background and records any that went down."""

    def __init__(self, group: Group) -> None:
        self._group = group
        self._stop = threading.Event()
        self.backwards: list[tuple[tuple[str, int], int, int]] = []
        self._last = group.checkpoint_rows()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            rows = self._group.checkpoint_rows()
            for key, offset in rows.items():
                if offset < self._last.get(key, -1):
                    self.backwards.append((key, self._last[key], offset))
            self._last = {**self._last, **rows}

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
