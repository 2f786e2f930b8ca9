"""The project's error hierarchy.

Errors are classified only to decide *retry or stop* — never whether a checkpoint may move. The
checkpoint moves on proof of success alone (see DESIGN.md, "The one rule").
"""

from __future__ import annotations


class PipelineError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(PipelineError):
    """A setting is missing or invalid; names the key, where its value came from and what is
    expected. Never contains a secret."""


class TransientError(PipelineError):
    """Worth retrying the same unit of work (after backoff): a lost connection, a deadlock, a
    read-only target during failover, an unavailable broker."""


class PermanentError(PipelineError):
    """Retrying the same input cannot succeed: bad data, a missing table, a type mismatch, a
    missing privilege. Stops the process with a non-zero exit unless a dead-letter topic is set."""


class StackError(PipelineError):
    """The local development stack could not be installed, started or stopped."""


class UsageError(PipelineError):
    """A command's arguments do not fit together or name nothing usable; like a bad flag, the
    command exits 2 without having done anything."""


class ToolError(PipelineError):
    """A development tool (bench, chaos) could not complete its run: a pipeline process that did
    not start or died, a workload that failed, a pipeline that did not catch up."""
