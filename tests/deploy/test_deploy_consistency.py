"""docker-compose.yml and deploy/k8s agree with the code: the topic registry, the seven services,
their modules, ports and databases. Reading files only: no Docker, no cluster. deploy/k8s is a Kustomize base
and two overlays (dev, production); the checks of the cluster read what each overlay builds to
(kustomize_build.py, the conftest's `overlays`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

from cluster_manifests import K8S, OVERLAYS, ROOT, of_kind  # noqa: E402

from oms_cli.stack import SERVICES  # noqa: E402
from oms_contracts.topics import ALL_TOPICS  # noqa: E402

pytestmark = pytest.mark.unit

# what each overlay runs: Kafka nodes (and so topic replicas), PostgreSQL instances
KAFKA_NODES = {"dev": 1, "production": 3}
POSTGRES_INSTANCES = {"dev": 1, "production": 3}
REGISTRY = {t.name: t.partitions for t in ALL_TOPICS}
SERVICE_NAMES = [s.name for s in SERVICES]


def http_port(spec) -> int:
    return 8000 + spec.port_offset


def database(name: str) -> str:
    return "oms_" + name.replace("-", "_")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def manifest_files(directory: Path) -> set[str]:
    files = [*directory.rglob("*.yaml"), *directory.rglob("*.yml")]
    return {p.relative_to(directory).as_posix() for p in files}


def kustomization(directory: Path) -> dict:
    return yaml.safe_load((directory / "kustomization.yaml").read_text())


def test_base_kustomization_lists_every_manifest():
    base = K8S / "base"
    assert sorted(kustomization(base)["resources"]) == sorted(manifest_files(base) - {"kustomization.yaml"})


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_kustomization_uses_the_base_and_every_file_of_its_own(overlay):
    directory = K8S / "overlays" / overlay
    declared = kustomization(directory)
    assert declared["resources"][0] == "../../base"
    patch_files = {p["path"] for p in declared.get("patches", []) if "path" in p}
    assert all((directory / p).is_file() for p in patch_files)
    own = manifest_files(directory) - {"kustomization.yaml"}
    assert sorted(declared["resources"][1:]) == sorted(own - patch_files), "a file neither resource nor patch"
    assert set(manifest_files(K8S)) == {f"base/{f}" for f in manifest_files(K8S / "base")} | {
        f"overlays/{o}/{f}" for o in OVERLAYS for f in manifest_files(K8S / "overlays" / o)}, \
        "manifests outside base/ and the overlays"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_namespaced_resources_are_in_oms(overlays, overlay):
    for doc in overlays[overlay]:
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == "oms"
        else:
            assert doc["metadata"].get("namespace") == "oms", f"{doc['kind']} {doc['metadata']['name']}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_topics_match_the_registry(overlays, overlay):
    k8s = overlays[overlay]
    kafka_clusters = set(of_kind(k8s, "Kafka"))
    declared: dict[str, int] = {}
    for doc in of_kind(k8s, "KafkaTopic").values():
        name = doc["spec"].get("topicName") or doc["metadata"]["name"]
        assert name not in declared, f"topic {name} declared twice"
        declared[name] = doc["spec"]["partitions"]
        assert doc["spec"]["replicas"] == KAFKA_NODES[overlay], name
        assert doc["metadata"]["labels"]["strimzi.io/cluster"] in kafka_clusters, name
    assert declared == REGISTRY


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_is_kraft_with_a_node_pool(overlays, overlay):
    k8s = overlays[overlay]
    (kafka,) = of_kind(k8s, "Kafka").values()
    pools = [p for p in of_kind(k8s, "KafkaNodePool").values()
             if p["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]]
    assert pools and {"controller", "broker"} <= {r for p in pools for r in p["spec"]["roles"]}
    config = kafka["spec"]["kafka"]["config"]
    assert config["auto.create.topics.enable"] is False
    # every replication factor fits the brokers there are, and a write survives one broker fewer in production
    nodes = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    assert nodes == KAFKA_NODES[overlay]
    for setting in ("default.replication.factor", "offsets.topic.replication.factor",
                    "transaction.state.log.replication.factor"):
        assert config[setting] == nodes, setting
    assert config["min.insync.replicas"] == config["transaction.state.log.min.isr"] == max(1, nodes - 1)


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


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("spec", SERVICES, ids=SERVICE_NAMES)
def test_k8s_service(overlays, compose, overlay, spec):
    k8s = overlays[overlay]
    name = spec.name
    deployment = of_kind(k8s, "Deployment")[name]
    service = of_kind(k8s, "Service")[name]
    pdb = of_kind(k8s, "PodDisruptionBudget")[name]
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
    # Prometheus (these annotations, and a PodMonitor in production) finds GET /metrics on the HTTP port
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == compose_port
    assert annotations["prometheus.io/path"] == "/metrics"

    for selector in (deployment["spec"]["selector"]["matchLabels"], service["spec"]["selector"],
                     pdb["spec"]["selector"]["matchLabels"]):
        assert selector.items() <= labels.items()
    hpas = {n: h for n, h in of_kind(k8s, "HorizontalPodAutoscaler").items()
            if h["spec"]["scaleTargetRef"]["name"] == name}
    scaled = {n: s for n, s in of_kind(k8s, "ScaledObject").items()
              if s["spec"]["scaleTargetRef"]["name"] == name}
    if overlay == "dev":  # one pod, nothing scales it
        assert deployment["spec"]["replicas"] == 1
        assert not hpas and not scaled
        return
    # production: the autoscaler owns the count; exactly one of them (KEDA makes an HPA of its own)
    assert "replicas" not in deployment["spec"]
    assert len(hpas) + len(scaled) == 1, (hpas, scaled)
    for hpa in hpas.values():
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
        assert hpa["spec"]["minReplicas"] >= 2
    for scaled_object in scaled.values():
        assert scaled_object["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                                           "name": name}
        assert scaled_object["spec"]["minReplicaCount"] >= 2


def test_postgres_init_script_creates_the_seven_databases():
    sql = "\n".join(p.read_text() for p in sorted((ROOT / "docker" / "postgres-init").glob("*.sql")))
    created = re.findall(r"CREATE\s+DATABASE\s+\"?(\w+)\"?", sql, flags=re.IGNORECASE)
    assert sorted(created) == sorted(database(name) for name in SERVICE_NAMES)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_cloudnativepg_creates_the_seven_databases(overlays, overlay):
    k8s = overlays[overlay]
    clusters = of_kind(k8s, "Cluster")
    (cluster,) = clusters.values()
    assert cluster["spec"]["instances"] == POSTGRES_INSTANCES[overlay]
    databases = [d["spec"] for d in of_kind(k8s, "Database").values()]
    assert all(d["cluster"]["name"] == cluster["metadata"]["name"] for d in databases)
    assert sorted(d["name"] for d in databases) == sorted(database(name) for name in SERVICE_NAMES)
