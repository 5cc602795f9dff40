"""``oms dlq list | show | replay``: the messages each service's consumers gave up on, as the services' APIs keep
them (``/v1/dead-letters``), and their replay after a fix.

* ``oms dlq list --service S`` (or ``--all-services``) ``[--source-topic T]``: newest first, each with its reason,
  where it came from (topic, partition, offset), when, and whether it was replayed;
* ``oms dlq show SERVICE ID``: one dead letter with its original message decoded, and why it would still not be
  handled (if it would not);
* ``oms dlq replay SERVICE ID`` or ``oms dlq replay SERVICE --all``: the original handed to the service's handler
  again, once: a second replay changes nothing.

The id is the dead letter's ``<partition>-<offset>`` on the service's dead-letter topic. A refusal (an unknown id,
a message that still cannot be handled) or a service that does not answer ends the command with exit code 1,
saying why. With ``OMS_OPERATOR_TOKEN`` set on the services, the command sends it (the demo token otherwise)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.table import Table

from .service_problems import refusal_text
from .stack import DEMO_OPERATOR_TOKEN, SERVICE_BY_NAME, SERVICES, StackProfile

dead_letters_app = typer.Typer(help="Dead letters of the services' consumers: list them, show one, replay after a fix.",
                               no_args_is_help=True)
console = Console()


class DeadLetterRefusal(Exception):
    """The service refused (problem+json), or did not answer: what it said."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass
class DeadLettersApi:
    """A service's ``/v1/dead-letters`` at ``base_url``."""

    base_url: str
    operator: str = field(default_factory=lambda: os.environ.get("USER") or "operator")
    token: str = field(default_factory=lambda: os.environ.get("OMS_OPERATOR_TOKEN") or DEMO_OPERATOR_TOKEN)
    transport: httpx.BaseTransport | None = None

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", "X-Operator": self.operator}
        try:
            with httpx.Client(base_url=self.base_url, timeout=60, transport=self.transport) as client:
                response = client.request(method, "/v1/dead-letters" + path, headers=headers, **kwargs)
        except httpx.HTTPError as failed:
            raise DeadLetterRefusal(f"the service at {self.base_url} did not answer: {failed}") from None
        if response.status_code >= 400:
            raise DeadLetterRefusal(refusal_text(response), response.status_code)
        return response.json()

    def dead_letters(self, source_topic: str | None = None, limit: int = 100) -> dict[str, Any]:
        params = {k: v for k, v in {"source_topic": source_topic, "limit": limit}.items() if v is not None}
        return self._request("GET", "", params=params)

    def dead_letter(self, dead_letter_id: str) -> dict[str, Any]:
        return self._request("GET", f"/{dead_letter_id}")

    def replay(self, dead_letter_id: str) -> dict[str, Any]:
        return self._request("POST", f"/{dead_letter_id}/replay")

    def replay_all(self, source_topic: str | None = None) -> dict[str, Any]:
        return self._request("POST", "/replay", json={"source_topic": source_topic} if source_topic else {})


def _moment(value: str | None) -> str:
    return (value or "")[:19].replace("T", " ")


def _replayed(entry: dict[str, Any]) -> str:
    replay = entry.get("replay")
    if not replay:
        return "-"
    if replay["outcome"] == "replayed":
        return f"[green]replayed {_moment(replay['replayed_at'])}[/green]"
    return f"[red]still failing ({replay['attempts']}×)[/red]: {replay.get('reason') or ''}"


def _source(entry: dict[str, Any]) -> str:
    return f"{entry['source_topic']} [{entry['source_partition']}] @{entry['source_offset']}"


def render_dead_letters(answers: dict[str, dict[str, Any]], out: Console) -> None:
    """Each service's answer to ``GET /v1/dead-letters`` as one table (a service column when there are several)."""
    rows = [(service, entry) for service, answer in answers.items() for entry in answer["dead_letters"]]
    total = sum(answer["total"] for answer in answers.values())
    if not rows:
        out.print("[dim]no dead letters[/dim]")
        return
    several = len(answers) > 1
    title = f"dead letters ({len(rows)} of {total})" if total > len(rows) else f"dead letters ({total})"
    table = Table(title=title, header_style="bold")
    for column in (["service"] if several else []) + ["id", "dead-lettered", "consumer", "source", "key", "type",
                                                      "reason", "replay"]:
        table.add_column(column, overflow="fold")
    for service, entry in rows:
        table.add_row(*([service] if several else []), entry["id"], _moment(entry["dead_lettered_at"]),
                      entry["consumer"], _source(entry), entry.get("key") or "-", entry.get("event_type") or "?",
                      entry["reason"], _replayed(entry))
    out.print(table)


def render_dead_letter(entry: dict[str, Any], out: Console) -> None:
    facts = Table(show_header=False, box=None)
    facts.add_column(style="bold")
    facts.add_column(overflow="fold")
    replay = entry.get("replay") or {}
    for label, value in (("dead letter", f"{entry['id']} on {entry['dead_letter_topic']} ({entry['service']})"),
                         ("dead-lettered", _moment(entry["dead_lettered_at"]) or "-"),
                         ("consumer", entry["consumer"] or "-"), ("source", _source(entry)),
                         ("key", entry.get("key") or "-"), ("type", entry.get("event_type") or "?"),
                         ("reason", f"[red]{entry['reason']}[/red]"),
                         ("decodes for its handler", "yes" if entry.get("decoding_problem") is None
                          else f"[red]no: {entry['decoding_problem']}[/red]"),
                         ("replay", _replayed(entry)),
                         ("attempts", f"{replay['attempts']}, the last {_moment(replay['last_attempt_at'])} by "
                                      f"{replay['requested_by']}" if replay else "-"),
                         ("tracking record", entry.get("replay_tracking") or "-")):
        facts.add_row(label, value)
    out.print(facts)
    if entry.get("original") is not None:
        out.print("[bold]original message[/bold]")
        out.print_json(data=entry["original"])
    else:
        out.print(f"[bold]original message[/bold] (not JSON): {entry['value']!r}")


