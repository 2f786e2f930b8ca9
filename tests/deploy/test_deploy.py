"""What can be proven about the deployment without a Docker engine: the compose file validates
(Debian's docker-compose), every config file in compose/ and docs/examples/ loads through our own
loader, the wiring agrees (ports, grants, secrets), the image's pip step works from wheels only,
and every metric the Grafana dashboard queries exists on a real producer and applier."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from binlog_pipeline_tools.stack.mariadb import APPLIER_GRANTS, PRODUCER_GRANTS
from prometheus_client.parser import text_string_to_metric_families

from binlog_pipeline.core.config import load_settings
from tests.applier_harness import ApplierProcess
from tests.kafka_helpers import wait_for
from tests.producer_harness import ProducerProcess
from tests.runner_harness import CliProcess
from tests.services import Services
from tests.source_copy import image_sources

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose"
DASHBOARD = COMPOSE / "grafana" / "dashboards" / "binlog-pipeline.json"


def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((COMPOSE / "docker-compose.yml").read_text())
    return doc


def test_compose_file_validates_with_docker_compose() -> None:
    tool = shutil.which("docker-compose")
    assert tool, "docker-compose is missing: bash scripts/install.sh installs Debian's docker-compose"
    result = subprocess.run(
        [tool, "-f", str(COMPOSE / "docker-compose.yml"), "config", "-q"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_compose_configs_load_through_our_loader() -> None:
    services = compose()["services"]
    for name in ("producer", "applier"):
        env = {k: str(v) for k, v in services[name]["environment"].items()}
        config = COMPOSE / f"{name}.toml"
        assert env["BINLOG_PIPELINE_CONFIG"] == f"/etc/binlog-pipeline/{name}.toml"
        secret_var = next(k for k in env if k.endswith("_URL_FILE"))
        secret_name = Path(env[secret_var]).name
        env[secret_var] = str(COMPOSE / compose()["secrets"][secret_name]["file"])
        del env["BINLOG_PIPELINE_CONFIG"]
        settings = load_settings(config, env=env)
        assert settings.bootstrap_servers == "kafka:9092" and settings.topic_prefix == "shop"
        assert settings.metrics_port == 9100 and settings.metrics_host == "0.0.0.0"
        url = settings.source_url if name == "producer" else settings.target_url
        assert url is not None and url.host == ("source" if name == "producer" else "target")
        # The URL's password is the one the init script gives the user.
        password = (COMPOSE / "secrets" / f"{name}_password.txt").read_text().strip()
        assert url.password == password and url.user == f"binlog_{name}"


def test_examples_load_through_our_loader() -> None:
    examples = sorted((ROOT / "docs" / "examples").glob("*.toml"))
    assert {p.name for p in examples} >= {"local-stack.toml", "kafka-tls-sasl.toml", "mysql-tls.toml"}
    for path in examples:
        load_settings(path, env={})
    tls = load_settings(ROOT / "docs" / "examples" / "mysql-tls.toml", env={})
    assert tls.source_url is not None and dict(tls.source_url.ssl)["ssl_ca"].endswith("mysql-ca.pem")
    sasl = load_settings(ROOT / "docs" / "examples" / "kafka-tls-sasl.toml", env={})
    assert sasl.librdkafka()["security.protocol"] == "SASL_SSL"


def test_compose_wiring_agrees() -> None:
    doc = compose()
    services = doc["services"]
    # Every secret a service names is declared, and its file exists.
    for service in services.values():
        for secret in service.get("secrets", []):
            assert (COMPOSE / doc["secrets"][secret]["file"]).exists(), secret
    # Prometheus scrapes the processes where they serve /metrics; healthchecks ask /readyz there.
    prometheus = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    targets = {t for job in prometheus["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    assert targets == {"producer:9100", "applier:9100"}
    for name in ("producer", "applier"):
        assert "127.0.0.1:9100/readyz" in " ".join(services[name]["healthcheck"]["test"])
        assert services[name]["restart"] == "unless-stopped"
    # The init scripts grant exactly the local stack's least privileges.
    assert f"GRANT {PRODUCER_GRANTS} ON *.*" in (COMPOSE / "mysql" / "source-init.sh").read_text()
    assert f"GRANT {APPLIER_GRANTS} ON *.*" in (COMPOSE / "mysql" / "target-init.sh").read_text()
    # The source is CDC-ready: ROW/FULL binlog with metadata and GTIDs.
    flags = " ".join(services["source"]["command"])
    for flag in ("--log-bin", "--binlog-row-image=FULL", "--binlog-row-metadata=FULL", "--gtid-mode=ON"):
        assert flag in flags
    assert services["kafka"]["image"].startswith("apache/kafka:4.")


def test_dockerfile_is_multi_stage_slim_and_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert len(stages) == 2 and stages[0].split()[0].endswith("-slim-bookworm") and " AS build" in stages[0]
    final = stages[1]
    assert "COPY --from=build /opt/binlog-pipeline /opt/binlog-pipeline" in final
    assert re.search(r"^USER 10001", final, flags=re.M)
    assert not re.search(r"apt-get|pip install|gcc|build-essential", final)
    assert "/readyz" in final  # HEALTHCHECK


@pytest.mark.slow  # CI time: builds every wheel; the packaging, not a guarantee of the pipeline
@pytest.mark.integration
def test_image_pip_step_installs_from_wheels_only(tmp_path: Path) -> None:
    """The Dockerfile's install line, run here in a fresh venv from a clean copy: every dependency
    has a binary wheel (no compiler is needed, so none is in the image) and the entry points run."""
    source = image_sources(tmp_path / "src")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    result = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--only-binary=:all:", str(source)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for entry in ("binlog-producer", "binlog-applier", "binlog-pipeline"):
        shown = subprocess.run([str(venv / "bin" / entry), "--help"], capture_output=True, text=True)
        assert shown.returncode == 0, shown.stderr
    chaos = subprocess.run(
        [str(venv / "bin" / "binlog-pipeline"), "chaos", "--list-kinds"], capture_output=True, text=True
    )
    assert chaos.returncode == 0 and "broker_kill9" in chaos.stdout, chaos.stderr


def exposed_names(text: str) -> set[str]:
    """Every series name a PromQL query may use, including families with no sample yet."""
    names = set()
    for family in text_string_to_metric_families(text):
        suffixes = {
            "counter": ("_total", "_created"),
            "histogram": ("_bucket", "_sum", "_count", "_created"),
            "gauge": ("",),
        }.get(family.type, ("",))
        names |= {family.name + suffix for suffix in suffixes}
        names |= {s.name for s in family.samples}
    return names


def metrics_text(process: CliProcess) -> str:
    found = wait_for(
        lambda: re.search(r"/readyz on http://[^:]+:(\d+)", process.log()), what="the endpoints to be served"
    )
    with urllib.request.urlopen(f"http://127.0.0.1:{found.group(1)}/metrics", timeout=5) as response:
        return str(response.read().decode())


@pytest.mark.integration
def test_every_dashboard_metric_exists_on_the_real_processes(
    services: Services, topic_prefix: str, tmp_path: Path
) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m for q in queries for m in re.findall(r"\b(binlog_pipeline_[a-z_]+|process_[a-z_]+)\b", q)}
    assert len(used) >= 15
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("row changes/s", "lag in messages", "lag in seconds", "errors", "retries", "batch sizes"):
        assert topic in titles
    producer = ProducerProcess(services, topic_prefix, tmp_path / "producer.log", metrics_port=0).start()
    applier = ApplierProcess(services, topic_prefix, tmp_path / "applier.log", metrics_port=0).start()
    try:
        exposed = exposed_names(metrics_text(producer)) | exposed_names(metrics_text(applier))
    finally:
        producer.terminate()
        applier.terminate()
    assert used <= exposed, f"the dashboard queries metrics no process exposes: {sorted(used - exposed)}"
