"""Kafka errors, classified once for the whole pipeline: by librdkafka's flags (``fatal()``,
``retriable()``, ``txn_requires_abort()``) and error codes, never by message text.

:func:`verdict` says what an error means; what to do about it depends on what the caller can do:
the producer replaces a client instance that hit a fatal error (a new one fences the old epoch),
the applier's consumer cannot be replaced inside the process (:func:`classify`), and an admin
request refused without a retry hint is a setting or a privilege to fix (:func:`classify_admin`).
"""

from __future__ import annotations

import enum

from confluent_kafka import KafkaError, KafkaException

from binlog_pipeline.core.errors import PermanentError, TransientError

# A newer client with this transactional.id (or group.instance.id) took over.
FENCED_CODES = frozenset({KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH})
# The client has no connection to any broker (what makes the applier report Kafka as down).
BROKERS_DOWN = frozenset({KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN})
# Local errors librdkafka does not flag retriable, but that only say the broker did not answer
# (found by chaos: a topic created during a broker restart stopped the producer).
BROKER_UNREACHABLE = BROKERS_DOWN | {KafkaError._TIMED_OUT, KafkaError._WAIT_COORD}


class Verdict(enum.Enum):
    FENCED = "fenced"  # a newer instance took this client's identity over: this one must stop
    FATAL = "fatal"  # this client instance can do nothing more (a new instance can)
    RETRIABLE = "retriable"  # librdkafka says so, or the broker just did not answer
    REFUSED = "refused"  # an answer without a retry hint (authorization, configuration, state...)


def error_of(exc: KafkaException) -> KafkaError:
    """The :class:`KafkaError` a :class:`KafkaException` carries."""
    error = exc.args[0] if exc.args else None
    if isinstance(error, KafkaError):
        return error
    return KafkaError(KafkaError._FAIL, str(exc))


def verdict(error: KafkaError) -> Verdict:
    if error.code() in FENCED_CODES:
        return Verdict.FENCED
    if error.fatal():
        return Verdict.FATAL
    if error.retriable() or error.code() in BROKER_UNREACHABLE:
        return Verdict.RETRIABLE
    return Verdict.REFUSED


def client_is_done(error: KafkaError) -> bool:
    """This client instance can do nothing more: fenced, or a fatal error."""
    return verdict(error) in (Verdict.FENCED, Verdict.FATAL)


def call_again(error: KafkaError) -> bool:
    """librdkafka asks for the same call again (e.g. an abort_transaction that timed out)."""
    return bool(error.retriable())


def commit_in_progress(error: KafkaError) -> bool:
    """librdkafka's contract for commit_transaction: a *retriable* failure that needs no abort
    leaves the commit in progress; it must be called again (aborting meanwhile is refused)."""
    return call_again(error) and not error.txn_requires_abort() and not error.fatal()


class TransientKafkaError(TransientError):
    """A Kafka error worth retrying, with the original :class:`KafkaError`."""

    def __init__(self, message: str, error: KafkaError) -> None:
        super().__init__(message)
        self.error = error


class PermanentKafkaError(PermanentError):
    """A Kafka error that stops the process, with the original :class:`KafkaError`."""

    def __init__(self, message: str, error: KafkaError) -> None:
        super().__init__(message)
        self.error = error


def classify(exc: KafkaException, message: str) -> TransientKafkaError | PermanentKafkaError:
    """For a client the process cannot replace (the applier's consumer): stop when it is done,
    retry anything else — consumer calls report rebalances and slow brokers without a retry hint,
    and the retry deadline bounds the rest."""
    error = error_of(exc)
    if client_is_done(error):
        return PermanentKafkaError(message, error)
    return TransientKafkaError(message, error)


def classify_admin(
    exc: KafkaException, transient: str, permanent: str
) -> TransientKafkaError | PermanentKafkaError:
    """For an admin request: retry only what librdkafka (or a silent broker) says is worth it; a
    refusal is a setting or a privilege for the operator. Each message is used for its case."""
    error = error_of(exc)
    if verdict(error) is Verdict.RETRIABLE:
        return TransientKafkaError(transient, error)
    return PermanentKafkaError(permanent, error)
