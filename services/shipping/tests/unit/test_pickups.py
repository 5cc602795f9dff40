import copy
import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import BytesIO
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from eventsourcing.application import Application
from pypdf import PdfReader
from reportlab.graphics.barcode.code128 import _patterns as CODE128_PATTERNS
from shipping.adapters.manifest_pdf import manifest_pdf
from shipping.domain.pickup import (
    MANIFEST_COLUMNS,
    EmptyPickup,
    ParcelConflict,
    Pickup,
    PickupClosed,
    PickupRuleViolation,
    PickupSchedule,
    PickupScheduleInvalid,
    PickupSlot,
    PickupStatus,
    manifest_csv,
    pickup_id_for,
)

pytestmark = pytest.mark.unit

IST = ZoneInfo("Asia/Kolkata")
SCHEDULE = {"timezone": "Asia/Kolkata", "days": ["mon", "tue", "wed", "thu", "fri", "sat"],
            "slots": [{"start": "10:00", "end": "12:00"}, {"start": "15:00", "end": "17:00"}], "cutoff_minutes": 60}
# 2026-11-28 is a Saturday, 2026-11-30 a Monday


def ist(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=IST)


def schedule(**changes) -> PickupSchedule:
    return PickupSchedule.from_document({**SCHEDULE, **changes})


# ---- slots ----

@pytest.mark.parametrize("ready_at, expected", [
    (ist(30, 8, 0), ist(30, 10)),  # Monday morning: the 10:00 slot
    (ist(30, 9, 0), ist(30, 10)),  # ready exactly at the cutoff still makes it
    (ist(30, 9, 1), ist(30, 15)),  # a minute late: the afternoon slot
    (ist(30, 14, 0), ist(30, 15)),
    (ist(30, 14, 1), datetime(2026, 12, 1, 10, tzinfo=IST)),  # past the last cutoff: tomorrow
    (ist(28, 16, 30), ist(30, 10)),  # Saturday afternoon: no pickups on Sunday, Monday 10:00
    (ist(29, 12, 0), ist(30, 10)),  # Sunday
    (datetime(2026, 11, 28, 11, 0, tzinfo=UTC), ist(30, 10)),  # Saturday 16:30 IST, given in UTC
    (datetime(2026, 11, 29, 20, 0, tzinfo=UTC), ist(30, 10)),  # Sunday in UTC, Monday 01:30 in India
    (datetime(2026, 11, 30, 3, 31, tzinfo=UTC), ist(30, 15)),  # 09:01 IST
])
def test_the_next_slot_is_the_first_whose_cutoff_the_parcel_makes(ready_at, expected):
    slot = schedule().next_slot(ready_at)
    assert slot.start == expected
    assert slot.start.tzinfo == IST and slot.start.utcoffset() == timedelta(hours=5, minutes=30)
    assert slot.end - slot.start == timedelta(hours=2)
    assert slot.cutoff == slot.start - timedelta(minutes=60)
    assert slot.cutoff >= ready_at


def test_closed_dates_have_no_pickups():
    closed = schedule(closed_dates=["2026-11-30", "2026-12-01"])
    assert closed.next_slot(ist(28, 16, 30)).start == datetime(2026, 12, 2, 10, tzinfo=IST)
    assert closed.next_slot(ist(28, 9, 0)).start == ist(28, 10)  # other days are as before


def test_a_cutoff_longer_than_the_morning_reaches_into_the_day_before():
    overnight = schedule(cutoff_minutes=720)  # the 10:00 slot closes at 22:00 the evening before
    assert overnight.next_slot(ist(29, 21, 0)).start == ist(30, 10)
    assert overnight.next_slot(ist(29, 22, 1)).start == ist(30, 15)  # 15:00's cutoff is 03:00


def test_slots_may_be_written_in_any_order_and_a_single_day_schedule_waits_a_week():
    weekly = schedule(days=["wed"], slots=[{"start": "15:00", "end": "17:00"}, {"start": "10:00", "end": "12:00"}],
                      cutoff_minutes=0)
    assert weekly.next_slot(datetime(2026, 12, 2, 15, 0, 1, tzinfo=IST)).start == datetime(2026, 12, 9, 10, tzinfo=IST)
    assert weekly.next_slot(datetime(2026, 12, 2, 15, 0, tzinfo=IST)).start == datetime(2026, 12, 2, 15, tzinfo=IST)


