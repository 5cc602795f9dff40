"""The dead-letter desk in memory: dead letters written by a consumer (its own ``_dead_letter``, into a producer
that keeps them) read back, listed and decoded; replayed through the consumer's decoding and handler into an
in-memory application, once per dead letter however often asked and in any order; the API's answers (404,
422 with the reason, the list showing what was replayed)."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import httpx
import pytest
from aiokafka import ConsumerRecord

from oms_contracts.envelope import Message
from oms_contracts.topics import Topic
from oms_platform.consumer import Delivery, MessageConsumer, PoisonMessage
from oms_platform.dead_letter_api import dead_letter_routes
from oms_platform.dead_letter_desk import (
    DeadLetterDesk,
    InMemoryDeadLetterReplays,
    InMemoryDeadLetters,
    UnknownDeadLetter,
    read_dead_letter,
    replays_kept_by,
)
from oms_platform.http import create_http_app
from oms_platform.kafka_probe import envelope_of
from oms_platform.testing_tallies import Mirrors, TallyAdded

pytestmark = pytest.mark.unit

NAMESPACE = "ns."
TALLIES = Topic("test.dead-letter-desk.tallies.v1", "order-orchestrator", "tally", (TallyAdded,), partitions=3)
DEAD = Topic("test.dead-letter-desk.dead-letters.v1", "inventory-ledger", "source key", (), partitions=1)


class TallyClosed(Message):
    message_type: ClassVar[str] = "TallyClosed"
    tally: str


OTHERS = Topic("test.dead-letter-desk.others.v1", "order-orchestrator", "tally", (TallyClosed,), partitions=1)


class KeptProducer:
    """Stands in for the consumer's Kafka producer of dead letters: keeps what it is given as records."""

    def __init__(self) -> None:
        self.records: list[ConsumerRecord] = []

    async def send_and_wait(self, topic: str, value: bytes, key: bytes, headers: list) -> None:
        self.records.append(ConsumerRecord(topic=topic, partition=0, offset=len(self.records), timestamp=1_700_000_000_000,
                                           timestamp_type=0, key=key, value=value, checksum=None,
                                           serialized_key_size=len(key), serialized_value_size=len(value),
                                           headers=headers))


