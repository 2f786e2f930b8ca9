"""Logs of a real applier with --log-format json: every line is one JSON object, every line about
a message carries its topic/partition/offset as fields, and no secret is ever printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.applier_harness import ApplierProcess, drop_target_database, equal
from tests.kafka_helpers import wait_for
from tests.pipeline.test_ddl import run_statements
from tests.producer_harness import ProducerThread, current_position, producer_settings
from tests.services import Services

pytestmark = pytest.mark.integration
ABOUT_A_MESSAGE = ("DDL", "holding", "resuming", "created target table", "dead-letter", "skipping")


def test_json_logs_name_the_message(
    services: Services, source_db: str, topic_prefix: str, tmp_path: Path
) -> None:
    log_path = tmp_path / "applier.log"
    applier = ApplierProcess(services, topic_prefix, log_path, log_format="json").start()
    try:
        with ProducerThread(
            producer_settings(services, topic_prefix, start_position=current_position(services))
        ):
            run_statements(services, source_db)  # CREATE, ALTERs, TRUNCATE, RENAME (a hold), DROP
            wait_for(lambda: equal(services, source_db, ("t2",)), what="t2 equal")
        assert applier.terminate() == 0
    finally:
        if applier.proc is not None and applier.proc.poll() is None:
            applier.kill9()
        drop_target_database(services, source_db)
    text = log_path.read_text()
    assert services.target_url.password and services.target_url.password not in text
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # each line is JSON
    about = [line for line in lines if any(word in line["msg"] for word in ABOUT_A_MESSAGE)]
    assert len(about) >= 5, [line["msg"] for line in lines]
    for line in about:
        assert {"topic", "partition", "offset"} <= set(line), line
        assert line["topic"].startswith(topic_prefix + ".") and line["offset"] >= 0
