"""The producer's checkpoint: where to resume in the binlog, exactly.

``(file, pos)`` is always a transaction boundary (the end of a commit or DDL event). When a source
transaction is larger than one Kafka transaction, ``skip_rows`` counts the rows of the
transaction starting at that boundary that were already published: a resume reads from the
boundary again and drops that many captured rows, so nothing is lost or repeated.

The checkpoint also carries what the binlog before the position left open — XA transactions
prepared and not yet committed or rolled back (:class:`PreparedXa`, see :mod:`producer.xa`) —
and the identity of the source server it belongs to (:mod:`producer.source_identity`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from binlog_pipeline.producer.snapshot_progress import SnapshotProgress


@dataclass(frozen=True, order=True)
class BinlogPosition:
    file: str
    pos: int

    def __str__(self) -> str:
        return f"{self.file}:{self.pos}"

    @classmethod
    def parse(cls, text: str) -> BinlogPosition:
        file, _, pos = text.rpartition(":")
        return cls(file, int(pos))


@dataclass(frozen=True)
class GtidStart:
    """Start after a GTID set (first start only: checkpoints are always exact file/positions)."""

    gtid_set: str

    def __str__(self) -> str:
        return f"gtid:{self.gtid_set}"


@dataclass(frozen=True)
class PreparedXa:
    """An XA transaction prepared and not yet completed, at the checkpoint's position."""

    xid: str
    start: BinlogPosition  # where its prepared event group starts: read again at its XA COMMIT
    gtid: str | None  # the GTID of that group (checked when it is read again)
    tables: tuple[str, ...]  # captured tables ("db.table") whose rows it holds
    statements: bool = False  # it holds statement-logged DML, judged when it commits

    @property
    def publishes(self) -> bool:
        """Whether its XA COMMIT has anything to publish (or to refuse)."""
        return bool(self.tables) or self.statements

    def to_json(self) -> dict[str, Any]:
        return {
            "xid": self.xid,
            "start": str(self.start),
            "gtid": self.gtid,
            "tables": list(self.tables),
            "statements": self.statements,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> PreparedXa:
        return cls(
            xid=doc["xid"],
            start=BinlogPosition.parse(doc["start"]),
            gtid=doc.get("gtid"),
            tables=tuple(doc.get("tables", ())),
            statements=bool(doc.get("statements", False)),
        )


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """Built with keywords only: thirteen fields, several of the same type, are never matched by
    position."""

    position: BinlogPosition
    skip_rows: int = 0
    gtid: str | None = None
    server_id: int = 0
    event_ts: int = 0  # source event time (seconds) of the last published change
    position_ts: int = 0  # source event time of the event that ends at ``position`` (captured or not)
    defined_tables: frozenset[str] = field(
        default_factory=frozenset
    )  # tables whose first record was published
    snapshot: SnapshotProgress | None = None  # the snapshot's progress, when one ever started
    snapshot_requests_offset: int = 0  # next offset of the snapshot-requests topic to act on
    # The source server's identity and where the GTID event of ``gtid`` starts in its binlog, so a
    # resume can tell that it is on the same server (producer/source_identity.py). None: not
    # recorded (a checkpoint of an older version, a MySQL field on MariaDB or the reverse).
    gtid_domain_id: int | None = None
    server_uuid: str | None = None
    gtid_at: BinlogPosition | None = None
    prepared_xa: tuple[PreparedXa, ...] = ()  # XA transactions prepared, not completed (producer/xa.py)

    def to_json(self) -> bytes:
        doc: dict[str, Any] = {
            "file": self.position.file,
            "pos": self.position.pos,
            "skip_rows": self.skip_rows,
            "gtid": self.gtid,
            "server_id": self.server_id,
            "event_ts": self.event_ts,
            "position_ts": self.position_ts,
            "defined_tables": sorted(self.defined_tables),
            "snapshot": self.snapshot.to_json() if self.snapshot is not None else None,
            "snapshot_requests_offset": self.snapshot_requests_offset,
            "gtid_domain_id": self.gtid_domain_id,
            "server_uuid": self.server_uuid,
            "gtid_at": str(self.gtid_at) if self.gtid_at is not None else None,
            "prepared_xa": [xa.to_json() for xa in self.prepared_xa],
        }
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Checkpoint:
        doc = json.loads(data)
        return cls(
            position=BinlogPosition(doc["file"], int(doc["pos"])),
            skip_rows=int(doc.get("skip_rows", 0)),
            gtid=doc.get("gtid"),
            server_id=int(doc.get("server_id", 0)),
            event_ts=int(doc.get("event_ts", 0)),
            position_ts=int(doc.get("position_ts", 0)),
            defined_tables=frozenset(doc.get("defined_tables", ())),
            snapshot=SnapshotProgress.from_json(doc["snapshot"]) if doc.get("snapshot") else None,
            snapshot_requests_offset=int(doc.get("snapshot_requests_offset", 0)),
            gtid_domain_id=_optional_int(doc.get("gtid_domain_id")),
            server_uuid=doc.get("server_uuid"),
            gtid_at=BinlogPosition.parse(doc["gtid_at"]) if doc.get("gtid_at") else None,
            prepared_xa=tuple(PreparedXa.from_json(xa) for xa in doc.get("prepared_xa", ())),
        )

    def advanced(self, **changes: Any) -> Checkpoint:
        return replace(self, **changes)


def _optional_int(value: Any) -> int | None:
    return int(value) if value is not None else None
