"""What the checkout sends to be scored, and the scores it gets back."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from reclaim.orders.schemas import MAX_ORDER_QUANTITY, WITHOUT_NUL, Currency, MinorAmount

MAX_CART_LINES = 200
Band = Literal["low", "medium", "high"]


class CartLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: str = Field(min_length=1, max_length=64, pattern=WITHOUT_NUL)
    quantity: int = Field(gt=0, le=MAX_ORDER_QUANTITY, strict=True)
    unit_price_minor: MinorAmount = Field(description="Price per unit, in minor units")


class ReturnRiskIn(BaseModel):
    """Either an order already sent to Reclaim (``order``), or a cart at the checkout
    (``currency`` and ``lines``, with the ``customer`` when known)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"order": "1001"},
                {
                    "customer": "shopper@example.com",
                    "currency": "GBP",
                    "country": "United Kingdom",
                    "lines": [{"sku": "85123A", "quantity": 6, "unit_price_minor": 255}],
                },
            ]
        },
    )

    order: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=WITHOUT_NUL, description="Order id"
    )
    customer: str | None = Field(
        default=None,
        min_length=1,
        max_length=320,
        pattern=WITHOUT_NUL,
        description="The shop's customer id or the shopper's e-mail; unknown means a new one",
    )
    currency: Currency | None = None
    country: str | None = Field(default=None, min_length=1, max_length=64, pattern=WITHOUT_NUL)
    lines: list[CartLineIn] | None = Field(default=None, min_length=1, max_length=MAX_CART_LINES)

    @model_validator(mode="after")
    def _order_or_cart(self) -> ReturnRiskIn:
        cart = (self.customer, self.currency, self.country, self.lines)
        if self.order is not None:
            if any(part is not None for part in cart):
                raise ValueError("send either an order, or a cart (currency and lines), not both")
        elif self.lines is None or self.currency is None:
            raise ValueError("send an order, or a cart with currency and lines")
        return self


class LineRiskOut(BaseModel):
    line_id: str = Field(description="The order line's id, or the cart line's position (1, 2…)")
    sku: str
    probability: float = Field(description="Chance the line comes back within 30 days")
    band: Band
    drivers: list[str] = Field(description="What raised this line's risk most, in words")


class ReturnRiskOut(BaseModel):
    order_id: str | None = Field(description="The order scored; null for a cart")
    probability: float = Field(description="Chance at least one line comes back within 30 days")
    band: Band
    lines: list[LineRiskOut]
    model_version: int
