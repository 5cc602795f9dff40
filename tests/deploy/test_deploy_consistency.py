"""docker-compose.yml and deploy/k8s agree with the code: the topic registry, the seven services,
their modules, ports and databases. Reading files only: no Docker, no cluster."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

from oms_cli.stack import SERVICES  # noqa: E402
from oms_contracts.topics import ALL_TOPICS  # noqa: E402

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
REGISTRY = {t.name: t.partitions for t in ALL_TOPICS}
SERVICE_NAMES = [s.name for s in SERVICES]


def http_port(spec) -> int:
    return 8000 + spec.port_offset


def database(name: str) -> str:
    return "oms_" + name.replace("-", "_")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def k8s() -> list[dict]:
    docs = []
    for path in sorted([*K8S.rglob("*.yaml"), *K8S.rglob("*.yml")]):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                doc["__file__"] = path.relative_to(K8S).as_posix()
                docs.append(doc)
    return docs


def of_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for doc in docs:
        if doc.get("kind") == kind:
            name = doc["metadata"]["name"]
            assert name not in found, f"two {kind} named {name}"
            found[name] = doc
    return found


def test_kustomization_lists_every_manifest(k8s):
    (kustomization,) = [d for d in k8s if d.get("kind") == "Kustomization"]
    files = {d["__file__"] for d in k8s if d.get("kind") != "Kustomization"}
    assert sorted(kustomization["resources"]) == sorted(files)


def test_namespaced_resources_are_in_oms(k8s):
    for doc in k8s:
        if doc.get("kind") not in ("Kustomization", "Namespace"):
            assert doc["metadata"].get("namespace") == "oms", f"{doc['kind']} {doc['metadata']['name']}"


def test_kafka_topics_match_the_registry(k8s):
    kafka_clusters = set(of_kind(k8s, "Kafka"))
    declared: dict[str, int] = {}
    for doc in of_kind(k8s, "KafkaTopic").values():
        name = doc["spec"].get("topicName") or doc["metadata"]["name"]
        assert name not in declared, f"topic {name} declared twice"
        declared[name] = doc["spec"]["partitions"]
        assert doc["spec"]["replicas"] == 3, name
        assert doc["metadata"]["labels"]["strimzi.io/cluster"] in kafka_clusters, name
    assert declared == REGISTRY


def test_kafka_is_kraft_with_a_node_pool(k8s):
    (kafka,) = of_kind(k8s, "Kafka").values()
    pools = [p for p in of_kind(k8s, "KafkaNodePool").values()
             if p["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]]
    assert pools and {"controller", "broker"} <= {r for p in pools for r in p["spec"]["roles"]}
    assert kafka["spec"]["kafka"]["config"]["auto.create.topics.enable"] is False


def test_compose_topics_service_creates_exactly_the_registry(compose):
    topics = compose["services"]["topics"]
    assert topics["image"] == compose["services"]["kafka"]["image"]
    script = "\n".join(topics["command"]) if isinstance(topics["command"], list) else topics["command"]
    commands = [line for line in script.splitlines() if "kafka-topics.sh" in line]
    created: dict[str, int] = {}
    for line in commands:
        assert "--create" in line and "--if-not-exists" in line, line
        match = re.search(r"--topic\s+(\S+)\s+--partitions\s+(\d+)", line)
        assert match, line
        assert match[1] not in created, f"topic {match[1]} created twice"
        created[match[1]] = int(match[2])
    assert created == REGISTRY


def test_compose_kafka_is_single_node_kraft(compose):
    env = compose["services"]["kafka"]["environment"]
    assert compose["services"]["kafka"]["image"] == "apache/kafka:3.9.1"
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert str(env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]).lower() == "false"
    assert "healthcheck" in compose["services"]["kafka"]


@pytest.mark.parametrize("spec", SERVICES, ids=SERVICE_NAMES)
def test_compose_service(compose, spec):
    service = compose["services"][spec.name]
    env = service["environment"]
    port = http_port(spec)
    assert service["command"] == ["python", "-m", spec.module]
    assert service["build"]["dockerfile"] == "docker/Dockerfile"
    assert env["OMS_SERVICE"] == spec.name
    assert env["OMS_PG_DATABASE"] == database(spec.name)
    assert env["OMS_HTTP_HOST"] == "0.0.0.0"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"
    assert int(env["OMS_HTTP_PORT"]) == port
    health = " ".join(service["healthcheck"]["test"])
    assert re.findall(r":(\d+)/health/ready", health) == [str(port)]
    assert service["ports"] == [f"127.0.0.1:{port}:{port}"]
    conditions = {k: v["condition"] for k, v in service["depends_on"].items()}
    assert conditions.items() >= {
        "kafka": "service_healthy", "topics": "service_completed_successfully", "postgres": "service_healthy"}.items()


def test_compose_runs_exactly_the_seven_services_and_the_simulators_from_the_image(compose):
    built = {name for name, s in compose["services"].items() if "build" in s}
    assert built == set(SERVICE_NAMES) | {"simulators"}
    simulators = compose["services"]["simulators"]
    port = simulators["ports"][0].rsplit(":", 1)[1]
    assert f"--port {port}" in " ".join(simulators["command"])
    at = f"http://simulators:{port}"
    env = {name: compose["services"][name]["environment"] for name in SERVICE_NAMES}
    # every outside party of the demo is the simulators' (each setting's default; the real ones replace them)
    for service, setting, path in (
            ("order-orchestrator", "OMS_PAYMENT_PROVIDER_URL", "/payments"),
            ("erp-bridge", "OMS_VENDOR_PORTAL_URL", "/vendors"),
            ("channel-gateway", "OMS_WEBSTORE_STOCK_FEED_URL", "/webstore/stock"),
            ("channel-gateway", "OMS_AMAZON_SP_API_ENDPOINT", "/amazon"),
            ("shipping", "OMS_AMAZON_SP_API_ENDPOINT", "/amazon"),
            ("shipping", "OMS_CARRIER_API_BASE_URL", "/carriers"),
            ("shipping", "OMS_SMS_GATEWAY_URL", "/sms/messages"),
            ("shipping", "OMS_WEBSTORE_STATUS_WEBHOOK_URL", "/status-webhooks/webstore")):
        assert env[service][setting].endswith(f":-{at}{path}}}"), (service, setting)
    assert env["shipping"]["OMS_SMTP_PORT"].endswith(f":-{simulators['environment']['OMS_MAIL_SIMULATOR_SMTP_PORT']}}}")
    # the simulated couriers post tracking to shipping's port
    shipping_port = env["shipping"]["OMS_HTTP_PORT"]
    webhooks = json.loads(simulators["environment"]["OMS_CARRIER_SIMULATOR_WEBHOOKS"])
    assert webhooks["SIMEX"]["url"].startswith(f"http://shipping:{shipping_port}/")


def container_port(container: dict, port) -> int:
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    return number


@pytest.mark.parametrize("spec", SERVICES, ids=SERVICE_NAMES)
def test_k8s_service(k8s, compose, spec):
    name = spec.name
    deployment = of_kind(k8s, "Deployment")[name]
    service = of_kind(k8s, "Service")[name]
    pdb = of_kind(k8s, "PodDisruptionBudget")[name]
    hpa = of_kind(k8s, "HorizontalPodAutoscaler")[name]
    compose_port = int(compose["services"][name]["environment"]["OMS_HTTP_PORT"])

    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    (container,) = pod["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert container["command"] == ["python", "-m", spec.module]
    assert env["OMS_SERVICE"] == name
    assert env["OMS_PG_DATABASE"] == database(name)
    assert int(env["OMS_HTTP_PORT"]) == compose_port
    for probe, path in (("readinessProbe", "/health/ready"), ("livenessProbe", "/health/live")):
        get = container[probe]["httpGet"]
        assert get["path"] == path
        assert container_port(container, get["port"]) == compose_port, probe
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    resources = container["resources"]
    assert resources["requests"] and resources["limits"]

    for selector in (deployment["spec"]["selector"]["matchLabels"], service["spec"]["selector"],
                     pdb["spec"]["selector"]["matchLabels"]):
        assert selector.items() <= labels.items()
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]


def test_postgres_init_script_creates_the_seven_databases():
    sql = "\n".join(p.read_text() for p in sorted((ROOT / "docker" / "postgres-init").glob("*.sql")))
    created = re.findall(r"CREATE\s+DATABASE\s+\"?(\w+)\"?", sql, flags=re.IGNORECASE)
    assert sorted(created) == sorted(database(name) for name in SERVICE_NAMES)


def test_cloudnativepg_creates_the_seven_databases(k8s):
    clusters = of_kind(k8s, "Cluster")
    (cluster,) = clusters.values()
    assert cluster["spec"]["instances"] == 3
    databases = [d["spec"] for d in of_kind(k8s, "Database").values()]
    assert all(d["cluster"]["name"] == cluster["metadata"]["name"] for d in databases)
    assert sorted(d["name"] for d in databases) == sorted(database(name) for name in SERVICE_NAMES)
