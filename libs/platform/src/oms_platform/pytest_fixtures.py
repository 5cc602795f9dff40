"""pytest plugin (registered in the workspace's root ``conftest.py``): fixtures for the integration
tests of every package, on ``devstack``'s session Kafka and PostgreSQL (``local_infrastructure``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .settings import ServiceSettings
from .testing import settings_for


@pytest.fixture
def service_settings(local_infrastructure) -> Callable[..., ServiceSettings]:
    """A factory: ``service_settings("shipping", **overrides)`` is that service's settings with a fresh
    database and consumer group of its own (see ``oms_platform.testing.settings_for``)."""

    def make(service: str, **overrides: Any) -> ServiceSettings:
        return settings_for(service, local_infrastructure, **overrides)

    return make
