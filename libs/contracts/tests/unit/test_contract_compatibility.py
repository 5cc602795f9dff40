"""No message changes incompatibly within its schema version: every message's current JSON schema is compared
with the committed snapshot of the same version (libs/contracts/schemas/<message_type>.v<schema_version>.json).
The rule is in oms_contracts.compatibility's docstring; synthetic models below show the checker catches every
incompatible change in both directions and lets the compatible ones through."""

from enum import StrEnum
from typing import ClassVar, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, create_model

from oms_contracts.compatibility import (
    REMEDY,
    SCHEMAS_DIR,
    SNAPSHOT_COMMAND,
    UnsupportedSchema,
    registry_messages,
    review_snapshots,
    schema_incompatibilities,
    snapshot_path,
    snapshot_text,
    write_snapshots,
)
from oms_contracts.envelope import Message
from oms_contracts.topics import ALL_TOPICS

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def review():
    return review_snapshots()


def test_every_message_of_the_registry_has_a_snapshot_of_its_current_version(review):
    assert len(registry_messages()) == len({m.message_type for t in ALL_TOPICS for m in t.messages})
    assert not review.missing, "\n".join(review.summary())


def test_no_message_changed_incompatibly_within_its_schema_version(review):
    assert not review.incompatible, "\n".join(
        [f"{found}" for found in review.incompatible] + [f"-> {REMEDY}"])


def test_each_snapshot_still_says_exactly_what_its_version_is(review):
    assert not review.refresh, (
        "compatible changes, but the snapshots no longer say exactly what these versions are; refresh them with "
        f"`{SNAPSHOT_COMMAND}`: " + ", ".join(path.name for path in review.refresh))


def test_no_snapshot_outlives_its_message_or_version(review):
    assert not review.strays, "\n".join(review.strays)


def test_the_committed_snapshots_are_the_schemas_of_the_current_versions():
    for message_type, kind in registry_messages().items():
        path = snapshot_path(message_type, kind.schema_version)
        assert path.parent == SCHEMAS_DIR
        assert path.read_text(encoding="utf-8") == snapshot_text(kind)


# synthetic messages: one original, and one change of it per rule


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0)


class LineWithoutQuantity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    sku: str = Field(min_length=1, max_length=64)


class Speed(StrEnum):
    standard = "standard"
    express = "express"


class SpeedWithoutExpress(StrEnum):
    standard = "standard"


ORIGINAL = {
    "order_id": (str, ...),
    "note": (str | None, None),
    "service_level": (Literal["standard", "express"], ...),
    "speed": (Speed, Speed.standard),
    "quantity": (int, Field(gt=0, le=100)),
    "lines": (tuple[Line, ...], ...),
    "available": (dict[str, int], Field(default_factory=dict)),
}


def synthetic(name: str = "Synthetic", *, drop: tuple[str, ...] = (), doc: str | None = None,
              **fields) -> type[Message]:
    """The original synthetic message with some fields dropped, changed or added."""
    definition = {k: v for k, v in ORIGINAL.items() if k not in drop} | fields
    return create_model(name, __base__=Message, __doc__=doc, **definition)


Original = synthetic()

INCOMPATIBLE = [
    ("field removed", synthetic(drop=("note",)), "note", "field removed"),
    ("nested field removed", synthetic(lines=(tuple[LineWithoutQuantity, ...], ...)), "lines[].quantity",
     "field removed"),
    ("type changed", synthetic(quantity=(str, ...)), "quantity", "type changed"),
    ("type narrowed: null no longer accepted", synthetic(note=(str, "")), "note", "type changed or narrowed"),
    ("a dict's value type changed", synthetic(available=(dict[str, bool], Field(default_factory=dict))),
     "available{}", "type changed"),
    ("optional field made required", synthetic(note=(str | None, ...)), "note", "optional field made required"),
    ("new required field without a default", synthetic(channel=(str, ...)), "channel",
     "new required field without a default"),
    ("literal value removed", synthetic(service_level=(Literal["standard"], ...)), "service_level",
     "literal/enum value removed"),
    ("enum value removed", synthetic(speed=(SpeedWithoutExpress, SpeedWithoutExpress.standard)), "speed",
     "literal/enum value removed"),
    ("constraint tightened", synthetic(quantity=(int, Field(gt=0, le=50))), "quantity", "constraint tightened"),
    ("nested constraint tightened", synthetic(lines=(tuple[create_model(
        "ShortLine", __config__=ConfigDict(extra="forbid"), sku=(str, Field(min_length=1, max_length=8)),
        quantity=(int, Field(gt=0))), ...], ...)), "lines[].sku", "constraint tightened"),
    # what a consumer still on the snapshot's model rejects (extra="forbid", producers write every field)
    ("new optional field with a default", synthetic(gift_message=(str | None, None)), "gift_message",
     "field added"),
    ("literal value added", synthetic(service_level=(Literal["standard", "express", "same_day"], ...)),
     "service_level", "literal/enum value added"),
    ("type widened", synthetic(quantity=(float, Field(gt=0, le=100))), "quantity", "type changed or widened"),
    ("type widened: null accepted", synthetic(order_id=(str | None, ...)), "order_id", "type changed or widened"),
    ("required field made optional", synthetic(order_id=(str, "")), "order_id", "required field made optional"),
    ("constraint loosened", synthetic(quantity=(int, Field(gt=0, le=1000))), "quantity", "constraint loosened"),
]

