"""A single-node Apache Kafka 4.x broker (combined broker + controller, KRaft) from Maven jars."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from binlog_pipeline.core.errors import StackError
from binlog_pipeline.core.waiting import WaitTimeout, wait_until
from binlog_pipeline_tools.stack import maven, process
from binlog_pipeline_tools.stack.maven import JAVA_HINT

KAFKA_VERSION = "4.1.1"

# log4j2 for a JVM of ours: everything at INFO into one file (Kafka Connect uses it as it is).
LOG4J2_TO_FILE = """status = error
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
"""
_LOG4J2 = (
    LOG4J2_TO_FILE
    + """logger.kafka.name = org.apache.kafka
logger.kafka.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
"""
)


def jar_cache_dir() -> Path:
    return maven.cache_dir(f"kafka-{KAFKA_VERSION}")


def ensure_jars() -> Path:
    """Resolve the broker's jars from Maven Central once."""
    return maven.resolve("binlog_pipeline_tools.stack", "pom.xml", jar_cache_dir(), "the Kafka broker jars")


@dataclass(frozen=True)
class KafkaBroker:
    state_dir: Path
    port: int
    controller_port: int
    # A second listener for fault injection: the broker listens on ``proxied_port`` but tells
    # clients that bootstrap through it to connect to ``via_proxy_port``, where `chaos` runs a TCP
    # proxy — so every connection of those clients (not just the bootstrap) crosses the proxy.
    proxied_port: int | None = None
    via_proxy_port: int | None = None

    @property
    def home(self) -> Path:
        return self.state_dir / "kafka"

    @property
    def log_path(self) -> Path:
        return self.home / "kafka.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _write_config(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        listeners = f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
        advertised = f"PLAINTEXT://127.0.0.1:{self.port}"
        if self.proxied_port and self.via_proxy_port:
            listeners += f",PROXIED://127.0.0.1:{self.proxied_port}"
            advertised += f",PROXIED://127.0.0.1:{self.via_proxy_port}"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "listeners": listeners,
            "advertised.listeners": advertised,
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,PROXIED:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.home / "data"),
            "num.partitions": "1",
            # One node: internal topics (offsets, transaction state) must fit on it, or
            # transactions never initialise.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
        }
        path = self.home / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.home / "log4j2.properties").write_text(_LOG4J2.format(log=self.log_path))
        return path

    def start(self) -> int:
        if shutil.which("java") is None:
            raise StackError(f"`java` is not on PATH: {JAVA_HINT}")
        lib = ensure_jars()
        config = self._write_config()
        classpath = f"{lib}/*"
        if not (self.home / "data" / "meta.properties").exists():
            cluster_id = _run_java(classpath, ["kafka.tools.StorageTool", "random-uuid"]).strip()
            _run_java(
                classpath,
                [
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    "-g",
                    "-t",
                    cluster_id.splitlines()[-1],
                    "-c",
                    str(config),
                ],
            )
        argv = [
            "java",
            "-Xms256m",
            "-Xmx1g",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(config),
        ]
        return process.start_detached(argv, self.home / "stdout.log", cwd=self.home)

    def wait_ready(self, pid: int, timeout_s: float = 90.0) -> None:
        """Ready means: metadata answers and a produce → consume round trip completes."""

        def ready() -> bool:
            if not process.is_alive(pid):
                raise StackError(self._failure("the Kafka broker exited during start-up"))
            return process.port_open(self.port) and self.round_trip(timeout_s=10)

        try:
            wait_until(ready, timeout_s, 0.5, "the Kafka broker")
        except WaitTimeout as exc:
            raise StackError(
                self._failure(f"the Kafka broker did not become ready in {timeout_s:.0f}s")
            ) from exc

    def round_trip(self, timeout_s: float = 5.0) -> bool:
        from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
        from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

        from binlog_pipeline.core.kafka_errors import error_of

        topic = "_stack.healthcheck"
        conf: dict[str, str | int | float | bool] = {
            "bootstrap.servers": self.bootstrap,
            "socket.timeout.ms": 3000,
            "log_level": 0,  # a probe: a broker still starting is its answer (False), not noise
        }
        try:
            admin = AdminClient(conf)
            if topic not in admin.list_topics(timeout=timeout_s).topics:
                futures = admin.create_topics([NewTopic(topic, 1, 1)])
                try:
                    futures[topic].result(timeout=timeout_s)
                except KafkaException as exc:
                    if error_of(exc).code() != KafkaError.TOPIC_ALREADY_EXISTS:
                        return False
            token = uuid.uuid4().hex.encode()
            producer = Producer({**conf, "message.timeout.ms": int(timeout_s * 1000)})
            producer.produce(topic, token)
            if producer.flush(timeout_s) != 0:
                return False
            consumer = Consumer({**conf, "group.id": "_stack.healthcheck", "enable.auto.commit": False})
            try:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=timeout_s)
                consumer.assign([TopicPartition(topic, 0, max(low, high - 1))])

                def token_read() -> bool:
                    msg = consumer.poll(0.5)
                    return msg is not None and msg.error() is None and msg.value() == token

                try:
                    return wait_until(token_read, timeout_s, 0, "the round trip's message")
                except WaitTimeout:
                    return False
            finally:
                consumer.close()
        except KafkaException:
            return False

    def _failure(self, what: str) -> str:
        return f"{what}; last lines of {self.log_path}:\n{process.tail(self.log_path)}\n" + process.tail(
            self.home / "stdout.log", 10
        )


def _run_java(classpath: str, args: list[str]) -> str:
    result = subprocess.run(["java", "-cp", classpath, *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise StackError(f"`{' '.join(args[:2])}` failed:\n{result.stdout}{result.stderr}"[-3000:])
    return result.stdout
