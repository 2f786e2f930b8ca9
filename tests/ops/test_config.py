"""Configuration: precedence file < env < flags, and every error path names key, origin and
expectation without leaking a secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis.vendor.pretty import pretty
from pydantic import ValidationError

from binlog_pipeline.core.config import Settings, load_settings
from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.core.errors import ConfigError

SECRET = "s3cr3t-p4ss"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipeline.toml"
    path.write_text(text)
    return path


def test_defaults_need_nothing() -> None:
    """With no file, env or flags every setting has its documented default."""
    settings = load_settings(env={})
    assert settings.topic_prefix == "binlog"
    assert settings.group_id == "binlog-applier"
    assert settings.source_url is None
    assert settings.effective_transactional_id() == "binlog-producer.binlog"


def test_flag_beats_env_beats_file(tmp_path: Path) -> None:
    """A key set in all three places takes the flag's value; env beats the file."""
    config = write(tmp_path, 'topic_prefix = "from_file"\ngroup_id = "g_file"\nbatch_max_rows = 10\n')
    env = {"BINLOG_PIPELINE_TOPIC_PREFIX": "from_env", "BINLOG_PIPELINE_GROUP_ID": "g_env"}
    settings = load_settings(config, env=env, flags={"topic_prefix": "from_flag", "group_id": None})
    assert settings.topic_prefix == "from_flag"
    assert settings.group_id == "g_env"
    assert settings.batch_max_rows == 10


def test_config_file_from_env_variable(tmp_path: Path) -> None:
    """BINLOG_PIPELINE_CONFIG names the file when --config is not given."""
    config = write(tmp_path, 'bootstrap_servers = "kafka:9092"\n')
    settings = load_settings(env={"BINLOG_PIPELINE_CONFIG": str(config)})
    assert settings.bootstrap_servers == "kafka:9092"


def test_env_values_are_typed_and_lists_split() -> None:
    """Env strings become ints, lists (comma-separated) and mappings (k=v pairs)."""
    env = {
        "BINLOG_PIPELINE_BATCH_MAX_ROWS": "42",
        "BINLOG_PIPELINE_INCLUDE_TABLES": "shop.*, crm.users",
        "BINLOG_PIPELINE_ROUTES": "shop=shop_copy,crm.users=crm2.people",
    }
    settings = load_settings(env=env)
    assert settings.batch_max_rows == 42
    assert settings.include_tables == ["shop.*", "crm.users"]
    assert settings.routes == {"shop": "shop_copy", "crm.users": "crm2.people"}


def test_stack_variables_are_not_settings() -> None:
    """BINLOG_PIPELINE_STACK_* belong to the local stack and are ignored by the loader."""
    load_settings(env={"BINLOG_PIPELINE_STACK_SOURCE_ADMIN_URL": "mysql://root:x@h:1/"})


def test_database_url_parsed_and_masked() -> None:
    """A URL's parts are parsed; str() masks the password."""
    settings = load_settings(env={"BINLOG_PIPELINE_SOURCE_URL": f"mysql://cdc:{SECRET}@db.local:3307/shop"})
    url = settings.source_url
    assert isinstance(url, DatabaseUrl)
    assert (url.host, url.port, url.user, url.password, url.database) == (
        "db.local",
        3307,
        "cdc",
        SECRET,
        "shop",
    )
    assert SECRET not in str(url) and SECRET not in repr(url) and SECRET not in repr(settings)
    assert DatabaseUrl.parse(url.unmasked()) == url


def test_database_url_pretty_printed_masked() -> None:
    """Pretty printers that read a dataclass's fields rather than its repr (hypothesis prints a
    failing example's arguments so, IPython too) show the URL without its password."""
    url = DatabaseUrl("db.local", 3307, "cdc", SECRET)
    shown = pretty({"source": url})
    assert SECRET not in shown and "db.local" in shown


