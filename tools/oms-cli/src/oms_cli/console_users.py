"""``oms console hash-password NAME``: an entry of ``OMS_CONSOLE_USERS`` for the web console, made from a password
typed without echo (twice) and never shown or stored: ``NAME:pbkdf2_sha256$<iterations>$<salt>$<hex>``, the same
format and code (``order_orchestrator.adapters.console.passwords``) the orchestrator checks sign-ins with.
Several users are comma-separated: ``OMS_CONSOLE_USERS="asha:pbkdf2_sha256$...,ravi:pbkdf2_sha256$..."``."""

from __future__ import annotations

import typer
from order_orchestrator.adapters.console.passwords import (
    DEFAULT_ITERATIONS,
    MIN_ITERATIONS,
    check_name,
    console_user_entry,
)
from rich.console import Console

console_app = typer.Typer(help="The web console's users: make an OMS_CONSOLE_USERS entry.",
                          no_args_is_help=True)
errors = Console(stderr=True)


@console_app.callback()
def console_users() -> None:
    """The web console's users (``oms console hash-password NAME``)."""


@console_app.command("hash-password")
def hash_password(name: str = typer.Argument(..., help="the user's name: letters, digits or . _ @ -"),
                  iterations: int = typer.Option(DEFAULT_ITERATIONS, min=MIN_ITERATIONS,
                                                 help="PBKDF2-HMAC-SHA256 iterations")) -> None:
    """Ask for NAME's password (hidden, twice) and print its OMS_CONSOLE_USERS entry."""
    try:
        check_name(name)
        password = typer.prompt(f"password for {name}", hide_input=True, confirmation_prompt=True, err=True)
        entry = console_user_entry(name, password, iterations=iterations)
    except ValueError as wrong:
        errors.print(f"[red]{wrong}[/red]")
        raise typer.Exit(1) from None
    typer.echo(entry)
    errors.print("[dim]set it (several entries comma-separated) as OMS_CONSOLE_USERS for the "
                 "order-orchestrator[/dim]")
