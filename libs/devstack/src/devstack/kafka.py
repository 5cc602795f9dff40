"""Apache Kafka 3.9.1 (Scala 2.13) in KRaft mode: one combined broker+controller node run as a
plain ``java`` process, its jars resolved from Maven Central with Maven into a cache folder.

Typical use::

    node = KafkaNode(run_dir / "kafka", port=19092, controller_port=19093, cache_dir=cache)
    node.start()          # formats storage on first start; reuses a node already running there
    node.wait_ready(60)
    await create_topics(node.bootstrap, [("orders", 3)])
    node.stop()
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
import uuid
from pathlib import Path

from .debian import apt_install
from .locks import exclusive
from .processes import pid_alive, process_cmdline, read_pid_file, stop_pid, tail

KAFKA_VERSION = "3.9.1"
SCALA_VERSION = "2.13"
POM = Path(__file__).resolve().parent / "kafka_pom" / "pom.xml"
MARKER = ".complete"
HEAP = "-Xmx512m"
# The JIT's optimising compiler (C2) kept compiling for minutes under load and took more CPU than the
# broker's request handling, on a machine the broker shares with the whole system; the quick compiler
# alone (C1) serves this broker's few thousand requests per second with a fraction of that.
# OMS_KAFKA_JVM_OPTS replaces these options and the collector's (e.g. with "" for the JVM's defaults).
JIT = "-XX:TieredStopAtLevel=1"
# The serial collector: on two cores shared with the whole system, G1's concurrent threads cost more than
# the short young-generation pauses of a 512 MB heap (measured at 18 orders/s: Kafka ~17 -> ~14 ms of CPU
# per order, posted->reserved p50 no worse).
GC = "-XX:+UseSerialGC"


# ---------------------------------------------------------------- jars
def kafka_jars_dir(cache_dir: Path) -> Path:
    """Where ``ensure_kafka_jars`` puts the jars: ``cache_dir/kafka-<version>/libs``."""
    return Path(cache_dir) / f"kafka-{KAFKA_VERSION}" / "libs"


def _pom_digest() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def _marker_text() -> str:
    return f"kafka {KAFKA_VERSION} scala {SCALA_VERSION} pom {_pom_digest()}\n"


def ensure_java_and_maven() -> None:
    """Install Debian's ``maven`` (and a headless JRE) when ``java`` or ``mvn`` is missing."""
    if shutil.which("java") and shutil.which("mvn"):
        return
    apt_install(["default-jre-headless", "maven"])


def ensure_kafka_jars(cache_dir: Path) -> Path:
    """Resolve the broker's jars from Maven Central into ``cache_dir/kafka-3.9.1/libs``.

    Runs ``mvn -q -B dependency:copy-dependencies`` on the bundled ``kafka_pom/pom.xml`` with
    ``-Dmaven.repo.local=cache_dir/m2``. A marker file (naming the version and the pom's digest)
    makes later calls return at once; concurrent callers wait on a file lock. Returns the libs folder.
    """
    libs = kafka_jars_dir(cache_dir)
    marker = libs / MARKER
    expected = _marker_text()
    if marker.is_file() and marker.read_text() == expected:
        return libs
    with exclusive(libs.parent / ".resolve.lock"):
        if marker.is_file() and marker.read_text() == expected:  # another process did it meanwhile
            return libs
        ensure_java_and_maven()
        libs.mkdir(parents=True, exist_ok=True)
        command = ["mvn", "-q", "-B", "-f", str(POM), f"-Dmaven.repo.local={Path(cache_dir).absolute() / 'm2'}",
                   "dependency:copy-dependencies", f"-DoutputDirectory={libs.absolute()}", "-DincludeScope=runtime",
                   "-Dmdep.overWriteIfNewer=true"]
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"Maven could not resolve the Kafka jars ({' '.join(command)}):\n"
                               + "\n".join(result.stdout.splitlines()[-40:]))
        if not any(libs.glob(f"kafka_{SCALA_VERSION}-{KAFKA_VERSION}.jar")):
            raise RuntimeError(f"Maven finished but {libs} holds no kafka_{SCALA_VERSION}-{KAFKA_VERSION}.jar")
        marker.write_text(expected)
    return libs