def test_url_with_escaped_password_and_tls() -> None:
    """Percent-escaped passwords and ssl_* parameters round-trip."""
    url = DatabaseUrl.parse("mysql://u:p%40ss%3Aw@h:3306/?ssl_ca=/etc/ca.pem")
    assert url.password == "p@ss:w"
    assert url.connect_kwargs()["ssl"] == {"ca": "/etc/ca.pem"}
    assert DatabaseUrl.parse(url.unmasked()) == url


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"BINLOG_PIPELINE_SOURCE_URL": f"postgres://u:{SECRET}@h/"},
            "invalid source_url (from environment variable BINLOG_PIPELINE_SOURCE_URL): expected a URL like mysql://",
        ),
        (
            {"BINLOG_PIPELINE_TARGET_URL": f"mysql://u:{SECRET}@h:99999/"},
            "invalid target_url (from environment variable BINLOG_PIPELINE_TARGET_URL): the URL's port",
        ),
        ({"BINLOG_PIPELINE_TARGET_URL": f"mysql://:{SECRET}@h/"}, "the URL has no user"),
        ({"BINLOG_PIPELINE_SOURCE_URL": f"mysql://u:{SECRET}@h/?sslca=x"}, "unknown URL parameter(s) sslca"),
        (
            {"BINLOG_PIPELINE_BATCH_MAX_ROWS": "many"},
            "invalid batch_max_rows (from environment variable BINLOG_PIPELINE_BATCH_MAX_ROWS): Input should be a valid integer",
        ),
        ({"BINLOG_PIPELINE_BATCH_MAX_ROWS": "0"}, "greater than or equal to 1"),
        (
            {"BINLOG_PIPELINE_TOPIC_PREFIX": "bad prefix!"},
            "invalid topic_prefix (from environment variable BINLOG_PIPELINE_TOPIC_PREFIX): expected letters, digits",
        ),
        (
            {"BINLOG_PIPELINE_START_POSITION": "yesterday"},
            "invalid start_position (from environment variable BINLOG_PIPELINE_START_POSITION): expected 'end', 'earliest', FILE:POS such as mysql-bin.000003:4, or gtid:SET",
        ),
        (
            {"BINLOG_PIPELINE_CHECKPOINT_TABLE": "nodot"},
            "invalid checkpoint_table (from environment variable BINLOG_PIPELINE_CHECKPOINT_TABLE): expected database.table",
        ),
        (
            {"BINLOG_PIPELINE_LOG_FORMAT": "xml"},
            "invalid log_format (from environment variable BINLOG_PIPELINE_LOG_FORMAT): Input should be 'text' or 'json'",
        ),
        ({"BINLOG_PIPELINE_ROUTES": "nosep"}, "expected key=value pairs"),
        (
            {"BINLOG_PIPELINE_TOPIC_PREFX": "x"},
            "unknown environment variable BINLOG_PIPELINE_TOPIC_PREFX (did you mean BINLOG_PIPELINE_TOPIC_PREFIX?)",
        ),
    ],
)
def test_env_errors_name_key_origin_expectation(env: dict[str, str], expected: str) -> None:
    """Each invalid env value is reported with its key, its origin and what is expected; never the secret."""
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)
    assert expected in str(caught.value)
    assert SECRET not in str(caught.value)


def test_file_errors(tmp_path: Path) -> None:
    """A missing file, bad TOML, an unknown key and a bad value in the file each say so."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", env={})
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(write(tmp_path, "topic_prefix = \n"), env={})
    with pytest.raises(
        ConfigError,
        match=r"unknown setting 'grup_id' in config file .*pipeline.toml \(did you mean 'group_id'\?\)",
    ):
        load_settings(write(tmp_path, 'grup_id = "x"\n'), env={})
    with pytest.raises(ConfigError, match=r"invalid txn_max_ms \(from config file .*pipeline.toml\)"):
        load_settings(write(tmp_path, "txn_max_ms = -5\n"), env={})


def test_flag_errors_name_the_flag() -> None:
    """A bad flag value names the flag as its origin."""
    with pytest.raises(ConfigError, match=r"invalid server_id \(from flag --server-id\)"):
        load_settings(env={}, flags={"server_id": "0"})


def test_require_says_how_to_set_a_missing_key() -> None:
    """A missing required key names the file key, env variable and flag."""
    with pytest.raises(
        ConfigError, match=r"source_url is required: .* BINLOG_PIPELINE_SOURCE_URL or with --source-url"
    ):
        load_settings(env={}).require("source_url")


def test_settings_are_frozen() -> None:
    """Settings cannot change after start-up."""
    settings = load_settings(env={})
    with pytest.raises(ValidationError):
        settings.topic_prefix = "x"  # type: ignore[misc]


def test_librdkafka_passthrough(tmp_path: Path) -> None:
    """The [kafka] table passes through; the pipeline's own overrides win."""
    config = write(tmp_path, '[kafka]\n"security.protocol" = "SASL_SSL"\n"enable.idempotence" = "false"\n')
    conf = load_settings(config, env={}).librdkafka(**{"enable.idempotence": True})
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["enable.idempotence"] is True
    assert isinstance(Settings.model_fields["kafka"].description, str)


