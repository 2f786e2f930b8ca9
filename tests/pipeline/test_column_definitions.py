"""Column *definitions* across the type space — every kind at its parameter edges, and random
definitions anywhere in the space — go through both paths (rows present before an initial
snapshot, and the same values again through the binlog, updated and deleted) into a target that
ends CHECKSUM TABLE-equal, with the snapshot's Avro records equal to the binlog's.

Why this shape: an example is a whole pipeline run (tables, producer, applier, both paths), seconds
each, so a deterministic enumeration carries the weight — every kind at its parameter edges with
its edge values (:func:`tests.column_types.edge_definitions`), a few wide tables rather than a table
per column. Hypothesis explores the rest of the definition space (any kind, any parameters) with
one example by default and more with ``--run-slow``. It does not shrink (each shrink step would be
another pipeline run); a failure names the column definition, the row and both values instead.
Values of random definitions come from a ``random.Random`` seeded by hypothesis: hundreds of values
per example would exceed hypothesis's per-example choice budget, and the drawn seed replays them.
``--run-slow`` adds every DECIMAL(p,s).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pymysql
import pymysql.converters
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from binlog_pipeline.core.config import Settings
from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.ops.lag import measure
from binlog_pipeline.producer.position import BinlogPosition
from tests.applier_harness import ApplierThread, applier_settings, drop_target_database, equal
from tests.column_types import (
    SINGLE_BYTE,
    Definition,
    Repertoires,
    datetime_type,
    decimal_sweep,
    definitions,
    edge_definitions,
    time_type,
    timestamp_type,
)
from tests.kafka_helpers import changes, decode_topic, wait_for
from tests.producer_harness import (
    ProducerThread,
    current_position,
    producer_checkpoint,
    producer_settings,
    snapshot_complete,
)
from tests.services import Services, connect, query, unique

pytestmark = pytest.mark.integration

OFFSET = 1_000_000  # binlog copies of snapshot row n get id OFFSET + n
# Strict (a value the test meant is never silently clipped), zero and partial dates allowed.
SQL_MODE = "STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION"
# pymysql's encoders without its decoders: values arrive as the server's text or bytes.
RAW = {k: v for k, v in pymysql.converters.conversions.items() if not isinstance(k, int)}


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Definition, ...]

    def create(self, database: str) -> str:
        columns = "".join(f", c{i} {d.sql}" for i, d in enumerate(self.columns))
        return f"CREATE TABLE `{database}`.`{self.name}` (id INT PRIMARY KEY{columns}) ENGINE=InnoDB"

    def describe(self, column: str) -> str:
        """A column's definition, shortened for a failure message."""
        sql = self.columns[int(column[1:])].sql if column.startswith("c") else column
        return sql if len(sql) <= 120 else sql[:120] + "…"


def pack(found: Sequence[Definition], prefix: str) -> list[Table]:
    """Columns into as few tables as InnoDB's record limit (~8 KB in the page), the server's
    65,535-byte row limit and a column count allow."""
    tables: list[Table] = []
    current: list[Definition] = []
    inline = row = 0
    for definition in found:
        if current and (
            inline + definition.inline_bytes > 6000
            or row + definition.row_bytes > 60_000
            or len(current) >= 250
        ):
            tables.append(Table(f"{prefix}{len(tables)}", tuple(current)))
            current, inline, row = [], 0, 0
        current.append(definition)
        inline += definition.inline_bytes
        row += definition.row_bytes
    if current:
        tables.append(Table(f"{prefix}{len(tables)}", tuple(current)))
    return tables


Rows = list[list[str]]


def edge_rows(table: Table) -> Rows:
    """Row r holds every column's r-th edge (cycling), then a row of NULLs."""
    count = max(len(d.edges) for d in table.columns)
    rows = [[d.edges[r % len(d.edges)] for d in table.columns] for r in range(count)]
    return [*rows, ["NULL"] * len(table.columns)]


def random_rows(table: Table, rng: random.Random, count: int) -> Rows:
    return [["NULL" if rng.random() < 0.1 else d.value(rng) for d in table.columns] for _ in range(count)]


def lenient_rows(table: Table) -> Rows:
    """Values only INSERT IGNORE stores (ENUM's error value ''), NULL elsewhere."""
    if not any(d.lenient for d in table.columns):
        return []
    return [[d.lenient[0] if d.lenient else "NULL" for d in table.columns]]


