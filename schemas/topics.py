"""Topic names: the contract's addressing scheme.

Table topics are ``{prefix}.{database}.{table}`` with every character Kafka does not allow in a
topic name (including '.') replaced by '_', so a table topic always has exactly two dot-separated
parts after the prefix; the events carry the exact database and table names. Internal topics have
one part after the prefix and never match the table-topic pattern. So a topic name tells its
prefix (:meth:`TopicNames.of_topic`), and with it where its writer schemas are.
"""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass

_INVALID = re.compile(r"[^A-Za-z0-9_-]")
INTERNAL = ("producer-checkpoints", "snapshot-requests", "schemas", "schema-changes")


def _clean(name: str) -> str:
    return _INVALID.sub("_", name) or "_"


@dataclass(frozen=True)
class TopicNames:
    prefix: str

    def table(self, database: str, table: str) -> str:
        # Whole, never cut: the configured prefix leaves room for two 64-character names.
        return f"{self.prefix}.{_clean(database)}.{_clean(table)}"

    @classmethod
    def of_topic(cls, topic: str, configured: str) -> TopicNames:
        """The names of the prefix ``topic`` belongs to — its writer schemas are in that prefix's
        schema topic, whatever prefix the command was configured with. A table topic's prefix is
        everything before its last two parts, an internal topic's everything before its last one.
        Where both readings fit (a table named like an internal topic) the ``configured`` prefix
        wins, then the table reading; a name neither reading fits keeps ``configured``."""
        parts = topic.split(".")
        readings = []
        if len(parts) >= 3:
            readings.append(".".join(parts[:-2]))
        if len(parts) >= 2 and parts[-1] in INTERNAL:
            readings.append(".".join(parts[:-1]))
        if not readings or configured in readings:
            return cls(configured)
        return cls(readings[0])

    def resolve(self, name: str, existing: Container[str] = ()) -> str:
        """The topic a user means by ``name``: ``db.table`` (exactly one dot, the configured prefix
        added) or a full topic name of any prefix. ``existing``: the broker's topics, so that a
        one-dot topic that exists (``other-prefix.schemas``) is taken as it is — unless ``db.table``
        names an existing table topic too."""
        if name.startswith(self.prefix + ".") or name.count(".") != 1:
            return name
        table = self.table(*name.split("."))
        return name if name in existing and table not in existing else table

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
