"""Retry or stop: the one classification of MySQL errors (core/mysql_errors.py) and of Kafka errors
(core/kafka_errors.py), on real pymysql and confluent_kafka exception objects built by hand."""

from __future__ import annotations

import pymysql
import pytest
from confluent_kafka import KafkaError, KafkaException
from pymysql.constants import CR, ER

from binlog_pipeline.applier.target import classify as classify_target
from binlog_pipeline.core import kafka_errors, mysql_errors
from binlog_pipeline.core.errors import PermanentError, PipelineError, TransientError
from binlog_pipeline.core.kafka_errors import (
    PermanentKafkaError,
    TransientKafkaError,
    Verdict,
    verdict,
)
from binlog_pipeline.core.mysql_errors import PermanentMySQLError, TransientMySQLError
from binlog_pipeline.producer.publisher import ProducerBroken, ProducerFenced
from binlog_pipeline.producer.publisher import classify as classify_producer


# --- MySQL ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (
            pymysql.err.OperationalError(CR.CR_SERVER_LOST, "Lost connection to MySQL server during query"),
            True,
        ),
        (pymysql.err.OperationalError(CR.CR_SERVER_GONE_ERROR, "MySQL server has gone away"), True),
        (pymysql.err.OperationalError(CR.CR_CONN_HOST_ERROR, "Can't connect to MySQL server"), True),
        (pymysql.err.OperationalError(ER.CON_COUNT_ERROR, "Too many connections"), True),
        (pymysql.err.OperationalError(ER.SERVER_SHUTDOWN, "Server shutdown in progress"), True),
        (pymysql.err.OperationalError(mysql_errors.ER_CONNECTION_KILLED, "Connection was killed"), True),
        (pymysql.err.OperationalError(mysql_errors.ER_CLIENT_INTERACTION_TIMEOUT, "idle"), True),
        (pymysql.err.OperationalError(ER.LOCK_DEADLOCK, "Deadlock found"), True),
        (pymysql.err.OperationalError(ER.LOCK_WAIT_TIMEOUT, "Lock wait timeout exceeded"), True),
        (pymysql.err.OperationalError(ER.OPTION_PREVENTS_STATEMENT, "--read-only"), True),
        (pymysql.err.OperationalError(ER.DISK_FULL, "Disk full"), True),
        (pymysql.err.OperationalError(ER.RECORD_FILE_FULL, "The table is full"), True),
        (pymysql.err.InterfaceError(0, ""), True),  # pymysql: the connection object is closed
        (ConnectionResetError(104, "Connection reset by peer"), True),
        (TimeoutError("timed out"), True),
        (pymysql.err.ProgrammingError(ER.NO_SUCH_TABLE, "Table 'db.t' doesn't exist"), False),
        (pymysql.err.DataError(ER.DATA_TOO_LONG, "Data too long for column 'c'"), False),
        (pymysql.err.IntegrityError(ER.DUP_ENTRY, "Duplicate entry '1' for key 'PRIMARY'"), False),
        (pymysql.err.OperationalError(ER.ACCESS_DENIED_ERROR, "Access denied"), False),
        (pymysql.err.OperationalError(ER.TABLEACCESS_DENIED_ERROR, "SELECT command denied"), False),
        (pymysql.err.InternalError("no code at all"), False),
        (ValueError("a bug of ours"), False),
    ],
)
def test_mysql_transient_or_permanent(exc: BaseException, transient: bool) -> None:
    """Connection, contention, read-only and resource errors are retried; anything else stops."""
    assert mysql_errors.is_transient(exc) is transient
    error = mysql_errors.classify(exc, "doing it")
    assert isinstance(error, TransientError if transient else PermanentError)
    assert isinstance(error, TransientMySQLError if transient else PermanentMySQLError)
    assert str(error) == "doing it"


