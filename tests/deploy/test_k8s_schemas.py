"""Every resource each overlay of deploy/k8s builds to is valid against its schema, strictly (an unknown
field fails, as kubectl's strict field validation would refuse it): Kubernetes' own kinds against the
OpenAPI schemas kubernetes-validate bundles, for a pinned Kubernetes version; the operators' custom
resources (Strimzi, CloudNativePG, KEDA, the Prometheus Operator) against the minimal schemas vendored in
crd_schemas/, which cover the fields we use and refer to Kubernetes' definitions (ObjectMeta, Affinity,
ResourceRequirements...) of the same version."""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from cluster_manifests import OVERLAYS
from referencing import Registry, Resource

pytestmark = pytest.mark.unit

# the oldest Kubernetes minor still supported upstream (1.35: December 2025 to early 2027); the manifests
# use nothing newer (matchLabelKeys in pod affinity is GA since 1.33)
KUBERNETES_VERSION = "1.35.0"
CRD_SCHEMAS = Path(__file__).resolve().parent / "crd_schemas"
# the vendored schemas refer to Kubernetes' definitions by this name
DEFINITIONS_URI = "kubernetes-definitions.json"


@cache
def kubernetes_definitions() -> dict:
    schemas = resources.files("kubernetes_validate") / "kubernetes-json-schema"
    folder = schemas / f"v{KUBERNETES_VERSION}-local-strict"
    return json.loads((folder / "_definitions.json").read_text())


@cache
def crd_validators() -> dict[tuple[str, str], jsonschema.Draft202012Validator]:
    """(apiVersion, kind) -> a validator of its vendored schema (file <group>_<version>_<Kind>.yaml)."""
    registry = Registry().with_resource(DEFINITIONS_URI, Resource.from_contents(kubernetes_definitions()))
    validators = {}
    for path in sorted(CRD_SCHEMAS.glob("*.yaml")):
        group, version, kind = path.stem.split("_")
        schema = yaml.safe_load(path.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        validators[(f"{group}/{version}", kind)] = jsonschema.Draft202012Validator(schema, registry=registry)
    return validators


def problems(resource: dict) -> list[str]:
    """What is wrong with one resource, empty when it is valid."""
    where = f"{resource.get('kind')} {resource.get('metadata', {}).get('name')}"
    try:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
        return []
    except kubernetes_validate.ValidationError as error:
        return [f"{where}: {error.message} at {'/'.join(map(str, error.path))}"]
    except kubernetes_validate.SchemaNotFoundError:
        pass
    validator = crd_validators().get((resource["apiVersion"], resource["kind"]))
    if validator is None:
        kind = f"{resource['apiVersion']} {resource['kind']}"
        return [f"{where}: no schema for {kind} (add one to crd_schemas/)"]
    return [f"{where}: {e.message} at {'/'.join(map(str, e.absolute_path))}"
            for e in validator.iter_errors(resource)]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_resource_of_the_overlay_is_valid(overlays, overlay):
    found = [problem for resource in overlays[overlay] for problem in problems(resource)]
    assert not found, "\n".join(found)


def test_every_vendored_schema_is_used_by_some_overlay(overlays):
    used = {(r["apiVersion"], r["kind"]) for built in overlays.values() for r in built}
    assert set(crd_validators()) <= used, "a schema in crd_schemas/ for nothing deploy/k8s declares"


def one(overlays, kind: str, overlay: str = "production") -> dict:
    return copy.deepcopy(next(r for r in overlays[overlay] if r["kind"] == kind))


def test_an_unknown_field_of_a_kubernetes_kind_is_refused(overlays):
    deployment = one(overlays, "Deployment")
    assert problems(deployment) == []
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    assert problems(deployment)


@pytest.mark.parametrize(("kind", "spoil"), [
    ("KafkaTopic", lambda r: r["spec"].update(replica=3)),
    ("KafkaTopic", lambda r: r["metadata"]["labels"].pop("strimzi.io/cluster")),
    ("Kafka", lambda r: r["spec"]["kafka"]["listeners"][0].update(port=80)),
    ("KafkaNodePool", lambda r: r["spec"]["template"]["pod"]["affinity"].update(podAntiAffinities={})),
    ("Cluster", lambda r: r["spec"].update(instances="3")),
    ("Database", lambda r: r["spec"]["cluster"].update(namespace="oms")),
    ("ScaledObject", lambda r: r["spec"].update(maxReplicas=3)),
    ("ScaledObject", lambda r: r["spec"]["triggers"][1]["metadata"].update(lagTreshold="50")),
    ("ScaledObject", lambda r: r["spec"]["triggers"][1]["metadata"].update(lagThreshold=50)),
    ("ScaledObject", lambda r: r["spec"]["triggers"][0].pop("metricType")),
    ("PodMonitor", lambda r: r["spec"]["podMetricsEndpoints"][0].update(interval="30 seconds")),
    ("PodMonitor", lambda r: r["metadata"].update(label={})),
])
def test_a_custom_resource_that_its_operator_would_refuse_is_refused(overlays, kind, spoil):
    resource = one(overlays, kind)
    assert problems(resource) == []
    spoil(resource)
    assert problems(resource)


def test_a_kind_without_a_schema_is_refused():
    assert problems({"apiVersion": "example.org/v1", "kind": "Unknown", "metadata": {"name": "x"}})