def write(services: Services, database: str, table: Table, rows: Rows, ignore: Rows) -> None:
    """Rows with ids 1.., one statement per row (a failing literal names its row)."""
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"SET SESSION sql_mode = '{SQL_MODE}', time_zone = '+00:00'")
        for statement, batch, first in (("INSERT", rows, 1), ("INSERT IGNORE", ignore, len(rows) + 1)):
            for i, row in enumerate(batch):
                cur.execute(
                    f"{statement} INTO `{database}`.`{table.name}` VALUES ({first + i}, {', '.join(row)})"
                )


def through_the_binlog(services: Services, database: str, table: Table) -> None:
    """Every snapshot row again as a binlog insert, then updates of every column and of the key
    (before and after images), then deletes (before images)."""
    name = f"`{database}`.`{table.name}`"
    listed = ", ".join(f"c{i}" for i in range(len(table.columns)))
    shifted = ", ".join(f"a.c{i} = b.c{i}" for i in range(len(table.columns)))
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"SET SESSION sql_mode = '{SQL_MODE}', time_zone = '+00:00'")
        cur.execute(f"INSERT INTO {name} (id, {listed}) SELECT id + {OFFSET}, {listed} FROM {name}")
        cur.execute(
            f"CREATE TEMPORARY TABLE `{database}`.shifted AS SELECT * FROM {name} WHERE id > {OFFSET}"
        )
        cur.execute(
            f"UPDATE {name} AS a JOIN `{database}`.shifted AS b ON b.id = a.id + 1 SET {shifted} WHERE a.id > {OFFSET}"
        )
        cur.execute(f"UPDATE {name} SET id = id + {OFFSET} WHERE id > {OFFSET} AND id % 3 = 0")
        cur.execute(f"DELETE FROM {name} WHERE id % 4 = 1")


def first_difference(services: Services, database: str, table: Table) -> str:
    """Where source and target differ: the first missing/extra row or (row, column, values)."""

    def rows(url: Any) -> tuple[list[str], dict[Any, tuple[Any, ...]]]:
        conn = pymysql.connect(**url.connect_kwargs(), charset="utf8mb4", conv=RAW)
        try:
            with conn.cursor() as cur:
                cur.execute("SET SESSION time_zone = '+00:00'")
                cur.execute(f"SELECT * FROM `{database}`.`{table.name}` ORDER BY id")
                return [d[0] for d in cur.description], {r[0]: r for r in cur.fetchall()}
        finally:
            conn.close()

    names, source = rows(services.source_admin)
    _, target = rows(services.target_admin)
    for key in sorted(set(source) | set(target)):
        if key not in target or key not in source:
            return f"row id={key!r} only on the {'source' if key in source else 'target'}"
        for name, left, right in zip(names, source[key], target[key], strict=True):
            if left != right:
                return f"row id={key!r} column {name} {table.describe(name)}: source {left!r} != target {right!r}"
    return "no row differs (CHECKSUM TABLE still does: compare the definitions)"


def assert_snapshot_equals_binlog(services: Services, prefix: str, database: str, table: Table) -> None:
    """A snapshot row (op=r) and the binlog insert of its copy (op=c) are one Avro record under one
    writer schema."""
    decoded = [
        d for d in decode_topic(services.bootstrap, prefix, database, table.name) if d.schema.kind == "change"
    ]
    events = changes(decoded)
    snapshot = {e["after"]["id"]: e["after"] for e in events if e["op"] == "r"}
    binlog = {e["after"]["id"] - OFFSET: e["after"] for e in events if e["op"] == "c"}
    assert snapshot and set(snapshot) == set(binlog), (
        f"{table.name}: snapshot ids {sorted(snapshot)} vs binlog {sorted(binlog)}"
    )
    for key, image in snapshot.items():
        for column, value in image.items():
            if column != "id":
                assert value == binlog[key][column], (
                    f"{table.name} row id={key} column {column} {table.describe(column)}: "
                    f"snapshot {value!r} != binlog {binlog[key][column]!r}"
                )
    snapshot_schema = next(d.schema for d in decoded if d.record["op"] == "r")
    binlog_schema = next(d.schema for d in decoded if d.record["op"] == "c")
    for left, right in zip(snapshot_schema.columns, binlog_schema.columns, strict=True):
        differs = [
            f"{a}: snapshot {getattr(left, a)!r:.300} != binlog {getattr(right, a)!r:.300}"
            for a in ("name", "kind", "length", "precision", "scale", "fsp", "values")
            if getattr(left, a) != getattr(right, a)
        ]
        assert not differs, f"{table.name} column {left.name} {table.describe(left.name)}: {differs}"
    assert snapshot_schema.fingerprint == binlog_schema.fingerprint, f"{table.name}: two writer schemas"


