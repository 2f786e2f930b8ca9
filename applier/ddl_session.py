"""Runs a DDL statement on the target in the source session it ran in (the statement's time,
time zone, collations, sql_mode, TIMESTAMP defaults rule, auto-increment steps) and gives the
connection its own settings back afterwards, also when the statement fails.

The statement reaches the target as Unicode over the applier's utf8mb4 connection (the producer
decoded it with the source client's character set), so ``character_set_client`` stays utf8mb4;
literals are then converted to the source's connection collation as they were on the source.

Where the target cannot take a value as it is, the safe choice is made and said:
- sql_mode names the target does not know are dropped only when their absence means the same for
  a DDL statement (:data:`SAME_WHEN_ABSENT`); any other unknown mode stops the applier, naming it.
- a collation the target does not know falls back to its character set's default collation (it
  decides only how literals in the statement compare), logged; an unknown character set stops.
- time_zone 'SYSTEM' is the source's system zone: used as 'SYSTEM' when the target's system zone
  has the same name, else by name (which needs the target's time zone tables); else stop.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pymysql

from binlog_pipeline.core import mysql_errors
from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.schemas.ddl_session import ROUND_FRACTIONAL, TRUNCATE_FRACTIONAL, DdlSession

log = logging.getLogger(__name__)

# Modes one flavor has and the other lacks whose absence means the same for DDL.
SAME_WHEN_ABSENT = frozenset(
    {
        ROUND_FRACTIONAL,  # MariaDB's; MySQL rounds by default
        TRUNCATE_FRACTIONAL,  # MySQL's; MariaDB truncates by default
        "NO_AUTO_CREATE_USER",  # GRANT only (gone in MySQL 8)
        "NO_KEY_OPTIONS",  # these three change only what SHOW CREATE TABLE prints
        "NO_TABLE_OPTIONS",
        "NO_FIELD_OPTIONS",
        "SIMULTANEOUS_ASSIGNMENT",  # UPDATE only (MariaDB)
    }
)
_UTC_NAMES = frozenset({"UTC", "GMT", "Etc/UTC", "Etc/GMT", "Universal", "Zulu"})
_UNKNOWN_TIME_ZONE = 1298
_WRONG_VALUE_FOR_VAR = 1231
_UNKNOWN_COLLATION = 1273
_UNKNOWN_CHARSET = 1115


@contextmanager
def source_session(cur: Any, session: DdlSession | None, where: str) -> Iterator[None]:
    """Within the block, ``cur``'s connection has the source's session (unchanged when
    ``session`` is None: records written before sessions were recorded, definitions)."""
    if session is None:
        yield
        return
    names = _variables(session)
    cur.execute("SELECT " + ", ".join(f"@@SESSION.{name}" for name in names))
    saved = dict(zip(names, cur.fetchone(), strict=True))
    failed = False
    try:
        _enter(cur, session, where)
        yield
    except BaseException:
        failed = True
        raise
    finally:
        try:
            cur.execute(
                "SET TIMESTAMP = DEFAULT, " + ", ".join(f"SESSION {name} = %s" for name in names),
                tuple(saved.values()),
            )
        except pymysql.MySQLError:
            # The statement's own error is the one to report; the caller drops the connection
            # after any error, and a new one starts from the applier's settings.
            if not failed:
                raise


def _variables(session: DdlSession) -> list[str]:
    """The session variables ``session`` changes (and so must be saved and restored)."""
    fields = {
        "time_zone": session.time_zone,
        "collation_connection": session.collation_connection,
        "collation_server": session.collation_server,
        "collation_database": session.collation_database,
        "sql_mode": session.sql_mode,
        "explicit_defaults_for_timestamp": session.explicit_defaults_for_timestamp,
        "auto_increment_increment": session.auto_increment_increment,
        "auto_increment_offset": session.auto_increment_offset,
    }
    return [name for name, value in fields.items() if value is not None]


def _enter(cur: Any, session: DdlSession, where: str) -> None:
    seconds, micros = divmod(session.timestamp_us, 1_000_000)
    # A decimal literal: SET TIMESTAMP keeps the microseconds (CURRENT_TIMESTAMP(6)).
    cur.execute(f"SET TIMESTAMP = {seconds}.{micros:06d}")
    if session.time_zone is not None:
        _set_time_zone(cur, session, where)
    for variable, collation in (
        ("connection", session.collation_connection),
        ("server", session.collation_server),
        ("database", session.collation_database),
    ):
        if collation is not None:
            _set_collation(cur, variable, collation, where)
    if session.sql_mode is not None:
        _set_sql_mode(cur, session.sql_mode, where)
    if session.explicit_defaults_for_timestamp is not None:
        cur.execute(
            "SET SESSION explicit_defaults_for_timestamp = %s",
            (int(session.explicit_defaults_for_timestamp),),
        )
    if session.auto_increment_increment is not None:
        cur.execute("SET SESSION auto_increment_increment = %s", (session.auto_increment_increment,))
    if session.auto_increment_offset is not None:
        cur.execute("SET SESSION auto_increment_offset = %s", (session.auto_increment_offset,))


def _set_time_zone(cur: Any, session: DdlSession, where: str) -> None:
    zone = session.time_zone
    assert zone is not None
    source_system = session.system_time_zone
    if zone.upper() == "SYSTEM" and source_system is not None:
        cur.execute("SELECT @@system_time_zone")
        target_system = str(cur.fetchone()[0])
        if source_system == target_system:
            zone = "SYSTEM"
        elif source_system in _UTC_NAMES:
            zone = "+00:00"
        else:
            zone = source_system
    try:
        cur.execute("SET SESSION time_zone = %s", (zone,))
    except pymysql.MySQLError as exc:
        if mysql_errors.code(exc) != _UNKNOWN_TIME_ZONE:
            raise
        what = (
            f"the source's system time zone {zone!r}" if zone != session.time_zone else f"time zone {zone!r}"
        )
        raise PermanentError(
            f"DDL at {where} ran in {what}, which the target does not know: load the time zone "
            "tables into the target (mariadb-tzinfo-to-sql /usr/share/zoneinfo | mariadb mysql, or "
            "mysql_tzinfo_to_sql), or run the target in the source's system time zone, then restart"
        ) from exc


def _set_collation(cur: Any, variable: str, collation: str, where: str) -> None:
    try:
        cur.execute(f"SET SESSION collation_{variable} = %s", (collation,))
        return
    except pymysql.MySQLError as exc:
        if mysql_errors.code(exc) != _UNKNOWN_COLLATION:
            raise
    # Collation names are '<character set>_…', and no character set name has an underscore.
    charset = collation.split("_", 1)[0]
    try:
        cur.execute(f"SET SESSION character_set_{variable} = %s", (charset,))
    except pymysql.MySQLError as exc:
        if mysql_errors.code(exc) != _UNKNOWN_CHARSET:
            raise
        raise PermanentError(
            f"DDL at {where} ran with collation_{variable}={collation}, and the target knows neither "
            f"that collation nor the character set {charset}: apply the statement on the target by "
            "hand, then restart"
        ) from exc
    log.warning(
        "the target has no collation %s: DDL at %s runs with %s's default collation for collation_%s",
        collation,
        where,
        charset,
        variable,
    )


def _set_sql_mode(cur: Any, sql_mode: str, where: str) -> None:
    modes = [name for name in sql_mode.split(",") if name]
    try:
        cur.execute("SET SESSION sql_mode = %s", (",".join(modes),))
        return
    except pymysql.MySQLError as exc:
        if mysql_errors.code(exc) != _WRONG_VALUE_FOR_VAR:
            raise
    unknown = [name for name in modes if not _known_mode(cur, name)]
    meaningful = [name for name in unknown if name not in SAME_WHEN_ABSENT]
    if meaningful:
        raise PermanentError(
            f"DDL at {where} ran with sql_mode {','.join(meaningful)}, which the target does not know "
            "and which can change what the statement does: apply the statement on the target by hand "
            "with an equivalent session, then restart (the applier then sees it applied and skips it)"
        )
    cur.execute("SET SESSION sql_mode = %s", (",".join(name for name in modes if name not in unknown),))
    log.debug("sql_mode %s unknown on the target, same effect without: left out (DDL at %s)", unknown, where)


def _known_mode(cur: Any, name: str) -> bool:
    try:
        cur.execute("SET SESSION sql_mode = %s", (name,))
    except pymysql.MySQLError as exc:
        if mysql_errors.code(exc) != _WRONG_VALUE_FOR_VAR:
            raise
        return False
    return True
