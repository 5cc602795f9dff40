"""``oms erp deliveries | delivery | resend``: the ERP documents' deliveries, as the erp-bridge's API keeps them.

* ``oms erp deliveries [--state failed] [--order ORDER_ID]``: the delivery log, one row per document (state,
  attempts, the ERP's reference, the last error, when it was last touched);
* ``oms erp delivery DOCUMENT_ID``: one document's delivery with each attempt and what came of it;
* ``oms erp resend DOCUMENT_ID`` or ``oms erp resend --all-dead-lettered``: hand a document (every dead letter,
  after a fix) to the ERP again, with the same Idempotency-Key (the ERP de-duplicates).

A refusal of the bridge (an unknown document, one still on its way) or a bridge that does not answer ends the
command with exit code 1, saying why."""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from .service_problems import refusal_text
from .stack import StackProfile

STATE_STYLES = {"delivered": "green", "sent": "cyan", "pending": "yellow", "failed": "red", "dead_lettered": "magenta"}

erp_app = typer.Typer(help="ERP documents' deliveries: the delivery log, one document's attempts, re-sending.",
                      no_args_is_help=True)
console = Console()


class DeliveryStateName(StrEnum):
    pending = "pending"
    sent = "sent"
    delivered = "delivered"
    failed = "failed"
    dead_lettered = "dead_lettered"


class DocumentKindName(StrEnum):
    sale_order = "sale_order"
    invoice = "invoice"
    credit_note = "credit_note"
    stock_adjustment = "stock_adjustment"
    stock_transfer = "stock_transfer"
    stock_transfer_receipt = "stock_transfer_receipt"


class DeliveryRefusal(Exception):
    """The bridge refused (problem+json), or did not answer: what it said."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass
class ErpDeliveriesApi:
    """The erp-bridge's ``/v1/document-deliveries`` at ``base_url``."""

    base_url: str
    transport: httpx.BaseTransport | None = None

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            with httpx.Client(base_url=self.base_url, timeout=30, transport=self.transport) as client:
                response = client.request(method, "/v1/document-deliveries" + path, **kwargs)
        except httpx.HTTPError as failed:
            raise DeliveryRefusal(f"the erp-bridge at {self.base_url} did not answer: {failed}") from None
        if response.status_code >= 400:
            raise DeliveryRefusal(refusal_text(response), response.status_code)
        return response.json()

    def deliveries(self, state: str | None = None, order_id: str | None = None,
                   limit: int = 100, kind: str | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in {"state": state, "order_id": order_id, "kind": kind, "limit": limit}.items()
                  if v is not None}
        return self._request("GET", "", params=params)

    def delivery(self, document_id: str) -> dict[str, Any]:
        return self._request("GET", f"/{document_id}")

    def resend(self, document_id: str, requested_by: str) -> dict[str, Any]:
        return self._request("POST", f"/{document_id}/resend", json={"requested_by": requested_by})

    def resend_all(self, state: str, requested_by: str) -> dict[str, Any]:
        return self._request("POST", "/resend", json={"state": state, "requested_by": requested_by})


def _state(state: str | None) -> str:
    style = STATE_STYLES.get(state or "", "white")
    return f"[{style}]{state}[/{style}]"


def _moment(value: str | None) -> str:
    return (value or "")[:19].replace("T", " ")


def render_deliveries(rows: list[dict[str, Any]], out: Console) -> None:
    if not rows:
        out.print("[dim]no deliveries[/dim]")
        return
    table = Table(title=f"ERP document deliveries ({len(rows)})", header_style="bold")
    for column in ("number", "kind", "order", "state", "attempts", "transport", "ERP reference", "last error",
                   "updated", "document id"):
        table.add_column(column, overflow="fold", justify="right" if column == "attempts" else "left")
    for row in rows:
        table.add_row(row["number"], row["kind"], row["order_id"] or "-", _state(row["state"]), str(row["attempts"]),
                      row.get("transport") or "", row.get("erp_reference") or "", row.get("last_error") or "",
                      _moment(row.get("updated_at")), row["document_id"])
    out.print(table)