class Ledger:
    """An in-memory application and a handler that refuses amounts it has not been fixed to take."""

    def __init__(self) -> None:
        self.mirrors = Mirrors(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.refused: set[int] = {13, 14}
        self.calls = 0

        async def tally_added(d: Delivery) -> None:
            self.calls += 1
            m: TallyAdded = d.message
            if m.amount in self.refused:
                raise PoisonMessage(f"amount {m.amount} is refused")
            await asyncio.to_thread(self.mirrors.apply, m.tally, m.amount, d.tracking)

        self.consumer = MessageConsumer("inventory-ledger", "unused:9092", "ledger-group", {TallyAdded: tally_added},
                                        topics=[TALLIES, OTHERS], dead_letters=DEAD, namespace=NAMESPACE,
                                        already_processed=self.mirrors.is_processed)


def source_record(value: bytes, offset: int, key: bytes = b"t1", topic: Topic = TALLIES) -> ConsumerRecord:
    return ConsumerRecord(topic=NAMESPACE + topic.name, partition=2, offset=offset, timestamp=0, timestamp_type=0,
                          key=key, value=value, checksum=None, serialized_key_size=len(key),
                          serialized_value_size=len(value), headers=[])


def added(tally: str, amount: int, notification_id: int) -> bytes:
    return envelope_of(TallyAdded(tally=tally, amount=amount, total=amount), tally, "order-orchestrator",
                       notification_id).model_dump_json().encode()


async def dead_lettered(ledger: Ledger, *records_and_reasons: tuple[ConsumerRecord, str]) -> list[ConsumerRecord]:
    """The records as ``ledger``'s consumer writes them to its dead-letter topic."""
    producer = KeptProducer()
    for record, reason in records_and_reasons:
        await ledger.consumer._dead_letter(record, reason, producer, asyncio.Event())
    return producer.records


@pytest.fixture
async def ledger_and_letters():
    ledger = Ledger()
    letters = await dead_lettered(
        ledger,
        (source_record(added("t1", 13, 40), 7), "amount 13 is refused"),
        (source_record(b"{not json", 8), "invalid envelope: ..."),
        (source_record(added("t1", 14, 41), 9), "amount 14 is refused"),
        (source_record(envelope_of(TallyClosed(tally="t1"), "t1", "order-orchestrator", 3).model_dump_json().encode(),
                       2, topic=OTHERS), "handler failed after 3 attempts: ..."))
    desk = DeadLetterDesk([ledger.consumer], InMemoryDeadLetters(NAMESPACE + DEAD.name, letters),
                          InMemoryDeadLetterReplays())
    return ledger, letters, desk


async def test_a_dead_letter_as_the_consumer_writes_it_is_read_back_with_its_source_and_reason(ledger_and_letters):
    _, records, _ = ledger_and_letters
    first, garbage = read_dead_letter(records[0]), read_dead_letter(records[1])
    assert (first.id, first.consumer, first.source_topic, first.source_partition, first.source_offset) == (
        "0-0", "ledger-group", NAMESPACE + TALLIES.name, 2, 7)
    assert (first.key, first.reason, first.event_type, first.readable) == ("t1", "amount 13 is refused", "TallyAdded",
                                                                           True)
    assert first.original()["payload"] == {"tally": "t1", "amount": 13, "total": 13}
    assert first.dead_lettered_at is not None
    assert (garbage.value, garbage.event_type, garbage.original()) == ("{not json", None, None)
    unreadable = read_dead_letter(source_record(b'{"neither": "an envelope"}', 3))
    assert not unreadable.readable and unreadable.reason.startswith("unreadable dead-letter record")


async def test_the_listing_is_newest_first_filtered_by_source_topic_and_limited(ledger_and_letters):
    _, _, desk = ledger_and_letters
    listing = await desk.listing()
    assert [d.id for d, _ in listing.entries] == ["0-3", "0-2", "0-1", "0-0"] and listing.total == 4
    by_registry_name = await desk.listing(source_topic=TALLIES.name, limit=2)
    assert [d.id for d, _ in by_registry_name.entries] == ["0-2", "0-1"] and by_registry_name.total == 3
    assert (await desk.listing(source_topic=NAMESPACE + OTHERS.name)).total == 1
    assert (await desk.listing(source_topic="somewhere.else.v1")).total == 0
    letter, replay = await desk.dead_letter("0-0")
    assert letter.reason == "amount 13 is refused" and replay is None
    assert desk.decoding_problem(letter) is None
    garbage, _ = await desk.dead_letter("0-1")
    assert "invalid envelope" in desk.decoding_problem(garbage)
    for unknown in ("0-9", "1-0", "zero"):
        with pytest.raises(UnknownDeadLetter):
            await desk.dead_letter(unknown)


async def test_a_replay_after_the_fix_has_its_effect_once_however_often_and_in_whichever_order(ledger_and_letters):
    ledger, _, desk = ledger_and_letters
    still = await desk.replay("0-0")
    assert (still.outcome, still.reason, still.record.outcome, still.record.attempts) == (
        "failed", "amount 13 is refused", "failed", 1)
    assert ledger.mirrors.seen("t1") == []
    ledger.refused.clear()  # the fix
    later_first = await desk.replay("0-2")  # a later dead letter first: each has a tracking record of its own
    assert later_first.outcome == "replayed" and ledger.mirrors.seen("t1") == [14]
    done = await desk.replay("0-0")
    assert (done.outcome, done.reason, done.record.attempts) == ("replayed", None, 2)
    assert done.record.replayed_at is not None
    calls = ledger.calls
    again = await desk.replay("0-0")
    assert again.outcome == "already_replayed" and again.record.outcome == "replayed"
    assert again.record.replayed_at == done.record.replayed_at
    assert ledger.mirrors.seen("t1") == [14, 13] and ledger.calls == calls  # nothing handled twice
    listing = {d.id: r for d, r in (await desk.listing()).entries}
    assert listing["0-0"].outcome == "replayed" and listing["0-2"].outcome == "replayed" and listing["0-1"] is None


async def test_replaying_all_replays_those_not_replayed_yet_and_says_why_the_others_fail(ledger_and_letters):
    ledger, _, desk = ledger_and_letters
    ledger.refused = {14}
    first = await desk.replay_all()
    assert [(r.dead_letter.id, r.outcome) for r in first] == [
        ("0-0", "replayed"), ("0-1", "failed"), ("0-2", "failed"), ("0-3", "failed")]
    reasons = {r.dead_letter.id: r.reason for r in first}
    assert "invalid envelope" in reasons["0-1"] and reasons["0-2"] == "amount 14 is refused"
    assert reasons["0-3"] == "no handler of ledger-group takes TallyClosed"
    ledger.refused.clear()
    second = await desk.replay_all(source_topic=TALLIES.name)
    assert [(r.dead_letter.id, r.outcome) for r in second] == [("0-1", "failed"), ("0-2", "replayed")]
    assert ledger.mirrors.seen("t1") == [13, 14]


async def test_replay_outcomes_are_kept_in_memory_for_an_event_store_in_memory():
    assert isinstance(replays_kept_by(Mirrors(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})),
                      InMemoryDeadLetterReplays)
    assert isinstance(replays_kept_by(None), InMemoryDeadLetterReplays)


