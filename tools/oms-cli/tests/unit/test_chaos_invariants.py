"""The arithmetic of the chaos run's checks: expected states and documents, duplicates, stock
conservation, outbox completeness, dead letters, consumer lag."""

from __future__ import annotations

from decimal import Decimal

import pytest

from oms_cli.chaos import invariants as inv
from oms_cli.chaos.invariants import (
    DeadLetter,
    InjectedMessage,
    OrderOutcome,
    OutboxState,
    PlacedOrder,
    StockExpectation,
)
from oms_cli.chaos.report import ChaosReport, FaultRecord, print_report

pytestmark = pytest.mark.unit

P = Decimal("499.00")


def order(oid: str, *lines, **kw) -> PlacedOrder:
    return PlacedOrder(oid, "webstore", f"EXT-{oid}", [(sku, qty, P) for sku, qty in lines], **kw)


# ---------------------------------------------------------------- states and documents
def test_expected_states_follow_what_the_run_did_to_the_order():
    assert inv.expected_statuses(order("a", ("A", 1))) == {"shipment_created"}
    assert inv.expected_statuses(order("a", ("L", 1), scarce=True)) == {"shipment_created", "backordered"}
    assert inv.expected_statuses(order("a", ("A", 1), deliver=True)) == {"delivered"}
    assert inv.expected_statuses(order("a", ("A", 1), cancel=True)) == {"cancelled"}
    assert inv.expected_statuses(order("a", ("A", 1), deliver=True, returned=[("A", 1)])) == {"refunded"}


def test_order_states_name_the_orders_that_are_elsewhere_or_refunded_wrongly():
    orders = [order("ok", ("A", 1)), order("stuck", ("A", 1)), order("lost", ("A", 1)),
              order("back", ("L", 1), scarce=True), order("ret", ("A", 2), deliver=True, returned=[("A", 1)])]
    states = {"ok": {"status": "shipment_created"}, "stuck": {"status": "reserving"}, "lost": None,
              "back": {"status": "backordered"}, "ret": {"status": "refunded", "refunded_total": "998.00"}}
    result = inv.check_order_states(orders, states)
    assert not result.passed
    assert result.order_ids == ["lost", "ret", "stuck"]
    assert any("reserving (expected shipment_created)" in p for p in result.problems)
    assert any("refunded 998.00, expected 499.00" in p for p in result.problems)
    states["stuck"] = {"status": "shipment_created"}
    states["lost"] = {"status": "shipment_created"}
    states["ret"]["refunded_total"] = "499.00"
    assert inv.check_order_states(orders, states).passed


def test_each_due_erp_document_once():
    orders = [order("a", ("A", 1)), order("d", ("A", 1), deliver=True),
              order("r", ("A", 1), deliver=True, returned=[("A", 1)]), order("b", ("L", 1), scarce=True),
              order("c", ("A", 1), cancel=True)]
    states = {"a": {"status": "shipment_created"}, "d": {"status": "delivered"}, "r": {"status": "refunded"},
              "b": {"status": "backordered"}, "c": {"status": "cancelled"}}
    docs = {"a": [{"kind": "sale_order"}], "d": [{"kind": "sale_order"}, {"kind": "invoice"}],
            "r": [{"kind": "sale_order"}, {"kind": "invoice"}, {"kind": "credit_note"}], "b": [],
            "c": [{"kind": "sale_order"}]}
    assert inv.check_documents(orders, states, docs).passed
    docs["d"].append({"kind": "invoice"})
    docs["b"] = [{"kind": "sale_order"}]
    failed = inv.check_documents(orders, states, docs)
    assert not failed.passed and failed.order_ids == ["b", "d"]


def test_accepted_lists_the_posts_that_never_got_through():
    assert inv.check_accepted(3, 3, {}).passed
    failed = inv.check_accepted(3, 2, {"EXT-9": "never answered"})
    assert not failed.passed and failed.problems == ["EXT-9: never answered"]


