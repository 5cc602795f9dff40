"""What must hold after a chaos run, as pure functions over what the run collected.

Each check answers a :class:`CheckResult`: passed or not, one line of detail, the problems found
(a few lines each) and the order ids involved, so a failed run names the orders to look at.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

MAX_PROBLEMS = 20  # problem lines kept per check (the order ids are all kept)


@dataclass
class CheckResult:
    name: str
    passed: bool
    detail: str
    problems: list[str] = field(default_factory=list)
    order_ids: list[str] = field(default_factory=list)


def result(name: str, problems: list[str], order_ids: Iterable[str], ok_detail: str) -> CheckResult:
    ids = sorted(set(order_ids))
    if not problems:
        return CheckResult(name, True, ok_detail)
    detail = f"{len(problems)} problem(s)" + (f", {len(ids)} order(s)" if ids else "")
    return CheckResult(name, False, detail, problems[:MAX_PROBLEMS], ids)


# ---------------------------------------------------------------- orders and their expected states
@dataclass
class PlacedOrder:
    """An order the run posted and the gateway accepted, and what the run later did to it."""

    order_id: str
    channel: str
    external_order_id: str
    lines: list[tuple[str, int, Decimal]]  # sku, quantity, unit price
    scarce: bool = False  # names a SKU that may run out: a backorder is a right outcome
    deliver: bool = False  # carriers scanned it to delivered
    cancel: bool = False  # the channel cancelled it after its shipment was booked
    returned: list[tuple[str, int]] = field(default_factory=list)  # sellable return (sku, quantity)

    def quantities(self) -> dict[str, int]:
        wanted: dict[str, int] = defaultdict(int)
        for sku, quantity, _ in self.lines:
            wanted[sku] += quantity
        return dict(wanted)

    def refund_due(self) -> Decimal:
        prices = {sku: price for sku, _, price in self.lines}
        return sum((prices[sku] * quantity for sku, quantity in self.returned), Decimal("0"))


# channels whose orders no location can fill are cancelled, not backordered (the demo order rules'
# fulfilment_policies: Amazon wants an unfillable order cancelled)
CANCELS_UNFULFILLABLE = frozenset({"amazon-seller", "amazon-in"})


def expected_statuses(order: PlacedOrder) -> set[str]:
    if order.returned:
        return {"refunded"}
    if order.cancel:
        return {"cancelled"}
    if order.deliver:
        return {"delivered"}
    if order.scarce:  # the last unit: some get it; the others wait, or are cancelled where the channel says so
        return {"shipment_created", "backordered", "cancelled"} if order.channel in CANCELS_UNFULFILLABLE \
            else {"shipment_created", "backordered"}
    return {"shipment_created"}


def expected_documents(order: PlacedOrder, status: str | None) -> list[str]:
    """The ERP documents an order must have, once each, given where it ended."""
    if status == "backordered" or status is None:
        return []
    if status == "cancelled" and not order.cancel:  # cancelled as unfulfillable: never reserved, never sold
        return []
    kinds = ["sale_order"]
    if order.deliver or order.returned:
        kinds.append("invoice")
    if order.returned:
        kinds.append("credit_note")
    return kinds


def check_accepted(posted: int, accepted: int, failures: Mapping[str, str]) -> CheckResult:
    problems = [f"{external}: {error}" for external, error in sorted(failures.items())]
    return result("every order posted was accepted", problems, [],
                  f"{accepted} of {posted} accepted (202, or 200 on a retried post)")


def check_order_states(orders: Iterable[PlacedOrder], states: Mapping[str, Mapping[str, Any] | None]) -> CheckResult:
    problems, ids, count = [], [], 0
    for order in orders:
        count += 1
        state = states.get(order.order_id)
        wanted = expected_statuses(order)
        status = state.get("status") if state else None
        if status not in wanted:
            problems.append(f"{order.order_id}: {status or 'unknown to the orchestrator'} "
                            f"(expected {' or '.join(sorted(wanted))})")
            ids.append(order.order_id)
            continue
        if order.returned:
            refunded = Decimal(str(state.get("refunded_total", "0")))
            if refunded != order.refund_due():
                problems.append(f"{order.order_id}: refunded {refunded}, expected {order.refund_due()}")
                ids.append(order.order_id)
    return result("every accepted order reached its expected state", problems, ids,
                  f"{count} orders in their expected states")


def check_documents(orders: Iterable[PlacedOrder], states: Mapping[str, Mapping[str, Any] | None],
                    documents: Mapping[str, list[Mapping[str, Any]]]) -> CheckResult:
    """Each order has exactly the ERP documents its outcome calls for: none missing, none twice."""
    problems, ids, total = [], [], 0
    for order in orders:
        state = states.get(order.order_id)
        wanted = sorted(expected_documents(order, state.get("status") if state else None))
        found = sorted(d["kind"] for d in documents.get(order.order_id, []))
        total += len(found)
        if found != wanted:
            problems.append(f"{order.order_id}: ERP documents {found or 'none'}, expected {wanted or 'none'}")
            ids.append(order.order_id)
    return result("ERP documents: each due document once, no duplicates", problems, ids,
                  f"{total} documents, each exactly once")


# ---------------------------------------------------------------- duplicates
def duplicates(entries: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str], set[str]]:
    """``(order id, what, identity)`` entries grouped by order and what; the groups with more than one
    identity. A message re-published verbatim keeps its identity (event id); a second effect does not."""
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for order_id, what, identity in entries:
        seen[(order_id, what)].add(identity)
    return {key: ids for key, ids in seen.items() if len(ids) > 1}


def check_no_duplicates(name: str, entries: Iterable[tuple[str, str, str]]) -> CheckResult:
    entries = list(entries)
    doubled = duplicates(entries)
    problems = [f"{order_id}: {len(ids)} x {what} ({', '.join(sorted(ids)[:3])})"
                for (order_id, what), ids in sorted(doubled.items())]
    distinct = len({(o, w) for o, w, _ in entries})
    return result(name, problems, [o for o, _ in doubled], f"{distinct} distinct, none twice")


# ---------------------------------------------------------------- payments
PAYMENT_STEPS = ("PaymentAuthorised", "PaymentDeclined", "PaymentCaptured", "PaymentVoided", "PaymentRefunded")


def check_payments(histories: Mapping[str, list[str]], provider_ledger: Mapping[str, Any],
                   provider_orders: Iterable[str]) -> CheckResult:
    """Each payment step once: on the order (one event of each kind at most), and at the payment provider
    (one authorisation per order, whatever was redelivered; captures never above what was authorised)."""
    problems: list[str] = []
    ids: set[str] = set()
    for order_id, events in histories.items():
        for step in PAYMENT_STEPS:
            if step != "PaymentRefunded" and events.count(step) > 1:
                problems.append(f"{order_id}: {events.count(step)} x {step}")
                ids.add(order_id)
    authorisations: dict[str, list[dict[str, Any]]] = {}
    for a in provider_ledger.get("authorisations", []):
        authorisations.setdefault(a["reference"], []).append(a)
    for order_id in provider_orders:
        held = authorisations.get(order_id, [])
        if len(held) > 1:
            problems.append(f"{order_id}: {len(held)} authorisations at the provider")
            ids.add(order_id)
        for a in held:
            if Decimal(a["captured_total"]) > Decimal(a["amount"]):
                problems.append(f"{order_id}: captured {a['captured_total']} above the {a['amount']} authorised")
                ids.add(order_id)
    authorised = sum(1 for held in authorisations.values() if held)
    return result("each payment step once, at the order and at the provider", problems, ids,
                  f"{authorised} orders authorised once each; no payment event twice")


# ---------------------------------------------------------------- stock
Item = tuple[str, str]  # (sku, location id)
HELD = {"reserved", "shipment_created", "shipped"}
GONE = {"delivered", "returned", "refunded"}


@dataclass
class StockExpectation:
    initial: int = 0
    committed: int = 0
    restocked: int = 0
    holds: dict[str, int] = field(default_factory=dict)  # reservation id -> quantity

    @property
    def on_hand(self) -> int:
        return self.initial - self.committed + self.restocked

    @property
    def reserved(self) -> int:
        return sum(self.holds.values())


@dataclass(frozen=True)
class OrderOutcome:
    order_id: str
    status: str
    location_id: str | None
    reservation_id: str | None
    quantities: Mapping[str, int]
    restocked: Mapping[str, int] = field(default_factory=dict)


def order_outcomes(order_id: str, state: Mapping[str, Any], quantities: Mapping[str, int],
                   returned: Mapping[str, int]) -> list[OrderOutcome]:
    """What the order did to the stock, as the orchestrator's state says: one outcome, or for a split order
    one per location's share (held while its reservation stands, gone once its parcel is delivered; what came
    back was restocked where the first parcel came from, as the returns service restocks)."""
    status = state.get("status", "unknown")
    allocations = state.get("allocations") or []
    if not allocations:
        return [OrderOutcome(order_id, status, state.get("location_id"), state.get("reservation_id"), quantities,
                             dict(returned))]
    outcomes = []
    for n, share in enumerate(allocations):
        if share.get("parcel") == "delivered":
            share_status = "delivered"
        elif status in HELD | {"reserving", "partially_shipped"}:
            share_status = "reserved" if share.get("state") == "reserved" else "released"
        else:
            share_status = status
        share_quantities: dict[str, int] = {}
        for line in share["lines"]:
            share_quantities[line["sku"]] = share_quantities.get(line["sku"], 0) + int(line["quantity"])
        outcomes.append(OrderOutcome(order_id, share_status, share["location_id"], share["reservation_id"],
                                     share_quantities, dict(returned) if n == 0 else {}))
    return outcomes


def expected_stock(initial: Mapping[Item, int], outcomes: Iterable[OrderOutcome]) -> dict[Item, StockExpectation]:
    """Per SKU and location: the initial stock minus what left with delivered orders plus what came
    back on the shelf, and the holds of the orders whose reservation still stands."""
    expected: dict[Item, StockExpectation] = {item: StockExpectation(initial=qty) for item, qty in initial.items()}
    for outcome in outcomes:
        if outcome.location_id is None:
            continue
        for sku, quantity in outcome.quantities.items():
            slot = expected.setdefault((sku, outcome.location_id), StockExpectation())
            if outcome.status in HELD and outcome.reservation_id:
                slot.holds[outcome.reservation_id] = slot.holds.get(outcome.reservation_id, 0) + quantity
            elif outcome.status in GONE:
                slot.committed += quantity
        for sku, quantity in outcome.restocked.items():
            expected.setdefault((sku, outcome.location_id), StockExpectation()).restocked += quantity
    return expected


def check_stock(expected: Mapping[Item, StockExpectation], ledger: Mapping[Item, Mapping[str, Any] | None],
                view: Mapping[Item, Mapping[str, Any] | None], touching: Mapping[Item, Iterable[str]],
                reservation_orders: Mapping[str, str] | None = None) -> CheckResult:
    """The ledger's figures equal the expectation, its holds are exactly the standing reservations,
    available never goes below zero, and the router's read model shows the same figures."""
    reservation_orders = reservation_orders or {}
    problems: list[str] = []
    ids: list[str] = []
    for item in sorted(set(expected) | set(ledger)):
        sku, location = item
        want = expected.get(item, StockExpectation())
        got = ledger.get(item)
        before = len(problems)
        if got is None:
            if want.on_hand or want.reserved:
                problems.append(f"{sku}@{location}: not in the ledger, expected on hand {want.on_hand}")
        else:
            if got["on_hand"] != want.on_hand:
                problems.append(f"{sku}@{location}: on hand {got['on_hand']} != {want.on_hand} (initial "
                                f"{want.initial} - committed {want.committed} + restocked {want.restocked})")
            if got["reserved"] != want.reserved:
                problems.append(f"{sku}@{location}: reserved {got['reserved']} != {want.reserved} held by standing "
                                f"reservations")
            promised = max(0, got["on_hand"] - got["reserved"] - got.get("safety_stock", 0))
            if got["available"] != promised or got["available"] < 0:
                problems.append(f"{sku}@{location}: available {got['available']} (on hand {got['on_hand']}, "
                                f"reserved {got['reserved']})")
            holds = {str(k): int(v) for k, v in (got.get("holds") or {}).items()}
            if holds != want.holds:
                extra = sorted(set(holds) - set(want.holds))
                missing = sorted(set(want.holds) - set(holds))
                changed = sorted(k for k in set(holds) & set(want.holds) if holds[k] != want.holds[k])
                problems.append(f"{sku}@{location}: holds differ (unexpected {len(extra)}, missing {len(missing)}, "
                                f"different {len(changed)})")
                ids.extend(reservation_orders.get(k, k) for k in extra + missing + changed)
            seen = view.get(item)
            figures = ("on_hand", "reserved", "available", "version")
            if seen is None:
                problems.append(f"{sku}@{location}: missing from the router's stock view")
            elif any(seen[f] != got[f] for f in figures):
                problems.append(f"{sku}@{location}: router view " + ", ".join(f"{f} {seen[f]}" for f in figures)
                                + " != ledger " + ", ".join(f"{f} {got[f]}" for f in figures))
        if len(problems) > before:
            ids.extend(touching.get(item, ()))
    total = sum(e.on_hand for e in expected.values())
    return result("stock conserved per SKU and location (ledger = router view = initial - committed + restocked)",
                  problems, ids, f"{len(expected)} SKU x location items, {total} on hand in all")