def test_mysql_wrapper_keeps_the_code() -> None:
    """The pipeline error carries the server's code; the target's wording says where it happened."""
    deadlock = pymysql.err.OperationalError(ER.LOCK_DEADLOCK, "Deadlock found when trying to get lock")
    error = classify_target(deadlock, "applying a batch")
    assert isinstance(error, TransientMySQLError)
    assert error.code == ER.LOCK_DEADLOCK
    assert str(error) == f"target error while applying a batch: {deadlock}"
    closed = classify_target(pymysql.err.InterfaceError(0, ""), "applying a batch")
    assert isinstance(closed, TransientMySQLError)
    assert str(closed).startswith("target connection unusable while applying a batch")
    missing = classify_target(pymysql.err.ProgrammingError(ER.NO_SUCH_TABLE, "no such table"), "x")
    assert isinstance(missing, PermanentMySQLError)
    assert missing.code == ER.NO_SUCH_TABLE
    assert mysql_errors.classify(TimeoutError("socket"), "x").code is None


def test_mysql_code() -> None:
    """Only a pymysql error's integer first argument is a code."""
    assert mysql_errors.code(pymysql.err.OperationalError(CR.CR_SERVER_LOST, "lost")) == CR.CR_SERVER_LOST
    assert mysql_errors.code(pymysql.err.InternalError("text only")) is None
    assert mysql_errors.code(OSError(2, "not a MySQL error")) is None


def test_mysql_sets_are_named_and_disjoint_from_refusals() -> None:
    """The transient set is the union of its named parts; a missing table is never among them."""
    assert (
        mysql_errors.CONNECTION | mysql_errors.CONTENTION | mysql_errors.READ_ONLY | mysql_errors.RESOURCES
        == mysql_errors.TRANSIENT
    )
    assert not mysql_errors.NO_SUCH_TABLE & mysql_errors.TRANSIENT


# --- Kafka ----------------------------------------------------------------------------------------
def kafka(code: int, *, fatal: bool = False, retriable: bool = False, abort: bool = False) -> KafkaException:
    return KafkaException(
        KafkaError(code, "by hand", fatal=fatal, retriable=retriable, txn_requires_abort=abort)
    )


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (kafka(KafkaError.PRODUCER_FENCED, fatal=True), Verdict.FENCED),
        (kafka(KafkaError._FENCED, fatal=True), Verdict.FENCED),
        (kafka(KafkaError.INVALID_PRODUCER_EPOCH), Verdict.FENCED),
        (kafka(KafkaError.INVALID_TXN_STATE, fatal=True), Verdict.FATAL),
        (kafka(KafkaError.REQUEST_TIMED_OUT, retriable=True), Verdict.RETRIABLE),
        (kafka(KafkaError._TRANSPORT), Verdict.RETRIABLE),  # no flag, but only "the broker did not answer"
        (kafka(KafkaError._ALL_BROKERS_DOWN), Verdict.RETRIABLE),
        (kafka(KafkaError._TIMED_OUT), Verdict.RETRIABLE),
        (kafka(KafkaError._WAIT_COORD), Verdict.RETRIABLE),
        (kafka(KafkaError.TOPIC_AUTHORIZATION_FAILED), Verdict.REFUSED),
        (kafka(KafkaError.INVALID_REPLICATION_FACTOR), Verdict.REFUSED),
    ],
)
def test_kafka_verdict(exc: KafkaException, expected: Verdict) -> None:
    """Fenced first, then librdkafka's fatal flag, then its retriable flag or a silent broker."""
    assert verdict(kafka_errors.error_of(exc)) is expected


