"""The simulated inspector answers checklists so that the real rules grade the unit as it is."""

from __future__ import annotations

import random

import pytest

from reclaim.returns.states import Grade
from reclaim.simulation.inspector import OVERRIDE_REASON, Inspector
from reclaim.warehouse.grading import load_checklists, parse_checklists, suggest_grade

CHECKLISTS = load_checklists()


@pytest.mark.parametrize("category", ["apparel", "electronics", "home", "shoes"])
@pytest.mark.parametrize("condition", list(Grade))
def test_answers_lead_the_rules_to_the_condition_or_say_why_not(
    category: str, condition: Grade
) -> None:
    inspector = Inspector(random.Random(1), CHECKLISTS)

    check = inspector.check(category, condition)

    suggested = suggest_grade(CHECKLISTS.for_category(category), check.answers).grade
    if check.grade is None:
        assert suggested is condition and check.override_reason is None
    else:
        assert check.grade is condition and suggested is not condition
        assert check.override_reason == OVERRIDE_REASON


def test_a_condition_no_answers_reach_is_an_override_from_the_nearest_grade() -> None:
    only_two = parse_checklists(
        """
[generic]
title = "Generic"
otherwise = "As new."
[[generic.questions]]
key = "works"
text = "Works?"
kind = "yes_no"
[[generic.rules]]
when = { works = "no" }
grade = "unsellable"
because = "Broken."
""",
        "test",
    )
    inspector = Inspector(random.Random(1), only_two)

    check = inspector.check("toys", Grade.LIKE_NEW)

    assert check.answers == {"works": "yes"}
    assert (check.grade, check.override_reason) == (Grade.LIKE_NEW, OVERRIDE_REASON)


def test_the_same_seed_answers_the_same_way() -> None:
    first = Inspector(random.Random(7), CHECKLISTS)
    second = Inspector(random.Random(7), CHECKLISTS)

    assert [first.check("apparel", g) for g in Grade] == [second.check("apparel", g) for g in Grade]
