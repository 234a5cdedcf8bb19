"""The policy file's shape: what a merchant may write, checked field by field.

Amounts are written in major units ("4.95") and apply in the order's currency; percentages are
numbers from 0 to 100. Unknown keys are errors, so a typo never silently switches a rule off.
"""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from reclaim.returns.states import SHOPPER_METHODS, Fault, Grade, Method, Reason, Resolution

Amount = Annotated[Decimal, Field(ge=0, le=10**9, allow_inf_nan=False)]
Percent = Annotated[Decimal, Field(ge=0, le=100, allow_inf_nan=False)]
Days = Annotated[int, Field(ge=0, le=3650)]
Name = Annotated[str, Field(min_length=1, max_length=64)]


class RefundTiming(StrEnum):
    AT_FIRST_SCAN = "at_first_scan"
    AT_RECEIPT = "at_receipt"
    AFTER_INSPECTION = "after_inspection"
    # Only for returnless returns: nothing is coming back to wait for.
    IMMEDIATELY = "immediately"


class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class When(Rules):
    """Which returned lines a rule applies to; every field given must match (empty: any)."""

    categories: frozenset[Name] = frozenset()
    skus: frozenset[Name] = frozenset()
    reasons: frozenset[Reason] = frozenset()
    faults: frozenset[Fault] = frozenset()
    tiers: frozenset[Name] = frozenset()
    min_value: Amount | None = None
    max_value: Amount | None = None


class Window(Rules):
    days: Days = 30
    categories: dict[Name, Days] = {}
    skus: dict[Name, Days] = {}
    # Loyal shoppers get longer: days added to the item's window, by customer tier.
    tier_extra_days: dict[Name, Days] = {}


class Holiday(Rules):
    """Items delivered in [delivered_from, delivered_until] may come back until return_by."""

    name: Annotated[str, Field(min_length=1, max_length=80)]
    delivered_from: date
    delivered_until: date
    return_by: date

    @model_validator(mode="after")
    def _ordered(self) -> Holiday:
        if self.delivered_until < self.delivered_from:
            raise ValueError("delivered_until is before delivered_from")
        if self.return_by < self.delivered_until:
            raise ValueError("return_by is before delivered_until")
        return self


class Eligibility(Rules):
    non_returnable_categories: frozenset[Name] = frozenset()
    non_returnable_skus: frozenset[Name] = frozenset()
    final_sale_categories: frozenset[Name] = frozenset()
    final_sale_skus: frozenset[Name] = frozenset()
    # Lines discounted by at least this share of their price are final sale (clearance).
    final_sale_discount_percent: Percent | None = None


def _shopper_methods(methods: frozenset[Method]) -> frozenset[Method]:
    if Method.KEEP_ITEM in methods:
        raise ValueError("keep_item is decided by the returnless rules, not offered as a method")
    return methods


def _requestable(resolutions: frozenset[Resolution]) -> frozenset[Resolution]:
    if Resolution.KEEP_ITEM in resolutions:
        raise ValueError("keep_item is decided by the returnless rules, not offered")
    return resolutions


class Restriction(Rules):
    """Narrows what lines matching ``when`` may use; absent lists leave that choice alone."""

    when: When = When()
    methods: frozenset[Method] | None = None
    resolutions: frozenset[Resolution] | None = None
    explain: Annotated[str, Field(min_length=1, max_length=200)] | None = None

    @field_validator("methods")
    @classmethod
    def _methods(cls, value: frozenset[Method] | None) -> frozenset[Method] | None:
        return None if value is None else _shopper_methods(value)

    @field_validator("resolutions")
    @classmethod
    def _resolutions(cls, value: frozenset[Resolution] | None) -> frozenset[Resolution] | None:
        return None if value is None else _requestable(value)


class Options(Rules):
    methods: frozenset[Method] = frozenset(SHOPPER_METHODS)
    resolutions: frozenset[Resolution] = frozenset(
        {Resolution.REFUND, Resolution.STORE_CREDIT, Resolution.EXCHANGE}
    )
    rules: tuple[Restriction, ...] = ()

    @field_validator("methods")
    @classmethod
    def _methods(cls, value: frozenset[Method]) -> frozenset[Method]:
        return _shopper_methods(value)

    @field_validator("resolutions")
    @classmethod
    def _resolutions(cls, value: frozenset[Resolution]) -> frozenset[Resolution]:
        return _requestable(value)


class Fees(Rules):
    # Charged on opened items returned for a refund when the shopper changed their mind.
    restocking_percent: Percent = Decimal(0)
    restocking_categories: frozenset[Name] = frozenset()  # empty: every category
    # Charged once per return for the trip back, unless the merchant or carrier is at fault.
    label_fee: Amount = Decimal(0)
    label_fee_methods: frozenset[Method] = frozenset(
        {
            Method.PREPAID_LABEL,
            Method.BOX_FREE_DROPOFF,
            Method.LOCKER,
            Method.SCHEDULED_PICKUP,
        }
    )


