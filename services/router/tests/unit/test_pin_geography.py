"""Placing Indian pin codes (sorting district, then postal circle, then zone) and great-circle distances."""

from __future__ import annotations

import pytest
from order_router.domain.pin_geography import (
    POSTAL_CIRCLES,
    SORTING_DISTRICTS,
    Place,
    haversine_km,
    is_indian_pin,
    locate,
    state_of,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("pin, city, lat, lon", [
    ("560001", "Bengaluru", 12.97, 77.59), ("110001", "Delhi", 28.61, 77.21), ("400001", "Mumbai", 19.08, 72.88),
    ("600001", "Chennai", 13.08, 80.27), ("700001", "Kolkata", 22.57, 88.36), ("500001", "Hyderabad", 17.39, 78.49),
    ("411001", "Pune", 18.52, 73.86), ("380001", "Ahmedabad", 23.02, 72.57), ("302001", "Jaipur", 26.91, 75.79),
    ("226001", "Lucknow", 26.85, 80.95)])
def test_the_sorting_districts_of_the_major_cities_are_placed_at_their_city(pin, city, lat, lon):
    located = locate(pin)
    assert located is not None and located.precision == "sorting district" and located.prefix == pin[:3]
    assert (located.place.name, located.place.lat, located.place.lon) == (city, lat, lon)


def test_the_table_lists_at_least_the_forty_major_sorting_districts_each_inside_india():
    assert len(SORTING_DISTRICTS) >= 40
    for prefix, (_city, state, lat, lon) in SORTING_DISTRICTS.items():
        assert len(prefix) == 3 and prefix.isdigit()
        assert 6 <= lat <= 36 and 68 <= lon <= 98
        # the district's state is its circle's (but where a circle spans two states, or a union territory)
        circle_state = POSTAL_CIRCLES[prefix[:2]][0]
        assert state == circle_state or prefix in {"160", "248", "249", "263", "403", "605", "793", "795", "831",
                                                   "834"}, prefix


def test_a_district_not_listed_falls_back_to_its_circle_then_its_zone():
    mysuru_rural = locate("571105")  # a Karnataka district not in the table
    assert mysuru_rural is not None and mysuru_rural.precision == "postal circle"
    assert (mysuru_rural.prefix, mysuru_rural.place.name) == ("57", "Karnataka")
    zone = locate("350001")  # no circle 35: the zone of Rajasthan and Gujarat
    assert zone is not None and zone.precision == "postal zone" and zone.prefix == "3"
    assert state_of("571105") == "Karnataka" and state_of("560001") == "Karnataka" and state_of("350001") is None


def test_what_is_not_an_indian_pin_is_not_placed():
    for pin in ("999999", "90001", "1234567", "SW1A 1AA", "", None, "056001"):
        assert locate(pin) is None, pin
    assert is_indian_pin(" 560 001 ") and locate(" 560 001 ") is not None


def test_places_given_by_the_rules_win_and_the_longest_prefix_wins():
    extra = {"5600": Place("Bengaluru GPO", "Karnataka", 12.98, 77.60), "571": Place("Mysuru rural", None, 12.3, 76.6)}
    assert locate("560001", extra).place.name == "Bengaluru GPO"
    assert locate("560100", extra).place.name == "Bengaluru"  # 5601: the table's 560
    assert locate("571105", extra).place.name == "Mysuru rural"
    assert state_of("571105", extra) == "Karnataka"  # from the circle when the place has no state


def test_haversine_distances():
    assert haversine_km(12.97, 77.59, 12.97, 77.59) == 0.0
    assert haversine_km(12.97, 77.59, 28.61, 77.21) == pytest.approx(1740, abs=5)  # Bengaluru - Delhi
    assert haversine_km(19.08, 72.88, 18.52, 73.86) == pytest.approx(120, abs=3)  # Mumbai - Pune
    assert haversine_km(0, 0, 0, 180) == pytest.approx(20015, abs=1)  # half the equator
    assert haversine_km(28.61, 77.21, 12.97, 77.59) == haversine_km(12.97, 77.59, 28.61, 77.21)
