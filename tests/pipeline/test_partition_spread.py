"""Found by the second review: how a table's rows are spread over its topic's partitions must follow
the table as it was at the rows' place in the binlog, not as the source has it when the producer
gets there. A producer that is behind (restarted, catching up) reads the source's current indexes."""

from __future__ import annotations

import contextlib
import time

import pytest

from tests.applier_harness import ApplierThread, applier_settings, drop_target_database, equal, table_state
from tests.producer_harness import ProducerThread, current_position, producer_settings
from tests.services import Services, connect, query

pytestmark = pytest.mark.integration
PAIRS = 30


@pytest.mark.parametrize("behind", [False, True], ids=["producer-caught-up", "producer-behind"])
def test_rows_spread_under_a_unique_key_are_never_applied_out_of_order(
    services: Services, source_db: str, topic_prefix: str, behind: bool
) -> None:
    """A table with a unique secondary key: rows free a unique value that other rows then take; then
    the unique key is dropped. Caught up, the producer reads the rows while the key exists and keeps
    them on one partition: the target ends equal. Behind, it reads them after the DROP ran and
    spreads them by key — they were written under the unique key, which the target still has, so
    no order across partitions is safe: the applier must refuse them, naming the message and the
    fix, and never let an upsert that meets a row still holding the value update that row instead
    (it did: u ended with another row's values, no error)."""
    db = source_db
    settings = producer_settings(
        services, topic_prefix, start_position=current_position(services), topic_partitions=3
    )
    running = contextlib.ExitStack()
    producer = ProducerThread(settings)
    if not behind:
        running.enter_context(producer)
        time.sleep(3)  # started and following the binlog
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE `{db}`.u (id INT PRIMARY KEY, n INT NOT NULL, s VARCHAR(8) NOT NULL, UNIQUE KEY n (n))"
        )
        for pair in range(1, PAIRS + 1):
            cur.execute(f"INSERT INTO `{db}`.u VALUES (%s, %s, %s)", (pair, pair, f"x{pair}"))
            # row `pair` frees n = pair, which row 100 + pair then takes
            cur.execute(f"UPDATE `{db}`.u SET n = n + 1000 WHERE id = %s", (pair,))
            cur.execute(f"INSERT INTO `{db}`.u VALUES (%s, %s, %s)", (100 + pair, pair, f"y{pair}"))
        if not behind:
            time.sleep(3)  # the producer reads the rows while the unique key exists
        cur.execute(f"ALTER TABLE `{db}`.u DROP INDEX n")
    if behind:
        running.enter_context(producer)
    try:
        with running, ApplierThread(applier_settings(services, topic_prefix)) as applier:
            deadline = time.monotonic() + 60
            while applier.error is None and not equal(services, db, ("u",)) and time.monotonic() < deadline:
                time.sleep(0.5)
            if behind:
                assert applier.error is not None, "rows spread by key under a unique key were applied"
                assert "must be applied in source order" in str(applier.error), applier.error
                assert "partition" in str(applier.error), applier.error
                return
            assert applier.error is None, f"the applier stopped: {applier.error!r}"
            indexes = query(
                services.target_admin,
                "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA=%s AND TABLE_NAME='u' "
                "AND INDEX_NAME='n'",
                (db,),
            )[0][0]
            assert indexes == 0, "the DROP INDEX was not applied"
            if not equal(services, db, ("u",)):
                differ = [
                    (row, target)
                    for row, target in zip(
                        query(services.source_admin, f"SELECT id, n, s FROM `{db}`.u ORDER BY id"),
                        query(services.target_admin, f"SELECT id, n, s FROM `{db}`.u ORDER BY id"),
                        strict=False,
                    )
                    if row != target
                ]
                raise AssertionError(
                    f"u differs {table_state(services, db, 'u')}: (source, target) {differ[:5]}"
                )
            applier.stop()
    finally:
        drop_target_database(services, db)
