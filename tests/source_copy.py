"""A clean copy of what the container image builds from (the Dockerfile's COPY lines): no build/
directory, no egg-info, no caches that could hide a packaging mistake."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("binlog_pipeline", "schemas", "core", "producer", "applier", "ops")


def image_sources(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, dest / package, ignore=shutil.ignore_patterns("__pycache__"))
    return dest
