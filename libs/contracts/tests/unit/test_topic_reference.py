"""The public order status topic's reference in docs/topics/ is the one the contracts write: it cannot drift."""

import pytest

from oms_contracts.reference import PUBLIC_TOPICS, reference_path, topic_reference_markdown

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("topic", PUBLIC_TOPICS, ids=lambda t: t.name)
def test_the_public_topics_reference_matches_the_contracts(topic):
    written = reference_path(topic).read_text(encoding="utf-8")
    assert written == topic_reference_markdown(topic), (
        f"{reference_path(topic)} is out of date: run `uv run python -m oms_contracts.reference`")


def test_the_reference_names_every_message_of_the_topic_with_its_fields():
    [orders] = PUBLIC_TOPICS
    document = topic_reference_markdown(orders)
    for kind in orders.messages:
        assert f"### `{kind.message_type}` (version {kind.schema_version})" in document
        for field in kind.model_fields:
            assert f"| `{field}` |" in document