# ---------------------------------------------------------------- outbox
@dataclass
class OutboxState:
    service: str
    position: int | None  # the relay's recorded position (outbox_relay_position)
    last_notification: int | None  # max(notification_id) of the service's events table
    expected: dict[tuple[str, int], str]  # (topic, notification id) -> subject, what the events publish
    observed: set[tuple[str, int]]  # (topic, notification id) found on Kafka from this producer


def check_outbox(states: Iterable[OutboxState]) -> CheckResult:
    problems: list[str] = []
    ids: list[str] = []
    published = 0
    for state in states:
        if (state.last_notification or 0) != (state.position or 0):
            problems.append(f"{state.service}: relay position {state.position} != last notification "
                            f"{state.last_notification}")
        missing = sorted(set(state.expected) - state.observed)
        published += len(state.expected) - len(missing)
        for topic, notification_id in missing[:5]:
            problems.append(f"{state.service}: notification {notification_id} never reached {topic} "
                            f"(subject {state.expected[(topic, notification_id)]})")
        if len(missing) > 5:
            problems.append(f"{state.service}: {len(missing) - 5} more notifications never reached Kafka")
        ids.extend(state.expected[m] for m in missing)
    return result("every outbox entry reached Kafka", problems, [i for i in ids if "@" not in i],
                  f"{published} messages published, every relay at its log's end")