class StoreCredit(Rules):
    bonus_percent: Percent = Decimal(0)
    bonus_cap: Amount | None = None
    # Credit still unspent this many days after it was issued expires; none: it never does.
    expires_after_days: Annotated[int, Field(ge=1, le=3650)] | None = None


class Refunds(Rules):
    """What comes off at inspection, and which refunds made by hand need a second agent."""

    # Percent of a line's goods and tax kept back, by the grade inspection gave, when the
    # shopper's own reason (not a fault of ours or the carrier's) brought it back damaged.
    damage_deduction_percent: dict[Grade, Percent] = {}
    # Manual and goodwill refunds above this amount wait for a second agent's approval.
    second_approval_above: Amount = Decimal(100)


class Exchanges(Rules):
    """Instant exchanges ship the replacement before the original arrives; a return sent to
    review never gets one."""

    instant: bool = False
    # Tiers that get instant exchanges when ``instant`` is off for everyone else.
    instant_tiers: frozenset[Name] = frozenset()


class Returnless(Rules):
    """When the shopper keeps the item and is refunded without sending it back."""

    categories: frozenset[Name] = frozenset()
    # Keep it when bringing it back costs more than it would recover.
    when_uneconomic: bool = False
    shipping_cost: Amount = Decimal(0)
    shipping_cost_per_kg: Amount = Decimal(0)
    handling_cost_per_unit: Amount = Decimal(0)
    recovery_percent: Percent = Decimal(50)
    recovery_percent_by_category: dict[Name, Percent] = {}
    # Never above this value per return, whatever the sums say.
    max_value: Amount | None = None


def _not_immediately(value: RefundTiming) -> RefundTiming:
    if value is RefundTiming.IMMEDIATELY:
        raise ValueError("immediately is only for returnless returns")
    return value


# A timing the merchant may choose: for the default and for every tier alike.
ChosenTiming = Annotated[RefundTiming, AfterValidator(_not_immediately)]


class Timing(Rules):
    default: ChosenTiming = RefundTiming.AFTER_INSPECTION
    tiers: dict[Name, ChosenTiming] = {}


class Review(Rules):
    """What sends a return to staff before it is approved."""

    min_return_value: Amount | None = None
    max_recent_returns: Annotated[int, Field(ge=1, le=10_000)] | None = None
    recent_days: Annotated[int, Field(ge=1, le=3650)] = 90
    reasons: frozenset[Reason] = frozenset({Reason.UNAUTHORIZED_PURCHASE})


class Pickup(Rules):
    """Scheduled pickup slots: the next ``days_ahead`` working days, in these windows."""

    days_ahead: Annotated[int, Field(ge=1, le=30)] = 5
    windows: tuple[tuple[time, time], ...] = ((time(9), time(13)), (time(13), time(17)))
    weekdays: frozenset[Annotated[int, Field(ge=1, le=7)]] = frozenset({1, 2, 3, 4, 5})

    @field_validator("windows", mode="before")
    @classmethod
    def _parse_windows(cls, value: object) -> object:
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            parsed = []
            for item in value:
                start, sep, end = item.partition("-")
                if not sep:
                    raise ValueError(f"{item!r} is not a window like '09:00-13:00'")
                parsed.append((start.strip(), end.strip()))
            return parsed
        return value

    @field_validator("windows")
    @classmethod
    def _windows_forward(
        cls, value: tuple[tuple[time, time], ...]
    ) -> tuple[tuple[time, time], ...]:
        for start, end in value:
            if end <= start:
                raise ValueError(f"the window {start:%H:%M}-{end:%H:%M} ends before it starts")
        return value


class Handover(Rules):
    """How long an approved return may take to be handed over, and when to remind the shopper."""

    days: Annotated[int, Field(ge=1, le=365)] = 14
    reminder_days_before: Annotated[int, Field(ge=0, le=364)] = 3

    @model_validator(mode="after")
    def _reminder_inside(self) -> Handover:
        if self.reminder_days_before >= self.days:
            raise ValueError("reminder_days_before must be fewer than days")
        return self


class Policy(Rules):
    name: Annotated[str, Field(min_length=1, max_length=120)]
    # Approve eligible requests at once; "false" leaves every request for staff.
    auto_approve: bool = True
    window: Window = Window()
    holidays: tuple[Holiday, ...] = ()
    eligibility: Eligibility = Eligibility()
    options: Options = Options()
    fees: Fees = Fees()
    store_credit: StoreCredit = StoreCredit()
    returnless: Returnless = Returnless()
    refund_timing: Timing = Timing()
    refunds: Refunds = Refunds()
    exchanges: Exchanges = Exchanges()
    review: Review = Review()
    pickup: Pickup = Pickup()
    handover: Handover = Handover()
