"""The producer's commit policy, rule by rule: when the Kafka transaction carrying the events and
the binlog position is committed (no services: the policy is a pure function of the stream
state, the open Kafka transaction and the clock)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from binlog_pipeline.core.config import load_settings
from binlog_pipeline.producer.commit_policy import CommitPolicy, Moment, Reason
from binlog_pipeline.producer.position import BinlogPosition, Checkpoint
from binlog_pipeline.producer.source_identity import SourceIdentity
from binlog_pipeline.producer.stream_state import StreamState

POLICY = CommitPolicy(txn_max_rows=100, txn_max_ms=200, heartbeat_interval_ms=1000)
NOW = 1000.0
COMMITTED = BinlogPosition("mysql-bin.000001", 400)
MOVED = BinlogPosition("mysql-bin.000001", 900)


@dataclass(frozen=True)
class Kafka:
    """The open Kafka transaction as the policy reads it."""

    in_transaction: bool = False
    rows_in_transaction: int = 0
    opened_at: float = NOW


NOTHING_OPEN = Kafka()


def opened(rows: int = 1, age_ms: float = 0) -> Kafka:
    return Kafka(in_transaction=True, rows_in_transaction=rows, opened_at=NOW - age_ms / 1000)


def state(
    boundary: BinlogPosition | None = MOVED,
    committed: BinlogPosition | None = COMMITTED,
    since_commit_ms: float = 0,
    rows_done: int = 0,
) -> StreamState:
    """The stream at ``boundary``, ``rows_done`` rows into a source transaction, having committed
    ``committed`` ``since_commit_ms`` ago (None: nothing committed yet)."""
    return StreamState(
        source=SourceIdentity(server_id=1, gtid_domain_id=0, server_uuid=None),
        boundary=boundary,
        committed=Checkpoint(position=committed) if committed is not None else None,
        last_commit=NOW - since_commit_ms / 1000,
        rows_done=rows_done,
    )


# --- 1, 2: snapshot chunks and requests -------------------------------------------------------
@pytest.mark.parametrize("kafka", [NOTHING_OPEN, opened()])
def test_a_snapshot_chunk_is_always_committed(kafka: Kafka) -> None:
    """A chunk's rows commit at once, with the progress that counts them done."""
    assert POLICY.should_commit("snapshot chunk", state(), kafka, NOW) is Reason.SNAPSHOT_CHUNK


@pytest.mark.parametrize("kafka", [NOTHING_OPEN, opened()])
def test_taken_snapshot_requests_are_always_committed(kafka: Kafka) -> None:
    """Taking requests moves the requests offset, which is durable only once committed."""
    assert POLICY.should_commit("snapshot request", state(), kafka, NOW) is Reason.SNAPSHOT_REQUEST


# --- 3: stopping --------------------------------------------------------------------------------
def test_stopping_commits_what_is_open_even_inside_a_source_transaction() -> None:
    """SIGTERM commits everything published so far: the checkpoint counts the rows already out."""
    assert POLICY.should_commit("stop", state(rows_done=7), opened(rows=7), NOW) is Reason.STOPPING


def test_stopping_with_nothing_open_commits_nothing() -> None:
    """Stopping with no open Kafka transaction leaves the last checkpoint as it is."""
    assert POLICY.should_commit("stop", state(since_commit_ms=5000), NOTHING_OPEN, NOW) is None


def test_stopping_before_any_boundary_is_known_commits_nothing() -> None:
    """After a GTID start and before its first transaction there is no position to commit."""
    assert POLICY.should_commit("stop", state(boundary=None), opened(), NOW) is None


# --- 4: rows inside a source transaction -------------------------------------------------------
def test_a_row_below_txn_max_rows_keeps_the_transaction_open() -> None:
    """Rows go on into the open Kafka transaction until it holds txn_max_rows messages."""
    assert POLICY.should_commit("row", state(rows_done=99), opened(rows=99, age_ms=10_000), NOW) is None


def test_a_row_at_txn_max_rows_commits_inside_the_source_transaction() -> None:
    """A large source transaction is cut into several Kafka transactions (bounded memory)."""
    decision = POLICY.should_commit("row", state(rows_done=100), opened(rows=100), NOW)
    assert decision is Reason.FULL_INSIDE_TRANSACTION


# --- 5: DDL -------------------------------------------------------------------------------------
def test_a_published_schema_change_commits() -> None:
    """A DDL statement's records end their Kafka transaction."""
    assert POLICY.should_commit("schema change", state(), opened(), NOW) is Reason.SCHEMA_CHANGE


