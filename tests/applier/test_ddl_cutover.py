"""Found by review, on RENAME records: an online schema change tool's cut-over (one RENAME that swaps
the shadow table in) must be applied once and end with the target equal to the source."""

from __future__ import annotations

import time

import pytest

from tests.applier_harness import ApplierThread, applier_settings, drop_target_database, equal, table_state
from tests.kafka_helpers import wait_for
from tests.producer_harness import ProducerThread, current_position, producer_settings
from tests.services import Services, connect, query

pytestmark = pytest.mark.integration


def source(services: Services, *statements: str) -> None:
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)


def target_tables(services: Services, db: str) -> set[str]:
    rows = query(
        services.target_admin, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s", (db,)
    )
    return {str(r[0]) for r in rows}


@pytest.mark.parametrize("shadow_applied_first", [False, True], ids=["shadow-behind", "shadow-applied"])
def test_gh_ost_cut_over_swap_is_applied_once(
    services: Services, source_db: str, topic_prefix: str, shadow_applied_first: bool
) -> None:
    """gh-ost's cut-over `RENAME TABLE orig TO _orig_del, _orig_gho TO orig` (the shadow table
    swapped in under the original name) is applied once; later rows land in the new `orig`, the
    applier keeps running and the target ends equal, with no table left behind."""
    db = source_db
    try:
        with (
            ProducerThread(
                producer_settings(services, topic_prefix, start_position=current_position(services))
            ),
            ApplierThread(applier_settings(services, topic_prefix)) as applier,
        ):
            source(
                services,
                f"CREATE TABLE `{db}`.orig (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)",
                f"INSERT INTO `{db}`.orig VALUES (1, 'a'), (2, 'b'), (3, 'c')",
            )
            wait_for(lambda: applier.error is not None or equal(services, db, ("orig",)), what="orig equal")
            assert applier.error is None, applier.error
            source(
                services,
                f"CREATE TABLE `{db}`._orig_gho (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL, w INT NOT NULL DEFAULT 7)",
                f"INSERT INTO `{db}`._orig_gho (id, v) SELECT id, v FROM `{db}`.orig",
            )
            if shadow_applied_first:  # the shadow table's topic is fully applied before the cut-over
                wait_for(
                    lambda: applier.error is not None or equal(services, db, ("_orig_gho",)),
                    what="_orig_gho equal",
                )
            source(
                services,
                f"RENAME TABLE `{db}`.orig TO `{db}`._orig_del, `{db}`._orig_gho TO `{db}`.orig",
                f"INSERT INTO `{db}`.orig VALUES (4, 'd', 8)",
                f"DROP TABLE `{db}`._orig_del",
            )
            wait_for(
                lambda: (
                    applier.error is not None
                    or (equal(services, db, ("orig",)) and target_tables(services, db) == {"orig"})
                ),
                timeout_s=60,
                what="orig equal after the cut-over and no other table on the target",
            )
            assert applier.error is None, f"the applier stopped: {applier.error}"
            applier.stop()
    finally:
        print("target tables:", target_tables(services, db), "orig:", table_state(services, db, "orig"))
        drop_target_database(services, db)


def test_alter_table_rename_waits_for_the_old_tables_topic(
    services: Services, source_db: str, topic_prefix: str
) -> None:
    """`ALTER TABLE a RENAME TO b` moves a table like `RENAME TABLE` does: when the applier starts
    with a backlog on a's topic, the record in b's topic must wait for a's topic to apply the rows
    before it (not stop because b does not exist yet), and b ends equal."""
    db = source_db
    try:
        with ProducerThread(
            producer_settings(services, topic_prefix, start_position=current_position(services))
        ):
            source(
                services,
                f"CREATE TABLE `{db}`.a (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)",
                f"INSERT INTO `{db}`.a SELECT seq, CONCAT('r', seq) FROM `{db}`.seq_1_to_20000",
                f"ALTER TABLE `{db}`.a RENAME TO `{db}`.b",
                f"INSERT INTO `{db}`.b VALUES (20001, 'after')",
            )
            time.sleep(3)  # published: the applier starts with a backlog on a's topic
            with ApplierThread(applier_settings(services, topic_prefix, batch_max_rows=500)) as applier:
                wait_for(
                    lambda: applier.error is not None or equal(services, db, ("b",)),
                    timeout_s=120,
                    what="b equal",
                )
                assert applier.error is None, f"the applier stopped: {applier.error}"
                applier.stop()
    finally:
        drop_target_database(services, db)
