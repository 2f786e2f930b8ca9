"""The wheel — what the container image installs — carries every package of the source tree
(a subpackage left out of it works in the editable dev install and breaks only in the image)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.source_copy import PACKAGES, ROOT, image_sources


def test_wheel_contains_every_package(tmp_path: Path) -> None:
    # Built from a clean copy: a stale build/ directory in the checkout would hide a missing package.
    source = image_sources(tmp_path / "src")
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "-w",
            str(tmp_path),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = tmp_path.glob("binlog_pipeline-*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    packages = {str(init.relative_to(ROOT)) for top in PACKAGES for init in (ROOT / top).rglob("__init__.py")}
    assert len(packages) >= 8
    assert packages <= inside, sorted(packages - inside)
    assert "binlog_pipeline/stack/pom.xml" in inside
