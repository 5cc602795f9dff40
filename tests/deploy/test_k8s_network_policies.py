"""The NetworkPolicies of each built overlay, evaluated as Kubernetes does (a pod is isolated in a direction
as soon as a policy of that direction selects it; a connection passes when the source's egress and the
destination's ingress both allow it) on the pods the overlay runs, the operators' pods and the add-ons around
them: every pod of the namespace is isolated both ways, and exactly the intended connections pass."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pytest
from cluster_manifests import OVERLAYS, Pod, deployment_pods, matches, of_kind, operator_pods

from oms_cli.stack import SERVICES

pytestmark = pytest.mark.unit

SERVICE_NAMES = [s.name for s in SERVICES]
NAMESPACE_LABELS = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Address:
    """A destination outside the cluster's pods (a carrier's API, the Kubernetes API server)."""

    ip: str


class Network:
    """The NetworkPolicies of one namespace applied to a set of pods and addresses."""

    def __init__(self, policies: list[dict]):
        self.policies = policies

    def selecting(self, pod: Pod, direction: str) -> list[dict]:
        return [p for p in self.policies if p["metadata"]["namespace"] == pod.namespace
                and matches(p["spec"]["podSelector"], pod.labels)
                and direction in p["spec"].get("policyTypes", ["Ingress"])]

    @staticmethod
    def _peer_matches(peer: dict, policy_namespace: str, other: Pod | Address) -> bool:
        if "ipBlock" in peer:
            if not isinstance(other, Address):
                return False
            ip = ipaddress.ip_address(other.ip)
            block = peer["ipBlock"]
            return ip in ipaddress.ip_network(block["cidr"]) and not any(
                ip in ipaddress.ip_network(e) for e in block.get("except", []))
        if not isinstance(other, Pod):
            return False
        if "namespaceSelector" in peer:
            if not matches(peer["namespaceSelector"], {NAMESPACE_LABELS: other.namespace}):
                return False
        elif other.namespace != policy_namespace:
            return False
        return matches(peer.get("podSelector"), other.labels)

    @staticmethod
    def _port_matches(ports: list[dict] | None, destination: Pod | Address, protocol: str, port: int) -> bool:
        if not ports:
            return True
        for rule in ports:
            if rule.get("protocol", "TCP") != protocol:
                continue
            wanted = rule.get("port")
            if wanted is None:
                return True
            if isinstance(wanted, str):  # a named port of the destination pod
                if isinstance(destination, Pod) and destination.ports.get(wanted) == port:
                    return True
            elif wanted <= port <= rule.get("endPort", wanted):
                return True
        return False

    def _allowed(self, pod: Pod, direction: str, other: Pod | Address, destination: Pod | Address,
                 protocol: str, port: int) -> bool:
        policies = self.selecting(pod, direction)
        if not policies:
            return True
        rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        for policy in policies:
            namespace = policy["metadata"]["namespace"]
            for rule in policy["spec"].get(rules_key) or []:
                peers = rule.get(peers_key)
                if (not peers or any(self._peer_matches(p, namespace, other) for p in peers)) \
                        and self._port_matches(rule.get("ports"), destination, protocol, port):
                    return True
        return False

    def connects(self, source: Pod, destination: Pod | Address, port: int, protocol: str = "TCP") -> bool:
        if isinstance(destination, Pod) and port not in destination.numbers:
            raise AssertionError(f"{destination.name} does not listen on {port}")
        egress = self._allowed(source, "Egress", destination, destination, protocol, port)
        if isinstance(destination, Address):
            return egress
        return egress and self._allowed(destination, "Ingress", source, destination, protocol, port)


# the add-ons around the namespace, with the labels they run with
DNS = Pod("coredns", "kube-system", {"k8s-app": "kube-dns"}, {"dns": 53}, frozenset({53}))
PROMETHEUS = Pod("prometheus", "monitoring", {"app.kubernetes.io/name": "prometheus"})
INGRESS_CONTROLLER = Pod("ingress-nginx-controller", "ingress-nginx",
                         {"app.kubernetes.io/name": "ingress-nginx"})
KEDA = Pod("keda-operator", "keda", {"app.kubernetes.io/name": "keda-operator"})
STRIMZI = Pod("strimzi-cluster-operator", "strimzi", {"strimzi.io/kind": "cluster-operator"})
CNPG = Pod("cnpg-controller-manager", "cnpg-system", {"app.kubernetes.io/name": "cloudnative-pg"})
COLLECTOR = Pod("otel-collector", "observability", {"app.kubernetes.io/name": "otel-collector"},
                {"otlp-http": 4318}, frozenset({4318}))
# the right label in the wrong namespace
STRANGER = Pod("stranger", "other-team", {"app.kubernetes.io/name": "channel-gateway"})
DEBUG = Pod("debug", "oms", {"run": "debug"})  # an unlabelled pod someone starts in the namespace
CARRIER_API = Address("203.0.113.10")
SMTP_RELAY = Address("198.51.100.25")
API_SERVER = Address("10.0.0.1")
PRIVATE_HOST = Address("10.20.30.40")

CALLS_OUTSIDE = {"channel-gateway", "order-orchestrator", "shipping", "erp-bridge"}
BEHIND_INGRESS = {"channel-gateway", "order-orchestrator", "shipping", "erp-bridge"}
# service -> the services it calls over HTTP (OMS_LEDGER_URL)
CALLS = {("erp-bridge", "inventory-ledger"), ("order-orchestrator", "inventory-ledger")}


@pytest.fixture(scope="module", params=OVERLAYS)
def cluster(request, overlays):
    built = overlays[request.param]
    network = Network(list(of_kind(built, "NetworkPolicy").values()))
    services = deployment_pods(built)
    operated = operator_pods(built)
    broker = next(p for p in operated.values() if p.labels.get("strimzi.io/broker-role") == "true")
    entity_operator = next(p for n, p in operated.items() if n.endswith("entity-operator"))
    postgres = next(p for p in operated.values() if "cnpg.io/cluster" in p.labels)
    return network, services, broker, entity_operator, postgres


def port(pod: Pod) -> int:
    return pod.ports["http"]


def test_every_pod_of_the_namespace_is_isolated_both_ways_and_allowed_something(cluster):
    network, services, broker, entity_operator, postgres = cluster
    assert set(services) == set(SERVICE_NAMES)
    for pod in [*services.values(), broker, entity_operator, postgres, DEBUG]:
        for direction in ("Ingress", "Egress"):
            assert any(not p["spec"].get(direction.lower()) for p in network.selecting(pod, direction)), \
                f"{pod.name}: no default deny of {direction}"
    for pod in [*services.values(), broker, entity_operator, postgres]:
        allowing = [p for p in network.selecting(pod, "Egress") if p["metadata"]["name"] != "default-deny"]
        assert allowing, pod.name


def test_every_pod_resolves_names_and_only_through_kube_dns(cluster):
    network, services, broker, entity_operator, postgres = cluster
    for pod in [*services.values(), broker, entity_operator, postgres, DEBUG]:
        assert network.connects(pod, DNS, 53, "UDP") and network.connects(pod, DNS, 53, "TCP"), pod.name
    assert not network.connects(services["router"], Address("8.8.8.8"), 53, "UDP")


def test_the_services_reach_kafka_postgresql_and_the_trace_collector(cluster):
    network, services, broker, _, postgres = cluster
    for name, pod in services.items():
        assert network.connects(pod, broker, 9092), name
        assert network.connects(pod, postgres, 5432), name
        assert network.connects(pod, COLLECTOR, 4318), name
        # and nothing else of them: not the brokers' inner listeners, not the instance manager
        assert not network.connects(pod, broker, 9091), name
        assert not network.connects(pod, broker, 9090), name
        assert not network.connects(pod, postgres, 8000), name


def test_service_to_service_http_only_where_a_service_calls_another(cluster):
    network, services, *_ = cluster
    for source in SERVICE_NAMES:
        for destination in SERVICE_NAMES:
            if source != destination:
                expected = (source, destination) in CALLS
                assert network.connects(services[source], services[destination],
                                        port(services[destination])) is expected, (source, destination)


def test_from_outside_the_namespace_only_the_ingress_controller_and_prometheus(cluster):
    network, services, broker, _, postgres = cluster
    for name, pod in services.items():
        assert network.connects(INGRESS_CONTROLLER, pod, port(pod)) is (name in BEHIND_INGRESS), name
        assert network.connects(PROMETHEUS, pod, port(pod)), name
        assert not network.connects(STRANGER, pod, port(pod)), name
        assert not network.connects(DEBUG, pod, port(pod)), name
        assert not network.connects(KEDA, pod, port(pod)), name
    for intruder in (STRANGER, DEBUG, INGRESS_CONTROLLER, PROMETHEUS):
        assert not network.connects(intruder, broker, 9092), intruder.name
        assert not network.connects(intruder, postgres, 5432), intruder.name


def test_outside_parties_only_for_the_services_that_call_them_and_never_private_addresses(cluster):
    network, services, *_ = cluster
    for name, pod in services.items():
        assert network.connects(pod, CARRIER_API, 443) is (name in CALLS_OUTSIDE), name
        assert not network.connects(pod, CARRIER_API, 80), name
        assert not network.connects(pod, PRIVATE_HOST, 443), name
        assert not network.connects(pod, API_SERVER, 443), name
        for smtp in (25, 465, 587):
            assert network.connects(pod, SMTP_RELAY, smtp) is (name == "shipping"), (name, smtp)


def test_kafka_among_its_nodes_from_its_operator_and_keda(cluster):
    network, _, broker, entity_operator, _ = cluster
    for inner in (9090, 9091):
        assert network.connects(broker, broker, inner)
        assert network.connects(STRIMZI, broker, inner)
    assert network.connects(entity_operator, broker, 9091)
    assert network.connects(KEDA, broker, 9092)  # consumer lag, for the ScaledObjects
    assert network.connects(entity_operator, API_SERVER, 6443)
    assert network.connects(entity_operator, API_SERVER, 443)
    assert not network.connects(broker, API_SERVER, 443)
    assert not network.connects(broker, CARRIER_API, 443)


def test_postgresql_among_its_instances_from_its_operator_and_to_the_api(cluster):
    network, services, _, _, postgres = cluster
    assert network.connects(postgres, postgres, 5432)
    assert network.connects(CNPG, postgres, 8000) and network.connects(CNPG, postgres, 5432)
    assert network.connects(postgres, API_SERVER, 443)
    assert not network.connects(STRIMZI, postgres, 8000)
    assert not network.connects(postgres, services["router"], port(services["router"]))


def test_the_kafka_listener_admits_the_same_peers_as_the_policies(overlays):
    """Strimzi generates a policy of its own for each listener from networkPolicyPeers: the same peers."""
    for built in overlays.values():
        (kafka,) = of_kind(built, "Kafka").values()
        (listener,) = kafka["spec"]["kafka"]["listeners"]
        peers = listener["networkPolicyPeers"]
        policy = of_kind(built, "NetworkPolicy")["kafka"]
        listener_port = [{"protocol": "TCP", "port": listener["port"]}]
        (rule,) = [r for r in policy["spec"]["ingress"] if r.get("ports") == listener_port]
        assert rule["from"] == peers
        names = set(peers[0]["podSelector"]["matchExpressions"][0]["values"])
        assert names == set(SERVICE_NAMES)


def test_a_policy_that_lets_too_much_in_is_noticed(cluster):
    """The evaluator is not blind: a policy opening every service to every pod breaks the expectations."""
    network, services, *_ = cluster
    wide_open = {"metadata": {"name": "wide-open", "namespace": "oms"},
                 "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
                          "ingress": [{}], "egress": [{}]}}
    opened = Network([*network.policies, wide_open])
    assert opened.connects(services["router"], services["returns"], port(services["returns"]))
    assert opened.connects(STRANGER, services["inventory-ledger"], port(services["inventory-ledger"]))
    assert not network.connects(services["router"], services["returns"], port(services["returns"]))
