"""Handles on the real services the tests use: the local stack, or external ones named by
``BINLOG_PIPELINE_*`` variables (so the same suite runs against MySQL 8 elsewhere)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
from binlog_pipeline_tools.stack import Stack

from binlog_pipeline.core.dburl import DatabaseUrl


@dataclass(frozen=True)
class Services:
    bootstrap: str
    source_url: DatabaseUrl  # the producer's least-privilege user
    target_url: DatabaseUrl  # the applier's user
    source_admin: DatabaseUrl
    target_admin: DatabaseUrl
    stack: Stack | None  # None when running against external services (no fault injection)

    @classmethod
    def from_env(cls, env: dict[str, str], stack: Stack | None) -> Services:
        return cls(
            bootstrap=env["BINLOG_PIPELINE_BOOTSTRAP_SERVERS"],
            source_url=DatabaseUrl.parse(env["BINLOG_PIPELINE_SOURCE_URL"]),
            target_url=DatabaseUrl.parse(env["BINLOG_PIPELINE_TARGET_URL"]),
            source_admin=DatabaseUrl.parse(env["BINLOG_PIPELINE_STACK_SOURCE_ADMIN_URL"]),
            target_admin=DatabaseUrl.parse(env["BINLOG_PIPELINE_STACK_TARGET_ADMIN_URL"]),
            stack=stack,
        )

    def env(self) -> dict[str, str]:
        """Environment for a child process (producer / applier) pointed at these services."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("BINLOG_PIPELINE_")}
        return {
            **base,
            "BINLOG_PIPELINE_BOOTSTRAP_SERVERS": self.bootstrap,
            "BINLOG_PIPELINE_SOURCE_URL": self.source_url.unmasked(),
            "BINLOG_PIPELINE_TARGET_URL": self.target_url.unmasked(),
        }


EXTERNAL_KEYS = (
    "BINLOG_PIPELINE_BOOTSTRAP_SERVERS",
    "BINLOG_PIPELINE_SOURCE_URL",
    "BINLOG_PIPELINE_TARGET_URL",
    "BINLOG_PIPELINE_STACK_SOURCE_ADMIN_URL",
    "BINLOG_PIPELINE_STACK_TARGET_ADMIN_URL",
)


def external_env() -> dict[str, str] | None:
    if all(os.environ.get(k) for k in EXTERNAL_KEYS):
        return {k: os.environ[k] for k in EXTERNAL_KEYS}
    return None


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@contextmanager
def connect(url: DatabaseUrl, **kwargs: Any) -> Iterator[pymysql.connections.Connection[Any]]:
    conn = pymysql.connect(**url.connect_kwargs(), autocommit=True, **{"charset": "utf8mb4", **kwargs})
    try:
        yield conn
    finally:
        conn.close()


def query(url: DatabaseUrl, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def processes_under(root: Path) -> dict[int, str]:
    """The processes, this one excepted, whose command line names a path under ``root``: the
    servers a test started there (mariadbd's --datadir, the broker's config files)."""
    prefix = f"{root.resolve()}/"
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = entry.joinpath("cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # ended meanwhile
        line = " ".join(arg.decode(errors="replace") for arg in argv if arg)
        if prefix in line:
            found[int(entry.name)] = line
    return found
