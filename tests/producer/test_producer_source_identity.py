"""A checkpoint belongs to one source server: a producer pointed at another server — even one with
the same binlog file names, the same server_id and the same GTID domain — refuses to resume there,
with the fix, and publishes nothing."""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from binlog_pipeline_tools.stack import process
from binlog_pipeline_tools.stack.mariadb import PRODUCER_GRANTS, MariaDBServer

from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.producer.position import BinlogPosition, Checkpoint
from binlog_pipeline.producer.source_identity import SourceIdentity, SourceMismatch, holds_gtid
from binlog_pipeline.schemas.topics import TopicNames
from tests.kafka_helpers import changes, decode_topic, read_all, wait_for
from tests.producer_harness import (
    ProducerThread,
    commit_checkpoint_record,
    current_position,
    producer_settings,
)
from tests.services import Services, connect, query

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class OtherServer:
    """A third mariadbd with its own binlog: the 'different server' a source_url can point at."""

    admin: DatabaseUrl
    producer: DatabaseUrl


@pytest.fixture(scope="module")
def other_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OtherServer]:
    if shutil.which("mariadbd") is None:
        pytest.skip("needs mariadbd to start a third server")
    server = MariaDBServer("other", tmp_path_factory.mktemp("other"), process.free_port(), 7, binlog=True)
    pid = server.start()
    try:
        server.wait_ready(pid)
        admin_password, producer_password = secrets.token_hex(12), secrets.token_hex(12)
        server.create_users(admin_password, "binlog_producer", producer_password, PRODUCER_GRANTS)
        yield OtherServer(
            DatabaseUrl("127.0.0.1", server.port, "root", admin_password),
            DatabaseUrl("127.0.0.1", server.port, "binlog_producer", producer_password),
        )
    finally:
        process.stop(pid)


def stream_a_little(services: Services, db: str, prefix: str) -> Checkpoint:
    """Run the producer on the real source until its checkpoint is at the source's end; return it."""
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute("FLUSH BINARY LOGS")  # a checkpoint near the start of a file: cheap to overtake
        cur.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(250))")
    settings = producer_settings(services, prefix, start_position=current_position(services))
    with ProducerThread(settings) as producer:
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            for i in range(1, 31):  # a transaction each: the checkpoint lands a few KB into the file
                cur.execute(f"INSERT INTO `{db}`.t VALUES (%s, 'source')", (i,))
        end = current_position(services)
        wait_for(
            lambda: producer.runner.committed is not None and str(producer.runner.committed.position) == end,
            what=f"the checkpoint to reach {end}",
        )
        producer.stop()
    assert producer.runner.committed is not None
    return producer.runner.committed


