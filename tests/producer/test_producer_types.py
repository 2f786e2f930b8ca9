"""Every MySQL/MariaDB type DESIGN.md lists survives binlog → Avro → Kafka exactly."""

from __future__ import annotations

import struct
from decimal import Decimal
from typing import Any

import pytest
from binlog_pipeline_tools.bench.workloads import ALL_TYPES_DDL  # one definition for tests and bench

from binlog_pipeline.schemas.columns import ColumnKind
from tests.kafka_helpers import changes, decode_topic, wait_for
from tests.producer_harness import ProducerThread, current_position, producer_settings
from tests.services import Services, connect

pytestmark = pytest.mark.integration


ROWS = [
    # id, then the columns above; strings are SQL expressions
    "(1, '99999999999999999999999999999999999.999999999999999999999999999999', '-12345678.99', 18446744073709551615, -9223372036854775808, 1,"
    " 255, -8388608, 16777215, 4294967295, b'1111111111111111111111111111111111111111111111111111111111111111', b'1', 'ü', 'x,z',"
    " '{\"k\": [1, 2.5, null, \"😀\"]}', '9999-12-31 23:59:59.999999', '2000-01-01 00:00:00', '2038-01-19 03:14:07.999999',"
    " '-838:59:59.000000', '838:59:59', '-00:00:00.001', '1000-01-01', 2155, 3.40282e38, 1.7976931348623157e308,"
    " 0x00000000000000000000000000000000, 0x00ff00, 0x000102fffe, 'line\\nbreak', '😀 emoji ☃', 'café', 'ab',"
    " ST_GeomFromText('LINESTRING(0 0, 1 1, 2 -1)', 4326))",
    "(2, '-0.000000000000000000000000000001', '0.00', 0, 9223372036854775807, 0, 0, 8388607, 0, 0, b'0', b'0', '', '',"
    " 'null', '0000-00-00 00:00:00.000000', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '00:00:00', '-00:00:01', '12:34:56.789',"
    " '0000-00-00', 0, -1.17549e-38, -2.2250738585072014e-308, 0x01, '', '', '', '', '', '',"
    " ST_GeomFromText('POINT(1 2)'))",
    "(3, '2000-00-00' IS NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL, '2000-02-00', 1901, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
]

# How to read each column on the source in the same form as the event's value.
SELECT_FORMS = {
    ColumnKind.INT: "{c}",
    ColumnKind.UINT64: "{c}",
    ColumnKind.DECIMAL: "{c}",
    ColumnKind.DOUBLE: "{c}",
    ColumnKind.FLOAT: "{c}",
    ColumnKind.YEAR: "{c} + 0",
    ColumnKind.BIT: "{c} + 0",
    ColumnKind.STRING: "{c}",
    ColumnKind.ENUM: "CAST({c} AS CHAR)",
    ColumnKind.SET: "CAST({c} AS CHAR)",
    ColumnKind.JSON: "{c}",
    ColumnKind.DATE: "CAST({c} AS CHAR)",
    ColumnKind.DATETIME: "CAST({c} AS CHAR)",
    ColumnKind.TIME: "CAST({c} AS CHAR)",
    ColumnKind.TIMESTAMP: "UNIX_TIMESTAMP({c})",
    ColumnKind.BYTES: "{c}",
    ColumnKind.BINARY: "{c}",
    ColumnKind.GEOMETRY: "{c}",
}


def as_event_value(kind: ColumnKind, selected: Any) -> Any:
    if selected is None:
        return None
    if kind is ColumnKind.TIMESTAMP:
        return int(Decimal(selected) * 1_000_000)
    if kind is ColumnKind.UINT64:
        return Decimal(selected)
    if kind is ColumnKind.FLOAT:
        return struct.unpack("<f", struct.pack("<f", selected))[0]
    return selected


def normalise_event_value(kind: ColumnKind, value: Any) -> Any:
    if value is None:
        return None
    if kind is ColumnKind.BIT:
        return int.from_bytes(value, "big")
    return value


