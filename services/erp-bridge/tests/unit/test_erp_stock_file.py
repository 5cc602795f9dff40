"""The ERP's stock file read into the ledger's snapshot body: CSV full snapshots and deltas, JSON, what is given
in place of what the file says, and every way a file cannot be read, with where (line, column) and why; the
ledger's JSON pointers turned back into the file's lines."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from erp_bridge.domain.erp_stock_file import StockFileUnreadable, export_time, read_stock_file

pytestmark = pytest.mark.unit

EXPORTED = datetime(2026, 5, 1, 2, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))


def read(name: str, content: bytes | str, **given):
    return read_stock_file(name, content, modified_at=EXPORTED, **given)


def unreadable(name: str, content: bytes | str) -> StockFileUnreadable:
    with pytest.raises(StockFileUnreadable) as caught:
        read(name, content)
    return caught.value


def test_a_full_snapshot_csv_is_the_ledgers_body_named_after_the_file_and_taken_when_exported():
    snapshot = read("tally-2026-05-01.csv", "\ufeffSKU , Location_ID,on_hand ,erp_reference\r\n"
                                            "SHIRT,WH-A,7,STK-1\r\n\r\nCAP , WH-A , 37.000,\r\n")
    assert snapshot.body == {"kind": "full", "snapshot_id": "tally-2026-05-01", "source": "erp",
                             "taken_at": "2026-05-01T02:00:00+05:30",
                             "items": [{"sku": "SHIRT", "location_id": "WH-A", "on_hand": 7, "erp_reference": "STK-1"},
                                       {"sku": "CAP", "location_id": "WH-A", "on_hand": 37}]}
    assert snapshot.item_lines == (2, 4) and snapshot.snapshot_id == "tally-2026-05-01"


def test_deltas_and_what_is_given_in_place_of_what_the_file_says():
    snapshot = read("mb51.csv", b"sku,location_id,delta,colour\nSHIRT,WH-A,-3,red\nMUG,WH-B,+5,\n",
                    snapshot_id="SAP-1", source="sap", taken_at=datetime(2026, 5, 1, tzinfo=UTC))
    assert snapshot.body == {"kind": "delta", "snapshot_id": "SAP-1", "source": "sap",
                             "taken_at": "2026-05-01T00:00:00+00:00",
                             "items": [{"sku": "SHIRT", "location_id": "WH-A", "delta": -3},
                                       {"sku": "MUG", "location_id": "WH-B", "delta": 5}]}


def test_a_json_file_is_the_body_as_it_is_with_its_own_snapshot_id():
    snapshot = read("feed.json", '{"snapshot_id": "SAP-9", "kind": "delta", "items": '
                                 '[{"sku": "A", "location_id": "WH-A", "delta": 1}]}')
    assert snapshot.body["snapshot_id"] == "SAP-9" and snapshot.body["source"] == "erp"
    assert snapshot.item_lines == () and snapshot.where("/items/0/delta") == "/items/0/delta"
    assert read("feed.JSON", '{"kind": "full", "items": []}').body["snapshot_id"] == "feed"


@pytest.mark.parametrize(("name", "content", "line", "column", "reason"), [
    ("bad.csv", "sku,location_id,on_hand\nSHIRT,WH-A,seven\n", 2, "on_hand", "'seven' is not a whole number"),
    ("bad.csv", "sku,location_id,on_hand\nSHIRT,WH-A,7\nMUG,WH-A,2.5\n", 3, "on_hand", "'2.5' is not a whole number"),
    ("bad.csv", "sku,location_id,delta\nSHIRT,WH-A,\n", 2, "delta", "'' is not a whole number"),
    ("bad.csv", "sku,location_id,delta\n,WH-A,1\n", 2, "sku", "empty"),
    ("bad.csv", "sku,location_id,delta\nSHIRT, ,1\n", 2, "location_id", "empty"),
    ("bad.csv", "sku,location_id,delta\nSHIRT,WH-A\n", 2, None, "2 values where the header names 3 columns"),
    ("bad.csv", "sku,location_id,delta\nSHIRT,WH-A,1,x\n", 2, None, "4 values where the header names 3 columns"),
    ("bad.csv", "\n\nsku,location_id,count\nSHIRT,WH-A,1\n", 3, None,
     "the header names sku, location_id and either on_hand (a full snapshot) or delta (deltas), not "
     "sku,location_id,count"),
    ("bad.csv", "sku,location_id,on_hand,delta\nSHIRT,WH-A,1,1\n", 1, None,
     "the header names sku, location_id and either on_hand (a full snapshot) or delta (deltas), not "
     "sku,location_id,on_hand,delta"),
    ("bad.csv", "sku,location_id,delta,SKU\n", 1, None, "the header names sku twice"),
    ("bad.csv", "sku,location_id,delta\nSHIRT,\"WH-A,1\n", 2, None, "not CSV: unexpected end of data"),
    ("bad.csv", b"sku,location_id,delta\nSHIRT,WH-\xe9,1\n", 2, None, "not UTF-8 text (byte 0xe9)"),
    ("empty.csv", "\n \n", None, None, "the file is empty (a header naming sku, location_id and either on_hand or "
                                       "delta is expected)"),
    ("bad.json", '{"kind": "full",\n "items": [}', 2, "12", "not JSON: Expecting value"),
    ("bad.json", "[1, 2]", None, None, "a snapshot is a JSON object (the body of POST /v1/stock/erp-snapshots)"),
])
def test_a_file_that_cannot_be_read_says_where_and_why(name, content, line, column, reason):
    error = unreadable(name, content)
    assert (error.line, error.column, error.reason) == (line, column, reason)
    where = (f", line {line}" if line else "") + (f", column {column}" if column else "")
    assert str(error) == f"{name}{where}: {reason}"


def test_the_ledgers_pointers_are_the_files_lines():
    snapshot = read("x.csv", "sku,location_id,on_hand\n\nA,WH-A,1\n\"B\nC\",WH-A,2\n")
    assert snapshot.item_lines == (3, 5)  # a quoted value over two lines ends on the second
    assert snapshot.where("/items/1/sku") == "line 5, column sku (/items/1/sku)"
    assert snapshot.where("/items/0") == "line 3 (/items/0)"
    assert snapshot.where("/items/7/sku") == "/items/7/sku"  # not one of its lines: as the ledger said it
    assert snapshot.where("/taken_at") == "/taken_at" and snapshot.where("") == "(the snapshot)"


def test_the_export_time_is_the_files_modification_time_with_its_time_zone():
    at = export_time(1_777_600_800.5)
    assert at.tzinfo is not None and at.timestamp() == 1_777_600_800.5
