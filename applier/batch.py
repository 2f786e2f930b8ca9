"""The batch being filled from the consumer, and the rule that keeps it honest: each partition's
messages enter it once, in offset order, from the partition's last committed position, and only
while this member owns the partition.

Rebalance callbacks run inside ``consume()``, i.e. in the middle of a fill. A revoked partition's
messages leave the batch at once (the new owner applies them); the partitions this member keeps
are *not* rewound — their messages already in the batch stay, and anything the fetcher delivers
again is dropped by offset. So no message can be in a batch twice, and none of a partition this
member no longer owns can be applied by it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from binlog_pipeline.applier.messages import Coordinates, Message

Partition = tuple[str, int]
Offsets = dict[Partition, int]


@dataclass(frozen=True)
class Diverted:
    """A message that cannot be decoded, bound for the dead-letter topic. It keeps its place in
    the batch: its offset is committed with the batch that contains it, never before."""

    where: Coordinates
    key: bytes | None
    value: bytes | None
    cause: str
    size: int = 0


Entry = Message | Diverted


def partition_of(entry: Entry) -> Partition:
    return (entry.where.topic, entry.where.partition)


class Batch:
    def __init__(self, starts: Offsets) -> None:
        """``starts``: the next offset to apply of every owned partition (its last committed
        position; a negative logical offset means "from the beginning")."""
        self.entries: list[Entry] = []
        self.starts: Offsets = dict(starts)
        self._next: Offsets = dict(starts)
        self.rows = 0
        self.size = 0

    def __bool__(self) -> bool:
        return bool(self.entries)

    def accepts(self, where: Coordinates) -> bool:
        """Whether ``where`` is the next new message of a partition this member owns."""
        expected = self._next.get((where.topic, where.partition))
        return expected is not None and where.offset >= expected

    def add(self, entry: Entry) -> None:
        assert self.accepts(entry.where), f"{entry.where} is not the next message of an owned partition"
        self.entries.append(entry)
        self._next[partition_of(entry)] = entry.where.offset + 1
        self.rows += 1
        self.size += entry.size

    def revoke(self, partitions: Iterable[Partition]) -> None:
        gone = set(partitions)
        if not gone:
            return
        kept = [entry for entry in self.entries if partition_of(entry) not in gone]
        self.rows = len(kept)
        self.size = sum(entry.size for entry in kept)
        self.entries = kept
        for partition in gone:
            self.starts.pop(partition, None)
            self._next.pop(partition, None)
