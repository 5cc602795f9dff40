"""The whole system on one machine: Kafka (KRaft) and PostgreSQL as plain processes, then the
seven services as separate processes, each with its own database and consumer group."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from devstack.kafka import KafkaNode, create_topics, ensure_kafka_jars
from devstack.ports import free_port_block
from devstack.postgres import PostgresCluster, ensure_postgres_installed
from devstack.processes import ManagedProcess, Supervisor
from oms_contracts.topics import ALL_TOPICS

from .simulators.erp import DEMO_ERP_WEBHOOK_SECRET
from .simulators.stack_simulators import (
    DEMO_STATUS_WEBHOOK_SECRET,
    SP_API_CLIENT_ID,
    SP_API_CLIENT_SECRET,
    SP_API_REFRESH_TOKEN,
)


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    port_offset: int

    @property
    def database(self) -> str:
        return "oms_" + self.name.replace("-", "_")


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("channel-gateway", "channel_gateway.main", 1),
    ServiceSpec("order-orchestrator", "order_orchestrator.main", 2),
    ServiceSpec("inventory-ledger", "inventory_ledger.main", 3),
    ServiceSpec("router", "order_router.main", 4),
    ServiceSpec("shipping", "shipping.main", 5),
    ServiceSpec("returns", "returns_service.main", 6),
    ServiceSpec("erp-bridge", "erp_bridge.main", 7),
)
SERVICE_BY_NAME = {s.name: s for s in SERVICES}


def project_root() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "uv.lock").exists() or (parent / ".ci").is_dir():
            return parent
    return Path.cwd()


# the demo channels' webhook secrets (services/channel-gateway/src/channel_gateway/config/channels.json names the
# variables); a deployment sets its own from its secret store
DEMO_WEBHOOK_SECRETS = {"OMS_SHOPIFY_WEBHOOK_SECRET": "shopify-demo-secret",
                        "OMS_WOOCOMMERCE_WEBHOOK_SECRET": "woocommerce-demo-secret"}

# the outside world of the local stack, on the port after the services': the project's simulators of the payment
# provider the orchestrator authorises webstore payments with and of Amazon's SP-API the gateway pulls orders
# from (oms_cli.simulators.stack_simulators; a deployment points OMS_PAYMENT_PROVIDER_URL and the SP-API
# variables at the real ones)
SIMULATORS_OFFSET = len(SERVICES) + 1
# the simulated mail relay's SMTP port, beside the simulators' HTTP port (customer notifications' email)
MAIL_SIMULATOR_OFFSET = SIMULATORS_OFFSET + 1
# the address shipping sends customer emails from on the local stack (a deployment sets its own OMS_SMTP_FROM)
DEMO_SMTP_FROM = "orders@oms-demo.example"
# the carriers of the demo catalogue that book through their API (the stack's courier simulator, demo keys)
DEMO_API_CARRIERS = ("SIMEX", "FASTR")
DEMO_PAYMENT_PROVIDER_KEY = "payments-demo-key"
SIMULATORS = "simulators"
# operators' actions on orders (hold release, cancel, change) need this bearer token; a deployment sets its own
DEMO_OPERATOR_TOKEN = "operator-demo-token"
# the web console's demo user (http://127.0.0.1:8002/console), when OMS_CONSOLE_USERS is not given: its entry is
# `oms console hash-password support` of DEMO_CONSOLE_PASSWORD; a deployment sets its own users
DEMO_CONSOLE_USER = "support"
DEMO_CONSOLE_PASSWORD = "support-demo-password"
DEMO_CONSOLE_USERS = ("support:pbkdf2_sha256$600000$oms-demo-support$"
                      "f6019d15ee9852ef5bd1660a67ccc72afebc4a1bce27918a53803c410a29a921")
# the demo dropship vendor's token for answering our purchase orders on the erp-bridge (location VENDOR-ACME)
DEMO_VENDOR_TOKENS = "VENDOR-ACME=acme-demo-token"

# Kafka, Kafka controller, PostgreSQL, HTTP base port of each named stack (so they can run side by side)
# bench and chaos listen below 32768, outside Linux's ephemeral port range (32768-60999): a port in that
# range can be taken at any moment as the local end of an outgoing connection, and a service restarted
# by the chaos run then fails to bind its port (seen: "address already in use" on 38016)
PROFILE_PORTS = {"run": (19092, 19093, 55432, 8000), "bench": (21092, 21093, 21432, 28000),
                 "chaos": (22092, 22093, 22432, 23000)}


def cache_dir() -> Path:
    return Path(os.environ.get("OMS_CACHE_DIR") or Path.home() / ".cache" / "oms")


@dataclass
class StackProfile:
    """Ports and folders of one local stack ("run" for people, "test" for the test suite)."""

    name: str
    kafka_port: int
    controller_port: int
    pg_port: int
    http_base_port: int
    run_dir: Path = field(default=Path())

    @classmethod
    def named(cls, name: str) -> StackProfile:
        root = project_root() / ".run" / name
        kafka, controller, pg, http = PROFILE_PORTS.get(name, PROFILE_PORTS["run"])
        return cls(name, int(os.environ.get("OMS_KAFKA_PORT", kafka)),
                   int(os.environ.get("OMS_KAFKA_CONTROLLER_PORT", controller)),
                   int(os.environ.get("OMS_PG_PORT", pg)), int(os.environ.get("OMS_HTTP_BASE_PORT", http)), root)

    @classmethod
    def for_infrastructure(cls, infrastructure, http_base_port: int | None = None) -> StackProfile:
        """The profile of an already running Kafka and PostgreSQL (the test session's)."""
        base = http_base_port or free_port_block(MAIL_SIMULATOR_OFFSET + 1)
        return cls("test", infrastructure.kafka.port, infrastructure.kafka.controller_port,
                   infrastructure.postgres.port, base, infrastructure.run_dir)

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def traces_dir(self) -> Path:
        """Where the stack's services write their spans, one JSON-lines file each (what ``oms trace`` reads)."""
        return self.run_dir / "traces"

    def http_port(self, service: str) -> int:
        return self.http_base_port + SERVICE_BY_NAME[service].port_offset

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.http_port(service)}"

    @property
    def simulators_url(self) -> str:
        return f"http://127.0.0.1:{self.http_base_port + SIMULATORS_OFFSET}"

    @property
    def payment_provider_url(self) -> str:
        return self.simulators_url + "/payments"

    @property
    def sp_api_url(self) -> str:
        return self.simulators_url + "/amazon"

    @property
    def vendor_portal_url(self) -> str:
        return self.simulators_url + "/vendors"

    @property
    def carriers_url(self) -> str:
        return self.simulators_url + "/carriers"

    @property
    def mail_simulator_smtp_port(self) -> int:
        return self.http_base_port + MAIL_SIMULATOR_OFFSET

    @property
    def sms_gateway_url(self) -> str:
        return self.simulators_url + "/sms/messages"

    def status_webhook_url(self, sales_channel: str) -> str:
        return f"{self.simulators_url}/status-webhooks/{sales_channel}"


