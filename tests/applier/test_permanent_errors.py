"""Found by review, on the permanent-error path (culprit search, dead letters): the non-strict
statement mode used for rows carrying an ENUM error value ('') must not also let the *other* rows of
the same table in the batch through non-strict — a value the target cannot hold is refused (stop, or
dead-letter), never silently clipped; and a message is dead-lettered once when nothing failed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from binlog_pipeline_tools.chaos.tcp_proxy import TcpProxy

from tests.applier.test_dead_letters import Setup, inject
from tests.kafka_helpers import read_all, wait_for
from tests.producer_harness import ProducerThread, current_position, producer_settings
from tests.services import Services, connect, query

pytestmark = pytest.mark.integration


@pytest.fixture
def dl(services: Services, source_db: str, topic_prefix: str) -> Iterator[Setup]:
    proxy = TcpProxy(services.target_url.port)
    with ProducerThread(producer_settings(services, topic_prefix, start_position=current_position(services))):
        yield Setup(services, source_db, topic_prefix, proxy)
    proxy.close()
    with connect(services.target_admin) as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{source_db}`")


def count(s: Setup, where: str = "TRUE") -> int:
    try:
        return int(query(s.services.target_admin, f"SELECT COUNT(*) FROM `{s.db}`.e WHERE {where}")[0][0])
    except Exception:  # the table is not on the target yet
        return -1


@pytest.mark.parametrize("enum_error_row", [False, True], ids=["alone", "with-an-enum-error-row"])
def test_out_of_range_value_is_refused_even_next_to_an_enum_error_value(
    dl: Setup, enum_error_row: bool
) -> None:
    """A row whose value the target's narrower column cannot hold (500 into TINYINT) is dead-lettered
    — also when the same batch carries, for the same table, a row with an ENUM error value that is
    written in a non-strict statement. Never written as 127."""
    s = dl
    s.source(
        f"CREATE TABLE `{s.db}`.e (id INT PRIMARY KEY, en ENUM('a','b') NOT NULL, v INT NOT NULL)",
        f"INSERT INTO `{s.db}`.e VALUES (1, 'a', 1)",
    )
    with s.applier() as applier:
        wait_for(lambda: count(s) == 1, what="row 1")
        with connect(s.services.target_admin) as conn, conn.cursor() as cur:
            # the target's column is narrower than the source's
            cur.execute(f"ALTER TABLE `{s.db}`.e MODIFY v TINYINT NOT NULL")
        with connect(s.services.source_admin) as conn, conn.cursor() as cur:
            cur.execute("SET SESSION sql_mode = ''")  # lets 'zzz' become the ENUM error value ''
            first = "(2, 'zzz', 5)" if enum_error_row else "(2, 'a', 5)"
            cur.execute(f"INSERT INTO `{s.db}`.e VALUES {first}, (3, 'a', 500), (4, 'b', 6)")
        wait_for(
            lambda: (
                applier.error is not None
                or query(s.services.target_admin, f"SELECT COUNT(*) FROM `{s.db}`.e WHERE id = 4")[0][0] == 1
            ),
            what="row 4 on the target",
        )
        assert applier.error is None, applier.error
        applier.stop()
    rows = query(s.services.target_admin, f"SELECT id, v FROM `{s.db}`.e ORDER BY id")
    letters = read_all(s.services.bootstrap, s.dlq)
    assert (3, 127) not in rows, (
        f"row 3's v=500 was silently clipped to 127 on the target: {rows}; dead letters: {len(letters)}"
    )
    assert rows == [(1, 1), (2, 5), (4, 6)] and len(letters) == 1, (rows, len(letters))


def test_undecodable_message_is_dead_lettered_once_when_its_batch_needs_the_culprit_search(dl: Setup) -> None:
    """A batch holds an undecodable message and a row the target rejects: with no crash and no
    retry, each goes to the dead-letter topic once (the first, failed pass must not leave a copy of
    the undecodable message queued before the culprit search sends it again)."""
    s = dl
    s.source(
        f"CREATE TABLE `{s.db}`.e (id INT PRIMARY KEY, en ENUM('a','b') NOT NULL, v INT NOT NULL)",
        f"INSERT INTO `{s.db}`.e VALUES (1, 'a', 1)",
    )
    with s.applier() as applier:
        wait_for(lambda: count(s) == 1, what="row 1")
        applier.stop()
    with connect(s.services.target_admin) as conn, conn.cursor() as cur:
        cur.execute(f"ALTER TABLE `{s.db}`.e ADD CONSTRAINT small CHECK (v < 100)")
    garbage = inject(s, "e", [b"\x00not avro at all"])
    s.source(f"INSERT INTO `{s.db}`.e VALUES (2, 'a', 500), (3, 'b', 6)")
    wait_for(lambda: s.published("e") >= 5, what="the garbage and two rows published")
    with s.applier() as applier:
        wait_for(lambda: applier.error is not None or count(s, "id = 3") == 1, what="row 3 on the target")
        assert applier.error is None, applier.error
        applier.stop()
    offsets = s.dead_letter_offsets()
    assert offsets.count(garbage[0]) == 1, (
        f"dead letters by source offset: {offsets} (garbage at {garbage[0]})"
    )
    assert len(offsets) == 2, offsets