def test_a_schedule_in_a_zone_with_daylight_saving_uses_its_wall_clock():
    london = schedule(timezone="Europe/London")
    summer = london.next_slot(datetime(2026, 7, 1, 7, 0, tzinfo=UTC))  # 08:00 BST
    assert summer.start.astimezone(UTC) == datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    winter = london.next_slot(datetime(2026, 12, 1, 7, 0, tzinfo=UTC))
    assert winter.start.astimezone(UTC) == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_ready_at_must_carry_a_time_zone():
    with pytest.raises(ValueError, match="time zone"):
        schedule().next_slot(datetime(2026, 11, 30, 8, 0))


def test_a_schedule_reads_back_as_its_document():
    document = {**SCHEDULE, "slots": list(reversed(SCHEDULE["slots"])), "days": ["sat", "mon"],
                "closed_dates": ["2026-12-25", "2026-11-09"]}
    read = PickupSchedule.from_document(document)
    assert read.as_document() == {"timezone": "Asia/Kolkata", "days": ["mon", "sat"], "slots": SCHEDULE["slots"],
                                  "cutoff_minutes": 60, "closed_dates": ["2026-11-09", "2026-12-25"]}
    assert PickupSchedule.from_document(read.as_document()).as_document() == read.as_document()


def with_change(path: list, value):
    document = copy.deepcopy(SCHEDULE)
    target = document
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


@pytest.mark.parametrize("document, pointer, detail", [
    ([SCHEDULE], "", "must be a JSON object"),
    (with_change(["cutoff_minutes"], KeyError), "/cutoff_minutes", "is required"),
    (with_change(["holidays"], ["2026-11-09"]), "/holidays", "unknown key"),
    (with_change(["a/b~c"], 1), "/a~1b~0c", "unknown key"),
    (with_change(["timezone"], "Asia/Bangalore"), "/timezone", "not an IANA time zone"),
    (with_change(["timezone"], "../../etc/passwd"), "/timezone", "not an IANA time zone"),
    (with_change(["timezone"], 530), "/timezone", "IANA time zone"),
    (with_change(["days"], []), "/days", "non-empty list"),
    (with_change(["days"], "mon-sat"), "/days", "non-empty list"),
    (with_change(["days"], ["mon", "Funday"]), "/days/1", "not one of mon"),
    (with_change(["days"], ["mon", "tue", "mon"]), "/days/2", "listed twice"),
    (with_change(["slots"], []), "/slots", "non-empty list"),
    (with_change(["slots", 1], "15:00-17:00"), "/slots/1", "must be an object"),
    (with_change(["slots", 0, "end"], KeyError), "/slots/0/end", "is required"),
    (with_change(["slots", 0, "driver"], "Ravi"), "/slots/0/driver", "unknown key"),
    (with_change(["slots", 0, "start"], "24:00"), "/slots/0/start", "HH:MM"),
    (with_change(["slots", 0, "start"], "9:00"), "/slots/0/start", "HH:MM"),
    (with_change(["slots", 0, "start"], "10:00\n"), "/slots/0/start", "HH:MM"),
    (with_change(["slots", 1, "end"], "14:00"), "/slots/1/end", "after its start 15:00"),
    (with_change(["slots", 1, "end"], "15:00"), "/slots/1/end", "after its start"),
    (with_change(["slots", 1, "start"], "11:30"), "/slots/1", "overlaps /slots/0"),
    (with_change(["cutoff_minutes"], -5), "/cutoff_minutes", "from 0 to 1440"),
    (with_change(["cutoff_minutes"], 1441), "/cutoff_minutes", "from 0 to 1440"),
    (with_change(["cutoff_minutes"], "60"), "/cutoff_minutes", "whole number"),
    (with_change(["cutoff_minutes"], True), "/cutoff_minutes", "whole number"),
    (with_change(["cutoff_minutes"], 60.5), "/cutoff_minutes", "whole number"),
    (with_change(["closed_dates"], "2026-11-09"), "/closed_dates", "list of dates"),
    (with_change(["closed_dates"], ["2026-02-30"]), "/closed_dates/0", "YYYY-MM-DD"),
    (with_change(["closed_dates"], ["09/11/2026"]), "/closed_dates/0", "YYYY-MM-DD"),
    (with_change(["closed_dates"], ["2026-11-09", "2026-11-09"]), "/closed_dates/1", "listed twice"),
])
def test_an_invalid_schedule_is_refused_naming_the_place(document, pointer, detail):
    with pytest.raises(PickupScheduleInvalid) as refused:
        PickupSchedule.from_document(document)
    assert refused.value.pointer == pointer
    assert detail in refused.value.detail
    assert str(refused.value).startswith(f"{pointer}: ") if pointer else detail in str(refused.value)


