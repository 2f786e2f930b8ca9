"""How the operations commands read a topic argument: db.table or a full name of any prefix, and
which prefix (so which schema topic) a full name belongs to."""

from __future__ import annotations

import pytest

from binlog_pipeline.schemas.topics import TopicNames


@pytest.mark.parametrize(
    ("name", "existing", "expected"),
    [
        ("shop.orders", (), "binlog.shop.orders"),  # db.table gets the configured prefix
        ("binlog.shop.orders", (), "binlog.shop.orders"),
        ("p1.shop.orders", (), "p1.shop.orders"),  # a full name of another prefix stays as it is
        ("a.b.shop.orders", (), "a.b.shop.orders"),
        ("binlog.schemas", (), "binlog.schemas"),
        ("p1.schemas", {"p1.schemas"}, "p1.schemas"),  # an existing one-dot topic is that topic
        ("p1.schemas", (), "binlog.p1.schemas"),
        ("p1.schemas", {"p1.schemas", "binlog.p1.schemas"}, "binlog.p1.schemas"),  # db.table first
        ("orders", (), "orders"),
    ],
)
def test_resolve(name: str, existing: set[str], expected: str) -> None:
    """A name with exactly one dot is db.table unless it is an existing topic that db.table is not."""
    assert TopicNames("binlog").resolve(name, existing) == expected


@pytest.mark.parametrize(
    ("topic", "configured", "prefix"),
    [
        ("p1.shop.orders", "binlog", "p1"),  # a table topic: everything before the last two parts
        ("a.b.shop.orders", "binlog", "a.b"),
        ("p1.schema-changes", "binlog", "p1"),  # an internal topic: before the last part
        ("a.b.producer-checkpoints", "binlog", "a"),  # both readings fit: the table one wins...
        ("a.b.producer-checkpoints", "a.b", "a.b"),  # ...unless the configured prefix is one of them
        ("orders", "binlog", "binlog"),  # neither reading: the configured prefix
        ("p1.orders", "binlog", "binlog"),
    ],
)
def test_of_topic(topic: str, configured: str, prefix: str) -> None:
    """A full topic name tells its prefix, whose schema topic holds its writer schemas."""
    names = TopicNames.of_topic(topic, configured)
    assert names.prefix == prefix and names.schemas == f"{prefix}.schemas"


def test_a_table_topic_knows_its_prefix() -> None:
    """Every table topic TopicNames makes reads back as its own prefix, dots in names cleaned."""
    for prefix in ("binlog", "a.b", "x-y"):
        topic = TopicNames(prefix).table("my.db", "t.1")
        assert TopicNames.of_topic(topic, "other").prefix == prefix
