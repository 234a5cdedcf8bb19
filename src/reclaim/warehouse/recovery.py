"""The economics of every way a returned unit can leave the warehouse, as the merchant writes
them in ``recovery.toml``: what each channel realises, what it costs, how long it takes, which
grades it takes, vendor return agreements, and per-category differences.

Amounts are major units of the unit's own currency ("1.50"); percentages are 0-100. Nothing has
a default in code: every number the disposition engine uses comes from this file or from the
product. Unknown keys are errors, so a typo never silently changes a valuation.

A ``[categories.<name>.<channel>]`` table overrides that channel's entries for the category;
``price_factor`` merges grade by grade, everything else replaces. Labels and locations are the
channel's own and can't be overridden.
"""

from __future__ import annotations

import copy
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from reclaim.kit.money import minor_digits
from reclaim.returns.states import Disposition, Grade
from reclaim.warehouse import terms_file

BUILT_IN = "recovery.toml"

Percent = Annotated[Decimal, Field(ge=0, le=100, allow_inf_nan=False)]
Amount = Annotated[Decimal, Field(ge=0, le=10**6, allow_inf_nan=False)]
Days = Annotated[int, Field(ge=0, le=3650)]
Label = Annotated[str, Field(min_length=1, max_length=60)]
Name = Annotated[str, Field(min_length=1, max_length=64)]
# Entries a category can't change: they name the channel and its bin for every unit alike.
FIXED_ENTRIES = frozenset({"label", "location"})


def to_minor(amount: Decimal, currency: str) -> int:
    """A file amount in the unit's currency; "0.005" in a two-decimal currency rounds up."""
    scaled = amount.scaleb(minor_digits(currency))
    return int(scaled.to_integral_value(rounding=ROUND_HALF_UP))


def percent_of(minor: int, percent: Decimal) -> int:
    return int((Decimal(minor) * percent / 100).to_integral_value(rounding=ROUND_HALF_UP))


def percent_text(percent: Decimal) -> str:
    """12.50 → '12.5%', 15 → '15%'."""
    text = f"{percent.normalize():f}"
    return f"{text}%"