def test_secrets_from_files(tmp_path: Path) -> None:
    """BINLOG_PIPELINE_<KEY>_FILE reads the value from a file (Docker/Kubernetes secrets), so a
    password never has to be in argv or the environment listing."""
    secret = tmp_path / "source_url"
    secret.write_text("mysql://producer:s3cr%40t@db:3306/\n")
    settings = load_settings(env={"BINLOG_PIPELINE_SOURCE_URL_FILE": str(secret)})
    assert settings.source_url == DatabaseUrl("db", 3306, "producer", "s3cr@t")
    kafka = tmp_path / "kafka"
    kafka.write_text("sasl.username=app,sasl.password=pw")
    assert load_settings(env={"BINLOG_PIPELINE_KAFKA_FILE": str(kafka)}).kafka["sasl.password"] == "pw"
    with pytest.raises(ConfigError, match=r"BINLOG_PIPELINE_SOURCE_URL_FILE: cannot read .*/missing"):
        load_settings(env={"BINLOG_PIPELINE_SOURCE_URL_FILE": str(tmp_path / "missing")})
    with pytest.raises(
        ConfigError, match="set BINLOG_PIPELINE_SOURCE_URL or BINLOG_PIPELINE_SOURCE_URL_FILE, not both"
    ):
        load_settings(
            env={"BINLOG_PIPELINE_SOURCE_URL_FILE": str(secret), "BINLOG_PIPELINE_SOURCE_URL": "mysql://a@b/"}
        )
    with pytest.raises(ConfigError, match="unknown environment variable BINLOG_PIPELINE_NOPE_FILE"):
        load_settings(env={"BINLOG_PIPELINE_NOPE_FILE": str(secret)})
    bad = tmp_path / "bad"
    bad.write_text("http://x")
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"BINLOG_PIPELINE_SOURCE_URL_FILE": str(bad)})
    assert f"from file {bad} (from BINLOG_PIPELINE_SOURCE_URL_FILE)" in str(caught.value)


def test_kafka_settings_merge_across_file_secret_file_and_flags(tmp_path: Path) -> None:
    """A SASL password in a secret file joins the config file's [kafka] table instead of replacing
    it (other keys: the later source wins outright)."""
    config = write(
        tmp_path,
        '[kafka]\n"security.protocol" = "SASL_SSL"\n"sasl.mechanisms" = "SCRAM-SHA-512"\n"sasl.username" = "app"\n',
    )
    secret = tmp_path / "kafka_secret"
    secret.write_text("sasl.password=pw\n")
    settings = load_settings(
        config, env={"BINLOG_PIPELINE_KAFKA_FILE": str(secret)}, flags={"kafka": "sasl.username=other"}
    )
    assert settings.kafka == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "other",
        "sasl.password": "pw",
    }
    with pytest.raises(ConfigError) as caught:
        load_settings(config, env={"BINLOG_PIPELINE_KAFKA": "no-equals-sign"})
    assert "environment variable BINLOG_PIPELINE_KAFKA" in str(caught.value)


def test_consumer_and_producer_settings_are_scoped(tmp_path: Path) -> None:
    """kafka goes to every client; kafka_consumer only to the applier's group consumer and
    kafka_producer only to producers — librdkafka warns (CONFWARN) when a producer gets a
    consumer-only setting such as session.timeout.ms (seen in the chaos run's logs)."""
    config = write(
        tmp_path,
        '[kafka]\n"security.protocol" = "SSL"\n[kafka_consumer]\n"session.timeout.ms" = "10000"\n'
        '[kafka_producer]\n"linger.ms" = "20"\n',
    )
    settings = load_settings(config, env={"BINLOG_PIPELINE_KAFKA_CONSUMER": "heartbeat.interval.ms=2000"})
    consumer, producer, helper = (
        settings.consumer_librdkafka(),
        settings.producer_librdkafka(**{"acks": "all"}),
        settings.librdkafka(),
    )
    assert (
        consumer["security.protocol"] == producer["security.protocol"] == helper["security.protocol"] == "SSL"
    )
    assert consumer["session.timeout.ms"] == "10000" and consumer["heartbeat.interval.ms"] == "2000"
    assert "session.timeout.ms" not in producer and "session.timeout.ms" not in helper
    assert producer["linger.ms"] == "20" and producer["acks"] == "all" and "linger.ms" not in consumer
