"""The producer side of `lag`: how far each producer's committed checkpoint (read from
``{prefix}.producer-checkpoints``, the latest record per transactional id) is behind the source's
current binlog position.

``behind_bytes`` counts binlog bytes between the two positions, across files (from SHOW BINARY
LOGS). ``behind_seconds`` is the age of the source event at the checkpoint — what Debezium calls
MilliSecondsBehindSource — and 0 when nothing is behind; after a long idle spell it overstates
for a moment, until the producer has read the newest event.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from binlog_pipeline.core.config import Settings
from binlog_pipeline.core.kafka_read import committed_reader, read_to_end
from binlog_pipeline.producer.position import BinlogPosition, Checkpoint
from binlog_pipeline.producer.source_check import binlogs_and_position, connect
from binlog_pipeline.schemas.topics import TopicNames


@dataclass(frozen=True)
class ProducerLag:
    transactional_id: str
    checkpoint: str  # file:pos
    source: str | None  # the source's current file:pos; None without source_url
    behind_bytes: int | None
    behind_seconds: float | None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def latest_checkpoints(settings: Settings) -> dict[str, Checkpoint]:
    consumer = committed_reader(settings.librdkafka(), "lag-checkpoints")
    latest: dict[str, Checkpoint] = {}
    try:
        topic = TopicNames(settings.topic_prefix).checkpoints
        for msg in read_to_end(consumer, topic, timeout_s=settings.kafka_timeout_s):
            key, value = msg.key(), msg.value()
            if key is not None and value is not None:
                latest[key.decode()] = Checkpoint.from_json(value)
    finally:
        consumer.close()
    return latest


def bytes_between(
    binlogs: tuple[tuple[str, int], ...], start: BinlogPosition, end: BinlogPosition
) -> int | None:
    """Binlog bytes from ``start`` to ``end``; None when ``start``'s file is no longer on the server."""
    if start.file == end.file:
        return max(end.pos - start.pos, 0)
    names = [name for name, _ in binlogs]  # oldest first, as SHOW BINARY LOGS lists them
    if start.file not in names or end.file not in names:
        return None
    first, last = names.index(start.file), names.index(end.file)
    between = sum(size for _, size in binlogs[first + 1 : last])
    return max(binlogs[first][1] - start.pos, 0) + between + end.pos


def measure_producers(settings: Settings) -> list[ProducerLag]:
    checkpoints = latest_checkpoints(settings)
    if not checkpoints:
        return []
    binlogs: tuple[tuple[str, int], ...] = ()
    current: BinlogPosition | None = None
    if settings.source_url is not None:
        conn = connect(settings.source_url)
        try:
            with conn.cursor() as cur:
                binlogs, current = binlogs_and_position(cur)
        finally:
            conn.close()
    rows = []
    for txid, checkpoint in sorted(checkpoints.items()):
        at = f"{checkpoint.position.file}:{checkpoint.position.pos}"
        if current is None:
            rows.append(ProducerLag(txid, at, None, None, None, "set source_url to compare with the source"))
            continue
        behind = bytes_between(binlogs, checkpoint.position, current)
        if behind is None:
            rows.append(
                ProducerLag(
                    txid,
                    at,
                    f"{current.file}:{current.pos}",
                    None,
                    None,
                    f"{checkpoint.position.file} was purged from the source: this producer cannot resume",
                )
            )
            continue
        stamp = checkpoint.position_ts or checkpoint.event_ts
        seconds = max(time.time() - stamp, 0.0) if behind and stamp else 0.0
        rows.append(ProducerLag(txid, at, f"{current.file}:{current.pos}", behind, seconds))
    return rows


def render_producers(rows: list[ProducerLag]) -> str:
    if not rows:
        return "PRODUCER: no checkpoint yet"
    width = max([len(r.transactional_id) for r in rows] + [8])
    lines = [f"{'PRODUCER':<{width}} {'CHECKPOINT':>24} {'SOURCE':>24} {'BEHIND_B':>10} {'BEHIND_S':>8}"]
    for r in rows:
        behind_b = "-" if r.behind_bytes is None else str(r.behind_bytes)
        behind_s = "-" if r.behind_seconds is None else f"{r.behind_seconds:.1f}"
        lines.append(
            f"{r.transactional_id:<{width}} {r.checkpoint:>24} {r.source or '-':>24} {behind_b:>10} {behind_s:>8}"
            + (f"  {r.note}" if r.note else "")
        )
    return "\n".join(lines)
