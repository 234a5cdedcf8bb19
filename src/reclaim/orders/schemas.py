"""What the shop sends us about its orders: one shape for the API and for file imports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    field_validator,
    model_validator,
)
from pydantic.functional_validators import AfterValidator

from reclaim.errors import ValidationFailed
from reclaim.kit.money import MAX_MINOR, Money, check_currency
from reclaim.refunds.rules import order_total


def _currency(code: str) -> str:
    # pydantic reports ValueError as a field error; a domain error would escape validation.
    try:
        return check_currency(code)
    except ValidationFailed as exc:
        raise ValueError(exc.message) from None


MinorAmount = Annotated[int, Field(ge=0, le=MAX_MINOR, strict=True)]
Currency = Annotated[str, Field(min_length=3, max_length=3), AfterValidator(_currency)]
MAX_ORDER_QUANTITY = 100_000
# A timestamp must be storable in UTC and leave room for return windows after it.
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)


def _timestamp(moment: datetime) -> datetime:
    try:
        in_range = EARLIEST <= moment.astimezone(UTC) < LATEST
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is in year 0 in UTC
        in_range = False
    if not in_range:
        raise ValueError("must be between 1970-01-01 and 9999-01-01 (UTC)")
    return moment


Timestamp = Annotated[AwareDatetime, AfterValidator(_timestamp)]


# PostgreSQL can't store U+0000 in text or JSON; refused up front, on every database alike.
WITHOUT_NUL = r"^[^\x00]*$"


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*")
    @classmethod
    def _without_nul(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError("text must not contain NUL (U+0000) characters")
        return value


class CustomerIn(Strict):
    id: str | None = Field(default=None, max_length=64, description="The shop's customer id")
    email: EmailStr
    name: str | None = Field(default=None, max_length=255)
    tier: str = Field(default="standard", max_length=32)


class ProductIn(Strict):
    name: str | None = Field(default=None, max_length=255)
    category: str | None = Field(default=None, max_length=64)
    product_group: str | None = Field(default=None, max_length=64)
    price_minor: MinorAmount | None = None
    cost_minor: MinorAmount | None = None
    weight_grams: int | None = Field(default=None, ge=0, le=10_000_000)
    returnable: bool | None = None
    attributes: dict[str, Any] | None = None


class OrderLineIn(Strict):
    line_id: str | None = Field(
        default=None, max_length=64, description="The shop's line id; defaults to its position"
    )
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=MAX_ORDER_QUANTITY, strict=True)
    unit_price_minor: MinorAmount = Field(description="Price paid per unit, before order discounts")
    discount_minor: MinorAmount = 0
    tax_minor: MinorAmount = 0
    product: ProductIn | None = None

    @model_validator(mode="after")
    def _discount_within_price(self) -> OrderLineIn:
        if self.discount_minor > self.unit_price_minor * self.quantity:
            raise ValueError("the line discount is larger than the line's price")
        return self


class AddressIn(Strict):
    line1: str | None = Field(default=None, max_length=128, description="Street and number")
    line2: str | None = Field(
        default=None, max_length=128, description="Flat, floor, building, c/o, …"
    )
    city: str | None = Field(default=None, max_length=64)
    region: str | None = Field(default=None, max_length=64, description="State, county, …")
    postcode: str | None = Field(default=None, max_length=16)
    country: str | None = Field(default=None, min_length=2, max_length=2)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)


class PaymentIn(Strict):
    """One way the shopper paid; refunds go back to payments in the order given."""

    method: str = Field(
        min_length=1,
        max_length=32,
        pattern=r"^[a-z0-9_]+$",
        description="card, gift_card, paypal, …: a short lowercase word",
    )
    captured_minor: MinorAmount
    reference: str | None = Field(
        default=None, max_length=128, description="The payment provider's id for the capture"
    )
    last4: str | None = Field(default=None, pattern=r"^[0-9]{4}$")


MAX_PAYMENTS = 20


class OrderIn(Strict):
    order_id: str = Field(min_length=1, max_length=64, description="The shop's order number")
    customer: CustomerIn
    currency: Currency
    placed_at: Timestamp
    delivered_at: Timestamp | None = None
    shipping_minor: MinorAmount = 0
    discount_minor: MinorAmount = Field(default=0, description="Order-level discount")
    shipping_address: AddressIn | None = None
    lines: list[OrderLineIn] = Field(min_length=1, max_length=1000)
    payments: list[PaymentIn] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_PAYMENTS,
        description="How the order was paid, adding up to its total; none: one payment for it",
    )

    @model_validator(mode="after")
    def _consistent(self) -> OrderIn:
        refs = [line.line_id or str(i) for i, line in enumerate(self.lines, start=1)]
        if len(set(refs)) != len(refs):
            raise ValueError("line ids must be unique within the order")
        if self.delivered_at and self.delivered_at < self.placed_at:
            raise ValueError("delivered_at is before placed_at")
        goods = sum(
            line.unit_price_minor * line.quantity - line.discount_minor for line in self.lines
        )
        if self.discount_minor > goods:
            raise ValueError("the order discount is larger than the goods it applies to")
        if self.payments is not None:
            paid = sum(payment.captured_minor for payment in self.payments)
            if paid != self.total_minor():
                raise ValueError(
                    f"payments add up to {Money(paid, self.currency).format()} "
                    f"but the order totals {Money(self.total_minor(), self.currency).format()}"
                )
        return self

    def total_minor(self) -> int:
        """What the shopper paid for the order, tax and shipping included."""
        return order_total(
            [
                (line.unit_price_minor, line.quantity, line.discount_minor, line.tax_minor)
                for line in self.lines
            ],
            self.shipping_minor,
            self.discount_minor,
        )

    def line_refs(self) -> list[str]:
        return [line.line_id or str(i) for i, line in enumerate(self.lines, start=1)]


class OrderLineOut(BaseModel):
    line_id: str
    sku: str
    quantity: int
    returned_quantity: int
    unit_price_minor: int
    discount_minor: int
    tax_minor: int


class PaymentOut(BaseModel):
    position: int
    method: str
    reference: str | None
    last4: str | None
    captured_minor: int
    refunded_minor: int


class OrderOut(BaseModel):
    order_id: str
    customer_email: str
    currency: str
    placed_at: datetime
    delivered_at: datetime | None
    shipping_minor: int
    discount_minor: int
    paid_minor: int
    given_back_minor: int
    lines: list[OrderLineOut]
    payments: list[PaymentOut]
