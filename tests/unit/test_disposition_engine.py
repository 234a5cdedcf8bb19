"""The disposition engine: each channel's value is a sum staff can check by hand, the best one
wins, reuse is preferred over recycling (and recycling over disposal) within the tolerance,
infeasible channels are never chosen, and the recovery terms file is checked."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from importlib.resources import files
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reclaim.errors import ValidationFailed
from reclaim.returns.states import Disposition, Grade
from reclaim.warehouse.disposition_rules import (
    TIER,
    Unit,
    location_for,
    ranked,
    recommend,
    tolerance,
    value_channels,
)
from reclaim.warehouse.recovery import RecoveryTerms, load_recovery, parse_recovery
from reclaim.warehouse.terms_file import TermsFileError

# Round numbers, so every expected value below can be worked out by hand.
SHOP = """
[preference]
tolerance_percent = 5
tolerance = "1.00"

[receiving]
empty_below_percent = 20
min_expected_grams = 50

[channels.restock]
label = "Restock"
location = "STOCK-A"
grades = ["new", "like_new"]
price_factor = { new = 100, like_new = 90 }
product_resale = true
fee_percent = 0
fixed_fee = "0"
handling = "1.00"
days = 10
holding_per_day = "0.10"

[channels.open_box]
label = "Open box"
location = "OPEN-BOX"
grades = ["like_new", "very_good", "good"]
price_factor = { like_new = 80, very_good = 70, good = 60 }
fee_percent = 15
fixed_fee = "0"
handling = "1.50"
days = 21
holding_per_day = "0.03"

[channels.refurbish]
label = "Refurbish"
location = "REFURB-OUT"
grades = ["good", "acceptable", "unsellable"]
price_factor = { good = 70, acceptable = 70, unsellable = 70 }
fee_percent = 10
fixed_fee = "0"
cost_percent = 10
cost = "5.00"
success_percent = 80
handling = "2.00"
days = 0
holding_per_day = "0"

[channels.return_to_vendor]
label = "Return to vendor"
location = "RTV"
handling = "1.00"
days = 0
holding_per_day = "0"

[channels.liquidate]
label = "Liquidate"
location = "LIQUIDATION"
grades = ["new", "like_new", "very_good", "good", "acceptable"]
price_factor = { new = 30, like_new = 25, very_good = 20, good = 15, acceptable = 10 }
fee_percent = 0
fixed_fee = "0"
handling = "0.50"
days = 0
holding_per_day = "0"

[channels.donate]
label = "Donate"
location = "DONATION"
grades = ["new", "like_new", "very_good", "good", "acceptable"]
deduction_percent = 20
handling = "0.50"
days = 0
holding_per_day = "0"

[channels.recycle]
label = "Recycle"
location = "RECYCLING"
grades = ["new", "like_new", "very_good", "good", "acceptable", "unsellable"]
value_per_kg = "0.20"
cost_per_kg = "0.10"
handling = "0.30"
days = 0
holding_per_day = "0"

[channels.dispose]
label = "Dispose"
location = "DISPOSAL"
cost_per_kg = "0.10"
handling = "0.20"
days = 0
holding_per_day = "0"

[categories.electronics]
refurbishable = true

