"""The seller's order rules as data: every condition, the findings they report, modification policies and
the validation of rules documents (each problem named by its JSON pointer)."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from order_orchestrator.domain.order_rules import (
    FraudAssessment,
    ModificationPolicy,
    OrderFacts,
    RuleSet,
    RuleSetInvalid,
)

pytestmark = pytest.mark.unit

DEMO_FILE = Path(__file__).resolve().parents[2] / "src" / "order_orchestrator" / "config" / "order-rules" / "demo.json"


def facts(**changes: Any) -> OrderFacts:
    ship_to = {"name": "Asha Rao", "line1": "12 MG Road", "line2": None, "city": "Bengaluru",
               "region": "Karnataka", "postal_code": "560001", "country": "IN", "phone": "+91 98450 12345"}
    ship_to.update(changes.pop("ship_to", {}))
    base = OrderFacts(order_id="O-1", channel="webstore",
                      lines=({"line_id": "1", "sku": "SKU-1", "quantity": 2, "unit_price": Decimal("499.00")},),
                      ship_to=ship_to, currency="INR", order_total=Decimal("998.00"), payment_method="prepaid",
                      service_level="standard", customer_email="asha@example.in",
                      ordered_at=datetime(2026, 11, 23, 4, 45, tzinfo=UTC))
    return replace(base, **changes)


def rules(*rule_list: dict[str, Any], **document: Any) -> RuleSet:
    body: dict[str, Any] = {"tenant": "demo", "version": "v1", "rules": list(rule_list)}
    body.update(document)
    return RuleSet.from_document(body, tenant="demo")


def rule(when: dict[str, Any], action: str = "hold", rule_id: str = "r") -> dict[str, Any]:
    return {"id": rule_id, "action": action, "when": when}


def reasons(rule_set: RuleSet, order: OrderFacts, fraud: FraudAssessment | None = None) -> list[str]:
    return [f.reason for f in rule_set.evaluate(order, fraud).findings]


def matches(when: dict[str, Any], order: OrderFacts, fraud: FraudAssessment | None = None, **document: Any) -> bool:
    return bool(rules(rule(when), **document).evaluate(order, fraud).findings)


FRAUD = {"scorer": "velocity", "window_minutes": 60, "orders_per_customer": 5}


# --- conditions ----------------------------------------------------------------------------------------------

def test_order_total_above_is_strict_and_names_the_total() -> None:
    high = rules(rule({"order_total_above": "50000"}, rule_id="hold-high-value"))
    assert reasons(high, facts(order_total=Decimal("75000.00"))) == [
        "order total 75000.00 INR above 50000 (hold-high-value)"]
    assert reasons(high, facts(order_total=Decimal("50000.00"))) == []
    assert reasons(high, facts(order_total=Decimal("50000.01"))) != []


def test_order_total_above_with_a_currency_only_compares_that_currency() -> None:
    when = {"order_total_above": "50000", "currency": "INR"}
    assert matches(when, facts(order_total=Decimal("60000")))
    assert not matches(when, facts(order_total=Decimal("60000"), currency="USD"))
    assert matches({"currency": "USD"}, facts(currency="USD"))
    assert reasons(rules(rule({"currency": "USD"})), facts(currency="USD")) == ["currency USD (r)"]


def test_order_total_accepts_numbers_and_decimal_strings() -> None:
    for written in (Decimal("50000.5"), 50000.5, "50000.50", "  50000.5 "):
        assert matches({"order_total_above": written}, facts(order_total=Decimal("50000.51")))
        assert not matches({"order_total_above": written}, facts(order_total=Decimal("50000.50")))
    assert matches({"order_total_above": 50000}, facts(order_total=Decimal("50000.01")))
    assert rules(rule({"order_total_above": 50000.5})).describe()["rules"][0]["when"] == {
        "order_total_above": "50000.5"}


def test_payment_methods_channels_and_service_levels() -> None:
    assert reasons(rules(rule({"payment_methods": ["cod", "invoice"]})), facts(payment_method="cod")) == [
        "payment method cod (r)"]
    assert not matches({"payment_methods": ["cod"]}, facts())
    assert matches({"channels": ["amazon-in", "webstore"]}, facts())
    assert not matches({"channels": ["amazon-in"]}, facts())
    assert reasons(rules(rule({"service_levels": ["express"]}, "prioritise")), facts(service_level="express")) == [
        "service level express (r)"]
    assert not matches({"service_levels": ["express"]}, facts())


def test_cod_limit_is_two_conditions_that_must_both_hold() -> None:
    cod = rules(rule({"payment_methods": ["cod"], "order_total_above": "20000", "currency": "INR"}, "reject",
                     "reject-cod-above-20000"))
    assert reasons(cod, facts(payment_method="cod", order_total=Decimal("25000.00"))) == [
        "payment method cod and order total 25000.00 INR above 20000 (reject-cod-above-20000)"]
    assert reasons(cod, facts(payment_method="prepaid", order_total=Decimal("25000.00"))) == []
    assert reasons(cod, facts(payment_method="cod", order_total=Decimal("19999.99"))) == []


def test_postal_codes_exact_and_prefixes() -> None:
    risky = rules(rule({"postal_codes": ["110099", "56*"]}))
    assert reasons(risky, facts(ship_to={"postal_code": "110099"})) == ["postal code 110099 (r)"]
    assert reasons(risky, facts(ship_to={"postal_code": "560 034"})) == ["postal code 560034 matches 56* (r)"]
    assert reasons(risky, facts(ship_to={"postal_code": "110001"})) == []
    assert reasons(risky, facts(ship_to={"postal_code": "1100999"})) == []
    assert reasons(risky, facts(ship_to={"postal_code": None})) == []
    # case and spaces do not matter (UK-style codes)
    assert matches({"postal_codes": ["sw1a*"]}, facts(ship_to={"postal_code": "SW1A 1AA", "country": "GB"}))


def test_postal_codes_not_in_the_serviceable_list() -> None:
    serviceable = rules(rule({"postal_codes_not_in": ["56*", "110001", "400001"]}, "reject", "unserviceable"))
    assert reasons(serviceable, facts(ship_to={"postal_code": "744101"})) == [
        "postal code 744101 not in the serviceable list (unserviceable)"]
    assert reasons(serviceable, facts(ship_to={"postal_code": "560001"})) == []
    assert reasons(serviceable, facts(ship_to={"postal_code": "110001"})) == []
    assert reasons(serviceable, facts(ship_to={"postal_code": ""})) == ["no ship-to postal code (unserviceable)"]


def test_regions_ignore_case() -> None:
    assert reasons(rules(rule({"regions": ["karnataka", "KA"]})), facts()) == ["region Karnataka (r)"]
    assert not matches({"regions": ["Maharashtra"]}, facts())
    assert not matches({"regions": ["Maharashtra"]}, facts(ship_to={"region": None}))


def test_countries_and_countries_not_in() -> None:
    assert reasons(rules(rule({"countries": ["in"]})), facts()) == ["country IN (r)"]
    assert not matches({"countries": ["US"]}, facts())
    abroad = rules(rule({"countries_not_in": ["IN"]}, "reject"))
    assert reasons(abroad, facts(ship_to={"country": "US"})) == ["country US not in IN (r)"]
    assert reasons(abroad, facts()) == []
    assert reasons(abroad, facts(ship_to={"country": None})) == ["no ship-to country (r)"]


def test_skus_exact_and_prefixes_on_any_line() -> None:
    order = facts(lines=({"line_id": "1", "sku": "SKU-1", "quantity": 1, "unit_price": "499"},
                         {"line_id": "2", "sku": "GIFT-WRAP", "quantity": 1, "unit_price": "49"}))
    gifts = rules(rule({"skus": ["GIFT-*"]}, "prioritise", "prioritise-gifts"))
    assert reasons(gifts, order) == ["SKU GIFT-WRAP matches GIFT-* (prioritise-gifts)"]
    assert reasons(gifts, facts()) == []
    assert reasons(rules(rule({"skus": ["sku-1"]})), order) == ["SKU SKU-1 (r)"]


def test_line_quantity_at_least_alone_and_with_skus() -> None:
    order = facts(lines=({"line_id": "1", "sku": "SKU-1", "quantity": 12, "unit_price": "99"},
                         {"line_id": "2", "sku": "PHONE-X", "quantity": 3, "unit_price": "9999"}))
    assert reasons(rules(rule({"line_quantity_at_least": 10})), order) == [
        "line 1 SKU SKU-1 quantity 12 at least 10 (r)"]
    assert reasons(rules(rule({"line_quantity_at_least": 13})), order) == []
    # with skus, one line must satisfy both: PHONE-X has 3, SKU-1 (12) is not a phone
    phones = rules(rule({"skus": ["PHONE-*"], "line_quantity_at_least": 3}, rule_id="bulk-phones"))
    assert reasons(phones, order) == ["line 2 SKU PHONE-X matches PHONE-* quantity 3 at least 3 (bulk-phones)"]
    assert reasons(rules(rule({"skus": ["PHONE-*"], "line_quantity_at_least": 4})), order) == []


def test_fraud_score_at_least_needs_an_assessment() -> None:
    risky = rules(rule({"fraud_score_at_least": 0.8}, rule_id="hold-fraud-velocity"), fraud=FRAUD)
    assert risky.needs_fraud_score
    signals = ("email seen on 5 other orders within 60 min",)
    assert reasons(risky, facts(), FraudAssessment(0.8, signals)) == [
        "fraud score 0.80 at least 0.8: email seen on 5 other orders within 60 min (hold-fraud-velocity)"]
    assert reasons(risky, facts(), FraudAssessment(0.79, ())) == []
    assert reasons(risky, facts(), None) == []
    verdict = risky.evaluate(facts(), FraudAssessment(0.9, signals))
    assert (verdict.fraud_score, verdict.fraud_signals) == (0.9, signals)
    assert risky.evaluate(facts()).fraud_score is None


def test_needs_fraud_score_follows_the_fraud_section() -> None:
    assert not rules(rule({"channels": ["webstore"]})).needs_fraud_score
    assert rules(rule({"channels": ["webstore"]}), fraud=FRAUD).needs_fraud_score
    assert rules(rule({"channels": ["webstore"]}), fraud=None).fraud is None


# --- findings ------------------------------------------------------------------------------------------------

def test_every_matching_rule_is_reported_in_file_order() -> None:
    rule_set = rules(
        rule({"service_levels": ["express"]}, "prioritise", "prioritise-express"),
        rule({"order_total_above": "50000"}, "hold", "hold-high-value"),
        rule({"payment_methods": ["cod"], "order_total_above": "20000"}, "reject", "reject-cod"),
        rule({"channels": ["amazon-in"]}, "hold", "hold-amazon"),
        rule({"postal_codes": ["110099"]}, "hold", "hold-risky-pins"),
    )
    verdict = rule_set.evaluate(facts(service_level="express", payment_method="cod", order_total=Decimal("75000"),
                                      ship_to={"postal_code": "110099"}))
    assert [f.rule_id for f in verdict.findings] == ["prioritise-express", "hold-high-value", "reject-cod",
                                                     "hold-risky-pins"]
    assert [f.rule_id for f in verdict.rejections] == ["reject-cod"]
    assert [f.rule_id for f in verdict.holds] == ["hold-high-value", "hold-risky-pins"]
    assert [f.rule_id for f in verdict.prioritisations] == ["prioritise-express"]
    assert verdict.priority == "high"
    assert verdict.rule_version == "v1"
    assert verdict.findings[1].as_dict() == {"rule_id": "hold-high-value", "action": "hold",
                                             "reason": "order total 75000 INR above 50000 (hold-high-value)"}
    assert json.loads(json.dumps(verdict.as_dict()))["findings"][2]["action"] == "reject"


def test_an_ordinary_order_has_no_findings_and_normal_priority() -> None:
    verdict = rules(rule({"order_total_above": "50000"})).evaluate(facts())
    assert verdict.findings == () and verdict.priority == "normal"
    assert (verdict.rejections, verdict.holds, verdict.prioritisations) == ((), (), ())


def test_a_disabled_rule_does_not_run() -> None:
    rule_set = rules({**rule({"channels": ["webstore"]}), "enabled": False})
    assert rule_set.evaluate(facts()).findings == ()
    assert rule_set.describe()["rules"][0]["enabled"] is False


# --- modification policies -----------------------------------------------------------------------------------

POLICIES = {"default": {"address_change": True},
            "amazon-in": {"line_cancel": False, "quantity_change": False, "address_change": False},
            "amazon-vendor": {"address_change": False},
            "webstore": {"quantity_increase": False}}


def test_policies_inherit_from_default() -> None:
    rule_set = rules(modification_policies=POLICIES)
    assert rule_set.modification_policy("shopify") == ModificationPolicy(channel="shopify")
    assert rule_set.modification_policy("amazon-vendor").as_dict() == {
        "line_cancel": True, "quantity_change": True, "quantity_increase": True, "address_change": False}
    no_address = rules(modification_policies={"default": {"address_change": False}, "x": {"line_cancel": False}})
    assert no_address.modification_policy("x").as_dict() == {
        "line_cancel": False, "quantity_change": True, "quantity_increase": True, "address_change": False}
    assert rules().modification_policy("anything") == ModificationPolicy(channel="anything")


def test_policy_refusals_name_the_channel_and_what_is_not_allowed() -> None:
    rule_set = rules(modification_policies=POLICIES)
    amazon = rule_set.modification_policy("amazon-in")
    nothing = {"cancels_lines": False, "changes_quantities": False, "increases": False, "changes_address": False}
    assert amazon.refusal(**nothing) is None
    assert amazon.refusal(**{**nothing, "cancels_lines": True}) == (
        "channel amazon-in's modification policy does not allow cancelling lines; "
        "only the whole order may be cancelled")
    assert amazon.refusal(**{**nothing, "changes_quantities": True, "changes_address": True}) == (
        "channel amazon-in's modification policy does not allow changing quantities or changing the ship-to "
        "address; only the whole order may be cancelled")
    vendor = rule_set.modification_policy("amazon-vendor")
    assert vendor.refusal(**{**nothing, "cancels_lines": True, "changes_quantities": True}) is None
    assert vendor.refusal(**{**nothing, "changes_address": True}) == (
        "channel amazon-vendor's modification policy does not allow changing the ship-to address")
    webstore = rule_set.modification_policy("webstore")
    assert webstore.refusal(**{**nothing, "changes_quantities": True}) is None
    assert webstore.refusal(**{**nothing, "changes_quantities": True, "increases": True}) == (
        "channel webstore's modification policy does not allow increasing quantities")
    assert ModificationPolicy(address_change=False).refusal(**{**nothing, "changes_address": True}) == (
        "the modification policy does not allow changing the ship-to address")


# --- the demo tenant's file ----------------------------------------------------------------------------------

def demo() -> RuleSet:
    from order_orchestrator.adapters.order_rule_book import parse_rules

    return parse_rules(DEMO_FILE.read_bytes(), "demo")


@pytest.mark.parametrize("pin", ["560001", "110001", "400001", "600001", "700001"])
@pytest.mark.parametrize("payment_method", ["prepaid", "cod"])
def test_demo_rules_let_ordinary_orders_through(pin: str, payment_method: str) -> None:
    for total in ("299.00", "998.00", "4990.00", "9999.00"):
        verdict = demo().evaluate(facts(ship_to={"postal_code": pin}, payment_method=payment_method,
                                        order_total=Decimal(total)), FraudAssessment(0.0, ()))
        assert verdict.findings == ()


def test_demo_rules() -> None:
    rule_set = demo()
    assert rule_set.tenant == "demo" and rule_set.needs_fraud_score

    def ids(**changes: Any) -> list[str]:
        fraud = changes.pop("fraud", FraudAssessment(0.0, ()))
        return [f.rule_id for f in rule_set.evaluate(facts(**changes), fraud).findings]

    assert ids(order_total=Decimal("50000.01")) == ["hold-high-value"]
    assert ids(order_total=Decimal("20000.01"), payment_method="cod") == ["reject-cod-above-20000",
                                                                          "confirm-large-cod"]
    assert ids(order_total=Decimal("10000.01"), payment_method="cod") == ["confirm-large-cod"]
    assert [f.confirm_within_minutes for f in rule_set.evaluate(
        facts(order_total=Decimal("15000"), payment_method="cod"), FraudAssessment(0.0, ())).findings] == [120]
    assert ids(order_total=Decimal("20000.01")) == []
    assert ids(ship_to={"postal_code": "744101"}) == ["reject-unserviceable-pins"]
    assert ids(ship_to={"postal_code": "400099"}) == ["hold-risky-pins"]
    assert ids(fraud=FraudAssessment(0.8, ("email seen on 5 other orders within 60 min",))) == [
        "hold-fraud-velocity"]
    assert ids(service_level="express") == ["prioritise-express"]
    assert ids(lines=({"line_id": "1", "sku": "GIFT-HAMPER", "quantity": 1, "unit_price": "999"},)) == [
        "prioritise-gifts"]
    for channel in ("amazon-in", "amazon-seller"):
        policy = rule_set.modification_policy(channel)
        assert not (policy.line_cancel or policy.quantity_change or policy.address_change)
    vendor = rule_set.modification_policy("amazon-vendor")
    assert (vendor.line_cancel, vendor.quantity_change, vendor.address_change) == (True, True, False)
    assert rule_set.modification_policy("webstore").as_dict() == ModificationPolicy().as_dict()


def test_describe_is_json_and_round_trips() -> None:
    described = demo().describe()
    assert json.loads(json.dumps(described)) == described
    assert {"tenant", "version", "rules", "modification_policies", "fraud"} <= set(described)
    document = {k: v for k, v in described.items()}
    assert RuleSet.from_document(document, tenant="demo").describe() == described


# --- invalid documents ---------------------------------------------------------------------------------------

VALID = {"tenant": "demo", "version": "v1",
         "rules": [{"id": "a", "action": "hold", "when": {"channels": ["webstore"]}},
                   {"id": "b", "action": "reject", "when": {"payment_methods": ["cod"]}},
                   {"id": "c", "action": "hold", "when": {"order_total_above": "1"}}],
         "fraud": dict(FRAUD),
         "modification_policies": {"default": {"line_cancel": True}, "amazon-in": {"line_cancel": False}}}


def invalid(change) -> RuleSetInvalid:
    document = copy.deepcopy(VALID)
    change(document)
    with pytest.raises(RuleSetInvalid) as raised:
        RuleSet.from_document(document, tenant="demo")
    return raised.value


def setter(*path: Any, value: Any = None, delete: bool = False):
    def change(document: dict[str, Any]) -> None:
        target = document
        for part in path[:-1]:
            target = target[part]
        if delete:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return change


@pytest.mark.parametrize(("change", "pointer", "words"), [
    (setter("rules", 2, "when", "order_total_above", value="lots"), "/rules/2/when/order_total_above",
     "must be a decimal"),
    (setter("rules", 2, "when", "order_total_above", value=True), "/rules/2/when/order_total_above",
     "must be a decimal"),
    (setter("rules", 2, "when", "order_total_above", value=-5), "/rules/2/when/order_total_above",
     "must not be negative"),
    (setter("rules", 0, "when", "channel", value=["webstore"]), "/rules/0/when/channel", "unknown key"),
    (setter("rules", 0, "when", value={}), "/rules/0/when", "at least one condition"),
    (setter("rules", 0, "when", delete=True), "/rules/0/when", "required"),
    (setter("rules", 1, "action", value="prioritize"), "/rules/1/action", "one of hold, reject, prioritise"),
    (setter("rules", 1, "id", value="a"), "/rules/1/id", "duplicate rule id 'a' (also /rules/0/id)"),
    (setter("rules", 1, "id", value="has space"), "/rules/1/id", "letters, digits"),
    (setter("rules", 1, "colour", value="red"), "/rules/1/colour", "unknown key"),
    (setter("rules", 1, "enabled", value="yes"), "/rules/1/enabled", "true or false"),
    (setter("rules", 1, value="hold everything"), "/rules/1", "must be an object"),
    (setter("rules", 1, "when", "payment_methods", value=["cash"]), "/rules/1/when/payment_methods/0",
     "'cash' is not one of values from prepaid, cod, invoice"),
    (setter("rules", 1, "when", "payment_methods", value=[]), "/rules/1/when/payment_methods", "non-empty list"),
    (setter("rules", 1, "when", "payment_methods", value="cod"), "/rules/1/when/payment_methods",
     "non-empty list"),
    (setter("rules", 1, "when", "payment_methods", value=["cod", "cod"]), "/rules/1/when/payment_methods/1",
     "listed twice"),
    (setter("rules", 1, "when", "service_levels", value=["overnight"]), "/rules/1/when/service_levels/0",
     "not one of"),
    (setter("rules", 1, "when", "postal_codes", value=["5*6"]), "/rules/1/when/postal_codes/0", "prefixes"),
    (setter("rules", 1, "when", "postal_codes_not_in", value=[5600]), "/rules/1/when/postal_codes_not_in/0",
     "postal codes"),
    (setter("rules", 1, "when", "countries", value=["India"]), "/rules/1/when/countries/0", "alpha-2"),
    (setter("rules", 1, "when", "countries_not_in", value=["IND"]), "/rules/1/when/countries_not_in/0",
     "alpha-2"),
    (setter("rules", 1, "when", "regions", value=[""]), "/rules/1/when/regions/0", "non-empty strings"),
    (setter("rules", 1, "when", "skus", value=["GIFT*-1"]), "/rules/1/when/skus/0", "SKUs"),
    (setter("rules", 1, "when", "currency", value="rupees"), "/rules/1/when/currency", "ISO 4217"),
    (setter("rules", 1, "when", "line_quantity_at_least", value=0), "/rules/1/when/line_quantity_at_least",
     "at least 1"),
    (setter("rules", 1, "when", "line_quantity_at_least", value=2.5), "/rules/1/when/line_quantity_at_least",
     "integer"),
    (setter("rules", 1, "when", "fraud_score_at_least", value=1.5), "/rules/1/when/fraud_score_at_least",
     "at most 1"),
    (setter("rules", value={"a": 1}), "/rules", "list of rules"),
    (setter("tenant", value="acme"), "/tenant", "loaded for tenant 'demo'"),
    (setter("tenant", delete=True), "/tenant", "required"),
    (setter("version", value=""), "/version", "required"),
    (setter("version", value=7), "/version", "required"),
    (setter("owner", value="me"), "/owner", "unknown key"),
    (setter("fraud", "scorer", value="ml"), "/fraud/scorer", "velocity"),
    (setter("fraud", "window_minutes", value=0), "/fraud/window_minutes", "integer from 1"),
    (setter("fraud", "orders_per_customer", value="5"), "/fraud/orders_per_customer", "integer"),
    (setter("fraud", "keys", value=["email", "ip"]), "/fraud/keys/1", "not one of"),
    (setter("fraud", "trusted_email_domains", value=["not a domain"]), "/fraud/trusted_email_domains/0",
     "email domains"),
    (setter("fraud", "threshold", value=0.8), "/fraud/threshold", "unknown key"),
    (setter("fraud", value=[]), "/fraud", "must be an object"),
    (setter("modification_policies", "amazon-in", "line_cancel", value="no"),
     "/modification_policies/amazon-in/line_cancel", "true or false"),
    (setter("modification_policies", "amazon-in", "cancel", value=False),
     "/modification_policies/amazon-in/cancel", "unknown key"),
    (setter("modification_policies", "a/b", value=False), "/modification_policies/a~1b", "must be an object"),
    (setter("modification_policies", "default", value=None), "/modification_policies/default",
     "must be an object"),
    (setter("modification_policies", value=[]), "/modification_policies", "channel name -> policy"),
])
def test_invalid_documents_name_the_bad_place(change, pointer: str, words: str) -> None:
    error = invalid(change)
    assert error.pointer == pointer
    assert words in str(error)
    assert str(error).startswith(f"{pointer}: ")


def test_a_fraud_condition_needs_a_fraud_section() -> None:
    def change(document: dict[str, Any]) -> None:
        del document["fraud"]
        document["rules"][0]["when"] = {"fraud_score_at_least": 0.8}

    error = invalid(change)
    assert error.pointer == "/rules/0/when/fraud_score_at_least"
    assert "needs a \"fraud\" section" in str(error)


def test_every_problem_is_listed_and_the_first_is_in_the_message() -> None:
    def change(document: dict[str, Any]) -> None:
        document["version"] = ""
        document["rules"][2]["when"]["order_total_above"] = "x"
        document["extra"] = 1

    error = invalid(change)
    assert [p for p, _ in error.errors] == ["/extra", "/version", "/rules/2/when/order_total_above"]
    assert str(error) == "/extra: unknown key (expected one of tenant, version, description, rules, fraud, " \
                         "modification_policies, fulfilment_policies) (and 2 more problems)"


def test_not_an_object() -> None:
    with pytest.raises(RuleSetInvalid) as raised:
        RuleSet.from_document(["rules"], tenant="demo")  # type: ignore[arg-type]
    assert raised.value.pointer == ""


def test_a_valid_document_loads() -> None:
    rule_set = RuleSet.from_document(copy.deepcopy(VALID), tenant="demo")
    assert rule_set.version == "v1" and rule_set.rule_ids == ("a", "b", "c")
    assert rule_set.fraud is not None and rule_set.fraud.window_minutes == 60
    assert rule_set.fraud.keys == ("email", "phone", "address")


def test_fulfilment_policies_per_channel_inherit_the_default_and_are_validated():
    from order_orchestrator.domain.order_rules import FulfilmentPolicy

    document = {"tenant": "demo", "version": "f-1", "rules": [],
                "fulfilment_policies": {"default": {"max_routing_attempts": 2},
                                        "amazon-in": {"when_unfulfillable": "cancel"}}}
    rules = RuleSet.from_document(document, tenant="demo")
    assert rules.fulfilment_policy("amazon-in") == FulfilmentPolicy(2, "cancel")
    assert rules.fulfilment_policy("webstore") == FulfilmentPolicy(2, "backorder")
    assert RuleSet.from_document({"tenant": "demo", "version": "f-2", "rules": []},
                                 tenant="demo").fulfilment_policy("x") == FulfilmentPolicy()
    bad = dict(document, fulfilment_policies={"amazon-in": {"when_unfulfillable": "shrug", "max_routing_attempts": 0,
                                                           "hops": 1}})
    with pytest.raises(RuleSetInvalid) as refused:
        RuleSet.from_document(bad, tenant="demo")
    assert {p for p, _ in refused.value.errors} == {"/fulfilment_policies/amazon-in/when_unfulfillable",
                                                   "/fulfilment_policies/amazon-in/max_routing_attempts",
                                                   "/fulfilment_policies/amazon-in/hops"}
