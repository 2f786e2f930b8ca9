"""Shared foundation of binlog-pipeline: configuration, errors, logging, the local stack and the
operations CLI. The producer and applier packages import this; it imports neither of them."""

from __future__ import annotations

__all__ = ["__version__"]
__version__ = "0.1.0"
