"""Local infrastructure for development and tests, as plain processes (no Docker engine needed)."""
