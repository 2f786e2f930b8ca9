"""Found by the second review: a DDL that needs longer on the target than max.poll.interval.ms,
under two appliers. Its member stops polling while the DDL runs, so it leaves the group and the
partition moves; the new owner ends the sessions the old one claimed (applier/ddl_guard.py) —
the DDL in progress — and runs it from the start, for just as long."""

from __future__ import annotations

import threading
import time

import pytest

from tests.applier.test_group_ddl import FAST_GROUP, Members
from tests.applier.test_group_ddl import members as members  # the fixture
from tests.applier_harness import equal, table_state
from tests.services import Services, connect

pytestmark = pytest.mark.integration
DDL_NEEDS_S = 16  # how long the ALTER needs on the target: twice max.poll.interval.ms (8 s)


class SlowDdl:
    """Makes every ALTER of ``db.t`` on the target need ``DDL_NEEDS_S``: the table is locked
    (`LOCK TABLES … READ`, so an ALTER waits for its metadata lock) until one ALTER has been under
    way that long, then unlocked, and that ALTER completes. Records every ALTER session seen."""

    def __init__(self, services: Services, db: str) -> None:
        self._services = services
        self._db = db
        self.sessions: dict[int, float] = {}  # ALTER session id -> longest time seen under way (s)
        self.released = threading.Event()
        self._stop = threading.Event()
        self._locked = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SlowDdl:
        self._thread.start()
        self._locked.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        with connect(self._services.target_admin) as lock, connect(self._services.target_admin) as watch:
            with lock.cursor() as cur:
                cur.execute(f"LOCK TABLES `{self._db}`.t READ")
            self._locked.set()
            while not self._stop.is_set():
                with watch.cursor() as cur:
                    cur.execute(
                        "SELECT ID, TIME_MS FROM information_schema.PROCESSLIST WHERE INFO LIKE %s",
                        (f"ALTER TABLE `{self._db}`.t%",),
                    )
                    for session, millis in cur.fetchall():
                        seconds = float(millis) / 1000
                        self.sessions[int(session)] = max(self.sessions.get(int(session), 0.0), seconds)
                        if seconds >= DDL_NEEDS_S and not self.released.is_set():
                            with lock.cursor() as unlock:
                                unlock.execute("UNLOCK TABLES")
                            self.released.set()
                watch.commit()
                time.sleep(0.2)
            if not self.released.is_set():
                with lock.cursor() as unlock:
                    unlock.execute("UNLOCK TABLES")


def test_ddl_longer_than_the_poll_interval_completes_with_two_members(members: Members) -> None:
    """Two appliers; t's ALTER needs 16 s on the target, twice max.poll.interval.ms (8 s). The
    ALTER must complete once (and the row after it be applied): a member running it must not be
    ended by the other member, over and over, each time before it could finish."""
    m = members
    first, second = m.t_owned_by_the_first_of_two(FAST_GROUP + ",max.poll.interval.ms=8000")
    with SlowDdl(m.services, m.db) as ddl:
        m.source(
            "ALTER TABLE `{db}`.t ADD COLUMN c INT NOT NULL DEFAULT 7", "INSERT INTO `{db}`.t VALUES (2, 8)"
        )
        deadline = time.monotonic() + 90
        while not equal(m.services, m.db, ("t",)) and time.monotonic() < deadline:
            time.sleep(1)
        applied = equal(m.services, m.db, ("t",))  # before the lock goes with the test's end
        state = table_state(m.services, m.db, "t")
        attempts = {session: round(seconds, 1) for session, seconds in ddl.sessions.items()}
    stopped = [f"member {n}: {p.log()[-600:]}" for n, p in enumerate((first, second)) if not p.running()]
    assert applied, (
        f"the ALTER never completed in 90 s (source, target checksum and rows: {state}); "
        f"ALTER sessions on the target and how long each was under way (s): {attempts}; stopped: {stopped}"
    )
    assert not stopped, stopped
