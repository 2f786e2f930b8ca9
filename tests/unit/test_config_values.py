"""Values of settings (core/config.py) as the file, the environment and flags spell them; the
precedence and error wording are in tests/ops/test_config.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from binlog_pipeline.core.config import KAFKA_LOG, load_settings
from binlog_pipeline.core.errors import ConfigError


@pytest.mark.parametrize(
    "position",
    ["end", "earliest", "mysql-bin.000003:4", "/var/lib/mysql/bin.000001:120", "gtid:0-1-42,1-2-7"],
)
def test_start_positions_accepted(position: str) -> None:
    """end, earliest, FILE:POS and gtid:SET are start positions."""
    assert load_settings(env={}, flags={"start_position": position}).start_position == position


@pytest.mark.parametrize("position", ["gtid:", "mysql-bin.000003", "bin:4x", "a b:4", "mysql-bin:000003:"])
def test_start_positions_refused(position: str) -> None:
    """Anything else is refused, naming the forms expected."""
    with pytest.raises(
        ConfigError, match=r"invalid start_position \(from flag --start-position\): expected 'end'"
    ):
        load_settings(env={}, flags={"start_position": position})


@pytest.mark.parametrize(
    ("prefix", "ok"), [("a" * 119, True), ("a" * 120, False), ("-x.y_z", True), (".x", False)]
)
def test_topic_prefix(prefix: str, ok: bool) -> None:
    """A topic prefix is a Kafka topic name of up to 119 characters, not starting with '.': with
    two 64-character MySQL names and two dots a table topic then fits Kafka's 249."""
    if ok:
        assert load_settings(env={}, flags={"topic_prefix": prefix}).topic_prefix == prefix
    else:
        with pytest.raises(ConfigError, match="invalid topic_prefix"):
            load_settings(env={}, flags={"topic_prefix": prefix})


@pytest.mark.parametrize("table", ["nodot", "a.b.c", ".t", "d."])
def test_checkpoint_table_is_database_dot_table(table: str) -> None:
    """The checkpoint table must be exactly database.table."""
    with pytest.raises(ConfigError, match=r"invalid checkpoint_table .*expected database\.table"):
        load_settings(env={"BINLOG_PIPELINE_CHECKPOINT_TABLE": table})


patterns = st.lists(st.from_regex(r"\A[a-z*?][a-z0-9_.*?]{0,10}\Z"), max_size=5)


@given(patterns)
def test_lists_from_env_equal_lists_from_toml(items: list[str]) -> None:
    """A comma-separated list (env, flags) is the same list as a TOML array of its items."""
    spaced = " , ".join(items)
    assert load_settings(env={"BINLOG_PIPELINE_INCLUDE_TABLES": spaced}).include_tables == items


def test_toml_arrays_and_tables(tmp_path: Path) -> None:
    """TOML arrays and tables are taken as they are; empty list items in strings are dropped."""
    config = tmp_path / "c.toml"
    config.write_text(
        'exclude_columns = ["a.b.c", "d.*.e"]\n[routes]\nshop = "copy"\n"crm.users" = "x.people"\n'
    )
    settings = load_settings(config, env={"BINLOG_PIPELINE_INCLUDE_TABLES": "a.*,,b.c,"})
    assert settings.exclude_columns == ["a.b.c", "d.*.e"]
    assert settings.routes == {"shop": "copy", "crm.users": "x.people"}
    assert settings.include_tables == ["a.*", "b.c"]


def test_librdkafka_conversion_order() -> None:
    """librdkafka settings: bootstrap servers and our logger, then kafka, then the scoped table,
    then the caller's overrides — each later one winning."""
    settings = load_settings(
        env={
            "BINLOG_PIPELINE_BOOTSTRAP_SERVERS": "k:9092",
            "BINLOG_PIPELINE_KAFKA": "client.id=all,linger.ms=1",
            "BINLOG_PIPELINE_KAFKA_PRODUCER": "linger.ms=5,acks=1",
        }
    )
    assert settings.producer_librdkafka(acks="all") == {
        "bootstrap.servers": "k:9092",
        "logger": KAFKA_LOG,
        "client.id": "all",
        "linger.ms": "5",
        "acks": "all",
    }
    assert settings.consumer_librdkafka()["linger.ms"] == "1"


def test_transactional_id_defaults_to_the_prefix() -> None:
    """Without a transactional_id, the producer's is derived from the topic prefix."""
    assert (
        load_settings(env={"BINLOG_PIPELINE_TOPIC_PREFIX": "p1"}).effective_transactional_id()
        == "binlog-producer.p1"
    )
    assert load_settings(env={}, flags={"transactional_id": "mine"}).effective_transactional_id() == "mine"
