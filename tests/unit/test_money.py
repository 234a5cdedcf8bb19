"""Money: integer minor units plus a currency, parsed strictly and split without losing a unit."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reclaim.errors import CurrencyMismatch, ValidationFailed
from reclaim.kit.money import (
    KNOWN_CURRENCIES,
    MAX_MINOR,
    Money,
    allocate,
    check_currency,
    minor_digits,
)

# --- arithmetic ------------------------------------------------------------------------------


def test_adding_money_adds_minor_units() -> None:
    assert Money(1299, "USD") + Money(1, "USD") == Money(1300, "USD")


def test_subtracting_money_may_go_below_zero() -> None:
    assert Money(100, "EUR") - Money(250, "EUR") == Money(-150, "EUR")


def test_times_multiplies_by_a_quantity() -> None:
    assert Money(1299, "USD").times(3) == Money(3897, "USD")
    assert Money(1299, "USD").times(0) == Money.zero("USD")


def test_zero_is_the_identity_for_addition() -> None:
    assert Money(42, "GBP") + Money.zero("GBP") == Money(42, "GBP")


@pytest.mark.parametrize("op", ["add", "sub"])
def test_combining_two_currencies_is_refused(op: str) -> None:
    usd, eur = Money(100, "USD"), Money(100, "EUR")
    with pytest.raises(CurrencyMismatch) as caught:
        _ = usd + eur if op == "add" else usd - eur
    assert caught.value.details == {"expected": "USD", "got": "EUR"}


def test_a_currency_mismatch_is_a_validation_failure() -> None:
    # The API maps ValidationFailed to one response; a mismatch must land there too.
    assert issubclass(CurrencyMismatch, ValidationFailed)


@pytest.mark.parametrize("amount", [12.5, 12.0, "12", Decimal("12"), True, None])
def test_money_amount_must_be_an_int_of_minor_units(amount: object) -> None:
    with pytest.raises(TypeError):
        Money(amount, "USD")  # type: ignore[arg-type]


def test_money_cannot_be_changed_after_it_is_made() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Money(1, "USD").amount = 2  # type: ignore[misc]


# --- minor digits ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "digits"),
    [("USD", 2), ("EUR", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3), ("TND", 3)],
)
def test_each_currency_has_its_iso_number_of_decimals(currency: str, digits: int) -> None:
    assert minor_digits(currency) == digits


# --- parsing amounts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.99", "USD", 1299),
        ("12.9", "USD", 1290),
        ("12", "USD", 1200),
        ("0", "USD", 0),
        ("0.01", "USD", 1),
        (" 12.99 ", "USD", 1299),
        ("12.990", "USD", 1299),
        ("1299", "JPY", 1299),
        ("1.234", "KWD", 1234),
        ("1", "KWD", 1000),
    ],
)
def test_an_amount_in_major_units_becomes_minor_units(text: str, currency: str, minor: int) -> None:
    assert Money.from_decimal(text, currency) == Money(minor, currency)


def test_a_decimal_parses_like_its_text() -> None:
    assert Money.from_decimal(Decimal("12.99"), "USD") == Money(1299, "USD")


@pytest.mark.parametrize(
    ("text", "currency"),
    [("12.999", "USD"), ("0.001", "EUR"), ("12.5", "JPY"), ("1.2345", "KWD")],
)
def test_more_decimals_than_the_currency_has_are_refused(text: str, currency: str) -> None:
    with pytest.raises(ValidationFailed, match=f"more decimals than {currency} allows"):
        Money.from_decimal(text, currency)


@pytest.mark.parametrize(
    "text", ["abc", "", "12,99", "1.2.3", "NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf"]
)
def test_text_that_is_not_a_finite_amount_is_refused(text: str) -> None:
    with pytest.raises(ValidationFailed, match="is not an amount"):
        Money.from_decimal(text, "USD")


@pytest.mark.parametrize("text", ["12.340000000000000000000000000001", "1e-999999999"])
def test_hidden_extra_precision_is_refused_not_rounded_away(text: str) -> None:
    with pytest.raises(ValidationFailed):
        Money.from_decimal(text, "USD")


@pytest.mark.parametrize(
    ("text", "exact"),
    [
        ("99999999999999999999999999999", 9999999999999999999999999999900),
        ("12345678901234567890123456789.01", 1234567890123456789012345678901),
        ("1e999999999", None),
    ],
)
def test_a_huge_amount_is_kept_exact_or_refused(text: str, exact: int | None) -> None:
    try:
        money = Money.from_decimal(text, "USD")
    except ValidationFailed:
        return
    assert money.amount == exact


# --- back to decimals and text ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("money", "value"),
    [
        (Money(1299, "USD"), Decimal("12.99")),
        (Money(-5, "USD"), Decimal("-0.05")),
        (Money(1299, "JPY"), Decimal("1299")),
        (Money(1234, "KWD"), Decimal("1.234")),
    ],
)
def test_to_decimal_gives_major_units(money: Money, value: Decimal) -> None:
    assert money.to_decimal() == value


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money(123456, "USD"), "1,234.56 USD"),
        (Money(1200, "USD"), "12.00 USD"),
        (Money(-1250, "EUR"), "-12.50 EUR"),
        (Money(1299, "JPY"), "1,299 JPY"),
        (Money(1234, "KWD"), "1.234 KWD"),
    ],
)
def test_format_shows_every_minor_digit_and_the_currency(money: Money, text: str) -> None:
    assert money.format() == text


@given(
    st.integers(min_value=-MAX_MINOR, max_value=MAX_MINOR),
    st.sampled_from(sorted(KNOWN_CURRENCIES)),
)
def test_an_amount_survives_a_trip_through_decimal(amount: int, currency: str) -> None:
    money = Money(amount, currency)
    assert Money.from_decimal(money.to_decimal(), currency) == money
    assert Money.from_decimal(str(money.to_decimal()), currency) == money


# --- currency codes --------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "canonical"), [("usd", "USD"), (" eur ", "EUR"), ("Jpy", "JPY")])
def test_a_currency_code_is_accepted_in_any_case(code: str, canonical: str) -> None:
    assert check_currency(code) == canonical


@pytest.mark.parametrize("code", ["XYZ", "", "US", "USDD", "dollars", "€"])
def test_an_unknown_currency_is_refused(code: str) -> None:
    with pytest.raises(ValidationFailed, match="Unknown currency"):
        check_currency(code)


# --- allocation ------------------------------------------------------------------------------


def test_allocating_nothing_over_no_weights_gives_nothing() -> None:
    assert allocate(0, []) == []


def test_allocating_an_amount_over_no_parts_is_refused_rather_than_lost() -> None:
    with pytest.raises(ValueError, match="no parts"):
        allocate(100, [])


def test_allocation_leftovers_go_to_the_earliest_part_on_ties() -> None:
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate(1, [1, 1]) == [1, 0]


def test_allocation_leftovers_go_to_the_largest_remainders() -> None:
    # Exact shares 1.4 / 2.1 / 3.5: the one unit left after flooring goes to the .5, not the first.
    assert allocate(7, [2, 3, 5]) == [1, 2, 4]


def test_a_zero_weight_gets_nothing() -> None:
    assert allocate(101, [0, 1, 0, 1]) == [0, 51, 0, 50]


def test_allocating_zero_gives_zero_everywhere() -> None:
    assert allocate(0, [3, 0, 5]) == [0, 0, 0]
    assert allocate(0, [0, 0]) == [0, 0]


def test_allocating_over_all_zero_weights_never_silently_loses_the_total() -> None:
    try:
        parts = allocate(100, [0, 0, 0])
    except (ValueError, ValidationFailed):
        return
    assert sum(parts) == 100


weights_with_a_positive = st.lists(
    st.integers(min_value=0, max_value=10**9), min_size=1, max_size=30
).filter(lambda ws: sum(ws) > 0)


@given(st.integers(min_value=-(10**13), max_value=10**13), weights_with_a_positive)
def test_allocated_parts_always_add_up_to_the_total(total: int, weights: list[int]) -> None:
    parts = allocate(total, weights)
    assert len(parts) == len(weights)
    assert sum(parts) == total


@given(st.integers(min_value=-(10**13), max_value=10**13), weights_with_a_positive)
def test_each_part_is_within_one_unit_of_its_exact_share(total: int, weights: list[int]) -> None:
    parts = allocate(total, weights)
    for part, weight in zip(parts, weights, strict=True):
        exact = Fraction(total * weight, sum(weights))
        assert abs(part - exact) < 1


@given(st.integers(min_value=0, max_value=10**13), weights_with_a_positive)
def test_a_zero_weight_never_receives_a_unit(total: int, weights: list[int]) -> None:
    parts = allocate(total, weights)
    assert all(part == 0 for part, weight in zip(parts, weights, strict=True) if weight == 0)
    assert all(part >= 0 for part in parts)
