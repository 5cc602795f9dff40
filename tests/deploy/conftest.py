"""What the deploy tests share: deploy/k8s's overlays, each built once per session by the pure-Python
Kustomize of kustomize_build.py (so no kubectl is needed), and the modules of this folder made importable
by its tests (the suite imports test modules with --import-mode=importlib: no test folder on sys.path)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from cluster_manifests import K8S, OVERLAYS  # noqa: E402
from kustomize_build import build  # noqa: E402


@pytest.fixture(scope="session")
def overlays() -> dict[str, list[dict]]:
    """Every overlay's built resources, by overlay name."""
    return {name: build(K8S / "overlays" / name) for name in OVERLAYS}