async def test_a_dead_letter_of_a_topic_no_consumer_here_reads_cannot_be_replayed():
    ledger = Ledger()
    stranger = ConsumerRecord(topic="elsewhere.v1", partition=0, offset=1, timestamp=0, timestamp_type=0, key=b"k",
                              value=added("t9", 1, 1), checksum=None, serialized_key_size=1,
                              serialized_value_size=1, headers=[])
    records = await dead_lettered(ledger, (stranger, "handler failed"))
    desk = DeadLetterDesk([ledger.consumer], InMemoryDeadLetters(NAMESPACE + DEAD.name, records),
                          InMemoryDeadLetterReplays())
    replay = await desk.replay("0-0")
    assert replay.outcome == "failed" and replay.reason == "no consumer of inventory-ledger reads elsewhere.v1"


# ---- the API ----

@pytest.fixture
async def api(ledger_and_letters):
    ledger, _, desk = ledger_and_letters
    app = create_http_app("inventory-ledger", title="test")
    app.include_router(dead_letter_routes(desk))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ledger") as client:
        yield ledger, client


async def test_the_api_lists_shows_and_replays_and_answers_404_and_422_with_the_reason(api):
    ledger, client = api
    listed = (await client.get("/v1/dead-letters", params={"source_topic": TALLIES.name})).json()
    assert listed["dead_letter_topic"] == NAMESPACE + DEAD.name and listed["total"] == 3
    assert [(d["id"], d["event_type"], d["replayed"], d["replay"]) for d in listed["dead_letters"]] == [
        ("0-2", "TallyAdded", False, None), ("0-1", None, False, None), ("0-0", "TallyAdded", False, None)]
    shown = (await client.get("/v1/dead-letters/0-0")).json()
    assert shown["original"]["payload"]["amount"] == 13 and shown["source_offset"] == 7
    assert shown["decoding_problem"] is None and shown["consumer"] == "ledger-group"
    assert shown["replay_tracking"] == f"{NAMESPACE}{DEAD.name}#0@0:1"

    refused = await client.post("/v1/dead-letters/0-0/replay")
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["reason"] == "amount 13 is refused" and refused.json()["dead_letter_id"] == "0-0"
    listed = (await client.get("/v1/dead-letters", params={"limit": 1, "source_topic": TALLIES.name})).json()
    assert listed["total"] == 3 and len(listed["dead_letters"]) == 1
    failed = (await client.get("/v1/dead-letters/0-0")).json()["replay"]
    assert (failed["outcome"], failed["reason"], failed["attempts"]) == ("failed", "amount 13 is refused", 1)

    ledger.refused.clear()
    replayed = await client.post("/v1/dead-letters/0-0/replay")
    assert replayed.status_code == 200 and replayed.json()["outcome"] == "replayed" and replayed.json()["replayed"]
    twice = await client.post("/v1/dead-letters/0-0/replay")
    assert twice.status_code == 200 and twice.json()["outcome"] == "already_replayed"
    assert ledger.mirrors.seen("t1") == [13]

    every = (await client.post("/v1/dead-letters/replay", json={"source_topic": TALLIES.name})).json()
    assert every == {"attempted": 2, "replayed": ["0-2"], "already_replayed": [],
                     "failed": [{"id": "0-1", "reason": every["failed"][0]["reason"]}]}
    assert "invalid envelope" in every["failed"][0]["reason"]
    assert ledger.mirrors.seen("t1") == [13, 14]

    unknown = await client.post("/v1/dead-letters/0-99/replay")
    assert unknown.status_code == 404 and "0-99" in unknown.json()["detail"]
    assert (await client.get("/v1/dead-letters/5-0")).status_code == 404
    malformed = await client.get("/v1/dead-letters/zero")
    assert malformed.status_code == 422 and malformed.json()["errors"][0]["pointer"] == "/dead_letter_id"
    assert (await client.get("/v1/dead-letters", params={"limit": 0})).json()["errors"][0]["pointer"] == "/limit"
    bad_body = await client.post("/v1/dead-letters/replay", json={"source_topic": 7})
    assert bad_body.status_code == 422 and bad_body.json()["errors"][0]["pointer"] == "/source_topic"


