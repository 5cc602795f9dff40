import pytest
from order_router.adapters.locations_catalogue import load_locations
from order_router.domain.routing_policy import Location, LocationsCatalogue, StockPosition, route

pytestmark = pytest.mark.unit

CATALOGUE = load_locations()  # WH-BLR-1 (1, 560001), WH-DEL-1 (2, 110001), STORE-MUM-1 (3, 400001)


def stock(**by_location: dict[str, int]) -> list[StockPosition]:
    return [StockPosition(sku, location.replace("_", "-"), qty)
            for location, skus in by_location.items() for sku, qty in skus.items()]


def lines(*pairs: tuple[str, int]) -> list[dict]:
    return [{"sku": sku, "quantity": qty} for sku, qty in pairs]


def test_the_preferred_location_that_can_fill_every_line_is_chosen():
    outcome = route(lines=lines(("A", 2), ("B", 1)), ship_to_postal_code="110045", catalogue=CATALOGUE,
                    stock=stock(WH_BLR_1={"A": 5, "B": 1}, WH_DEL_1={"A": 50, "B": 50}, STORE_MUM_1={"A": 9}))
    assert outcome.location_id == "WH-BLR-1"  # priority outweighs the region bonus of WH-DEL-1
    assert [c.location_id for c in outcome.candidates] == ["WH-BLR-1", "WH-DEL-1", "STORE-MUM-1"]
    best, second, short = outcome.candidates
    assert best.can_fill and second.can_fill and not short.can_fill
    assert best.score > second.score
    assert short.reason == "short: B 0 < 1"
    assert short.available == {"A": 9, "B": 0}


def test_a_location_that_cannot_fill_all_lines_is_filtered_out():
    outcome = route(lines=lines(("A", 2), ("B", 1)), ship_to_postal_code="560001", catalogue=CATALOGUE,
                    stock=stock(WH_BLR_1={"A": 5, "B": 0}, WH_DEL_1={"A": 2, "B": 1}))
    assert outcome.location_id == "WH-DEL-1"
    blr = next(c for c in outcome.candidates if c.location_id == "WH-BLR-1")
    assert not blr.can_fill and blr.reason == "short: B 0 < 1"


def test_the_same_sku_on_two_lines_is_needed_in_total():
    outcome = route(lines=lines(("A", 2), ("A", 2)), ship_to_postal_code="560001", catalogue=CATALOGUE,
                    stock=stock(WH_BLR_1={"A": 3}, WH_DEL_1={"A": 4}))
    assert outcome.location_id == "WH-DEL-1"


def test_excluded_locations_are_never_chosen():
    outcome = route(lines=lines(("A", 1)), ship_to_postal_code="560001", catalogue=CATALOGUE,
                    stock=stock(WH_BLR_1={"A": 5}, WH_DEL_1={"A": 5}), excluded=["WH-BLR-1"])
    assert outcome.location_id == "WH-DEL-1"
    blr = next(c for c in outcome.candidates if c.location_id == "WH-BLR-1")
    assert not blr.can_fill and blr.reason == "excluded: tried before"


def test_region_then_stock_break_ties_between_equal_priorities():
    catalogue = LocationsCatalogue((Location("NORTH", "n", "warehouse", "110001", 1),
                                    Location("SOUTH", "s", "warehouse", "560001", 1),
                                    Location("SOUTH-2", "s2", "store", "560002", 1)), "test")
    near = route(lines=lines(("A", 1)), ship_to_postal_code="560100", catalogue=catalogue,
                 stock=stock(NORTH={"A": 100}, SOUTH={"A": 1}))
    assert near.location_id == "SOUTH"
    most = route(lines=lines(("A", 1)), ship_to_postal_code="560100", catalogue=catalogue,
                 stock=stock(SOUTH={"A": 2}, SOUTH_2={"A": 7}))
    assert most.location_id == "SOUTH-2"


def test_unroutable_names_the_skus_short():
    outcome = route(lines=lines(("A", 1), ("B", 3)), ship_to_postal_code="560001", catalogue=CATALOGUE,
                    stock=stock(WH_BLR_1={"A": 1, "B": 1}, WH_DEL_1={"B": 5}), excluded=["STORE-MUM-1"])
    assert outcome.location_id is None and not outcome.routed
    assert outcome.reason == "no location can fill all lines; short: A, B; excluded: STORE-MUM-1"
    assert not any(c.can_fill for c in outcome.candidates)
    nowhere = route(lines=lines(("C", 1)), ship_to_postal_code="560001", catalogue=CATALOGUE, stock=[])
    assert nowhere.reason == "no location can fill all lines; short: C (not enough anywhere: C)"
    all_tried = route(lines=lines(("A", 1)), ship_to_postal_code="560001", catalogue=CATALOGUE,
                      stock=stock(WH_BLR_1={"A": 1}), excluded=["WH-BLR-1", "WH-DEL-1", "STORE-MUM-1"])
    assert all_tried.reason.startswith("no location left to try")


def test_locations_unknown_to_the_catalogue_are_ignored():
    outcome = route(lines=lines(("A", 1)), ship_to_postal_code="560001", catalogue=CATALOGUE,
                    stock=stock(WH_XYZ_9={"A": 100}))
    assert outcome.location_id is None
