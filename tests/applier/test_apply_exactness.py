"""The applier hits exactly the row the source changed and writes only what the target lets it
write: rows that compare equal under a column's collation, and generated columns."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from binlog_pipeline.applier.sql_writer import TableWriter
from binlog_pipeline.applier.target import TableInfo, TargetColumn
from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.schemas.columns import ColumnKind, ColumnSpec
from tests.applier_harness import ApplierThread, applier_settings, drop_target_database, table_state
from tests.kafka_helpers import wait_for
from tests.producer_harness import ProducerThread, current_position, producer_settings
from tests.services import Services, connect, query

pytestmark = pytest.mark.integration

MARKER = -1  # a row with n = MARKER is written last; on the target it means "all applied"


@pytest.fixture
def target_cleanup(services: Services, source_db: str) -> Iterator[None]:
    yield
    drop_target_database(services, source_db)


def float32(value: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def next_float32(value: float) -> float:
    return float(
        struct.unpack("<f", struct.pack("<I", struct.unpack("<I", struct.pack("<f", value))[0] + 1))[0]
    )


def rows_by_bytes(services: Services, url: Any, db: str, table: str) -> list[tuple[Any, ...]]:
    """Every row as hex of each column (exact bytes; FLOAT/DOUBLE as numbers), sorted — to show what differs."""
    columns = query(
        url,
        "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
        "ORDER BY ORDINAL_POSITION",
        (db, table),
    )
    listed = ", ".join(f"`{c}`" if kind in ("float", "double") else f"HEX(`{c}`)" for c, kind in columns)
    return sorted(query(url, f"SELECT {listed} FROM `{db}`.`{table}`"), key=repr)


def has_virtual_columns(services: Services, db: str, table: str) -> bool:
    return bool(
        query(
            services.source_admin,
            "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
            "AND EXTRA = 'VIRTUAL GENERATED'",
            (db, table),
        )[0][0]
    )


def assert_equal(services: Services, db: str, tables: tuple[str, ...]) -> None:
    """Every row's exact bytes equal (as multisets), and CHECKSUM TABLE too — except for a table
    with VIRTUAL columns: MariaDB 10.11's CHECKSUM TABLE hashes the record buffer of virtual
    columns without computing them (stale values: the same table's checksum changes after FLUSH
    TABLES or after a SELECT of the column), so there the rows' bytes are the oracle."""
    for table in tables:
        source_sum, target_sum, source_count, target_count = table_state(services, db, table)
        source = rows_by_bytes(services, services.source_admin, db, table)
        target = rows_by_bytes(services, services.target_admin, db, table)
        if has_virtual_columns(services, db, table):
            source_sum = target_sum = "not comparable"
        if (source_sum, source_count, source) != (target_sum, target_count, target):
            only_source = [r for r in source if r not in target]
            only_target = [r for r in target if r not in source]
            raise AssertionError(
                f"{table}: CHECKSUM {source_sum} vs {target_sum}, rows {source_count} vs {target_count}; "
                f"only on the source (hex): {only_source}; only on the target: {only_target}"
            )


def replicate(
    services: Services,
    db: str,
    prefix: str,
    tables: tuple[str, ...],
    write: Callable[[Any], None],
    markers: dict[str, str | None] | None = None,
    **producer: Any,
) -> None:
    """Run producer and applier, ``write(cursor)`` on the source and then a marker row (n =
    MARKER) into each table; once every marker is on the target, the tables must be equal.
    ``markers`` gives a table's marker as column list and values where it needs more, or None
    for a table that cannot hold one: then the wait is for its row count (``write`` must end
    with that table at its largest)."""
    if "snapshot_mode" not in producer:
        producer = {"start_position": current_position(services), **producer}
    settings = producer_settings(services, prefix, **producer)
    marker_of = {table: (markers or {}).get(table, f"(n) VALUES ({MARKER})") for table in tables}
    with (
        ProducerThread(settings) as producer_thread,
        ApplierThread(applier_settings(services, prefix)) as applier,
    ):
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            write(cur)
            for table, marker in marker_of.items():
                if marker is not None:
                    cur.execute(f"INSERT INTO `{db}`.`{table}` {marker}")

        def applied(table: str) -> bool:
            exists = (
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s"
            )
            if not query(services.target_admin, exists, (db, table))[0][0]:
                return False
            if marker_of[table] is None:
                count = f"SELECT COUNT(*) FROM `{db}`.`{table}`"
                return bool(query(services.target_admin, count) == query(services.source_admin, count))
            marked = f"SELECT COUNT(*) FROM `{db}`.`{table}` WHERE n = {MARKER}"
            return bool(query(services.target_admin, marked)[0][0])

        wait_for(
            lambda: applier.error is not None or all(applied(t) for t in tables),
            what="markers applied",
            timeout_s=30,
        )
        assert applier.error is None, f"applier stopped: {applier.error}"
        applier.stop()
        producer_thread.stop()
    assert_equal(services, db, tables)


