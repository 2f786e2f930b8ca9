"""Topic names, the contract's addressing scheme (schemas/topics.py)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from binlog_pipeline.schemas.topics import TopicNames

NAMES = TopicNames("binlog")
# MySQL names: up to 64 characters. Prefixes: what the config accepts, up to 119 characters, so
# that prefix.db.table of 64-character names fits Kafka's 249 (a longer prefix once made table()
# cut topics: two tables shared one, or a topic matched no subscription).
mysql_names = st.text(
    st.characters(min_codepoint=1, max_codepoint=0xFFFF, exclude_categories=("Cs",)), max_size=64
)
prefixes = st.from_regex(r"\A[A-Za-z0-9_-][A-Za-z0-9._-]{0,118}\Z")


def test_table_topics() -> None:
    """A table topic is prefix.db.table, every character Kafka refuses (and '.') made '_'."""
    assert NAMES.table("shop", "orders") == "binlog.shop.orders"
    assert NAMES.table("shop", "order.items") == "binlog.shop.order_items"
    assert NAMES.table("müsli", "a b") == "binlog.m_sli.a_b"
    assert NAMES.table("", "") == "binlog._._"


def test_internal_topics() -> None:
    """Internal topics have one part after the prefix."""
    assert (NAMES.checkpoints, NAMES.snapshot_requests, NAMES.schemas, NAMES.schema_changes) == (
        "binlog.producer-checkpoints",
        "binlog.snapshot-requests",
        "binlog.schemas",
        "binlog.schema-changes",
    )


def test_resolve_what_users_type() -> None:
    """'db.table' resolves to its topic; a full topic name (or anything else) is left as given."""
    assert NAMES.resolve("shop.orders") == "binlog.shop.orders"
    assert NAMES.resolve("binlog.shop.orders") == "binlog.shop.orders"
    assert NAMES.resolve("other.shop.orders") == "other.shop.orders"
    assert NAMES.resolve("orders") == "orders"


def test_table_pattern() -> None:
    """The subscription pattern matches this prefix's table topics only, the prefix taken literally."""
    pattern = re.compile(TopicNames("a.b").table_pattern)
    assert pattern.match("a.b.shop.orders")
    assert not pattern.match("aXb.shop.orders")  # '.' in the prefix is not a wildcard
    assert not pattern.match("a.b.schemas")
    assert not pattern.match("a.b.shop.orders.x")


@given(prefixes, mysql_names, mysql_names)
def test_every_table_topic_is_a_valid_topic_the_applier_subscribes_to(
    prefix: str, db: str, table: str
) -> None:
    """Any table's topic is a valid Kafka topic name that the table pattern matches, and no
    internal topic of the prefix matches it."""
    names = TopicNames(prefix)
    topic = names.table(db, table)
    assert len(topic) <= 249 and re.fullmatch(r"[A-Za-z0-9._-]+", topic)
    pattern = re.compile(names.table_pattern)
    assert pattern.match(topic)
    for internal in (names.checkpoints, names.snapshot_requests, names.schemas, names.schema_changes):
        assert not pattern.match(internal)


@given(prefixes, mysql_names, mysql_names)
def test_every_table_topic_fits_kafka_and_its_pattern(prefix: str, db: str, table: str) -> None:
    """With any accepted prefix and any MySQL names the table topic is a whole, legal Kafka topic
    name (at most 249 characters) that this prefix's subscription pattern matches."""
    topic = TopicNames(prefix).table(db, table)
    assert len(topic) <= 249
    assert topic == f"{prefix}.{TopicNames(prefix).table(db, table)[len(prefix) + 1 :]}"
    assert re.match(TopicNames(prefix).table_pattern, topic)


def test_longest_names_are_not_cut() -> None:
    """The longest prefix and names give distinct topics (none cut to a shared name)."""
    names = TopicNames("p" * 119)
    assert names.table("d" * 64, "t" * 63 + "a") != names.table("d" * 64, "t" * 63 + "b")
