"""When the producer writes its checkpoint.

*Where* is one call: ``publisher.commit(checkpoint)`` commits the open Kafka transaction — the
events published since the last commit plus the checkpoint record with the binlog position they
reach — in :meth:`producer.stream.Stream._commit`. *When* is decided here, and only here: the
stream loop asks :meth:`CommitPolicy.should_commit` at each :data:`Moment` and commits when it
answers with a :class:`Reason`.

Any moment is a correct one to commit at — the checkpoint is valid after any row, since it counts
the rows of the open source transaction already published (``skip_rows``) — so the rules trade
latency and the size of Kafka transactions against the cost of a commit. Rules 1 and 2 commit at
once what the snapshot and its requests change, so that a restart neither reads a published
chunk again nor takes a request twice.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal, Protocol

from binlog_pipeline.core.config import Settings
from binlog_pipeline.producer.stream_state import StreamState

# Where in the stream loop the policy is asked (plain strings: asked once per row, and a str
# compares faster than an Enum member is looked up on Python 3.11).
Moment = Literal[
    "row",  # a captured row was published
    "transaction end",  # a source transaction ended
    "schema change",  # a DDL statement was handled
    "idle",  # the source sent a heartbeat: nothing new in its binlog
    "snapshot chunk",  # a snapshot chunk was published
    "snapshot request",  # snapshot requests were taken from their topic
    "stop",  # the producer was asked to stop
]


class Reason(enum.Enum):
    """Why the checkpoint is written now (the rule of :meth:`CommitPolicy.should_commit`)."""

    SNAPSHOT_CHUNK = "1. the chunk's rows and the progress that counts them done go together"
    SNAPSHOT_REQUEST = "2. a taken request is durable only in a committed checkpoint"
    STOPPING = "3. stopping: commit everything published so far, and nothing more"
    FULL_INSIDE_TRANSACTION = "4. txn_max_rows reached inside a large source transaction"
    SCHEMA_CHANGE = "5. a DDL statement ends its Kafka transaction"
    FULL = "6. txn_max_rows reached at a transaction end"
    OLD = "6. txn_max_ms reached at a transaction end"
    IDLE = "7. the source is idle: close what is open"
    HEARTBEAT = "8. nothing is open but the position moved: keep the checkpoint near"


class KafkaTransaction(Protocol):
    """The open Kafka transaction as the policy sees it (``TransactionalPublisher`` has these)."""

    @property
    def in_transaction(self) -> bool: ...
    @property
    def rows_in_transaction(self) -> int: ...  # messages produced into it (rows, definitions, ...)
    @property
    def opened_at(self) -> float: ...  # time.monotonic() when it began


@dataclass(frozen=True)
class CommitPolicy:
    txn_max_rows: int  # messages in one Kafka transaction
    txn_max_ms: int  # age of one Kafka transaction, checked at source transaction ends
    heartbeat_interval_ms: int  # least time between checkpoints that only move the position

    @classmethod
    def from_settings(cls, settings: Settings) -> CommitPolicy:
        return cls(settings.txn_max_rows, settings.txn_max_ms, settings.heartbeat_interval_ms)

    def should_commit(
        self, moment: Moment, state: StreamState, kafka: KafkaTransaction, now: float
    ) -> Reason | None:
        """Whether to commit at ``moment`` (``now``: ``time.monotonic()``); None: not now.

        Each moment has its own rule; rule 8 is shared, tried when 6 or 7 does not apply:

        1. After a snapshot chunk: always.
        2. After snapshot requests were taken: always.
        3. Stopping: when a Kafka transaction is open and a boundary is known.
        4. After a row: when the Kafka transaction holds ``txn_max_rows`` messages — so a large
           source transaction spans several Kafka transactions (the checkpoint then carries
           ``skip_rows``) and memory stays bounded.
        5. After a DDL statement: when a Kafka transaction is open.
        6. At a source transaction end: when the Kafka transaction holds ``txn_max_rows``
           messages or is ``txn_max_ms`` old. Below both, it stays open for the next source
           transactions: many small ones share one Kafka transaction.
        7. Idle (a server heartbeat): when a Kafka transaction is open and no source transaction
           is (nothing else will come to close it).
        8. At a source transaction end or idle: the heartbeat — when no Kafka transaction is
           open, the boundary differs from the committed position (transactions of tables not
           captured moved it) and the last commit is ``heartbeat_interval_ms`` old, commit the
           position alone, so a restart does not re-read all that traffic.
        """
        if moment == "row":  # tested first: asked for every row
            return Reason.FULL_INSIDE_TRANSACTION if kafka.rows_in_transaction >= self.txn_max_rows else None
        if moment == "snapshot chunk":
            return Reason.SNAPSHOT_CHUNK
        if moment == "snapshot request":
            return Reason.SNAPSHOT_REQUEST
        if moment == "stop":
            return Reason.STOPPING if kafka.in_transaction and state.boundary is not None else None
        if moment == "schema change":
            return Reason.SCHEMA_CHANGE if kafka.in_transaction else None
        if moment == "transaction end" and kafka.in_transaction:
            if kafka.rows_in_transaction >= self.txn_max_rows:
                return Reason.FULL
            if (now - kafka.opened_at) * 1000 >= self.txn_max_ms:
                return Reason.OLD
            return None
        if moment == "idle" and kafka.in_transaction and state.rows_done == 0:
            return Reason.IDLE
        return Reason.HEARTBEAT if self._heartbeat_due(state, kafka, now) else None

    def _heartbeat_due(self, state: StreamState, kafka: KafkaTransaction, now: float) -> bool:
        """Rule 8: nothing captured is open, the position moved, and the last commit is old enough."""
        return (
            not kafka.in_transaction
            and state.boundary is not None
            and (state.committed is None or state.boundary != state.committed.position)
            and (now - state.last_commit) * 1000 >= self.heartbeat_interval_ms
        )


__all__ = ["CommitPolicy", "KafkaTransaction", "Moment", "Reason"]