# ---------------------------------------------------------------- duplicates
def test_a_verbatim_redelivery_is_not_a_duplicate_but_a_second_effect_is():
    entries = [("o1", "StockReserved", "e1"), ("o1", "StockReserved", "e1"),  # the same message twice
               ("o2", "StockReserved", "e2"), ("o2", "StockReserved", "e3"),  # two reservations
               ("o3", "Refunded r1", "e4"), ("o3", "Refunded r2", "e5")]  # two returns, one refund each
    assert inv.duplicates(entries) == {("o2", "StockReserved"): {"e2", "e3"}}
    result = inv.check_no_duplicates("zero duplicate reservations", entries)
    assert not result.passed and result.order_ids == ["o2"]
    assert inv.check_no_duplicates("x", entries[:2] + entries[4:]).passed


# ---------------------------------------------------------------- stock
def test_expected_stock_is_initial_minus_committed_plus_restocked_with_the_standing_holds():
    initial = {("A", "BLR"): 10, ("A", "DEL"): 5, ("B", "BLR"): 3}
    outcomes = [
        OrderOutcome("held", "shipment_created", "BLR", "r1", {"A": 2}),
        OrderOutcome("gone", "delivered", "BLR", "r2", {"A": 1, "B": 1}),
        OrderOutcome("back", "refunded", "DEL", "r3", {"A": 2}, restocked={"A": 1}),
        OrderOutcome("cancelled", "cancelled", "BLR", "r4", {"A": 3}),
        OrderOutcome("backordered", "backordered", None, None, {"A": 9}),
    ]
    expected = inv.expected_stock(initial, outcomes)
    assert (expected[("A", "BLR")].on_hand, expected[("A", "BLR")].reserved) == (9, 2)
    assert expected[("A", "BLR")].holds == {"r1": 2}
    assert (expected[("A", "DEL")].on_hand, expected[("A", "DEL")].reserved) == (4, 0)
    assert (expected[("B", "BLR")].on_hand, expected[("B", "BLR")].reserved) == (2, 0)


def test_a_split_orders_shares_each_hold_or_leave_their_own_location():
    def share(location, reservation, sku, quantity, state="reserved", parcel="created"):
        return {"location_id": location, "reservation_id": reservation, "lines": [{"sku": sku, "quantity": quantity}],
                "state": state, "parcel": parcel}
    state = {"status": "partially_shipped", "location_id": None, "reservation_id": None,
             "allocations": [share("BLR", "r1", "A", 2, parcel="delivered"), share("DEL", "r2", "B", 1)]}
    outcomes = inv.order_outcomes("split", state, {"A": 2, "B": 1}, {})
    assert [(o.status, o.location_id, o.reservation_id, dict(o.quantities)) for o in outcomes] == [
        ("delivered", "BLR", "r1", {"A": 2}), ("reserved", "DEL", "r2", {"B": 1})]
    expected = inv.expected_stock({("A", "BLR"): 5, ("B", "DEL"): 4}, outcomes)
    assert (expected[("A", "BLR")].on_hand, expected[("A", "BLR")].reserved) == (3, 0)
    assert expected[("B", "DEL")].holds == {"r2": 1}
    cancelled = {"status": "cancelled", "allocations": [share("BLR", "r1", "A", 2, state="released"),
                                                        share("DEL", "r2", "B", 1, state="released")]}
    assert [o.status for o in inv.order_outcomes("c", cancelled, {"A": 2, "B": 1}, {})] == ["cancelled", "cancelled"]
    single = inv.order_outcomes("one", {"status": "reserved", "location_id": "BLR", "reservation_id": "r9"}, {"A": 1},
                                {"A": 1})
    assert [(o.location_id, o.reservation_id, dict(o.restocked)) for o in single] == [("BLR", "r9", {"A": 1})]


def figures(on_hand, reserved, version=7, holds=None):
    return {"on_hand": on_hand, "reserved": reserved, "available": on_hand - reserved, "version": version,
            "holds": holds or {}}


