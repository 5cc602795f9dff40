"""Reading a built overlay: its resources by kind, and the pods its workloads and operators will run (the
labels and ports Strimzi and CloudNativePG give theirs), for the deploy tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "production")


def of_kind(resources: list[dict], kind: str) -> dict[str, dict]:
    """The resources of one kind by name; two of one kind and name is an error."""
    found: dict[str, dict] = {}
    for resource in resources:
        if resource.get("kind") == kind:
            name = resource["metadata"]["name"]
            assert name not in found, f"two {kind} named {name}"
            found[name] = resource
    return found


def matches(selector: dict | None, labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels and matchExpressions); an empty one selects everything."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


@dataclass(frozen=True)
class Pod:
    """A pod as a NetworkPolicy sees it: its namespace, labels and named container ports."""

    name: str
    namespace: str
    labels: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)
    numbers: frozenset[int] = frozenset()


def deployment_pods(resources: list[dict]) -> dict[str, Pod]:
    """One pod of each Deployment, by the Deployment's name."""
    pods = {}
    for name, deployment in of_kind(resources, "Deployment").items():
        template = deployment["spec"]["template"]
        container_ports = [p for c in template["spec"]["containers"] for p in c.get("ports", [])]
        ports = {p["name"]: p["containerPort"] for p in container_ports if "name" in p}
        numbers = frozenset(p["containerPort"] for p in container_ports)
        labels = dict(template["metadata"]["labels"])
        pods[name] = Pod(name, deployment["metadata"]["namespace"], labels, ports, numbers)
    return pods


def operator_pods(resources: list[dict]) -> dict[str, Pod]:
    """The pods the operators make of the built Kafka, KafkaNodePools and Cluster, with the labels Strimzi
    (strimzi.io/cluster, strimzi.io/name, the node pool's role labels) and CloudNativePG (cnpg.io/cluster) put
    on them."""
    pods = {}
    for name, kafka in of_kind(resources, "Kafka").items():
        namespace = kafka["metadata"]["namespace"]
        common = {"strimzi.io/cluster": name, "strimzi.io/kind": "Kafka"}
        for pool_name, pool in of_kind(resources, "KafkaNodePool").items():
            if pool["metadata"]["labels"]["strimzi.io/cluster"] != name:
                continue
            labels = {**common, "strimzi.io/name": f"{name}-kafka", "strimzi.io/pool-name": pool_name}
            for role in pool["spec"]["roles"]:
                labels[f"strimzi.io/{role}-role"] = "true"
            ports = {"tcp-ctrlplane": 9090, "tcp-replication": 9091, "tcp-kafkaagent": 8443}
            ports.update({f"tcp-{listener['name']}": listener["port"]
                          for listener in kafka["spec"]["kafka"]["listeners"]})
            pods[f"{name}-{pool_name}-0"] = Pod(f"{name}-{pool_name}-0", namespace, labels, ports,
                                                frozenset(ports.values()))
        if "entityOperator" in kafka["spec"]:
            pods[f"{name}-entity-operator"] = Pod(f"{name}-entity-operator", namespace,
                                                  {**common, "strimzi.io/name": f"{name}-entity-operator"})
    for name, cluster in of_kind(resources, "Cluster").items():
        labels = {"cnpg.io/cluster": name, "cnpg.io/podRole": "instance", "cnpg.io/instanceRole": "primary"}
        ports = {"postgresql": 5432, "status": 8000, "metrics": 9187}
        pods[f"{name}-1"] = Pod(f"{name}-1", cluster["metadata"]["namespace"], labels, ports,
                                frozenset(ports.values()))
    return pods
