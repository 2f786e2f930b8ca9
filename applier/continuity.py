"""A check that the consumer never jumps forward past committed messages.

After every seek (a start, a rewind) the first message of the partition should be the first
committed message at or after the seek's offset. A transaction marker, or an aborted transaction,
may sit there — so the first message can lawfully come a few offsets later — but a position that
librdkafka moved forward on its own (an offset lookup answered after the seek; seen once in a
chaos run: two committed transactions skipped) must never be taken as "applied". When the first
message comes more than one offset after the seek, a separate read_committed reader looks at what
really is there; if a committed message comes earlier, the batch is refused and re-read.
"""

from __future__ import annotations

from confluent_kafka import KafkaError, TopicPartition

from binlog_pipeline.core.config import Settings
from binlog_pipeline.core.errors import TransientError
from binlog_pipeline.core.kafka_read import committed_reader

Partition = tuple[str, int]


class SeekWatch:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._sought: dict[Partition, int] = {}

    def sought(self, partition: Partition, offset: int) -> None:
        """The consumer was told to fetch ``partition`` from ``offset`` (a logical offset: not checked)."""
        if offset >= 0:
            self._sought[partition] = offset
        else:
            self._sought.pop(partition, None)

    def forget(self, partition: Partition) -> None:
        self._sought.pop(partition, None)

    def delivered(self, partition: Partition, offset: int) -> None:
        """The first message delivered since the seek: raise if a committed one was skipped."""
        expected = self._sought.pop(partition, None)
        if expected is None or offset <= expected + 1:
            return
        first = self._first_committed(partition, expected)
        if first is not None and first < offset:
            raise TransientError(
                f"{partition[0]}[{partition[1]}]: the consumer delivered offset {offset} first after a seek to "
                f"{expected}, but committed offset {first} comes before it; re-reading from {expected}"
            )

    def _first_committed(self, partition: Partition, offset: int) -> int | None:
        reader = committed_reader(self._settings.librdkafka(), "seek-watch")
        try:
            reader.assign([TopicPartition(*partition, offset)])
            msg = reader.poll(self._settings.kafka_timeout_s)
            error = None if msg is None else msg.error()
            if msg is None or (error is not None and error.code() != KafkaError._PARTITION_EOF):
                raise TransientError(
                    f"could not read {partition[0]}[{partition[1]}] at {offset} to check a seek"
                )
            return None if error is not None else int(msg.offset() or 0)
        finally:
            reader.close()