COMPATIBLE = [
    ("unchanged", synthetic()),
    ("a description, a title and a docstring", synthetic(
        doc="What the synthetic message says.",
        order_id=(str, Field(description="the order it concerns", title="Order")))),
    ("another default value", synthetic(speed=(Speed, Speed.express))),
    ("fields in another order", create_model("Synthetic", __base__=Message,
                                             **dict(reversed(list(ORIGINAL.items()))))),
    ("a renamed value model", synthetic(lines=(tuple[create_model(
        "OrderLine", __config__=ConfigDict(extra="forbid"), sku=(str, Field(min_length=1, max_length=64)),
        quantity=(int, Field(ge=1))), ...], ...))),
    ("Optional spelled another way", synthetic(note=(str | None, Field(default=None)))),
]


def _found(old: type[Message], new: type[Message]):
    return schema_incompatibilities(old.model_json_schema(), new.model_json_schema(), message_type="Synthetic",
                                    schema_version=1)


@pytest.mark.parametrize(("changed", "field", "rule"), [case[1:] for case in INCOMPATIBLE],
                         ids=[case[0] for case in INCOMPATIBLE])
def test_the_checker_catches_an_incompatible_change_and_names_the_field_and_the_rule(changed, field, rule):
    found = _found(Original, changed)
    assert [f.field for f in found] == [field], "\n".join(map(str, found))
    assert found[0].rule.startswith(rule), str(found[0])
    assert f"field `{field}`: {rule}" in str(found[0]) and str(found[0]).startswith("Synthetic (schema_version 1)")


@pytest.mark.parametrize("changed", [case[1] for case in INCOMPATIBLE], ids=[case[0] for case in INCOMPATIBLE])
def test_every_incompatible_change_is_incompatible_taken_back_too(changed):
    """One version is one set of payloads: the reverse change breaks the other side's consumers."""
    assert _found(changed, Original)


@pytest.mark.parametrize("changed", [case[1] for case in COMPATIBLE], ids=[case[0] for case in COMPATIBLE])
def test_the_checker_lets_a_change_through_that_leaves_the_payloads_as_they_are(changed):
    assert _found(Original, changed) == []
    assert _found(changed, Original) == []


def test_a_failure_names_the_message_the_field_the_rule_and_the_way_out(tmp_path):
    write_snapshots({"Synthetic": Original}, tmp_path)
    review = review_snapshots({"Synthetic": synthetic(drop=("note",))}, tmp_path)
    assert [(f.message_type, f.field, f.rule) for f in review.incompatible] == [("Synthetic", "note", "field removed")]
    summary = "\n".join(review.summary())
    assert "Synthetic (schema_version 1), field `note`: field removed" in summary
    assert "bump schema_version" in summary and "keep the old version's snapshot" in summary
    assert "or revert the change" in summary


def test_snapshots_are_added_refreshed_when_compatible_and_never_rewritten_when_not(tmp_path):
    v1 = snapshot_path("Synthetic", 1, tmp_path)
    written, refused = write_snapshots({"Synthetic": Original}, tmp_path)
    assert written == [v1] and refused == []
    assert review_snapshots({"Synthetic": Original}, tmp_path).clean

    described = synthetic(doc="Now with a description.")
    review = review_snapshots({"Synthetic": described}, tmp_path)
    assert review.refresh == [v1] and not review.incompatible
    assert write_snapshots({"Synthetic": described}, tmp_path) == ([v1], [])
    assert v1.read_text(encoding="utf-8") == snapshot_text(described)

    before = v1.read_text(encoding="utf-8")
    written, refused = write_snapshots({"Synthetic": synthetic(channel=(str, ...))}, tmp_path)
    assert written == [] and [f.field for f in refused] == ["channel"]
    assert v1.read_text(encoding="utf-8") == before

    class SyntheticV2(synthetic(channel=(str, ...))):
        schema_version: ClassVar[int] = 2

    written, refused = write_snapshots({"Synthetic": SyntheticV2}, tmp_path)
    assert written == [snapshot_path("Synthetic", 2, tmp_path)] and refused == []
    assert v1.read_text(encoding="utf-8") == before, "the old version's snapshot is kept as it was"
    assert review_snapshots({"Synthetic": SyntheticV2}, tmp_path).clean


def test_snapshots_of_no_message_or_of_a_version_taken_back_are_reported(tmp_path):
    write_snapshots({"Synthetic": Original}, tmp_path)
    snapshot_path("Gone", 1, tmp_path).write_text("{}", encoding="utf-8")
    snapshot_path("Synthetic", 2, tmp_path).write_text("{}", encoding="utf-8")
    strays = review_snapshots({"Synthetic": Original}, tmp_path).strays
    assert len(strays) == 2
    assert any(s.startswith("Gone.v1.json: no message Gone") for s in strays)
    assert any(s.startswith("Synthetic.v2.json: Synthetic is at schema_version 1") for s in strays)


def test_a_schema_keyword_the_checker_does_not_know_is_an_error_not_a_pass():
    schema = Original.model_json_schema()
    changed = {**schema, "properties": {**schema["properties"], "order_id": {"type": "string", "not": {"const": ""}}}}
    with pytest.raises(UnsupportedSchema, match="not"):
        schema_incompatibilities(schema, changed, message_type="Synthetic", schema_version=1)