def render_delivery(delivery: dict[str, Any], out: Console) -> None:
    facts = Table(show_header=False, box=None)
    facts.add_column(style="bold")
    facts.add_column(overflow="fold")
    for label, value in (("document", f"{delivery['number']} ({delivery['kind']}) {delivery['document_id']}"),
                         ("order", delivery["order_id"] or "-"),
                         ("reference", (delivery.get("document") or {}).get("reference") or "-"), ("state", _state(delivery["state"])),
                         ("transport", delivery.get("transport") or "-"), ("attempts", str(delivery["attempts"])),
                         ("ERP reference", delivery.get("erp_reference") or "-"),
                         ("file", delivery.get("location") or "-"), ("last error", delivery.get("last_error") or "-"),
                         ("next attempt", _moment(delivery.get("next_attempt_at")) or "-"),
                         ("sent", _moment(delivery.get("sent_at")) or "-"),
                         ("delivered", _moment(delivery.get("delivered_at")) or "-"),
                         ("failed", _moment(delivery.get("failed_at")) or "-")):
        facts.add_row(label, value)
    out.print(facts)
    attempts = Table(title="attempts", header_style="bold")
    for column in ("#", "at", "transport", "outcome", "ERP reference / file / reason"):
        attempts.add_column(column, overflow="fold")
    for attempt in delivery.get("attempt_log") or []:
        said = attempt.get("reference") or attempt.get("location") or attempt.get("reason") or ""
        if attempt.get("next_attempt_at"):
            said += f" (next attempt {_moment(attempt['next_attempt_at'])})"
        attempts.add_row(str(attempt["attempt"]), _moment(attempt["at"]), attempt.get("transport") or "",
                         _state(attempt["outcome"]) if attempt["outcome"] in STATE_STYLES else attempt["outcome"],
                         said)
    out.print(attempts)
    for resend in delivery.get("resends") or []:
        out.print(f"[dim]re-sent by {resend['requested_by']} at {_moment(resend['at'])} "
                  f"(was {resend['previous_state']})[/dim]")


def _api(url: str | None, profile: str) -> ErpDeliveriesApi:
    return ErpDeliveriesApi(url or StackProfile.named(profile).url("erp-bridge"))


def _refused(error: DeliveryRefusal) -> None:
    console.print(f"[red]{error}[/red]")
    raise typer.Exit(1)


URL_OPTION = typer.Option(None, "--url", envvar="OMS_ERP_BRIDGE_URL", help="the erp-bridge's URL (default: the profile's)")
PROFILE_OPTION = typer.Option("run", help="stack profile whose erp-bridge to ask")
JSON_OPTION = typer.Option(False, "--json", help="the API's answer as JSON")


@erp_app.command("deliveries")
def deliveries(state: DeliveryStateName = typer.Option(None, help="only deliveries in this state"),
               order_id: str = typer.Option(None, "--order", help="only this order's documents"),
               kind: DocumentKindName = typer.Option(None, help="only documents of this kind"),
               limit: int = typer.Option(100, min=1, max=1000), profile: str = PROFILE_OPTION, url: str = URL_OPTION,
               json_output: bool = JSON_OPTION) -> None:
    """The delivery log: each ERP document's delivery (state, attempts, the ERP's reference, the last error)."""
    try:
        rows = _api(url, profile).deliveries(state.value if state else None, order_id, limit,
                                             kind.value if kind else None)
    except DeliveryRefusal as error:
        _refused(error)
    if json_output:
        console.print_json(data=rows)
    else:
        render_deliveries(rows, console)


@erp_app.command("delivery")
def delivery(document_id: str, profile: str = PROFILE_OPTION, url: str = URL_OPTION,
             json_output: bool = JSON_OPTION) -> None:
    """One document's delivery, with each attempt and what came of it."""
    try:
        found = _api(url, profile).delivery(document_id)
    except DeliveryRefusal as error:
        _refused(error)
    if json_output:
        console.print_json(data=found)
    else:
        render_delivery(found, console)


@erp_app.command("resend")
def resend(document_id: str = typer.Argument(None, help="the document to send again"),
           all_dead_lettered: bool = typer.Option(False, "--all-dead-lettered",
                                                  help="every dead-lettered delivery (after a fix)"),
           by: str = typer.Option(os.environ.get("USER") or "operator", help="who asks (kept on the delivery)"),
           profile: str = PROFILE_OPTION, url: str = URL_OPTION) -> None:
    """Hand a document to the ERP again (same Idempotency-Key: the ERP de-duplicates), or every dead letter."""
    if (document_id is None) == (not all_dead_lettered):
        console.print("[red]name a DOCUMENT_ID or --all-dead-lettered (one of the two)[/red]")
        raise typer.Exit(2)
    api = _api(url, profile)
    try:
        if all_dead_lettered:
            answer = api.resend_all("dead_lettered", by)
            console.print(f"[green]{answer['count']} dead-lettered deliveries re-sent[/green]")
            for document in answer["resent"]:
                console.print(f"  {document}")
            for skipped in answer["skipped"]:
                console.print(f"  [yellow]skipped {skipped['document_id']}[/yellow]: {skipped['reason']}")
            if answer.get("more"):
                console.print("[dim]more are dead-lettered: run the command again[/dim]")
        else:
            answer = api.resend(document_id, by)
            console.print(f"[green]{answer['number']} ({answer['kind']}) is on its way to the ERP again[/green] "
                          f"(was {answer['resends'][-1]['previous_state']})")
    except DeliveryRefusal as error:
        _refused(error)