def test_every_problem_of_a_schedule_is_listed():
    document = {"timezone": "Mars/Olympus", "days": ["mon", "mon"], "slots": [{"start": "12:00", "end": "11:00"}],
                "cutoff_minutes": -1, "extra": 1}
    with pytest.raises(PickupScheduleInvalid) as refused:
        PickupSchedule.from_document(document)
    pointers = [pointer for pointer, _ in refused.value.errors]
    assert pointers == ["/extra", "/timezone", "/days/1", "/slots/0/end", "/cutoff_minutes"]
    assert str(refused.value).endswith("(and 4 more problems)")


# ---- the pickup ----

SLOT = schedule().next_slot(ist(28, 16, 30))  # Monday 2026-11-30, 10:00-12:00


def a_pickup(**overrides) -> Pickup:
    return Pickup.schedule(**{"carrier": "SIMEX", "location_id": "WH-BLR-1", "slot": SLOT, **overrides})


def parcel(n: int, **overrides) -> dict:
    return {"shipment_id": f"00000000-0000-4000-8000-{n:012d}", "tracking_number": f"SIMEX{n:010d}",
            "order_id": f"402-0000000-{n:07d}", "weight_kg": Decimal("1.25"), "pieces": 1,
            "cash_to_collect": None, **overrides}


def test_a_pickup_is_one_carrier_at_one_location_in_one_slot():
    pickup = a_pickup()
    assert pickup.id == pickup_id_for("SIMEX", "WH-BLR-1", SLOT.start)
    assert a_pickup().id == pickup.id
    in_utc = PickupSlot(SLOT.start.astimezone(UTC), SLOT.end.astimezone(UTC), SLOT.cutoff.astimezone(UTC))
    assert a_pickup(slot=in_utc).id == pickup.id  # the same instant is the same visit
    assert a_pickup(location_id="WH-DEL-1").id != pickup.id
    assert a_pickup(carrier="FASTR").id != pickup.id
    assert a_pickup(slot=schedule().next_slot(ist(30, 12))).id != pickup.id
    assert pickup.status == PickupStatus.SCHEDULED and pickup.slot == SLOT


def test_a_pickup_needs_an_aware_slot_that_ends_after_it_starts():
    with pytest.raises(PickupRuleViolation, match="time zone"):
        a_pickup(slot=PickupSlot(datetime(2026, 11, 30, 10), datetime(2026, 11, 30, 12), datetime(2026, 11, 30, 9)))
    with pytest.raises(PickupRuleViolation, match="end after"):
        a_pickup(slot=PickupSlot(SLOT.end, SLOT.start, SLOT.cutoff))
    with pytest.raises(PickupRuleViolation, match="carrier and a location"):
        a_pickup(location_id="")


def test_adding_the_same_shipment_twice_changes_nothing():
    pickup = a_pickup()
    assert pickup.add_parcel(**parcel(1)) is True
    version = pickup.version
    assert pickup.add_parcel(**parcel(1)) is False
    assert pickup.add_parcel(**parcel(1, weight_kg=Decimal("1.250"))) is False  # the same weight
    assert pickup.version == version and len(pickup.parcels) == 1
    assert [type(e).__name__ for e in pickup.collect_events()] == ["Scheduled", "ParcelAdded"]


def test_a_parcel_contradicting_one_on_the_pickup_is_refused():
    pickup = a_pickup()
    pickup.add_parcel(**parcel(1))
    with pytest.raises(ParcelConflict, match="already as"):
        pickup.add_parcel(**parcel(1, weight_kg=Decimal("2")))
    with pytest.raises(ParcelConflict, match="AWB SIMEX0000000001"):
        pickup.add_parcel(**parcel(2, tracking_number="SIMEX0000000001"))


