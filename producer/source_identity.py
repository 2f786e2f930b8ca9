"""Which source server a checkpoint belongs to, and the one check that a resume happens there.

A checkpoint is a binlog file and offset, and a binlog file name like ``mysql-bin.000003`` exists
on every server: resuming it on another server (a ``source_url`` pointed at a replica, a
different primary, or the same host rebuilt from scratch) would stream that server's unrelated
events from an offset that means nothing there, silently. So the checkpoint records the server
it was taken on and a resume compares:

1. **Identity**: ``server_id`` and, on MariaDB, ``gtid_domain_id``; on MySQL also ``server_uuid``
   (unique per data directory, so it also tells a rebuilt MySQL server apart). Fields a
   checkpoint does not have (written by an older version) are not compared.
2. **Content**: a server rebuilt with the same ``server_id`` and domain has the same identity and
   file names but other events. The checkpoint records the GTID of the last transaction it saw and
   where that transaction's GTID event starts (``gtid_at``); ``SHOW BINLOG EVENTS IN file FROM
   pos LIMIT 1`` reads exactly that event (a seek, not a scan), which must be that GTID.

Not detected: a server that holds the same GTID event at the same offset, e.g. a restored
physical copy of the source *with its binlogs* (then its binlog up to the checkpoint is the same
history, which is what the checkpoint needs); a checkpoint without ``gtid_at`` (older version, or
MySQL with GTIDs off, where ``server_uuid`` is the guard) or whose GTID event's file was purged
(logged). MySQL 8 is handled (``server_uuid``, its ``SET @@SESSION.GTID_NEXT`` event text) but only
MariaDB is exercised by the tests here.

GTID failover (resuming on another server by GTID) will change rule 1 for servers of the same
replication topology; it belongs here, in :func:`check_same_server`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import pymysql

from binlog_pipeline.core import mysql_errors
from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.producer.position import BinlogPosition, Checkpoint

log = logging.getLogger(__name__)

# SHOW BINLOG EVENTS failed: no event starts at that offset (or the file cannot be read there).
ER_ERROR_WHEN_EXECUTING_COMMAND = 1220


class SourceMismatch(PermanentError):
    """The source server is not the one the checkpoint was taken on."""


@dataclass(frozen=True)
class SourceIdentity:
    server_id: int
    gtid_domain_id: int | None  # MariaDB only
    server_uuid: str | None  # MySQL only

    @classmethod
    def from_variables(cls, variables: dict[str, str]) -> SourceIdentity:
        """From ``SHOW GLOBAL VARIABLES`` (names lower-case)."""
        domain = variables.get("gtid_domain_id")
        return cls(
            server_id=int(variables["server_id"]),
            gtid_domain_id=int(domain) if domain is not None else None,
            server_uuid=variables.get("server_uuid") or None,
        )

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> SourceIdentity:
        return cls(checkpoint.server_id, checkpoint.gtid_domain_id, checkpoint.server_uuid)

    def __str__(self) -> str:
        parts = [f"server_id {self.server_id}"]
        if self.gtid_domain_id is not None:
            parts.append(f"gtid_domain_id {self.gtid_domain_id}")
        if self.server_uuid is not None:
            parts.append(f"server_uuid {self.server_uuid}")
        return ", ".join(parts)

    def differs_from(self, recorded: SourceIdentity) -> bool:
        """True when a field ``recorded`` has (0 / None: not recorded) differs from this server's."""
        return (
            (recorded.server_id != 0 and recorded.server_id != self.server_id)
            or (recorded.gtid_domain_id is not None and recorded.gtid_domain_id != self.gtid_domain_id)
            or (recorded.server_uuid is not None and recorded.server_uuid != self.server_uuid)
        )


FIX = (
    "A checkpoint can only resume on the server it was taken on. Fix: point source_url back at "
    "that server; or, if this server is meant to be the source from now on, start a new pipeline "
    "on it (a new topic_prefix and transactional_id, with a snapshot: snapshot_mode=initial) and "
    "re-sync the target from it."
)


def check_same_server(checkpoint: Checkpoint, server: SourceIdentity, conn: Any, binlogs: set[str]) -> None:
    """Refuse to resume ``checkpoint`` on this server unless it is the one the checkpoint was
    taken on (module docstring: identity, then content). ``binlogs``: the server's binlog files."""
    recorded = SourceIdentity.of(checkpoint)
    if server.differs_from(recorded):
        raise SourceMismatch(
            f"the producer checkpoint (at {checkpoint.position}) belongs to the source server with "
            f"{recorded}, but source_url points at a server with {server}. {FIX}"
        )
    at, gtid = checkpoint.gtid_at, checkpoint.gtid
    if at is None or gtid is None:
        return  # an older checkpoint, or a source without GTIDs: identity is all we can compare
    if at.file not in binlogs:
        log.warning("cannot verify the checkpoint's source by content: %s (GTID %s) is purged", at.file, gtid)
        return
    found = event_at(conn, at)
    if found is None or not holds_gtid(found, gtid):
        what = f"a {found[0]} event ({found[1]})" if found is not None else "no event starting there"
        raise SourceMismatch(
            f"the producer checkpoint (at {checkpoint.position}) was taken on a source whose binlog "
            f"holds GTID {gtid} at {at}; this server ({server}) has {what}: it is another server "
            f"with the same binlog file names (rebuilt, or a different host). {FIX}"
        )


def event_at(conn: Any, position: BinlogPosition) -> tuple[str, str] | None:
    """(event type, info) of the binlog event that starts exactly at ``position``, or None when
    no event starts there."""
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW BINLOG EVENTS IN %s FROM %s LIMIT 1", (position.file, position.pos))
            row = cur.fetchone()
    except pymysql.err.MySQLError as exc:
        if mysql_errors.code(exc) == ER_ERROR_WHEN_EXECUTING_COMMAND:
            return None
        raise
    return (str(row[2]), str(row[5])) if row else None


def holds_gtid(event: tuple[str, str], gtid: str) -> bool:
    """Whether a SHOW BINLOG EVENTS row is the GTID event of ``gtid``: MariaDB prints
    ``BEGIN GTID 0-1-42`` (or ``GTID 0-1-42``, ``XA START … GTID 0-1-42``), MySQL
    ``SET @@SESSION.GTID_NEXT= 'uuid:42'``."""
    kind, info = event
    return kind.lower() == "gtid" and gtid.lower() in re.split(r"[\s']+", info.lower())
