"""The local development stack: a real Apache Kafka broker (KRaft, jars from Maven Central) and
two MariaDB servers (source with binlog, target), run as plain processes — no Docker."""

from __future__ import annotations

from binlog_pipeline_tools.stack.stack import SERVICES, Stack, StackStatus

__all__ = ["SERVICES", "Stack", "StackStatus"]
