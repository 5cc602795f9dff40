"""The item master: an ERP line read into facts in our units (cm, grams) with each bad field refused with its
reason; the MasterItem recording each change once with what changed and nothing for the same values; the
application taking lines (one SKU twice, a refused line among good ones); the item master file (CSV, JSON);
the read model following the event store."""

from datetime import UTC, datetime, timedelta

import pytest
from erp_bridge.adapters.item_master_view import InMemoryItemMasterView, item_master_projection
from erp_bridge.application.item_master import ItemMaster, ItemNotFound
from erp_bridge.domain.erp_item_file import ItemFileUnreadable, read_item_file
from erp_bridge.domain.item_master import (
    ItemLineRefused,
    MasterItem,
    gtin_check_digit,
    item_facts,
    master_item_id,
)

pytestmark = pytest.mark.unit

SHIRT = {"sku": "TSHIRT-RED-M", "description": "T-shirt, red, M", "length": "300", "width": "250", "height": "20",
         "dimension_unit": "mm", "weight": "0.18", "weight_unit": "kg", "hsn_code": "61091000",
         "barcode": "8901234567890", "active": "yes", "list_price": "499.00", "currency": "inr"}


def refused(line) -> list[tuple[str, str]]:
    with pytest.raises(ItemLineRefused) as caught:
        item_facts(line)
    return caught.value.problems


def test_an_erp_line_is_read_into_centimetres_and_grams():
    sku, facts = item_facts(SHIRT)
    assert sku == "TSHIRT-RED-M"
    assert facts == {"description": "T-shirt, red, M", "length_cm": "30", "width_cm": "25", "height_cm": "2",
                     "weight_g": "180", "hsn_code": "61091000", "barcode": "8901234567890", "active": True,
                     "list_price": "499", "currency": "INR"}
    # the default units are cm and g; JSON numbers and booleans as they come
    assert item_facts({"sku": "MUG", "length": 12.5, "weight": 350, "active": False}) == (
        "MUG", {"length_cm": "12.5", "weight_g": "350", "active": False})
    assert item_facts({"sku": "MUG", "height": "1.5", "dimension_unit": "M"})[1] == {"height_cm": "150"}


def test_a_line_states_only_the_fields_it_names_and_empty_clears():
    assert item_facts({"sku": "MUG", "list_price": "349.5", "currency": "INR"})[1] == {"list_price": "349.5",
                                                                                       "currency": "INR"}
    assert item_facts({"sku": "MUG", "barcode": "", "hsn_code": None, "length": " "})[1] == {
        "barcode": None, "hsn_code": None, "length_cm": None}


@pytest.mark.parametrize(("line", "problems"), [
    ({"sku": "MUG", "length": "-1"}, [("length", "-1 cm is negative")]),
    ({"sku": "MUG", "weight": "-0.5", "weight_unit": "kg"}, [("weight", "-0.5 kg is negative")]),
    ({"sku": "MUG", "length": "10", "dimension_unit": "in"}, [("dimension_unit", "unknown unit 'in' (mm, cm, m)")]),
    ({"sku": "MUG", "weight": "1", "weight_unit": "lb"}, [("weight_unit", "unknown unit 'lb' (g, kg)")]),
    ({"sku": "MUG", "width": "ten"}, [("width", "'ten' is not a number")]),
    ({"sku": "MUG", "height": "NaN"}, [("height", "'NaN' is not a number")]),
    ({"sku": "MUG", "weight": True}, [("weight", "True is not a number")]),
    ({"sku": "MUG", "hsn_code": "6109100"}, [("hsn_code", "'6109100' is not an HSN/SAC code (4, 6 or 8 digits)")]),
    ({"sku": "MUG", "barcode": "8901234567892"}, [("barcode", "GTIN 8901234567892: its check digit is 0, not 2")]),
    ({"sku": "MUG", "barcode": "AB 12"}, [("barcode", "a barcode is up to 64 characters without blanks")]),
    ({"sku": "MUG", "active": "maybe"}, [("active", "'maybe' is not true or false")]),
    ({"sku": "MUG", "list_price": "10.005", "currency": "INR"}, [("list_price", "10.005 has more than 2 decimals")]),
    ({"sku": "MUG", "list_price": "-1", "currency": "INR"}, [("list_price", "-1 is negative")]),
    ({"sku": "MUG", "list_price": "10"}, [("currency", "a list price states its currency (INR, ...) on the same line")]),
    ({"sku": "MUG", "list_price": "10", "currency": "RUPEES"}, [("currency", "'RUPEES' is not a currency code (INR, ...)")]),
    ({"sku": "MUG", "description": " "}, [("description", "an item's description cannot be empty")]),
    ({"sku": "MUG", "description": "x" * 501}, [("description", "at most 500 characters, not 501")]),
    ({"sku": "MUG", "colour": "blue"}, [("colour", "not a field of the item master")]),
    ({"description": "no SKU"}, [("sku", "every line names its SKU")]),
    ({"sku": "MUG BLUE"}, [("sku", "'MUG BLUE' is not a SKU (up to 64 letters, digits and . _ : -)")]),
    ({"sku": ["MUG"]}, [("sku", "['MUG'] is not text")]),
    ({"sku": "MUG", "length": "-1", "width": "-2", "weight_unit": "oz"},
     [("length", "-1 cm is negative"), ("width", "-2 cm is negative"), ("weight_unit", "unknown unit 'oz' (g, kg)")]),
])
def test_each_bad_field_of_a_line_is_refused_with_its_reason(line, problems):
    assert refused(line) == problems