def test_a_schema_change_that_published_nothing_commits_nothing() -> None:
    """DDL on tables not captured publishes nothing and commits nothing, even when a heartbeat
    would be due."""
    assert POLICY.should_commit("schema change", state(since_commit_ms=5000), NOTHING_OPEN, NOW) is None


# --- 6: transaction ends ------------------------------------------------------------------------
def test_small_transactions_share_one_kafka_transaction() -> None:
    """At a transaction end below both limits the Kafka transaction stays open for the next."""
    assert POLICY.should_commit("transaction end", state(), opened(rows=99, age_ms=199), NOW) is None


def test_a_transaction_end_commits_once_txn_max_rows_is_reached() -> None:
    """At a transaction end, a Kafka transaction of txn_max_rows messages commits."""
    decision = POLICY.should_commit("transaction end", state(), opened(rows=100), NOW)
    assert decision is Reason.FULL


def test_a_transaction_end_commits_once_txn_max_ms_is_reached() -> None:
    """At a transaction end, a Kafka transaction txn_max_ms old commits, however few its rows."""
    decision = POLICY.should_commit("transaction end", state(), opened(rows=1, age_ms=200), NOW)
    assert decision is Reason.OLD


def test_an_open_transaction_is_never_committed_as_a_heartbeat() -> None:
    """With a Kafka transaction open, only its limits end it, however old the last commit."""
    decision = POLICY.should_commit("transaction end", state(since_commit_ms=60_000), opened(), NOW)
    assert decision is None


# --- 7: idle ------------------------------------------------------------------------------------
def test_an_idle_source_closes_the_open_transaction() -> None:
    """A server heartbeat between source transactions commits what is open at once."""
    assert POLICY.should_commit("idle", state(rows_done=0), opened(age_ms=1), NOW) is Reason.IDLE


def test_idle_inside_an_open_source_transaction_does_not_commit() -> None:
    """A heartbeat in the middle of a source transaction (its rows still coming) commits nothing."""
    assert POLICY.should_commit("idle", state(rows_done=3, since_commit_ms=60_000), opened(), NOW) is None


# --- 8: the heartbeat -----------------------------------------------------------------------------
@pytest.mark.parametrize("moment", ["transaction end", "idle"])
def test_uncaptured_traffic_moves_the_position_after_heartbeat_interval(moment: Moment) -> None:
    """Nothing open, the boundary moved past the committed position and the last commit is
    heartbeat_interval_ms old: the position alone is committed."""
    decision = POLICY.should_commit(moment, state(since_commit_ms=1000), NOTHING_OPEN, NOW)
    assert decision is Reason.HEARTBEAT


@pytest.mark.parametrize("moment", ["transaction end", "idle"])
def test_no_heartbeat_sooner_than_heartbeat_interval(moment: Moment) -> None:
    """A moved position waits for heartbeat_interval_ms since the last commit."""
    assert POLICY.should_commit(moment, state(since_commit_ms=999), NOTHING_OPEN, NOW) is None


@pytest.mark.parametrize("moment", ["transaction end", "idle"])
def test_no_heartbeat_when_the_position_did_not_move(moment: Moment) -> None:
    """An idle source whose position is already committed is not committed again."""
    decision = POLICY.should_commit(
        moment, state(boundary=COMMITTED, since_commit_ms=60_000), NOTHING_OPEN, NOW
    )
    assert decision is None


def test_a_first_start_commits_its_position_as_a_heartbeat() -> None:
    """With nothing committed yet, the first position is committed once heartbeat_interval_ms passed."""
    decision = POLICY.should_commit("idle", state(committed=None, since_commit_ms=1000), NOTHING_OPEN, NOW)
    assert decision is Reason.HEARTBEAT


def test_no_heartbeat_before_any_boundary_is_known() -> None:
    """After a GTID start and before its first transaction there is no position to commit."""
    decision = POLICY.should_commit(
        "idle", state(boundary=None, committed=None, since_commit_ms=60_000), NOTHING_OPEN, NOW
    )
    assert decision is None


def test_the_policy_is_read_from_the_settings() -> None:
    """txn_max_rows, txn_max_ms and heartbeat_interval_ms are the settings of the same names."""
    settings = load_settings(env={}, flags={"txn_max_rows": 7, "txn_max_ms": 8, "heartbeat_interval_ms": 900})
    assert CommitPolicy.from_settings(settings) == CommitPolicy(7, 8, 900)