class _Terms(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Channel(_Terms):
    """What every channel has: how it reads, where units go, what handling a unit costs and
    how long until the money arrives (each day of it costing ``holding_per_day``)."""

    label: Label
    location: Name
    handling: Amount
    days: Days
    holding_per_day: Amount


class GradedChannel(Channel):
    # The grades this channel takes; others can't go this way.
    grades: frozenset[Grade]


class PricedChannel(GradedChannel):
    """Sold at a share of the product's price, by grade, less the channel's fees."""

    price_factor: dict[Grade, Percent]
    fee_percent: Percent
    fixed_fee: Amount

    @model_validator(mode="after")
    def _every_grade_priced(self) -> PricedChannel:
        missing = sorted(self.grades - set(self.price_factor), key=list(Grade).index)
        if missing:
            raise ValueError("price_factor has no value for " + ", ".join(g.value for g in missing))
        return self


class SaleChannel(PricedChannel):
    # The product's own resale price for a grade (attributes["resale_minor"]) wins over the
    # price factor: the merchant knows what its like-new units fetch.
    product_resale: bool = False


class RefurbChannel(PricedChannel):
    """Repaired, then sold; refurbishing costs ``cost_percent`` of the price plus ``cost``, and a
    unit that can't be repaired (1 - ``success_percent``) goes the recycling way instead."""

    cost_percent: Percent
    cost: Amount
    success_percent: Percent


class DonateChannel(GradedChannel):
    # What a donation is worth: the tax deduction, as a share of the unit's cost.
    deduction_percent: Percent


class RecycleChannel(GradedChannel):
    value_per_kg: Amount
    cost_per_kg: Amount


class DisposeChannel(Channel):
    """The last resort: takes every grade, always."""

    cost_per_kg: Amount


class Channels(_Terms):
    restock: SaleChannel
    open_box: SaleChannel
    refurbish: RefurbChannel
    # Which units may go back, and for how much, is each vendor's agreement.
    return_to_vendor: Channel
    liquidate: SaleChannel
    donate: DonateChannel
    recycle: RecycleChannel
    dispose: DisposeChannel

    def get(self, channel: Disposition) -> Channel:
        found: Channel = getattr(self, channel.value)
        return found


class CategoryTerms(_Terms):
    """How one category differs: whether it can be refurbished, and channels' entries."""

    refurbishable: bool = False
    restock: SaleChannel | None = None
    open_box: SaleChannel | None = None
    refurbish: RefurbChannel | None = None
    return_to_vendor: Channel | None = None
    liquidate: SaleChannel | None = None
    donate: DonateChannel | None = None
    recycle: RecycleChannel | None = None
    dispose: DisposeChannel | None = None


class Vendor(_Terms):
    """A return-to-vendor agreement, for products whose ``attributes["vendor"]`` names it.

    It covers the listed categories and SKUs (both empty: every product of the vendor)."""

    label: Label
    credit_percent: Percent  # of the unit's cost
    categories: frozenset[Name] = frozenset()
    skus: frozenset[Name] = frozenset()
    grades: frozenset[Grade]
    shipping: Amount

    def covers(self, sku: str, category: str) -> bool:
        if not self.categories and not self.skus:
            return True
        return category in self.categories or sku in self.skus


class Preference(_Terms):
    """Reuse beats recycling, and recycling beats disposal, when the values are this close:
    the larger of ``tolerance_percent`` of the product's price and ``tolerance``."""

    tolerance_percent: Percent
    tolerance: Amount


class Receiving(_Terms):
    """When a parcel looks empty: it weighs under ``empty_below_percent`` of what its items
    should weigh, and they should weigh at least ``min_expected_grams`` (lighter items are
    within what a parcel scale and packaging blur)."""

    empty_below_percent: Percent
    min_expected_grams: Annotated[int, Field(ge=0, le=10**7)]


class RecoveryTerms(_Terms):
    preference: Preference
    receiving: Receiving
    channels: Channels
    categories: dict[Name, CategoryTerms] = {}
    vendors: dict[Name, Vendor] = {}
    _by_category: dict[str, Channels] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        for name, category in self.categories.items():
            overrides = {
                field: value
                for field in Channels.model_fields
                if (value := getattr(category, field)) is not None
            }
            self._by_category[name] = self.channels.model_copy(update=overrides)

    def channels_for(self, category: str) -> Channels:
        """The channels as they apply to ``category``, its overrides merged in."""
        return self._by_category.get(category, self.channels)

    def refurbishable(self, category: str) -> bool:
        terms = self.categories.get(category)
        return terms.refurbishable if terms else False


def _merge_category_overrides(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Turn every ``[categories.X.<channel>]`` table into the whole channel, so the model
    checks it like any other; problems it can't leave to the model are returned."""
    raw = copy.deepcopy(raw)
    problems: list[str] = []
    channels, categories = raw.get("channels"), raw.get("categories")
    if not isinstance(channels, dict) or not isinstance(categories, dict):
        return raw, problems
    for category_name, category in categories.items():
        if not isinstance(category, dict):
            continue
        for channel in Disposition:
            override, base = category.get(channel.value), channels.get(channel.value)
            if not isinstance(override, dict) or not isinstance(base, dict):
                continue
            for entry in sorted(FIXED_ENTRIES & set(override)):
                problems.append(
                    f"categories.{category_name}.{channel.value}.{entry}: set it in "
                    f"[channels.{channel.value}]; it is the same for every category"
                )
            merged = {**base, **override}
            base_factor, factor = base.get("price_factor"), override.get("price_factor")
            if isinstance(base_factor, dict) and isinstance(factor, dict):
                merged["price_factor"] = {**base_factor, **factor}
            category[channel.value] = merged
    return raw, problems


def parse_recovery(text: str, source: str) -> RecoveryTerms:
    return terms_file.parse(text, source, RecoveryTerms, _merge_category_overrides)


@cache
def _built_in() -> RecoveryTerms:
    return parse_recovery(*terms_file.read_text(None, BUILT_IN))


def load_recovery(path: Path | None = None) -> RecoveryTerms:
    """The merchant's recovery terms, or the built-in ones when none are configured."""
    if path is None:
        return _built_in()
    return parse_recovery(*terms_file.read_text(path, BUILT_IN))
