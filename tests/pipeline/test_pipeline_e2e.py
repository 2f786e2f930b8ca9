"""Producer and applier together: the target ends CHECKSUM TABLE-equal to the source."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.applier_harness import ApplierThread, applier_settings, drop_target_database, equal, table_state
from tests.kafka_helpers import wait_for
from tests.producer.test_producer_types import ALL_TYPES_DDL, ROWS
from tests.producer_harness import ProducerThread, current_position, producer_settings
from tests.services import Services, connect
from tests.workload import Workload

pytestmark = pytest.mark.integration


@pytest.fixture
def target_cleanup(services: Services, source_db: str) -> Iterator[None]:
    yield
    drop_target_database(services, source_db)


def test_all_types_checksum_equal(
    services: Services, source_db: str, topic_prefix: str, target_cleanup: None
) -> None:
    """Every hard type, NULLs, updates and deletes: CHECKSUM TABLE equal on source and target."""
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(ALL_TYPES_DDL.format(db=source_db))
    with (
        ProducerThread(
            producer_settings(services, topic_prefix, start_position=current_position(services))
        ) as producer,
        ApplierThread(applier_settings(services, topic_prefix)) as applier,
    ):
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            cur.execute("SET SESSION sql_mode = '', time_zone = '+07:00'")  # TIMESTAMPs cross time zones
            for row in ROWS:
                cur.execute(f"INSERT INTO `{source_db}`.all_types VALUES {row}")
            cur.execute(
                f"UPDATE `{source_db}`.all_types SET t0 = '-12:00:00', st = 'y', geo = NULL WHERE id = 2"
            )
            cur.execute(f"DELETE FROM `{source_db}`.all_types WHERE id = 3")
        wait_for(
            lambda: applier.error is not None or equal(services, source_db, ("all_types",)),
            what="all_types equal",
            timeout_s=60,
        )
        assert applier.error is None, applier.error
        applier.stop()
        producer.stop()
    source_checksum, target_checksum, source_rows, target_rows = table_state(services, source_db, "all_types")
    assert (source_checksum, source_rows) == (target_checksum, target_rows) and source_rows == 2


def test_mixed_workload_equal(
    services: Services, source_db: str, topic_prefix: str, target_cleanup: None
) -> None:
    """Inserts, updates, deletes, primary-key changes and large transactions on three tables."""
    workload = Workload(services.source_admin, source_db, seed=21)
    workload.create_tables()
    with (
        ProducerThread(
            producer_settings(
                services, topic_prefix, start_position=current_position(services), txn_max_rows=700
            )
        ) as producer,
        ApplierThread(applier_settings(services, topic_prefix, batch_max_rows=800)) as applier,
    ):
        workload.run(300, large_every=100, large_rows=3000)
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            # primary-key changes, including a swap through a free key, in one transaction
            conn.begin()
            cur.execute(f"UPDATE `{source_db}`.w1 SET id = id + 100000 WHERE id <= 20")
            cur.execute(f"UPDATE `{source_db}`.w2 SET id = -1 WHERE id = 5")
            cur.execute(f"UPDATE `{source_db}`.w2 SET id = 5 WHERE id = 6")
            cur.execute(f"UPDATE `{source_db}`.w2 SET id = 6 WHERE id = -1")
            conn.commit()
        wait_for(
            lambda: applier.error is not None or equal(services, source_db, workload.tables),
            what="workload tables equal",
            timeout_s=120,
        )
        assert applier.error is None, applier.error
        applier.stop()
        producer.stop()
    for table in workload.tables:
        source_checksum, target_checksum, source_rows, target_rows = table_state(services, source_db, table)
        assert (source_checksum, source_rows) == (target_checksum, target_rows)


def test_composite_primary_key(
    services: Services, source_db: str, topic_prefix: str, target_cleanup: None
) -> None:
    """A two-column primary key: keys, coalesced deletes and a key change apply exactly."""
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE `{source_db}`.c (tenant INT, id VARCHAR(8), v INT, PRIMARY KEY (tenant, id))"
        )

    def write(cur: Any) -> None:
        cur.executemany(
            f"INSERT INTO `{source_db}`.c VALUES (%s, %s, %s)",
            [(t, f"k{i}", i) for t in (1, 2) for i in range(50)],
        )
        cur.execute(f"DELETE FROM `{source_db}`.c WHERE tenant = 1 AND id IN ('k1', 'k2', 'k3')")
        cur.execute(f"UPDATE `{source_db}`.c SET tenant = 3 WHERE tenant = 2 AND id = 'k7'")
        cur.execute(f"UPDATE `{source_db}`.c SET v = v + 100 WHERE tenant = 2")

    replicate(services, source_db, topic_prefix, ("c",), write)


def test_column_names_that_are_not_avro_names(
    services: Services, source_db: str, topic_prefix: str, target_cleanup: None
) -> None:
    """Columns whose names Avro cannot carry (spaces, a leading digit, non-ASCII, a dash) are
    renamed in the schema and mapped back to the exact column names on the target."""
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE `{source_db}`.n (`my id` INT PRIMARY KEY, `2nd` INT, `ünï` VARCHAR(8), `a-b` INT)"
        )

    def write(cur: Any) -> None:
        cur.executemany(
            f"INSERT INTO `{source_db}`.n VALUES (%s, %s, %s, %s)",
            [(i, i * 2, f"ü{i}", -i) for i in range(30)],
        )
        cur.execute(f"UPDATE `{source_db}`.n SET `ünï` = 'x' WHERE `my id` < 5")
        cur.execute(f"DELETE FROM `{source_db}`.n WHERE `2nd` > 50")

    replicate(services, source_db, topic_prefix, ("n",), write)


def replicate(
    services: Services, db: str, prefix: str, tables: tuple[str, ...], write: Callable[[Any], None]
) -> None:
    """Run producer and applier, ``write(cursor)`` on the source, wait until ``tables`` are equal."""
    with (
        ProducerThread(
            producer_settings(services, prefix, start_position=current_position(services))
        ) as producer,
        ApplierThread(applier_settings(services, prefix)) as applier,
    ):
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            write(cur)
        wait_for(lambda: applier.error is not None or equal(services, db, tables), what=f"{tables} equal")
        assert applier.error is None, applier.error
        applier.stop()
        producer.stop()
