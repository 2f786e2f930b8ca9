"""The unit layer's own guarantees (tests/unit/conftest.py)."""

from __future__ import annotations

import os
import time

import pymysql
import pytest

from binlog_pipeline.core.config import load_settings
from tests.unit.conftest import NetworkInUnitTest


def test_no_pipeline_environment() -> None:
    """No BINLOG_PIPELINE_* variable is visible, so settings are the defaults whatever the shell has."""
    assert [name for name in os.environ if name.startswith("BINLOG_PIPELINE_")] == []
    settings = load_settings()
    assert (settings.bootstrap_servers, settings.target_url) == ("127.0.0.1:9092", None)


def test_a_connection_fails_at_once() -> None:
    """Reaching for a server fails at once, naming the address, instead of waiting for one."""
    started = time.monotonic()
    with pytest.raises(NetworkInUnitTest, match=r"192\.0\.2\.1"):
        pymysql.connect(host="192.0.2.1", port=3306, user="u", password="", connect_timeout=30)
    assert time.monotonic() - started < 5