# --- keyless tables under collations ----------------------------------------------------------------
KEYLESS = """CREATE TABLE `{db}`.k (
    s VARCHAR(8) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci,
    l VARCHAR(8) CHARACTER SET latin1 COLLATE latin1_swedish_ci,
    c CHAR(4) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci,
    e ENUM('x', 'y') CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci,
    t SET('p', 'q') CHARACTER SET latin1,
    j JSON,
    f FLOAT,
    d DOUBLE,
    n INT,
    KEY (s)
)"""
BASE = {"s": "x", "l": "x", "c": "x", "e": "x", "t": "p", "j": "{}", "f": 1.0, "d": 1.0, "n": 0}
F1 = float32(0.1)
F2 = next_float32(F1)  # the next float32 after F1: equal only if compared at the wrong width
# (column, the row inserted first, its twin that the source then changes) — equal under the
# column's collation or comparison, different in bytes
TWINS = (
    ("s", "u", "ü"),  # accent-insensitive
    ("s", "a", "A"),  # case-insensitive
    ("s", "b ", "b"),  # PAD SPACE: trailing spaces of a VARCHAR are data
    ("s", None, ""),  # NULL-safe
    ("l", "e", "É"),  # latin1_swedish_ci
    ("l", "y", "ü"),  # latin1_swedish_ci: ü sorts as y
    ("l", "a", "A  "),
    ("c", "o", "Ö"),  # CHAR: trailing spaces are not data, case and accents are
    ("j", '{"k": 1} ', '{"k": 1}'),  # MariaDB's JSON is LONGTEXT utf8mb4_bin, which is PAD SPACE
    ("f", F1, F2),
    ("d", 0.1, 0.1 + 2**-56),
)


def exactly(column: str, value: Any) -> tuple[str, Any]:
    """A source WHERE term that matches ``column = value`` byte for byte (NULL-safe)."""
    if value is None:
        return f"`{column}` IS NULL", ()
    if isinstance(value, float):
        return f"`{column}` = %s", (value,)
    encoding = "latin-1" if column in ("l", "t") else "utf8"
    return f"HEX(`{column}`) = %s", (value.encode(encoding).hex().upper(),)


def test_keyless_rows_equal_under_collation_are_told_apart(
    services: Services, source_db: str, topic_prefix: str, target_cleanup: None
) -> None:
    """In a table without a primary key, an UPDATE or DELETE of one of two rows that compare equal
    under the column's collation ('u'/'ü', 'a'/'A', trailing spaces, latin1 and utf8mb4, CHAR,
    JSON) or differ in the last bit of a FLOAT/DOUBLE hits the row with exactly the source's bytes."""
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(KEYLESS.format(db=source_db))
    names = list(BASE)
    insert = f"INSERT INTO `{source_db}`.k ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})"

    def write(cur: Any) -> None:
        # The first of each pair goes in first, so a match on the collation alone finds it first.
        for twin in (1, 2):
            for row in [{**BASE, column: (first, second)[twin - 1]} for column, first, second in TWINS]:
                cur.execute(insert, [row[n] for n in names])
        for i, (column, _first, twin) in enumerate(TWINS):
            term, params = exactly(column, twin)
            others = " AND ".join(f"`{n}` = %s" for n in ("e", "n"))
            if i % 2:
                cur.execute(f"DELETE FROM `{source_db}`.k WHERE {term} AND {others}", (*params, "x", 0))
            else:  # an UPDATE that changes another column; then one that changes the twin's value
                cur.execute(
                    f"UPDATE `{source_db}`.k SET n = {i + 1} WHERE {term} AND {others}", (*params, "x", 0)
                )
                cur.execute(f"UPDATE `{source_db}`.k SET e = 'y' WHERE {term} AND `n` = %s", (*params, i + 1))
            assert cur.rowcount == 1, (column, twin)

    replicate(services, source_db, topic_prefix, ("k",), write)


