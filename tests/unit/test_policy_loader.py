"""Reading the merchant's policy file: the built-in one loads, versions follow the text, and every
mistake is refused with the place it was made."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from textwrap import dedent

import pytest

from reclaim.errors import ValidationFailed
from reclaim.policy.loader import PolicyError, load, parse, version_of
from reclaim.policy.schema import RefundTiming
from reclaim.returns.states import Method, Reason, Resolution

MINIMAL = 'name = "Test policy"\n'


def refused(text: str) -> PolicyError:
    """The error a policy text is refused with."""
    with pytest.raises(PolicyError) as caught:
        parse(dedent(text), "shop.toml")
    return caught.value


def problems_of(text: str) -> list[str]:
    error = refused(text)
    problems: list[str] = error.details["problems"]
    return problems


# --- the built-in policy -----------------------------------------------------------------------


def test_the_built_in_policy_loads_when_no_file_is_configured() -> None:
    loaded = load(None)

    assert loaded.source == "built-in default.toml"
    assert loaded.policy.name == "Standard returns"
    assert loaded.policy.auto_approve is True


def test_the_built_in_policy_says_what_its_comments_promise() -> None:
    policy = load(None).policy

    assert policy.window.days == 30
    assert policy.window.categories == {"electronics": 15}
    assert policy.window.tier_extra_days == {"gold": 15, "vip": 30}
    assert [holiday.name for holiday in policy.holidays] == ["holiday returns"]
    assert policy.eligibility.non_returnable_categories == {"gift_cards"}
    assert policy.eligibility.final_sale_discount_percent == Decimal(70)
    assert Method.KEEP_ITEM not in policy.options.methods
    assert Resolution.KEEP_ITEM not in policy.options.resolutions
    assert len(policy.options.rules) == 2
    assert policy.fees.label_fee == Decimal("4.95")
    assert policy.fees.restocking_categories == {"electronics"}
    assert policy.store_credit.bonus_cap == Decimal("25.00")
    assert policy.returnless.max_value == Decimal("40.00")
    assert policy.refund_timing.default is RefundTiming.AT_RECEIPT
    assert policy.review.reasons == {Reason.UNAUTHORIZED_PURCHASE}


def test_the_built_in_policy_parses_to_the_same_version_from_its_text() -> None:
    loaded = load(None)

    again = parse(loaded.text, "copy.toml")

    assert again.version == loaded.version
    assert again.policy == loaded.policy


def test_a_policy_version_is_the_name_slug_and_twelve_hex_digits_of_the_text_hash() -> None:
    assert re.fullmatch(r"standard-returns@[0-9a-f]{12}", load(None).version)


# --- versions ----------------------------------------------------------------------------------


def test_the_same_text_always_has_the_same_version() -> None:
    text = MINIMAL + '[fees]\nlabel_fee = "4.95"\n'

    assert parse(text, "a.toml").version == parse(text, "b.toml").version
    assert version_of("Test policy", text) == version_of("Test policy", text)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda text: text.replace('"4.95"', '"4.96"'), id="a value"),
        pytest.param(lambda text: text + "# a comment\n", id="a comment"),
        pytest.param(lambda text: text.replace("label_fee =", "label_fee  ="), id="whitespace"),
        pytest.param(lambda text: text.replace("Test policy", "Test policy 2"), id="the name"),
    ],
)
def test_any_edit_to_the_text_gives_a_new_version(edit: Callable[[str], str]) -> None:
    text = MINIMAL + '[fees]\nlabel_fee = "4.95"\n'
    edited = edit(text)

    assert edited != text
    assert parse(edited, "shop.toml").version != parse(text, "shop.toml").version


def test_the_version_slug_keeps_only_lowercase_letters_digits_and_dashes() -> None:
    version = version_of("  Summer SALE: 2026 / EU!  ", "text")

    assert version.startswith("summer-sale-2026-eu@")


def test_a_name_without_letters_or_digits_gets_the_slug_policy() -> None:
    assert version_of("!!!", "text").startswith("policy@")


def test_a_long_name_is_cut_to_sixty_characters_in_the_version() -> None:
    slug, _, digest = version_of("x" * 200, "text").partition("@")

    assert slug == "x" * 60
    assert len(digest) == 12


# --- what the loader refuses -------------------------------------------------------------------


def test_a_policy_error_is_a_validation_failure_naming_its_source() -> None:
    error = refused("this is not toml")

    assert isinstance(error, ValidationFailed)
    assert error.code == "validation_failed"
    assert error.details["source"] == "shop.toml"


def test_text_that_is_not_toml_is_refused_with_where_the_parser_stopped() -> None:
    error = refused(MINIMAL + "[fees\n")

    assert error.message.startswith("shop.toml is not valid TOML: ")
    assert "line 2" in error.message
    assert error.message.endswith(".")


def test_a_policy_without_a_name_is_refused() -> None:
    assert problems_of("auto_approve = true\n") == ["name: Field required"]


def test_an_unknown_top_level_key_is_refused_so_a_typo_never_switches_a_rule_off() -> None:
    assert problems_of(MINIMAL + "auto_aprove = false\n") == [
        "auto_aprove: Extra inputs are not permitted"
    ]


def test_an_unknown_key_in_a_section_is_refused_with_its_section() -> None:
    assert problems_of(MINIMAL + '[fees]\nlabel_fees = "4.95"\n') == [
        "fees.label_fees: Extra inputs are not permitted"
    ]


def test_an_unknown_key_in_a_rule_condition_names_the_rule_counted_from_one() -> None:
    text = MINIMAL + dedent(
        """
        [[options.rules]]
        when = { categories = ["beauty"] }
        resolutions = ["refund"]

        [[options.rules]]
        when = { category = ["shoes"] }
        resolutions = ["refund"]
        """
    )

    assert problems_of(text) == ["options.rules[2].when.category: Extra inputs are not permitted"]


def test_a_negative_label_fee_is_refused() -> None:
    assert problems_of(MINIMAL + '[fees]\nlabel_fee = "-1.00"\n') == [
        "fees.label_fee: Input should be greater than or equal to 0"
    ]


def test_a_restocking_fee_above_one_hundred_percent_is_refused() -> None:
    assert problems_of(MINIMAL + "[fees]\nrestocking_percent = 101\n") == [
        "fees.restocking_percent: Input should be less than or equal to 100"
    ]


@pytest.mark.parametrize("value", ['"nan"', '"inf"', '"-inf"'])
def test_an_amount_that_is_not_a_finite_number_is_refused(value: str) -> None:
    assert problems_of(MINIMAL + f"[store_credit]\nbonus_cap = {value}\n") == [
        "store_credit.bonus_cap: Input should be a finite number"
    ]


def test_a_negative_window_is_refused_with_the_category_it_was_given_for() -> None:
    text = MINIMAL + "[window]\ncategories = { shoes = -5 }\n"

    assert problems_of(text) == [
        "window.categories.shoes: Input should be greater than or equal to 0"
    ]


def test_keep_item_offered_as_a_method_is_refused() -> None:
    text = MINIMAL + '[options]\nmethods = ["prepaid_label", "keep_item"]\n'

    assert problems_of(text) == [
        "options.methods: Value error, keep_item is decided by the returnless rules, "
        "not offered as a method"
    ]


def test_keep_item_offered_as_a_resolution_is_refused() -> None:
    text = MINIMAL + '[options]\nresolutions = ["refund", "keep_item"]\n'

    assert problems_of(text) == [
        "options.resolutions: Value error, keep_item is decided by the returnless rules, "
        "not offered"
    ]


def test_keep_item_in_a_rule_is_refused_with_the_rule_and_the_field() -> None:
    text = MINIMAL + dedent(
        """
        [[options.rules]]
        when = { categories = ["beauty"] }
        explain = "Beauty is refunded."

        [[options.rules]]
        methods = ["locker", "keep_item"]
        resolutions = ["keep_item"]
        """
    )

    problems = problems_of(text)

    assert [problem.partition(":")[0] for problem in problems] == [
        "options.rules[2].methods",
        "options.rules[2].resolutions",
    ]
    assert all("keep_item is decided by the returnless rules" in p for p in problems)


def test_a_holiday_whose_return_by_is_before_its_last_delivery_day_is_refused() -> None:
    text = MINIMAL + dedent(
        """
        [[holidays]]
        name = "fine"
        delivered_from = 2026-11-01
        delivered_until = 2026-12-24
        return_by = 2027-01-31

        [[holidays]]
        name = "backwards"
        delivered_from = 2026-11-01
        delivered_until = 2026-12-24
        return_by = 2026-12-01
        """
    )

    assert problems_of(text) == ["holidays[2]: Value error, return_by is before delivered_until"]


def test_a_holiday_whose_delivery_range_ends_before_it_starts_is_refused() -> None:
    text = MINIMAL + dedent(
        """
        [[holidays]]
        name = "backwards"
        delivered_from = 2026-12-24
        delivered_until = 2026-11-01
        return_by = 2027-01-31
        """
    )

    assert problems_of(text) == [
        "holidays[1]: Value error, delivered_until is before delivered_from"
    ]


def test_a_holiday_return_by_on_its_last_delivery_day_is_accepted() -> None:
    text = MINIMAL + dedent(
        """
        [[holidays]]
        name = "same day"
        delivered_from = 2026-12-01
        delivered_until = 2026-12-24
        return_by = 2026-12-24
        """
    )

    assert parse(text, "shop.toml").policy.holidays[0].name == "same day"


def test_pickup_windows_written_as_text_are_read_as_times() -> None:
    text = MINIMAL + '[pickup]\nwindows = ["08:30 - 12:00", "14:00-18:30"]\n'

    windows = parse(text, "shop.toml").policy.pickup.windows

    assert [(f"{a:%H:%M}", f"{b:%H:%M}") for a, b in windows] == [
        ("08:30", "12:00"),
        ("14:00", "18:30"),
    ]


def test_a_pickup_window_without_a_dash_is_refused() -> None:
    assert problems_of(MINIMAL + '[pickup]\nwindows = ["09:00"]\n') == [
        "pickup.windows: Value error, '09:00' is not a window like '09:00-13:00'"
    ]


def test_a_pickup_window_that_ends_before_it_starts_is_refused() -> None:
    assert problems_of(MINIMAL + '[pickup]\nwindows = ["09:00-13:00", "17:00-13:00"]\n') == [
        "pickup.windows: Value error, the window 17:00-13:00 ends before it starts"
    ]


def test_an_empty_pickup_window_is_refused() -> None:
    assert problems_of(MINIMAL + '[pickup]\nwindows = ["13:00-13:00"]\n') == [
        "pickup.windows: Value error, the window 13:00-13:00 ends before it starts"
    ]


def test_a_pickup_window_with_a_time_that_is_not_a_time_names_the_window_and_end() -> None:
    problems = problems_of(MINIMAL + '[pickup]\nwindows = ["09:00-13:00", "13:00-later"]\n')

    assert len(problems) == 1
    assert problems[0].startswith("pickup.windows[2][2]: Input should be in a valid time format")


def test_pickup_weekdays_outside_monday_to_sunday_are_refused() -> None:
    problems = problems_of(MINIMAL + "[pickup]\nweekdays = [0, 8]\n")

    assert sorted(problems) == [
        "pickup.weekdays[1]: Input should be greater than or equal to 1",
        "pickup.weekdays[2]: Input should be less than or equal to 7",
    ]


def test_immediate_refunds_as_the_default_timing_are_refused() -> None:
    assert problems_of(MINIMAL + '[refund_timing]\ndefault = "immediately"\n') == [
        "refund_timing.default: Value error, immediately is only for returnless returns"
    ]


def test_immediate_refunds_for_a_tier_are_refused() -> None:
    assert problems_of(MINIMAL + '[refund_timing]\ntiers = { gold = "immediately" }\n') == [
        "refund_timing.tiers.gold: Value error, immediately is only for returnless returns"
    ]


def test_an_unknown_reason_is_refused_with_its_position() -> None:
    problems = problems_of(MINIMAL + '[review]\nreasons = ["defective", "because"]\n')

    assert len(problems) == 1
    assert problems[0].startswith("review.reasons[2]: Input should be 'no_longer_needed'")


def test_every_bad_rule_is_named_in_one_error() -> None:
    text = MINIMAL + dedent(
        """
        [fees]
        label_fee = "-1"
        restocking_percent = 150

        [options]
        methods = ["keep_item"]
        """
    )

    error = refused(text)

    assert error.message.startswith("shop.toml has 3 bad rules:\n  ")
    for where in ("options.methods", "fees.label_fee", "fees.restocking_percent"):
        assert f"\n  {where}: " in error.message


def test_a_single_bad_rule_is_counted_in_the_singular() -> None:
    error = refused(MINIMAL + "[window]\ndays = -1\n")

    assert error.message == (
        "shop.toml has 1 bad rule:\n  window.days: Input should be greater than or equal to 0"
    )


def test_amounts_written_as_toml_numbers_keep_their_written_digits() -> None:
    policy = parse(MINIMAL + "[fees]\nlabel_fee = 4.95\n", "shop.toml").policy

    assert policy.fees.label_fee == Decimal("4.95")
