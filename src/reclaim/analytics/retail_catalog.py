"""What the Online Retail file leaves out, derived: product categories and ISO countries.

Findings compare a SKU with the others of its category, so categories have to group like with
like. The file has none; :func:`category_of` reads them off the description with a short
keyword table, first match wins. The order matters: "CHRISTMAS TREE T-LIGHT HOLDER" is
Christmas stock before it is a candle holder, "LUNCH BAG" is a bag before it is kitchenware.
"""

from __future__ import annotations

import re

OTHER = "other"

# (category, words); a word matches whole, with an optional plural "S".
# fmt: off
_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("christmas", ("CHRISTMAS", "XMAS", "ADVENT", "SANTA", "REINDEER", "SNOWFLAKE", "BAUBLE")),
    ("candles & holders", (
        "CANDLE", "T-LIGHT", "TLIGHT", "TEA LIGHT", "TEALIGHT", "CANDLESTICK", "VOTIVE",
        "LANTERN", "CANDLEHOLDER",
    )),
    ("lighting", ("LIGHT", "LAMP", "LAMPSHADE", "LED", "CHANDELIER", "TORCH", "NIGHTLIGHT")),
    ("jewellery & accessories", (
        "NECKLACE", "EARRING", "BRACELET", "BROOCH", "RING", "HAIR", "HAIRCLIP", "HAIRSLIDE",
        "KEYRING", "KEY RING", "KEY-CHAIN", "CHARM", "UMBRELLA", "PONCHO", "SCARF", "GLOVE",
        "HAT", "PASSPORT", "LUGGAGE TAG", "WALLET", "CARD HOLDER", "BEAD", "DIAMANTE",
        "SLIPPER", "HAND WARMER", "PENDANT",
    )),
    ("cards & wrap", ("CARD", "WRAP", "GIFT TAG", "ENVELOPE", "RIBBON", "GIFTWRAP", "CONFETTI")),
    ("bags", ("BAG", "PURSE", "TOTE", "SHOPPER", "RUCKSACK", "BACKPACK", "HANDBAG", "SATCHEL")),
    ("signs", ("SIGN", "PLAQUE")),
    ("kitchen & tableware", (
        "MUG", "CUP", "SAUCER", "PLATE", "BOWL", "JUG", "TEAPOT", "CAKE", "CAKESTAND", "BAKING",
        "CUTLERY", "NAPKIN", "LUNCH BOX", "KITCHEN", "APRON", "OVEN", "SPOON", "TEA TOWEL",
        "PAN", "TRAY", "COASTER", "GLASS", "TUMBLER", "BEAKER", "EGG", "JAM", "RECIPE",
        "CHOPSTICK", "PLACEMAT", "DOILY", "WATER BOTTLE", "STRAW", "PARTY", "BISCUIT",
    )),
    ("toys", (
        "TOY", "GAME", "DOLL", "PUZZLE", "JIGSAW", "SKITTLE", "SPINNING TOP", "TEDDY",
        "PLAYHOUSE", "HELICOPTER", "SOLDIER", "DOMINO", "BALLOON", "SKIPPING ROPE", "KITE",
        "DOLLY", "MAGIC", "BINGO", "SNAKES", "MARBLE", "SPACEBOY", "FELTCRAFT",
    )),
    ("stationery", (
        "PEN", "PENCIL", "NOTEBOOK", "NOTE BOOK", "NOTEPAD", "STICKER", "ERASER", "RUBBER",
        "STATIONERY", "DIARY", "CALENDAR", "PAPERWEIGHT", "STENCIL", "CHALK", "RULER",
        "CRAYON", "JOURNAL", "MEMO", "SHARPENER", "BOOKMARK", "BOOK", "NOTELET", "PHOTO ALBUM",
    )),
    ("garden", (
        "GARDEN", "PLANT", "PLANTER", "WATERING", "SEED", "FLOWER POT", "HERB", "LAWN", "GNOME",
        "BIRD FEEDER", "BIRDHOUSE", "BIRD HOUSE", "TRUG", "PARASOL", "GARDENER", "POTTING",
        "WINDMILL",
    )),
    ("storage", (
        "BOX", "BOXES", "TIN", "BASKET", "CRATE", "JAR", "STORAGE", "RACK", "DRAWER", "CASE",
        "HAMPER", "TRUNK", "CABINET", "CADDY", "BUCKET", "PEG BAG", "CONTAINER", "CHEST", "BIN",
    )),
    ("home decor", (
        "HEART", "MIRROR", "FRAME", "CLOCK", "CUSHION", "DOORMAT", "DECORATION", "ORNAMENT",
        "HANGING", "WREATH", "BUNTING", "GARLAND", "VASE", "DOORSTOP", "HOOK", "HANGER",
        "PICTURE", "WALL", "DOOR", "KNOB", "THROW", "QUILT", "BLANKET", "HOT WATER BOTTLE",
        "CHALKBOARD", "FLOWER", "FEATHER", "BIRD", "MOBILE", "CURTAIN", "BELL", "ROSE", "STAR",
        "CHIME", "POMPOM", "BATH", "SOAP", "TOWEL", "MAGNET",
    )),
)
# fmt: on
CATEGORIES = tuple(category for category, _ in _KEYWORDS) + (OTHER,)

_PATTERNS = tuple(
    (
        category,
        re.compile(
            r"(?<![A-Z0-9])(?:"
            + "|".join(re.escape(word) + "S?" for word in sorted(words, key=len, reverse=True))
            + r")(?![A-Z0-9])"
        ),
    )
    for category, words in _KEYWORDS
)


def category_of(description: str | None) -> str:
    """The first category whose keyword the description has, or "other"."""
    text = (description or "").upper()
    for category, pattern in _PATTERNS:
        if pattern.search(text):
            return category
    return OTHER


# The file's country names (both editions of the data set) to ISO 3166 alpha-2. Names that
# aren't one country ("European Community", "Channel Islands", "Unspecified") map to nothing.
COUNTRY_CODES = {
    "AUSTRALIA": "AU",
    "AUSTRIA": "AT",
    "BAHRAIN": "BH",
    "BELGIUM": "BE",
    "BERMUDA": "BM",
    "BRAZIL": "BR",
    "CANADA": "CA",
    "CYPRUS": "CY",
    "CZECH REPUBLIC": "CZ",
    "DENMARK": "DK",
    "EIRE": "IE",
    "IRELAND": "IE",
    "FINLAND": "FI",
    "FRANCE": "FR",
    "GERMANY": "DE",
    "GREECE": "GR",
    "HONG KONG": "HK",
    "ICELAND": "IS",
    "ISRAEL": "IL",
    "ITALY": "IT",
    "JAPAN": "JP",
    "KOREA": "KR",
    "LEBANON": "LB",
    "LITHUANIA": "LT",
    "MALTA": "MT",
    "NETHERLANDS": "NL",
    "NIGERIA": "NG",
    "NORWAY": "NO",
    "POLAND": "PL",
    "PORTUGAL": "PT",
    "RSA": "ZA",
    "SOUTH AFRICA": "ZA",
    "SAUDI ARABIA": "SA",
    "SINGAPORE": "SG",
    "SPAIN": "ES",
    "SWEDEN": "SE",
    "SWITZERLAND": "CH",
    "THAILAND": "TH",
    "UNITED ARAB EMIRATES": "AE",
    "UNITED KINGDOM": "GB",
    "USA": "US",
    "UNITED STATES": "US",
}


def country_code(name: str | None) -> str | None:
    """ISO alpha-2 for a country name of the file, or None when it names no one country."""
    return COUNTRY_CODES.get((name or "").strip().upper())
