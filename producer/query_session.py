"""A Query event's session: its statement as the client wrote it, and the session variables a
DDL depends on, by name.

The binlog stores a statement in the bytes its client sent (its ``character_set_client``) and the
session as status variables with server-specific numbers: collation ids and a sql_mode bit mask
whose upper bits mean different modes on MySQL and MariaDB. Numbers are resolved to names by
asking the source itself (once per distinct value), so they mean on the target what they meant on
the source.
"""

from __future__ import annotations

from typing import Any

import pymysql

from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.producer.charsets import InvalidText, TextDecoders, UnsupportedCharset, read_by_source
from binlog_pipeline.producer.source_check import connect
from binlog_pipeline.schemas.ddl_session import ROUND_FRACTIONAL, TRUNCATE_FRACTIONAL, DdlSession

# The post-header of a QUERY_EVENT is 13 bytes on every MySQL and MariaDB version since 5.0.
_QUERY_POST_HEADER = 13
_EVENT_HEADER = 20  # the OK byte of the replication packet + the 19-byte event header
# MariaDB (10.10+) logs explicit_defaults_for_timestamp as this bit of flags2 (mariadb-binlog
# prints it from there); older MariaDB has no such bit, and MySQL uses a status variable.
_MARIADB_EXPLICIT_DEFAULTS = 1 << 24


def statement_bytes(event: Any) -> bytes:
    """The statement exactly as logged. python-mysql-replication decodes it as UTF-8 and escapes
    other bytes with backslashes, which cannot be undone (a client may have written a backslash);
    the raw bytes are the end of the event, before its checksum."""
    data = event.packet.packet.get_all_data()
    start = _EVENT_HEADER + _QUERY_POST_HEADER + event.status_vars_length + event.schema_length + 1
    raw = bytes(data[start : _EVENT_HEADER + event.event_size])
    # The library read the same bytes: if our offsets disagree with it, refuse rather than guess.
    if data[start - 1] != 0 or raw.decode("utf-8", "backslashreplace") != event.query:
        raise PermanentError(
            "cannot locate a Query event's statement bytes (python-mysql-replication's event layout "
            "differs from what this producer expects); pin mysql-replication to the tested 1.0.17"
        )
    return raw


