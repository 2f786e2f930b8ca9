"""The table-map cache (producer/table_map.py) stays within its budget of parses and of columns:
a parse grows with its table's width, and every FLUSH TABLES gives each table new bytes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from binlog_pipeline.producer import table_map


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    table_map._parsed.clear()
    table_map._parsed_columns = 0
    yield
    table_map._parsed.clear()
    table_map._parsed_columns = 0


def test_wide_tables_are_bounded_by_their_columns() -> None:
    for table_id in range(1000):  # 1000 distinct maps of a 1,000-column table
        table_map._remember(f"map {table_id}".encode(), (), {"columns": [object()] * 1000})
    assert table_map._parsed_columns <= table_map.CACHE_COLUMNS
    assert len(table_map._parsed) == table_map.CACHE_COLUMNS // 1000
    assert b"map 999" in table_map._parsed  # the most recent stay


def test_narrow_tables_are_bounded_by_their_count() -> None:
    for table_id in range(table_map.CACHE_SIZE + 500):
        table_map._remember(f"map {table_id}".encode(), (), {"columns": [object()]})
    assert len(table_map._parsed) == table_map.CACHE_SIZE
    assert table_map._parsed_columns == table_map.CACHE_SIZE


def test_one_table_wider_than_the_budget_is_still_kept() -> None:
    table_map._remember(b"huge", (), {"columns": [object()] * (table_map.CACHE_COLUMNS + 1)})
    assert list(table_map._parsed) == [b"huge"]
