"""Benchmarks of the system against raw baselines measured in the same run on the same machine.

``baselines`` measures the floors our spine is compared with (aiokafka round trip, PostgreSQL
insert commit rate with ``pgbench``) and our own event store (appends/s, order rebuild times).
"""