# ---------------------------------------------------------------- dead letters
MALFORMED_KINDS = ("bad_json", "invalid_payload", "unknown_type")
REASON_MARKS = {"bad_json": "invalid envelope", "invalid_payload": "payload", "unknown_type": "is not a message of"}


@dataclass(frozen=True)
class InjectedMessage:
    topic: str
    partition: int
    offset: int
    kind: str  # one of MALFORMED_KINDS
    key: str
    groups: tuple[str, ...]  # the consumer groups that read the topic: each must dead-letter it


@dataclass(frozen=True)
class DeadLetter:
    group: str
    source_topic: str
    source_partition: int
    source_offset: int
    key: str | None
    reason: str
    header_reason: str | None = None


def check_malformed_dead_lettered(injected: Iterable[InjectedMessage], letters: Iterable[DeadLetter]) -> CheckResult:
    """Each injected message is dead-lettered by every group that reads its topic, with a reason that
    names what is wrong with it. Messages are matched by their (unique) key: a producer retry may have
    written one twice, and both copies are then dead-lettered."""
    by_source: dict[tuple[str, str, str | None], list[DeadLetter]] = defaultdict(list)
    for letter in letters:
        by_source[(letter.group, letter.source_topic, letter.key)].append(letter)
    problems: list[str] = []
    expected = 0
    for message in injected:
        for group in message.groups:
            expected += 1
            found = by_source.get((group, message.topic, message.key), [])
            where = f"{message.kind} {message.key} on {message.topic}[{message.partition}]@{message.offset}"
            if not found:
                problems.append(f"{where}: not in the dead letters of {group}")
            elif not any(REASON_MARKS[message.kind] in letter.reason and letter.header_reason for letter in found):
                problems.append(f"{where}: {group} gave the reason {found[0].reason!r}")
    return result("every malformed message is in the dead-letter topic with its reason", problems, [],
                  f"{expected} dead letters (message x consumer group), each with its reason")


