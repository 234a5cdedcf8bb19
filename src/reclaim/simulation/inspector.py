"""A simulated inspector: answers a unit's checklist the way a unit in that condition would,
so the real grading rules suggest its grade; only a condition no answers lead to is an
override, with the inspector's reason. A condition is about wear, not identity: answers that
flag the unit for an agent (a serial that isn't the one sold) are never given; the simulated
shoppers send wrong items at receiving instead."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from reclaim.returns.states import Grade
from reclaim.warehouse.grading import Checklist, Checklists, suggest_grade

ORDER = tuple(Grade)  # best first
# Beyond this many answer combinations a checklist is sampled instead of enumerated.
MAX_COMBINATIONS = 4096
SAMPLES = 1024
OVERRIDE_REASON = "Condition the checklist doesn't ask about; graded on the unit as a whole."

Answers = dict[str, str]


@dataclass(frozen=True, slots=True)
class Check:
    answers: Answers
    grade: Grade | None  # None: the checklist's suggestion stands
    override_reason: str | None


class Inspector:
    def __init__(self, rng: random.Random, checklists: Checklists) -> None:
        self.rng = rng
        self.checklists = checklists
        self._books: dict[str, dict[Grade, list[Answers]]] = {}

    def check(self, category: str, condition: Grade) -> Check:
        book = self._book(self.checklists.for_category(category))
        if condition in book:
            return Check(self.rng.choice(book[condition]), None, None)
        nearest = min(book, key=lambda grade: abs(ORDER.index(grade) - ORDER.index(condition)))
        return Check(self.rng.choice(book[nearest]), condition, OVERRIDE_REASON)

    def _book(self, checklist: Checklist) -> dict[Grade, list[Answers]]:
        """Every way to answer the checklist, by the grade the answers suggest."""
        if checklist.name not in self._books:
            book: dict[Grade, list[Answers]] = {}
            for answers in self._combinations(checklist):
                suggestion = suggest_grade(checklist, answers)
                if not suggestion.flags:
                    book.setdefault(suggestion.grade, []).append(answers)
            self._books[checklist.name] = book
        return self._books[checklist.name]

    def _combinations(self, checklist: Checklist) -> list[Answers]:
        options = {
            question.key: ("yes", "no") if question.kind == "yes_no" else question.choices
            for question in checklist.questions
            if question.kind != "text"
        }
        keys = list(options)
        total = 1
        for choices in options.values():
            total *= len(choices)
        if total <= MAX_COMBINATIONS:
            return [
                dict(zip(keys, values, strict=True))
                for values in itertools.product(*options.values())
            ]
        return [{key: self.rng.choice(options[key]) for key in keys} for _ in range(SAMPLES)]
