"""OrderIn: what a shop may send about an order, refused whole when it doesn't add up."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from reclaim.kit.money import MAX_MINOR
from reclaim.orders.schemas import MAX_ORDER_QUANTITY, OrderIn


def _order(**changes: Any) -> dict[str, Any]:
    order: dict[str, Any] = {
        "order_id": "A1",
        "customer": {"email": "ann@example.com"},
        "currency": "USD",
        "placed_at": "2025-01-02T10:00:00Z",
        "delivered_at": "2025-01-05T10:00:00+01:00",
        "lines": [
            {"line_id": "1", "sku": "SHIRT-M", "quantity": 2, "unit_price_minor": 1000},
            {"line_id": "2", "sku": "SOCKS", "quantity": 1, "unit_price_minor": 500},
        ],
    }
    order.update(changes)
    return order


def _line(**changes: Any) -> dict[str, Any]:
    line: dict[str, Any] = {"sku": "SKU-1", "quantity": 1, "unit_price_minor": 1000}
    line.update(changes)
    return line


def _refusal(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        OrderIn.model_validate(data)
    return str(caught.value)


def test_a_well_formed_order_is_accepted() -> None:
    order = OrderIn.model_validate(_order())
    assert order.currency == "USD"
    assert order.placed_at == datetime(2025, 1, 2, 10, 0, tzinfo=UTC)
    assert order.line_refs() == ["1", "2"]
    assert order.customer.tier == "standard"


def test_a_lower_case_currency_is_upper_cased() -> None:
    assert OrderIn.model_validate(_order(currency="eur")).currency == "EUR"


def test_an_unknown_currency_is_refused_as_a_field_error() -> None:
    assert "currency" in _refusal(_order(currency="XYZ"))


def test_lines_without_ids_are_referred_to_by_position() -> None:
    order = OrderIn.model_validate(_order(lines=[_line(), _line(sku="SKU-2")]))
    assert order.line_refs() == ["1", "2"]


# --- discounts -------------------------------------------------------------------------------


def test_an_order_discount_larger_than_the_goods_is_refused() -> None:
    # Goods are 2 x 10.00 + 1 x 5.00 = 25.00.
    assert "order discount is larger than the goods" in _refusal(_order(discount_minor=2501))


def test_an_order_discount_equal_to_the_goods_is_accepted() -> None:
    assert OrderIn.model_validate(_order(discount_minor=2500)).discount_minor == 2500


def test_line_discounts_count_against_the_goods_an_order_discount_may_cover() -> None:
    lines = [_line(quantity=2, unit_price_minor=1000, discount_minor=500)]
    assert "order discount is larger" in _refusal(_order(lines=lines, discount_minor=1501))
    assert OrderIn.model_validate(_order(lines=lines, discount_minor=1500))


def test_a_line_discount_larger_than_the_line_is_refused() -> None:
    lines = [_line(quantity=2, unit_price_minor=1000, discount_minor=2001)]
    assert "line discount is larger than the line's price" in _refusal(_order(lines=lines))


# --- dates -----------------------------------------------------------------------------------


def test_an_order_delivered_before_it_was_placed_is_refused() -> None:
    refusal = _refusal(_order(delivered_at="2025-01-02T09:59:59Z"))
    assert "delivered_at is before placed_at" in refusal


def test_an_order_delivered_the_moment_it_was_placed_is_accepted() -> None:
    # Same instant written in another zone: comparison is by instant, not by wall clock.
    order = OrderIn.model_validate(_order(delivered_at="2025-01-02T11:00:00+01:00"))
    assert order.delivered_at == order.placed_at


@pytest.mark.parametrize("field", ["placed_at", "delivered_at"])
def test_a_datetime_without_a_time_zone_is_refused(field: str) -> None:
    assert "timezone" in _refusal(_order(**{field: "2025-01-06T10:00:00"}))


def test_a_naive_datetime_object_is_refused_too() -> None:
    assert "timezone" in _refusal(_order(placed_at=datetime(2025, 1, 2, 10, 0)))


# --- line ids --------------------------------------------------------------------------------


def test_two_lines_with_the_same_id_are_refused() -> None:
    lines = [_line(line_id="X"), _line(line_id="X", sku="OTHER")]
    assert "line ids must be unique" in _refusal(_order(lines=lines))


def test_an_explicit_id_may_not_clash_with_another_lines_position() -> None:
    # The second line is referred to as "2"; a first line called "2" would make that ambiguous.
    lines = [_line(line_id="2"), _line(sku="OTHER")]
    assert "line ids must be unique" in _refusal(_order(lines=lines))


def test_an_order_needs_at_least_one_line() -> None:
    assert "lines" in _refusal(_order(lines=[]))


# --- money and quantities are exact integers -------------------------------------------------


@pytest.mark.parametrize("value", [12.5, 12.0, "1250", True])
def test_a_unit_price_must_be_a_whole_number_of_minor_units(value: Any) -> None:
    assert "unit_price_minor" in _refusal(_order(lines=[_line(unit_price_minor=value)]))


@pytest.mark.parametrize("field", ["shipping_minor", "discount_minor"])
def test_order_amounts_refuse_fractions_of_a_minor_unit(field: str) -> None:
    assert field in _refusal(_order(**{field: 12.5}))


@pytest.mark.parametrize("field", ["discount_minor", "tax_minor"])
def test_line_amounts_refuse_fractions_of_a_minor_unit(field: str) -> None:
    assert field in _refusal(_order(lines=[_line(**{field: 12.5})]))


def test_a_negative_price_is_refused() -> None:
    assert "unit_price_minor" in _refusal(_order(lines=[_line(unit_price_minor=-1)]))


def test_an_amount_above_the_ceiling_is_refused() -> None:
    assert "unit_price_minor" in _refusal(_order(lines=[_line(unit_price_minor=MAX_MINOR + 1)]))


@pytest.mark.parametrize("quantity", [0, -1, MAX_ORDER_QUANTITY + 1, 1.0, "1"])
def test_a_quantity_must_be_a_positive_whole_number(quantity: Any) -> None:
    assert "quantity" in _refusal(_order(lines=[_line(quantity=quantity)]))


# --- shape -----------------------------------------------------------------------------------


def test_an_unknown_field_is_refused_rather_than_ignored() -> None:
    assert "colour" in _refusal(_order(colour="blue"))


def test_an_invalid_customer_email_is_refused() -> None:
    assert "email" in _refusal(_order(customer={"email": "not-an-email"}))
