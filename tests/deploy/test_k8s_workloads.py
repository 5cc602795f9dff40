"""How the overlays run the seven services: in production KEDA scales each consuming service on the lag of
exactly the consumer groups and topics the service consumes (read from the services' own subscriptions and
bootstraps), the pods spread over nodes, requests grow, every pod has a disruption budget and Prometheus
scrapes them all; in dev one small pod each and nothing scales."""

from __future__ import annotations

import re
from importlib.util import find_spec
from inspect import signature
from pathlib import Path

import pytest
from channel_gateway.adapters.subscriptions import acknowledgement_handlers, stock_feed_handlers
from cluster_manifests import deployment_pods, matches, of_kind
from erp_bridge.adapters.subscriptions import erp_handlers, vendor_order_handlers
from inventory_ledger.adapters.subscriptions import inventory_handlers
from order_orchestrator.adapters.subscriptions import order_handlers
from order_router.adapters.subscriptions import routing_handlers, stock_view_handlers
from returns_service.adapters.subscriptions import return_handlers
from shipping.adapters.notification_subscriptions import notification_handlers
from shipping.adapters.subscriptions import shipment_handlers

from oms_cli.stack import SERVICES
from oms_contracts.topics import TOPICS_BY_NAME, topic_for_message
from oms_platform.settings import ServiceSettings

pytestmark = pytest.mark.unit

SERVICE_NAMES = [s.name for s in SERVICES]
# each service's Kafka consumers: the suffix its bootstrap puts after the group that
# ServiceSettings.consumer_group() computes ("" for the consumer assemble_service wires), and the factory of
# the consumer's handlers
CONSUMERS = {
    "channel-gateway": [("", acknowledgement_handlers), ("-stock-feed", stock_feed_handlers)],
    "order-orchestrator": [("", order_handlers)],
    "inventory-ledger": [("", inventory_handlers)],
    "router": [("", routing_handlers), ("-stock-view", stock_view_handlers)],
    "shipping": [("", shipment_handlers), ("-notifications", notification_handlers)],
    "returns": [("", return_handlers)],
    "erp-bridge": [("", erp_handlers), ("-vendor-orders", vendor_order_handlers)],
}
# the HTTP front door scales on CPU: its consumers (stock feed, acknowledgements) gather by design, off the
# order's path
SCALED_ON_CPU = {"channel-gateway"}


def bootstrap_source(factory) -> str:
    package = factory.__module__.split(".")[0]
    return Path(find_spec(f"{package}.bootstrap").origin).read_text()


def consumed(service: str) -> set[tuple[str, str]]:
    """(consumer group, topic) of every consumer of the service, as it runs in the cluster."""
    group = ServiceSettings(service=service, consumer_group_suffix="").consumer_group()
    pairs = set()
    for suffix, factory in CONSUMERS[service]:
        handlers = factory(*[None] * len(signature(factory).parameters))
        pairs |= {(group + suffix, topic_for_message(message).name) for message in handlers}
    return pairs


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_the_consumers_listed_are_the_ones_the_service_runs(service):
    (main_factory,) = [f for suffix, f in CONSUMERS[service] if suffix == ""]
    source = bootstrap_source(main_factory)
    assert re.search(rf'^SERVICE = "{re.escape(service)}"$', source, re.MULTILINE)
    assert re.search(rf"handlers\s*=\s*{main_factory.__name__}\(", source), "assemble_service's consumer"
    extra = [(suffix, f) for suffix, f in CONSUMERS[service] if suffix]
    for suffix, factory in extra:
        group = rf'f"{{SERVICE}}{re.escape(suffix)}{{settings\.consumer_group_suffix}}",'
        assert re.search(group + rf"\s*{factory.__name__}\(", source), f"the consumer of {service}{suffix}"
    assert source.count("MessageConsumer(") == len(extra), "a consumer of the bootstrap not listed here"


def test_the_cluster_keeps_the_group_and_topic_names_the_scalers_watch(overlays):
    for built in overlays.values():
        (config,) = of_kind(built, "ConfigMap").values()
        for deployment in of_kind(built, "Deployment").values():
            (container,) = deployment["spec"]["template"]["spec"]["containers"]
            settings = set(config["data"]) | {e["name"] for e in container["env"]}
            assert not settings & {"OMS_CONSUMER_GROUP_SUFFIX", "OMS_TOPIC_NAMESPACE"}


@pytest.mark.parametrize("service", sorted(set(SERVICE_NAMES) - SCALED_ON_CPU))
def test_keda_scales_the_service_on_the_lag_of_every_group_and_topic_it_consumes(overlays, service):
    built = overlays["production"]
    scaled = of_kind(built, "ScaledObject")[service]
    (kafka,) = of_kind(built, "Kafka").values()
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    # KEDA's operator runs in its own namespace: the bootstrap service by its namespaced name
    metadata = kafka["metadata"]
    bootstrap = f"{metadata['name']}-kafka-bootstrap.{metadata['namespace']}.svc:{listener['port']}"
    triggers = [t["metadata"] for t in scaled["spec"]["triggers"] if t["type"] == "kafka"]
    assert {(t["consumerGroup"], t["topic"]) for t in triggers} == consumed(service)
    assert len(triggers) == len(consumed(service)), "one trigger per group and topic"
    for trigger in triggers:
        assert trigger["bootstrapServers"] == bootstrap
        assert int(trigger["lagThreshold"]) > 0
        # the consumer starts a group without offsets from the beginning: all of that is lag
        assert trigger["offsetResetPolicy"] == "earliest"
    source = Path(find_spec("oms_platform.consumer").origin).read_text()
    assert 'auto_offset_reset="earliest"' in source
    # more pods than a topic has partitions would sit idle
    partitions = max(TOPICS_BY_NAME[t["topic"]].partitions for t in triggers)
    assert 2 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"] <= partitions
    (cpu,) = [t for t in scaled["spec"]["triggers"] if t["type"] == "cpu"]
    assert cpu["metricType"] == "Utilization" and 0 < int(cpu["metadata"]["value"]) <= 100