def test_every_type_round_trips_exactly(services: Services, source_db: str, topic_prefix: str) -> None:
    """Zero dates, negative TIME, DECIMAL(65,30), BIGINT UNSIGNED max, BIT(64), SET/ENUM, JSON,
    BINARY padding, float edges, utf8mb4, GEOMETRY and NULL decode to exactly the source's values."""
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(ALL_TYPES_DDL.format(db=source_db))
    settings = producer_settings(services, topic_prefix, start_position=current_position(services))
    with ProducerThread(settings) as producer:
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            cur.execute("SET SESSION sql_mode = '', time_zone = '+00:00'")
            for row in ROWS:
                cur.execute(f"INSERT INTO `{source_db}`.all_types VALUES {row}")
            cur.execute(f"UPDATE `{source_db}`.all_types SET t0 = '-12:00:00', st = 'y' WHERE id = 2")
            cur.execute(f"DELETE FROM `{source_db}`.all_types WHERE id = 3")
        events = wait_for(
            lambda: (lambda c: c if len(c) >= 5 else None)(
                changes(decode_topic(services.bootstrap, topic_prefix, source_db, "all_types"))
            ),
            what="5 change events",
        )
        producer.stop()

    assert [e["op"] for e in events] == ["c", "c", "c", "u", "d"]
    decoded = decode_topic(services.bootstrap, topic_prefix, source_db, "all_types")
    specs = next(d.schema.columns for d in decoded if d.schema.kind == "change")
    select = ", ".join(SELECT_FORMS[s.kind].format(c=f"`{s.name}`") for s in specs)
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute("SET SESSION time_zone = '+00:00'")
        cur.execute(f"SELECT {select} FROM `{source_db}`.all_types ORDER BY id")
        source_rows = {row[0]: row for row in cur.fetchall()}
    after_images = {e["after"]["id"]: e["after"] for e in events if e["op"] in ("c", "u")}
    assert set(source_rows) == {1, 2}
    for row_id, source_row in source_rows.items():
        image = after_images[row_id]
        for spec, selected in zip(specs, source_row, strict=True):
            expected = as_event_value(spec.kind, selected)
            actual = normalise_event_value(spec.kind, image[spec.name])
            assert actual == expected, (
                f"row {row_id} column {spec.name} ({spec.kind}): {actual!r} != {expected!r}"
            )
    # The deleted row's before image carries the partial date, the row's only non-NULL values.
    deleted = events[-1]["before"]
    assert deleted["d"] == "2000-02-00" and deleted["y"] == 1901 and deleted["dec65"] == Decimal(0)
    assert events[3]["before"]["t0"] == "-00:00:01" and events[3]["after"]["t0"] == "-12:00:00"


def test_first_record_is_the_table_definition(services: Services, source_db: str, topic_prefix: str) -> None:
    """A table topic starts with the table's SHOW CREATE TABLE, before any change."""
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{source_db}`.t (id INT PRIMARY KEY, v DECIMAL(7,3) NOT NULL DEFAULT 1.5)")
    settings = producer_settings(services, topic_prefix, start_position=current_position(services))
    with ProducerThread(settings) as producer:
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            cur.execute(f"INSERT INTO `{source_db}`.t VALUES (1, 2.25)")
            cur.execute(f"SHOW CREATE TABLE `{source_db}`.t")
            create = cur.fetchone()[1]
        decoded = wait_for(
            lambda: (lambda d: d if len(d) >= 2 else None)(
                decode_topic(services.bootstrap, topic_prefix, source_db, "t")
            )
        )
        producer.stop()
    first = decoded[0]
    assert first.schema.kind == "schema_change"
    assert first.record["kind"] == "definition" and first.record["create_table"] == create
    assert decoded[1].schema.kind == "change" and decoded[1].record["after"]["v"] == Decimal("2.250")


def test_decimal_scale_zero(services: Services, source_db: str, topic_prefix: str) -> None:
    """A DECIMAL(p,0) value has no fraction digit: DECIMAL(10,0) and DECIMAL(1,0) edges publish
    as their exact integers (they once stopped the producer: a '.0' the schema has no room for)."""
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{source_db}`.d0 (id INT PRIMARY KEY, d10 DECIMAL(10,0), d1 DECIMAL(1,0))")
    settings = producer_settings(services, topic_prefix, start_position=current_position(services))
    values = [(1, "999999999", "9"), (2, "9999999999", "-9"), (3, "-1", "0"), (4, "-9999999999", "-1")]
    with ProducerThread(settings) as producer:
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            for row in values:
                cur.execute(f"INSERT INTO `{source_db}`.d0 VALUES (%s, %s, %s)", row)
        events = wait_for(
            lambda: (
                producer.error
                or (lambda c: c if len(c) >= len(values) else None)(
                    changes(decode_topic(services.bootstrap, topic_prefix, source_db, "d0"))
                )
            ),
            what=f"{len(values)} change events",
        )
        producer.stop()
    assert [(e["after"]["id"], e["after"]["d10"], e["after"]["d1"]) for e in events] == [
        (i, Decimal(d10), Decimal(d1)) for i, d10, d1 in values
    ]