def test_stock_check_compares_ledger_expectation_and_the_routers_view():
    expected = {("A", "BLR"): StockExpectation(initial=10, committed=1, holds={"r1": 2})}
    ledger = {("A", "BLR"): figures(9, 2, holds={"r1": 2})}
    view = {("A", "BLR"): figures(9, 2)}
    touching = {("A", "BLR"): {"o1", "o2"}}
    assert inv.check_stock(expected, ledger, view, touching).passed

    oversold = {("A", "BLR"): figures(9, 3, holds={"r1": 2, "r9": 1})}
    result = inv.check_stock(expected, oversold, view, touching, {"r9": "o9"})
    assert not result.passed
    assert result.order_ids == ["o1", "o2", "o9"]
    assert any("reserved 3 != 2" in p for p in result.problems)
    assert any("holds differ (unexpected 1" in p for p in result.problems)

    stale_view = {("A", "BLR"): figures(10, 0, version=3)}
    result = inv.check_stock(expected, ledger, stale_view, touching)
    assert not result.passed and "router view" in result.problems[0]

    lost = {("A", "BLR"): figures(8, 2, holds={"r1": 2})}
    result = inv.check_stock(expected, lost, {("A", "BLR"): figures(8, 2)}, touching)
    assert "on hand 8 != 9 (initial 10 - committed 1 + restocked 0)" in result.problems[0]


def test_stock_check_flags_negative_available_and_items_missing_everywhere():
    expected = {("A", "BLR"): StockExpectation(initial=1, holds={"r1": 1}), ("B", "BLR"): StockExpectation(initial=2)}
    bad = {"on_hand": 1, "reserved": 2, "available": -1, "version": 2, "holds": {"r1": 1}}
    result = inv.check_stock(expected, {("A", "BLR"): bad, ("B", "BLR"): None}, {("A", "BLR"): bad}, {})
    assert not result.passed
    assert any("available -1" in p for p in result.problems)
    assert any("B@BLR: not in the ledger" in p for p in result.problems)


# ---------------------------------------------------------------- outbox
def test_outbox_check_wants_every_relay_at_the_end_and_every_publication_on_kafka():
    complete = OutboxState("router", 3, 3, {("t", 1): "o1", ("t", 3): "o3"}, {("t", 1), ("t", 3), ("t", 2)})
    assert inv.check_outbox([complete]).passed
    behind = OutboxState("shipping", 2, 5, {("s", 4): "o4", ("s", 5): "SKU@BLR"}, set())
    result = inv.check_outbox([complete, behind])
    assert not result.passed
    assert result.order_ids == ["o4"]  # stock subjects are not orders
    assert any("relay position 2 != last notification 5" in p for p in result.problems)
    assert any("notification 4 never reached s" in p for p in result.problems)


# ---------------------------------------------------------------- dead letters
def test_every_injected_message_is_dead_lettered_by_each_group_that_reads_it():
    injected = [InjectedMessage("ns.t1", 0, 5, "bad_json", "k0", ("g1",)),
                InjectedMessage("ns.t2", 1, 9, "unknown_type", "k1", ("g2", "g3"))]
    letters = [DeadLetter("g1", "ns.t1", 0, 5, "k0", "invalid envelope: /: Invalid JSON", "invalid envelope"),
               DeadLetter("g2", "ns.t2", 1, 9, "k1", "'X' is not a message of topic t2", "x"),
               DeadLetter("g3", "ns.t2", 1, 9, "k1", "'X' is not a message of topic t2", "x")]
    assert inv.check_malformed_dead_lettered(injected, letters).passed
    assert inv.check_no_valid_message_dead_lettered(injected, letters).passed

    missing = inv.check_malformed_dead_lettered(injected, letters[:2])
    assert not missing.passed and "not in the dead letters of g3" in missing.problems[0]
    wrong = [DeadLetter("g1", "ns.t1", 0, 5, "k0", "handler failed", "handler failed")] + letters[1:]
    assert "gave the reason" in inv.check_malformed_dead_lettered(injected, wrong).problems[0]

    stray = letters + [DeadLetter("g1", "ns.t1", 2, 40, "order-7", "handler failed after 3 attempts", "h")]
    result = inv.check_no_valid_message_dead_lettered(injected, stray)
    assert not result.passed and result.order_ids == ["order-7"]


