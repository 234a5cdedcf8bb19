"""Work order, manifest and batch numbers: random, readable, and found again however typed."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from reclaim.errors import NotFound
from reclaim.warehouse.numbers import (
    MANIFEST,
    WORK_ORDER,
    canonical,
    new_batch_id,
    new_manifest_number,
    new_work_order_number,
)

BODY = "[0-9A-HJKMNP-TV-Z]"


def test_numbers_have_their_prefix_and_crockford_characters() -> None:
    assert re.fullmatch(f"WO-{BODY}{{8}}", new_work_order_number())
    assert re.fullmatch(f"MF-{BODY}{{8}}", new_manifest_number())
    assert re.fullmatch(
        f"B-20240614-{BODY}{{6}}", new_batch_id(datetime(2024, 6, 14, 23, 59, tzinfo=UTC))
    )


@pytest.mark.parametrize(
    ("prefix", "new"), [(WORK_ORDER, new_work_order_number), (MANIFEST, new_manifest_number)]
)
@pytest.mark.parametrize("attempt", range(20))
def test_a_number_typed_in_lower_case_spaced_or_without_its_prefix_is_found(
    prefix: str, new: Callable[[], str], attempt: int
) -> None:
    number = new()
    body = number.removeprefix(prefix)

    for typed in (number, number.lower(), f" {prefix} {body[:4]} {body[4:]} ", body):
        assert canonical(typed, prefix, "number") == number


def test_letters_misread_for_digits_are_read_as_the_digits() -> None:
    assert canonical("wo-OIL00000", WORK_ORDER, "work order") == "WO-01100000"


def test_a_body_that_starts_like_the_prefix_keeps_it() -> None:
    assert canonical("MF-MF000000", MANIFEST, "manifest") == "MF-MF000000"
    assert canonical("MF000000", MANIFEST, "manifest") == "MF-MF000000"


@pytest.mark.parametrize(
    "text", ["", "WO-", "WO-1234567", "WO-123456789", "WO-UUUUUUUU", "WO-1234567!"]
)
def test_what_cannot_be_a_number_names_nothing(text: str) -> None:
    with pytest.raises(NotFound):
        canonical(text, WORK_ORDER, "work order")