async def test_the_api_answers_503_when_the_broker_does_not(ledger_and_letters):
    ledger, _, desk = ledger_and_letters

    class GoneBroker(InMemoryDeadLetters):
        async def every_record(self) -> list[Any]:
            raise ConnectionError("broker gone")

    desk.records = GoneBroker(NAMESPACE + DEAD.name)
    app = create_http_app("inventory-ledger", title="test")
    app.include_router(dead_letter_routes(desk))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ledger") as client:
        answer = await client.get("/v1/dead-letters")
    assert answer.status_code == 503 and "broker gone" in answer.json()["detail"]



async def test_with_an_operator_token_only_operators_see_and_replay_and_who_replayed_is_kept(ledger_and_letters):
    ledger, _, desk = ledger_and_letters
    app = create_http_app("inventory-ledger", title="test")
    app.include_router(dead_letter_routes(desk, operator_token="s3cret"))
    ledger.refused.clear()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ledger") as client:
        for method, path in (("GET", "/v1/dead-letters"), ("GET", "/v1/dead-letters/0-0"),
                             ("POST", "/v1/dead-letters/0-0/replay"), ("POST", "/v1/dead-letters/replay")):
            refused = await client.request(method, path, headers={"Authorization": "Bearer wrong"})
            assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer", path
        operator = {"Authorization": "Bearer s3cret", "X-Operator": "asha"}
        replayed = await client.post("/v1/dead-letters/0-0/replay", headers=operator)
        assert replayed.status_code == 200 and replayed.json()["replay"]["requested_by"] == "asha"
    assert ledger.mirrors.seen("t1") == [13]


class AwaitingTopics:
    """A worker running a consumer of its own (as shipping's notifications consumer is run)."""

    def __init__(self, consumer: MessageConsumer):
        self.consumer = consumer


def test_a_service_process_has_a_desk_for_the_consumers_among_its_workers_writing_to_its_dead_letter_topic():
    main, wrapped = Ledger().consumer, Ledger().consumer
    elsewhere = MessageConsumer("inventory-ledger", "unused:9092", "g", {}, topics=[TALLIES], namespace=NAMESPACE,
                                dead_letters=OTHERS)
    desk = DeadLetterDesk.of_workers([object(), main, AwaitingTopics(wrapped), elsewhere], None)
    assert desk is not None and desk.consumers == [main, wrapped]
    assert desk.topic_name == NAMESPACE + DEAD.name and desk.service == "inventory-ledger"
    assert DeadLetterDesk.of_workers([object()], None) is None