@pytest.mark.parametrize("overrides, message", [
    ({"weight_kg": 1.25}, "weight_kg"),
    ({"weight_kg": Decimal("0")}, "weight_kg"),
    ({"pieces": 0}, "pieces"),
    ({"pieces": False}, "pieces"),
    ({"cash_to_collect": Decimal("-5")}, "cash_to_collect"),
    ({"cash_to_collect": Decimal("5.005")}, "cash_to_collect"),
    ({"tracking_number": ""}, "tracking number"),
    ({"order_id": " "}, "order id"),
])
def test_a_parcel_that_is_not_a_parcel_is_refused(overrides, message):
    with pytest.raises(PickupRuleViolation, match=message):
        a_pickup().add_parcel(**parcel(1, **overrides))


def test_a_cancelled_shipment_is_withdrawn_and_stays_out():
    pickup = a_pickup()
    pickup.add_parcel(**parcel(1))
    pickup.add_parcel(**parcel(2))
    assert pickup.withdraw_parcel(parcel(1)["shipment_id"], "order cancelled by buyer") is True
    assert pickup.withdraw_parcel(parcel(1)["shipment_id"], "again") is False
    assert pickup.withdraw_parcel(uuid4(), "never on it") is False
    assert pickup.add_parcel(**parcel(1)) is False  # a redelivered booking does not put it back
    assert list(pickup.parcels) == [parcel(2)["shipment_id"]]
    assert pickup.summary()["withdrawn"] == [{"shipment_id": parcel(1)["shipment_id"],
                                              "reason": "order cancelled by buyer"}]


def test_an_empty_pickup_cannot_be_manifested_and_says_why():
    pickup = a_pickup()
    with pytest.raises(EmptyPickup, match="no parcels: a manifest lists what the carrier's driver signs for"):
        pickup.manifest(ist(30, 9))
    pickup.add_parcel(**parcel(1))
    pickup.withdraw_parcel(parcel(1)["shipment_id"], "cancelled")
    with pytest.raises(EmptyPickup):
        pickup.manifest(ist(30, 9))


def test_a_manifest_closes_the_parcel_list():
    pickup = a_pickup()
    pickup.add_parcel(**parcel(1))
    assert pickup.manifest(ist(30, 9)) is True
    assert pickup.status == PickupStatus.MANIFESTED and pickup.manifested_at == ist(30, 9)
    assert pickup.manifest(ist(30, 9, 5)) is False and pickup.manifested_at == ist(30, 9)
    assert pickup.add_parcel(**parcel(1)) is False  # a repeat of what is on the manifest is no error
    with pytest.raises(PickupClosed, match="later pickup"):
        pickup.add_parcel(**parcel(2))
    with pytest.raises(PickupClosed, match="too late to withdraw"):
        pickup.withdraw_parcel(parcel(1)["shipment_id"], "cancelled")
    assert pickup.withdraw_parcel(parcel(9)["shipment_id"], "not on it") is False


def test_the_carrier_collects_a_manifested_pickup_once():
    pickup = a_pickup()
    pickup.add_parcel(**parcel(1))
    with pytest.raises(PickupRuleViolation, match="not manifested"):
        pickup.picked_up(ist(30, 10, 20))
    pickup.manifest(ist(30, 9))
    assert pickup.picked_up(ist(30, 10, 20)) is True
    assert pickup.picked_up(ist(30, 11)) is False
    assert pickup.status == PickupStatus.PICKED_UP and pickup.picked_up_at == ist(30, 10, 20)
    with pytest.raises(PickupClosed):
        pickup.add_parcel(**parcel(2))
    assert [type(e).__name__ for e in pickup.collect_events()] == [
        "Scheduled", "ParcelAdded", "Manifested", "PickedUp"]


def test_times_must_carry_a_time_zone():
    pickup = a_pickup()
    pickup.add_parcel(**parcel(1))
    with pytest.raises(PickupRuleViolation, match="time zone"):
        pickup.manifest(datetime(2026, 11, 30, 9))
    pickup.manifest(ist(30, 9))
    with pytest.raises(PickupRuleViolation, match="time zone"):
        pickup.picked_up(datetime(2026, 11, 30, 10))


def filled_pickup() -> Pickup:
    pickup = a_pickup()
    pickup.add_parcel(**parcel(1, weight_kg=Decimal("0.1"), cash_to_collect=Decimal("1234.50")))
    pickup.add_parcel(**parcel(2, weight_kg=Decimal("0.2"), pieces=3))
    pickup.add_parcel(**parcel(3, weight_kg=Decimal("2.005"), cash_to_collect=Decimal("99999.99")))
    pickup.add_parcel(**parcel(4, cash_to_collect=Decimal("0")))  # nothing to collect: prepaid
    return pickup


