"""Debezium on Kafka Connect, as `bench --compare debezium` runs it: one standalone worker (file
offset storage, JsonConverter with schemas, REST on a free loopback port) hosting Debezium's
MariaDB source connector and its JDBC sink connector. Jars come from Maven Central through the
pom next to this module; the comparison drives the worker through Connect's REST API only."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.core.errors import StackError
from binlog_pipeline.core.waiting import WaitTimeout, wait_until
from binlog_pipeline_tools.bench.processes import peak_rss_mb
from binlog_pipeline_tools.stack import maven, process
from binlog_pipeline_tools.stack.kafka import LOG4J2_TO_FILE

CONNECT_VERSION = "4.1.1"  # = our broker's Kafka version
DEBEZIUM_VERSION = "3.5.0.Final"
MARIADB_JDBC_VERSION = "3.5.6"
HEAP = ["-Xms256m", "-Xmx2g"]  # what Kafka's connect-standalone.sh gives a worker
BATCH_ROWS = 5_000  # = the applier's batch_max_rows default, for both sides' batching


def ensure_jars() -> Path:
    """Connect, the two Debezium connectors and the MariaDB JDBC driver, resolved once."""
    lib = maven.cache_dir(f"debezium-{DEBEZIUM_VERSION}-connect-{CONNECT_VERSION}")
    return maven.resolve("binlog_pipeline_tools.bench", "debezium-pom.xml", lib, "Kafka Connect and Debezium")


@dataclass(frozen=True)
class DebeziumNames:
    """One comparison's names: its topics, connectors and the sink's consumer group."""

    prefix: str  # topic.prefix: topics are {prefix}.{db}.{table}
    database: str  # the captured source database

    @property
    def source(self) -> str:
        return f"{self.prefix}-source"

    @property
    def sink(self) -> str:
        return f"{self.prefix}-sink"

    def topic(self, table: str) -> str:
        return f"{self.prefix}.{self.database}.{table}"


def source_config(
    names: DebeziumNames, source: DatabaseUrl, bootstrap: str, server_id: int
) -> dict[str, str]:
    """Debezium's MariaDB connector streaming the binlog from now on (no initial data copy: both
    pipelines start from the same pre-loaded targets), one record per row change, no tombstones."""
    return {
        "connector.class": "io.debezium.connector.mariadb.MariaDbConnector",
        "tasks.max": "1",
        "database.hostname": source.host,
        "database.port": str(source.port),
        "database.user": source.user,
        "database.password": source.password,
        "database.server.id": str(server_id),
        "topic.prefix": names.prefix,
        "database.include.list": names.database,
        "snapshot.mode": "no_data",
        "schema.history.internal.kafka.bootstrap.servers": bootstrap,
        "schema.history.internal.kafka.topic": f"{names.prefix}.schema-history",
        "tombstones.on.delete": "false",
        "topic.creation.default.replication.factor": "-1",
        "topic.creation.default.partitions": "1",
    }


def sink_config(
    names: DebeziumNames, tables: list[str], target: DatabaseUrl, database: str
) -> dict[str, str]:
    """Debezium's JDBC sink as its documentation sets it up for throughput: upserts keyed by the
    record key, deletes applied, batching on (the same batch size as our applier)."""
    return {
        "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector",
        "tasks.max": "1",
        "topics": ",".join(names.topic(t) for t in tables),
        "connection.url": f"jdbc:mariadb://{target.host}:{target.port}/{database}",
        "connection.username": target.user,
        "connection.password": target.password,
        "insert.mode": "upsert",
        "primary.key.mode": "record_key",
        "delete.enabled": "true",
        "schema.evolution": "basic",
        "collection.name.format": "${source.table}",
        "batch.size": str(BATCH_ROWS),
    }


class ConnectWorker:
    """A Kafka Connect standalone worker with no connectors at start; they are added over REST."""

    def __init__(self, lib: Path, home: Path, bootstrap: str) -> None:
        self.lib = lib
        self.home = home.resolve()  # the JVM runs in it: paths given to it must not be relative
        self.bootstrap = bootstrap
        self.port = process.free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.peak_rss_mb = 0.0

    @property
    def log_path(self) -> Path:
        return self.home / "connect.log"

    def start(self, timeout_s: float = 120) -> ConnectWorker:
        self.home.mkdir(parents=True, exist_ok=True)
        worker = {
            "bootstrap.servers": self.bootstrap,
            "key.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "key.converter.schemas.enable": "true",  # the JDBC sink needs the schema in each record
            "value.converter.schemas.enable": "true",
            "offset.storage.file.filename": str(self.home / "offsets.dat"),
            "offset.flush.interval.ms": "1000",  # sink offsets are committed this often: progress
            "listeners": f"http://127.0.0.1:{self.port}",
            "plugin.discovery": "only_scan",
            # The sink's batch is bounded by the consumer's poll: Debezium's docs ask for both.
            "consumer.max.poll.records": str(BATCH_ROWS),
        }
        properties = self.home / "worker.properties"
        properties.write_text("".join(f"{k}={v}\n" for k, v in worker.items()))
        log4j = self.home / "log4j2.properties"
        log4j.write_text(LOG4J2_TO_FILE.format(log=self.log_path))
        argv = [
            "java",
            *HEAP,
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            f"{self.lib}/*",
            "org.apache.kafka.connect.cli.ConnectStandalone",
            str(properties),
        ]
        with (self.home / "stdout.log").open("ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=self.home)

        def answers() -> bool:
            self.check_alive()  # an exited worker is an error at once, not "not yet"
            try:
                self.request("GET", "/connectors")
            except (OSError, StackError):  # refused, or 404/503 while Connect starts its REST resources
                return False
            return True

        try:
            wait_until(answers, timeout_s, 0.5, "Kafka Connect's REST API")
        except WaitTimeout:
            raise StackError(
                f"Kafka Connect did not answer in {timeout_s:.0f}s; see {self.log_path}"
            ) from None
        return self

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise StackError(f"Kafka Connect {method} {path}: HTTP {exc.code}: {detail}") from exc
        self.sample_rss()
        return json.loads(text) if text else None

    def add(self, name: str, config: dict[str, str]) -> None:
        self.request("POST", "/connectors", {"name": name, "config": config})

    def halt(self, name: str, timeout_s: float = 120) -> None:
        """Stop the connector's tasks (Connect's ``stop``: they commit their offsets and shut
        down) and wait until it reports STOPPED. Not ``pause``: a paused source task stops reading
        while its binlog connection stays open, and the server drops a replica that does not read
        for ``net_write_timeout`` (60 s) — Debezium's task then fails for good."""
        self.request("PUT", f"/connectors/{name}/stop")
        try:
            wait_until(
                lambda: self.request("GET", f"/connectors/{name}/status")["connector"]["state"] == "STOPPED",
                timeout_s,
                0.2,
                f"connector {name} to stop",
            )
        except WaitTimeout as exc:
            raise StackError(f"connector {name} did not stop within {timeout_s:.0f}s") from exc

    def remove(self, name: str) -> None:
        self.request("DELETE", f"/connectors/{name}")

    def resume(self, name: str) -> None:
        self.request("PUT", f"/connectors/{name}/resume")

    def failures(self, names: list[str] | None = None) -> list[str]:
        """Failed connectors and tasks (of ``names``, or all) with their root cause: a failed sink
        task stops applying for good, so the comparison reports it instead of waiting."""
        found = []
        for name, info in self.request("GET", "/connectors?expand=status").items():
            if names is not None and name not in names:
                continue
            status = info["status"]
            for part in [status["connector"], *status["tasks"]]:
                if part.get("state") == "FAILED":
                    found.append(f"{name}: {root_cause(part.get('trace', ''))}")
        return found

    def sink_offsets(self, name: str) -> dict[str, int]:
        """The sink's committed offsets per topic (all our topics have one partition)."""
        result = self.request("GET", f"/connectors/{name}/offsets")
        return {o["partition"]["kafka_topic"]: int(o["offset"]["kafka_offset"]) for o in result["offsets"]}

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise StackError(f"Kafka Connect exited:\n{process.tail(self.log_path)}")

    def sample_rss(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.peak_rss_mb = max(self.peak_rss_mb, peak_rss_mb(self.proc.pid))

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.sample_rss()
        process.terminate(self.proc, 60)


def root_cause(trace: str) -> str:
    """A Java stack trace's first line and its innermost cause: what failed, and why."""
    lines = [line.strip() for line in trace.splitlines() if line.strip()]
    if not lines:
        return "(no trace)"
    causes = [line for line in lines if line.startswith("Caused by:")]
    return lines[0] if not causes else f"{lines[0]} … {causes[-1]}"
