"""Settings every service reads from its environment (prefix ``OMS_``)."""

from __future__ import annotations

import os

from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMS_", extra="ignore")

    service: str = "unnamed"
    kafka_bootstrap: str = "127.0.0.1:19092"
    pg_host: str = "127.0.0.1"
    pg_port: int = 55432
    pg_user: str = "postgres"
    pg_password: str = ""
    pg_database: str | None = None
    pg_pool_size: int = 5
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    relay_poll_seconds: float = 0.05
    consumer_group_suffix: str = ""
    role: str = "all"  # "all", "worker" (API and consumers, no relay) or "relay" (only the outbox relay)
    topic_namespace: str = ""  # prefix of every Kafka topic name (test isolation, several systems on one cluster)

    @classmethod
    def for_service(cls, service: str, http_port: int) -> "ServiceSettings":
        """The service's settings: OMS_* environment variables win over the service's defaults."""
        settings = cls(service=service)
        if "OMS_HTTP_PORT" not in os.environ:
            settings.http_port = http_port
        return settings

    def database(self) -> str:
        return self.pg_database or "oms_" + self.service.replace("-", "_")

    def dsn(self, database: str | None = None) -> str:
        password = f":{self.pg_password}" if self.pg_password else ""
        return f"postgresql://{self.pg_user}{password}@{self.pg_host}:{self.pg_port}/{database or self.database()}"

    def consumer_group(self) -> str:
        return self.service + self.consumer_group_suffix

    def event_store_env(self) -> dict[str, str]:
        """Environment for an ``eventsourcing`` application on this service's PostgreSQL database."""
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": self.database(),
            "POSTGRES_HOST": self.pg_host,
            "POSTGRES_PORT": str(self.pg_port),
            "POSTGRES_USER": self.pg_user,
            "POSTGRES_PASSWORD": self.pg_password,
            "POSTGRES_POOL_SIZE": str(self.pg_pool_size),
            "POSTGRES_MAX_OVERFLOW": "5",
            "POSTGRES_CONN_MAX_AGE": "",
            "CREATE_TABLE": "y",
        }
