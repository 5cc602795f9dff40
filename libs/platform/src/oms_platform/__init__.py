"""Shared plumbing of the order orchestration services (no entry points)."""
