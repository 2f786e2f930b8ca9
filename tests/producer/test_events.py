"""Unit tests of the event builder's refusal path (no real fault reaches it once the decoders are
right, so the decoded row is built by hand: the value the DECIMAL(p,0) decoder once produced)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.producer.events import EventBuilder
from binlog_pipeline.producer.position import BinlogPosition
from binlog_pipeline.producer.row_decoder import RowImageDecoder
from binlog_pipeline.producer.row_events import CapturedTable, RowChange
from binlog_pipeline.schemas.columns import ColumnKind, ColumnSpec
from binlog_pipeline.schemas.envelope import TableSchema
from binlog_pipeline.schemas.topics import TopicNames


def test_a_value_its_avro_type_refuses_names_the_change_and_column() -> None:
    """A decoded value that does not fit its column's Avro type stops the producer with the table,
    the binlog position, the key, the column, the value and the fix — not fastavro's bare error."""
    schema = TableSchema(
        "shop",
        "orders",
        (ColumnSpec("id", ColumnKind.INT), ColumnSpec("total", ColumnKind.DECIMAL, precision=10, scale=0)),
        ("id",),
    )
    change = RowChange(
        CapturedTable(schema, RowImageDecoder([])), "c", None, [7, Decimal("999999999.0")], 0, 3
    )
    with pytest.raises(PermanentError) as raised:
        EventBuilder(TopicNames("p"), 1).row_message(change, BinlogPosition("mysql-bin.000004", 1234), None)
    message = str(raised.value)
    assert "shop.orders" in message and "mysql-bin.000004:1234" in message and "row 3" in message
    assert "key id=7" in message and "column total value Decimal('999999999.0')" in message
    assert 'exclude_columns = ["shop.orders.total"]' in message
