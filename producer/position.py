"""The producer's checkpoint: where to resume in the binlog, exactly.

``(file, pos)`` is always a transaction boundary (the end of a commit or DDL event). When a source
transaction is larger than one Kafka transaction, ``skip_rows`` counts the rows of the
transaction starting at that boundary that were already published: a resume reads from the
boundary again and drops that many captured rows, so nothing is lost or repeated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from producer.snapshot_progress import SnapshotProgress


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
class Checkpoint:
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
        )

    def advanced(self, **changes: Any) -> Checkpoint:
        return replace(self, **changes)


def _optional_int(value: Any) -> int | None:
    return int(value) if value is not None else None
