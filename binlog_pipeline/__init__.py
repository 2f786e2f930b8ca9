"""binlog-pipeline: MySQL/MariaDB binlog -> Avro -> Apache Kafka -> MySQL/MariaDB.

Layers, bottom up (each folder of the repository is one; nothing imports a layer above it,
checked by the import-linter contract in pyproject.toml):

- ``binlog_pipeline.schemas`` (schemas/): the wire contract — topic names, the Avro envelope,
  the schema-change record, encode/decode. Pure; imports nothing of ours.
- ``binlog_pipeline.core`` (core/): configuration, errors, Kafka and SQL helpers, metrics, logs,
  retries, health, process bootstrap.
- ``binlog_pipeline.producer`` (producer/) and ``binlog_pipeline.applier`` (applier/): the two
  services; neither imports the other.
- ``binlog_pipeline.ops`` (ops/): operator commands on a running pipeline (lag, replay, tail,
  verify, snapshot requests).
- ``binlog_pipeline.cli`` (binlog_pipeline/cli/): the ``binlog-pipeline`` command.

The development tools (local stack, bench, chaos) are the separate ``binlog-pipeline-tools``
distribution (tools/); they are not in the wheel or the container image.
"""

from __future__ import annotations

__all__ = ["__version__"]
__version__ = "0.1.0"