def test_an_injected_message_written_twice_by_a_producer_retry_is_matched_by_its_key():
    injected = [InjectedMessage("ns.t1", 0, 5, "bad_json", "k0", ("g1",))]
    letters = [DeadLetter("g1", "ns.t1", 0, 5, "k0", "invalid envelope: x", "invalid envelope"),
               DeadLetter("g1", "ns.t1", 0, 3, "k0", "invalid envelope: x", "invalid envelope")]  # the first copy
    assert inv.check_malformed_dead_lettered(injected, letters).passed
    assert inv.check_no_valid_message_dead_lettered(injected, letters).passed


def test_lag_and_process_checks():
    assert inv.check_caught_up({"g1": {"t[0]": 0, "t[1]": 0}}).passed
    lagging = inv.check_caught_up({"g1": {"t[0]": 0, "t[1]": 4}})
    assert not lagging.passed and lagging.problems == ["g1: t[1] lags 4"]
    assert inv.check_processes({}).passed
    assert not inv.check_processes({"router": 2}).passed


# ---------------------------------------------------------------- the report
def test_the_report_fails_on_any_failed_check_or_an_aborted_run_and_names_the_orders():
    report = ChaosReport(seed=1, orders=2, duration_s=10, namespace="chaos-x.")
    assert not report.passed  # nothing checked yet
    report.checks = [inv.CheckResult("a", True, "fine"), inv.CheckResult("b", False, "bad", ["p"], ["o2", "o1"])]
    report.faults = [FaultRecord(1.0, "kill -9 router", True)]
    assert not report.passed and report.order_ids == ["o1", "o2"]
    assert "[FAIL] b: bad" in report.summary() and "orders: o2, o1" in report.summary()
    report.checks[1].passed = True
    assert report.passed
    report.error = "boom"
    assert not report.passed


def test_print_report_draws_faults_checks_and_failures():
    from rich.console import Console

    report = ChaosReport(seed=3, orders=5, duration_s=20, namespace="chaos-x.", statuses={"delivered": 5})
    report.checks = [inv.CheckResult("stock conserved", False, "1 problem(s)", ["A@BLR: on hand 1 != 2"], ["o1"])]
    report.faults = [FaultRecord(2.5, "kill -9 the Kafka broker, restart after 2.0s", True, "back after 9s")]
    console = Console(record=True, width=200)
    print_report(report, console)
    text = console.export_text()
    for expected in ("kill -9 the Kafka broker", "stock conserved", "A@BLR: on hand 1 != 2", "orders involved: o1",
                     "FAILED", "delivered"):
        assert expected in text


def test_payments_are_checked_once_at_the_order_and_at_the_provider():
    from oms_cli.chaos.invariants import check_payments

    histories = {"o1": ["Received", "PaymentAuthorised", "PaymentCaptured"],
                 "o2": ["Received", "PaymentAuthorised", "PaymentAuthorised"]}
    ledger = {"authorisations": [
        {"reference": "o1", "amount": "10.00", "captured_total": "10.00"},
        {"reference": "o2", "amount": "5.00", "captured_total": "0.00"},
        {"reference": "o2", "amount": "5.00", "captured_total": "0.00"},
        {"reference": "o3", "amount": "5.00", "captured_total": "6.00"}]}
    checked = check_payments(histories, ledger, ["o1", "o2", "o3"])
    assert not checked.passed
    assert sorted(checked.problems) == ["o2: 2 authorisations at the provider", "o2: 2 x PaymentAuthorised",
                                        "o3: captured 6.00 above the 5.00 authorised"]
    assert check_payments({"o1": histories["o1"]}, {"authorisations": ledger["authorisations"][:1]}, ["o1"]).passed
