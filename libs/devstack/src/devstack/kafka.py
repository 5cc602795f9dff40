"""Apache Kafka in KRaft mode (one combined broker+controller node) as a plain Java process,
its jars resolved from Maven Central with Maven into a cache folder."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

from .processes import pid_alive, stop_pid

KAFKA_VERSION = "3.9.1"
POM = Path(__file__).resolve().parent / "kafka_pom" / "pom.xml"


def ensure_kafka_jars(cache_dir: Path) -> Path:
    """The broker's jars in ``cache_dir/kafka-<version>/libs`` (downloaded once, then reused)."""
    libs = Path(cache_dir) / f"kafka-{KAFKA_VERSION}" / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    if shutil.which("mvn") is None:
        raise RuntimeError("Maven (mvn) is needed to resolve the Kafka jars from Maven Central")
    libs.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mvn", "-q", "-B", "-f", str(POM), f"-Dmaven.repo.local={Path(cache_dir) / 'm2'}",
         "dependency:copy-dependencies", f"-DoutputDirectory={libs}", "-DincludeScope=runtime"],
        check=True,
    )
    marker.write_text(KAFKA_VERSION)
    return libs


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


class KafkaNode:
    def __init__(self, data_dir: Path, port: int, controller_port: int, cache_dir: Path):
        self.data_dir = Path(data_dir)
        self.port = port
        self.controller_port = controller_port
        self.cache_dir = Path(cache_dir)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "kafka.pid"

    def server_properties(self) -> str:
        return "\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={self.data_dir / 'logs'}",
            "num.partitions=3",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=10",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "auto.create.topics.enable=false",
            "group.initial.rebalance.delay.ms=0",
            "num.network.threads=2",
            "num.io.threads=4",
            "",
        ])

    def _java(self, main_class: str, *args: str) -> list[str]:
        libs = ensure_kafka_jars(self.cache_dir)
        log4j = self.data_dir / "log4j.properties"
        return ["java", "-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
                f"-Dlog4j.configuration=file:{log4j}", f"-Dkafka.logs.dir={self.data_dir}",
                "-cp", f"{libs}/*", main_class, *args]

    def is_running(self) -> bool:
        if not self.pid_file.exists():
            return False
        try:
            return pid_alive(int(self.pid_file.read_text()))
        except ValueError:
            return False

    def start(self) -> None:
        if self.is_running() and port_open(self.port):
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        properties = self.data_dir / "server.properties"
        properties.write_text(self.server_properties())
        (self.data_dir / "log4j.properties").write_text(
            "log4j.rootLogger=WARN, file\n"
            "log4j.appender.file=org.apache.log4j.RollingFileAppender\n"
            f"log4j.appender.file.File={self.data_dir / 'server.log'}\n"
            "log4j.appender.file.MaxFileSize=20MB\nlog4j.appender.file.MaxBackupIndex=2\n"
            "log4j.appender.file.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
            "log4j.logger.kafka=INFO\nlog4j.logger.org.apache.kafka=INFO\n")
        cluster_id_file = self.data_dir / "cluster.id"
        if not (self.data_dir / "logs" / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
            cluster_id_file.write_text(cluster_id)
            subprocess.run(self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(properties),
                                      "--ignore-formatted"), check=True, stdout=subprocess.DEVNULL)
        if port_open(self.port) or port_open(self.controller_port):
            raise RuntimeError(f"port {self.port} or {self.controller_port} is taken by another process")
        with open(self.data_dir / "stdout.log", "ab") as out:
            popen = subprocess.Popen(self._java("kafka.Kafka", str(properties)), stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=self.data_dir)
        self.pid_file.write_text(str(popen.pid))

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if not self.is_running():
                raise RuntimeError(f"Kafka exited; see {self.data_dir / 'server.log'} and stdout.log")
            if port_open(self.port):
                try:
                    asyncio.run(_describe_cluster(self.bootstrap))
                    return
                except Exception as error:  # noqa: BLE001 - not ready yet
                    last_error = error
            time.sleep(0.3)
        raise TimeoutError(f"Kafka not ready after {timeout}s: {last_error!r}")

    def stop(self) -> None:
        if self.pid_file.exists():
            try:
                stop_pid(int(self.pid_file.read_text()), timeout=30)
            except ValueError:
                pass
            self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """kill -9 the broker (fault tests)."""
        if self.pid_file.exists():
            try:
                os.killpg(int(self.pid_file.read_text()), 9)
            except (ProcessLookupError, ValueError):
                pass


async def _describe_cluster(bootstrap: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        await admin.describe_cluster()
    finally:
        await admin.close()


async def create_topics(bootstrap: str, topics: list[tuple[str, int]]) -> None:
    """Create topics that do not exist yet (idempotent)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(name, partitions, 1) for name, partitions in topics if name not in existing]
        if missing:
            response = await admin.create_topics(missing)
            for name, code, *_ in getattr(response, "topic_errors", []) or getattr(response, "topic_error_codes", []):
                if code not in (0, 36):  # 36 = already exists (a concurrent creator)
                    raise RuntimeError(f"creating topic {name} failed with error code {code}")
        deadline = time.monotonic() + 30
        wanted = {name for name, _ in topics}
        while time.monotonic() < deadline:
            if wanted <= set(await admin.list_topics()):
                return
            await asyncio.sleep(0.1)
        raise TimeoutError("topics not visible after creation")
    finally:
        await admin.close()