def test_the_summary_totals_are_exact():
    summary = filled_pickup().summary()
    assert summary["totals"] == {"parcels": 4, "pieces": 6, "weight_kg": "3.555", "cash_parcels": 2,
                                 "cash_to_collect": "101234.49", "currency": "INR"}
    assert summary["status"] == "scheduled" and summary["carrier"] == "SIMEX"
    assert summary["slot"] == {"start": "2026-11-30T10:00:00+05:30", "end": "2026-11-30T12:00:00+05:30",
                               "cutoff": "2026-11-30T09:00:00+05:30"}
    assert summary["parcels"][0] == {"shipment_id": parcel(1)["shipment_id"], "tracking_number": "SIMEX0000000001",
                                     "order_id": "402-0000000-0000001", "weight_kg": "0.1", "pieces": 1,
                                     "cash_to_collect": "1234.50"}


def test_a_pickup_is_rebuilt_from_its_stored_events():
    application = Application()
    pickup = filled_pickup()
    pickup.withdraw_parcel(parcel(4)["shipment_id"], "cancelled")
    pickup.manifest(ist(30, 9))
    pickup.picked_up(datetime(2026, 11, 30, 4, 50, tzinfo=UTC))
    application.save(pickup)
    stored = application.repository.get(pickup.id)
    assert stored.summary() == pickup.summary()
    assert stored.parcels == pickup.parcels and stored.status == PickupStatus.PICKED_UP


# ---- the manifest ----

def test_the_manifest_csv_has_a_row_per_parcel_and_a_totals_row():
    rows = list(csv.reader(io.StringIO(manifest_csv(filled_pickup()))))
    assert rows[0] == list(MANIFEST_COLUMNS)
    assert rows[1] == ["1", "SIMEX0000000001", "402-0000000-0000001", parcel(1)["shipment_id"], "COD", "1", "0.100",
                       "1234.50"]
    assert rows[2][4:] == ["PREPAID", "3", "0.200", "0.00"]
    assert rows[3][4:] == ["COD", "1", "2.005", "99999.99"]
    assert rows[4][4:] == ["PREPAID", "1", "1.250", "0.00"]
    assert rows[5] == ["TOTAL", "4 parcels", "", "", "2 COD", "6", "3.555", "101234.49"]
    assert len(rows) == 6
    assert sum(Decimal(r[6]) for r in rows[1:-1]) == Decimal(rows[-1][6])
    assert sum(Decimal(r[7]) for r in rows[1:-1]) == Decimal(rows[-1][7])


def test_the_manifest_csv_lines_end_in_crlf_and_cells_never_run_as_formulas():
    pickup = a_pickup()
    pickup.add_parcel(**parcel(1, order_id="=HYPERLINK(\"http://x\",\"y\")"))
    pickup.add_parcel(**parcel(2, order_id="@SUM(A1)"))
    text = manifest_csv(pickup)
    assert text.endswith("\r\n") and text.count("\r\n") == 4
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1][2] == "'=HYPERLINK(\"http://x\",\"y\")" and rows[2][2] == "'@SUM(A1)"
    assert rows[1][1] == "SIMEX0000000001"


# a Code 128 reader for the bars a PDF draws (the same as test_labels')
_SYMBOLS = {pattern: value for value, pattern in CODE128_PATTERNS.items()}


def _pattern(widths: list[int]) -> str:
    return "".join(chr((ord("A") if k % 2 == 0 else ord("a")) + w - 1) for k, w in enumerate(widths))


def _decode_code128(bars: list[tuple[float, float]]) -> str:
    module = min(width for _, width in bars)
    elements: list[int] = []
    for i, (x, width) in enumerate(bars):
        elements.append(round(width / module))
        if i + 1 < len(bars):
            elements.append(round((bars[i + 1][0] - x - width) / module))
    values = []
    while len(elements) > 7:
        values.append(_SYMBOLS[_pattern(elements[:6])])
        elements = elements[6:]
    assert _pattern(elements) == CODE128_PATTERNS[106], "no stop pattern"
    start, *data, check = values
    assert check == (start + sum(i * v for i, v in enumerate(data, start=1))) % 103, "bad check character"
    subset = {103: "A", 104: "B", 105: "C"}[start]
    switches = {"A": {99: "C", 100: "B"}, "B": {99: "C", 101: "A"}, "C": {100: "B", 101: "A"}}
    text = ""
    for value in data:
        if value in switches[subset]:
            subset = switches[subset][value]
        elif subset == "C":
            text += f"{value:02d}"
        else:
            text += chr(value + 32) if subset == "B" or value < 64 else chr(value - 64)
    return text