def round_trip(services: Services, tables: Sequence[Table], rows: dict[str, Rows]) -> None:
    """Both paths for ``tables`` (``rows`` by table name) in a database of their own."""
    database, prefix = unique("defs"), unique("t")
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
        for table in tables:
            cur.execute(table.create(database))
    try:
        for table in tables:
            write(services, database, table, rows[table.name], lenient_rows(table))
        names = tuple(t.name for t in tables)
        with (
            ProducerThread(
                producer_settings(services, prefix, snapshot_mode="initial", include_tables=f"{database}.*")
            ) as producer,
            ApplierThread(applier_settings(services, prefix)) as applier,
        ):
            wait_for(
                lambda: producer.error or snapshot_complete(services, prefix),
                what="snapshot complete",
                timeout_s=90,
            )
            reraise(producer)
            for table in tables:
                through_the_binlog(services, database, table)
            end = BinlogPosition.parse(current_position(services))
            wait_for(
                lambda: (
                    producer.error
                    or applier.error
                    or equal(services, database, names)
                    or settled(services, prefix, applier.settings, end)
                ),
                what="target CHECKSUM-equal, or everything applied",
                timeout_s=90,
            )
            reraise(producer, applier)
            applier.stop()
            producer.stop()
        for table in tables:
            assert equal(services, database, (table.name,)), first_difference(services, database, table)
            assert_snapshot_equals_binlog(services, prefix, database, table)
    finally:
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
        drop_target_database(services, database)


def settled(services: Services, prefix: str, applier: Settings, end: BinlogPosition) -> bool:
    """The producer committed everything up to ``end`` and the applier committed the end of every
    table topic (its last entry is a transaction marker): the target will not change any more."""
    checkpoint = producer_checkpoint(services, prefix)
    if checkpoint is None or checkpoint.position < end:
        return False
    try:
        lags = measure(applier, applier.group_id)
    except PermanentError:  # the group has not joined yet
        return False
    return all(row.lag <= 1 for row in lags)


def reraise(*runners: ProducerThread | ApplierThread) -> None:
    """A runner's failure, raised here with its own traceback."""
    for runner in runners:
        if runner.error is not None:
            raise runner.error


@pytest.fixture(scope="session")
def repertoires(services: Services) -> Iterator[Repertoires]:
    """For each single-byte charset, the bytes that are a character on this server (those that
    come back unchanged through utf8mb4)."""
    found: dict[str, tuple[int, ...]] = {}
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        for charset in SINGLE_BYTE:
            back = ", ".join(
                f"HEX(CONVERT(CONVERT(CONVERT(x'{b:02x}' USING {charset}) USING utf8mb4) USING {charset}))"
                for b in range(256)
            )
            cur.execute(f"SELECT {back}")
            row = cur.fetchone()
            found[charset] = tuple(b for b in range(256) if row[b] == f"{b:02X}")
    yield found


def test_edge_definitions(services: Services, repertoires: Repertoires) -> None:
    """Every kind at its parameter edges (integers signed/unsigned, FLOAT/DOUBLE, DECIMAL with scale
    0 and s = p, BIT(1..64), CHAR/VARCHAR/BINARY/VARBINARY on both sides of the 255-byte length
    prefix in every charset width, TEXT/BLOB kinds, ENUM/SET up to 2-byte indexes and 8-byte masks,
    DATE, DATETIME/TIMESTAMP/TIME(0..6), YEAR, JSON, GEOMETRY) with its edge values."""
    tables = pack(edge_definitions(repertoires), "edges")
    round_trip(services, tables, {t.name: edge_rows(t) for t in tables})


def random_definitions(services: Services, repertoires: Repertoires, data: st.DataObject) -> None:
    found = data.draw(st.lists(definitions(repertoires), min_size=30, max_size=60), label="definitions")
    rng = random.Random(data.draw(st.integers(0, 2**32 - 1), label="value seed"))
    tables = pack(found, "random")
    round_trip(services, tables, {t.name: edge_rows(t) + random_rows(t, rng, 12) for t in tables})


