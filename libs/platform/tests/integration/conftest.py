import pytest

from oms_platform.settings import ServiceSettings


@pytest.fixture
def settings(service_settings) -> ServiceSettings:
    """Settings of a service with a database of its own, on the session's real Kafka and PostgreSQL."""
    return service_settings("order-orchestrator")
