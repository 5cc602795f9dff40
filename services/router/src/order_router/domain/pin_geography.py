"""Where an Indian pin code is, near enough to compare distances, and how far apart two places are.

An Indian pin code has six digits: the first is the postal zone, the first two the postal circle (a state,
or a few), the first three the sorting district. ``SORTING_DISTRICTS`` places the sorting districts of the
metro and major cities, and of the warehouse belts around them (Bhiwandi, Bengaluru Rural, Sonipat, Chakan,
...), at their head post office's city (approximate latitude/longitude, a few km off at most);
``POSTAL_CIRCLES`` places every two-digit circle at the approximate middle of its state, and ``POSTAL_ZONES``
every zone (but 9, the Army Postal Service, which has no place) at the approximate middle of its states.
``locate`` takes the longest prefix known, so a pin of a district not listed still lands in its state; a
routing rules document can add or correct places (``pin_geo``), which win over this table.

Distances are great-circle distances (haversine, mean Earth radius), which is what "nearest" means here:
the road distance is longer, but by a similar factor for the candidates of one order.

Standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)


@dataclass(frozen=True)
class Place:
    """A named point: ``name`` is the city (sorting district), the state (circle) or the zone."""

    name: str
    state: str | None
    lat: float
    lon: float


@dataclass(frozen=True)
class PinLocation:
    """Where a pin was placed and how precisely: ``prefix`` is the part of the pin that matched."""

    pin: str
    prefix: str
    place: Place

    @property
    def precision(self) -> str:
        return {1: "postal zone", 2: "postal circle"}.get(len(self.prefix), "sorting district")


# first three digits: sorting district -> (head post office city, state, lat, lon)
SORTING_DISTRICTS: dict[str, tuple[str, str, float, float]] = {
    "110": ("Delhi", "Delhi", 28.61, 77.21),
    "121": ("Faridabad", "Haryana", 28.41, 77.32),
    "124": ("Rohtak", "Haryana", 28.90, 76.61),
    "122": ("Gurugram", "Haryana", 28.46, 77.03),
    "131": ("Sonipat", "Haryana", 28.99, 77.02),
    "141": ("Ludhiana", "Punjab", 30.90, 75.86),
    "143": ("Amritsar", "Punjab", 31.63, 74.87),
    "144": ("Jalandhar", "Punjab", 31.33, 75.58),
    "147": ("Patiala", "Punjab", 30.34, 76.39),
    "160": ("Chandigarh", "Chandigarh", 30.73, 76.78),
    "171": ("Shimla", "Himachal Pradesh", 31.10, 77.17),
    "180": ("Jammu", "Jammu and Kashmir", 32.73, 74.86),
    "190": ("Srinagar", "Jammu and Kashmir", 34.08, 74.80),
    "201": ("Ghaziabad", "Uttar Pradesh", 28.67, 77.45),
    "208": ("Kanpur", "Uttar Pradesh", 26.45, 80.33),
    "211": ("Prayagraj", "Uttar Pradesh", 25.44, 81.85),
    "221": ("Varanasi", "Uttar Pradesh", 25.32, 82.97),
    "226": ("Lucknow", "Uttar Pradesh", 26.85, 80.95),
    "243": ("Bareilly", "Uttar Pradesh", 28.37, 79.43),
    "248": ("Dehradun", "Uttarakhand", 30.32, 78.03),
    "249": ("Haridwar", "Uttarakhand", 29.95, 78.16),
    "250": ("Meerut", "Uttar Pradesh", 28.98, 77.71),
    "263": ("Nainital", "Uttarakhand", 29.38, 79.46),
    "273": ("Gorakhpur", "Uttar Pradesh", 26.76, 83.37),
    "282": ("Agra", "Uttar Pradesh", 27.18, 78.01),
    "302": ("Jaipur", "Rajasthan", 26.91, 75.79),
    "305": ("Ajmer", "Rajasthan", 26.45, 74.64),
    "313": ("Udaipur", "Rajasthan", 24.58, 73.71),
    "324": ("Kota", "Rajasthan", 25.21, 75.86),
    "342": ("Jodhpur", "Rajasthan", 26.24, 73.02),
    "360": ("Rajkot", "Gujarat", 22.30, 70.80),
    "380": ("Ahmedabad", "Gujarat", 23.02, 72.57),
    "382": ("Gandhinagar", "Gujarat", 23.22, 72.65),
    "390": ("Vadodara", "Gujarat", 22.31, 73.18),
    "395": ("Surat", "Gujarat", 21.17, 72.83),
    "400": ("Mumbai", "Maharashtra", 19.08, 72.88),
    "401": ("Palghar", "Maharashtra", 19.39, 72.84),
    "403": ("Panaji", "Goa", 15.49, 73.83),
    "410": ("Panvel", "Maharashtra", 18.99, 73.12),
    "411": ("Pune", "Maharashtra", 18.52, 73.86),
    "412": ("Chakan", "Maharashtra", 18.76, 73.86),
    "413": ("Solapur", "Maharashtra", 17.66, 75.91),
    "416": ("Kolhapur", "Maharashtra", 16.70, 74.24),
    "421": ("Bhiwandi", "Maharashtra", 19.30, 73.06),
    "422": ("Nashik", "Maharashtra", 20.00, 73.79),
    "431": ("Chhatrapati Sambhajinagar", "Maharashtra", 19.88, 75.34),
    "440": ("Nagpur", "Maharashtra", 21.15, 79.09),
    "452": ("Indore", "Madhya Pradesh", 22.72, 75.86),
    "462": ("Bhopal", "Madhya Pradesh", 23.26, 77.41),
    "474": ("Gwalior", "Madhya Pradesh", 26.22, 78.18),
    "482": ("Jabalpur", "Madhya Pradesh", 23.18, 79.99),
    "492": ("Raipur", "Chhattisgarh", 21.25, 81.63),
    "500": ("Hyderabad", "Telangana", 17.39, 78.49),
    "501": ("Ranga Reddy", "Telangana", 17.35, 78.35),
    "506": ("Warangal", "Telangana", 17.97, 79.59),
    "517": ("Tirupati", "Andhra Pradesh", 13.63, 79.42),
    "520": ("Vijayawada", "Andhra Pradesh", 16.51, 80.65),
    "530": ("Visakhapatnam", "Andhra Pradesh", 17.69, 83.22),
    "560": ("Bengaluru", "Karnataka", 12.97, 77.59),
    "562": ("Bengaluru Rural", "Karnataka", 13.20, 77.65),
    "570": ("Mysuru", "Karnataka", 12.30, 76.64),
    "575": ("Mangaluru", "Karnataka", 12.91, 74.86),
    "580": ("Hubballi", "Karnataka", 15.36, 75.12),
    "583": ("Ballari", "Karnataka", 15.14, 76.92),
    "585": ("Kalaburagi", "Karnataka", 17.33, 76.83),
    "590": ("Belagavi", "Karnataka", 15.85, 74.50),
    "600": ("Chennai", "Tamil Nadu", 13.08, 80.27),
    "602": ("Tiruvallur", "Tamil Nadu", 13.14, 79.91),
    "603": ("Chengalpattu", "Tamil Nadu", 12.69, 79.98),
    "605": ("Puducherry", "Puducherry", 11.94, 79.81),
    "620": ("Tiruchirappalli", "Tamil Nadu", 10.79, 78.70),
    "625": ("Madurai", "Tamil Nadu", 9.93, 78.12),
    "636": ("Salem", "Tamil Nadu", 11.66, 78.15),
    "638": ("Erode", "Tamil Nadu", 11.34, 77.72),
    "641": ("Coimbatore", "Tamil Nadu", 11.02, 76.96),
    "673": ("Kozhikode", "Kerala", 11.26, 75.78),
    "680": ("Thrissur", "Kerala", 10.53, 76.21),
    "682": ("Kochi", "Kerala", 9.93, 76.27),
    "686": ("Kottayam", "Kerala", 9.59, 76.52),
    "691": ("Kollam", "Kerala", 8.89, 76.61),
    "695": ("Thiruvananthapuram", "Kerala", 8.52, 76.94),
    "700": ("Kolkata", "West Bengal", 22.57, 88.36),
    "711": ("Howrah", "West Bengal", 22.59, 88.31),
    "712": ("Hooghly", "West Bengal", 22.90, 88.39),
    "734": ("Siliguri", "West Bengal", 26.73, 88.40),
    "743": ("Barasat", "West Bengal", 22.72, 88.48),
    "751": ("Bhubaneswar", "Odisha", 20.30, 85.82),
    "781": ("Guwahati", "Assam", 26.14, 91.74),
    "793": ("Shillong", "Meghalaya", 25.58, 91.89),
    "795": ("Imphal", "Manipur", 24.82, 93.94),
    "800": ("Patna", "Bihar", 25.59, 85.14),
    "831": ("Jamshedpur", "Jharkhand", 22.80, 86.20),
    "834": ("Ranchi", "Jharkhand", 23.34, 85.31),
}

# first two digits: postal circle -> (state, lat, lon), the approximate middle of the state
POSTAL_CIRCLES: dict[str, tuple[str, float, float]] = {
    "11": ("Delhi", 28.61, 77.21),
    "12": ("Haryana", 29.06, 76.09),
    "13": ("Haryana", 29.06, 76.09),
    "14": ("Punjab", 31.15, 75.34),
    "15": ("Punjab", 31.15, 75.34),
    "16": ("Punjab", 30.73, 76.78),
    "17": ("Himachal Pradesh", 31.90, 77.10),
    "18": ("Jammu and Kashmir", 33.50, 75.00),
    "19": ("Jammu and Kashmir", 33.50, 75.00),
    "20": ("Uttar Pradesh", 27.00, 80.90),
    "21": ("Uttar Pradesh", 27.00, 80.90),
    "22": ("Uttar Pradesh", 27.00, 80.90),
    "23": ("Uttar Pradesh", 27.00, 80.90),
    "24": ("Uttar Pradesh", 27.00, 80.90),
    "25": ("Uttar Pradesh", 27.00, 80.90),
    "26": ("Uttar Pradesh", 27.00, 80.90),
    "27": ("Uttar Pradesh", 27.00, 80.90),
    "28": ("Uttar Pradesh", 27.00, 80.90),
    "30": ("Rajasthan", 27.00, 74.20),
    "31": ("Rajasthan", 27.00, 74.20),
    "32": ("Rajasthan", 27.00, 74.20),
    "33": ("Rajasthan", 27.00, 74.20),
    "34": ("Rajasthan", 27.00, 74.20),
    "36": ("Gujarat", 22.30, 71.20),
    "37": ("Gujarat", 22.30, 71.20),
    "38": ("Gujarat", 22.30, 71.20),
    "39": ("Gujarat", 22.30, 71.20),
    "40": ("Maharashtra", 19.75, 75.71),
    "41": ("Maharashtra", 19.75, 75.71),
    "42": ("Maharashtra", 19.75, 75.71),
    "43": ("Maharashtra", 19.75, 75.71),
    "44": ("Maharashtra", 19.75, 75.71),
    "45": ("Madhya Pradesh", 23.47, 77.95),
    "46": ("Madhya Pradesh", 23.47, 77.95),
    "47": ("Madhya Pradesh", 23.47, 77.95),
    "48": ("Madhya Pradesh", 23.47, 77.95),
    "49": ("Chhattisgarh", 21.28, 81.87),
    "50": ("Telangana", 18.11, 79.02),
    "51": ("Andhra Pradesh", 15.91, 79.74),
    "52": ("Andhra Pradesh", 15.91, 79.74),
    "53": ("Andhra Pradesh", 15.91, 79.74),
    "56": ("Karnataka", 15.32, 75.71),
    "57": ("Karnataka", 15.32, 75.71),
    "58": ("Karnataka", 15.32, 75.71),
    "59": ("Karnataka", 15.32, 75.71),
    "60": ("Tamil Nadu", 11.13, 78.66),
    "61": ("Tamil Nadu", 11.13, 78.66),
    "62": ("Tamil Nadu", 11.13, 78.66),
    "63": ("Tamil Nadu", 11.13, 78.66),
    "64": ("Tamil Nadu", 11.13, 78.66),
    "67": ("Kerala", 10.85, 76.27),
    "68": ("Kerala", 10.85, 76.27),
    "69": ("Kerala", 10.85, 76.27),
    "70": ("West Bengal", 22.99, 87.85),
    "71": ("West Bengal", 22.99, 87.85),
    "72": ("West Bengal", 22.99, 87.85),
    "73": ("West Bengal", 22.99, 87.85),
    "74": ("West Bengal", 22.99, 87.85),
    "75": ("Odisha", 20.95, 85.10),
    "76": ("Odisha", 20.95, 85.10),
    "77": ("Odisha", 20.95, 85.10),
    "78": ("Assam", 26.20, 92.94),
    "79": ("North East", 25.50, 93.50),
    "80": ("Bihar", 25.10, 85.31),
    "81": ("Bihar", 25.10, 85.31),
    "82": ("Bihar", 25.10, 85.31),
    "83": ("Jharkhand", 23.61, 85.28),
    "84": ("Bihar", 25.10, 85.31),
    "85": ("Bihar", 25.10, 85.31),
}

# first digit: postal zone -> (zone, lat, lon); 9 is the Army Postal Service: no place
POSTAL_ZONES: dict[str, tuple[str, float, float]] = {
    "1": ("North (Delhi, Haryana, Punjab, Himachal Pradesh, Jammu and Kashmir)", 30.00, 76.00),
    "2": ("Uttar Pradesh and Uttarakhand", 27.00, 80.50),
    "3": ("Rajasthan and Gujarat", 24.50, 73.00),
    "4": ("West (Maharashtra, Goa, Madhya Pradesh, Chhattisgarh)", 21.00, 77.00),
    "5": ("South (Telangana, Andhra Pradesh, Karnataka)", 15.50, 77.50),
    "6": ("South (Tamil Nadu, Kerala)", 10.80, 77.50),
    "7": ("East (West Bengal, Odisha, North East)", 23.50, 88.00),
    "8": ("Bihar and Jharkhand", 24.50, 85.50),
}


def _built_in() -> dict[str, Place]:
    places = {prefix: Place(state, state, lat, lon) for prefix, (state, lat, lon) in POSTAL_CIRCLES.items()}
    places.update({prefix: Place(zone, None, lat, lon) for prefix, (zone, lat, lon) in POSTAL_ZONES.items()})
    places.update({prefix: Place(city, state, lat, lon)
                   for prefix, (city, state, lat, lon) in SORTING_DISTRICTS.items()})
    return places


BUILT_IN_PLACES: Mapping[str, Place] = _built_in()


def normalise_pin(postal_code: str | None) -> str:
    """The pin as digits only when it is one (spaces dropped), else the text as given (upper case)."""
    return "".join((postal_code or "").split()).upper()


def is_indian_pin(postal_code: str | None) -> bool:
    pin = normalise_pin(postal_code)
    return len(pin) == 6 and pin.isdigit() and pin[0] != "0"


def locate(postal_code: str | None, extra: Mapping[str, Place] | None = None) -> PinLocation | None:
    """The longest known prefix of an Indian pin (``extra`` first at each length), or None when the pin is
    not an Indian pin or no prefix of it is known (an Army Postal Service pin, say)."""
    pin = normalise_pin(postal_code)
    if not is_indian_pin(pin):
        return None
    for length in range(6, 0, -1):
        prefix = pin[:length]
        place = (extra or {}).get(prefix) or BUILT_IN_PLACES.get(prefix)
        if place is not None:
            return PinLocation(pin, prefix, place)
    return None


def state_of(postal_code: str | None, extra: Mapping[str, Place] | None = None) -> str | None:
    """The state (postal circle) a pin belongs to, when known."""
    located = locate(postal_code, extra)
    if located is None:
        return None
    if located.place.state is not None:
        return located.place.state
    circle = POSTAL_CIRCLES.get(located.pin[:2])
    return circle[0] if circle else None


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The great-circle distance between two points, in kilometres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))
