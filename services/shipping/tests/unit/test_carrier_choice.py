"""The carrier catalogue and shipping rules as data: zones, parcel weights, rates and COD fees, the filters (pin,
service level, cash on delivery, COD and weight limits), the weighted choice, every alternative recorded on the
shipment, and a catalogue that cannot be used refused naming every bad place."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from uuid import uuid4

import pytest
from shipping.adapters.carrier_catalogue import DEFAULT_FILE, load_carriers
from shipping.domain.carrier_choice import (
    CarrierCatalogue,
    CarrierCatalogueInvalid,
    NoServiceableCarrier,
    Parcel,
)
from shipping.domain.shipment import Shipment

pytestmark = pytest.mark.unit

DEMO_DOCUMENT = json.loads(DEFAULT_FILE.read_text())
DEMO = load_carriers()


def choose(postal_code: str = "560001", *, service_level: str = "standard", weight: str = "0.6",
           cod: str | None = None, payment_method: str = "prepaid", catalogue: CarrierCatalogue = DEMO):
    return catalogue.choose(country="IN", postal_code=postal_code, payment_method=payment_method,
                            service_level=service_level, weight_kg=Decimal(weight),
                            cash_to_collect=Decimal(cod) if cod else None)


def options(choice) -> dict[str, tuple[bool, str | None]]:
    return {o.carrier: (o.eligible, str(o.cost) if o.cost is not None else None) for o in choice.options}


def test_zones_weights_and_costs():
    assert (DEMO.zone_of("560001"), DEMO.zone_of("744101"), DEMO.zone_of("194101"), DEMO.zone_of("302001")) == (
        "metro", "special", "special", "rest")
    assert DEMO.weight_of([{"sku": "SHIRT", "quantity": 2}]) == Decimal("1.1")  # 2 x 0.5 kg + 0.1 kg packaging
    assert DEMO.weight_of([{"sku": "TV-65", "quantity": 1}]) == Decimal("24.1")
    simex = DEMO.carrier("SIMEX")
    choice = choose(weight="1.1", cod="2000", payment_method="cod")
    # SIMEX metro standard: 45 for the first 0.5 kg + 2 x 22 for the next kilo; COD fee: 1.75% of 2000 = 35 = flat
    assert options(choice)["SIMEX"] == (True, "124.00")
    assert simex.cost(choice_parcel("1.1", "2000"), "metro") == Decimal("124.00")
    assert simex.cost(choice_parcel("1.1", "4000"), "metro") == Decimal("159.00")  # 1.75% of 4000 = 70 > 35


def choice_parcel(weight: str, cod: str | None) -> Parcel:
    return Parcel("IN", "560001", "standard", Decimal(weight), Decimal(cod) if cod else None)


def test_the_cheapest_eligible_carrier_wins_when_cost_outweighs_priority_and_every_alternative_is_recorded():
    choice = choose()
    assert choice.carrier.code == "POSTL" and choice.cost == Decimal("50.00") and choice.zone == "metro"
    assert options(choice) == {"POSTL": (True, "50.00"), "FASTR": (True, "56.00"), "SIMEX": (True, "67.00"),
                               "AMZNES": (False, None),  # Amazon's Easy Ship carries the marketplace's parcels only
                               "AMZNMCF": (False, None)}  # Amazon's MCF ships from Amazon's fulfilment centre only
    assert [o.carrier for o in choice.options] == ["POSTL", "FASTR", "SIMEX", "AMZNES", "AMZNMCF"]  # ranked by score
    assert choice.reason.startswith("POSTL: serviceable all of IN, prepaid ok, standard ok, 0.6 kg to zone metro, "
                                    "cost INR 50.00 (1.00×0.6), priority 3 (0.00×0.4) = 0.60")
    assert "FASTR eligible: cost INR 56.00" in choice.reason and choice.rule_version == "demo/2026-11-24.4"


def test_express_cod_weight_and_limits_each_remove_the_carriers_that_cannot_take_the_parcel():
    express = choose(service_level="express")
    assert express.carrier.code == "FASTR" and options(express)["POSTL"][0] is False
    assert "POSTL skipped: no express" in express.reason

    above_post_limit = choose(cod="12000", payment_method="cod")
    assert above_post_limit.carrier.code == "SIMEX"
    assert "FASTR skipped: no cod" in above_post_limit.reason
    assert "POSTL skipped: cod 12000.00 above its limit 10000.00" in above_post_limit.reason

    heavy = choose(weight="24.1")
    assert heavy.carrier.code in ("SIMEX", "POSTL") and "FASTR skipped: 24.1 kg above its limit 20 kg" in heavy.reason

    with pytest.raises(NoServiceableCarrier, match="SIMEX skipped: cod 60000.00 above its limit 50000.00"):
        choose(cod="60000", payment_method="cod")
    with pytest.raises(NoServiceableCarrier, match="SIMEX skipped: does not serve 302001"):
        choose("302001", service_level="express", cod="100", payment_method="cod")


def test_a_shipment_records_the_weight_cost_alternatives_and_catalogue_version():
    shipment = Shipment.book(order_id=str(uuid4()), reservation_id="R1", location_id="WH-A",
                             lines=[{"sku": "SHIRT", "quantity": 1}],
                             ship_to={"name": "A", "line1": "1 Road", "city": "Bengaluru", "postal_code": "560001",
                                      "country": "IN"}, service_level="standard", payment_method="prepaid",
                             carriers=DEMO)
    summary = shipment.summary()
    assert (summary["carrier"], summary["weight_kg"], summary["shipping_cost"]) == ("POSTL", "0.6", "50.00")
    assert [o["carrier"] for o in summary["carrier_options"]] == ["POSTL", "FASTR", "SIMEX", "AMZNES", "AMZNMCF"]
    assert summary["carrier_options"][1] == {"carrier": "FASTR", "eligible": True, "cost": "56.00",
                                             "score": pytest.approx(0.588235, abs=1e-6),
                                             "reason": summary["carrier_options"][1]["reason"]}
    assert summary["carrier_rules_version"] == "demo/2026-11-24.4"


def test_priority_alone_takes_the_first_carrier_that_may_take_the_parcel():
    by_priority = CarrierCatalogue.from_document({**DEMO_DOCUMENT, "rules": {**DEMO_DOCUMENT["rules"],
                                                                             "scores": {"priority": 1}}})
    assert choose(catalogue=by_priority).carrier.code == "SIMEX"
    assert choose("700001", catalogue=by_priority).carrier.code == "FASTR"


def broken(change) -> list[tuple[str, str]]:
    document = copy.deepcopy(DEMO_DOCUMENT)
    change(document)
    with pytest.raises(CarrierCatalogueInvalid) as refused:
        CarrierCatalogue.from_document(document)
    return list(refused.value.errors)


@pytest.mark.parametrize(("change", "pointer", "detail"), [
    (lambda d: d.pop("version"), "/version", "is required"),
    (lambda d: d.update(colour="red"), "/colour", "unknown key"),
    (lambda d: d["rules"].update(filters=["serves_pin"]), "/rules/filters", "must include service_level"),
    (lambda d: d["rules"]["scores"].update(speed=1), "/rules/scores/speed", "unknown score"),
    (lambda d: d["carriers"][1].update(code="SIMEX"), "/carriers/1/code", "listed twice"),
    (lambda d: d["carriers"][2].pop("rates"), "/carriers/2/rates", "the cost score needs every carrier's rates"),
    (lambda d: d["carriers"][0]["rates"]["standard"].update(metro=[45]), "/carriers/0/rates/standard/metro",
     "must be [first 0.5 kg"),
    (lambda d: d["carriers"][2]["rates"].update(express={"metro": [1, 1], "rest": [1, 1], "special": [1, 1]}),
     "/carriers/2/rates/express", "does not offer"),
    (lambda d: d["carriers"][0].update(max_weight_kg=0), "/carriers/0/max_weight_kg", "must be a number > 0"),
    (lambda d: d["parcel_weights"]["skus"].update(CHAIR=-2), "/parcel_weights/skus/CHAIR", "must be a number > 0"),
    (lambda d: d["zones"].update(rest=["1"]), "/zones/rest", "unknown key"),
    (lambda d: d["carriers"][0].update(booking="pigeon"), "/carriers/0/booking", "must be one of allotted_series"),
    (lambda d: d["carriers"][2].update(tracking_poll_seconds=60), "/carriers/2/tracking_poll_seconds",
     "polling needs the carrier's API"),
    (lambda d: d["carriers"][0].update(fulfilment_modes=["drone"]), "/carriers/0/fulfilment_modes",
     "'drone' is not one of seller, channel_pickup"),
    (lambda d: d["pickup_locations"]["WH-DEL-1"].update(carriers=["ZIPPY"]), "/pickup_locations/WH-DEL-1/carriers",
     "'ZIPPY' is not a carrier listed"),
])
def test_a_catalogue_that_cannot_be_used_is_refused_naming_the_place(change, pointer, detail):
    errors = broken(change)
    assert any(p == pointer and detail in d for p, d in errors), errors


def test_who_may_carry_a_parcel_comes_before_the_rules_and_is_recorded():
    document = copy.deepcopy(DEMO_DOCUMENT)
    document["carriers"][0].update(fulfilment_modes=["seller", "channel_pickup"])  # SIMEX also collects for a channel
    document["carriers"][1].update(locations=["WH-DEL-1"])  # FASTR only from Delhi
    document["pickup_locations"]["WH-DEL-1"]["carriers"] = ["FASTR", "POSTL"]  # Delhi: FASTR and POSTL only
    catalogue = CarrierCatalogue.from_document(document)
    assert catalogue.pickup_address("WH-DEL-1") == {k: v for k, v in DEMO_DOCUMENT["pickup_locations"]["WH-DEL-1"].items()}

    def options(**where) -> dict[str, str]:
        choice = catalogue.choose(country="IN", postal_code="560001", payment_method="prepaid",
                                  service_level="standard", **where)
        return {o.carrier: ("eligible" if o.eligible else o.reason) for o in choice.options}

    assert options(location_id="WH-BLR-1", fulfilment_mode="channel_pickup") == {
        "SIMEX": "eligible", "AMZNES": "eligible", "FASTR": "not for channel_pickup parcels",
        "POSTL": "not for channel_pickup parcels", "AMZNMCF": "not for channel_pickup parcels"}
    assert options(location_id="WH-BLR-1")["FASTR"] == "does not ship from WH-BLR-1"
    assert options(location_id="WH-DEL-1") == {"SIMEX": "WH-DEL-1 is served by FASTR, POSTL only",
                                              "FASTR": "eligible", "POSTL": "eligible",
                                              "AMZNES": "not for seller parcels",
                                              "AMZNMCF": "does not ship from WH-DEL-1"}
    # Amazon's fulfilment centre: its stock leaves with Amazon's Multi-Channel Fulfilment alone
    assert options(location_id="FBA-IN-BLR8") == {"SIMEX": "FBA-IN-BLR8 is served by AMZNMCF only",
                                                 "FASTR": "does not ship from FBA-IN-BLR8",
                                                 "POSTL": "FBA-IN-BLR8 is served by AMZNMCF only",
                                                 "AMZNES": "not for seller parcels", "AMZNMCF": "eligible"}
    assert options()["AMZNMCF"] == "ships from FBA-IN-BLR8 only"  # a parcel of no known location
