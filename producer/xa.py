"""XA transactions as the binlog holds them, and what the producer remembers about them.

MariaDB (10.5+) writes a two-phase XA transaction twice, as two event groups (seen on 10.11):

- at ``XA PREPARE``: a GTID event flagged *prepared XA*, the rows (or statements), ``XA END``, and
  an ``XA_prepare`` event — the rows are in the binlog **before their outcome is known**, and other
  transactions commit after them;
- at ``XA COMMIT xid`` / ``XA ROLLBACK xid`` (possibly much later, from any session): a GTID
  event flagged *completed XA* and that one query, no rows.

``XA COMMIT … ONE PHASE`` is written as an ordinary transaction (GTID, rows, XID), and an XA
transaction rolled back before ``XA PREPARE`` is not written at all. MySQL 8 writes the same two
groups (with an ``XA START`` query instead of the flag) and ``ONE PHASE`` as an ``XA_prepare``
event with its one-phase flag set; that path is written but only MariaDB is tested here.

So the producer must not publish a prepared transaction's rows where they stand. It publishes
them at the ``XA COMMIT`` — the commit's place in the stream, like every other transaction — by
reading the prepared event group again from the binlog (a second pass over a few events, so
memory stays bounded whatever the transaction's size), and never for ``XA ROLLBACK``. Between
PREPARE and COMMIT the checkpoint may move on: it carries every XA transaction prepared and not
yet completed (:class:`producer.position.PreparedXa`: its xid and where its event group starts), so a producer
killed in between still finds the rows at the commit.
"""

from __future__ import annotations

import re
from typing import Any

# MariaDB GTID event flags (sql/log_event.h): this group is an XA PREPARE / an XA COMMIT or ROLLBACK.
FL_PREPARED_XA = 64
FL_COMPLETED_XA = 128

# How the server prints an xid in XA queries: X'gtrid',X'bqual',formatID (hex).
_XID = re.compile(r"X'([0-9a-fA-F]*)'\s*,\s*X'([0-9a-fA-F]*)'\s*,\s*(\d+)")
_XA_QUERY = re.compile(r"^\s*XA\s+(START|BEGIN|END|COMMIT|ROLLBACK)\b", re.I)


def format_xid(format_id: int, gtrid: bytes, bqual: bytes) -> str:
    """One spelling for an xid, whichever event carried it."""
    return f"X'{gtrid.hex()}',X'{bqual.hex()}',{format_id}"


def xid_of_prepare(event: Any) -> str:
    """The xid of an ``XA_prepare`` event."""
    return format_xid(int(event.xid_format_id), bytes(event.xid_gtrid), bytes(event.xid_bqual))


def xa_query(statement: str) -> tuple[str, str] | None:
    """('START' | 'END' | 'COMMIT' | 'ROLLBACK', xid) for an XA query as the server logs it."""
    head = _XA_QUERY.match(statement)
    if head is None:
        return None
    xid = _XID.search(statement, head.end())
    if xid is None:
        return None
    verb = "START" if head.group(1).upper() == "BEGIN" else head.group(1).upper()
    gtrid, bqual, format_id = xid.groups()
    return verb, format_xid(int(format_id), bytes.fromhex(gtrid), bytes.fromhex(bqual))