def test_gtin_check_digits():
    assert gtin_check_digit("890123456789") == 0
    assert gtin_check_digit("9638507") == 4  # EAN-8 96385074
    assert item_facts({"sku": "A", "barcode": "96385074"})[1] == {"barcode": "96385074"}
    assert item_facts({"sku": "A", "barcode": "INT-0042"})[1] == {"barcode": "INT-0042"}  # not a GTIN: as it is


def test_an_item_records_each_change_once_with_what_changed():
    _, facts = item_facts(SHIRT)
    item = MasterItem.introduce("TSHIRT-RED-M", facts, "file items.csv")
    assert item.id == master_item_id("TSHIRT-RED-M") and item.view()["weight_g"] == "180"
    assert item.revise(facts, "post") == {}  # the same values again: nothing
    assert item.revise(item_facts({"sku": "X", "weight": "200", "active": ""})[1], "post") == {
        "weight_g": {"from": "180", "to": "200"}}  # (active named empty leaves it as it was)
    assert item.revise({"weight_g": "200"}, "post") == {}
    events = item.collect_events()
    assert [type(e).__name__ for e in events] == ["Introduced", "Revised"]
    assert events[1].changes == {"weight_g": {"from": "180", "to": "200"}} and events[1].received_via == "post"


def test_a_list_price_is_never_left_without_its_currency():
    item = MasterItem.introduce("MUG", {"description": "Mug", "list_price": "349", "currency": "INR"}, "post")
    with pytest.raises(ItemLineRefused, match="MUG has a list price \\(349\\): its currency cannot be cleared"):
        item.revise({"currency": None}, "post")
    assert item.revise({"currency": None, "list_price": None}, "post") == {
        "list_price": {"from": "349", "to": None}, "currency": {"from": "INR", "to": None}}
    app, _, _ = item_master()
    app.take_lines([("/items/0", {"sku": "MUG", "description": "Mug", "list_price": "1", "currency": "INR"})],
                   received_via="post")
    [outcome] = app.take_lines([("/items/0", {"sku": "MUG", "currency": ""})], received_via="post")
    assert (outcome.outcome, outcome.problems[0][0]) == ("refused", "currency")


def test_a_new_item_needs_a_description_and_is_active_unless_said():
    with pytest.raises(ItemLineRefused, match="MUG is new to the item master: its line states its description"):
        MasterItem.introduce("MUG", {"weight_g": "350"}, "post")
    assert MasterItem.introduce("MUG", {"description": "Mug"}, "post").view()["active"] is True
    assert MasterItem.introduce("MUG", {"description": "Mug", "active": False}, "post").view()["active"] is False