@pytest.mark.parametrize(
    ("exc", "producer", "consumer", "admin"),
    [
        (
            kafka(KafkaError.PRODUCER_FENCED, fatal=True),
            ProducerFenced,
            PermanentKafkaError,
            PermanentKafkaError,
        ),
        (
            kafka(KafkaError.INVALID_TXN_STATE, fatal=True),
            ProducerBroken,
            PermanentKafkaError,
            PermanentKafkaError,
        ),
        (kafka(KafkaError._TRANSPORT), TransientKafkaError, TransientKafkaError, TransientKafkaError),
        (
            kafka(KafkaError.NOT_COORDINATOR, retriable=True),
            TransientKafkaError,
            TransientKafkaError,
            TransientKafkaError,
        ),
        (
            kafka(KafkaError.TOPIC_AUTHORIZATION_FAILED),
            TransientKafkaError,
            TransientKafkaError,
            PermanentKafkaError,
        ),
        (
            kafka(KafkaError.REBALANCE_IN_PROGRESS),
            TransientKafkaError,
            TransientKafkaError,
            PermanentKafkaError,
        ),
    ],
)
def test_kafka_retry_or_stop_by_what_the_caller_can_do(
    exc: KafkaException,
    producer: type[PipelineError],
    consumer: type[PipelineError],
    admin: type[PipelineError],
) -> None:
    """The producer replaces a broken instance and stops when fenced; the applier's consumer stops on
    a fatal error and retries the rest; an admin request refused without a retry hint stops."""
    assert type(classify_producer(exc, "committing")) is producer
    assert type(kafka_errors.classify(exc, "Kafka")) is consumer
    assert type(kafka_errors.classify_admin(exc, "retry", "stop")) is admin


def test_kafka_wrappers_keep_the_kafka_error() -> None:
    """Every wrapper carries the original KafkaError (code and flags), and retries only by flags."""
    exc = kafka(KafkaError.INVALID_TXN_STATE, fatal=True)
    broken = classify_producer(exc, "committing")
    assert isinstance(broken, ProducerBroken) and isinstance(broken, TransientError)
    assert broken.error.code() == KafkaError.INVALID_TXN_STATE and broken.error.fatal()
    stop = kafka_errors.classify(exc, "Kafka: it")
    assert isinstance(stop, PermanentKafkaError) and stop.error.code() == KafkaError.INVALID_TXN_STATE
    assert str(stop) == "Kafka: it"
    admin = kafka_errors.classify_admin(kafka(KafkaError._TIMED_OUT), "creating t", "cannot create t")
    assert isinstance(admin, TransientKafkaError) and str(admin) == "creating t"
    assert admin.error.code() == KafkaError._TIMED_OUT


def test_kafka_commit_in_progress() -> None:
    """librdkafka's commit contract: only a retriable failure that needs no abort is called again."""
    assert kafka_errors.commit_in_progress(KafkaError(KafkaError._TIMED_OUT, retriable=True))
    assert not kafka_errors.commit_in_progress(KafkaError(KafkaError._TIMED_OUT))
    assert not kafka_errors.commit_in_progress(
        KafkaError(KafkaError._TIMED_OUT, retriable=True, txn_requires_abort=True)
    )
    assert not kafka_errors.commit_in_progress(KafkaError(KafkaError._FENCED, retriable=True, fatal=True))
    assert kafka_errors.call_again(KafkaError(KafkaError._TIMED_OUT, retriable=True))
    assert not kafka_errors.call_again(KafkaError(KafkaError._STATE))


def test_kafka_client_is_done() -> None:
    """A consumer stops on a fenced or fatal error only; the brokers being down is not that."""
    assert kafka_errors.client_is_done(KafkaError(KafkaError._FENCED, fatal=True))
    assert kafka_errors.client_is_done(KafkaError(KafkaError.UNKNOWN, fatal=True))
    assert not kafka_errors.client_is_done(KafkaError(KafkaError._ALL_BROKERS_DOWN))
    assert KafkaError._ALL_BROKERS_DOWN in kafka_errors.BROKERS_DOWN
    assert kafka_errors.BROKERS_DOWN < kafka_errors.BROKER_UNREACHABLE


def test_kafka_exception_without_an_error_object() -> None:
    """A KafkaException built from text alone still classifies (as an unhinted failure)."""
    error = kafka_errors.error_of(KafkaException("text only"))
    assert error.code() == KafkaError._FAIL
    assert verdict(error) is Verdict.REFUSED
