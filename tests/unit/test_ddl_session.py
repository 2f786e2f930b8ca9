"""The source session of a DDL as a schema-change record carries it (schemas/ddl_session.py)."""

from __future__ import annotations

import io

import fastavro
from hypothesis import given
from hypothesis import strategies as st

from binlog_pipeline.schemas.ddl_session import AVRO_RECORD, DdlSession

names = st.none() | st.text(max_size=20)
sessions = st.builds(
    DdlSession,
    timestamp_us=st.integers(0, 2**63 - 1),
    time_zone=names,
    system_time_zone=names,
    character_set_client=names,
    collation_connection=names,
    collation_server=names,
    collation_database=names,
    sql_mode=names,
    explicit_defaults_for_timestamp=st.none() | st.booleans(),
    auto_increment_increment=st.none() | st.integers(1, 65535),
    auto_increment_offset=st.none() | st.integers(1, 65535),
)


@given(sessions)
def test_a_session_round_trips_through_its_avro_record(session: DdlSession) -> None:
    """Every session written as its Avro record is read back equal."""
    schema = fastavro.parse_schema(AVRO_RECORD)
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, session.to_record())
    buffer.seek(0)
    assert DdlSession.from_record(fastavro.schemaless_reader(buffer, schema, None)) == session


def test_records_without_a_session() -> None:
    """No record means no session; a record lacking newer fields reads them as absent."""
    assert DdlSession.from_record(None) is None
    assert DdlSession.from_record({"timestamp_us": 5}) == DdlSession(5)


def test_definitions_run_in_the_appliers_time_zone() -> None:
    """For a recorded definition the time zone is left to the applier; the rest is kept."""
    session = DdlSession(
        7, time_zone="+05:30", system_time_zone="IST", sql_mode="ANSI_QUOTES", auto_increment_offset=3
    )
    assert session.for_definition() == DdlSession(7, sql_mode="ANSI_QUOTES", auto_increment_offset=3)
