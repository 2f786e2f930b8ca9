"""Development tools of binlog-pipeline — the local stack, the benchmark and the chaos run. Not
part of the runtime: a separate distribution (``pip install -e tools/``) that adds the ``stack``,
``bench`` and ``chaos`` commands to ``binlog-pipeline``. It imports the runtime; the runtime never
imports it."""

from __future__ import annotations
