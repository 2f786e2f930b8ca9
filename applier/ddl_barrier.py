"""A DDL statement that spans several partitions is applied once, when all of them have reached it.

Table topics — and the partitions of one topic — are not ordered with each other. Most DDL names
one table whose topic has one partition and is applied in that partition's order. Two kinds are
not: a RENAME naming several captured tables (an online schema change tool's cut-over, a swap),
whose record is in each of their topics while the rows before it travel in different topics; and
any DDL on a topic with several partitions (its record is on every partition). Such a statement
is a barrier over its *participants* (every partition carrying it):

1. A partition that reaches the record commits an arrival row — in the same target transaction
   as its checkpoint row, which stays at the record — and is held there (paused).
2. When every participant has arrived, one member runs the statement, under a named lock so that
   two members never run it twice: RENAMEs are exactly-once by their marker table
   (:mod:`applier.renames`), other statements by the target's state (:mod:`applier.schema_apply`)
   and they are only ever repeated while every participant is still held, so nothing applied
   after the statement can be undone by a repeat. A done row records that it ran.
3. Each participant then moves past its record, deleting its arrival row in the same transaction;
   the last one removes the done row (and the RENAME's marker).

The participants may belong to different appliers of the group: the rows on the target are the
only place they meet. Participants always reach statements in the same order (the binlog's), so
holding one partition never waits on a statement behind another's.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from applier.checkpoint import NAME_COLUMN, exact_names
from applier.messages import SchemaChange
from applier.target import Target
from binlog_pipeline.errors import TransientError
from binlog_pipeline.sql import qualified, quote
from schemas.ddl import rename_pairs

log = logging.getLogger(__name__)
LOCK_WAIT_S = 30


def participants_of(change: SchemaChange) -> list[tuple[str, int]]:
    """Every (topic, partition) that takes part in this record's barrier: for a RENAME, each
    partition of every topic with a record of it; otherwise each partition of its own topic."""
    own = change.where.topic
    counts = dict(change.participants) or {own: 1}
    if rename_pairs(change.statement, change.database) and change.kind == "ddl":
        topics = sorted(counts)
    else:
        topics = [own]
    return [(topic, p) for topic in topics for p in range(counts.get(topic, 1))]


def spans_partitions(change: SchemaChange) -> bool:
    return change.kind == "ddl" and len(participants_of(change)) > 1


def barrier_id(change: SchemaChange) -> str:
    """A RENAME is one barrier across its topics; other statements one per topic."""
    if rename_pairs(change.statement, change.database):
        return change.statement_id
    return f"{change.statement_id}/{change.where.topic}"


class DdlBarrier:
    def __init__(self, target: Target, database: str, group_id: str) -> None:
        self._target = target
        self._database = database
        self._group = group_id
        self.arrivals = qualified(database, "applier_ddl_arrivals")
        self.done_table = qualified(database, "applier_ddl_done")

    def ensure(self) -> None:
        with self._target.conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {quote(self._database)}")
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {self.arrivals} ("
                f" group_id {NAME_COLUMN}, barrier VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
                f" topic {NAME_COLUMN}, `partition` INT NOT NULL,"
                " db_name VARCHAR(64) NOT NULL, table_name VARCHAR(64) NOT NULL, create_table LONGTEXT NULL,"
                " arrived_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),"
                " PRIMARY KEY (group_id, barrier, topic, `partition`)) ENGINE=InnoDB"
            )
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {self.done_table} ("
                f" group_id {NAME_COLUMN}, barrier VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
                " done_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),"
                " PRIMARY KEY (group_id, barrier)) ENGINE=InnoDB"
            )
            for table, columns in (
                ("applier_ddl_arrivals", ("group_id", "topic")),
                ("applier_ddl_done", ("group_id",)),
            ):
                exact_names(cur, self._database, table, columns)
        self._target.conn.commit()

    # --- statements run inside the checkpoint's transaction --------------------------------------
    def arrive(self, change: SchemaChange) -> Callable[[Any], None]:
        def run(cur: Any) -> None:
            cur.execute(
                f"INSERT INTO {self.arrivals} (group_id, barrier, topic, `partition`, db_name, table_name, "
                "create_table) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                "ON DUPLICATE KEY UPDATE create_table = VALUES(create_table)",
                (
                    self._group,
                    barrier_id(change),
                    change.where.topic,
                    change.where.partition,
                    change.database,
                    change.table,
                    change.create_table,
                ),
            )

        return run

    def leave(self, change: SchemaChange, last: list[bool]) -> Callable[[Any], None]:
        """Delete this partition's arrival row; the last to leave deletes the done row too and
        sets ``last[0]`` (the caller then drops what only the done row needed, after COMMIT)."""

        def run(cur: Any) -> None:
            barrier = barrier_id(change)
            cur.execute(
                f"DELETE FROM {self.arrivals} WHERE group_id = %s AND barrier = %s AND topic = %s "
                "AND `partition` = %s",
                (self._group, barrier, change.where.topic, change.where.partition),
            )
            cur.execute(
                f"SELECT COUNT(*) FROM {self.arrivals} WHERE group_id = %s AND barrier = %s FOR UPDATE",
                (self._group, barrier),
            )
            row = cur.fetchone()
            if row and int(row[0]) == 0:
                cur.execute(
                    f"DELETE FROM {self.done_table} WHERE group_id = %s AND barrier = %s",
                    (self._group, barrier),
                )
                last[0] = True

        return run

    # --- between transactions --------------------------------------------------------------------
    def settle(
        self, change: SchemaChange, execute: Callable[[dict[tuple[str, str], str | None]], None]
    ) -> bool:
        """True once the statement has run on the target (running it now if every participant has
        arrived, with their recorded definitions); False while some have not arrived yet."""
        barrier = barrier_id(change)
        if self._is_done(barrier):
            return True
        expected = set(participants_of(change))
        arrived = self._arrived(barrier)
        missing = expected - set(arrived)
        if missing:
            log.debug("barrier %s waits for %s", barrier, sorted(missing))
            return False
        lock = "bp_ddl_" + hashlib.sha1(f"{self._group}\0{barrier}".encode()).hexdigest()[:32]
        conn = self._target.conn
        with conn.cursor() as cur:
            cur.execute("SELECT GET_LOCK(%s, %s)", (lock, LOCK_WAIT_S))
            got = cur.fetchone()
        conn.commit()
        if not got or got[0] != 1:
            raise TransientError(f"another applier holds the lock of DDL barrier {barrier}; retrying")
        try:
            if not self._is_done(barrier):
                definitions = {table: definition for table, definition in arrived.values()}
                log.info("every participant of %s has arrived: applying %s", barrier, change.statement[:200])
                execute(definitions)
                with conn.cursor() as cur:
                    cur.execute(
                        f"INSERT IGNORE INTO {self.done_table} (group_id, barrier) VALUES (%s, %s)",
                        (self._group, barrier),
                    )
                conn.commit()
        finally:
            with conn.cursor() as cur:
                cur.execute("SELECT RELEASE_LOCK(%s)", (lock,))
            conn.commit()
        return True

    def _is_done(self, barrier: str) -> bool:
        conn = self._target.conn
        with conn.cursor() as cur:
            cur.execute(
                f"SELECT 1 FROM {self.done_table} WHERE group_id = %s AND barrier = %s",
                (self._group, barrier),
            )
            found = cur.fetchone() is not None
        conn.commit()
        return found

    def _arrived(self, barrier: str) -> dict[tuple[str, int], tuple[tuple[str, str], str | None]]:
        """(topic, partition) → ((db, table) of its record, the definition recorded with it)."""
        conn = self._target.conn
        with conn.cursor() as cur:
            cur.execute(
                f"SELECT topic, `partition`, db_name, table_name, create_table FROM {self.arrivals} "
                "WHERE group_id = %s AND barrier = %s",
                (self._group, barrier),
            )
            rows = {
                (str(t), int(p)): ((str(db), str(table)), None if d is None else str(d))
                for t, p, db, table, d in cur.fetchall()
            }
        conn.commit()
        return rows
