"""A believable merchant to simulate: what it sells, who buys, and how each category comes back.

Rates and reason mixes follow what retailers report: apparel and shoes come back far more
often than home goods, mostly for fit; electronics less often, more often for faults.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from reclaim.returns.states import Reason

SIZES = ("XS", "S", "M", "L", "XL")
FIRST = (
    "Ava",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Finn",
    "Grace",
    "Hugo",
    "Isla",
    "Jon",
    "Kira",
    "Liam",
    "Maya",
    "Noah",
    "Olive",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
    "Umar",
    "Vera",
    "Wes",
    "Yara",
    "Zoe",
)
LAST = (
    "Adams",
    "Brown",
    "Chen",
    "Diaz",
    "Evans",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jones",
    "Kowalski",
    "Lopez",
    "Moreau",
    "Nguyen",
    "Okafor",
    "Patel",
    "Rossi",
    "Silva",
    "Tanaka",
    "Weber",
)
NOUNS = {
    "apparel": (
        "Linen Shirt",
        "Denim Jacket",
        "Wool Sweater",
        "Summer Dress",
        "Chino Trousers",
        "Rain Coat",
        "Hoodie",
        "Pleated Skirt",
    ),
    "shoes": ("Running Shoe", "Leather Boot", "Canvas Sneaker", "Trail Shoe", "Loafer"),
    "electronics": (
        "Wireless Earbuds",
        "Smart Watch",
        "Bluetooth Speaker",
        "E-Reader",
        "Action Camera",
        "Power Bank",
        "Mechanical Keyboard",
    ),
    "home": (
        "Ceramic Vase",
        "Throw Blanket",
        "Table Lamp",
        "Cookware Set",
        "Cotton Towels",
        "Wall Clock",
    ),
    "beauty": ("Face Serum", "Hair Dryer", "Perfume", "Makeup Palette"),
    "toys": ("Building Blocks", "Puzzle 1000", "Plush Bear", "RC Car", "Board Game"),
}
ADJECTIVES = ("Classic", "Everyday", "Premium", "Nordic", "Urban", "Studio", "Coastal")
# The demo merchant ships around London: postcode districts and their rough centres, so that
# drop-off points and lockers can be found near each shopper.
DISTRICTS = (
    ("W1D", 51.5136, -0.1340),  # Soho
    ("WC2H", 51.5129, -0.1270),  # Covent Garden
    ("EC1V", 51.5265, -0.0996),  # Clerkenwell
    ("N1", 51.5380, -0.1000),  # Islington
    ("NW1", 51.5350, -0.1420),  # Camden
    ("NW3", 51.5550, -0.1750),  # Hampstead
    ("N16", 51.5620, -0.0760),  # Stoke Newington
    ("E1", 51.5170, -0.0590),  # Whitechapel
    ("E8", 51.5430, -0.0630),  # Hackney
    ("E14", 51.5080, -0.0200),  # Poplar
    ("E20", 51.5430, -0.0140),  # Stratford
    ("SE1", 51.5010, -0.0940),  # Southwark
    ("SE15", 51.4700, -0.0690),  # Peckham
    ("SW9", 51.4650, -0.1150),  # Brixton
    ("SW11", 51.4680, -0.1650),  # Battersea
    ("SW6", 51.4760, -0.2000),  # Fulham
    ("W11", 51.5130, -0.2050),  # Notting Hill
    ("W12", 51.5080, -0.2270),  # Shepherd's Bush
)
# The letters a UK inward code may end with (never C, I, K, M, O or V).
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
STREETS = (
    "Church Street",
    "High Street",
    "Victoria Road",
    "Park Road",
    "Station Road",
    "Queen's Road",
    "Albert Street",
    "Mill Lane",
    "Grove Road",
    "King Street",
    "Elm Grove",
    "Canal Walk",
)


@dataclass(frozen=True)
class CategoryProfile:
    name: str
    share: float  # of order lines
    return_rate: float  # of units, before season and customer effects
    price_range: tuple[int, int]  # minor units
    cost_share: float
    weight_range: tuple[int, int]  # grams
    reasons: dict[Reason, float]
    sized: bool = False


CATEGORIES: tuple[CategoryProfile, ...] = (
    CategoryProfile(
        "apparel",
        0.34,
        0.26,
        (1_500, 12_000),
        0.35,
        (150, 1_200),
        {
            Reason.TOO_SMALL: 30,
            Reason.TOO_LARGE: 22,
            Reason.STYLE_NOT_AS_EXPECTED: 16,
            Reason.QUALITY_NOT_AS_EXPECTED: 8,
            Reason.NO_LONGER_NEEDED: 9,
            Reason.DEFECTIVE: 3,
            Reason.WRONG_ITEM: 3,
            Reason.NOT_AS_DESCRIBED: 5,
            Reason.DAMAGED_IN_TRANSIT: 2,
            Reason.ORDERED_BY_MISTAKE: 2,
        },
        sized=True,
    ),
    CategoryProfile(
        "shoes",
        0.14,
        0.21,
        (4_000, 18_000),
        0.4,
        (500, 1_600),
        {
            Reason.TOO_SMALL: 34,
            Reason.TOO_LARGE: 24,
            Reason.STYLE_NOT_AS_EXPECTED: 12,
            Reason.QUALITY_NOT_AS_EXPECTED: 8,
            Reason.NO_LONGER_NEEDED: 10,
            Reason.DEFECTIVE: 4,
            Reason.WRONG_ITEM: 4,
            Reason.DAMAGED_IN_TRANSIT: 4,
        },
        sized=True,
    ),
    CategoryProfile(
        "electronics",
        0.18,
        0.09,
        (2_000, 45_000),
        0.6,
        (80, 1_500),
        {
            Reason.DEFECTIVE: 28,
            Reason.NOT_AS_DESCRIBED: 14,
            Reason.NO_LONGER_NEEDED: 18,
            Reason.BETTER_PRICE: 10,
            Reason.MISSING_PARTS: 8,
            Reason.DAMAGED_IN_TRANSIT: 8,
            Reason.ORDERED_BY_MISTAKE: 8,
            Reason.UNAUTHORIZED_PURCHASE: 2,
            Reason.ARRIVED_TOO_LATE: 4,
        },
    ),
    CategoryProfile(
        "home",
        0.16,
        0.07,
        (900, 15_000),
        0.45,
        (300, 6_000),
        {
            Reason.DAMAGED_IN_TRANSIT: 26,
            Reason.STYLE_NOT_AS_EXPECTED: 22,
            Reason.NO_LONGER_NEEDED: 18,
            Reason.QUALITY_NOT_AS_EXPECTED: 14,
            Reason.DEFECTIVE: 8,
            Reason.WRONG_ITEM: 6,
            Reason.ARRIVED_TOO_LATE: 6,
        },
    ),
    CategoryProfile(
        "beauty",
        0.08,
        0.04,
        (700, 9_000),
        0.3,
        (50, 700),
        {
            Reason.NO_LONGER_NEEDED: 30,
            Reason.QUALITY_NOT_AS_EXPECTED: 25,
            Reason.DEFECTIVE: 20,
            Reason.DAMAGED_IN_TRANSIT: 15,
            Reason.WRONG_ITEM: 10,
        },
    ),
    CategoryProfile(
        "toys",
        0.10,
        0.06,
        (800, 9_000),
        0.4,
        (200, 2_500),
        {
            Reason.NO_LONGER_NEEDED: 30,
            Reason.MISSING_PARTS: 18,
            Reason.DEFECTIVE: 16,
            Reason.DAMAGED_IN_TRANSIT: 14,
            Reason.ORDERED_BY_MISTAKE: 12,
            Reason.ARRIVED_TOO_LATE: 10,
        },
    ),
)
PROFILE = {profile.name: profile for profile in CATEGORIES}


@dataclass(frozen=True)
class SimProduct:
    sku: str
    name: str
    category: str
    group: str
    price_minor: int
    cost_minor: int
    weight_grams: int
    size: str | None
    # Some styles run small or large: a fit-reason return of them leans one way.
    fit_bias: float = 0.0


@dataclass(frozen=True)
class SimAddress:
    line1: str
    line2: str | None
    city: str
    postcode: str
    country: str
    lat: float
    lon: float


@dataclass(frozen=True)
class SimCustomer:
    id: str
    email: str
    name: str
    tier: str
    returns_appetite: float  # multiplies return probability; a few serial returners
    address: SimAddress


def london_address(rng: random.Random) -> SimAddress:
    """A street address in one of the districts, a few hundred metres from its centre."""
    district, lat, lon = rng.choice(DISTRICTS)
    inward = f"{rng.randint(1, 9)}{rng.choice(INWARD_LETTERS)}{rng.choice(INWARD_LETTERS)}"
    postcode = f"{district} {inward}"
    lat = round(lat + rng.uniform(-0.006, 0.006), 5)
    lon = round(lon + rng.uniform(-0.009, 0.009), 5)
    # The street has a generator of its own, seeded by what was drawn: the shared one draws
    # exactly as it did before addresses had streets, so a seed still simulates the same shop.
    street = random.Random(f"{postcode} {lat} {lon}")
    flat = street.random() < 0.3
    return SimAddress(
        line1=f"{street.randint(1, 180)} {street.choice(STREETS)}",
        line2=f"Flat {street.randint(1, 24)}" if flat else None,
        city="London",
        postcode=postcode,
        country="GB",
        lat=lat,
        lon=lon,
    )


@dataclass
class Merchant:
    products: list[SimProduct] = field(default_factory=list)
    customers: list[SimCustomer] = field(default_factory=list)


def build_merchant(rng: random.Random, *, customers: int, styles_per_category: int = 6) -> Merchant:
    merchant = Merchant()
    for profile in CATEGORIES:
        nouns = NOUNS[profile.name]
        for index in range(styles_per_category):
            noun = nouns[index % len(nouns)]
            name = f"{rng.choice(ADJECTIVES)} {noun}"
            group = f"{profile.name[:3].upper()}-{index + 1:03d}"
            low, high = profile.price_range
            price = rng.randrange(low // 100, high // 100) * 100 - 1
            cost = int(price * profile.cost_share)
            weight = rng.randint(*profile.weight_range)
            bias = rng.choice((0.0, 0.0, 0.0, 0.7, -0.7)) if profile.sized else 0.0
            for size in SIZES if profile.sized else (None,):
                suffix = f"-{size}" if size else ""
                merchant.products.append(
                    SimProduct(
                        sku=f"{group}{suffix}",
                        name=f"{name}{f' ({size})' if size else ''}",
                        category=profile.name,
                        group=group,
                        price_minor=price,
                        cost_minor=cost,
                        weight_grams=weight,
                        size=size,
                        fit_bias=bias,
                    )
                )
    for index in range(customers):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        serial = rng.random() < 0.05
        merchant.customers.append(
            SimCustomer(
                id=f"C{index + 1:05d}",
                email=f"{first.lower()}.{last.lower()}{index + 1}@example.com",
                name=f"{first} {last}",
                tier=rng.choices(("standard", "gold", "vip"), (80, 15, 5))[0],
                returns_appetite=2.5 if serial else rng.uniform(0.6, 1.2),
                address=london_address(rng),
            )
        )
    return merchant
