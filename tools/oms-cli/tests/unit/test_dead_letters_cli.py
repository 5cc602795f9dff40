"""``oms dlq list | show | replay`` against a service's dead-letter API served by uvicorn on a free port (its
consumer's dead letters in memory, as the consumer writes them; its application in memory): the list drawn and
filtered, one dead letter shown with its original, a replay refused until the fix and then done once, every one
replayed, the list across every service of a profile, and the commands used wrongly."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import ClassVar

import pytest
import uvicorn
from aiokafka import ConsumerRecord
from rich.console import Console
from typer.testing import CliRunner

from oms_cli import dead_letters
from oms_cli.dead_letters import dead_letters_app
from oms_cli.stack import SERVICE_BY_NAME
from oms_contracts.envelope import Message
from oms_contracts.topics import Topic
from oms_platform.consumer import Delivery, MessageConsumer, PoisonMessage
from oms_platform.dead_letter_api import dead_letter_routes
from oms_platform.dead_letter_desk import DeadLetterDesk, InMemoryDeadLetterReplays, InMemoryDeadLetters
from oms_platform.http import create_http_app
from oms_platform.kafka_probe import envelope_of
from oms_platform.testing_tallies import Mirrors

pytestmark = pytest.mark.unit


class ReturnReceived(Message):
    message_type: ClassVar[str] = "ReturnReceived"
    rma: str
    units: int


SOURCE = Topic("test.cli-dlq.returns.v1", "shipping", "rma", (ReturnReceived,), partitions=1)
DEAD = Topic("oms.returns.dead-letters.v1", "returns", "source key", (), partitions=1)


class KeptProducer:
    def __init__(self) -> None:
        self.records: list[ConsumerRecord] = []

    async def send_and_wait(self, topic: str, value: bytes, key: bytes, headers: list) -> None:
        self.records.append(ConsumerRecord(topic=topic, partition=0, offset=len(self.records), timestamp=0,
                                           timestamp_type=0, key=key, value=value, checksum=None,
                                           serialized_key_size=len(key), serialized_value_size=len(value),
                                           headers=headers))


class Returns:
    """A returns service in memory whose handler refuses the RMAs in ``refused``, and its dead letters."""

    def __init__(self) -> None:
        self.mirrors = Mirrors(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.refused = {"RMA-1", "RMA-2"}

        async def return_received(d: Delivery) -> None:
            m: ReturnReceived = d.message
            if m.rma in self.refused:
                raise PoisonMessage(f"{m.rma}: no such authorisation")
            await asyncio.to_thread(self.mirrors.apply, m.rma, m.units, d.tracking)

        self.consumer = MessageConsumer("returns", "unused:9092", "returns", {ReturnReceived: return_received},
                                        topics=[SOURCE], dead_letters=DEAD, already_processed=self.mirrors.is_processed)
        producer = KeptProducer()
        for offset, (rma, units) in enumerate((("RMA-1", 2), ("RMA-2", 1))):
            value = envelope_of(ReturnReceived(rma=rma, units=units), rma, "shipping", offset + 1).model_dump_json()
            record = ConsumerRecord(topic=SOURCE.name, partition=0, offset=offset + 40, timestamp=0, timestamp_type=0,
                                    key=rma.encode(), value=value.encode(), checksum=None, serialized_key_size=5,
                                    serialized_value_size=len(value), headers=[])
            asyncio.run(self.consumer._dead_letter(record, f"{rma}: no such authorisation", producer, asyncio.Event()))
        self.desk = DeadLetterDesk([self.consumer], InMemoryDeadLetters(DEAD.name, producer.records),
                                   InMemoryDeadLetterReplays())


@pytest.fixture
def served():
    """The returns service, and the URL its dead-letter API is served at."""
    returns = Returns()
    app = create_http_app("returns", title="returns")
    app.include_router(dead_letter_routes(returns.desk))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield returns, server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def run(*args: str) -> tuple[int, str]:
    dead_letters.console = Console(width=250, force_terminal=False)
    result = CliRunner().invoke(dead_letters_app, list(args))
    return result.exit_code, result.output


def test_the_operator_lists_shows_and_replays_dead_letters_once_after_the_fix(served):
    returns, port = served
    url = f"http://127.0.0.1:{port}"
    code, shown = run("list", "--service", "returns", "--url", url)
    assert code == 0, shown
    assert "dead letters (2)" in shown and "RMA-1: no such authorisation" in shown and "0-1" in shown
    assert f"{SOURCE.name} [0] @40" in shown and "ReturnReceived" in shown
    code, shown = run("list", "--service", "returns", "--source-topic", "elsewhere.v1", "--url", url)
    assert code == 0 and "no dead letters" in shown
    code, shown = run("list", "--service", "returns", "--limit", "1", "--json", "--url", url)
    assert code == 0 and '"total": 2' in shown and '"id": "0-1"' in shown and '"id": "0-0"' not in shown

    code, shown = run("show", "returns", "0-0", "--url", url)
    assert code == 0, shown
    assert '"rma": "RMA-1"' in shown and "decodes for its handler  yes" in shown and f"{DEAD.name}#0@0:1" in shown

    code, shown = run("replay", "returns", "0-0", "--url", url)
    assert code == 1 and "422" in shown and "RMA-1: no such authorisation" in shown
    code, shown = run("list", "--service", "returns", "--url", url)
    assert "still failing (1×)" in shown
    returns.refused.discard("RMA-1")  # the fix, for one of the two
    code, shown = run("replay", "returns", "0-0", "--url", url)
    assert code == 0 and "0-0 replayed" in shown and "ReturnReceived" in shown
    code, shown = run("replay", "returns", "0-0", "--url", url)
    assert code == 0 and "already replayed" in shown and "nothing done" in shown
    assert returns.mirrors.seen("RMA-1") == [2]

    code, shown = run("replay", "returns", "--all", "--url", url)
    assert code == 1 and "0 replayed" in shown and "1 still failing" in shown and "RMA-2: no such" in shown
    returns.refused.clear()
    code, shown = run("replay", "returns", "--all", "--source-topic", SOURCE.name, "--url", url)
    assert code == 0 and "1 replayed" in shown and "0-1" in shown
    assert returns.mirrors.seen("RMA-2") == [1] and returns.mirrors.seen("RMA-1") == [2]
    code, shown = run("show", "returns", "0-1", "--url", url)
    assert code == 0 and "replayed" in shown and "the last" in shown

    code, shown = run("show", "returns", "0-7", "--url", url)
    assert code == 1 and "404 Dead letter not found" in shown
    code, shown = run("show", "returns", "seven", "--url", url)
    assert code == 1 and "422" in shown and "/dead_letter_id" in shown


def test_every_service_of_a_profile_is_asked_and_one_that_does_not_answer_is_named(served, monkeypatch):
    _, port = served
    # the profile's returns service is the one served here; the others do not answer
    monkeypatch.setenv("OMS_HTTP_BASE_PORT", str(port - SERVICE_BY_NAME["returns"].port_offset))
    code, shown = run("list", "--all-services")
    assert code == 1
    assert "returns" in shown and "RMA-2: no such authorisation" in shown and "dead letters (2)" in shown
    assert "order-orchestrator: the service at" in shown and "did not answer" in shown


def test_commands_used_wrongly():
    for args in (("list",), ("list", "--service", "returns", "--all-services"),
                 ("list", "--all-services", "--url", "http://127.0.0.1:9"),
                 ("replay", "returns"), ("replay", "returns", "0-0", "--all"),
                 ("replay", "returns", "0-0", "--source-topic", "t"), ("show", "warehouse", "0-0")):
        code, shown = run(*args)
        assert code == 2, (args, shown)
    assert "no service 'warehouse'" in run("show", "warehouse", "0-0")[1]
    code, shown = run("list", "--service", "returns", "--url", "http://127.0.0.1:9")
    assert code == 1 and "did not answer" in shown
