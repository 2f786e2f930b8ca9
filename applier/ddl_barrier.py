"""A DDL statement that spans several partitions is applied once, when all of them have reached it.

Table topics — and the partitions of one topic — are not ordered with each other. Most DDL names
one table whose topic has one partition and is applied in that partition's order. Two kinds are
not: a RENAME naming several captured tables (an online schema change tool's cut-over, a swap),
whose record is in each of their topics while the rows before it travel in different topics; and
any DDL on a topic with several partitions (its record is on every partition). Such a statement
is a barrier over its *participants* (every partition carrying it):

1. A partition that reaches the record commits an arrival row (with the record's offset) — in the
   same target transaction as its checkpoint row, which moves up to the record — and is held there.
2. When every participant has arrived, a member runs the statement under the DDL guard over *all*
   the participants' checkpoint rows (:mod:`applier.ddl_guard`): locked, each proven still at its
   record (a row past it means every participant left: the statement ran), claimed (so a member
   that froze while running it is ended by whoever takes over), and the statement's row in the
   DDL ledger written in the same transaction. RENAMEs are exactly-once by their marker table
   (:mod:`applier.renames`); other statements are idempotent by the target's state and are only
   ever repeated while every participant is still held.
3. Each participant then moves past its record, deleting its arrival row in the same transaction.

The ledger (``applier_ddl_done``) is kept: a replayed statement that ran once is passed at once —
without waiting for partitions that a replay or retention may never bring back to it.
Participants may belong to different appliers of the group: the rows on the target are the only
place they meet. Participants reach statements in the same order (the binlog's), so holding one
partition never waits on a statement behind another's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from binlog_pipeline.applier.checkpoint import NAME_COLUMN, CheckpointFenced, CheckpointTable, exact_names
from binlog_pipeline.applier.ddl_guard import BusyElsewhere, DdlClaims, guarded
from binlog_pipeline.applier.messages import SchemaChange
from binlog_pipeline.applier.target import Target
from binlog_pipeline.core.sql import qualified, quote
from binlog_pipeline.schemas.ddl import Table, rename_pairs

log = logging.getLogger(__name__)
Partition = tuple[str, int]


def participants_of(change: SchemaChange) -> list[Partition]:
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
    """The statement's name in the ledger: a RENAME is one across its topics; other statements
    one per topic."""
    if rename_pairs(change.statement, change.database):
        return change.statement_id
    return f"{change.statement_id}/{change.where.topic}"


class DdlLedger:
    """The DDL statements this group has run on the target, for good."""

    def __init__(self, database: str, group_id: str) -> None:
        self._group = group_id
        self.name = qualified(database, "applier_ddl_done")

    def create(self, cur: Any, database: str) -> None:
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {self.name} ("
            f" group_id {NAME_COLUMN}, barrier VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
            " done_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),"
            " PRIMARY KEY (group_id, barrier)) ENGINE=InnoDB"
        )
        exact_names(cur, database, "applier_ddl_done", ("group_id",))

    def has(self, cur: Any, change: SchemaChange) -> bool:
        cur.execute(
            f"SELECT 1 FROM {self.name} WHERE group_id = %s AND barrier = %s",
            (self._group, barrier_id(change)),
        )
        return cur.fetchone() is not None

    def record(self, cur: Any, change: SchemaChange) -> None:
        cur.execute(
            f"INSERT IGNORE INTO {self.name} (group_id, barrier) VALUES (%s, %s)",
            (self._group, barrier_id(change)),
        )


class DdlBarrier:
    def __init__(
        self,
        target: Target,
        guard: Target,
        checkpoint: CheckpointTable,
        claims: DdlClaims,
        ledger: DdlLedger,
        group_id: str,
    ) -> None:
        self._target = target
        self._guard = guard
        self._checkpoint = checkpoint
        self._claims = claims
        self._ledger = ledger
        self._database = checkpoint.database
        self._group = group_id
        self.arrivals = qualified(self._database, "applier_ddl_arrivals")

    def ensure(self) -> None:
        with self._target.conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {quote(self._database)}")
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {self.arrivals} ("
                f" group_id {NAME_COLUMN}, barrier VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
                f" topic {NAME_COLUMN}, `partition` INT NOT NULL, record_offset BIGINT NOT NULL DEFAULT 0,"
                " db_name VARCHAR(64) NOT NULL, table_name VARCHAR(64) NOT NULL, create_table LONGTEXT NULL,"
                " arrived_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),"
                " PRIMARY KEY (group_id, barrier, topic, `partition`)) ENGINE=InnoDB"
            )
            exact_names(cur, self._database, "applier_ddl_arrivals", ("group_id", "topic"))
            self._ledger.create(cur, self._database)
        self._target.conn.commit()

    # --- statements run inside the checkpoint's transaction --------------------------------------
    def arrive(self, change: SchemaChange) -> Callable[[Any], None]:
        def run(cur: Any) -> None:
            cur.execute(
                f"INSERT INTO {self.arrivals} (group_id, barrier, topic, `partition`, record_offset, db_name, "
                "table_name, create_table) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                "ON DUPLICATE KEY UPDATE record_offset = VALUES(record_offset), create_table = VALUES(create_table)",
                (
                    self._group,
                    barrier_id(change),
                    change.where.topic,
                    change.where.partition,
                    change.where.offset,
                    change.database,
                    change.table,
                    change.create_table,
                ),
            )

        return run

    def leave(self, change: SchemaChange) -> Callable[[Any], None]:
        def run(cur: Any) -> None:
            cur.execute(
                f"DELETE FROM {self.arrivals} WHERE group_id = %s AND barrier = %s AND topic = %s "
                "AND `partition` = %s",
                (self._group, barrier_id(change), change.where.topic, change.where.partition),
            )

        return run

    # --- between transactions --------------------------------------------------------------------
    def arrived(self, change: SchemaChange) -> bool:
        """Whether this partition's arrival at ``change`` is committed already (by this member
        before, or by one that owned it): then its checkpoint row is at the record, and a member
        running the statement may hold that row locked — only :meth:`settle` can take it over."""
        conn = self._guard.conn
        with conn.cursor() as cur:
            cur.execute(
                f"SELECT 1 FROM {self.arrivals} WHERE group_id = %s AND barrier = %s AND topic = %s "
                "AND `partition` = %s",
                (self._group, barrier_id(change), change.where.topic, change.where.partition),
            )
            found = cur.fetchone() is not None
        conn.commit()
        return found

    def settle(self, change: SchemaChange, execute: Callable[[Mapping[Table, str | None]], None]) -> bool:
        """True once the statement has run on the target (running it now, with every
        participant's recorded definition, if they have all arrived); False while some have not
        arrived yet, or another member is running it right now."""
        conn = self._guard.conn
        with conn.cursor() as cur:
            done = self._ledger.has(cur, change)
        conn.commit()
        if done:
            return True
        arrived = self._arrived(barrier_id(change))
        missing = set(participants_of(change)) - set(arrived)
        if missing:
            log.debug("barrier %s waits for %s", barrier_id(change), sorted(missing))
            return False
        starts = {partition: offset for partition, (offset, _table, _definition) in arrived.items()}
        try:
            with guarded(self._target, self._guard, self._checkpoint, self._claims, starts, wait_s=2) as cur:
                if self._ledger.has(cur, change):
                    return True
                log.info(
                    "every participant of %s has arrived: applying %s",
                    barrier_id(change),
                    change.statement[:200],
                )
                execute({table: definition for _offset, table, definition in arrived.values()})
                self._ledger.record(cur, change)
        except CheckpointFenced:
            return True  # a participant's row is past its record: the statement ran, all left
        except BusyElsewhere:
            return False
        return True

    def _arrived(self, barrier: str) -> dict[Partition, tuple[int, Table, str | None]]:
        """(topic, partition) → (its record's offset, (db, table) of its record, the definition)."""
        conn = self._guard.conn
        with conn.cursor() as cur:
            cur.execute(
                f"SELECT topic, `partition`, record_offset, db_name, table_name, create_table FROM {self.arrivals} "
                "WHERE group_id = %s AND barrier = %s",
                (self._group, barrier),
            )
            rows = {
                (str(t), int(p)): (int(o), (str(db), str(table)), None if d is None else str(d))
                for t, p, o, db, table, d in cur.fetchall()
            }
        conn.commit()
        return rows
