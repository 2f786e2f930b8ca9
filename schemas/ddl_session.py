"""The source session a DDL statement ran in, as a schema-change record carries it.

A DDL's effect can depend on its session: ``DEFAULT CURRENT_TIMESTAMP`` fills existing rows with
the statement's time, a TIMESTAMP literal is read in the session's time zone, string literals in
the connection's collation, and sql_mode decides what is accepted and how values are converted.
The binlog's Query event carries all of that as status variables; the producer resolves them to
*names* on the source itself (collation ids and sql_mode bits differ between MySQL and MariaDB),
so that the applier can re-create the session on a target of either flavor.

Every field may be absent: the binlog writes a variable only when the statement used it (time
zone) or it differs from the default (auto_increment_*), and records written before this field
existed carry no session at all — the applier then keeps its own settings.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

# Each flavor knows only the fractional-seconds rule that is not its default (MariaDB truncates
# unless TIME_ROUND_FRACTIONAL; MySQL rounds unless TIME_TRUNCATE_FRACTIONAL). The producer always
# names the rule the source applied, so a target that lacks the name applies it by default.
ROUND_FRACTIONAL = "TIME_ROUND_FRACTIONAL"
TRUNCATE_FRACTIONAL = "TIME_TRUNCATE_FRACTIONAL"

_OPTIONAL_STRING: Any = ["null", "string"]

AVRO_RECORD: dict[str, Any] = {
    "type": "record",
    "name": "DdlSession",
    "fields": [
        # The statement's start, microseconds since the epoch: SET TIMESTAMP on the target.
        {"name": "timestamp_us", "type": "long"},
        # time_zone as the source session had it ('+05:30', 'Europe/Paris', 'SYSTEM').
        {"name": "time_zone", "type": _OPTIONAL_STRING, "default": None},
        # The source's @@system_time_zone, when time_zone is 'SYSTEM'.
        {"name": "system_time_zone", "type": _OPTIONAL_STRING, "default": None},
        # The statement text was decoded from this character set (the record carries Unicode).
        {"name": "character_set_client", "type": _OPTIONAL_STRING, "default": None},
        {"name": "collation_connection", "type": _OPTIONAL_STRING, "default": None},
        {"name": "collation_server", "type": _OPTIONAL_STRING, "default": None},
        {"name": "collation_database", "type": _OPTIONAL_STRING, "default": None},
        # Comma-separated names as the source expands them, the fractional rule always explicit.
        {"name": "sql_mode", "type": _OPTIONAL_STRING, "default": None},
        {"name": "explicit_defaults_for_timestamp", "type": ["null", "boolean"], "default": None},
        {"name": "auto_increment_increment", "type": ["null", "int"], "default": None},
        {"name": "auto_increment_offset", "type": ["null", "int"], "default": None},
    ],
}


@dataclass(frozen=True)
class DdlSession:
    """See :data:`AVRO_RECORD` for what each field means."""

    timestamp_us: int
    time_zone: str | None = None
    system_time_zone: str | None = None
    character_set_client: str | None = None
    collation_connection: str | None = None
    collation_server: str | None = None
    collation_database: str | None = None
    sql_mode: str | None = None
    explicit_defaults_for_timestamp: bool | None = None
    auto_increment_increment: int | None = None
    auto_increment_offset: int | None = None

    def to_record(self) -> dict[str, Any]:
        return {f["name"]: getattr(self, f["name"]) for f in AVRO_RECORD["fields"]}

    @classmethod
    def from_record(cls, record: dict[str, Any] | None) -> DdlSession | None:
        """None for records without a session (definitions, and every record written before the
        session was part of the contract)."""
        if record is None:
            return None
        values: dict[str, Any] = {f["name"]: record.get(f["name"]) for f in AVRO_RECORD["fields"]}
        return cls(**values)

    def for_definition(self) -> DdlSession:
        """The session for running a recorded ``SHOW CREATE TABLE`` instead of the statement:
        the producer reads definitions in UTC, as the applier's own session is, so the time
        zone is left alone; the rest (sql_mode above all) still decides what is accepted."""
        return replace(self, time_zone=None, system_time_zone=None)
