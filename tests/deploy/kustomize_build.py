"""A Kustomize build in pure Python, for exactly the features deploy/k8s uses, so the test suite can check
what `kubectl apply -k deploy/k8s/overlays/<env>` would send on a machine without kubectl or kustomize.

Supported, as Kustomize (v5) does them:

- ``resources``: YAML files (every document of each) and directories holding a kustomization, built first
  (a base is complete, its own transformers applied, before the overlay's run on it);
- ``patches`` as JSON 6902 operations (``add``, ``remove``, ``replace``, ``move``, ``copy``, ``test``), inline
  (``patch``) or from a file (``path``), each applied to every resource its ``target`` selects: ``group``,
  ``version`` and ``kind`` exactly, ``name`` and ``namespace`` as anchored regular expressions,
  ``labelSelector`` as comma-separated ``key=value`` pairs;
- ``namespace``: set on every namespaced resource (kinds not known to be cluster-scoped count as namespaced,
  as in Kustomize);
- ``labels`` with ``includeSelectors`` and ``includeTemplates`` false: added to every resource's
  ``metadata.labels``;
- ``images``: ``newName``, ``newTag``, ``digest`` for each container and init container whose image has
  that name, wherever a ``containers``/``initContainers`` list sits in a resource.

Transformers run in Kustomize's order: patches, namespace, labels, images. Anything else (another key, a
strategic-merge patch, a patch without a target, a selector field not listed, ``commonLabels``, a Namespace
object the namespace would rename, two resources with one id) raises ``KustomizationUnsupported`` rather than
build something Kustomize would not. One deliberate difference: a patch whose target selects nothing fails
here, where Kustomize ignores it silently (a typo in a target would otherwise change nothing unnoticed).
tests/deploy/test_kustomize_build.py compares this build with `kubectl kustomize` where kubectl exists.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_KEYS = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "patches"}
PATCH_KEYS = {"path", "patch", "target"}
TARGET_KEYS = {"group", "version", "kind", "name", "namespace", "labelSelector"}
LABELS_KEYS = {"pairs", "includeSelectors", "includeTemplates"}
IMAGE_KEYS = {"name", "newName", "newTag", "digest"}
# the cluster-scoped kinds of the core APIs (Kustomize knows these; any other kind is namespaced to it)
CLUSTER_SCOPED_KINDS = {
    "Namespace", "Node", "PersistentVolume", "StorageClass", "CSIDriver", "CSINode", "VolumeAttachment",
    "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "APIService", "PriorityClass",
    "IngressClass", "RuntimeClass", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "CertificateSigningRequest",
}
# kinds whose fields Kustomize's namespace transformer also rewrites (subjects); not implemented here
NAMESPACE_REFERENCING_KINDS = {"RoleBinding", "ClusterRoleBinding"}

Resource = dict[str, Any]


class KustomizationUnsupported(ValueError):
    """The kustomization asks for something this builder does not do as Kustomize does."""


def build(directory: Path | str) -> list[Resource]:
    """The resources `kubectl kustomize <directory>` prints, in the order they were declared."""
    return _build(Path(directory).resolve(), ())


def resource_id(resource: Resource) -> tuple[str, str, str, str]:
    """(apiVersion, kind, namespace, name): one resource of a build, as Kustomize tells them apart."""
    metadata = resource.get("metadata") or {}
    return (resource.get("apiVersion", ""), resource.get("kind", ""), metadata.get("namespace", ""),
            metadata.get("name", ""))


def _kustomization(directory: Path) -> dict:
    for name in KUSTOMIZATION_FILES:
        path = directory / name
        if path.is_file():
            document = yaml.safe_load(path.read_text()) or {}
            unknown = set(document) - SUPPORTED_KEYS
            if unknown:
                raise KustomizationUnsupported(f"{path}: unsupported kustomization keys {sorted(unknown)}")
            if document.get("kind", "Kustomization") != "Kustomization":
                raise KustomizationUnsupported(f"{path}: kind {document['kind']} (only Kustomization)")
            return document
    raise KustomizationUnsupported(f"{directory}: no kustomization file")


def _build(directory: Path, visiting: tuple[Path, ...]) -> list[Resource]:
    if directory in visiting:
        raise KustomizationUnsupported(f"{directory}: a cycle of kustomizations")
    kustomization = _kustomization(directory)
    resources: list[Resource] = []
    seen: set[tuple[str, str, str, str]] = set()
    for entry in kustomization.get("resources") or []:
        path = (directory / entry).resolve()
        loaded = _build(path, (*visiting, directory)) if path.is_dir() else _load_documents(path)
        for resource in loaded:
            key = resource_id(resource)
            if key in seen:
                raise KustomizationUnsupported(f"{directory}: two resources with id {key}")
            seen.add(key)
            resources.append(resource)
    for patch in kustomization.get("patches") or []:
        _apply_patch(directory, patch, resources)
    if "namespace" in kustomization:
        _set_namespace(kustomization["namespace"], resources)
    for labels in kustomization.get("labels") or []:
        _add_labels(labels, resources)
    for image in kustomization.get("images") or []:
        _set_image(image, resources)
    return resources


def _load_documents(path: Path) -> list[Resource]:
    if not path.is_file():
        raise KustomizationUnsupported(f"{path}: no such file or kustomization directory")
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    for document in documents:
        if not isinstance(document, dict) or not {"apiVersion", "kind", "metadata"} <= set(document):
            raise KustomizationUnsupported(f"{path}: a document that is not a Kubernetes resource")
    return documents


# ---- patches ----------------------------------------------------------------------------------------------

def _apply_patch(directory: Path, patch: dict, resources: list[Resource]) -> None:
    unknown = set(patch) - PATCH_KEYS
    if unknown:
        raise KustomizationUnsupported(f"{directory}: unsupported patch fields {sorted(unknown)}")
    if ("path" in patch) == ("patch" in patch):
        raise KustomizationUnsupported(f"{directory}: a patch needs exactly one of path and patch")
    if "target" not in patch:
        raise KustomizationUnsupported(f"{directory}: a patch without a target (strategic merge)")
    text = (directory / patch["path"]).read_text() if "path" in patch else patch["patch"]
    operations = yaml.safe_load(text)
    if not isinstance(operations, list):
        raise KustomizationUnsupported(f"{directory}: only JSON 6902 patches (a list of operations)")
    selected = [r for r in resources if _selects(patch["target"], r)]
    if not selected:
        raise KustomizationUnsupported(f"{directory}: the target {patch['target']} selects no resource")
    for resource in selected:
        patched = apply_json_patch(resource, operations)
        resource.clear()
        resource.update(patched)


def _selects(target: dict, resource: Resource) -> bool:
    unknown = set(target) - TARGET_KEYS
    if unknown:
        raise KustomizationUnsupported(f"unsupported target fields {sorted(unknown)}")
    group, _, version = resource["apiVersion"].rpartition("/")
    metadata = resource["metadata"]
    if "group" in target and target["group"] != group:
        return False
    if "version" in target and target["version"] != version:
        return False
    if "kind" in target and target["kind"] != resource["kind"]:
        return False
    if "name" in target and not re.fullmatch(target["name"], metadata.get("name", "")):
        return False
    if "namespace" in target and not re.fullmatch(target["namespace"], metadata.get("namespace", "")):
        return False
    if "labelSelector" in target:
        labels = metadata.get("labels") or {}
        for requirement in target["labelSelector"].split(","):
            key, equals, value = requirement.partition("=")
            if not equals or not re.fullmatch(r"[\w./-]+", key.strip()) or value.startswith("="):
                raise KustomizationUnsupported(
                    f"labelSelector {target['labelSelector']!r}: only key=value pairs")
            if labels.get(key.strip()) != value.strip():
                return False
    return True


class JsonPatchFailed(KustomizationUnsupported):
    """A JSON 6902 operation cannot apply (a missing path, a failed test): Kustomize fails the build too."""


def apply_json_patch(document: Any, operations: list[dict]) -> Any:
    """RFC 6902 on a copy of ``document``: the operations in order, all or nothing."""
    result = copy.deepcopy(document)
    for operation in operations:
        op, path = operation.get("op"), operation.get("path")
        if not isinstance(path, str):
            raise JsonPatchFailed(f"operation {operation}: no path")
        if op == "add":
            result = _add(result, path, copy.deepcopy(_value(operation)))
        elif op == "remove":
            result, _ = _remove(result, path)
        elif op == "replace":
            _resolve(result, path)  # must exist
            result, _ = _remove(result, path)
            result = _add(result, path, copy.deepcopy(_value(operation)))
        elif op in ("move", "copy"):
            source = operation.get("from")
            if not isinstance(source, str):
                raise JsonPatchFailed(f"operation {operation}: no from")
            if op == "move":
                if path.startswith(source + "/"):
                    raise JsonPatchFailed(f"operation {operation}: cannot move a value into itself")
                result, value = _remove(result, source)
            else:
                value = copy.deepcopy(_resolve(result, source))
            result = _add(result, path, value)
        elif op == "test":
            if _resolve(result, path) != _value(operation):
                raise JsonPatchFailed(f"test failed at {path}")
        else:
            raise JsonPatchFailed(f"unknown operation {op!r}")
    return result


def _value(operation: dict) -> Any:
    if "value" not in operation:
        raise JsonPatchFailed(f"operation {operation}: no value")
    return operation["value"]


def _tokens(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise JsonPatchFailed(f"path {path!r} does not start with /")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _index(container: list, token: str, path: str, *, append: bool = False) -> int:
    if append and token == "-":
        return len(container)
    if not re.fullmatch(r"0|[1-9][0-9]*", token):
        raise JsonPatchFailed(f"{path}: {token!r} is not an array index")
    index = int(token)
    if index > len(container) or (index == len(container) and not append):
        raise JsonPatchFailed(f"{path}: index {index} out of range")
    return index


def _resolve(document: Any, path: str) -> Any:
    current = document
    for token in _tokens(path):
        if isinstance(current, dict):
            if token not in current:
                raise JsonPatchFailed(f"{path}: no {token!r}")
            current = current[token]
        elif isinstance(current, list):
            current = current[_index(current, token, path)]
        else:
            raise JsonPatchFailed(f"{path}: {token!r} inside a scalar")
    return current


def _parent(document: Any, path: str) -> tuple[Any, str]:
    tokens = _tokens(path)
    if not tokens:
        raise JsonPatchFailed("the whole document cannot be the target here")
    parent_path = "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens[:-1])
    return _resolve(document, parent_path), tokens[-1]


def _add(document: Any, path: str, value: Any) -> Any:
    if path == "":
        return value
    parent, token = _parent(document, path)
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, token, path, append=True), value)
    else:
        raise JsonPatchFailed(f"{path}: the parent is a scalar")
    return document


def _remove(document: Any, path: str) -> tuple[Any, Any]:
    parent, token = _parent(document, path)
    if isinstance(parent, dict):
        if token not in parent:
            raise JsonPatchFailed(f"{path}: no {token!r} to remove")
        return document, parent.pop(token)
    if isinstance(parent, list):
        return document, parent.pop(_index(parent, token, path))
    raise JsonPatchFailed(f"{path}: the parent is a scalar")


# ---- namespace, labels, images ----------------------------------------------------------------------------

def _set_namespace(namespace: str, resources: list[Resource]) -> None:
    for resource in resources:
        kind = resource["kind"]
        if kind in NAMESPACE_REFERENCING_KINDS:
            raise KustomizationUnsupported(f"{kind}: the namespace of its subjects is not rewritten here")
        if kind == "Namespace":
            if resource["metadata"]["name"] != namespace:
                raise KustomizationUnsupported(
                    f"Namespace {resource['metadata']['name']}: Kustomize would rename it to {namespace}")
            continue
        if kind not in CLUSTER_SCOPED_KINDS:
            resource["metadata"]["namespace"] = namespace


def _add_labels(entry: dict, resources: list[Resource]) -> None:
    unknown = set(entry) - LABELS_KEYS
    if unknown:
        raise KustomizationUnsupported(f"labels: unsupported fields {sorted(unknown)}")
    if entry.get("includeSelectors") or entry.get("includeTemplates"):
        raise KustomizationUnsupported("labels: only with includeSelectors and includeTemplates false")
    for resource in resources:
        labels = resource["metadata"].get("labels") or {}
        labels.update({str(k): str(v) for k, v in (entry.get("pairs") or {}).items()})
        resource["metadata"]["labels"] = labels


def _set_image(entry: dict, resources: list[Resource]) -> None:
    unknown = set(entry) - IMAGE_KEYS
    if unknown or "name" not in entry:
        raise KustomizationUnsupported(f"images: unsupported entry {entry}")
    for resource in resources:
        for container in _containers(resource):
            image = container.get("image")
            if isinstance(image, str) and _image_name(image)[0] == entry["name"]:
                container["image"] = _new_image(image, entry)


def _containers(node: Any):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                yield from (c for c in value if isinstance(c, dict))
            else:
                yield from _containers(value)
    elif isinstance(node, list):
        for item in node:
            yield from _containers(item)


def _image_name(image: str) -> tuple[str, str, str]:
    """(name, tag, digest) of an image reference; a registry's port is part of the name."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = ""
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
    return name, tag, digest


def _new_image(image: str, entry: dict) -> str:
    name, tag, digest = _image_name(image)
    name = entry.get("newName", name)
    if "digest" in entry:
        return f"{name}@{entry['digest']}"
    if "newTag" in entry:
        return f"{name}:{entry['newTag']}"
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
