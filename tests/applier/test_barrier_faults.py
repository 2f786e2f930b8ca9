"""Found by the second review: DDL barriers (a statement on a topic with several partitions) under
faults — a member stalled on its way to run the statement, frozen while running it, a held
partition whose leave committed with its reply lost. (The barrier's statement ran outside any fence
under a named lock, and a held partition trusted its in-memory hold; these tests failed then.)"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from binlog_pipeline_tools.chaos.tcp_proxy import COMMIT, TcpProxy
from prometheus_client import REGISTRY

from binlog_pipeline.core.dburl import DatabaseUrl
from tests.applier.test_group_ddl import FAST_GROUP, Members
from tests.applier_harness import ApplierThread, applier_settings, drop_target_database, equal, table_state
from tests.kafka_helpers import wait_for
from tests.producer_harness import ProducerThread, current_position, producer_settings
from tests.services import Services, connect, query

pytestmark = pytest.mark.integration
# COM_QUERY with which a member about to run a barrier statement takes over its participants' claims
# (applier/ddl_guard.py) — before it locks their checkpoint rows
TAKE_OVER = b"\x03SELECT claimant"
TRUNCATE = b"\x03TRUNCATE"
# a partition arriving at a barrier, and leaving it (applier/ddl_barrier.py; values interpolated)
ARRIVAL = re.compile(
    rb"\x03INSERT INTO `binlog_pipeline`.`applier_ddl_arrivals` .*? VALUES \('[^']*', '[^']*', '[^']*', (\d+),"
)
LEAVE = re.compile(rb"\x03DELETE FROM `binlog_pipeline`.`applier_ddl_arrivals` .*`partition` = (\d+)$", re.S)


@pytest.fixture
def members(services: Services, source_db: str, topic_prefix: str, tmp_path: Path) -> Iterator[Members]:
    """Appliers as child processes, and a producer whose table topics have two partitions."""
    producer = ProducerThread(
        producer_settings(
            services, topic_prefix, start_position=current_position(services), topic_partitions=2
        )
    )
    m = Members(services, source_db, topic_prefix, tmp_path)
    with producer:
        try:
            yield m
        finally:
            for member in m.started:
                if member.running():
                    member.signal(signal.SIGCONT)
                    member.kill9()
    drop_target_database(services, source_db)


def test_stalled_member_does_not_rerun_a_barrier_truncate_after_the_new_owner_moved_on(
    members: Members,
) -> None:
    """Every partition of k has reached its TRUNCATE; the member about to run it stalls on its way
    to the barrier's rows (SIGSTOP past its session). The new owner runs the TRUNCATE, moves every
    partition past it (the last one deletes the barrier's done row) and applies the rows inserted
    after it. When the stalled member resumes, its TRUNCATE must not reach the target: the rows the
    new owner applied stay."""
    m = members
    m.source(
        "CREATE TABLE `{db}`.k (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)",
        "INSERT INTO `{db}`.k SELECT seq, CONCAT('v', seq) FROM `{db}`.seq_1_to_20",
    )
    applied = m.stall_then_take_over(
        TAKE_OVER,
        "TRUNCATE TABLE `{db}`.k",
        ("INSERT INTO `{db}`.k SELECT seq, CONCAT('after', seq) FROM `{db}`.seq_21_to_26",),
        ("k",),
        held="the first member to be held on its way to the barrier's rows",
    )
    state = table_state(m.services, m.db, "k")
    assert equal(m.services, m.db, ("k",)), (
        f"the stalled member ran the barrier's TRUNCATE again after the new owner applied rows past "
        f"it (source, target checksum and rows: {state}); checkpoint rows {applied} -> "
        f"{m.checkpoint_rows()}"
    )


def test_stalled_member_does_not_rerun_a_swap_after_the_new_owner_moved_on(members: Members) -> None:
    """The same with a RENAME that swaps two tables (a barrier over the topics of a, b and tmp): the
    member about to run it stalls on its way to the barrier's rows; the new owner runs the swap and
    applies rows written after it. When the stalled member resumes, it must not swap the tables
    back (the RENAME's marker is dropped once every participant has left)."""
    m = members
    m.source(
        "CREATE TABLE `{db}`.a (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)",
        "CREATE TABLE `{db}`.b (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)",
        "INSERT INTO `{db}`.a VALUES (1, 'a1'), (2, 'a2')",
        "INSERT INTO `{db}`.b VALUES (1, 'b1')",
    )
    m.stall_then_take_over(
        TAKE_OVER,
        "RENAME TABLE `{db}`.a TO `{db}`.tmp, `{db}`.b TO `{db}`.a, `{db}`.tmp TO `{db}`.b",
        ("INSERT INTO `{db}`.a VALUES (10, 'new in a')", "INSERT INTO `{db}`.b VALUES (20, 'new in b')"),
        ("a", "b"),
        held="the first member to be held on its way to the barrier's rows",
    )
    rows = {t: query(m.services.target_admin, f"SELECT * FROM `{m.db}`.{t} ORDER BY id") for t in ("a", "b")}
    assert equal(m.services, m.db, ("a", "b")), (
        f"the stalled member ran the swap again after the new owner applied rows past it: target {rows}"
    )


def test_member_frozen_while_running_a_barrier_statement_does_not_stall_the_new_owner(
    members: Members,
) -> None:
    """The member running k's TRUNCATE (every partition arrived) freezes with the statement on its
    way (SIGSTOP; the statement held in the network) while it holds the barrier's rows. Its
    partitions move to a new owner, which must be able to take over — as it does for a
    single-partition DDL, by ending the frozen member's sessions — and apply the TRUNCATE and the
    rows after it, instead of waiting for as long as the other member stays frozen."""
    m = members
    m.source(
        "CREATE TABLE `{db}`.k (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)",
        "INSERT INTO `{db}`.k SELECT seq, CONCAT('v', seq) FROM `{db}`.seq_1_to_20",
    )
    proxy = TcpProxy(m.services.target_url.port)
    try:
        frozen = m.start(port=proxy.port)
        wait_for(lambda: equal(m.services, m.db, ("k",)), what="k equal")
        proxy.set_rule(TRUNCATE, "stall_before", times=1)
        m.source("TRUNCATE TABLE `{db}`.k")
        wait_for(proxy.stalled.is_set, what="the first member's TRUNCATE to be held")
        frozen.signal(signal.SIGSTOP)
        second = m.start()  # takes both partitions once the frozen member's session expires
        m.source("INSERT INTO `{db}`.k SELECT seq, CONCAT('after', seq) FROM `{db}`.seq_21_to_26")
        try:
            wait_for(lambda: equal(m.services, m.db, ("k",)), timeout_s=100, what="k equal via the new owner")
        except AssertionError as exc:
            raise AssertionError(
                f"the new owner never got past k's TRUNCATE while the member holding the barrier's rows "
                f"stayed frozen (source, target checksum and rows: {table_state(m.services, m.db, 'k')}); "
                f"new owner running: {second.running()}; its log: {second.log()[-1500:]}"
            ) from exc
    finally:
        proxy.close()


class CutHeldLeave(TcpProxy):
    """Once armed: notes the partition that arrives first at a barrier (it is held: the others have
    not arrived yet), and when that partition leaves the barrier, forwards the COMMIT of its leave
    and cuts the connection — the server commits, the client never gets the reply."""

    def __init__(self, upstream_port: int) -> None:
        super().__init__(upstream_port)
        self.armed = False
        self.held: int | None = None

    def _match(self, data: bytes) -> Any:
        if self.armed:
            arrival = ARRIVAL.search(data)
            if arrival and self.held is None:
                self.held = int(arrival.group(1))
            leave = LEAVE.search(data)
            if leave and self.held is not None and int(leave.group(1)) == self.held:
                self.armed = False
                self.set_rule(COMMIT, "cut_after", times=1)
        return super()._match(data)


@pytest.mark.parametrize("rows_before", [False, True], ids=["held-leaves-first", "held-leaves-last"])
def test_held_partition_whose_leave_committed_with_its_reply_lost(
    services: Services, source_db: str, topic_prefix: str, rows_before: bool
) -> None:
    """A partition held at a barrier (ALTER on a topic of several partitions) is released once the
    statement ran; the COMMIT that moves it past the record reaches the target but its reply is
    lost. The applier must decide that outcome and go on: the rows after the ALTER are applied and
    the applier keeps running. (Rows written just before the ALTER share its Kafka transaction, so
    the partition that ran the statement leaves at once and the held one is the last to leave.)"""
    db = source_db
    settings = producer_settings(
        services, topic_prefix, start_position=current_position(services), topic_partitions=2
    )
    proxy = CutHeldLeave(services.target_url.port)
    target = services.target_url
    proxied = DatabaseUrl(target.host, proxy.port, target.user, target.password).unmasked()
    try:
        with (
            ProducerThread(settings),
            ApplierThread(
                applier_settings(services, topic_prefix, target_url=proxied, kafka_consumer=FAST_GROUP)
            ) as applier,
        ):
            with connect(services.source_admin) as conn, conn.cursor() as cur:
                cur.execute(f"CREATE TABLE `{db}`.k (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)")
                cur.execute(f"INSERT INTO `{db}`.k SELECT seq, CONCAT('v', seq) FROM `{db}`.seq_1_to_30")
            wait_for(lambda: equal(services, db, ("k",)), what="k equal")
            time.sleep(2)  # past k's CREATE TABLE, itself a barrier
            proxy.armed = True
            with connect(services.source_admin) as conn, conn.cursor() as cur:
                if rows_before:
                    cur.execute(f"INSERT INTO `{db}`.k SELECT seq, 'before' FROM `{db}`.seq_61_to_80")
                cur.execute(f"ALTER TABLE `{db}`.k ADD COLUMN c INT NOT NULL DEFAULT 7")
                cur.execute(
                    f"INSERT INTO `{db}`.k (id, v, c) SELECT seq, 'after', seq FROM `{db}`.seq_31_to_60"
                )
            settled = eventually(lambda: applier.error is not None or equal(services, db, ("k",)), 60)
            fired = proxy.rule.fired if proxy.rule is not None else 0
            rows = query(
                services.target_admin,
                "SELECT topic, `partition`, next_offset FROM binlog_pipeline.applier_checkpoint "
                "WHERE group_id = %s",
                (f"applier-{topic_prefix}",),
            )
            assert fired == 1, f"the fault was not injected at a held partition's leave (settled: {settled})"
            assert applier.error is None, f"the applier stopped: {applier.error!r}"
            assert equal(services, db, ("k",)), (
                f"rows after the ALTER never applied: {table_state(services, db, 'k')}; checkpoint rows {rows}"
            )
            applier.stop()
    finally:
        proxy.close()
        drop_target_database(services, db)


def eventually(predicate: Callable[[], object], timeout_s: float) -> bool:
    """Whether ``predicate`` became true within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def test_barrier_applied_by_a_single_member_needs_no_retry(
    services: Services, source_db: str, topic_prefix: str
) -> None:
    """One applier alone, no fault: a table created on a topic of two partitions, rows, an ALTER
    (both statements barriers). Passing a barrier must not look like another member having applied
    past the batch — no fenced transaction, no retry (each one drops the target connections, backs
    off and marks the applier not ready)."""
    db = source_db
    settings = producer_settings(
        services, topic_prefix, start_position=current_position(services), topic_partitions=2
    )
    try:
        with ProducerThread(settings), ApplierThread(applier_settings(services, topic_prefix)) as applier:
            before = fenced_retries()
            with connect(services.source_admin) as conn, conn.cursor() as cur:
                cur.execute(f"CREATE TABLE `{db}`.k (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)")
                cur.execute(f"INSERT INTO `{db}`.k SELECT seq, CONCAT('v', seq) FROM `{db}`.seq_1_to_30")
                time.sleep(2)
                cur.execute(f"ALTER TABLE `{db}`.k ADD COLUMN c INT NOT NULL DEFAULT 7")
                cur.execute(
                    f"INSERT INTO `{db}`.k (id, v, c) SELECT seq, 'after', 1 FROM `{db}`.seq_31_to_40"
                )
            wait_for(lambda: equal(services, db, ("k",)), what="k equal")
            applier.stop()
        assert fenced_retries() == before, (
            f"a lone member's barriers were fenced {fenced_retries() - before:.0f} times"
        )
    finally:
        drop_target_database(services, db)


def fenced_retries() -> float:
    """How often this process retried after a fenced checkpoint row (binlog_pipeline_retries)."""
    value = REGISTRY.get_sample_value(
        "binlog_pipeline_retries_total", {"component": "applier", "error": "CheckpointFenced"}
    )
    return value or 0.0
