"""Fault injection for the whole system: ``run_chaos`` runs it under a stream of orders while
processes, the broker and the database are killed, messages are redelivered and malformed ones
injected, then checks that every order ended where it should, nothing was doubled, stock was
conserved, every outbox entry reached Kafka and every malformed message was dead-lettered with
its reason. ``print_report`` draws the outcome."""

from .invariants import CheckResult
from .report import ChaosReport, FaultRecord, print_report
from .run import run_chaos
from .stack import chaos_profile

__all__ = ["ChaosReport", "CheckResult", "FaultRecord", "chaos_profile", "print_report", "run_chaos"]