def trace_file_env(profile: StackProfile, process: str, *, enabled: bool, extra_env: dict[str, str]) -> dict[str, str]:
    """``OMS_TRACE_FILE`` for one process: the caller's own file if they set one; else, when ``enabled``, the
    stack's ``traces/<process>.jsonl`` (its folder created) unless they export over OTLP."""
    given = {**os.environ, **extra_env}
    if given.get("OMS_TRACE_FILE"):
        return {"OMS_TRACE_FILE": given["OMS_TRACE_FILE"]}
    if not enabled or given.get("OTEL_EXPORTER_OTLP_ENDPOINT") or given.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return {}
    profile.traces_dir.mkdir(parents=True, exist_ok=True)
    return {"OMS_TRACE_FILE": str(profile.traces_dir / f"{process}.jsonl")}


class LocalStack:
    def __init__(self, profile: StackProfile, *, echo_logs: bool = False, extra_env: dict[str, str] | None = None,
                 topic_namespace: str = "", separate_relays: bool = False, trace_files: bool = False):
        self.profile = profile
        # each process writes its spans to <run dir>/traces/<process>.jsonl (``oms up``: what ``oms trace`` draws),
        # unless the caller exports them elsewhere; off by default, so the bench measures no exporter's cost
        self.trace_files = trace_files
        self.separate_relays = separate_relays  # each service's outbox relay as a process of its own
        self.topic_namespace = topic_namespace
        self.echo_logs = echo_logs
        self.extra_env = dict(extra_env or {})
        self.kafka = KafkaNode(profile.run_dir / "kafka", profile.kafka_port, profile.controller_port, cache_dir())
        self.postgres = PostgresCluster(profile.run_dir / "postgres", profile.pg_port)
        self.supervisor = Supervisor(profile.run_dir / "services", echo=echo_logs)

    # ---- infrastructure ----
    def start_infrastructure(self, progress=None) -> None:
        step = progress or (lambda message: None)
        step("PostgreSQL: checking the installation")
        ensure_postgres_installed()
        step("Kafka: resolving broker jars from Maven Central (cached)")
        ensure_kafka_jars(cache_dir())
        step(f"PostgreSQL: starting private cluster on port {self.profile.pg_port}")
        self.postgres.start()
        step(f"Kafka: starting KRaft node on port {self.profile.kafka_port}")
        self.kafka.start()
        self.kafka.wait_ready(90)
        self.postgres.wait_ready(60)
        step("creating topics and databases")
        asyncio.run(create_topics(self.profile.kafka_bootstrap, [(self.topic_namespace + t.name, t.partitions) for t in ALL_TOPICS]))
        for spec in SERVICES:
            self.postgres.create_database(spec.database)

    def stop_infrastructure(self) -> None:
        self.kafka.stop()
        self.postgres.stop()

    # ---- services ----
    def service_env(self, spec: ServiceSpec) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_")}
        env.update({
            "OMS_SERVICE": spec.name,
            "OMS_KAFKA_BOOTSTRAP": self.profile.kafka_bootstrap,
            "OMS_PG_HOST": "127.0.0.1",
            "OMS_PG_PORT": str(self.profile.pg_port),
            "OMS_PG_USER": "postgres",
            "OMS_HTTP_PORT": str(self.profile.http_port(spec.name)),
            "OTEL_SERVICE_NAME": spec.name,
            "OMS_TOPIC_NAMESPACE": self.topic_namespace,
            "PYTHONUNBUFFERED": "1",
        })
        if spec.name == "channel-gateway":  # signed webhooks' secrets: the caller's, else the demo ones
            for name, demo in DEMO_WEBHOOK_SECRETS.items():
                env[name] = os.environ.get(name) or demo
            # channels' drop folders (Vendor Central files in, X12 855s out), the stack's own unless given
            env["OMS_GATEWAY_FILE_DROP"] = os.environ.get("OMS_GATEWAY_FILE_DROP") or str(self.profile.run_dir / "file-drop")
            # the webstore's stock feed goes to the stack's simulated webstore unless given a real endpoint
            env["OMS_WEBSTORE_STOCK_FEED_URL"] = (os.environ.get("OMS_WEBSTORE_STOCK_FEED_URL")
                                                  or self.profile.simulators_url + "/webstore/stock")
        if spec.name in ("channel-gateway", "shipping"):
            # the SP-API channel pulls orders, and Amazon's logistics (Easy Ship) book parcels, through the stack's
            # simulator unless given a real endpoint
            if not os.environ.get("OMS_AMAZON_SP_API_ENDPOINT"):
                env.update({"OMS_AMAZON_SP_API_ENDPOINT": self.profile.sp_api_url,
                            "OMS_AMAZON_LWA_ENDPOINT": self.profile.sp_api_url,
                            "OMS_AMAZON_LWA_CLIENT_ID": SP_API_CLIENT_ID,
                            "OMS_AMAZON_LWA_CLIENT_SECRET": SP_API_CLIENT_SECRET,
                            "OMS_AMAZON_LWA_REFRESH_TOKEN": SP_API_REFRESH_TOKEN})
        if spec.name == "order-orchestrator":  # the payment provider (the stack's simulator unless given)
            env["OMS_PAYMENT_PROVIDER_URL"] = os.environ.get("OMS_PAYMENT_PROVIDER_URL") or self.profile.payment_provider_url
            env["OMS_PAYMENT_PROVIDER_KEY"] = os.environ.get("OMS_PAYMENT_PROVIDER_KEY") or DEMO_PAYMENT_PROVIDER_KEY
            env["OMS_OPERATOR_TOKEN"] = os.environ.get("OMS_OPERATOR_TOKEN") or DEMO_OPERATOR_TOKEN
            # the web console: stock by location from this stack's ledger, its users (the demo one unless given)
            # and the key its sessions are signed with (unset: one per process, sessions end with it)
            env["OMS_LEDGER_URL"] = self.profile.url("inventory-ledger")
            env["OMS_CONSOLE_USERS"] = os.environ.get("OMS_CONSOLE_USERS") or DEMO_CONSOLE_USERS
            for name in ("OMS_CONSOLE_SECRET", "OMS_CONSOLE_SESSION_HOURS"):
                if os.environ.get(name):
                    env[name] = os.environ[name]
        if spec.name == "erp-bridge":  # dropship purchase orders: the vendors' portal (the stack's simulator unless
            # given) and the tokens vendors answer with
            env["OMS_VENDOR_PORTAL_URL"] = os.environ.get("OMS_VENDOR_PORTAL_URL") or self.profile.vendor_portal_url
            env["OMS_VENDOR_TOKENS"] = os.environ.get("OMS_VENDOR_TOKENS") or DEMO_VENDOR_TOKENS
            # the ERP's stock and item master in: this stack's ledger, and its drop folder unless given
            env["OMS_LEDGER_URL"] = self.profile.url("inventory-ledger")
            env["OMS_ERP_DROP_FOLDER"] = (os.environ.get("OMS_ERP_DROP_FOLDER")
                                          or str(self.profile.run_dir / "erp-drop"))
            # ERP documents: the caller's OMS_ERP_* settings, else the signed webhook of the stack's simulated ERP
            env.update({name: value for name, value in os.environ.items() if name.startswith("OMS_ERP_")})
            env.setdefault("OMS_ERP_TRANSPORT", "webhook")
            env.setdefault("OMS_ERP_WEBHOOK_URL", self.profile.simulators_url + "/erp/documents")
            env.setdefault("OMS_ERP_WEBHOOK_SECRET", DEMO_ERP_WEBHOOK_SECRET)
        if spec.name == "shipping":  # customer notifications: the mail relay, the SMS gateway and the webstore's status
            # webhook (the stack's simulators unless given real ones)
            if not os.environ.get("OMS_SMTP_HOST"):
                env.update({"OMS_SMTP_HOST": "127.0.0.1", "OMS_SMTP_PORT": str(self.profile.mail_simulator_smtp_port),
                            "OMS_SMTP_SECURITY": "none"})
            for name in ("OMS_SMTP_HOST", "OMS_SMTP_PORT", "OMS_SMTP_SECURITY", "OMS_SMTP_USERNAME",
                         "OMS_SMTP_PASSWORD", "OMS_SMS_GATEWAY_TOKEN", "OMS_NOTIFICATIONS_DIR",
                         "OMS_NOTIFICATION_TEMPLATES_DIR"):
                if os.environ.get(name):
                    env[name] = os.environ[name]
            env["OMS_SMTP_FROM"] = os.environ.get("OMS_SMTP_FROM") or DEMO_SMTP_FROM
            env["OMS_SMS_GATEWAY_URL"] = os.environ.get("OMS_SMS_GATEWAY_URL") or self.profile.sms_gateway_url
            env["OMS_WEBSTORE_STATUS_WEBHOOK_URL"] = (os.environ.get("OMS_WEBSTORE_STATUS_WEBHOOK_URL")
                                                      or self.profile.status_webhook_url("webstore"))
            env["OMS_WEBSTORE_STATUS_WEBHOOK_SECRET"] = (os.environ.get("OMS_WEBSTORE_STATUS_WEBHOOK_SECRET")
                                                         or DEMO_STATUS_WEBHOOK_SECRET)
        if spec.name == "shipping":  # carriers that book through an API: the stack's courier simulator unless given
            env["OMS_CARRIER_API_BASE_URL"] = os.environ.get("OMS_CARRIER_API_BASE_URL") or self.profile.carriers_url
            for code in DEMO_API_CARRIERS:
                env[f"OMS_CARRIER_API_KEY_{code}"] = (os.environ.get(f"OMS_CARRIER_API_KEY_{code}")
                                                     or f"{code.lower()}-demo-key")
            env.update({name: value for name, value in os.environ.items() if name.startswith("OMS_CARRIER_API_URL_")})
        env.update(trace_file_env(self.profile, spec.name, enabled=self.trace_files, extra_env=self.extra_env))
        # the seller's rules as data: the tenant's files (the packages' own demo ones unless given a folder)
        for name in ("OMS_TENANT", "OMS_ORDER_RULES_DIR", "OMS_ROUTING_RULES_DIR", "OMS_RETURN_POLICY_FILE",
                     "OMS_SHIPPING_CARRIERS_FILE"):
            if os.environ.get(name):
                env[name] = os.environ[name]
        env.update(self.extra_env)
        return env


    def simulators_process(self) -> ManagedProcess:
        port = self.profile.http_base_port + SIMULATORS_OFFSET
        env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_")}
        env.update({"OMS_PAYMENT_PROVIDER_KEY": os.environ.get("OMS_PAYMENT_PROVIDER_KEY") or DEMO_PAYMENT_PROVIDER_KEY,
                    # the mail relay's SMTP server, and the key the webstore's status webhook is checked with
                    "OMS_MAIL_SIMULATOR_SMTP_PORT": str(self.profile.mail_simulator_smtp_port),
                    "OMS_WEBSTORE_STATUS_WEBHOOK_SECRET": (os.environ.get("OMS_WEBSTORE_STATUS_WEBHOOK_SECRET")
                                                           or DEMO_STATUS_WEBHOOK_SECRET),
                    # the key the simulated ERP checks the erp-bridge's documents with (the bridge's, above)
                    "OMS_ERP_WEBHOOK_SECRET": os.environ.get("OMS_ERP_WEBHOOK_SECRET") or DEMO_ERP_WEBHOOK_SECRET,
                    # the simulated couriers post tracking to shipping (Simulated Express in EasyPost's shape;
                    # Fastr's is polled); their parcels move on their own when the caller asks for autoplay
                    "OMS_CARRIER_SIMULATOR_WEBHOOKS": json.dumps({"SIMEX": {
                        "url": self.profile.url("shipping") + "/v1/carriers/SIMEX/webhooks/easypost",
                        "shape": "easypost"}}),
                    "PYTHONUNBUFFERED": "1"})
        env.update({name: value for name, value in os.environ.items()
                    if name.startswith(("OMS_CARRIER_SIMULATOR_", "OMS_AMAZON_SIMULATOR_"))})
        return ManagedProcess(
            name=SIMULATORS, argv=[sys.executable, "-m", "uvicorn", "--factory",
                                   "oms_cli.simulators.stack_simulators:stack_simulators",
                                   "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env=env, cwd=str(project_root()), log_path=self.profile.run_dir / "logs" / "simulators.log",
            health_url=f"http://127.0.0.1:{port}/health")

    def process_for(self, spec: ServiceSpec) -> ManagedProcess:
        return ManagedProcess(
            name=spec.name, argv=[sys.executable, "-m", spec.module], env=self.service_env(spec),
            cwd=str(project_root()), log_path=self.profile.run_dir / "logs" / f"{spec.name}.log",
            health_url=f"{self.profile.url(spec.name)}/health/ready",
        )

    def relay_process_for(self, spec: ServiceSpec) -> ManagedProcess:
        port = self.profile.http_port(spec.name) + 10
        env = {**self.service_env(spec), "OMS_ROLE": "relay", "OMS_HTTP_PORT": str(port),
               **trace_file_env(self.profile, f"{spec.name}-relay", enabled=self.trace_files,
                                extra_env=self.extra_env)}  # (a file per process, named after it)
        return ManagedProcess(
            name=f"{spec.name}-relay", argv=[sys.executable, "-m", spec.module], env=env, cwd=str(project_root()),
            log_path=self.profile.run_dir / "logs" / f"{spec.name}-relay.log",
            health_url=f"http://127.0.0.1:{port}/health/ready")

    def process_names(self) -> list[str]:
        names = [s.name for s in SERVICES]
        return names + [f"{n}-relay" for n in names] if self.separate_relays else names

    def start_services(self, names: list[str] | None = None, timeout: float = 90) -> None:
        if names is None and SIMULATORS not in self.supervisor.running():
            self.supervisor.start(self.simulators_process())
        for spec in SERVICES:
            if names is None or spec.name in names:
                process = self.process_for(spec)
                if self.separate_relays:
                    process.env["OMS_ROLE"] = "worker"
                    self.supervisor.start(self.relay_process_for(spec))
                self.supervisor.start(process)
        self.supervisor.wait_healthy(timeout)

    def restart_service(self, name: str, *, env: dict[str, str] | None = None, timeout: float = 90) -> None:
        """``kill -9`` one service's process (a crash, for fault tests) and start it again, with ``env`` over its
        usual environment (a setting changed on restart; none: as before), waiting until it is healthy."""
        self.supervisor.kill(name)
        self.supervisor.stop(name)  # (gone already: forgets it)
        process = self.process_for(SERVICE_BY_NAME[name])
        if self.separate_relays:
            process.env["OMS_ROLE"] = "worker"
        process.env.update(env or {})
        self.supervisor.start(process)
        self.supervisor.wait_healthy(timeout, names=[name])

    def stop_services(self) -> None:
        self.supervisor.stop_all()
