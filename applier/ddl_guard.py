"""DDL under several appliers: run it only while the partition is proven ours, and never let a
member that lost the partition run it late.

MySQL commits a DDL on its own, so it cannot share the checkpoint's transaction. It runs *inside*
it on a second connection instead (:func:`guarded`): BEGIN, lock and fence the partition's
checkpoint row, run the DDL on the applier's own connection, move the row, COMMIT. While the row
is locked no other member applies past it or runs the DDL a second time.

That lock alone would let a member that froze mid-DDL (a VM pause, SIGSTOP — its DDL possibly
still on its way to the server) hold the partition for as long as it stays frozen, and an
owner that could not wait would risk the DDL landing late. So before locking, a member records
its two sessions in a *claim* row (committed); the partition's next owner — Kafka gives a
partition to one member at a time, so any other claimant lost it — ends those sessions on the
server (``KILL``, then waits until they are gone) before it takes over. A killed session's DDL
either ran before the row lock was released (the new owner's fence then sees the row moved and
skips it) or never runs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pymysql

from binlog_pipeline.applier.checkpoint import (
    NAME_COLUMN,
    CheckpointTable,
    OffsetCommitter,
    Offsets,
    commit_offsets,
    exact_names,
)
from binlog_pipeline.applier.target import Session, Target, end_session, running_statement
from binlog_pipeline.core import mysql_errors
from binlog_pipeline.core.errors import TransientError
from binlog_pipeline.core.sql import qualified, quote

LOCK_WAIT_TIMEOUT = 1205

log = logging.getLogger(__name__)


class BusyElsewhere(TransientError):
    """Another member is running a DDL on these partitions right now (on the server, or holding
    their checkpoint rows): wait for it."""


class DdlClaims:
    def __init__(self, database: str, group_id: str) -> None:
        self._database = database
        self._group = group_id
        self.name = qualified(database, "applier_ddl_claims")

    def ensure(self, target: Target) -> None:
        with target.conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {quote(self._database)}")
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {self.name} ("
                f" group_id {NAME_COLUMN}, topic {NAME_COLUMN}, `partition` INT NOT NULL,"
                " claimant CHAR(32) CHARACTER SET ascii NOT NULL DEFAULT '',"
                " session_id BIGINT NOT NULL, server_started DOUBLE NOT NULL,"
                " claimed_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),"
                " PRIMARY KEY (group_id, topic, `partition`, session_id)) ENGINE=InnoDB"
            )
            exact_names(cur, self._database, "applier_ddl_claims", ("group_id", "topic"))
        target.conn.commit()

    def take_over(self, guard: Target, partitions: list[tuple[str, int]], mine: set[Session]) -> None:
        """End the sessions another member claimed for these partitions (it lost them, or froze
        while running a DDL on them) — unless one of them is running a statement on the server
        right now (a long DDL: :class:`BusyElsewhere`, wait for it; killing it would only start it
        over) — then claim them for ``mine``, committed before the row lock is taken."""
        claimant = uuid.uuid4().hex
        conn = guard.conn
        with conn.cursor() as cur:
            for topic, partition in partitions:
                cur.execute(
                    f"SELECT claimant, session_id, server_started FROM {self.name} "
                    "WHERE group_id = %s AND topic = %s AND `partition` = %s",
                    (self._group, topic, partition),
                )
                others: dict[str, set[Session]] = {}
                for owner, session_id, started in cur.fetchall():
                    session = Session(int(session_id), float(started))
                    if session not in mine:
                        others.setdefault(str(owner), set()).add(session)
                for sessions in others.values():
                    if any(running_statement(cur, session, guard.user) for session in sessions):
                        conn.commit()
                        raise BusyElsewhere(
                            f"another member's DDL on {topic}[{partition}] is still running on the target"
                        )
                    for session in sorted(sessions, key=lambda s: s.id):
                        log.warning(
                            "ending target session %s, left holding a DDL on %s[%s] by a member that lost it",
                            session.id,
                            topic,
                            partition,
                        )
                        end_session(cur, session, guard.user)
                cur.execute(
                    f"DELETE FROM {self.name} WHERE group_id = %s AND topic = %s AND `partition` = %s",
                    (self._group, topic, partition),
                )
                for session in mine:
                    cur.execute(
                        f"INSERT INTO {self.name} (group_id, topic, `partition`, claimant, session_id, "
                        "server_started) VALUES (%s, %s, %s, %s, %s, %s)",
                        (self._group, topic, partition, claimant, session.id, session.server_started),
                    )
        conn.commit()

    def release(self, cur: Any, partitions: list[tuple[str, int]]) -> None:
        for topic, partition in partitions:
            cur.execute(
                f"DELETE FROM {self.name} WHERE group_id = %s AND topic = %s AND `partition` = %s",
                (self._group, topic, partition),
            )


@contextmanager
def guarded(
    target: Target,
    guard: Target,
    checkpoint: CheckpointTable,
    claims: DdlClaims,
    starts: Offsets,
    wait_s: int | None = None,
) -> Iterator[Any]:
    """Run the body — a DDL on ``target``, which MySQL commits on its own — while the partitions'
    checkpoint rows are locked and proven ours on ``guard``: take over the claims, BEGIN, fence
    (else :class:`~applier.checkpoint.CheckpointFenced`, and the body does not run), the body,
    release the claims, COMMIT. Yields the guard's cursor, so that the body can move the rows in
    that same transaction. ``wait_s``: give up waiting for the rows' locks after that long
    (:class:`BusyElsewhere`) instead of the server's lock wait timeout."""
    partitions = sorted(starts)
    claims.take_over(guard, partitions, {target.session(), guard.session()})
    conn = guard.conn
    conn.begin()
    try:
        with conn.cursor() as cur:
            if wait_s is not None:
                cur.execute(f"SET SESSION innodb_lock_wait_timeout = {int(wait_s)}")
            try:
                checkpoint.fence(cur, starts)
            except pymysql.MySQLError as exc:
                if wait_s is not None and mysql_errors.code(exc) == LOCK_WAIT_TIMEOUT:
                    raise BusyElsewhere(
                        f"the checkpoint rows of {partitions} are locked by another member"
                    ) from exc
                raise
            finally:
                if wait_s is not None:
                    cur.execute("SET SESSION innodb_lock_wait_timeout = DEFAULT")
            yield cur
            claims.release(cur, partitions)
        conn.commit()
    except BaseException:
        guard.rollback()
        raise


def commit_ddl(
    target: Target,
    guard: Target,
    apply: Callable[[Any], None],
    checkpoint: CheckpointTable,
    claims: DdlClaims,
    starts: Offsets,
    offsets: Offsets,
    consumer: OffsetCommitter,
) -> None:
    """Apply one DDL record and move the checkpoint past it — or raise and move nothing.

    1. :func:`guarded`: end the sessions of a member that lost the partition mid-DDL, claim it,
       BEGIN on ``guard``, lock the checkpoint row and check it is still at most where this member
       started (else another member went on, and the DDL does not run).
    2. ``apply(cursor)``: the DDL on the applier's own connection (idempotent: it may have run before
       a crash), and its row in the DDL ledger through the guard's cursor.
    3. Upsert the checkpoint row past the record, release the claim; COMMIT.
    4. Only now commit the offset to Kafka (a failure there loses nothing, as in
       :func:`~applier.checkpoint.commit_batch`).
    """
    with guarded(target, guard, checkpoint, claims, starts) as cur:
        apply(cur)
        upsert = checkpoint.upsert(offsets)
        cur.execute(upsert.sql, upsert.params)
    commit_offsets(consumer, offsets)
