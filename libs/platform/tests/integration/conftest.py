from uuid import uuid4

import pytest

from oms_platform.settings import ServiceSettings


@pytest.fixture
def settings(local_infrastructure) -> ServiceSettings:
    """Settings of a service with a database of its own, on the session's real Kafka and PostgreSQL."""
    database = f"t_{uuid4().hex[:12]}"
    local_infrastructure.postgres.create_database(database)
    return ServiceSettings(service="order-orchestrator", kafka_bootstrap=local_infrastructure.kafka_bootstrap,
                           pg_host="127.0.0.1", pg_port=local_infrastructure.postgres.port, pg_user="postgres",
                           pg_database=database, relay_poll_seconds=0.02)
