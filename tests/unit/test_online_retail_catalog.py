"""What the file leaves out, derived: categories from descriptions, ISO countries, the reason."""

from __future__ import annotations

import pytest

from reclaim.analytics.retail_catalog import CATEGORIES, OTHER, category_of, country_code
from reclaim.returns.states import AMAZON_CODE, FAULT, SHOPPER_REASONS, Fault, Reason
from reclaim.web.portal.flow import REASONS


@pytest.mark.parametrize(
    ("description", "category"),
    [
        ("JUMBO BAG RED RETROSPOT", "bags"),
        ("LUNCH BAG SPACEBOY DESIGN", "bags"),
        ("WHITE HANGING HEART T-LIGHT HOLDER", "candles & holders"),
        ("SET/6 PINK BIRD T-LIGHT CANDLES", "candles & holders"),
        ("WHITE METAL LANTERN", "candles & holders"),
        ("GREETING CARD, STRAWBERRY FAIR", "cards & wrap"),
        ("WRAP ENGLISH ROSE", "cards & wrap"),
        ("PAPER CHAIN KIT 50'S CHRISTMAS", "christmas"),
        ("CHRISTMAS TREE T-LIGHT HOLDER", "christmas"),
        ("REGENCY CAKESTAND 3 TIER", "kitchen & tableware"),
        ("PACK OF 72 RETROSPOT CAKE CASES", "kitchen & tableware"),
        ("ROUND PINK HEART MIRROR", "home decor"),
        ("RED PEONY CUSHION COVER", "home decor"),
        ("COOK WITH WINE METAL SIGN", "signs"),
        ("TABLE LAMP WHITE SHADE WOOD BASE", "lighting"),
        ("PINK CHERRY LIGHTS", "lighting"),
        ("FELTCRAFT DOLL ROSIE", "toys"),
        ("SPACEBOY BIRTHDAY CARD", "cards & wrap"),
        ("12 PENCILS TALL TUBE POSY", "stationery"),
        ("ANIMAL STICKERS", "stationery"),
        ("DIAMANTE NECKLACE GREEN", "jewellery & accessories"),
        ("TRAVEL CARD WALLET SKULLS", "jewellery & accessories"),
        ("FLYING PIG WATERING CAN", "garden"),
        ("SKULLS STORAGE BOX SMALL", "storage"),
        ("SET OF 4 KNICK KNACK TINS DOILEY", "storage"),
        ("INFLATABLE POLITICAL GLOBE", OTHER),
        ("", OTHER),
        (None, OTHER),
    ],
)
def test_descriptions_fall_into_the_documented_categories(
    description: str | None, category: str
) -> None:
    assert category_of(description) == category


def test_keywords_match_whole_words_only() -> None:
    # "PEN" is stationery; "PENDANT" is jewellery, not a pen; "TIN" isn't in "PAINTING".
    assert category_of("GOLD PENDANT ORBIT") == "jewellery & accessories"
    assert category_of("OIL PAINTING") == OTHER


def test_categories_are_the_documented_fourteen() -> None:
    assert CATEGORIES == (
        "christmas",
        "candles & holders",
        "lighting",
        "jewellery & accessories",
        "cards & wrap",
        "bags",
        "signs",
        "kitchen & tableware",
        "toys",
        "stationery",
        "garden",
        "storage",
        "home decor",
        OTHER,
    )


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("United Kingdom", "GB"),
        ("EIRE", "IE"),
        ("USA", "US"),
        ("RSA", "ZA"),
        (" france ", "FR"),
        ("Channel Islands", None),
        ("European Community", None),
        ("Unspecified", None),
        (None, None),
    ],
)
def test_country_names_become_iso_codes_or_nothing(name: str | None, code: str | None) -> None:
    assert country_code(name) == code


def test_imported_returns_say_their_reason_was_not_stated_and_blame_no_one_else() -> None:
    assert Reason.UNSPECIFIED.value == "unspecified"
    assert FAULT[Reason.UNSPECIFIED] is Fault.CUSTOMER
    assert AMAZON_CODE[Reason.UNSPECIFIED]


def test_the_portal_never_offers_shoppers_the_unstated_reason() -> None:
    assert Reason.UNSPECIFIED not in SHOPPER_REASONS
    assert set(REASONS) == SHOPPER_REASONS
