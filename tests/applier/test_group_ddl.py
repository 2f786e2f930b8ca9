"""Found by review: DDL records under several appliers in one group. The fence (compare-and-set on
the checkpoint row) protects only the target transaction of a batch; a DDL runs before it, outside
any transaction, so a member whose batch outlived its ownership of the partition must not run it."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from binlog_pipeline_tools.chaos.tcp_proxy import BEGIN, TcpProxy

from binlog_pipeline.core.dburl import DatabaseUrl
from tests.applier_harness import ApplierProcess, drop_target_database, equal, table_state
from tests.kafka_helpers import wait_for
from tests.producer_harness import ProducerThread, current_position, producer_settings
from tests.runner_harness import CliProcess
from tests.services import Services, connect, query

pytestmark = pytest.mark.integration
FAST_GROUP = "session.timeout.ms=6000,heartbeat.interval.ms=1000"
TRUNCATE = b"\x03TRUNCATE"  # COM_QUERY "TRUNCATE ..."


@dataclass
class Members:
    services: Services
    db: str
    prefix: str
    logs: Path
    started: list[CliProcess] = field(default_factory=list)

    @property
    def group_id(self) -> str:
        return f"applier-{self.prefix}"

    def start(self, port: int | None = None, **settings: Any) -> CliProcess:
        url = self.services.target_url
        target = DatabaseUrl(url.host, port or url.port, url.user, url.password).unmasked()
        member = ApplierProcess(
            self.services,
            self.prefix,
            self.logs / f"applier-{len(self.started)}.log",
            target_url=target,
            **{"kafka_consumer": FAST_GROUP, **settings},
        ).start()
        self.started.append(member)
        return member

    def source(self, *statements: str) -> None:
        with connect(self.services.source_admin) as conn, conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement.format(db=self.db))

    def stall_then_take_over(
        self, hold: bytes, statement: str, after: tuple[str, ...], tables: tuple[str, ...], held: str
    ) -> dict[tuple[str, int], int]:
        """A member whose target connection holds its first query starting with ``hold`` (after
        ``statement`` ran on the source) is frozen past its session (SIGSTOP); a new member takes
        its partitions and applies ``after``, written on the source then. Once ``tables`` are equal
        via the new owner the frozen member is resumed and given time to do harm. Returns the
        checkpoint rows as the new owner left them."""
        proxy = TcpProxy(self.services.target_url.port)
        try:
            stalled = self.start(port=proxy.port)
            wait_for(lambda: equal(self.services, self.db, tables), what=f"{tables} equal")
            proxy.set_rule(hold, "stall_before", times=1)
            self.source(statement)
            wait_for(proxy.stalled.is_set, what=held)
            stalled.signal(signal.SIGSTOP)
            self.start()  # takes the partitions once the frozen member's session expires
            self.source(*after)
            wait_for(
                lambda: equal(self.services, self.db, tables),
                timeout_s=90,
                what=f"{tables} equal via the new owner",
            )
            applied = self.checkpoint_rows()
            proxy.clear_rule()
            stalled.signal(signal.SIGCONT)
            time.sleep(8)
            return applied
        finally:
            proxy.close()

    def t_owned_by_the_first_of_two(self, kafka_consumer: str) -> tuple[CliProcess, CliProcess]:
        """Table t applied by a first member, then a second member joined (t stays with the first)."""
        self.source("CREATE TABLE `{db}`.t (id INT PRIMARY KEY)", "INSERT INTO `{db}`.t VALUES (1)")
        first = self.start(kafka_consumer=kafka_consumer)
        wait_for(lambda: equal(self.services, self.db, ("t",)), what="t equal")
        second = self.start(kafka_consumer=kafka_consumer)
        time.sleep(5)  # joined; t stays with the first member
        return first, second

    def checkpoint_rows(self) -> dict[tuple[str, int], int]:
        rows = query(
            self.services.target_admin,
            "SELECT topic, `partition`, next_offset FROM binlog_pipeline.applier_checkpoint WHERE group_id = %s",
            (self.group_id,),
        )
        return {(str(t), int(p)): int(o) for t, p, o in rows}


@pytest.fixture
def members(services: Services, source_db: str, topic_prefix: str, tmp_path: Path) -> Iterator[Members]:
    producer = ProducerThread(
        producer_settings(services, topic_prefix, start_position=current_position(services))
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


def test_stalled_member_does_not_rerun_a_truncate_after_the_new_owner_moved_on(members: Members) -> None:
    """A member whose TRUNCATE is held on its way to the target stalls past its session (SIGSTOP);
    the new owner applies the TRUNCATE and the rows inserted after it. When the stalled member
    resumes, its TRUNCATE must not reach the target: the rows the new owner applied stay."""
    m = members
    m.source(
        "CREATE TABLE `{db}`.k (id INT NOT NULL, v VARCHAR(20) NOT NULL)",
        "INSERT INTO `{db}`.k VALUES (1, 'a'), (2, 'b'), (3, 'c')",
    )
    applied = m.stall_then_take_over(
        TRUNCATE,
        "TRUNCATE TABLE `{db}`.k",
        ("INSERT INTO `{db}`.k VALUES (4, 'd'), (5, 'e'), (6, 'f')",),
        ("k",),
        held="the first member's TRUNCATE to be held",
    )
    state = table_state(m.services, m.db, "k")
    assert equal(m.services, m.db, ("k",)), (
        f"the stalled member's TRUNCATE ran after the new owner applied rows past it "
        f"(source, target checksum and rows: {state}); checkpoint rows {applied} -> {m.checkpoint_rows()}"
    )


def test_partition_held_at_a_rename_is_resumed_after_it_was_lost_and_assigned_again(members: Members) -> None:
    """The new table's partition is held (paused) at its RENAME record while the old table's topic
    is still being applied; the member then stalls past its session (SIGSTOP), loses every partition
    and gets them back. The held partition must not stay paused for ever: the rows written to the
    renamed table after the RENAME reach the target."""
    m = members
    m.source(
        "CREATE TABLE `{db}`.a (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)",
        "INSERT INTO `{db}`.a SELECT seq, CONCAT('r', seq) FROM `{db}`.seq_1_to_30000",
        "RENAME TABLE `{db}`.a TO `{db}`.b",
        "INSERT INTO `{db}`.b VALUES (30001, 'after the rename'), (30002, 'after the rename')",
    )
    time.sleep(3)  # everything published: the applier starts with a backlog on a's topic
    member = m.start(batch_max_rows=100)
    log = m.logs / "applier-0.log"
    wait_for(lambda: "holding" in log.read_text(errors="replace"), what="b's RENAME record to be held")
    member.signal(signal.SIGSTOP)
    time.sleep(10)  # > session.timeout.ms: the group drops the member, it loses a and b
    member.signal(signal.SIGCONT)
    wait_for(
        lambda: (
            query(
                m.services.target_admin,
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND TABLE_NAME='b'",
                (m.db,),
            )[0][0]
            == 1
        ),
        timeout_s=120,
        what="a renamed to b on the target",
    )
    try:
        wait_for(lambda: equal(m.services, m.db, ("b",)), timeout_s=60, what="b equal")
    except AssertionError as exc:
        raise AssertionError(
            f"b never caught up after the RENAME (source, target checksum and rows: "
            f"{table_state(m.services, m.db, 'b')}); its partition stays paused: {exc}"
        ) from exc
    assert member.running(), member.log()


def test_rename_waits_for_the_old_tables_topic_applied_by_another_member(members: Members) -> None:
    """Two members, each owning one of the two table topics. The RENAME record in the new table's
    topic must wait until the old table's topic — owned by the other member — has applied
    everything before its own copy of the record. Here no member can apply rows for a while (the
    target refuses their BEGIN, so they retry and keep polling): the last rows of the old table wait,
    and the RENAME must wait with them. No row of the old table is lost and both members keep running."""
    m = members
    m.source(
        "CREATE TABLE `{db}`.a (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)",
        "INSERT INTO `{db}`.a VALUES (1, 'a'), (2, 'b')",
    )
    proxy = TcpProxy(m.services.target_url.port)
    try:
        first, second = m.start(port=proxy.port), m.start(port=proxy.port)
        wait_for(lambda: equal(m.services, m.db, ("a",)), what="a equal")
        proxy.set_rule(BEGIN, "cut_before")
        m.source(
            "INSERT INTO `{db}`.a VALUES (3, 'c'), (4, 'd')",  # cannot be applied while BEGIN is refused
            "RENAME TABLE `{db}`.a TO `{db}`.b",
            "INSERT INTO `{db}`.b VALUES (5, 'e')",
        )
        logs = [m.logs / f"applier-{n}.log" for n in (0, 1)]
        owners = wait_for(
            lambda: [
                n for n, log in enumerate(logs) if ".b[0] from offset" in log.read_text(errors="replace")
            ],
            timeout_s=30,
            what="b's partition to be assigned",
        )
        time.sleep(5)  # its owner reads b's RENAME record meanwhile
        proxy.clear_rule()
        try:
            wait_for(lambda: equal(m.services, m.db, ("b",)), timeout_s=60, what="b equal")
        except AssertionError as exc:
            raise AssertionError(
                f"b differs (source, target checksum and rows: {table_state(m.services, m.db, 'b')}); "
                f"b owned by member {owners}; running: {first.running()}, {second.running()}"
            ) from exc
        assert first.running() and second.running()
    finally:
        proxy.close()


@pytest.mark.parametrize(
    "moved",
    # CI time: the table moved away and back covers the same member's stale metadata too
    [pytest.param(False, marks=pytest.mark.slow), True],
    ids=["same-member", "moved-and-back"],
)
def test_member_given_a_table_back_sees_the_ddl_another_member_applied(members: Members, moved: bool) -> None:
    """A member applies a table, then loses it (it stalls past its session) to another member that
    applies `ADD UNIQUE KEY` to it, and gets it back. It must plan with the table as it is now:
    rows of a table with a unique secondary key are applied in order, not coalesced into upserts
    that hit another row's unique key (a row silently lost). The same-member case is the control."""
    m = members
    m.source(
        "CREATE TABLE `{db}`.t (id INT PRIMARY KEY, u INT NOT NULL, v VARCHAR(20) NOT NULL)",
        "INSERT INTO `{db}`.t VALUES (1, 5, 'one')",
    )
    first = m.start()
    wait_for(lambda: equal(m.services, m.db, ("t",)), what="t equal")
    if moved:
        first.signal(signal.SIGSTOP)
        second = m.start()  # takes t once the frozen member's session expires
    m.source("ALTER TABLE `{db}`.t ADD UNIQUE KEY uk (u)")
    wait_for(
        lambda: query(
            m.services.target_admin,
            "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA=%s AND TABLE_NAME='t' "
            "AND INDEX_NAME='uk'",
            (m.db,),
        )[0][0],
        timeout_s=60,
        what="the unique key applied on the target",
    )
    if moved:
        first.signal(signal.SIGCONT)
        time.sleep(3)
        assert second.terminate() == 0, second.log()  # t goes back to the first member
        wait_for(
            lambda: first.log().count(".t[0] from offset") >= 2,
            timeout_s=60,
            what="t assigned back to the first member",
        )
    with connect(m.services.source_admin) as conn, conn.cursor() as cur:  # one transaction, one batch
        cur.execute(f"UPDATE `{m.db}`.t SET u = 9 WHERE id = 1")  # frees u=5 ...
        cur.execute(f"INSERT INTO `{m.db}`.t VALUES (2, 5, 'two')")  # ... which row 2 takes
        cur.execute(f"UPDATE `{m.db}`.t SET v = 'one again' WHERE id = 1")  # row 1's last change
    try:
        wait_for(lambda: equal(m.services, m.db, ("t",)), timeout_s=60, what="t equal")
    except AssertionError as exc:
        rows = query(m.services.target_admin, f"SELECT id, u, v FROM `{m.db}`.t ORDER BY id")
        raise AssertionError(
            f"t differs; target rows: {rows} (source: (1, 9, 'one again'), (2, 5, 'two'))"
        ) from exc
    assert first.running(), first.log()


