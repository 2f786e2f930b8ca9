"""The producer's clients as the stream loop uses them — small protocols — and the factory that
makes the real ones (Kafka through confluent-kafka, the source through pymysql and
python-mysql-replication). The runner and the loop take the clients from a factory instead of
building them, so their logic can run against stand-ins where no real fault reaches it."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from binlog_pipeline.core.config import Settings
from binlog_pipeline.producer.binlog_reader import BinlogReader, Item
from binlog_pipeline.producer.charsets import SourceCharsets
from binlog_pipeline.producer.commit_policy import KafkaTransaction
from binlog_pipeline.producer.filters import ColumnFilter, TableFilter
from binlog_pipeline.producer.position import BinlogPosition, Checkpoint, GtidStart, PreparedXa
from binlog_pipeline.producer.publisher import TransactionalPublisher
from binlog_pipeline.producer.snapshot_reader import ChunkReader
from binlog_pipeline.producer.snapshot_requests import RequestReader, SnapshotRequest
from binlog_pipeline.producer.source_catalog import ControlConnection
from binlog_pipeline.schemas.codec import WriterSchema
from binlog_pipeline.schemas.topics import TopicNames


class Publisher(KafkaTransaction, Protocol):
    """The transactional Kafka producer (:class:`~producer.publisher.TransactionalPublisher`)."""

    @property
    def needs_replacing(self) -> bool: ...
    def init(self) -> None: ...
    def read_checkpoint(self) -> Checkpoint | None: ...
    def ensure_topic(self, name: str, compacted: bool = False, retain_forever: bool = False) -> bool: ...
    def partitions(self, topic: str) -> int: ...
    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        schemas: tuple[WriterSchema, ...] = (),
        partition: int | None = None,
    ) -> None: ...
    def commit(self, checkpoint: Checkpoint) -> None: ...
    def poll(self) -> None: ...
    def abort(self) -> None: ...
    def close(self) -> None: ...


class BinlogSource(Protocol):
    """The binlog from a position (:class:`~producer.binlog_reader.BinlogReader`)."""

    @property
    def prepared(self) -> Mapping[str, PreparedXa]: ...  # as of the last boundary yielded
    @property
    def position(self) -> BinlogPosition | None: ...  # the end of the last event read
    def __iter__(self) -> Iterator[Item]: ...
    def close(self) -> None: ...


class SourceCatalog(Protocol):
    """Questions about the source's tables (:class:`~producer.source_catalog.ControlConnection`)."""

    def show_create(self, database: str, table: str) -> str | None: ...
    def table_type(self, database: str, table: str) -> str | None: ...
    def has_unique_secondary_key(self, database: str, table: str) -> bool: ...
    def close(self) -> None: ...


class SnapshotRequests(Protocol):
    """The snapshot-requests topic (:class:`~producer.snapshot_requests.RequestReader`)."""

    def due(self) -> bool: ...
    def read(self, offset: int) -> list[SnapshotRequest]: ...
    def close(self) -> None: ...


@dataclass
class SourceSession:
    """The source connections of one pass of the stream."""

    binlog: BinlogSource
    catalog: SourceCatalog
    chunks: ChunkReader  # the snapshot's reads (connects on first use)

    def close(self) -> None:
        """The binlog, then the control connection (the snapshot closes ``chunks``)."""
        try:
            self.binlog.close()
        finally:
            self.catalog.close()


class ProducerClients(Protocol):
    def publisher(self) -> Publisher: ...
    def snapshot_requests(self) -> SnapshotRequests: ...
    def source_session(
        self, start: BinlogPosition | GtidStart, prepared: tuple[PreparedXa, ...], is_mariadb: bool
    ) -> SourceSession: ...


class RealClients:
    """The clients of a running producer."""

    def __init__(self, settings: Settings, stop: threading.Event) -> None:
        settings.require("source_url")
        self._settings = settings
        self._stop = stop
        self._topics = TopicNames(settings.topic_prefix)
        self._captured = TableFilter(settings.include_tables, settings.exclude_tables)

    def publisher(self) -> Publisher:
        return TransactionalPublisher(self._settings, self._topics, self._stop.is_set)

    def snapshot_requests(self) -> SnapshotRequests:
        return RequestReader(self._settings, self._topics.snapshot_requests)

    def source_session(
        self, start: BinlogPosition | GtidStart, prepared: tuple[PreparedXa, ...], is_mariadb: bool
    ) -> SourceSession:
        """A control connection and the binlog from ``start`` (``prepared``: the XA transactions
        prepared and not completed there, from the checkpoint)."""
        s = self._settings
        assert s.source_url is not None
        columns = ColumnFilter(s.exclude_columns)
        texts = SourceCharsets(s.source_url)  # one set of decoders for the binlog and the snapshot
        catalog = ControlConnection(s.source_url)
        try:
            binlog = BinlogReader(
                s.source_url,
                s.server_id,
                start,
                self._captured,
                heartbeat_s=min(max(s.txn_max_ms / 1000, 0.05), 1.0),
                columns=columns,
                is_mariadb=is_mariadb,
                table_type=catalog.table_type,
                prepared=prepared,
                texts=texts,
            )
        except BaseException:
            catalog.close()
            raise
        return SourceSession(binlog, catalog, ChunkReader(s.source_url, columns, is_mariadb, texts))


def real_clients(settings: Settings, stop: threading.Event) -> ProducerClients:
    """The factory the ``binlog-producer`` command runs with."""
    return RealClients(settings, stop)
