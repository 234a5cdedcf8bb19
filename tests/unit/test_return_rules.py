"""Pure return rules: return numbers, the return window, what may be asked for, progress."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reclaim.errors import NotReturnable, QuantityExceeded, ValidationFailed
from reclaim.returns.rules import (
    MAX_LINE_QUANTITY,
    LineProgress,
    LineStock,
    RequestedLine,
    all_received_graded,
    check_requested_lines,
    new_return_number,
    normalise_return_number,
    ready_to_complete,
)
from reclaim.returns.states import Resolution

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
NUMBER = re.compile(rf"^RMA-[{CROCKFORD}]{{5}}-[{CROCKFORD}]{{5}}$")
tokens = st.binary(min_size=7, max_size=7)

# --- return numbers --------------------------------------------------------------------------


def test_a_new_return_number_looks_like_rma_then_two_groups_of_five() -> None:
    for _ in range(500):
        assert NUMBER.match(new_return_number())


def test_a_return_number_never_uses_letters_that_read_like_digits() -> None:
    drawn = "".join(new_return_number().removeprefix("RMA-") for _ in range(2000))
    assert not set(drawn) & set("ILOU")


def test_return_numbers_use_the_whole_crockford_alphabet() -> None:
    # 20,000 random characters: a missing symbol means the encoding lost bits.
    drawn = "".join(new_return_number().removeprefix("RMA-") for _ in range(2000))
    assert set(drawn.replace("-", "")) == set(CROCKFORD)


def test_return_numbers_drawn_many_times_are_distinct() -> None:
    numbers = [new_return_number() for _ in range(20_000)]
    assert len(set(numbers)) == len(numbers)


def test_a_return_number_is_determined_by_its_token() -> None:
    assert new_return_number(bytes(7)) == "RMA-00000-00000"
    assert new_return_number(b"\xff" * 7) == "RMA-ZZZZZ-ZZZZZ"
    assert new_return_number(b"\x01\x02\x03\x04\x05\x06\x07") == new_return_number(
        b"\x01\x02\x03\x04\x05\x06\x07"
    )


@given(tokens)
def test_every_token_gives_a_well_formed_number(token: bytes) -> None:
    assert NUMBER.match(new_return_number(token))


@given(tokens)
def test_a_canonical_number_normalises_to_itself(token: bytes) -> None:
    number = new_return_number(token)
    assert normalise_return_number(number) == number


@given(tokens)
def test_a_number_typed_sloppily_normalises_to_the_canonical_one(token: bytes) -> None:
    number = new_return_number(token)
    sloppy = "  " + number.lower().replace("-", " ").replace("0", "o").replace("1", "l") + " "
    assert normalise_return_number(sloppy) == number


@pytest.mark.parametrize(
    "typed",
    [
        "RMA-7KQ3X-M9P2D",
        "rma-7kq3x-m9p2d",
        "RMA7KQ3XM9P2D",
        "rma 7kq3x m9p2d",
        "  RMA-7KQ3X-M9P2D  ",
        "RMA-7KQ3XM9P2D",
        "7KQ3X-M9P2D",
        "7kq3xm9p2d",
    ],
)
def test_case_spaces_dashes_and_the_prefix_do_not_matter(typed: str) -> None:
    assert normalise_return_number(typed) == "RMA-7KQ3X-M9P2D"


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("RMA-O0OO0-M9P2D", "RMA-00000-M9P2D"),
        ("rma-o0oo0-m9p2d", "RMA-00000-M9P2D"),
        ("RMA-I1LI1-M9P2D", "RMA-11111-M9P2D"),
        ("rma-il1il-m9p2d", "RMA-11111-M9P2D"),
    ],
)
def test_letters_that_look_like_digits_are_read_as_those_digits(typed: str, canonical: str) -> None:
    assert normalise_return_number(typed) == canonical


def test_a_number_whose_body_starts_with_rma_can_be_typed_without_the_prefix() -> None:
    assert normalise_return_number("RMA12-34567") == "RMA-RMA12-34567"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "RMA",
        "hello",
        "RMA-7KQ3X-M9P2",
        "RMA-7KQ3X-M9P2DD",
        "RMA-7KQ3X-M9P2U",
        "RMA-7KQ3X-M9P2!",
        "RMA-7KQ3X-M9P2Ä",
        "RMA-7KQ3X_M9P2D",
        "XYZ-7KQ3X-M9P2D",
        "RMA-7KQ3X-M9P2D-7KQ3X",
    ],
)
def test_garbage_is_not_a_return_number(typed: str) -> None:
    with pytest.raises(ValidationFailed, match="is not a return number"):
        normalise_return_number(typed)


# --- what a return may ask for ---------------------------------------------------------------

STOCK = [
    LineStock("1", quantity=3, returned_quantity=0),
    LineStock("2", quantity=5, returned_quantity=2),
    LineStock("final-sale", quantity=1, returned_quantity=0, returnable=False),
    LineStock("gone", quantity=2, returned_quantity=2),
]


def _ask(line_ref: str, quantity: int, resolution: Resolution = Resolution.REFUND) -> RequestedLine:
    return RequestedLine(line_ref, quantity, resolution)


def test_a_valid_request_is_accepted() -> None:
    check_requested_lines([_ask("1", 2), _ask("2", 1, Resolution.EXCHANGE)], STOCK)


def test_asking_for_exactly_the_remaining_units_is_fine() -> None:
    check_requested_lines([_ask("1", 3), _ask("2", 3)], STOCK)


def test_an_empty_request_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="at least one line"):
        check_requested_lines([], STOCK)


def test_the_same_order_line_twice_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="appears twice"):
        check_requested_lines([_ask("1", 1), _ask("1", 1)], STOCK)


@pytest.mark.parametrize("quantity", [0, -1, -100, MAX_LINE_QUANTITY + 1, 10**12])
def test_a_quantity_nobody_could_return_is_refused(quantity: int) -> None:
    big = [LineStock("1", quantity=10**13, returned_quantity=0)]
    with pytest.raises(ValidationFailed, match=f"Quantity {quantity}"):
        check_requested_lines([_ask("1", quantity)], big)


def test_the_largest_allowed_line_quantity_is_accepted() -> None:
    big = [LineStock("1", quantity=MAX_LINE_QUANTITY, returned_quantity=0)]
    check_requested_lines([_ask("1", MAX_LINE_QUANTITY)], big)


def test_a_line_the_order_does_not_have_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="no line '9'"):
        check_requested_lines([_ask("9", 1)], STOCK)


def test_a_non_returnable_line_is_refused_as_not_returnable() -> None:
    with pytest.raises(NotReturnable, match="final-sale"):
        check_requested_lines([_ask("final-sale", 1)], STOCK)


def test_asking_for_more_than_remains_names_how_many_can_still_be_returned() -> None:
    with pytest.raises(QuantityExceeded) as caught:
        check_requested_lines([_ask("2", 4)], STOCK)
    assert caught.value.details == {"line_ref": "2", "returnable": 3}
    assert "Only 3" in caught.value.message
    assert "4 were asked for" in caught.value.message


def test_a_fully_returned_line_has_nothing_left() -> None:
    with pytest.raises(QuantityExceeded) as caught:
        check_requested_lines([_ask("gone", 1)], STOCK)
    assert caught.value.details["returnable"] == 0


def test_an_overcounted_line_never_reports_a_negative_count() -> None:
    # Bad data upstream must not turn into "only -1 can be returned".
    stock = [LineStock("1", quantity=2, returned_quantity=3)]
    with pytest.raises(QuantityExceeded) as caught:
        check_requested_lines([_ask("1", 1)], stock)
    assert caught.value.details["returnable"] == 0
    assert "-" not in caught.value.message.split("of order line")[0]


def test_a_shopper_cannot_ask_to_keep_the_item() -> None:
    with pytest.raises(ValidationFailed, match="offered by the policy"):
        check_requested_lines([_ask("1", 1, Resolution.KEEP_ITEM)], STOCK)


def test_one_bad_line_refuses_the_whole_request() -> None:
    with pytest.raises(QuantityExceeded):
        check_requested_lines([_ask("1", 1), _ask("2", 99)], STOCK)


# --- inspection and completion progress ------------------------------------------------------


def _line(
    received: int, *, quantity: int = 2, graded: bool = False, dispositioned: bool = False
) -> LineProgress:
    return LineProgress(quantity, received, graded, dispositioned)


def test_inspection_is_not_over_when_nothing_arrived() -> None:
    assert not all_received_graded([])
    assert not all_received_graded([_line(0), _line(0)])


def test_completion_is_not_possible_when_nothing_arrived() -> None:
    assert not ready_to_complete([])
    # Even flags set on lines that never arrived don't count.
    assert not ready_to_complete([_line(0, graded=True, dispositioned=True)])


def test_inspection_is_over_when_every_arrived_line_has_a_grade() -> None:
    assert all_received_graded([_line(2, graded=True), _line(1, graded=True)])


def test_inspection_is_not_over_while_an_arrived_line_lacks_a_grade() -> None:
    assert not all_received_graded([_line(2, graded=True), _line(1)])


def test_a_line_that_never_arrived_does_not_hold_up_inspection() -> None:
    # Units that never come back are released at completion, not waited for.
    assert all_received_graded([_line(2, graded=True), _line(0)])


def test_a_partly_received_line_counts_once_graded() -> None:
    assert all_received_graded([_line(1, quantity=3, graded=True)])


def test_a_later_parcel_of_a_line_without_a_grade_reopens_inspection() -> None:
    first_parcel = [_line(2, graded=True, dispositioned=True), _line(0)]
    second_parcel = [_line(2, graded=True, dispositioned=True), _line(1)]

    assert all_received_graded(first_parcel) and ready_to_complete(first_parcel)
    assert not all_received_graded(second_parcel) and not ready_to_complete(second_parcel)


def test_completion_waits_for_every_arrived_line_to_have_a_disposition() -> None:
    assert not ready_to_complete([_line(2, graded=True, dispositioned=True), _line(1, graded=True)])


def test_completion_is_possible_once_every_arrived_line_has_a_disposition() -> None:
    assert ready_to_complete(
        [
            _line(2, graded=True, dispositioned=True),
            _line(0),
            _line(1, quantity=3, graded=True, dispositioned=True),
        ]
    )


def test_graded_is_not_enough_to_complete() -> None:
    assert not ready_to_complete([_line(2, graded=True)])
