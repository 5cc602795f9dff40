"""The pure-Python Kustomize build (kustomize_build.py) does what Kustomize does for the features deploy/k8s
uses, and refuses the rest: small kustomizations of its own here, and, where kubectl is installed, every
overlay of deploy/k8s built both ways and compared resource by resource."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from textwrap import dedent

import pytest
import yaml
from cluster_manifests import K8S, OVERLAYS
from kustomize_build import JsonPatchFailed, KustomizationUnsupported, apply_json_patch, build, resource_id

pytestmark = pytest.mark.unit

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: router
  labels: {app.kubernetes.io/name: router}
spec:
  template:
    metadata:
      labels: {app.kubernetes.io/name: router}
    spec:
      containers:
        - {name: router, image: oms-service:0.0.1}
      initContainers:
        - {name: migrate, image: "registry.example:5000/oms-service"}
"""
NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata: {name: oms}\n"
TOPIC = """\
apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaTopic
metadata: {name: orders, labels: {strimzi.io/cluster: oms-kafka}}
spec: {partitions: 3, replicas: 3}
"""


def write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text))
    return directory


def by_kind(resources: list[dict]) -> dict[str, dict]:
    return {r["kind"]: r for r in resources}


def test_a_base_is_built_before_its_overlay_and_every_transformer_applies(tmp_path):
    write(tmp_path, {
        "base/kustomization.yaml": """\
            namespace: oms
            resources: [namespace.yaml, workloads.yaml]
            images:
              - {name: oms-service, newTag: "0.1.0"}
            """,
        "base/namespace.yaml": NAMESPACE,
        "base/workloads.yaml": DEPLOYMENT + "---\n" + TOPIC,
        "overlay/kustomization.yaml": """\
            apiVersion: kustomize.config.k8s.io/v1beta1
            kind: Kustomization
            namespace: oms
            resources: [../base, extra.yaml]
            labels:
              - pairs: {app.kubernetes.io/instance: oms-dev}
                includeSelectors: false
            images:
              - {name: oms-service, newName: registry.example/oms/oms-service}
            patches:
              - path: replicas.yaml
                target: {kind: Deployment}
              - target: {kind: KafkaTopic, name: "ord.*"}
                patch: |-
                  - {op: replace, path: /spec/replicas, value: 1}
            """,
        "overlay/replicas.yaml": "- {op: add, path: /spec/replicas, value: 1}\n",
        "overlay/extra.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: oms-config}\ndata: {A: b}\n",
    })
    built = by_kind(build(tmp_path / "overlay"))
    assert list(built) == ["Namespace", "Deployment", "KafkaTopic", "ConfigMap"]
    deployment, topic, config = built["Deployment"], built["KafkaTopic"], built["ConfigMap"]
    assert deployment["spec"]["replicas"] == 1
    assert topic["spec"] == {"partitions": 3, "replicas": 1}
    # the base's tag, then the overlay's name
    pod = deployment["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "registry.example/oms/oms-service:0.1.0"
    # another registry's image of the same last name is another image
    assert pod["initContainers"][0]["image"] == "registry.example:5000/oms-service"
    # the overlay's own resources get the namespace too; the Namespace itself has none
    assert config["metadata"]["namespace"] == deployment["metadata"]["namespace"] == "oms"
    assert "namespace" not in built["Namespace"]["metadata"]
    # labels: every resource's metadata, never a selector or a pod template
    for resource in built.values():
        assert resource["metadata"]["labels"]["app.kubernetes.io/instance"] == "oms-dev"
    assert deployment["spec"]["template"]["metadata"]["labels"] == {"app.kubernetes.io/name": "router"}


def test_images_by_digest_and_in_any_containers_list(tmp_path):
    write(tmp_path, {
        "kustomization.yaml": """\
            resources: [resources.yaml]
            images:
              - {name: oms-service, digest: "sha256:0123"}
            """,
        "resources.yaml": """\
            apiVersion: example.org/v1
            kind: Runner
            metadata: {name: r}
            spec:
              deep: {containers: [{name: a, image: "oms-service:1@sha256:ffff"}]}
            """,
    })
    (runner,) = build(tmp_path)
    assert runner["spec"]["deep"]["containers"][0]["image"] == "oms-service@sha256:0123"


def test_json_patch_operations():
    document = {"spec": {"ports": [{"port": 1}, {"port": 3}], "a/b": {"~": 1}}}
    patched = apply_json_patch(document, [
        {"op": "add", "path": "/spec/ports/1", "value": {"port": 2}},
        {"op": "add", "path": "/spec/ports/-", "value": {"port": 4}},
        {"op": "test", "path": "/spec/a~1b/~0", "value": 1},
        {"op": "copy", "from": "/spec/ports/0", "path": "/spec/first"},
        {"op": "move", "from": "/spec/a~1b", "path": "/spec/moved"},
        {"op": "replace", "path": "/spec/ports/3/port", "value": 40},
        {"op": "remove", "path": "/spec/ports/0"},
    ])
    assert patched == {"spec": {"ports": [{"port": 2}, {"port": 3}, {"port": 40}], "first": {"port": 1},
                                "moved": {"~": 1}}}
    # the input is untouched
    assert document == {"spec": {"ports": [{"port": 1}, {"port": 3}], "a/b": {"~": 1}}}


@pytest.mark.parametrize("operation", [
    {"op": "replace", "path": "/spec/missing", "value": 1},
    {"op": "remove", "path": "/spec/ports/5"},
    {"op": "add", "path": "/spec/nowhere/deeper", "value": 1},
    {"op": "add", "path": "/spec/ports/x", "value": 1},
    {"op": "test", "path": "/spec/ports/0/port", "value": 2},
    {"op": "move", "from": "/spec", "path": "/spec/inside"},
    {"op": "merge", "path": "/spec", "value": {}},
    {"op": "add", "path": "spec", "value": 1},
], ids=lambda o: f"{o['op']} {o['path']}")
def test_a_json_patch_that_cannot_apply_fails(operation):
    with pytest.raises(JsonPatchFailed):
        apply_json_patch({"spec": {"ports": [{"port": 1}]}}, [operation])


@pytest.mark.parametrize(("kustomization", "complaint"), [
    ("resources: [r.yaml]\ncommonLabels: {a: b}\n", "commonLabels"),
    ("resources: [r.yaml]\nconfigMapGenerator: [{name: x}]\n", "configMapGenerator"),
    ("resources: [r.yaml]\npatches:\n  - patch: |-\n      apiVersion: apps/v1\n      kind: Deployment\n"
     "      metadata: {name: router}\n", "without a target"),
    ("resources: [r.yaml]\npatches:\n  - target: {kind: Deployment}\n    patch: |-\n"
     "      spec: {replicas: 2}\n", "JSON 6902"),
    ("resources: [r.yaml]\npatches:\n  - target: {kind: Service}\n    patch: '[]'\n", "selects no resource"),
    ("resources: [r.yaml]\npatches:\n  - target: {kind: Deployment, annotationSelector: a=b}\n"
     "    patch: '[]'\n", "annotationSelector"),
    ("resources: [r.yaml]\npatches:\n  - target: {labelSelector: 'a in (b)'}\n    patch: '[]'\n",
     "key=value"),
    ("resources: [r.yaml]\npatches:\n  - target: {kind: Deployment}\n    patch: '[]'\n    options: {}\n",
     "options"),
    ("resources: [r.yaml]\nlabels:\n  - pairs: {a: b}\n    includeSelectors: true\n", "includeSelectors"),
    ("resources: [r.yaml]\nimages:\n  - {name: oms-service, newTag: '1', tagSuffix: x}\n", "images"),
    ("resources: [r.yaml, r.yaml]\n", "two resources"),
    ("resources: [missing.yaml]\n", "no such file"),
    ("namespace: elsewhere\nresources: [namespace.yaml]\n", "rename"),
    ("kind: Component\nresources: [r.yaml]\n", "Component"),
])
def test_what_it_does_not_do_as_kustomize_it_refuses(tmp_path, kustomization, complaint):
    write(tmp_path, {"kustomization.yaml": kustomization, "r.yaml": DEPLOYMENT, "namespace.yaml": NAMESPACE})
    with pytest.raises(KustomizationUnsupported, match=complaint):
        build(tmp_path)


KUBECTL = shutil.which("kubectl")


@pytest.mark.skipif(KUBECTL is None,
                    reason="kubectl is not installed: the builder is not compared with Kustomize")
@pytest.mark.parametrize("directory", ["base", *(f"overlays/{o}" for o in OVERLAYS)])
def test_the_build_is_what_kubectl_kustomize_builds(directory):
    answer = subprocess.run([KUBECTL, "kustomize", str(K8S / directory)], capture_output=True, text=True,
                            timeout=60)
    assert answer.returncode == 0, answer.stderr
    theirs = [r for r in yaml.safe_load_all(answer.stdout) if r]
    ours = build(K8S / directory)
    assert sorted(map(resource_id, ours)) == sorted(map(resource_id, theirs))
    by_id = {resource_id(r): r for r in theirs}
    for resource in ours:
        assert resource == by_id[resource_id(resource)], resource_id(resource)
