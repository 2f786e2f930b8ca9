"""Start-up validation of the source: everything that would make the stream wrong or lossy is
refused before streaming, with the exact fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pymysql

from binlog_pipeline.core import mysql_errors
from binlog_pipeline.core.config import Settings
from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.producer.position import BinlogPosition, GtidStart
from binlog_pipeline.producer.source_identity import SourceIdentity


class SourceMisconfigured(PermanentError):
    pass


@dataclass(frozen=True)
class SourceInfo:
    identity: SourceIdentity
    is_mariadb: bool
    binlogs: tuple[tuple[str, int], ...]  # (file, size) oldest first
    current: BinlogPosition

    @property
    def server_id(self) -> int:
        return self.identity.server_id


def connect(url: DatabaseUrl) -> pymysql.connections.Connection[Any]:
    try:
        return pymysql.connect(**url.connect_kwargs(), autocommit=True, charset="utf8mb4", connect_timeout=10)
    except pymysql.MySQLError as exc:
        raise mysql_errors.classify(exc, f"cannot connect to the source {url}: {exc}") from exc


def binlog_status(cur: Any) -> tuple[Any, ...]:
    """The source's current binlog file and position. MySQL 8.4 removed SHOW MASTER STATUS in
    favour of SHOW BINARY LOG STATUS (8.2+); MariaDB keeps the former."""
    try:
        cur.execute("SHOW MASTER STATUS")
    except pymysql.err.ProgrammingError:
        cur.execute("SHOW BINARY LOG STATUS")
    row = cur.fetchone()
    if row is None:
        raise PermanentError("the source reports no binary log status: is log_bin on?")
    return tuple(row)


def binlogs_and_position(cur: Any) -> tuple[tuple[tuple[str, int], ...], BinlogPosition]:
    """(file, size) of every binlog on the server, oldest first, and the current position."""
    cur.execute("SHOW BINARY LOGS")
    binlogs = tuple((str(r[0]), int(r[1])) for r in cur.fetchall())
    status = binlog_status(cur)
    return binlogs, BinlogPosition(str(status[0]), int(status[1]))


def inspect_source(settings: Settings) -> SourceInfo:
    assert settings.source_url is not None
    conn = connect(settings.source_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('log_bin', 'binlog_format', "
                "'binlog_row_image', 'binlog_row_metadata', 'server_id', 'version', 'gtid_domain_id', "
                "'server_uuid')"
            )
            variables = {str(k).lower(): str(v) for k, v in cur.fetchall()}
            _check(variables, settings)
            try:
                binlogs, current = binlogs_and_position(cur)
            except pymysql.err.OperationalError as exc:
                raise SourceMisconfigured(
                    f"the source user cannot read binlog status ({exc.args[1]}); grant it: "
                    f"GRANT REPLICATION CLIENT, REPLICATION SLAVE, SELECT ON *.* TO '{settings.source_url.user}'@'%'"
                ) from exc
            cur.execute("SHOW GRANTS")
            grants = " ".join(str(r[0]).upper() for r in cur.fetchall())
    finally:
        conn.close()
    if "ALL PRIVILEGES ON *.*" not in grants and "REPLICATION SLAVE" not in grants:
        raise SourceMisconfigured(
            "the source user lacks REPLICATION SLAVE; grant it: "
            f"GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO '{settings.source_url.user}'@'%'"
        )
    return SourceInfo(
        identity=SourceIdentity.from_variables(variables),
        is_mariadb="mariadb" in variables.get("version", "").lower(),
        binlogs=binlogs,
        current=current,
    )


def _check(variables: dict[str, str], settings: Settings) -> None:
    required = [
        (
            "log_bin",
            "ON",
            "enable the binary log: start the server with --log-bin (log_bin=ON) and a server_id",
        ),
        (
            "binlog_format",
            "ROW",
            "SET GLOBAL binlog_format='ROW' (and binlog_format=ROW in the server config)",
        ),
        ("binlog_row_image", "FULL", "SET GLOBAL binlog_row_image='FULL' (and in the server config)"),
    ]
    if "binlog_row_metadata" in variables:
        required.append(
            (
                "binlog_row_metadata",
                "FULL",
                "SET GLOBAL binlog_row_metadata='FULL' (and in the server config)",
            )
        )
    for name, expected, fix in required:
        actual = variables.get(name, "").upper()
        if actual != expected:
            raise SourceMisconfigured(f"source {name} is {actual or 'unset'}, must be {expected}: {fix}")
    if int(variables.get("server_id", 0)) == settings.server_id:
        raise SourceMisconfigured(
            f"server_id {settings.server_id} is the source's own server id; choose another "
            "(--server-id / BINLOG_PIPELINE_SERVER_ID), unique among the source's replicas"
        )


def resolve_start(settings: Settings, info: SourceInfo) -> BinlogPosition | GtidStart:
    """Where a producer without a checkpoint starts."""
    if settings.start_position.startswith("gtid:"):
        return GtidStart(settings.start_position[5:])
    if settings.start_position == "end":
        return info.current
    if settings.start_position == "earliest":
        return BinlogPosition(info.binlogs[0][0], 4)
    position = BinlogPosition.parse(settings.start_position)
    check_available(position, info)
    return position


def check_available(position: BinlogPosition, info: SourceInfo) -> None:
    """Refuse a position whose binlog file is gone (purged): never silently jump ahead."""
    sizes = dict(info.binlogs)
    if position.file not in sizes:
        available = f"{info.binlogs[0][0]} .. {info.binlogs[-1][0]}" if info.binlogs else "none"
        raise SourceMisconfigured(
            f"binlog position {position} is no longer on the source (available files: {available}); "
            "the events between it and the oldest file are lost to CDC. Re-sync the target from a "
            "fresh snapshot and start a new pipeline (new topic prefix / transactional id)."
        )
    if position.pos > sizes[position.file]:
        raise SourceMisconfigured(
            f"binlog position {position} is past the end of {position.file} ({sizes[position.file]} bytes)"
        )
