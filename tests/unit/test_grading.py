"""Guided inspection: the checklists load, every rule fires as written, the worst grade wins,
the reasons are the merchant's words, bad answers are refused by question, an override needs a
reason, and a bad checklists file is refused with the place of every mistake."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reclaim.errors import ValidationFailed
from reclaim.returns.states import Grade
from reclaim.warehouse.grading import (
    GRADE_ORDER,
    Checklist,
    check_answers,
    check_grade_choice,
    load_checklists,
    parse_checklists,
    suggest_grade,
)
from reclaim.warehouse.terms_file import TermsFileError

BUILT_IN = load_checklists()

# Answers that fire no rule: the item is as new.
CLEAN: dict[str, dict[str, str | bool]] = {
    "electronics": {
        "powers_on": "yes",
        "accessories": "all",
        "screen": "perfect",
        "serial_matches": "yes",
        "original_packaging": "yes",
    },
    "apparel": {
        "tags_attached": "yes",
        "signs_of_wear": "none",
        "stains_or_odour": "no",
        "original_packaging": "yes",
    },
    "shoes": {
        "matching_pair": "yes",
        "signs_of_wear": "none",
        "stains_or_odour": "no",
        "original_packaging": "yes",
    },
    "beauty": {"sealed": "yes", "packaging_damaged": "no"},
    "generic": {
        "works_as_intended": "yes",
        "cosmetic": "none",
        "complete": "yes",
        "original_packaging": "yes",
    },
}


def grade(category: str, **changes: str | bool) -> tuple[Grade, tuple[str, ...]]:
    checklist = BUILT_IN.for_category(category)
    suggestion = suggest_grade(checklist, {**CLEAN[checklist.name], **changes})
    return suggestion.grade, suggestion.reasons


def problems(error: ValidationFailed) -> list[str]:
    found: list[str] = error.details["problems"]
    return found


# --- the built-in checklists -------------------------------------------------------------------


def test_the_built_in_checklists_load_with_a_generic_fallback() -> None:
    assert [checklist.name for checklist in BUILT_IN] == [
        "electronics",
        "apparel",
        "shoes",
        "beauty",
        "generic",
    ]
    assert BUILT_IN.source == "built-in checklists.toml"


@pytest.mark.parametrize(
    ("category", "checklist"),
    [
        ("electronics", "electronics"),
        ("apparel", "apparel"),
        ("shoes", "shoes"),
        ("beauty", "beauty"),
        ("home", "generic"),
        ("toys", "generic"),
        ("something new", "generic"),
    ],
)
def test_each_category_gets_its_checklist_and_others_the_generic_one(
    category: str, checklist: str
) -> None:
    assert BUILT_IN.for_category(category).name == checklist


def test_the_electronics_checklist_asks_what_the_issue_names() -> None:
    checklist = BUILT_IN.for_category("electronics")
    questions = {q.key: q for q in checklist.questions}

    assert list(questions) == [
        "powers_on",
        "accessories",
        "screen",
        "serial_matches",
        "original_packaging",
    ]
    assert questions["powers_on"].kind == "yes_no"
    assert questions["accessories"].choices == ("all", "some missing", "none")
    assert questions["screen"].choices[:3] == ("perfect", "light scratches", "cracked")


def test_the_apparel_and_generic_checklists_ask_what_the_issue_names() -> None:
    apparel = [q.key for q in BUILT_IN.for_category("apparel").questions]
    generic = [q.key for q in BUILT_IN.for_category("home").questions]

    assert apparel == ["tags_attached", "signs_of_wear", "stains_or_odour", "original_packaging"]
    assert generic == ["works_as_intended", "cosmetic", "complete", "original_packaging"]


@pytest.mark.parametrize("name", sorted(CLEAN))
def test_clean_answers_grade_new_with_the_checklists_own_words(name: str) -> None:
    checklist = BUILT_IN.by_name[name]

    suggestion = suggest_grade(checklist, CLEAN[name])

    assert suggestion.grade is Grade.NEW
    assert suggestion.reasons == (checklist.otherwise,)


def _every_rule() -> list[tuple[str, int]]:
    return [(c.name, index) for c in BUILT_IN for index in range(len(c.rules))]


@pytest.mark.parametrize(("name", "index"), _every_rule())
def test_every_built_in_rule_fires_as_written(name: str, index: int) -> None:
    checklist = BUILT_IN.by_name[name]
    rule = checklist.rules[index]
    answers = {**CLEAN[name], **{key: sorted(accepted)[0] for key, accepted in rule.when}}

    suggestion = suggest_grade(checklist, answers)

    assert rule.because in suggestion.reasons
    assert GRADE_ORDER.index(suggestion.grade) >= GRADE_ORDER.index(rule.grade)


# --- the rules, as a merchant reads them ---------------------------------------------------------


def test_stains_or_odour_make_clothing_unsellable() -> None:
    assert grade("apparel", stains_or_odour="yes") == (
        Grade.UNSELLABLE,
        ("Stains or odour: can't be resold.",),
    )


def test_removed_tags_alone_leave_clothing_like_new() -> None:
    assert grade("apparel", tags_attached="no") == (
        Grade.LIKE_NEW,
        ("Tags removed: like new at best.",),
    )


def test_a_rule_with_two_conditions_fires_only_when_both_hold() -> None:
    assert grade("apparel", tags_attached="no", original_packaging="no") == (
        Grade.VERY_GOOD,
        (
            "Tags removed: like new at best.",
            "Not in its original packaging: like new at best.",
            "Neither tags nor packaging: very good at best.",
        ),
    )


def test_the_worst_grade_of_the_fired_rules_wins_and_every_reason_is_listed() -> None:
    found, reasons = grade("electronics", original_packaging="no", powers_on="no")

    assert found is Grade.UNSELLABLE
    assert reasons == (
        "Doesn't power on: can't be sold as it is.",
        "Not in its original packaging: like new at best.",
    )


def test_light_scratches_and_missing_accessories_grade_good_with_both_reasons() -> None:
    assert grade("electronics", screen="light scratches", accessories="some missing") == (
        Grade.GOOD,
        ("Light scratches on the screen: good at best.", "Some accessories missing: good at best."),
    )


def test_no_accessories_is_worse_than_some_missing() -> None:
    assert grade("electronics", accessories="none")[0] is Grade.ACCEPTABLE


def test_a_serial_number_that_does_not_match_is_unsellable() -> None:
    assert grade("electronics", serial_matches="no")[0] is Grade.UNSELLABLE


def test_a_serial_number_that_does_not_match_flags_the_unit_as_a_wrong_item() -> None:
    checklist = BUILT_IN.for_category("electronics")

    mismatch = suggest_grade(checklist, {**CLEAN["electronics"], "serial_matches": False})
    clean = suggest_grade(checklist, CLEAN["electronics"])

    assert [flag.kind for flag in mismatch.flags] == ["wrong_item"]
    assert "doesn't match the one sold" in mismatch.flags[0].because
    assert clean.flags == ()


def test_of_the_built_in_questions_only_the_serial_number_raises_a_flag() -> None:
    flagged = [(c.name, q.key) for c in BUILT_IN for q in c.questions if q.flag is not None]

    assert flagged == [("electronics", "serial_matches")]


def test_opened_beauty_products_are_unsellable() -> None:
    assert grade("beauty", sealed="no")[0] is Grade.UNSELLABLE


def test_generic_heavy_marks_and_missing_parts_are_acceptable() -> None:
    assert grade("home", cosmetic="heavy")[0] is Grade.ACCEPTABLE
    assert grade("home", complete="no")[0] is Grade.ACCEPTABLE
    assert grade("home", cosmetic="light")[0] is Grade.VERY_GOOD


# --- answers ------------------------------------------------------------------------------------


def test_yes_no_accepts_booleans_and_form_strings_alike() -> None:
    checklist = BUILT_IN.for_category("apparel")
    as_bools = {**CLEAN["apparel"], "tags_attached": True, "stains_or_odour": False}
    as_strings = {**CLEAN["apparel"], "tags_attached": " Yes ", "stains_or_odour": "NO"}

    assert check_answers(checklist, as_bools) == check_answers(checklist, as_strings)
    assert check_answers(checklist, as_bools)["tags_attached"] == "yes"


def test_choices_are_kept_as_the_checklist_spells_them() -> None:
    checklist = BUILT_IN.for_category("electronics")
    answers = {**CLEAN["electronics"], "accessories": "Some_Missing", "screen": "light-scratches"}

    checked = check_answers(checklist, answers)

    assert checked["accessories"] == "some missing"
    assert checked["screen"] == "light scratches"


def test_a_missing_answer_is_refused_naming_the_question() -> None:
    answers = dict(CLEAN["apparel"])
    del answers["signs_of_wear"]

    with pytest.raises(ValidationFailed) as caught:
        suggest_grade(BUILT_IN.for_category("apparel"), answers)

    assert list(caught.value.details["problems"]) == ["signs_of_wear"]
    assert "Signs of wear" in caught.value.message


def test_a_blank_answer_counts_as_missing() -> None:
    with pytest.raises(ValidationFailed) as caught:
        grade("apparel", tags_attached="  ")

    assert list(caught.value.details["problems"]) == ["tags_attached"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("screen", "shattered"),
        ("powers_on", "maybe"),
        ("accessories", True),
        ("powers_on", 1),
    ],
)
def test_an_answer_the_question_does_not_allow_is_refused(key: str, value: object) -> None:
    checklist = BUILT_IN.for_category("electronics")

    with pytest.raises(ValidationFailed) as caught:
        suggest_grade(checklist, {**CLEAN["electronics"], key: value})  # type: ignore[dict-item]

    assert list(caught.value.details["problems"]) == [key]


def test_an_answer_to_no_question_on_the_checklist_is_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        grade("apparel", powers_on="yes")

    assert "'powers_on' is not a question on the Clothing checklist." in caught.value.message


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValidationFailed) as caught:
        suggest_grade(BUILT_IN.for_category("generic"), {"cosmetic": "scuffed"})

    assert set(caught.value.details["problems"]) == {
        "works_as_intended",
        "cosmetic",
        "complete",
        "original_packaging",
    }


WITH_TEXT = """
[generic]
title = "General"
otherwise = "Fine: as new."
[[generic.questions]]
key = "works"
text = "Works?"
kind = "yes_no"
[[generic.questions]]
key = "serial"
text = "Serial number"
kind = "text"
[[generic.rules]]
when = { works = "no" }
grade = "unsellable"
because = "Broken."
"""


def test_text_answers_are_optional_and_kept_trimmed() -> None:
    checklist = parse_checklists(WITH_TEXT, "test").for_category("any")

    assert check_answers(checklist, {"works": "yes"}) == {"works": "yes"}
    assert check_answers(checklist, {"works": "yes", "serial": " SN1 "}) == {
        "works": "yes",
        "serial": "SN1",
    }
    assert suggest_grade(checklist, {"works": "no", "serial": ""}).grade is Grade.UNSELLABLE


def test_a_text_answer_must_be_text() -> None:
    checklist = parse_checklists(WITH_TEXT, "test").for_category("any")

    with pytest.raises(ValidationFailed) as caught:
        check_answers(checklist, {"works": "yes", "serial": True})

    assert list(caught.value.details["problems"]) == ["serial"]


# --- confirming or overriding --------------------------------------------------------------------


def test_confirming_the_suggestion_needs_no_reason() -> None:
    check_grade_choice(Grade.GOOD, Grade.GOOD, None)


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_overriding_the_suggestion_needs_a_reason(reason: str | None) -> None:
    with pytest.raises(ValidationFailed, match="Say why you grade it very good: the checklist"):
        check_grade_choice(Grade.GOOD, Grade.VERY_GOOD, reason)


def test_an_override_with_a_reason_is_accepted() -> None:
    check_grade_choice(Grade.GOOD, Grade.ACCEPTABLE, "Deep scratch on the back the list misses.")


def test_a_grade_given_without_a_suggestion_needs_a_reason() -> None:
    with pytest.raises(ValidationFailed, match="Say why"):
        check_grade_choice(None, Grade.GOOD, None)
    check_grade_choice(None, Grade.GOOD, "Checklist skipped: item sealed.")


# --- properties ----------------------------------------------------------------------------------

YES_NO: list[str | bool] = ["yes", "no", True, False]


@st.composite
def answered(draw: st.DrawFn) -> tuple[Checklist, dict[str, str | bool]]:
    checklist = draw(st.sampled_from(list(BUILT_IN)))
    answers: dict[str, str | bool] = {}
    for question in checklist.questions:
        if question.kind == "yes_no":
            answers[question.key] = draw(st.sampled_from(YES_NO))
        else:
            answers[question.key] = draw(st.sampled_from(question.choices))
    return checklist, answers


@given(answered())
def test_same_answers_same_grade_and_the_worst_fired_rule_decides(
    case: tuple[Checklist, dict[str, str | bool]],
) -> None:
    checklist, answers = case
    first = suggest_grade(checklist, answers)
    second = suggest_grade(checklist, dict(reversed(list(answers.items()))))
    checked = check_answers(checklist, answers)
    fired = [rule for rule in checklist.rules if rule.fires(checked)]

    assert first == second
    worst = max((rule.grade for rule in fired), key=GRADE_ORDER.index, default=Grade.NEW)
    assert first.grade is worst
    assert first.reasons == (tuple(rule.because for rule in fired) or (checklist.otherwise,))
    assert first.flags == tuple(q.flag for q in checklist.questions if q.raises(checked))


# --- the file ------------------------------------------------------------------------------------


def refused(text: str) -> list[str]:
    with pytest.raises(TermsFileError) as caught:
        parse_checklists(dedent(text), "shop.toml")
    return problems(caught.value)


GENERIC = """
[generic]
title = "General"
otherwise = "As new."
[[generic.questions]]
key = "works"
text = "Works?"
kind = "yes_no"
[[generic.questions]]
key = "wear"
text = "Wear"
kind = "choice"
choices = ["none", "heavy"]
"""


def test_a_minimal_file_with_only_the_generic_checklist_loads() -> None:
    checklists = parse_checklists(GENERIC, "shop.toml")

    assert checklists.for_category("apparel").name == "generic"


def test_a_file_without_the_generic_checklist_is_refused() -> None:
    assert refused(GENERIC.replace("generic", "general")) == [
        "(top level): a [generic] checklist is needed for other categories"
    ]


def test_an_unknown_key_is_refused_where_it_is() -> None:
    found = refused(GENERIC + 'colour = "red"\n')

    assert found == ["generic.questions[2].colour: Extra inputs are not permitted"]


def test_an_unknown_grade_is_refused_where_it_is() -> None:
    found = refused(
        GENERIC + '[[generic.rules]]\nwhen = { works = "no" }\ngrade = "broken"\nbecause = "x"\n'
    )

    assert len(found) == 1 and found[0].startswith("generic.rules[1].grade:")


def test_a_rule_naming_no_question_is_refused() -> None:
    found = refused(
        GENERIC + '[[generic.rules]]\nwhen = { stains = "yes" }\ngrade = "good"\nbecause = "x"\n'
    )

    assert found == ["generic.rules[1].when.stains: no such question (questions: works, wear)"]


def test_a_rule_with_an_answer_the_question_does_not_allow_is_refused() -> None:
    found = refused(
        GENERIC
        + '[[generic.rules]]\nwhen = { wear = ["heavy", "light"] }\ngrade = "good"\n'
        + 'because = "x"\n'
    )

    assert found == ["generic.rules[1].when.wear: 'light' is not an answer (one of none, heavy)"]


def test_a_question_declares_which_answers_flag_the_unit() -> None:
    text = GENERIC + 'flag = { when = ["Heavy"], kind = "wrong_item", because = "Not ours." }\n'
    checklist = parse_checklists(dedent(text), "shop.toml").for_category("toys")

    heavy = suggest_grade(checklist, {"works": "yes", "wear": "heavy"})

    assert [(flag.kind, flag.because) for flag in heavy.flags] == [("wrong_item", "Not ours.")]
    # The flag holds the unit for a person; only the rules grade it.
    assert heavy.grade is Grade.NEW
    assert suggest_grade(checklist, {"works": "yes", "wear": "none"}).flags == ()


def test_a_flag_needs_an_allowed_answer_a_known_kind_and_a_reason() -> None:
    bad_answer = refused(
        GENERIC + 'flag = { when = "light", kind = "wrong_item", because = "x" }\n'
    )
    bad_kind = refused(GENERIC + 'flag = { when = "heavy", kind = "stolen", because = "x" }\n')
    no_reason = refused(GENERIC + 'flag = { when = "heavy", kind = "wrong_item" }\n')

    assert bad_answer == [
        "generic.questions[2].flag.when: 'light' is not an answer (one of none, heavy)"
    ]
    assert len(bad_kind) == 1 and bad_kind[0].startswith("generic.questions[2].flag.kind:")
    assert no_reason == ["generic.questions[2].flag.because: Field required"]


def test_a_free_text_answer_cannot_raise_a_flag() -> None:
    text = GENERIC + dedent(
        """
        [[generic.questions]]
        key = "serial"
        text = "Serial number"
        kind = "text"
        flag = { when = "x", kind = "wrong_item", because = "x" }
        """
    )

    assert refused(text) == ["generic.questions[3].flag: a free-text answer can't raise a flag"]


def test_a_rule_testing_free_text_is_refused() -> None:
    text = WITH_TEXT + '[[generic.rules]]\nwhen = { serial = "x" }\ngrade = "good"\nbecause = "x"\n'

    assert refused(text) == ["generic.rules[2].when.serial: rules can't test a free-text answer"]


def test_a_rule_needs_a_reason_the_inspector_can_read() -> None:
    found = refused(GENERIC + '[[generic.rules]]\nwhen = { works = "no" }\ngrade = "good"\n')

    assert found == ["generic.rules[1].because: Field required"]


def test_choice_questions_need_two_distinct_choices_and_others_none() -> None:
    one_choice = refused(GENERIC.replace('["none", "heavy"]', '["none"]'))
    same_twice = refused(GENERIC.replace('["none", "heavy"]', '["none", "None"]'))
    yes_no_with_choices = refused(
        GENERIC.replace('kind = "yes_no"', 'kind = "yes_no"\nchoices = ["a", "b"]')
    )

    assert one_choice == [
        "generic.questions[2].choices: a choice question needs at least two choices"
    ]
    assert same_twice == ["generic.questions[2].choices: two choices read the same"]
    assert yes_no_with_choices == [
        "generic.questions[1].choices: only a choice question has choices"
    ]


def test_a_question_asked_twice_is_refused() -> None:
    found = refused(GENERIC.replace('key = "wear"', 'key = "works"').replace("wear = ", "x = "))

    assert found == ["generic.questions[2].key: works is asked twice"]


def test_a_category_on_two_checklists_is_refused() -> None:
    twice = GENERIC.replace('title = "General"', 'title = "General"\ncategories = ["toys"]')
    other = twice.replace("[generic]", "[toys]").replace("[[generic.", "[[toys.")

    assert refused(twice + other) == ["toys.categories: toys is already on generic"]


def test_text_that_is_not_toml_is_refused() -> None:
    with pytest.raises(TermsFileError, match="shop.toml is not valid TOML"):
        parse_checklists("[generic\n", "shop.toml")


def test_the_merchants_own_file_is_read_from_its_path(tmp_path: Path) -> None:
    path = tmp_path / "checklists.toml"
    path.write_text(GENERIC, encoding="utf-8")

    checklists = load_checklists(path)

    assert checklists.source == str(path)
    assert checklists.for_category("x").questions[0].key == "works"


def test_a_file_that_is_not_there_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(TermsFileError, match="Can't read"):
        load_checklists(tmp_path / "missing.toml")