def item_master() -> tuple[ItemMaster, InMemoryItemMasterView, object]:
    app = ItemMaster(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    view = InMemoryItemMasterView()
    projection = item_master_projection(app, view)

    def settle():
        while projection.catch_up():
            pass
    return app, view, settle


def test_the_application_takes_lines_records_changes_once_and_refuses_bad_lines():
    app, view, settle = item_master()
    lines = [("line 2", dict(SHIRT)), ("line 3", {"sku": "MUG", "description": "Mug", "length": "-3"}),
             ("line 4", {"sku": "CAP", "weight": "90"}), ("line 5", {"sku": "MUG", "description": "Mug, blue"}),
             ("line 6", {"sku": "MUG", "weight": "350"})]
    outcomes = app.take_lines(lines, received_via="file items.csv", batch_lines=2)
    assert [(x.where, x.sku, x.outcome, x.changed) for x in outcomes] == [
        ("line 2", "TSHIRT-RED-M", "introduced", ()), ("line 3", "MUG", "refused", ()),
        ("line 4", "CAP", "refused", ()), ("line 5", "MUG", "introduced", ()),
        ("line 6", "MUG", "revised", ("weight_g",))]
    assert outcomes[1].problems == (("length", "-3 cm is negative"),)
    assert outcomes[2].view()["problems"] == [{"field": "description", "detail": "CAP is new to the item master: "
                                                                                   "its line states its description"}]
    again = app.take_lines(lines, received_via="file items.csv")  # the same file again: nothing new
    assert [x.outcome for x in again] == ["unchanged", "refused", "refused", "unchanged", "unchanged"]
    revised = app.take_lines([("/items/0", {"sku": "MUG", "description": "Mug, blue, 350 ml", "weight": "350"})],
                             received_via="post")
    assert [(x.outcome, x.changed) for x in revised] == [("revised", ("description",))]
    assert app.item("MUG") == {"sku": "MUG", "description": "Mug, blue, 350 ml", "length_cm": None, "width_cm": None,
                               "height_cm": None, "weight_g": "350", "hsn_code": None, "barcode": None,
                               "active": True, "list_price": None, "currency": None, "version": 3}
    changes = app.changes("MUG")
    assert [(c["event"], c["received_via"], c["changes"]) for c in changes] == [
        ("Introduced", "file items.csv", {"description": {"from": None, "to": "Mug, blue"},
                                          "active": {"from": None, "to": True}}),
        ("Revised", "file items.csv", {"weight_g": {"from": None, "to": "350"}}),
        ("Revised", "post", {"description": {"from": "Mug, blue", "to": "Mug, blue, 350 ml"}})]
    with pytest.raises(ItemNotFound):
        app.item("CAP")
    with pytest.raises(ItemNotFound):
        app.changes("CAP")

    settle()
    shown = view.item("MUG")
    assert (shown["description"], shown["weight_g"], shown["version"]) == ("Mug, blue, 350 ml", "350", 3)
    assert view.item("TSHIRT-RED-M")["length_cm"] == "30" and view.item("CAP") is None


def test_the_read_model_answers_what_changed_since_in_order_and_a_replay_changes_nothing():
    app, _, _ = item_master()
    moments = iter(datetime(2026, 5, 1, tzinfo=UTC) + timedelta(seconds=n) for n in range(100))
    view = InMemoryItemMasterView(clock=lambda: next(moments))
    projection = item_master_projection(app, view)
    for sku in ("B", "A", "C"):
        app.take_lines([("/items/0", {"sku": sku, "description": sku})], received_via="post")
        projection.catch_up()
    app.take_lines([("/items/0", {"sku": "B", "description": "B2"})], received_via="post")
    projection.catch_up()
    first = view.changed_since(None, None, 10)
    assert [x["sku"] for x in first] == ["A", "C", "B"]
    since = datetime.fromisoformat(first[0]["changed_at"])
    assert [x["sku"] for x in view.changed_since(since, None, 10)] == ["C", "B"]
    assert [x["sku"] for x in view.changed_since(since, "A", 1)] == ["C"]
    replayed = InMemoryItemMasterView()
    replay = item_master_projection(app, replayed)
    while replay.catch_up():
        pass
    replayed.write([{"sku": "B", "fields": {"description": "stale"}, "version": 1, "recorded_at": since,
                     "introduced": False}], up_to=replayed.position())
    assert replayed.item("B")["description"] == "B2" and replayed.item("B")["version"] == 2


def test_the_item_master_file_csv_and_json():
    lines = read_item_file("items.csv", "SKU,Description,length,dimension_unit\n\nMUG,\"Mug, blue\",12,cm\n"
                                        "CAP,,,\n")
    assert [(x.where, x.fields) for x in lines] == [
        ("line 3", {"sku": "MUG", "description": "Mug, blue", "length": "12", "dimension_unit": "cm"}),
        ("line 4", {"sku": "CAP", "description": "", "length": "", "dimension_unit": ""})]
    assert [(x.where, x.fields) for x in read_item_file("items.json", '{"items": [{"sku": "MUG", "weight": 350}]}')] \
        == [("/items/0", {"sku": "MUG", "weight": 350})]
    assert [x.where for x in read_item_file("items.json", '[{"sku": "MUG"}, {"sku": "CAP"}]')] == ["/0", "/1"]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("items.csv", "sku,colour\nMUG,blue\n", "items.csv, line 1: the header names sku and item master fields "
                                            "(colour is not one): description, length"),
    ("items.csv", "description\nMug\n", "items.csv, line 1: the header names sku and item master fields: "),
    ("items.csv", "sku,weight\nMUG\n", "items.csv, line 2: 1 values where the header names 2 columns"),
    ("items.csv", "", "items.csv: the file is empty"),
    ("items.json", '{"items": {}}', 'items.json: an item master file is {"items": [...]} or a list of items'),
    ("items.json", '{"items": [], "other": 1}', "items.json: an item master document has items only, not other"),
    ("items.json", '{"items": ["MUG"]}', "items.json: /items/0: an item is a JSON object"),
    ("items.json", '{"items": [', "items.json, line 1, column 12: not JSON"),
])
def test_an_item_master_file_that_cannot_be_read_says_where_and_why(name, content, message):
    with pytest.raises(ItemFileUnreadable) as caught:
        read_item_file(name, content)
    assert str(caught.value).startswith(message)