def check_no_valid_message_dead_lettered(injected: Iterable[InjectedMessage],
                                         letters: Iterable[DeadLetter]) -> CheckResult:
    sources = {(m.topic, m.key) for m in injected}
    strays = [letter for letter in letters if (letter.source_topic, letter.key) not in sources]
    problems = [f"{s.group}: {s.source_topic}[{s.source_partition}]@{s.source_offset} key {s.key}: {s.reason}"
                for s in strays]
    return result("no valid message was dead-lettered", problems, [s.key for s in strays if s.key and "@" not in s.key],
                  "only the injected messages are in the dead-letter topics")


# ---------------------------------------------------------------- consumers and processes
def check_caught_up(lags: Mapping[str, Mapping[str, int]]) -> CheckResult:
    problems = [f"{group}: {where} lags {lag}" for group, parts in sorted(lags.items())
                for where, lag in sorted(parts.items()) if lag != 0]
    return result("every consumer group caught up (committed offset = end of log)", problems, [],
                  f"{len(lags)} consumer groups at the end of their topics")


def check_answers_after_recovery(failures: Iterable[tuple[str, str | None]], requests: int) -> CheckResult:
    """``failures``: (what failed, the order id it concerns) of requests made once the system had settled:
    the broker and the database are back, so a 5xx or a refused connection then is a service that did not
    recover (e.g. a pool handing out connections the database restart killed)."""
    failures = list(failures)
    problems = [what for what, _ in failures]
    return result("every request answered once the system had recovered (no 5xx, no refused connection)",
                  problems, [o for _, o in failures if o], f"{requests} requests after recovery, all answered")


def check_processes(unexpected_exits: Mapping[str, int]) -> CheckResult:
    problems = [f"{name} exited by itself {count} time(s) (restarted by the run)"
                for name, count in sorted(unexpected_exits.items())]
    return result("no process died except those killed", problems, [], "every exit was a kill of the schedule")