def test_the_http_front_door_scales_on_cpu(overlays):
    built = overlays["production"]
    for service in SCALED_ON_CPU:
        hpa = of_kind(built, "HorizontalPodAutoscaler")[service]
        assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
        assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"] >= 2
        assert service not in of_kind(built, "ScaledObject")


def test_every_autoscaler_targets_a_deployment_of_the_overlay(overlays):
    built = overlays["production"]
    deployments = set(of_kind(built, "Deployment"))
    targets = [s["spec"]["scaleTargetRef"]["name"] for s in of_kind(built, "ScaledObject").values()]
    hpas = of_kind(built, "HorizontalPodAutoscaler").values()
    targets += [h["spec"]["scaleTargetRef"]["name"] for h in hpas]
    assert sorted(targets) == sorted(deployments)
    dev = overlays["dev"]
    assert not of_kind(dev, "ScaledObject") and not of_kind(dev, "HorizontalPodAutoscaler")


def quantity(value) -> float:
    """A Kubernetes quantity as a number (cores, bytes)."""
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "": 1}
    number, unit = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(value)).groups()
    return float(number) * units[unit]


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_production_requests_more_than_dev_and_every_pod_has_a_disruption_budget(overlays, service):
    requests = {}
    for overlay, built in overlays.items():
        deployment = of_kind(built, "Deployment")[service]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        resources = container["resources"]
        for resource in ("cpu", "memory"):
            assert quantity(resources["requests"][resource]) <= quantity(resources["limits"][resource])
        requests[overlay] = {r: quantity(v) for r, v in resources["requests"].items()}
        (pdb,) = [p for p in of_kind(built, "PodDisruptionBudget").values()
                  if matches(p["spec"]["selector"], deployment["spec"]["template"]["metadata"]["labels"])]
        assert pdb["spec"]["maxUnavailable"] == 1  # a drain goes on, one pod at a time
    assert requests["production"]["cpu"] > requests["dev"]["cpu"]
    assert requests["production"]["memory"] > requests["dev"]["memory"]


def test_production_spreads_every_service_kafka_and_postgresql_over_nodes(overlays):
    production, dev = overlays["production"], overlays["dev"]
    for name, deployment in of_kind(production, "Deployment").items():
        pod = deployment["spec"]["template"]
        terms = pod["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        by_topology = {t["podAffinityTerm"]["topologyKey"]: t["podAffinityTerm"] for t in terms}
        assert set(by_topology) == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
        for term in by_topology.values():
            # the selector plus the pod's own name label picks exactly this service's pods
            selector = dict(term["labelSelector"]["matchLabels"])
            selector.update({key: pod["metadata"]["labels"][key] for key in term["matchLabelKeys"]})
            assert selector == {"app.kubernetes.io/part-of": "oms", "app.kubernetes.io/name": name}
    for name in of_kind(dev, "Deployment"):
        assert "affinity" not in of_kind(dev, "Deployment")[name]["spec"]["template"]["spec"]
    (pool,) = of_kind(production, "KafkaNodePool").values()
    (term,) = pool["spec"]["template"]["pod"]["affinity"]["podAntiAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"] == {
        "strimzi.io/cluster": pool["metadata"]["labels"]["strimzi.io/cluster"],
        "strimzi.io/pool-name": pool["metadata"]["name"]}
    (cluster,) = of_kind(production, "Cluster").values()
    assert cluster["spec"]["affinity"]["podAntiAffinityType"] == "required"


def test_dev_is_single_instance_and_drainable(overlays):
    dev = overlays["dev"]
    (cluster,) = of_kind(dev, "Cluster").values()
    assert cluster["spec"]["instances"] == 1 and cluster["spec"]["enablePDB"] is False
    (claim,) = of_kind(dev, "PersistentVolumeClaim").values()
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]  # one gateway pod: any storage class
    (claim,) = of_kind(overlays["production"], "PersistentVolumeClaim").values()
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]  # every gateway replica watches the drop folders


def test_prometheus_scrapes_every_service_in_production(overlays):
    built = overlays["production"]
    (monitor,) = of_kind(built, "PodMonitor").values()
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["path"] == "/metrics"
    pods = deployment_pods(built)
    scraped = {name for name, pod in pods.items() if matches(monitor["spec"]["selector"], pod.labels)}
    assert scraped == set(SERVICE_NAMES)
    assert all(endpoint["port"] in pod.ports for pod in pods.values())
    assert not of_kind(overlays["dev"], "PodMonitor")
