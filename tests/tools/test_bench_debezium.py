"""`binlog-pipeline bench --compare debezium`: the comparison's setup (Kafka Connect + Debezium
from Maven Central) and one tiny run of both pipelines on the real stack; and the clean skip when
Maven cannot reach a repository."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.services import Services
from tests.tools.test_bench import run_bench

pytestmark = pytest.mark.integration


def _bench(
    services: Services, tmp_path: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_bench(services, tmp_path, "--compare", "debezium", "--compare-only", env=env, timeout=1200)


@pytest.mark.slow
def test_debezium_comparison_at_tiny_scale(services: Services, tmp_path: Path) -> None:
    result = _bench(services, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    d = json.loads((tmp_path / "t.json").read_text())["debezium"]
    assert d["versions"] == {"kafka_connect": "4.1.1", "debezium": "3.5.0.Final", "mariadb_jdbc": "3.5.6"}
    for phase in ("bulk", "sysbench", "wide"):
        p = d["workloads"][phase]
        assert p["rows"] > 0 and p["ours_rows_s"] > 0, (phase, p)
    # Debezium replicated the bulk load and sysbench: the same number of row changes as ours.
    for phase in ("bulk", "sysbench"):
        p = d["workloads"][phase]
        assert p["debezium_rows"] == p["rows"] and p["debezium_rows_s"] > 0, (phase, p, d["debezium_failure"])
    fixed = d["workloads"]["fixed_rate"]
    assert fixed["ours"]["rows"] > 0 and fixed["ours"]["p99_ms"] >= fixed["ours"]["p50_ms"] > 0
    assert fixed["debezium"]["rows"] > 0 and fixed["debezium"]["p99_ms"] >= fixed["debezium"]["p50_ms"] > 0
    assert d["rss_peak_mb"]["ours_total"] > 0 and d["rss_peak_mb"]["debezium_connect_worker"] > 0
    # Ours is equal on every table, and gets no all-types column wrong.
    assert all(d["equal"]["ours"].values()), d["equal"]["ours"]
    assert d["fidelity"]["ours"]["columns_wrong"] == {}
    assert d["fidelity"]["ours"]["rows_missing"] == 0
    # Every all-types column went through Debezium alone, with a verdict, and a failed one says why.
    per_column = d["fidelity"]["debezium_per_column"]["columns"]
    assert len(per_column) == 32, sorted(per_column)
    assert all(r["status"] in ("ok", "wrong", "failed") for r in per_column.values()), per_column
    assert all(r["error"] for r in per_column.values() if r["status"] == "failed"), per_column
    # Debezium's tables other than all-types are equal too (its type handling is what we report).
    assert all(same for table, same in d["equal"]["debezium"].items() if table != "all_types"), d["equal"]
    assert "Ours vs Debezium" in (tmp_path / "t.md").read_text()


def test_debezium_comparison_skips_cleanly_without_maven_central(services: Services, tmp_path: Path) -> None:
    """A repository that refuses connections and no cached jars: a clear message, exit 0, and
    nothing of ours runs half-way."""
    home = tmp_path / "home"
    (home / ".m2").mkdir(parents=True)
    (home / ".m2" / "settings.xml").write_text(
        "<settings><mirrors><mirror><id>unreachable</id><mirrorOf>*</mirrorOf>"
        "<url>https://127.0.0.1:9/maven2</url></mirror></mirrors></settings>"
    )
    result = _bench(
        services,
        tmp_path,
        {"MAVEN_OPTS": f"-Duser.home={home}", "XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Debezium comparison skipped: Maven could not resolve Kafka Connect and Debezium" in result.stderr
    assert not (tmp_path / "t.json").exists()