def pdf_barcodes(reader: PdfReader) -> list[str]:
    found = []
    for page in reader.pages:
        run: list[tuple[float, ...]] = []
        for line in [*page.get_contents().get_data().decode("latin-1").splitlines(), ""]:
            rect = re.fullmatch(r"n (\S+) (\S+) (\S+) (\S+) re f\*", line.strip())
            bar = tuple(float(v) for v in rect.groups()) if rect else None
            if bar is not None and (not run or (bar[1], bar[3]) == (run[0][1], run[0][3])):
                run.append(bar)
                continue
            if len(run) >= 10:
                found.append(_decode_code128([(x, w) for x, _, w, _ in run]))
            run = [bar] if bar is not None else []
    return found


def manifested(parcels: int) -> Pickup:
    pickup = a_pickup()
    for n in range(1, parcels + 1):
        pickup.add_parcel(**parcel(n, cash_to_collect=Decimal("1234.50") if n % 2 else None))
    pickup.manifest(ist(30, 9, 15))
    return pickup


def test_the_manifest_pdf_lists_every_parcel_with_its_awb_as_a_barcode_and_the_totals():
    pickup = manifested(3)
    reader = PdfReader(BytesIO(manifest_pdf(pickup.summary(), "Bengaluru FC", "Simulated Express")))
    assert len(reader.pages) == 1
    width, height = float(reader.pages[0].mediabox.width), float(reader.pages[0].mediabox.height)
    assert (round(width), round(height)) == (595, 842)  # A4
    text = reader.pages[0].extract_text()
    for expected in ("Pickup manifest", "Simulated Express (SIMEX)", "Bengaluru FC (WH-BLR-1)",
                     "Mon 30 Nov 2026, 10:00-12:00 +05:30", "2026-11-30 09:15 +05:30", "SIMEX0000000001",
                     "SIMEX0000000002", "SIMEX0000000003", "402-0000000-0000002", "PREPAID", "1,234.50",
                     "Total: 3 parcels", "2,469.00", "3 parcels", "Carrier's driver: name", "Signature",
                     "Page 1 of 1"):
        assert expected in text, expected
    assert "DRAFT" not in text
    assert pdf_barcodes(reader) == ["SIMEX0000000001", "SIMEX0000000002", "SIMEX0000000003"]


def test_a_long_manifest_runs_over_numbered_pages_with_every_barcode():
    pickup = manifested(45)
    reader = PdfReader(BytesIO(manifest_pdf(pickup.summary(), "Bengaluru FC", "Simulated Express")))
    pages = len(reader.pages)
    assert pages >= 2
    for number, page in enumerate(reader.pages, start=1):
        assert f"Page {number} of {pages}" in page.extract_text()
    text = "".join(page.extract_text() for page in reader.pages)
    assert text.count("Total: 45 parcels") == 1
    last = reader.pages[-1].extract_text()  # what the driver signs for is on the page they sign
    assert "Signature" in last and "Received by Simulated Express: 45 parcels, 45 pieces" in last
    assert pdf_barcodes(reader) == [f"SIMEX{n:010d}" for n in range(1, 46)]


def test_the_manifest_pdf_is_deterministic_and_a_draft_says_so():
    summary = manifested(2).summary()
    first = manifest_pdf(summary, "Bengaluru FC", "Simulated Express")
    assert manifest_pdf(summary, "Bengaluru FC", "Simulated Express") == first
    draft = a_pickup()
    draft.add_parcel(**parcel(1, order_id="<b>&amp;</b> कर्नाटक"))
    text = PdfReader(BytesIO(manifest_pdf(draft.summary(), "Bengaluru & Co", "Simulated Express"))).pages[0] \
        .extract_text()
    assert "DRAFT" in text and "Bengaluru & Co" in text
    assert "<b>&amp;</b> ???????" in text  # markup is printed as written, Devanagari as "?"


def test_closed_dates_are_dates():
    assert schedule(closed_dates=["2026-11-09"]).closed_dates == (date(2026, 11, 9),)