class QuerySessions:
    """Decodes statements and resolves DDL sessions for one replication stream. Owns a source
    connection, opened on the first statement that needs a lookup; text decodes with ``texts``,
    the stream's decoders of the source's charsets (:mod:`producer.charsets`)."""

    def __init__(self, url: DatabaseUrl, texts: TextDecoders) -> None:
        self._url = url
        self._texts = texts
        self._conn: pymysql.connections.Connection[Any] | None = None
        self._collations: dict[int, tuple[str, str]] = {}  # id → (collation, character set)
        self._sql_modes: dict[int, str] = {}
        self._system_time_zone: str | None = None
        self._undecodable: tuple[Any, str] | None = None  # (event, why) of the last statement

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def statement(self, event: Any, where: str) -> str:
        """The statement as text, decoded with the character set its client wrote it in.

        Bytes that are not text in that character set (a raw binary literal, a charset we cannot
        decode) cannot be carried as text: the library's lossy text is returned, good enough to
        see which tables the statement names, and :meth:`session` — asked only for statements
        that are published — refuses it."""
        self._undecodable = None
        raw = statement_bytes(event)
        if raw.isascii():  # the same in every client character set (all are ASCII supersets)
            return raw.decode("ascii")
        client = getattr(event, "character_set_client", None)
        charset = self._collation(client)[1] if client is not None else "utf8mb4"
        try:
            return self._decode(raw, charset)
        except (UnsupportedCharset, InvalidText) as exc:
            self._undecodable = (
                event,
                f"the statement ending at {where} (from a {charset} client) is not text: {exc}",
            )
            return str(event.query)

    def session(self, event: Any) -> DdlSession:
        """The session variables a DDL depends on, by name; None where the event carries none."""
        if self._undecodable is not None and self._undecodable[0] is event:
            raise PermanentError(
                f"{self._undecodable[1]}; published as text it would be corrupted, so the producer "
                "stops before it. Apply it on the target by hand; passing it takes a producer without "
                "a checkpoint started at the position after it (start_position)"
            )
        micros = getattr(event, "hrnow", None) or getattr(event, "microseconds", None) or 0
        time_zone = _text(getattr(event, "time_zone", None))
        mariadb = getattr(event, "dbms", "mysql") == "mariadb"
        return DdlSession(
            timestamp_us=int(event.timestamp) * 1_000_000 + int(micros),
            time_zone=time_zone,
            system_time_zone=self._system_zone() if time_zone == "SYSTEM" else None,
            character_set_client=self._charset_of(getattr(event, "character_set_client", None)),
            collation_connection=self._collation_of(getattr(event, "collation_connection", None)),
            collation_server=self._collation_of(getattr(event, "collation_server", None)),
            collation_database=self._collation_of(getattr(event, "charset_database_number", None)),
            sql_mode=self._sql_mode(getattr(event, "sql_mode", None), mariadb),
            explicit_defaults_for_timestamp=_explicit_defaults(event, mariadb),
            auto_increment_increment=getattr(event, "auto_increment_increment", None),
            auto_increment_offset=getattr(event, "auto_increment_offset", None),
        )

    def _decode(self, raw: bytes, charset: str) -> str:
        try:
            decode = self._texts.decoder(charset)
        except UnsupportedCharset:
            # A multi-byte legacy client (gbk, sjis, …): no decoder maps it exactly, but a
            # statement is rare enough to be read by the source itself.
            with self._cursor() as cur:
                return read_by_source(cur, raw, charset)
        return decode(raw)

    # --- lookups on the source, cached ----------------------------------------------------------
    def _cursor(self) -> Any:
        if self._conn is None:
            self._conn = connect(self._url)
        return self._conn.cursor()

    def _collation(self, collation_id: int) -> tuple[str, str]:
        if collation_id not in self._collations:
            with self._cursor() as cur:
                # MariaDB lists its UCA 14.0 collation aliases without an id: they are never logged.
                cur.execute(
                    "SELECT ID, COLLATION_NAME, CHARACTER_SET_NAME FROM information_schema.COLLATIONS "
                    "WHERE ID IS NOT NULL"
                )
                self._collations = {int(row[0]): (str(row[1]), str(row[2])) for row in cur.fetchall()}
        found = self._collations.get(collation_id)
        if found is None:
            raise PermanentError(f"the source knows no collation with id {collation_id}")
        return found

    def _collation_of(self, collation_id: int | None) -> str | None:
        return None if collation_id is None else self._collation(collation_id)[0]

    def _charset_of(self, collation_id: int | None) -> str | None:
        return None if collation_id is None else self._collation(collation_id)[1]

    def _sql_mode(self, bits: int | None, mariadb: bool) -> str | None:
        if bits is None:
            return None
        names = self._sql_modes.get(bits)
        if names is None:
            # The source's own expansion of its bits: this connection's session is ours to change.
            with self._cursor() as cur:
                cur.execute("SET SESSION sql_mode = %s", (bits,))
                cur.execute("SELECT @@SESSION.sql_mode")
                names = str(cur.fetchone()[0])
            self._sql_modes[bits] = names
        modes = [name for name in names.split(",") if name]
        if mariadb and ROUND_FRACTIONAL not in modes:
            modes.append(TRUNCATE_FRACTIONAL)
        elif not mariadb and TRUNCATE_FRACTIONAL not in modes:
            modes.append(ROUND_FRACTIONAL)
        return ",".join(modes)

    def _system_zone(self) -> str:
        if self._system_time_zone is None:
            with self._cursor() as cur:
                cur.execute("SELECT @@system_time_zone")
                self._system_time_zone = str(cur.fetchone()[0])
        return self._system_time_zone


def _text(value: bytes | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.decode("utf-8")


def _explicit_defaults(event: Any, mariadb: bool) -> bool | None:
    if mariadb:
        if tuple(getattr(event, "mysql_version", (0,)))[:2] < (10, 10) or not hasattr(event, "flags2"):
            return None  # not logged: the target keeps its own setting
        return bool(event.flags2 & _MARIADB_EXPLICIT_DEFAULTS)
    value = getattr(event, "explicit_defaults_ts", None)
    return None if value is None else bool(value)
