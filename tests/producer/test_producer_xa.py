"""XA transactions: MariaDB writes a prepared XA transaction's rows to the binlog at XA PREPARE
and its outcome (XA COMMIT / XA ROLLBACK) later, as a separate event group. The producer publishes
the rows exactly once, only when committed, at the commit's place — also across kill -9."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from binlog_pipeline.core.errors import PermanentError
from tests.applier_harness import ApplierThread, applier_settings, drop_target_database, equal
from tests.kafka_helpers import changes, decode_topic, wait_for
from tests.producer_harness import (
    ProducerProcess,
    ProducerThread,
    checkpoint_records,
    commit_checkpoint_record,
    current_position,
    producer_settings,
)
from tests.services import Services, connect

pytestmark = pytest.mark.integration


@pytest.fixture
def target_cleanup(services: Services, source_db: str) -> Iterator[None]:
    yield
    drop_target_database(services, source_db)


@pytest.fixture
def xa_cleanup(source_db: str, services: Services) -> Iterator[None]:
    """Roll back XA transactions a failed test left prepared (they would block DROP DATABASE)."""
    yield
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute("XA RECOVER")
        for _format, _gtrid, _bqual, data in cur.fetchall():
            if data.decode() in XIDS:
                cur.execute("XA ROLLBACK %s", (data.decode(),))


XIDS = {"two-phase", "rolled-back", "big", "doomed", "before-the-start"}


def ids(services: Services, prefix: str, db: str, table: str) -> list[int]:
    return [e["after"]["id"] for e in changes(decode_topic(services.bootstrap, prefix, db, table))]


def xa_prepare(cur: Any, xid: str, *statements: str) -> None:
    cur.execute(f"XA START '{xid}'")
    for statement in statements:
        cur.execute(statement)
    cur.execute(f"XA END '{xid}'")
    cur.execute(f"XA PREPARE '{xid}'")


def test_xa_outcomes(
    services: Services, source_db: str, topic_prefix: str, target_cleanup: None, xa_cleanup: None
) -> None:
    """Two-phase XA COMMIT with another transaction in between publishes its rows once, after that
    transaction (at the commit); XA ROLLBACK after PREPARE publishes nothing; XA COMMIT … ONE PHASE
    and an unprepared XA ROLLBACK behave as a plain commit and rollback; the target ends equal."""
    db = source_db
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(20))")
        cur.execute(f"CREATE TABLE `{db}`.other (id INT PRIMARY KEY)")
    with (
        ProducerThread(producer_settings(services, topic_prefix, start_position=current_position(services))),
        ApplierThread(applier_settings(services, topic_prefix)) as applier,
    ):
        with (
            connect(services.source_admin, database=db) as xa,
            connect(services.source_admin, database=db) as other,
        ):
            with xa.cursor() as cur:
                xa_prepare(cur, "two-phase", "INSERT INTO t VALUES (1, 'xa')", "INSERT INTO other VALUES (1)")
            with other.cursor() as cur:
                cur.execute("INSERT INTO t VALUES (2, 'between')")
            with xa.cursor() as cur:
                cur.execute("XA COMMIT 'two-phase'")
                xa_prepare(cur, "rolled-back", "INSERT INTO t VALUES (3, 'never')")
                cur.execute("XA ROLLBACK 'rolled-back'")
                cur.execute("XA START 'one-phase'")
                cur.execute("INSERT INTO t VALUES (4, 'one phase')")
                cur.execute("XA END 'one-phase'")
                cur.execute("XA COMMIT 'one-phase' ONE PHASE")
                cur.execute("XA START 'unprepared'")
                cur.execute("INSERT INTO t VALUES (5, 'never')")
                cur.execute("XA END 'unprepared'")
                cur.execute("XA ROLLBACK 'unprepared'")
                cur.execute("INSERT INTO t VALUES (6, 'last')")
        wait_for(lambda: 6 in ids(services, topic_prefix, db, "t"), what="the last row")
        published = changes(decode_topic(services.bootstrap, topic_prefix, db, "t"))
        assert [e["after"]["id"] for e in published] == [2, 1, 4, 6]
        between, committed = published[0]["source"], published[1]["source"]
        assert (committed["file"], committed["pos"]) > (between["file"], between["pos"])
        assert ids(services, topic_prefix, db, "other") == [1]
        wait_for(
            lambda: applier.error is not None or equal(services, db, ("t", "other")), what="equal tables"
        )
        assert applier.error is None


def test_prepared_xa_survives_kill9_and_resumes_inside_its_commit(
    services: Services, source_db: str, topic_prefix: str, tmp_path: Path, xa_cleanup: None
) -> None:
    """The producer is killed -9 after its checkpoint passed two XA PREPAREs; after XA COMMIT of
    one (3,000 rows, published over several Kafka transactions) and XA ROLLBACK of the other, a
    restart publishes the committed rows exactly once and the rolled-back one never. Checkpoints
    inside the commit's rows still carry the prepared transaction, and a producer rewound to one of
    them publishes exactly the rows after it."""
    db = source_db
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(20))")
        cur.execute(f"CREATE TABLE `{db}`.marker (id INT PRIMARY KEY)")
    start = current_position(services)
    log = tmp_path / "producer.log"
    producer = ProducerProcess(services, topic_prefix, log, start_position=start, txn_max_rows=500).start()
    values = ",".join(f"({i}, 'xa')" for i in range(1, 3001))
    with connect(services.source_admin, database=db) as xa, xa.cursor() as cur:
        xa_prepare(cur, "big", f"INSERT INTO t VALUES {values}")
    with connect(services.source_admin, database=db) as xa, xa.cursor() as cur:
        xa_prepare(cur, "doomed", "INSERT INTO t VALUES (5000, 'never')")
    with connect(services.source_admin, database=db) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO marker VALUES (1)")  # committed with a checkpoint past both PREPAREs
        wait_for(lambda: ids(services, topic_prefix, db, "marker") == [1], what="the marker", timeout_s=60)
        producer.kill9()
        assert ids(services, topic_prefix, db, "t") == []  # prepared, not committed: not published
        cur.execute("XA COMMIT 'big'")
        cur.execute("XA ROLLBACK 'doomed'")
        cur.execute("INSERT INTO marker VALUES (2)")
    settings = producer_settings(services, topic_prefix, start_position=start, txn_max_rows=500)
    with ProducerThread(settings) as restarted:
        wait_for(
            lambda: restarted.error is not None or ids(services, topic_prefix, db, "marker") == [1, 2],
            what="the second marker",
        )
        restarted.stop()
    assert ids(services, topic_prefix, db, "t") == list(range(1, 3001))
    assert restarted.runner.committed is not None and restarted.runner.committed.prepared_xa == ()

    big = "X'626967',X'',1"  # the xid 'big' as the binlog spells it
    inside = [c for c in checkpoint_records(services, topic_prefix, settings.transactional_id) if c.skip_rows]
    assert inside and all(big in [xa.xid for xa in c.prepared_xa] for c in inside), inside
    rewind = inside[len(inside) // 2]
    commit_checkpoint_record(services, topic_prefix, settings.transactional_id, rewind)
    with ProducerThread(settings) as rewound:
        wait_for(
            lambda: rewound.error is not None or ids(services, topic_prefix, db, "marker") == [1, 2, 2],
            what="the marker again",
        )
        rewound.stop()
    again = ids(services, topic_prefix, db, "t")[3000:]
    assert again == list(range(rewind.skip_rows + 1, 3001)), (rewind.skip_rows, again[:3], len(again))


def test_commit_of_an_xa_prepared_before_the_start_stops(
    services: Services, source_db: str, topic_prefix: str, xa_cleanup: None
) -> None:
    """An XA transaction prepared before the pipeline's start position and committed after it
    stops the producer with the position, the xid and the fix: its rows are not in what it read."""
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{source_db}`.t (id INT PRIMARY KEY)")
    with connect(services.source_admin, database=source_db) as xa, xa.cursor() as cur:
        xa_prepare(cur, "before-the-start", "INSERT INTO t VALUES (1)")
    settings = producer_settings(services, topic_prefix, start_position=current_position(services))
    with ProducerThread(settings) as producer:
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            cur.execute("XA COMMIT 'before-the-start'")
        wait_for(lambda: producer.error is not None, timeout_s=20, what="the producer to stop")
    message = str(producer.error)
    assert isinstance(producer.error, PermanentError), repr(producer.error)
    assert "XA COMMIT X'6265666f72652d7468652d7374617274',X'',1 at mysql-bin." in message, message
    assert "XA RECOVER" in message and "new pipeline" in message, message
    assert ids(services, topic_prefix, source_db, "t") == []
