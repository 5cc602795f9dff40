"""Local infrastructure for development and tests as plain processes (no Docker engine needed).

- ``devstack.kafka``: Apache Kafka 3.9.1 in KRaft mode from Maven Central jars (``KafkaNode``,
  ``ensure_kafka_jars``, ``create_topics``).
- ``devstack.postgres``: a private PostgreSQL cluster (``PostgresCluster``, ``ensure_postgres_installed``).
- ``devstack.processes``: a supervisor for the stack's processes (``Supervisor``, ``ManagedProcess``).
- ``devstack.pytest_plugin``: session fixtures starting real Kafka and PostgreSQL for the test suite.

Submodules are imported on demand, so importing ``devstack`` itself pulls in nothing heavy.
"""

__version__ = "0.1.0"