PK_MARKER = f"(id, n) VALUES ('zz', {MARKER})"


def test_unique_keys_under_collation_hit_the_right_row(
    services: Services, source_db: str, topic_prefix: str, target_cleanup: None
) -> None:
    """Keyed tables — coalesced, and in order because of a unique secondary key — whose keys compare
    equal under their collation: case-, accent- and trailing-space-only changes of the primary key
    and of the unique key apply exactly (rows are found by a key both sides hold unique)."""
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        for table, unique in (("pk", ""), ("uk", ", UNIQUE KEY (name)")):
            cur.execute(
                f"CREATE TABLE `{source_db}`.{table} (id VARCHAR(8) COLLATE utf8mb4_general_ci PRIMARY KEY, "
                f"name VARCHAR(8) CHARACTER SET latin1 COLLATE latin1_swedish_ci, n INT{unique})"
            )

    def write(cur: Any) -> None:
        for table in ("pk", "uk"):
            t = f"`{source_db}`.{table}"
            cur.executemany(
                f"INSERT INTO {t} VALUES (%s, %s, 0)", [("u", "a"), ("b", "e"), ("c ", "y"), ("d", "q")]
            )
            cur.execute(f"UPDATE {t} SET id = 'ü' WHERE id = 'u'")  # accent-only key change
            cur.execute(f"UPDATE {t} SET id = 'B', name = 'É' WHERE id = 'b'")  # case-only, both keys
            cur.execute(f"UPDATE {t} SET id = 'c', name = 'ü' WHERE id = 'c'")  # trailing space dropped
            cur.execute(f"UPDATE {t} SET name = 'A  ' WHERE name = 'a'")
            cur.execute(f"DELETE FROM {t} WHERE id = 'D'")  # deletes 'd'
            cur.execute(f"INSERT INTO {t} VALUES ('D', 'Q', 1)")
            cur.execute(f"UPDATE {t} SET n = 2 WHERE id = 'U'")  # the row now keyed 'ü'

    replicate(services, source_db, topic_prefix, ("pk", "uk"), write, {"pk": PK_MARKER, "uk": PK_MARKER})


# --- generated columns ------------------------------------------------------------------------------
# MariaDB 10.11 with binlog_row_image=FULL logs VIRTUAL and STORED generated columns with their
# values, and a snapshot's SELECT reads them too; the target must compute them itself.
GENERATED = (
    # keyed, coalesced: an index on a virtual column
    """CREATE TABLE `{db}`.gk (id INT PRIMARY KEY, a INT, b VARCHAR(8) COLLATE utf8mb4_general_ci, n INT,
        v INT AS (a * 2) VIRTUAL, s VARCHAR(12) AS (CONCAT(b, '!')) STORED, w VARCHAR(8) AS (UPPER(b)) VIRTUAL,
        KEY (v))""",
    # keyed, in order: a unique key on a virtual column
    """CREATE TABLE `{db}`.gu (id INT PRIMARY KEY, a INT, n INT,
        v INT AS (a + 1000) VIRTUAL, s INT AS (a * 3) STORED, UNIQUE KEY (v))""",
    # keyless, with duplicates and collation twins
    """CREATE TABLE `{db}`.gn (a INT, b VARCHAR(8) COLLATE utf8mb4_general_ci, n INT,
        v INT AS (a * 2) VIRTUAL, s VARCHAR(12) AS (CONCAT(b, '!')) STORED, KEY (v))""",
    # keyless with nothing but generated columns: rows are written as INSERT () VALUES ()
    """CREATE TABLE `{db}`.go (v INT AS (7) VIRTUAL, s VARCHAR(3) AS ('x') STORED)""",
)
GENERATED_TABLES = ("gk", "gu", "gn", "go")
GENERATED_MARKERS: dict[str, str | None] = {
    "gk": f"(id, n) VALUES (99999, {MARKER})",
    "gu": f"(id, n) VALUES (99999, {MARKER})",
    "go": None,
}


