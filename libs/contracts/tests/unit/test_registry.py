import pytest

from oms_contracts import ALL_TOPICS, DATA_TOPICS, SERVICES, topic_for_message
from oms_contracts.envelope import Message
from oms_contracts.gateway import OrderAccepted
from oms_contracts.topics import UnknownMessageType, topic_named

pytestmark = pytest.mark.unit


def test_every_topic_has_one_known_producer_and_a_versioned_name():
    for topic in ALL_TOPICS:
        assert topic.producer in SERVICES
        assert topic.name.endswith(".v1")
    assert len({t.name for t in ALL_TOPICS}) == len(ALL_TOPICS)


def test_every_message_is_carried_by_exactly_one_topic_and_has_a_schema_version():
    seen: dict[type[Message], str] = {}
    for topic in DATA_TOPICS:
        for message in topic.messages:
            assert message not in seen, f"{message.__name__} on {seen.get(message)} and {topic.name}"
            seen[message] = topic.name
            assert message.schema_version >= 1
            assert message.message_type == message.__name__
    assert topic_for_message(OrderAccepted).name == "oms.gateway.orders.v1"


def test_commands_are_imperative_and_events_past_tense_by_kind():
    for topic in DATA_TOPICS:
        kinds = {m.message_kind for m in topic.messages}
        assert len(kinds) == 1, f"{topic.name} mixes commands and events"


def test_unknown_message_type_is_a_clear_error():
    with pytest.raises(UnknownMessageType, match="NoSuchThing"):
        topic_named("oms.gateway.orders.v1").message_class("NoSuchThing")