def same_file_names_past(other: OtherServer, db: str, position: BinlogPosition, server_id: int) -> None:
    """Give the other server a binlog file named like ``position``'s with a transaction ending
    exactly at it (so a resume there finds an event boundary, as it would on a rebuilt server) and
    more writes to the same table after it: what a resume on the wrong server would stream."""
    with connect(other.admin) as conn, conn.cursor() as cur:
        cur.execute(f"SET GLOBAL server_id = {server_id}")
        cur.execute("RESET MASTER")  # back to mysql-bin.000001, whatever an earlier test did
        while binlog_end(other)[0] < position.file:
            cur.execute("FLUSH BINARY LOGS")
        assert binlog_end(other)[0] == position.file
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{db}`")
        cur.execute(f"CREATE TABLE IF NOT EXISTS `{db}`.t (id INT PRIMARY KEY, v VARCHAR(250))")
        cur.execute(f"DELETE FROM `{db}`.t")
        row = iter(range(1000, 9000))  # four-digit ids: every row's size is 2 bytes per payload char + a

        def insert(payload_chars: int, row_id: int) -> int:
            before = binlog_end(other)[1]
            cur.execute(f"INSERT INTO `{db}`.t VALUES (%s, %s)", (row_id, "x" * payload_chars))
            return binlog_end(other)[1] - before

        overhead = insert(0, next(row))  # a: a row transaction's size without payload
        while (gap := position.pos - binlog_end(other)[1]) > 0:
            if gap <= overhead + 2 * 200 + 1:  # one last row ends exactly at the position
                rest = gap - overhead
                row_id = next(row) if rest % 2 == 0 else 10000 + next(row)  # a fifth digit: one byte
                insert(rest // 2, row_id)
            else:
                insert(max(0, min(200, (gap - 2 * overhead) // 2)), next(row))  # leaves room for one more
        assert binlog_end(other) == (position.file, position.pos), "could not end a transaction there"
        for _ in range(3):
            insert(10, next(row))  # what a resume at the position on this server would stream


def binlog_end(server: OtherServer) -> tuple[str, int]:
    file, pos = query(server.admin, "SHOW MASTER STATUS")[0][:2]
    return str(file), int(pos)


def published_counts(services: Services, prefix: str, db: str) -> tuple[int, int]:
    topics = TopicNames(prefix)
    return (
        len(read_all(services.bootstrap, topics.table(db, "t"))),
        len(read_all(services.bootstrap, topics.checkpoints)),
    )


def resume_on(services: Services, other: OtherServer, prefix: str) -> BaseException:
    settings = producer_settings(services, prefix, source_url=other.producer.unmasked())
    with ProducerThread(settings) as producer:
        wait_for(lambda: producer.error is not None, timeout_s=30, what="the producer to refuse")
    assert producer.error is not None
    return producer.error


def test_another_server_is_refused(
    services: Services, source_db: str, topic_prefix: str, other_server: OtherServer
) -> None:
    """A server with another server_id and a binlog file of the checkpoint's name, long enough to
    hold its position: refused, naming both servers and the fix; nothing published."""
    checkpoint = stream_a_little(services, source_db, topic_prefix)
    same_file_names_past(other_server, source_db, checkpoint.position, server_id=7)
    before = published_counts(services, topic_prefix, source_db)
    error = resume_on(services, other_server, topic_prefix)
    assert isinstance(error, SourceMismatch), repr(error)
    message = str(error)
    assert "server_id 1" in message and "server_id 7" in message, message
    assert "source_url" in message and "new pipeline" in message, message
    assert published_counts(services, topic_prefix, source_db) == before


def test_a_rebuilt_server_with_the_same_server_id_is_refused(
    services: Services, source_db: str, topic_prefix: str, other_server: OtherServer
) -> None:
    """Same server_id, same GTID domain, same binlog file name — but its binlog does not hold the
    checkpoint's GTID at the checkpoint's place: refused, nothing published."""
    checkpoint = stream_a_little(services, source_db, topic_prefix)
    assert checkpoint.gtid is not None and checkpoint.gtid_at is not None
    same_file_names_past(other_server, source_db, checkpoint.position, server_id=1)
    before = published_counts(services, topic_prefix, source_db)
    error = resume_on(services, other_server, topic_prefix)
    assert isinstance(error, SourceMismatch), repr(error)
    message = str(error)
    assert checkpoint.gtid in message and str(checkpoint.gtid_at) in message, message
    assert "source_url" in message, message
    assert published_counts(services, topic_prefix, source_db) == before


def test_a_checkpoint_without_identity_resumes(services: Services, source_db: str, topic_prefix: str) -> None:
    """A checkpoint written before the identity fields existed still resumes on its source, exactly
    where it points (nothing repeated), and the next checkpoint records the identity."""
    checkpoint = stream_a_little(services, source_db, topic_prefix)
    old = json.loads(checkpoint.to_json())
    for key in ("gtid_domain_id", "server_uuid", "gtid_at", "prepared_xa"):  # fields added here
        del old[key]
    settings = producer_settings(services, topic_prefix, start_position=current_position(services))
    commit_checkpoint_record(services, topic_prefix, settings.transactional_id, json.dumps(old).encode())
    with ProducerThread(settings) as producer:
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            cur.execute(f"INSERT INTO `{source_db}`.t VALUES (31, 'after the old checkpoint')")
        seen = wait_for(
            lambda: (lambda c: c if len(c) >= 31 else None)(
                changes(decode_topic(services.bootstrap, topic_prefix, source_db, "t"))
            ),
            what="the change after the old checkpoint",
        )
        producer.stop()
    assert producer.error is None
    assert [e["after"]["id"] for e in seen] == list(range(1, 32))
    committed = producer.runner.committed
    assert committed is not None and committed.gtid_domain_id == 0 and committed.gtid_at is not None


def test_mysql_identity_and_gtid_event_text() -> None:
    """MySQL's identity (server_uuid) and GTID event text, which the MariaDB stack cannot produce."""
    mysql = SourceIdentity.from_variables(
        {"server_id": "1", "server_uuid": "3e11fa47-71ca-11e1-9e33-c80aa9429562"}
    )
    assert mysql.gtid_domain_id is None
    rebuilt = SourceIdentity(1, None, "8a94f357-aab4-11df-86ab-c80aa9429562")
    assert rebuilt.differs_from(mysql) and not mysql.differs_from(mysql)
    assert not mysql.differs_from(SourceIdentity(1, None, None))  # an older checkpoint: not recorded
    gtid = "3e11fa47-71ca-11e1-9e33-c80aa9429562:23"
    assert holds_gtid(("Gtid", f"SET @@SESSION.GTID_NEXT= '{gtid}'"), gtid)
    assert not holds_gtid(
        ("Gtid", "SET @@SESSION.GTID_NEXT= '3e11fa47-71ca-11e1-9e33-c80aa9429562:230'"), gtid
    )
    assert holds_gtid(("Gtid", "BEGIN GTID 0-1-42"), "0-1-42") and not holds_gtid(
        ("Query", "BEGIN"), "0-1-42"
    )
