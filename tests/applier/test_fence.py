"""The checkpoint fence against a second member, with real target sessions: found by the third
review. A partition's first batch has no checkpoint row to lock; under READ COMMITTED (a common
server default) a locking read of a missing row takes no gap lock, so two members' first batches
of the same partition could both commit."""

from __future__ import annotations

import threading
import uuid

import pytest

from binlog_pipeline.applier.checkpoint import CheckpointFenced, CheckpointTable
from binlog_pipeline.applier.target import Target
from tests.services import Services

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("isolation", ["READ COMMITTED", "REPEATABLE READ"])
def test_first_batches_of_two_members_cannot_both_commit(services: Services, isolation: str) -> None:
    """Member A fences partition 0 (no row yet) and holds its batch open; member B fences the same
    partition from the same start. Once A commits its batch, B must be fenced, not commit too."""
    table = CheckpointTable("binlog_pipeline.applier_checkpoint", f"fence-{uuid.uuid4().hex[:8]}")
    key = (f"fence.{uuid.uuid4().hex[:8]}", 0)
    a, b = Target(services.target_url), Target(services.target_url)
    try:
        table.ensure(a)
        for member in (a, b):
            with member.conn.cursor() as cur:
                cur.execute(f"SET SESSION TRANSACTION ISOLATION LEVEL {isolation}")
        a.conn.begin()
        with a.conn.cursor() as cur:
            table.fence(cur, {key: 0})
        outcome: list[object] = []

        def second_member() -> None:
            try:
                b.conn.begin()
                with b.conn.cursor() as cur:
                    table.fence(cur, {key: 0})
                    upsert = table.upsert({key: 7})
                    cur.execute(upsert.sql, upsert.params)
                b.conn.commit()
                outcome.append("committed")
            except Exception as exc:  # the verdict, whatever it is
                b.conn.rollback()
                outcome.append(exc)

        racing = threading.Thread(target=second_member, daemon=True)
        racing.start()
        racing.join(2)  # B is now waiting for A (or, without the fence, done already)
        with a.conn.cursor() as cur:
            upsert = table.upsert({key: 10})
            cur.execute(upsert.sql, upsert.params)
        a.conn.commit()
        racing.join(30)
        assert outcome and isinstance(outcome[0], CheckpointFenced), (
            f"member B's first batch of {key} was not fenced after member A committed its own: {outcome}"
        )
        assert table.read(a, [key]) == {key: 10}
    finally:
        a.close()
        b.close()