def pipeline_runs(examples: int) -> settings:
    """Hypothesis settings for tests whose every example is a whole pipeline run."""
    return settings(
        max_examples=examples,
        deadline=None,
        phases=(Phase.explicit, Phase.reuse, Phase.generate),  # no shrinking: a step is a pipeline run
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


@pipeline_runs(1)
@given(data=st.data())
def test_random_definitions(services: Services, repertoires: Repertoires, data: st.DataObject) -> None:
    """Any kind with any parameters, edge and random values: both paths, target CHECKSUM-equal."""
    random_definitions(services, repertoires, data)


@pytest.mark.slow
@pipeline_runs(10)
@given(data=st.data())
def test_random_definitions_wide(services: Services, repertoires: Repertoires, data: st.DataObject) -> None:
    """Ten more random definition sets."""
    random_definitions(services, repertoires, data)


@pytest.mark.slow
def test_every_decimal(services: Services) -> None:
    """Every DECIMAL(p,s) — p 1..65, s 0..min(p,30) — with its edge values, both paths."""
    tables = pack(decimal_sweep(), "decimals")
    round_trip(services, tables, {t.name: edge_rows(t) for t in tables})


@pytest.fixture
def mariadb_53_temporal_format(services: Services) -> Iterator[None]:
    """New TIME/DATETIME/TIMESTAMP columns in MariaDB 5.3's formats, on the source and (so that
    CHECKSUM TABLE compares like with like) on the target."""
    urls = (services.source_admin, services.target_admin)
    if "mariadb" not in str(query(services.source_admin, "SELECT VERSION()")[0][0]).lower():
        pytest.skip("MariaDB's 5.3 temporal formats exist only on MariaDB")
    for url in urls:
        query(url, "SET GLOBAL mysql56_temporal_format = OFF")
    try:
        yield
    finally:
        for url in urls:
            query(url, "SET GLOBAL mysql56_temporal_format = ON")


def test_mariadb_53_temporal_formats(services: Services, mariadb_53_temporal_format: None) -> None:
    """TIME/DATETIME/TIMESTAMP(0..6) in MariaDB's pre-10.1 formats (``/* mariadb-5.3 */``, logged
    under the classic type codes with no precision in the binlog) with their edge values."""
    table = Table(
        "legacy", tuple(f(fsp) for fsp in range(7) for f in (datetime_type, time_type, timestamp_type))
    )
    round_trip(services, [table], {table.name: edge_rows(table)})


UNDECODABLE = {
    # a byte that is no character of the column's charset: the server would read it as '?'
    "no character": ("VARCHAR(8) CHARACTER SET cp1251", "_cp1251 x'4198'", "are not cp1251 text"),
    # a multi-byte legacy charset the producer has no exact decoder for
    "no exact decoder": (
        "VARCHAR(8) CHARACTER SET sjis",
        "_sjis x'41'",
        "sjis is not one this version decodes",
    ),
}


@pytest.mark.parametrize("path", ["snapshot", "binlog"])
@pytest.mark.parametrize("case", list(UNDECODABLE))
def test_text_it_cannot_decode_stops_the_producer(
    services: Services, source_db: str, topic_prefix: str, case: str, path: str
) -> None:
    """Text the producer cannot decode exactly stops it — on either path — with the table, the
    column, the place, the key and the fix, and nothing of the row published; leaving the column
    out with exclude_columns passes the same row without it."""
    column_type, value, reason = UNDECODABLE[case]
    table = f"`{source_db}`.t"
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, ok INT, bad {column_type})")
    before_insert = current_position(services)

    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"INSERT INTO {table} VALUES (7, 1, {value})")

    def run(prefix: str, **overrides: Any) -> tuple[BaseException | None, list[dict[str, Any]]]:
        """(the producer's error, the changes it published) once it stopped or published."""
        if path == "snapshot":
            overrides.update(snapshot_mode="initial", include_tables=f"{source_db}.*")
        else:
            overrides.update(start_position=before_insert)
        with ProducerThread(producer_settings(services, prefix, **overrides)) as producer:
            wait_for(
                lambda: producer.error or changes(decode_topic(services.bootstrap, prefix, source_db, "t")),
                what="the producer to stop or publish",
            )
        return producer.error, changes(decode_topic(services.bootstrap, prefix, source_db, "t"))

    error, published = run(topic_prefix)
    assert isinstance(error, PermanentError), error
    message = str(error)
    assert f"{source_db}.t" in message and "bad" in message and reason in message, message
    assert f'exclude_columns = ["{source_db}.t.bad"]' in message, message
    if path == "binlog":
        assert "-bin." in message, message  # the event's place
    if case == "no character":
        assert "key id=" in message and "7" in message, message
    assert published == []

    error, published = run(unique("t"), exclude_columns=f"{source_db}.t.bad")
    assert error is None, error
    assert [e["after"] for e in published] == [{"id": 7, "ok": 1}]
