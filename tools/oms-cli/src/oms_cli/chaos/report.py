"""The outcome of a chaos run: the faults as they happened, each check passed or failed with the
order ids involved, where the time went; and how to print it."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from .invariants import CheckResult


@dataclass
class FaultRecord:
    at: float  # seconds after the fault window opened
    description: str
    ok: bool = True
    note: str = ""


@dataclass
class ChaosReport:
    seed: int
    orders: int
    duration_s: float
    namespace: str
    logs: str = ""
    checks: list[CheckResult] = field(default_factory=list)
    faults: list[FaultRecord] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    error: str | None = None  # the run could not be completed

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]

    @property
    def order_ids(self) -> list[str]:
        """Every order id some failed check names."""
        return sorted({o for c in self.failed for o in c.order_ids})

    def summary(self) -> str:
        """Plain text: the verdict, and each failed check with its problems and orders."""
        lines = [f"chaos run seed {self.seed}, {self.orders} orders, {self.duration_s:.0f}s of faults: "
                 + ("PASSED" if self.passed else "FAILED")]
        if self.error:
            lines.append(f"run aborted: {self.error}")
        for check in self.checks:
            lines.append(f"  [{'ok' if check.passed else 'FAIL'}] {check.name}: {check.detail}")
            if not check.passed:
                lines += [f"      {p}" for p in check.problems]
                if check.order_ids:
                    lines.append(f"      orders: {', '.join(check.order_ids)}")
        lines += [f"  fault at {f.at:6.1f}s: {f.description}{'' if f.ok else ' FAILED'}"
                  f"{f' ({f.note})' if f.note else ''}" for f in sorted(self.faults, key=lambda f: f.at)]
        lines.append("  timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items()))
        if self.logs:
            lines.append(f"  logs: {self.logs}")
        return "\n".join(lines)


def print_report(report: ChaosReport, console: Console | None = None) -> None:
    console = console or Console()
    faults = Table(title="faults injected", title_justify="left")
    faults.add_column("at", justify="right")
    faults.add_column("fault")
    faults.add_column("outcome")
    for fault in sorted(report.faults, key=lambda f: f.at):
        faults.add_row(f"{fault.at:.1f}s", fault.description,
                       ("[green]done[/green]" if fault.ok else "[red]failed[/red]")
                       + (f" {fault.note}" if fault.note else ""))
    console.print(faults)

    if report.statuses:
        statuses = Table(title="orders by final status", title_justify="left")
        statuses.add_column("status")
        statuses.add_column("orders", justify="right")
        for status, count in sorted(report.statuses.items()):
            statuses.add_row(status, str(count))
        console.print(statuses)

    checks = Table(title="invariants", title_justify="left")
    checks.add_column("")
    checks.add_column("check")
    checks.add_column("result")
    for check in report.checks:
        checks.add_row("[green]PASS[/green]" if check.passed else "[red]FAIL[/red]", check.name, check.detail)
    console.print(checks)
    for check in report.failed:
        console.print(f"[red bold]{check.name}[/red bold]")
        for problem in check.problems:
            console.print(f"  {problem}", markup=False, highlight=False)
        if check.order_ids:
            console.print(f"  orders involved: {', '.join(check.order_ids)}", markup=False, highlight=False)
    if report.error:
        console.print(f"[red bold]run aborted:[/red bold] {report.error}", highlight=False)
    console.print("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in report.timings.items()))
    if report.logs:
        console.print(f"logs and data: {report.logs}", highlight=False)
    verdict = "[bold green]PASSED[/bold green]" if report.passed else "[bold red]FAILED[/bold red]"
    console.print(f"chaos run (seed {report.seed}, {report.orders} orders, {report.duration_s:.0f}s): {verdict}")
