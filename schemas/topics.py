"""Topic names: the contract's addressing scheme.

Table topics are ``{prefix}.{database}.{table}`` with every character Kafka does not allow in a
topic name (including '.') replaced by '_', so a table topic always has exactly two dot-separated
parts after the prefix; the events carry the exact database and table names. Internal topics have
one part after the prefix and never match the table-topic pattern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_INVALID = re.compile(r"[^A-Za-z0-9_-]")


def _clean(name: str) -> str:
    return _INVALID.sub("_", name) or "_"


@dataclass(frozen=True)
class TopicNames:
    prefix: str

    def table(self, database: str, table: str) -> str:
        return f"{self.prefix}.{_clean(database)}.{_clean(table)}"[:249]

    def resolve(self, name: str) -> str:
        """A topic given as ``db.table`` (what users type) or as the full topic name."""
        if not name.startswith(self.prefix + ".") and name.count(".") == 1:
            return self.table(*name.split("."))
        return name

    @property
    def table_pattern(self) -> str:
        """librdkafka subscription regex for every table topic of this prefix."""
        return "^" + re.escape(self.prefix) + r"\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"

    @property
    def checkpoints(self) -> str:
        return f"{self.prefix}.producer-checkpoints"

    @property
    def snapshot_requests(self) -> str:
        return f"{self.prefix}.snapshot-requests"

    @property
    def schemas(self) -> str:
        return f"{self.prefix}.schemas"

    @property
    def schema_changes(self) -> str:
        return f"{self.prefix}.schema-changes"
