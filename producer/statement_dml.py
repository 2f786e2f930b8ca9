"""DML the source logged as a statement instead of rows.

A session with ``binlog_format=STATEMENT`` or ``MIXED`` (settable per session by any user with
the privilege, whatever the global setting) writes ``INSERT``/``UPDATE``/``DELETE``/``REPLACE``/
``LOAD DATA`` as SQL text: the binlog then holds no row images, so the producer cannot publish
what changed. This module tells which tables such a statement writes and decides:

- it writes a captured table → stop (:class:`StatementLoggedDml`), naming the position, the
  tables and the fix; the checkpoint does not pass it;
- it writes only tables the producer does not capture (filtered out, system schemas, temporary
  tables of the session) → go on; it is not a transaction boundary;
- the written tables cannot be told (a ``SELECT``/``DO``/``CALL`` whose stored functions write,
  a ``WITH`` statement, a view, an unparsable statement) → stop as well: it may have changed a
  captured table, and going on would be a silent gap, while a stop is visible and recoverable.

Not a SQL parser: it reads the statement forms MySQL/MariaDB write to the binlog and takes, for
multi-table ``UPDATE``/``DELETE``, every table named in the table references (a superset of the
written ones). Not detected: writes that triggers on an uncaptured table make to a captured one
(seeing triggers needs the TRIGGER privilege; in ROW format their rows are logged anyway).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.producer.position import BinlogPosition
from binlog_pipeline.schemas.ddl import strip_comments

Table = tuple[str, str]
SYSTEM_SCHEMAS = frozenset({"mysql", "information_schema", "performance_schema", "sys"})

_TOKEN = re.compile(
    r"`(?:[^`]|``)*`"  # quoted identifier
    r"|'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\""  # string literals
    r"|[\w$\u0080-\uffff]+"  # word
    r"|\S",  # one punctuation character
    re.S,
)
_INSERT_MODIFIERS = {"LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE", "INTO"}
_UPDATE_MODIFIERS = {"LOW_PRIORITY", "IGNORE"}
_DELETE_MODIFIERS = {"LOW_PRIORITY", "QUICK", "IGNORE"}
# After these, a table reference starts (in UPDATE/DELETE table references).
_TABLE_NEXT = {",", "JOIN", "STRAIGHT_JOIN", "FROM", "USING"}
_DELETE_END = {"WHERE", "ORDER", "LIMIT", "RETURNING"}
# Statement-logged statements that write through stored functions or procedures, or whose
# form we do not read.
_UNATTRIBUTABLE = {"SELECT", "DO", "CALL", "WITH", "VALUES", "TABLE", "EXECUTE", "HANDLER", "("}
_DML = {"INSERT", "REPLACE", "UPDATE", "DELETE", "LOAD"} | _UNATTRIBUTABLE


@dataclass(frozen=True)
class Written:
    """What a DML statement writes: ``tables`` (None when they cannot be told, with ``reason``)."""

    kind: str
    tables: tuple[Table, ...] | None
    reason: str = ""


def written_tables(statement: str, default_db: str) -> Written | None:
    """The tables a statement-logged DML statement writes; None when it is not DML."""
    tokens = _TOKEN.findall(strip_comments(statement))
    words = [t.upper() for t in tokens]
    if not words or words[0] not in _DML:
        return None
    kind = words[0]
    if kind in _UNATTRIBUTABLE:
        return Written(
            kind, None, "its writes come from stored functions, procedures or a form not read here"
        )
    if kind in ("INSERT", "REPLACE"):
        i = _skip(words, 1, _INSERT_MODIFIERS)
        tables = _names_at(tokens, [i], default_db)
    elif kind == "LOAD":
        into = _find(words, 1, ("INTO",))
        kind = "LOAD DATA"
        tables = (
            _names_at(tokens, [into + 2], default_db)
            if into + 1 < len(words) and words[into + 1] == "TABLE"
            else []
        )
    else:
        start = _skip(words, 1, _UPDATE_MODIFIERS if kind == "UPDATE" else _DELETE_MODIFIERS)
        end = _find(words, start, ("SET",) if kind == "UPDATE" else tuple(_DELETE_END))
        tables = _table_references(tokens, words, start, end, default_db)
    if not tables:
        return Written(kind, None, "no table name found in it")
    return Written(kind, tuple(dict.fromkeys(tables)))


def _skip(words: list[str], i: int, modifiers: set[str]) -> int:
    while i < len(words) and words[i] in modifiers:
        i += 1
    return i


def _find(words: list[str], start: int, stops: tuple[str, ...]) -> int:
    """Index of the first of ``stops`` outside parentheses at or after ``start`` (or the end)."""
    depth = 0
    for i in range(start, len(words)):
        word = words[i]
        if word == "(":
            depth += 1
        elif word == ")":
            depth -= 1
        elif depth == 0 and word in stops:
            return i
    return len(words)


def _table_references(
    tokens: list[str], words: list[str], start: int, end: int, default_db: str
) -> list[Table]:
    """Every table named at the top level of ``tokens[start:end]`` (derived tables are read-only)."""
    starts, depth, expect = [], 0, True
    for i in range(start, end):
        word = words[i]
        if word == "(":
            depth += 1
        elif word == ")":
            depth -= 1
        elif depth == 0:
            if expect and word not in _TABLE_NEXT:
                starts.append(i)
            expect = word in _TABLE_NEXT
            continue
        expect = False
    return _names_at(tokens, starts, default_db)


def _names_at(tokens: list[str], starts: list[int], default_db: str) -> list[Table]:
    """The (possibly qualified) table names starting at ``starts``; ``t.*`` is ``t``."""
    names = []
    for i in starts:
        if i >= len(tokens) or not _is_name(tokens[i]):
            continue
        if i + 2 < len(tokens) and tokens[i + 1] == "." and _is_name(tokens[i + 2]):
            names.append((_unquote(tokens[i]), _unquote(tokens[i + 2])))
        else:
            names.append((default_db, _unquote(tokens[i])))
    return names


def _is_name(token: str) -> bool:
    return token.startswith("`") or bool(re.fullmatch(r"[\w$\u0080-\uffff]+", token))


def _unquote(token: str) -> str:
    return token[1:-1].replace("``", "`") if token.startswith("`") else token


class StatementLoggedDml(PermanentError):
    """DML on captured tables (or on tables that cannot be told) was logged as a statement."""


ROW_FORMAT_FIX = (
    "make every session log rows: SET GLOBAL binlog_format='ROW' (and binlog_format=ROW in the "
    "server config), and stop the job or application that ran it from setting binlog_format for "
    "its session"
)


class StatementCheck:
    """Applies the module's rules to one statement-logged DML event.

    ``captured(db, table)`` is the producer's table filter; ``table_type(db, table)`` is the
    source's ``information_schema.TABLES.TABLE_TYPE`` now ('BASE TABLE', 'VIEW', …) or None.
    """

    def __init__(
        self, captured: Callable[[str, str], bool], table_type: Callable[[str, str], str | None]
    ) -> None:
        self._captured = captured
        self._table_type = table_type
        self._types: dict[Table, str | None] = {}

    def forget(self) -> None:
        """DDL ran: table types may have changed."""
        self._types.clear()

    def _type(self, database: str, table: str) -> str | None:
        key = (database, table)
        if key not in self._types:
            self._types[key] = self._table_type(database, table)
        return self._types[key]

    def check(self, statement: str, default_db: str, uses_temporary: bool, position: BinlogPosition) -> bool:
        """False when ``statement`` is not DML. True when it is DML that writes no captured table
        (go on); raises :class:`StatementLoggedDml` when it writes one, or may."""
        written = written_tables(statement, default_db)
        if written is None:
            return False
        quoted = _shorten(statement)
        if written.tables is None:
            raise StatementLoggedDml(
                f"statement-logged {written.kind} at {position}: the binlog holds its SQL, not rows, and "
                f"which tables it changed cannot be told ({written.reason}): {quoted}. It may have "
                "changed captured tables, so the producer stops rather than leave a silent gap (its "
                f"checkpoint does not pass it). Fix: {ROW_FORMAT_FIX}. This statement's changes are "
                "not in the binlog: to go on, start a new pipeline with a snapshot (new topic_prefix "
                "and transactional_id, snapshot_mode=initial)."
            )
        hit = []
        for database, table in written.tables:
            if self._captured(database, table):
                if uses_temporary and self._type(database, table) is None:
                    # The event says the statement uses a temporary table, and a session's
                    # temporary tables are not in information_schema: this one is. (A temporary
                    # table shadowing a captured table still stops: it cannot be told apart.)
                    continue
                hit.append(f"{database}.{table}")
            elif database.lower() not in SYSTEM_SCHEMAS and self._type(database, table) == "VIEW":
                raise StatementLoggedDml(
                    f"statement-logged {written.kind} at {position} writes the view {database}.{table}: "
                    f"the binlog holds its SQL, not rows, and the view's tables may be captured: {quoted}. "
                    f"Fix: {ROW_FORMAT_FIX}; then re-sync the view's captured tables as for a "
                    "statement on them (README, error policy)."
                )
        if hit:
            names = ", ".join(hit)
            raise StatementLoggedDml(
                f"statement-logged {written.kind} at {position} on captured table(s) {names}: the session "
                f"logged it as a statement (binlog_format STATEMENT or MIXED), so the binlog holds its "
                f"SQL, not the changed rows: {quoted}. The producer stopped before it (its checkpoint "
                f"does not pass it). Fix: {ROW_FORMAT_FIX}. Then re-sync {names}: add them to "
                "exclude_tables and restart (the producer passes this statement), remove them again, "
                f"restart and run `binlog-pipeline snapshot --table` for each (rows are upserted; rows "
                "this statement deleted stay on the target — `binlog-pipeline verify` lists them)."
            )
        return True


def _shorten(statement: str, limit: int = 300) -> str:
    text = " ".join(statement.split())
    return text if len(text) <= limit else text[:limit] + " …"
