"""The wheel — what the container image installs — carries every package of the runtime and
nothing of the development tools, all under the one import name ``binlog_pipeline``; installed
beside PyPI's ``schemas`` and ``applier`` distributions (top-level packages of exactly those
names) it overwrites none of their files."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.source_copy import ROOT, image_sources

# Distributions on PyPI whose top-level packages carry the names of our folders.
NEIGHBOURS = ("schemas==0.7.1", "applier==0.4.0")


def _pip(*args: str, python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    return subprocess.run([python, "-m", "pip", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a clean copy of what the Dockerfile copies: a stale build/ directory in the
    # checkout would hide a missing package.
    tmp = tmp_path_factory.mktemp("wheel")
    source = image_sources(tmp / "src")
    built = _pip("wheel", "-q", "--no-deps", "-w", str(tmp), str(source))
    assert built.returncode == 0, built.stderr[-3000:]
    (path,) = tmp.glob("binlog_pipeline-*.whl")
    return path


def test_wheel_contains_every_runtime_package_and_no_tool(wheel: Path) -> None:
    inside = set(zipfile.ZipFile(wheel).namelist())
    # binlog_pipeline/ links each layer's folder in; the wheel must carry real files for all.
    packages = {
        str(Path(folder, "__init__.py").relative_to(ROOT))
        for folder, _dirs, files in os.walk(ROOT / "binlog_pipeline", followlinks=True)
        if "__init__.py" in files
    }
    assert {"binlog_pipeline/producer/__init__.py", "binlog_pipeline/applier/__init__.py"} <= packages
    assert len(packages) >= 7
    assert packages <= inside, sorted(packages - inside)
    tops = {name.split("/")[0] for name in inside if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"binlog_pipeline"}, tops
    assert not [n for n in inside if "binlog_pipeline_tools" in n or "/stack/" in n or "/chaos/" in n]


def test_wheel_installs_beside_pypi_schemas_and_applier(wheel: Path, tmp_path: Path) -> None:
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    python = str(env / "bin" / "python")
    installed = _pip("install", "-q", "--no-deps", *NEIGHBOURS, str(wheel), python=python)
    assert installed.returncode == 0, installed.stderr[-3000:]
    site = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True
        ).strip()
    )
    owners: dict[str, list[str]] = {}
    for record in site.glob("*.dist-info/RECORD"):
        with record.open() as f:
            for row in csv.reader(f):
                owners.setdefault(row[0], []).append(record.parent.name)
    shared = {path: dists for path, dists in owners.items() if len(dists) > 1}
    assert not shared, shared
    # Each distribution's own package is still found as its own (theirs need flask etc. to import).
    script = (
        "import importlib.util as u; "
        "print(*(u.find_spec(m).origin for m in ('applier', 'schemas', 'binlog_pipeline.applier')))"
    )
    probe = subprocess.run(
        [python, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.split() == [
        str(site / "applier/__init__.py"),
        str(site / "schemas/__init__.py"),
        str(site / "binlog_pipeline/applier/__init__.py"),
    ]
