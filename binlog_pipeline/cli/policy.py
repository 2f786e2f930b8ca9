"""What the operations commands decide from their options and results — which replay point the
flags name, whether lag is over a threshold, whether a replay may go ahead — as plain functions
that raise our errors (ended by :func:`~binlog_pipeline.core.cli_common.exit_for`), so tests call
them without Typer or services."""

from __future__ import annotations

import datetime

from pydantic import TypeAdapter, ValidationError

from binlog_pipeline.core.errors import PermanentError, UsageError
from binlog_pipeline.ops.lag import PartitionLag
from binlog_pipeline.ops.replay import PartitionReplay, ReplayPoint
from binlog_pipeline.ops.verify import TableReport


def lag_exceeded(rows: list[PartitionLag], max_messages: int | None, max_seconds: float | None) -> bool:
    """True when the total lag is over ``max_messages`` or the oldest unapplied change is older
    than ``max_seconds`` (each only when given)."""
    too_many = max_messages is not None and sum(r.lag for r in rows) > max_messages
    too_old = max_seconds is not None and max((r.lag_seconds for r in rows), default=0.0) > max_seconds
    return too_many or too_old


def replay_point(
    topics: list[str] | None,
    all_topics: bool,
    to_earliest: bool,
    to_offset: int | None,
    to_datetime: str | None,
    by_duration: str | None,
) -> ReplayPoint:
    """Check replay's options — exactly one of the four points, and topics named or --all-topics —
    and return the point: ``to_datetime`` is ISO 8601 with a UTC offset, ``by_duration`` an ISO
    8601 duration (PT1H)."""
    chosen = [to_earliest, to_offset is not None, to_datetime is not None, by_duration is not None]
    if sum(chosen) != 1:
        raise UsageError("choose exactly one of --to-earliest, --to-offset, --to-datetime, --by-duration")
    if bool(topics) == all_topics:
        raise UsageError("name the topics to replay, or pass --all-topics")
    try:
        if to_datetime is not None:
            return ReplayPoint.at(TypeAdapter(datetime.datetime).validate_python(to_datetime))
        if by_duration is not None:
            return ReplayPoint.by_duration(TypeAdapter(datetime.timedelta).validate_python(by_duration))
    except ValidationError as exc:
        what = "time" if to_datetime is not None else "duration"
        raise UsageError(f"not an ISO 8601 {what}: {exc.errors()[0]['input']!r}") from None
    return ReplayPoint(earliest=to_earliest, offset=to_offset)


def refuse_keyless(steps: list[PartitionReplay], allow_keyless: bool) -> None:
    """Re-applying changes of a table without a primary key inserts its rows again: refuse such a
    replay unless the user truncated those tables and said so."""
    keyless = sorted({s.keyless_table for s in steps if s.keyless_table})
    if keyless and not allow_keyless:
        raise PermanentError(
            f"{', '.join(keyless)} {'has' if len(keyless) == 1 else 'have'} no primary key: re-applying "
            "inserts those rows again. Truncate them on the target first and pass --allow-keyless, "
            "or leave their topics out"
        )


def all_equal(reports: list[TableReport]) -> bool:
    return all(r.equal for r in reports)