def _refused(error: DeadLetterRefusal) -> NoReturn:
    console.print(f"[red]{error}[/red]")
    raise typer.Exit(1)


def _known(service: str) -> str:
    if service not in SERVICE_BY_NAME:
        console.print(f"[red]no service {service!r}: one of {', '.join(SERVICE_BY_NAME)}[/red]")
        raise typer.Exit(2)
    return service


def _api(service: str, url: str | None, profile: str) -> DeadLettersApi:
    _known(service)
    return DeadLettersApi(url or StackProfile.named(profile).url(service))


PROFILE_OPTION = typer.Option("run", help="stack profile whose services to ask")
URL_OPTION = typer.Option(None, "--url", help="the service's URL (default: the profile's)")
JSON_OPTION = typer.Option(False, "--json", help="the API's answer as JSON")
SOURCE_TOPIC_OPTION = typer.Option(None, "--source-topic", help="only dead letters of this topic")


@dead_letters_app.command("list")
def list_dead_letters(service: str = typer.Option(None, "--service", help="this service's dead letters"),
                      all_services: bool = typer.Option(False, "--all-services", help="every service's"),
                      source_topic: str = SOURCE_TOPIC_OPTION,
                      limit: int = typer.Option(100, min=1, max=1000, help="the newest this many, per service"),
                      profile: str = PROFILE_OPTION, url: str = URL_OPTION, json_output: bool = JSON_OPTION) -> None:
    """Dead letters, newest first: reason, source (topic, partition, offset), when, and whether replayed."""
    if (service is None) == (not all_services):
        console.print("[red]name a --service or --all-services (one of the two)[/red]")
        raise typer.Exit(2)
    if url and all_services:
        console.print("[red]--url names one service's address: use it with --service[/red]")
        raise typer.Exit(2)
    names = [service] if service else [s.name for s in SERVICES]
    answers: dict[str, dict[str, Any]] = {}
    silent: list[str] = []
    for name in names:
        try:
            answers[name] = _api(name, url, profile).dead_letters(source_topic, limit)
        except DeadLetterRefusal as error:
            if service:
                _refused(error)
            if error.status == 404:  # a service with no consumers keeps no dead letters
                continue
            silent.append(name)
            console.print(f"[yellow]{name}: {error}[/yellow]")
    if json_output:
        console.print_json(data=answers[service] if service else answers)
    else:
        render_dead_letters(answers, console)
    if silent:
        raise typer.Exit(1)


@dead_letters_app.command("show")
def show(service: str = typer.Argument(..., help="the service whose consumer dead-lettered it"),
         dead_letter_id: str = typer.Argument(..., metavar="ID", help="<partition>-<offset>, as listed"),
         profile: str = PROFILE_OPTION, url: str = URL_OPTION, json_output: bool = JSON_OPTION) -> None:
    """One dead letter in full: the original message decoded, and whether it would be handled now."""
    try:
        found = _api(service, url, profile).dead_letter(dead_letter_id)
    except DeadLetterRefusal as error:
        _refused(error)
    if json_output:
        console.print_json(data=found)
    else:
        render_dead_letter(found, console)


@dead_letters_app.command("replay")
def replay(service: str = typer.Argument(..., help="the service whose consumer dead-lettered it"),
           dead_letter_id: str = typer.Argument(None, metavar="[ID]", help="<partition>-<offset>, as listed"),
           every: bool = typer.Option(False, "--all", help="every dead letter not replayed yet (after a fix)"),
           source_topic: str = SOURCE_TOPIC_OPTION, profile: str = PROFILE_OPTION, url: str = URL_OPTION) -> None:
    """Hand a dead letter's message to the service's handler again (or every one not replayed yet): once only, a
    second replay changes nothing. Exit code 1 when one still cannot be handled."""
    if (dead_letter_id is None) == (not every):
        console.print("[red]name an ID or --all (one of the two)[/red]")
        raise typer.Exit(2)
    if source_topic and not every:
        console.print("[red]--source-topic chooses among all: use it with --all[/red]")
        raise typer.Exit(2)
    api = _api(service, url, profile)
    try:
        if not every:
            answer = api.replay(dead_letter_id)
            if answer["outcome"] == "replayed":
                console.print(f"[green]{dead_letter_id} replayed[/green]: its {answer.get('event_type') or 'message'} "
                              f"from {_source(answer)} was handled")
            else:
                console.print(f"[yellow]{dead_letter_id} was already replayed "
                              f"({_moment(answer['replay']['replayed_at'])}): nothing done[/yellow]")
            return
        answer = api.replay_all(source_topic)
    except DeadLetterRefusal as error:
        _refused(error)
    console.print(f"[green]{len(answer['replayed'])} replayed[/green], {len(answer['already_replayed'])} already "
                  f"replayed, {len(answer['failed'])} still failing (of {answer['attempted']} not replayed yet)")
    for replayed in answer["replayed"]:
        console.print(f"  [green]{replayed}[/green]")
    for failed in answer["failed"]:
        console.print(f"  [red]{failed['id']}[/red]: {failed['reason']}")
    if answer["failed"]:
        raise typer.Exit(1)