def generated_rows(cur: Any, db: str, base: int) -> None:
    cur.executemany(
        f"INSERT INTO `{db}`.gk (id, a, b, n) VALUES (%s, %s, %s, 0)",
        [(base + i, i, f"r{i}") for i in range(20)],
    )
    cur.executemany(
        f"INSERT INTO `{db}`.gu (id, a, n) VALUES (%s, %s, 0)", [(base + i, base + i) for i in range(20)]
    )
    cur.executemany(
        f"INSERT INTO `{db}`.gn (a, b, n) VALUES (%s, %s, 0)",
        [(1, "u"), (1, "ü"), (1, "u"), (2, "A"), (2, "a"), (3, None)],
    )
    cur.execute(f"INSERT INTO `{db}`.go VALUES (), (), ()")


def generated_changes(cur: Any, db: str, base: int) -> None:
    cur.execute(f"UPDATE `{db}`.gk SET a = a + 100, b = UPPER(b) WHERE id < {base + 10}")
    cur.execute(f"DELETE FROM `{db}`.gk WHERE id >= {base + 15}")
    cur.execute(f"UPDATE `{db}`.gk SET id = id + 1000 WHERE id = {base + 3}")
    # swap two unique values of the virtual column through a free one, in one transaction
    cur.execute("BEGIN")
    cur.execute(f"UPDATE `{db}`.gu SET a = -1 WHERE id = {base + 1}")
    cur.execute(f"UPDATE `{db}`.gu SET a = {base + 1} WHERE id = {base + 2}")
    cur.execute(f"UPDATE `{db}`.gu SET a = {base + 2} WHERE id = {base + 1}")
    cur.execute("COMMIT")
    cur.execute(f"DELETE FROM `{db}`.gu WHERE id = {base + 5}")
    cur.execute(f"DELETE FROM `{db}`.gn WHERE HEX(b) = HEX('ü') LIMIT 1")
    cur.execute(f"UPDATE `{db}`.gn SET a = 7 WHERE HEX(b) = HEX('a') LIMIT 1")
    cur.execute(f"UPDATE `{db}`.gn SET n = 5 WHERE b = 'u' LIMIT 1")  # one of two identical rows
    cur.execute(f"DELETE FROM `{db}`.gn WHERE b IS NULL")
    cur.execute(f"DELETE FROM `{db}`.go LIMIT 1")


def test_generated_columns_through_the_binlog(
    services: Services, source_db: str, topic_prefix: str, target_cleanup: None
) -> None:
    """VIRTUAL and STORED generated columns (an index and a unique key on virtual ones; keyed and
    keyless tables, one with nothing but generated columns) are computed by the target, never
    written: the tables end equal."""
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        for ddl in GENERATED:
            cur.execute(ddl.format(db=source_db))

    def write(cur: Any) -> None:
        generated_rows(cur, source_db, 0)
        generated_changes(cur, source_db, 0)
        cur.execute(f"INSERT INTO `{source_db}`.go VALUES ()")  # go's largest count comes last

    replicate(services, source_db, topic_prefix, GENERATED_TABLES, write, GENERATED_MARKERS)


def test_generated_columns_through_the_snapshot(
    services: Services, source_db: str, topic_prefix: str, target_cleanup: None
) -> None:
    """The same tables with rows that only the snapshot carries (its SELECT reads the generated
    values too), then changes through the binlog: equal."""
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        for ddl in GENERATED:
            cur.execute(ddl.format(db=source_db))
        generated_rows(cur, source_db, 0)

    def write(cur: Any) -> None:
        generated_changes(cur, source_db, 0)
        generated_rows(cur, source_db, 100)

    replicate(
        services,
        source_db,
        topic_prefix,
        GENERATED_TABLES,
        write,
        GENERATED_MARKERS,
        snapshot_mode="initial",
        include_tables=f"{source_db}.*",
    )


def test_a_keyed_table_with_nothing_to_write_is_refused() -> None:
    """A primary key on a STORED generated column (MySQL allows it) with no other column leaves
    nothing to write: refused with the fix, not sent as broken SQL. Only MySQL can make such a
    table, so the target's description is built here."""
    generated_key = TableInfo(True, (TargetColumn("s", "int", None, generated=True),))
    with pytest.raises(PermanentError, match="give the target table a column it does not generate"):
        TableWriter("db", "t", (ColumnSpec("s", ColumnKind.INT),), ("s",), generated_key)