[vendors.acme]
label = "Acme"
credit_percent = 90
categories = ["electronics"]
grades = ["like_new", "very_good", "good", "acceptable", "unsellable"]
shipping = "5.00"
"""
TERMS = parse_recovery(SHOP, "shop.toml")
BUILT_IN = load_recovery()


def unit(**changes: Any) -> Unit:
    """A £40 jumper costing £14 and weighing 1 kg, new, unless told otherwise."""
    base: dict[str, Any] = {
        "key": "1",
        "sku": "JUMPER",
        "category": "apparel",
        "currency": "GBP",
        "price_minor": 4000,
        "cost_minor": 1400,
        "weight_grams": 1000,
        "grade": Grade.NEW,
    }
    return Unit(**{**base, **changes})


def gadget(**changes: Any) -> Unit:
    """A £200 gadget costing £120 and weighing 1 kg, unsellable, unless told otherwise."""
    return unit(
        **{
            "sku": "GADGET",
            "category": "electronics",
            "price_minor": 20000,
            "cost_minor": 12000,
            "grade": Grade.UNSELLABLE,
            **changes,
        }
    )


def values(item: Unit, terms: RecoveryTerms = TERMS) -> dict[Disposition, int | None]:
    """Each channel's net per unit, None when it can't take the unit."""
    return {v.channel: v.net_minor if v.feasible else None for v in value_channels(item, terms)}


def terms_with(old: str, new: str) -> RecoveryTerms:
    assert old in SHOP
    return parse_recovery(SHOP.replace(old, new), "shop.toml")


# --- picking the best ----------------------------------------------------------------------------


def test_a_new_unit_is_restocked() -> None:
    advice = recommend(unit(), TERMS)

    assert advice.best is Disposition.RESTOCK
    assert advice.options[0].net_minor == 4000 - 100 - 100
    assert advice.options[0].reasons == (
        "Restock: 100% of 40.00 GBP = 40.00 GBP, minus handling 1.00 GBP, "
        "10 days waiting 1.00 GBP → 38.00 GBP",
    )
    assert advice.explanation[0] == "Restock recovers the most: 38.00 GBP per unit."


def test_an_open_box_value_reads_as_a_sum_that_adds_up() -> None:
    advice = recommend(unit(grade=Grade.VERY_GOOD), TERMS)

    assert advice.best is Disposition.OPEN_BOX
    assert advice.options[0].reasons == (
        "Open box: 70% of 40.00 GBP = 28.00 GBP, minus 15% fee 4.20 GBP, handling 1.50 GBP, "
        "21 days waiting 0.63 GBP → 21.67 GBP",
    )
    assert (advice.options[0].gross_minor, advice.options[0].cost_minor) == (2800, 633)


def test_a_broken_gadget_is_refurbished_when_that_pays() -> None:
    advice = recommend(gadget(), TERMS)

    # 80% sell at 140.00 less 10% fee; 20% are recycled; refurbishing 10% + 5.00; handling 2.00.
    assert advice.best is Disposition.REFURBISH
    refurbish = advice.options[0]
    assert refurbish.gross_minor == 11200 + 4  # 80% of 140.00, and 20% of the 0.20 recycling
    assert refurbish.cost_minor == 1120 + 2500 + 200 + 8
    assert refurbish.net_minor == 7376
    assert refurbish.reasons[0] == (
        "Refurbish: 80% come back working and sell at 70% of 200.00 GBP = 140.00 GBP, less a "
        "10% fee of 14.00 GBP; the other 20% are recycled at -0.20 GBP."
    )
    assert refurbish.reasons[-1].endswith("→ 73.76 GBP")


def test_a_cheap_broken_gadget_is_recycled_because_repair_costs_more() -> None:
    refurbish = values(gadget(price_minor=1000, cost_minor=600))[Disposition.REFURBISH]

    assert refurbish is not None and refurbish < 0
    assert recommend(gadget(price_minor=1000, cost_minor=600), TERMS).best is Disposition.RECYCLE


def test_returning_to_the_vendor_wins_when_the_agreement_pays_more() -> None:
    advice = recommend(gadget(attributes={"vendor": "acme"}), TERMS)

    assert advice.best is Disposition.RETURN_TO_VENDOR
    assert advice.options[0].net_minor == 10800 - 500 - 100
    assert advice.options[0].reasons == (
        "Return to vendor: Acme credits 90% of the cost 120.00 GBP = 108.00 GBP, "
        "minus shipping 5.00 GBP, handling 1.00 GBP → 102.00 GBP",
    )
    assert advice.options[1].channel is Disposition.REFURBISH


def test_a_meaner_vendor_agreement_loses_to_refurbishing() -> None:
    terms = terms_with("credit_percent = 90", "credit_percent = 50")

    assert recommend(gadget(attributes={"vendor": "acme"}), terms).best is Disposition.REFURBISH


@pytest.mark.parametrize(
    ("item", "why"),
    [
        (gadget(), "Return to vendor: the product names no vendor."),
        (gadget(attributes={"vendor": "zeta"}), "Return to vendor: no return agreement with zeta."),
        (
            unit(grade=Grade.GOOD, attributes={"vendor": "acme"}),
            "Acme's agreement doesn't cover JUMPER (apparel).",
        ),
        (
            gadget(grade=Grade.NEW, attributes={"vendor": "acme"}),
            "Acme takes back like new, very good, good, acceptable or unsellable units; "
            "this one is new.",
        ),
    ],
)
def test_return_to_vendor_needs_an_agreement_covering_the_unit(item: Unit, why: str) -> None:
    rtv = next(v for v in value_channels(item, TERMS) if v.channel is Disposition.RETURN_TO_VENDOR)

    assert not rtv.feasible
    assert rtv.reasons == (why,)


def test_a_vendor_agreement_may_name_skus_instead_of_categories() -> None:
    terms = terms_with('categories = ["electronics"]', 'skus = ["JUMPER"]')

    assert values(unit(grade=Grade.GOOD, attributes={"vendor": "acme"}), terms)[
        Disposition.RETURN_TO_VENDOR
    ] == (1260 - 500 - 100)
    assert (
        values(gadget(attributes={"vendor": "acme"}), terms)[Disposition.RETURN_TO_VENDOR] is None
    )


def test_an_unsellable_jumper_is_recycled_rather_than_disposed_of() -> None:
    found = values(unit(grade=Grade.UNSELLABLE))

    assert found[Disposition.RECYCLE] == 20 - 10 - 30
    assert found[Disposition.DISPOSE] == -10 - 20
    assert recommend(unit(grade=Grade.UNSELLABLE), TERMS).best is Disposition.RECYCLE


def test_disposal_wins_when_recycling_costs_far_more() -> None:
    terms = terms_with(
        'value_per_kg = "0.20"\ncost_per_kg = "0.10"', 'value_per_kg = "0"\ncost_per_kg = "2.00"'
    )
    heavy = unit(grade=Grade.UNSELLABLE, price_minor=1000, weight_grams=10_000)

    advice = recommend(heavy, terms)

    assert advice.best is Disposition.DISPOSE
    assert (
        advice.explanation[0]
        == "Every way out costs money; Dispose costs the least: 1.20 GBP per unit."
    )


# --- the waste hierarchy ------------------------------------------------------------------------


def test_reuse_is_preferred_over_recycling_within_the_tolerance() -> None:
    # 20 kg of scrap: recycling nets 1.70; donating a 7.00 cost nets 0.90; the tolerance is 1.00.
    item = unit(grade=Grade.ACCEPTABLE, price_minor=1000, cost_minor=700, weight_grams=20_000)

    advice = recommend(item, TERMS)

    assert values(item)[Disposition.RECYCLE] == 170
    assert advice.best is Disposition.DONATE
    assert advice.options[1].channel is Disposition.RECYCLE
    assert advice.explanation[0] == (
        "Reuse preferred over recycling: Donate nets 0.90 GBP, within 1.00 GBP of Recycle's "
        "1.70 GBP (the larger of 5% of the price and 1.00 GBP)."
    )


def test_recycling_wins_when_reuse_is_further_behind_than_the_tolerance() -> None:
    item = unit(grade=Grade.ACCEPTABLE, price_minor=1000, cost_minor=500, weight_grams=20_000)

    assert recommend(item, TERMS).best is Disposition.RECYCLE


def test_the_tolerance_grows_with_the_price() -> None:
    # 5% of 30.00 is 1.50: reuse 1.20 behind is within it.
    item = unit(grade=Grade.ACCEPTABLE, price_minor=3000, cost_minor=500, weight_grams=20_000)
    found = values(item)

    assert found[Disposition.RECYCLE] == 170
    assert found[Disposition.LIQUIDATE] == 250
    assert recommend(item, TERMS).best is Disposition.LIQUIDATE


def test_recycling_is_preferred_over_disposal_within_the_tolerance() -> None:
    terms = terms_with(
        'cost_per_kg = "0.10"\nhandling = "0.30"', 'cost_per_kg = "0.35"\nhandling = "0.30"'
    )
    item = unit(grade=Grade.UNSELLABLE, price_minor=1000, weight_grams=4000)

    advice = recommend(item, terms)

    assert values(item, terms)[Disposition.DISPOSE] == -60
    assert values(item, terms)[Disposition.RECYCLE] == -90
    assert advice.best is Disposition.RECYCLE
    assert advice.explanation[0].startswith("Recycling preferred over disposal: Recycle nets")


def test_ties_go_to_the_higher_tier_then_the_listed_order() -> None:
    # Liquidating (10% of 10.00) and donating (20% of 5.00) both net 0.50.
    item = unit(grade=Grade.ACCEPTABLE, price_minor=1000, cost_minor=500, weight_grams=0)

    order = [v.channel for v in ranked(value_channels(item, TERMS))]

    assert order[:2] == [Disposition.LIQUIDATE, Disposition.DONATE]
    assert recommend(item, TERMS).best is Disposition.LIQUIDATE


# --- the product's own numbers ------------------------------------------------------------------


def test_the_products_resale_price_replaces_the_price_factor() -> None:
    item = unit(grade=Grade.LIKE_NEW, attributes={"resale_minor": {"like_new": 3000}})

    restock = value_channels(item, TERMS)[0]

    assert restock.gross_minor == 3000
    assert restock.reasons[0].startswith("Restock: resale price for like new 30.00 GBP, minus")
    # Open box doesn't take the product's resale prices in this file: the factor stands.
    assert value_channels(item, TERMS)[1].gross_minor == 3200


@pytest.mark.parametrize("bad", [-1, "30.00", 12.5, True])
def test_a_resale_price_that_is_not_minor_units_is_refused(bad: object) -> None:
    with pytest.raises(ValidationFailed, match="resale_minor.like_new"):
        value_channels(
            unit(grade=Grade.LIKE_NEW, attributes={"resale_minor": {"like_new": bad}}), TERMS
        )


def test_the_product_can_make_itself_refurbishable_or_not() -> None:
    lamp = unit(category="home", grade=Grade.UNSELLABLE, price_minor=20000)

    assert values(lamp)[Disposition.REFURBISH] is None
    assert values(replace(lamp, attributes={"refurbishable": True}))[Disposition.REFURBISH]
    assert values(replace(lamp, attributes={"refurbishable": "yes"}))[Disposition.REFURBISH]
    assert values(gadget(attributes={"refurbishable": False}))[Disposition.REFURBISH] is None


def test_a_unit_not_refurbishable_says_so() -> None:
    refurbish = value_channels(unit(grade=Grade.GOOD), TERMS)[2]

    assert refurbish.reasons == ("JUMPER (apparel) isn't refurbishable.",)


def test_a_channel_says_which_grades_it_takes() -> None:
    restock = value_channels(unit(grade=Grade.GOOD), TERMS)[0]

    assert restock.reasons == ("Restock takes new or like new units; this one is good.",)


def test_a_unit_of_several_pieces_says_what_they_recover_together() -> None:
    advice = recommend(unit(quantity=3), TERMS)

    assert "For all 3 units: 114.00 GBP." in advice.explanation


def test_a_unit_with_no_quantity_or_a_negative_price_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        unit(quantity=0)
    with pytest.raises(ValidationFailed):
        unit(price_minor=-1)


def test_a_grade_given_as_text_is_understood() -> None:
    assert unit(grade="good").grade is Grade.GOOD


def test_currencies_without_cents_round_to_whole_units() -> None:
    item = unit(currency="JPY", price_minor=4000, grade=Grade.VERY_GOOD)

    open_box = value_channels(item, TERMS)[1]

    # Handling 1.50 becomes 2 yen, 21 days at 0.03 become 1 yen.
    assert open_box.cost_minor == 420 + 2 + 1
    assert open_box.reasons[0].endswith("→ 2,377 JPY")


# --- the built-in terms -------------------------------------------------------------------------


def test_the_built_in_terms_load() -> None:
    assert BUILT_IN.preference.tolerance_percent == 5
    assert BUILT_IN.refurbishable("electronics")
    assert not BUILT_IN.refurbishable("apparel")
    assert BUILT_IN.vendors == {}


def test_the_built_in_terms_charge_electronics_a_smaller_marketplace_fee() -> None:
    phone = gadget(grade=Grade.VERY_GOOD)

    open_box = value_channels(phone, BUILT_IN)[1]

    assert "8% fee" in open_box.reasons[0]
    assert "15% fee" in value_channels(unit(grade=Grade.VERY_GOOD), BUILT_IN)[1].reasons[0]


@pytest.mark.parametrize(
    ("channel", "location"),
    [
        (Disposition.RESTOCK, "STOCK-A"),
        (Disposition.OPEN_BOX, "OPEN-BOX"),
        (Disposition.REFURBISH, "REFURB-OUT"),
        (Disposition.RETURN_TO_VENDOR, "RTV"),
        (Disposition.LIQUIDATE, "LIQUIDATION"),
        (Disposition.DONATE, "DONATION"),
        (Disposition.RECYCLE, "RECYCLING"),
        (Disposition.DISPOSE, "DISPOSAL"),
    ],
)
def test_every_channel_has_its_bin(channel: Disposition, location: str) -> None:
    assert location_for(channel, BUILT_IN) == location


@pytest.mark.parametrize(
    ("item", "best"),
    [
        (unit(), Disposition.RESTOCK),
        (unit(grade=Grade.LIKE_NEW), Disposition.RESTOCK),
        (unit(grade=Grade.GOOD), Disposition.OPEN_BOX),
        (unit(grade=Grade.ACCEPTABLE), Disposition.LIQUIDATE),
        (unit(grade=Grade.UNSELLABLE), Disposition.RECYCLE),
        (gadget(), Disposition.REFURBISH),
        (gadget(price_minor=1500, cost_minor=900), Disposition.RECYCLE),
    ],
)
def test_the_built_in_terms_route_as_a_merchant_would_expect(item: Unit, best: Disposition) -> None:
    assert recommend(item, BUILT_IN).best is best


# --- properties ---------------------------------------------------------------------------------


@st.composite
def units(draw: st.DrawFn) -> Unit:
    return Unit(
        key="u",
        sku=draw(st.sampled_from(["A", "B"])),
        category=draw(st.sampled_from(["apparel", "electronics", "home", "beauty"])),
        currency=draw(st.sampled_from(["GBP", "JPY", "KWD"])),
        price_minor=draw(st.integers(0, 500_000)),
        cost_minor=draw(st.integers(0, 300_000)),
        weight_grams=draw(st.integers(0, 40_000)),
        grade=draw(st.sampled_from(list(Grade))),
        quantity=draw(st.integers(1, 5)),
        attributes=draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "vendor": st.sampled_from(["acme", "zeta"]),
                    "refurbishable": st.booleans(),
                },
            )
        ),
    )


@given(units(), st.sampled_from([TERMS, BUILT_IN]))
def test_the_pick_is_always_feasible_and_no_worse_than_the_tolerance(
    item: Unit, terms: RecoveryTerms
) -> None:
    advice = recommend(item, terms)
    by_channel = {option.channel: option for option in advice.options}
    feasible = [option for option in advice.options if option.feasible]
    best_net = max(option.net_minor for option in feasible)
    chosen = by_channel[advice.best]

    assert sorted(by_channel) == sorted(Disposition)
    assert advice.options[0].channel is advice.best
    assert chosen.feasible
    assert advice.options[: len(feasible)] == tuple(feasible)
    assert all(o.gross_minor - o.cost_minor == o.net_minor for o in advice.options)
    if chosen.net_minor < best_net:
        # Only a higher tier of the waste hierarchy may recover less, and only a little.
        assert best_net - chosen.net_minor <= tolerance(item, terms)
        assert all(
            TIER[advice.best] < TIER[o.channel] for o in feasible if o.net_minor > chosen.net_minor
        )
    assert recommend(item, terms) == advice


# --- the file ------------------------------------------------------------------------------------


def refused(text: str) -> list[str]:
    with pytest.raises(TermsFileError) as caught:
        parse_recovery(text, "shop.toml")
    found: list[str] = caught.value.details["problems"]
    return found


def test_the_built_in_file_is_packaged_beside_the_code() -> None:
    text = (files("reclaim.warehouse") / "recovery.toml").read_text(encoding="utf-8")

    assert parse_recovery(text, "x") == BUILT_IN


def test_a_category_override_merges_price_factors_grade_by_grade() -> None:
    terms = parse_recovery(
        SHOP + '[categories.toys.open_box]\nprice_factor = { good = 50 }\nhandling = "0.50"\n',
        "shop.toml",
    )

    toys = terms.channels_for("toys").open_box
    assert toys.price_factor[Grade.GOOD] == 50
    assert toys.price_factor[Grade.LIKE_NEW] == 80
    assert toys.handling == Decimal("0.50")
    assert terms.channels_for("apparel").open_box.handling == Decimal("1.50")


def test_a_category_can_close_a_channel_by_taking_no_grades() -> None:
    terms = parse_recovery(SHOP + "[categories.beauty.open_box]\ngrades = []\n", "shop.toml")

    assert values(unit(category="beauty", grade=Grade.GOOD), terms)[Disposition.OPEN_BOX] is None
    reasons = value_channels(unit(category="beauty", grade=Grade.GOOD), terms)[1].reasons
    assert reasons == ("Open box takes no units; this one is good.",)


def test_a_category_cannot_rename_or_move_a_channel() -> None:
    found = refused(SHOP + '[categories.toys.restock]\nlocation = "TOYS"\n')

    assert found == [
        "categories.toys.restock.location: set it in [channels.restock]; it is the same for "
        "every category"
    ]


def test_a_grade_a_channel_takes_needs_its_price_factor() -> None:
    found = refused(SHOP + '[categories.toys.restock]\ngrades = ["new", "good"]\n')

    assert found == ["categories.toys.restock: Value error, price_factor has no value for good"]


def test_an_unknown_entry_is_refused_where_it_is() -> None:
    found = refused(SHOP.replace("fee_percent = 15", "fee_percent = 15\nfee_pct = 3"))

    assert found == ["channels.open_box.fee_pct: Extra inputs are not permitted"]


def test_a_missing_channel_is_refused() -> None:
    start = SHOP.index("[channels.donate]")
    end = SHOP.index("[channels.recycle]")

    assert refused(SHOP[:start] + SHOP[end:]) == ["channels.donate: Field required"]


@pytest.mark.parametrize(
    ("old", "new", "place"),
    [
        ("tolerance_percent = 5", "tolerance_percent = 120", "preference.tolerance_percent"),
        (
            'handling = "1.00"\ndays = 10',
            'handling = "-1.00"\ndays = 10',
            "channels.restock.handling",
        ),
        ("success_percent = 80", "success_percent = 101", "channels.refurbish.success_percent"),
        ("days = 21", "days = -1", "channels.open_box.days"),
        (
            'grades = ["good", "acceptable", "unsellable"]',
            'grades = ["good", "broken"]',
            "channels.refurbish.grades",
        ),
    ],
)
def test_numbers_out_of_range_are_refused_where_they_are(old: str, new: str, place: str) -> None:
    assert old in SHOP
    found = refused(SHOP.replace(old, new, 1))

    assert len(found) == 1 and found[0].startswith(place)


def test_text_that_is_not_toml_is_refused() -> None:
    with pytest.raises(TermsFileError, match="not valid TOML"):
        parse_recovery("[channels\n", "shop.toml")
