"""Schema changes on the target, in stream order with each table's DML.

MySQL commits DDL implicitly, so a DDL cannot share the checkpoint's transaction. Re-applying is
made safe instead: before running a statement, the target table's current definition is compared
with the definition the producer recorded after it; equal means already applied (e.g. a crash
between the DDL and the checkpoint update), and the statement is skipped. TRUNCATE leaves the
definition unchanged and is always run (running it twice is harmless: nothing after it was applied).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pymysql

from binlog_pipeline.applier.messages import Coordinates, RowChange, SchemaChange
from binlog_pipeline.applier.planner import Route
from binlog_pipeline.applier.renames import RenameApplier
from binlog_pipeline.applier.target import TableInfo, Target, classify, normalise_create
from binlog_pipeline.core.config import Settings
from binlog_pipeline.core.errors import PermanentError, TransientError
from binlog_pipeline.core.kafka_read import committed_reader, read_to_end, undecided
from binlog_pipeline.core.schema_store import TopicSchemaStore
from binlog_pipeline.core.sql import qualified
from binlog_pipeline.schemas.codec import DecodeError
from binlog_pipeline.schemas.ddl import CREATE_TABLE_HEAD, Table, rename_pairs, statement_kind
from binlog_pipeline.schemas.ddl_session import DdlSession
from binlog_pipeline.schemas.topics import TopicNames

log = logging.getLogger(__name__)


def comparable(create: str | None) -> str | None:
    """A definition without its table name and AUTO_INCREMENT counter."""
    normal = normalise_create(create)
    return None if normal is None else CREATE_TABLE_HEAD.sub("CREATE TABLE _", normal, count=1)


class SchemaApplier:
    def __init__(self, target: Target, settings: Settings, topics: TopicNames) -> None:
        self._target = target
        self._settings = settings
        self._topics = topics
        self._route = Route(dict(settings.routes))
        self._definitions: dict[tuple[str, str], str | None] = {}
        work_db = settings.checkpoint_table.split(".", 1)[0]
        self.renames = RenameApplier(target, work_db, settings.group_id)

    def target_table(self, database: str, table: str) -> TableInfo:
        """A target table as the planner needs it. Tables with unique secondary keys get exact
        in-order statements, never coalesced upserts: ON DUPLICATE KEY UPDATE could otherwise hit
        another row's unique key. Generated columns are never written."""
        return self._target.info(database, table)

    def ensure_table(self, change: RowChange, target_name: tuple[str, str]) -> None:
        if self._target.info(*target_name).exists:
            return
        where = f"needed by message {change.where}"
        if not self._settings.create_missing_tables:
            raise PermanentError(
                f"target table {'.'.join(target_name)} does not exist ({where}); create it, or set "
                "create_missing_tables=true to create it from the producer's definition"
            )
        key = (change.database, change.table)
        definition = self._definitions.get(key) or self._from_history(*key)
        if definition is None:
            raise PermanentError(
                f"target table {'.'.join(target_name)} does not exist and no CREATE TABLE for "
                f"{change.database}.{change.table} is known ({where})"
            )
        self._create_table(target_name, definition, change.where)

    def _create_table(
        self,
        target_name: tuple[str, str],
        definition: str,
        where: Coordinates,
        session: DdlSession | None = None,
    ) -> None:
        name = ".".join(target_name)
        self._run(
            lambda: self._target.create_table(*target_name, definition, session, str(where)),
            f"creating {name}",
        )
        log.info("created target table %s from the producer's definition", name, extra=where.log_fields())

    def apply(self, change: SchemaChange, definitions: Mapping[Table, str | None] | None = None) -> None:
        """Apply one schema-change record (idempotently: it may have run before a crash).
        ``definitions``: the recorded definitions of every table of a RENAME (from the barrier);
        by default the record's own."""
        key = (change.database, change.table)
        self._definitions[key] = change.create_table
        target_name = self._route(*key)
        if change.kind == "ddl" and rename_pairs(change.statement, change.database):
            self._rename(change, definitions or {key: change.create_table})
            return
        if change.kind == "definition":
            info = self._target.info(*target_name)
            if not info.exists and change.create_table and self._settings.create_missing_tables:
                definition = change.create_table
                self._create_table(target_name, definition, change.where)
            return
        if statement_kind(change.statement) == "CREATE TABLE":
            self._create(change, target_name)
            return
        if statement_kind(change.statement) == "TRUNCATE":
            # Names only the table: safe to aim at the routed target (the snapshot of a table
            # without a primary key starts with one, so that a re-snapshot cannot duplicate rows).
            statement = f"TRUNCATE TABLE {qualified(target_name[0], target_name[1])}"
            log.info("applying DDL: %s", statement, extra=change.where.log_fields())
            self._run(
                lambda: self._target.run_ddl(change.database, statement, change.session, str(change.where)),
                f"DDL at {change.where}",
            )
            return
        if target_name != key:
            raise PermanentError(
                f"DDL on routed table {change.database}.{change.table} (message {change.where}) must be applied "
                f"to {'.'.join(target_name)} by hand: {change.statement}"
            )
        if not self._needs_running(change, target_name):
            log.info(
                "DDL already applied on the target, skipping: %s",
                change.statement,
                extra=change.where.log_fields(),
            )
            return
        statement = change.statement
        if statement_kind(statement) == "DROP TABLE":
            # One record per dropped table; the statement may name several (some already gone).
            statement = f"DROP TABLE IF EXISTS {qualified(target_name[0], target_name[1])}"
        log.info("applying DDL: %s", statement, extra=change.where.log_fields())
        self._run(
            lambda: self._target.run_ddl(change.database, statement, change.session, str(change.where)),
            f"DDL at {change.where}",
        )

    def _create(self, change: SchemaChange, target_name: tuple[str, str]) -> None:
        """A replicated CREATE TABLE: created from the recorded definition under the (possibly
        routed) target name, unless it exists already (re-applied) or creating is switched off."""
        name = ".".join(target_name)
        if self._target.info(*target_name).exists:
            log.info(
                "table %s exists on the target, skipping its CREATE",
                name,
                extra=change.where.log_fields(),
            )
            return
        if not self._settings.create_missing_tables:
            raise PermanentError(
                f"the stream creates table {name} (message {change.where}), which the target lacks, and "
                "create_missing_tables=false: create it on the target yourself, then restart"
            )
        head = CREATE_TABLE_HEAD.match(change.statement)
        body = change.statement[head.end() :].lstrip() if head else ""
        if body.startswith("("):
            # The statement is the table's definition at its place in the stream; the recorded
            # SHOW CREATE TABLE was read when the producer got here, maybe after later ALTERs (an
            # online schema change tool alters its new table right after creating it).
            self._create_table(target_name, change.statement, change.where, change.session)
        elif body.upper().startswith("LIKE") and target_name == (change.database, change.table):
            # CREATE TABLE … LIKE: the same statement on the target, at the same point of the stream.
            log.info("applying DDL: %s", change.statement, extra=change.where.log_fields())
            self._run(
                lambda: self._target.run_ddl(
                    change.database, change.statement, change.session, str(change.where)
                ),
                f"DDL at {change.where}",
            )
        elif change.create_table:
            # Recorded in UTC, as the applier's own session is: the source's zone does not apply.
            session = change.session.for_definition() if change.session else None
            self._create_table(target_name, change.create_table, change.where, session)
        else:
            self._create_table(target_name, change.statement, change.where, change.session)

    def _rename(self, change: SchemaChange, definitions: Mapping[Table, str | None]) -> None:
        topics = {topic for topic, _ in change.participants}

        def captured(name: Table) -> bool:
            # records written before participants were recorded: every name as in the statement
            return not topics or self._topics.table(*name) in topics

        for old, new in rename_pairs(change.statement, change.database):
            for name in (old, new):
                if captured(name) and self._route(*name) != name:
                    raise PermanentError(
                        f"RENAME of routed table {name[0]}.{name[1]} (message {change.where}) must be applied "
                        f"by hand on the target: {change.statement}"
                    )
        self._run(
            lambda: self.renames.apply(
                change.statement,
                change.database,
                change.statement_id,
                captured,
                definitions,
                str(change.where),
            ),
            f"RENAME at {change.where}",
        )

    def _needs_running(self, change: SchemaChange, target_name: tuple[str, str]) -> bool:
        """Whether the target still lacks this DDL's effect (it may already have it after a crash
        between the DDL and the checkpoint update)."""
        info = self._target.info(*target_name)
        kind = statement_kind(change.statement)
        if kind == "TRUNCATE":
            return True  # leaves the definition as it was; running it again is harmless
        if kind == "CREATE TABLE":
            return not info.exists
        if kind == "DROP TABLE":
            return info.exists
        if not info.exists:
            raise PermanentError(
                f"DDL at {change.where} alters {'.'.join(target_name)}, which does not exist on the target"
            )
        if change.create_table is None:
            return True  # the table is gone on the source already; its definition is unknown
        return comparable(info.create_table) != comparable(change.create_table)

    def _run(self, action: object, doing: str) -> None:
        try:
            action()  # type: ignore[operator]
        except pymysql.MySQLError as exc:
            self._target.reset()
            raise classify(exc, doing) from exc

    def _from_history(self, database: str, table: str) -> str | None:
        """The latest definition of a table from the schema-change history topic."""
        timeout_s = self._settings.kafka_timeout_s
        store = TopicSchemaStore(self._settings.librdkafka(), self._topics.schemas, timeout_s=timeout_s)
        consumer = committed_reader(self._settings.librdkafka(), "history-reader")
        latest: str | None = None
        try:
            for msg in read_to_end(consumer, self._topics.schema_changes, timeout_s=timeout_s):
                try:
                    record = store.decode(msg.value() or b"").record
                except DecodeError:
                    continue
                if (record["database"], record["table"]) == (database, table) and record["create_table"]:
                    latest = record["create_table"]
            if undecided(self._settings.librdkafka(), self._topics.schema_changes, 0, timeout_s=timeout_s):
                # the newest definition may be in it (its commit not here yet): not a verdict
                raise TransientError(
                    f"{self._topics.schema_changes} holds a transaction not decided yet: reading "
                    f"the definition of {database}.{table} again once it is"
                )
        finally:
            consumer.close()
            store.close()
        return latest