# ---------------------------------------------------------------- configuration
def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (22 characters).

    Like Kafka's own ``Uuid.randomUuid`` it never starts with ``-``, which command-line parsers
    (StorageTool's among them) would take for an option."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def render_server_properties(port: int, controller_port: int, log_dir: Path, node_id: int = 1) -> str:
    """``server.properties`` of a single combined broker+controller node on 127.0.0.1."""
    return "\n".join([
        "# written by devstack.kafka: a single-node KRaft broker+controller for local use",
        "process.roles=broker,controller",
        f"node.id={node_id}",
        f"controller.quorum.voters={node_id}@127.0.0.1:{controller_port}",
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        f"log.dirs={log_dir}",
        "num.partitions=3",
        "default.replication.factor=1",
        "min.insync.replicas=1",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=10",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "transaction.state.log.num.partitions=10",
        "auto.create.topics.enable=false",
        "group.initial.rebalance.delay.ms=0",
        "num.network.threads=1",
        "num.io.threads=2",
        "num.recovery.threads.per.data.dir=1",
        "log.retention.hours=168",
        "log.segment.bytes=104857600",
        "",
    ])


def render_log4j_properties(log_file: Path) -> str:
    """log4j 1.x (reload4j) configuration sending the broker's log to ``log_file``."""
    return "\n".join([
        "log4j.rootLogger=INFO, file",
        "log4j.appender.file=org.apache.log4j.RollingFileAppender",
        f"log4j.appender.file.File={log_file}",
        "log4j.appender.file.MaxFileSize=20MB",
        "log4j.appender.file.MaxBackupIndex=2",
        "log4j.appender.file.layout=org.apache.log4j.PatternLayout",
        "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n",
        "log4j.logger.org.apache.kafka=INFO",
        "log4j.logger.kafka=INFO",
        "log4j.logger.kafka.request.logger=WARN",
        "log4j.logger.state.change.logger=WARN",
        "log4j.logger.kafka.log.LogCleaner=WARN",
        "log4j.logger.org.apache.kafka.clients=WARN",
        "",
    ])


# ---------------------------------------------------------------- probing
def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    with socket.socket() as s:
        s.settimeout(timeout)
        return s.connect_ex((host, port)) == 0


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        chunks += chunk
    return bytes(chunks)


METADATA_API_KEY = 3
METADATA_VERSION = 1


def encode_metadata_request(correlation_id: int, client_id: str = "devstack-probe") -> bytes:
    """A size-prefixed Metadata request v1 asking for no topics (brokers and controller only)."""
    client = client_id.encode()
    # request header v1: api_key, api_version, correlation_id, client_id; body v1: topics = [] (none)
    payload = (struct.pack(">hhih", METADATA_API_KEY, METADATA_VERSION, correlation_id, len(client)) + client
               + struct.pack(">i", 0))
    return struct.pack(">i", len(payload)) + payload


def parse_metadata_response(body: bytes) -> tuple[int, list[tuple[int, str, int]], int]:
    """Parse a Metadata response v1 (without its size prefix) into
    ``(correlation_id, [(node_id, host, port), ...], controller_id)``."""
    offset = 0

    def take(fmt: str) -> tuple[int, ...]:
        nonlocal offset
        values = struct.unpack_from(fmt, body, offset)
        offset += struct.calcsize(fmt)
        return values

    def take_string() -> str | None:
        nonlocal offset
        (length,) = take(">h")
        if length < 0:
            return None
        if offset + length > len(body):
            raise struct.error("string runs past the end of the response")
        text = body[offset:offset + length].decode()
        offset += length
        return text

    (correlation_id,) = take(">i")
    (count,) = take(">i")
    brokers = []
    for _ in range(max(count, 0)):
        (node_id,) = take(">i")
        host = take_string() or ""
        (port,) = take(">i")
        take_string()  # rack
        brokers.append((node_id, host, port))
    (controller_id,) = take(">i")
    return correlation_id, brokers, controller_id


def metadata_brokers(host: str, port: int, timeout: float = 3.0) -> tuple[list[tuple[int, str, int]], int]:
    """Send a Kafka Metadata request (v1, no topics) and return ``(brokers, controller_id)``.

    ``brokers`` is a list of ``(node_id, host, port)``. A dependency-free synchronous probe, usable
    from inside a running event loop too.
    """
    correlation_id = int(time.monotonic_ns() & 0x7FFFFFFF)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(encode_metadata_request(correlation_id))
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        body = _recv_exact(sock, size)
    answered_id, brokers, controller_id = parse_metadata_response(body)
    if answered_id != correlation_id:
        raise ConnectionError(f"unexpected correlation id {answered_id}")
    return brokers, controller_id


def broker_ready(port: int, host: str = "127.0.0.1") -> bool:
    """Whether the broker answers a Metadata request listing itself and a controller."""
    try:
        brokers, controller_id = metadata_brokers(host, port)
    except (OSError, ConnectionError, struct.error):
        return False
    return bool(brokers) and controller_id >= 0


# ---------------------------------------------------------------- the node
class KafkaNode:
    """One KRaft node (broker and controller in one JVM) whose files all live in ``data_dir``:
    ``server.properties``, ``log4j.properties``, ``cluster.id``, ``kafka.pid``, the broker log
    ``server.log``, the JVM's stdout/stderr ``stdout.log`` and the partitions in ``logs/``."""

    def __init__(self, data_dir: Path, port: int, controller_port: int, cache_dir: Path):
        self.data_dir = Path(data_dir).absolute()
        self.port = port
        self.controller_port = controller_port
        self.cache_dir = Path(cache_dir).absolute()
        self._popen: subprocess.Popen[bytes] | None = None

    # ---- paths
    @property
    def bootstrap(self) -> str:
        """``127.0.0.1:<port>``, for ``bootstrap_servers``."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "kafka.pid"

    @property
    def properties_file(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def stdout_file(self) -> Path:
        return self.data_dir / "stdout.log"

    @property
    def cluster_id_file(self) -> Path:
        return self.data_dir / "cluster.id"

    def server_properties(self) -> str:
        return render_server_properties(self.port, self.controller_port, self.log_dir)

    # ---- state
    def pid(self) -> int | None:
        """The PID of this data folder's broker while it runs, else None."""
        pid = read_pid_file(self.pid_file)
        if pid is None or not pid_alive(pid):
            return None
        cmdline = process_cmdline(pid)
        if cmdline is not None and str(self.properties_file) not in cmdline:
            return None  # the PID was recycled by some other process
        return pid

    def is_running(self) -> bool:
        """Whether the broker process of this data folder is alive (it may still be starting)."""
        if self._popen is not None:
            self._popen.poll()  # reap our own child once it exits
        return self.pid() is not None

    def cluster_id(self) -> str:
        """The persisted cluster id (created and stored in ``cluster.id`` on first use)."""
        if self.cluster_id_file.is_file():
            stored = self.cluster_id_file.read_text().strip()
            if stored:
                return stored
        cluster_id = new_cluster_id()
        self.cluster_id_file.write_text(cluster_id + "\n")
        return cluster_id

    def _java(self, main_class: str, *args: str, heap: str = HEAP) -> list[str]:
        libs = ensure_kafka_jars(self.cache_dir)
        java = shutil.which("java") or str(Path(os.environ.get("JAVA_HOME", "/usr")) / "bin" / "java")
        jvm_options = os.environ.get("OMS_KAFKA_JVM_OPTS", f"{JIT} {GC}").split()
        return [java, heap, *jvm_options, "-Djava.awt.headless=true",
                f"-Dlog4j.configuration=file:{self.data_dir / 'log4j.properties'}",
                f"-Dkafka.logs.dir={self.data_dir}", "-cp", f"{libs}/*", main_class, *args]

    # ---- lifecycle
    def format_storage(self) -> None:
        """Format ``logs/`` with the persisted cluster id (``kafka.tools.StorageTool format``),
        unless it already is."""
        if (self.log_dir / "meta.properties").exists():
            return
        result = subprocess.run(
            self._java("kafka.tools.StorageTool", "format", f"--cluster-id={self.cluster_id()}",
                       f"--config={self.properties_file}", "--ignore-formatted", heap="-Xmx256m"),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=self.data_dir)
        if result.returncode != 0:
            raise RuntimeError(f"formatting Kafka storage in {self.log_dir} failed:\n{result.stdout}")

    def start(self) -> None:
        """Start the node detached (its own session, output to ``stdout.log``), formatting its storage
        first on a first start. A node already running from this data folder is reused as it is."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with exclusive(self.data_dir / ".start.lock"):
            if self.is_running():
                return
            self.pid_file.unlink(missing_ok=True)
            if port_open(self.port) or port_open(self.controller_port):
                raise RuntimeError(f"port {self.port} or {self.controller_port} is taken by a process that "
                                   f"is not the Kafka node of {self.data_dir}")
            ensure_kafka_jars(self.cache_dir)
            self.properties_file.write_text(self.server_properties())
            (self.data_dir / "log4j.properties").write_text(render_log4j_properties(self.log_file))
            self.format_storage()
            with open(self.stdout_file, "ab") as out:
                out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting kafka.Kafka\n".encode())
                out.flush()
                self._popen = subprocess.Popen(self._java("kafka.Kafka", str(self.properties_file)),
                                               stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                               start_new_session=True, cwd=self.data_dir)
            self.pid_file.write_text(f"{self._popen.pid}\n")

    def ready(self) -> bool:
        """Whether the bootstrap address answers a Metadata request."""
        return broker_ready(self.port)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until the broker answers a Metadata request on 127.0.0.1:port.

        Raises ``RuntimeError`` with the log's tail if the process exits, ``TimeoutError`` after
        ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if broker_ready(self.port):
                return
            if not self.is_running():
                raise RuntimeError(f"Kafka ({self.data_dir}) is not running; {self.stdout_file}:\n"
                                   f"{tail(self.stdout_file)}\n{self.log_file}:\n{tail(self.log_file)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"Kafka on port {self.port} not ready after {timeout}s; "
                                   f"{self.log_file}:\n{tail(self.log_file)}")
            time.sleep(0.2)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the node by PID: SIGTERM (a clean shutdown), then SIGKILL after ``timeout`` seconds."""
        pid = self.pid()
        if pid is not None:
            stop_pid(pid, timeout=timeout)
        if self._popen is not None:
            try:
                self._popen.wait(5)
            except subprocess.TimeoutExpired:
                pass
            self._popen = None
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL the node at once (fault tests); its PID file stays until ``stop()``/``start()``."""
        pid = self.pid()
        if pid is not None:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and pid_alive(pid):
                if self._popen is not None:
                    self._popen.poll()
                time.sleep(0.05)


# ---------------------------------------------------------------- topics
async def create_topics(bootstrap: str, topics: list[tuple[str, int]], timeout: float = 30.0) -> None:
    """Create the topics ``(name, partitions)`` that do not exist yet, with replication factor 1.

    Idempotent: existing topics (and TopicAlreadyExists from a concurrent creator) are left as they
    are. Returns once every topic is in the cluster's metadata with a leader for each partition.
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError, for_code

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(name, partitions, 1) for name, partitions in topics if name not in existing]
        if missing:
            response = await admin.create_topics(missing, timeout_ms=int(timeout * 1000))
            for name, code, *_ in response.topic_errors:
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise for_code(code)(f"creating topic {name}")
        wanted = {name for name, _ in topics}
        deadline = time.monotonic() + timeout
        while True:
            described = await admin.describe_topics(sorted(wanted)) if wanted else []
            led = {t["topic"] for t in described if t.get("error_code", 0) == 0 and t.get("partitions")
                   and all(p.get("leader", -1) >= 0 for p in t["partitions"])}
            if wanted <= led:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics without leaders after {timeout}s: {sorted(wanted - led)}")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()