@pytest.mark.slow  # CI time: test_guard_long_ddl runs a DDL longer than the poll interval with two members
def test_ddl_slower_than_the_poll_interval_runs_once(members: Members) -> None:
    """A DDL that takes longer on the target than max.poll.interval.ms (a long ALTER; here one waiting
    for a metadata lock) makes its member leave the group, and the partition moves to another member,
    which starts at the same DDL record. The DDL must still run once: the second member must neither
    run it again (1060 duplicate column) nor stop."""
    m = members
    first, second = m.t_owned_by_the_first_of_two(FAST_GROUP + ",max.poll.interval.ms=8000")
    with connect(m.services.target_admin) as lock, lock.cursor() as cur:
        cur.execute(f"LOCK TABLES `{m.db}`.t READ")  # the target's ALTER now waits
        m.source(
            "ALTER TABLE `{db}`.t ADD COLUMN c INT NOT NULL DEFAULT 7", "INSERT INTO `{db}`.t VALUES (2, 8)"
        )
        time.sleep(20)  # > max.poll.interval.ms: the first member leaves, the second takes t
        cur.execute("UNLOCK TABLES")
    try:
        wait_for(lambda: equal(m.services, m.db, ("t",)), timeout_s=60, what="t equal")
    finally:
        stopped = [f"member {n}: {p.log()[-600:]}" for n, p in enumerate((first, second)) if not p.running()]
    assert not stopped, stopped
