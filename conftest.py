"""Test-session infrastructure (real Kafka and PostgreSQL) for every package's tests."""

pytest_plugins = ["devstack.pytest_plugin", "oms_platform.pytest_fixtures"]
