"""Guided inspection: the checklists an inspector answers and the rules that turn the answers
into a suggested grade.

Both live in a TOML file the merchant can read and edit (the built-in ``checklists.toml``).
Every rule whose conditions all match the answers fires; the suggestion is the worst grade any
fired rule gives, starting from ``new``, and the reasons are the fired rules' own words. The same
answers always give the same grade and the same reasons, in file order.

A question may also say that an answer needs a person, not just a lower grade (a serial number
that isn't the one sold): that answer raises a flag, and the unit is held until it is resolved.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from reclaim.errors import ValidationFailed
from reclaim.returns.states import Grade
from reclaim.warehouse import terms_file

BUILT_IN = "checklists.toml"
# The checklist for every category no other checklist names.
FALLBACK = "generic"
GRADE_ORDER: tuple[Grade, ...] = tuple(Grade)  # best first
YES, NO = "yes", "no"
MAX_TEXT = 2000

Kind = Literal["yes_no", "choice", "text"]
# The flags an answer can raise: the unit in hand is not the one that was sold.
FlagKindName = Literal["wrong_item"]
Key = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
Words = Annotated[str, Field(min_length=1, max_length=300)]


def grade_words(grade: Grade) -> str:
    """``like_new`` → ``like new``: how a grade reads in a sentence."""
    return grade.value.replace("_", " ")


def worse(a: Grade, b: Grade) -> Grade:
    return max(a, b, key=GRADE_ORDER.index)


# --- what the rest of Reclaim sees -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Flag:
    """Raised when the question's answer is one of ``answers``: ``because`` is what staff read."""

    answers: frozenset[str]
    kind: FlagKindName
    because: str


@dataclass(frozen=True, slots=True)
class Question:
    key: str
    text: str
    kind: Kind
    choices: tuple[str, ...] = ()
    help: str = ""
    flag: Flag | None = None

    def raises(self, answers: Mapping[str, str]) -> bool:
        return self.flag is not None and answers.get(self.key) in self.flag.answers


@dataclass(frozen=True, slots=True)
class Rule:
    """Fires when every (question, accepted answers) pair matches; then caps the grade."""

    when: tuple[tuple[str, frozenset[str]], ...]
    grade: Grade
    because: str

    def fires(self, answers: Mapping[str, str]) -> bool:
        return all(answers.get(key) in accepted for key, accepted in self.when)


@dataclass(frozen=True, slots=True)
class Checklist:
    name: str
    title: str
    categories: tuple[str, ...]
    questions: tuple[Question, ...]
    rules: tuple[Rule, ...] = ()
    # What the reasons say when no rule fires and the item is as new.
    otherwise: str = ""

    def question(self, key: str) -> Question | None:
        return next((q for q in self.questions if q.key == key), None)


@dataclass(frozen=True, slots=True)
class Checklists:
    by_name: Mapping[str, Checklist]
    source: str

    def for_category(self, category: str) -> Checklist:
        for checklist in self.by_name.values():
            if category in checklist.categories:
                return checklist
        return self.by_name[FALLBACK]

    def __iter__(self) -> Iterator[Checklist]:
        return iter(self.by_name.values())


@dataclass(frozen=True, slots=True)
class Suggestion:
    grade: Grade
    reasons: tuple[str, ...]
    # What the answers flag for a person, in question order.
    flags: tuple[Flag, ...] = ()


# --- the file's shape --------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# A list of answers means "any of these".
Wanted = str | bool | list[str]


class _FlagSpec(_Strict):
    when: Wanted
    kind: FlagKindName
    because: Words


class _QuestionSpec(_Strict):
    key: Key
    text: Words
    kind: Kind
    choices: tuple[Annotated[str, Field(min_length=1, max_length=60)], ...] = ()
    help: Annotated[str, Field(max_length=500)] = ""
    flag: _FlagSpec | None = None


class _RuleSpec(_Strict):
    when: Annotated[dict[Key, Wanted], Field(min_length=1)]
    grade: Grade
    because: Words


class _ChecklistSpec(_Strict):
    title: Words
    categories: tuple[Annotated[str, Field(min_length=1, max_length=64)], ...] = ()
    questions: Annotated[tuple[_QuestionSpec, ...], Field(min_length=1)]
    rules: tuple[_RuleSpec, ...] = ()
    otherwise: Words


class _ChecklistsFile(RootModel[dict[Key, _ChecklistSpec]]):
    pass


def _plain(value: str) -> str:
    """How answers compare: case, spaces, underscores and hyphens don't matter."""
    return re.sub(r"[\s_-]+", " ", value).strip().lower()


def _yes_no(value: str | bool) -> str | None:
    if isinstance(value, bool):
        return YES if value else NO
    plain = _plain(value)
    return plain if plain in (YES, NO) else None


def _choice(question: Question, value: str | bool) -> str | None:
    if isinstance(value, bool):
        return None
    plain = _plain(value)
    return next((c for c in question.choices if _plain(c) == plain), None)


def _canonical(question: Question, value: str | bool) -> str | None:
    """The answer as the checklist spells it, or None when the question doesn't allow it."""
    if not isinstance(value, str | bool):
        return None
    if question.kind == "yes_no":
        return _yes_no(value)
    if question.kind == "choice":
        return _choice(question, value)
    return value.strip() if isinstance(value, str) else None


def _allowed(question: Question) -> str:
    if question.kind == "yes_no":
        return "yes or no"
    if question.kind == "choice":
        return "one of " + ", ".join(question.choices)
    return "text"


def _accepted(
    question: Question, wanted: Wanted, place: str, problems: list[str]
) -> frozenset[str]:
    """The answers ``wanted`` names, as the question spells them; each one it doesn't allow
    is a problem at ``place``."""
    accepted = set()
    for value in wanted if isinstance(wanted, list) else [wanted]:
        canonical = _canonical(question, value)
        if canonical is None:
            problems.append(f"{place}: {value!r} is not an answer ({_allowed(question)})")
        else:
            accepted.add(canonical)
    return frozenset(accepted)


def _question(spec: _QuestionSpec, place: str, problems: list[str]) -> Question:
    if spec.kind == "choice":
        plain = [_plain(c) for c in spec.choices]
        if len(spec.choices) < 2:
            problems.append(f"{place}.choices: a choice question needs at least two choices")
        elif len(set(plain)) != len(plain):
            problems.append(f"{place}.choices: two choices read the same")
    elif spec.choices:
        problems.append(f"{place}.choices: only a choice question has choices")
    question = Question(spec.key, spec.text, spec.kind, spec.choices, spec.help)
    if spec.flag is None:
        return question
    if spec.kind == "text":
        problems.append(f"{place}.flag: a free-text answer can't raise a flag")
        return question
    answers = _accepted(question, spec.flag.when, f"{place}.flag.when", problems)
    return replace(question, flag=Flag(answers, spec.flag.kind, spec.flag.because))


def _rule(
    spec: _RuleSpec, questions: Mapping[str, Question], place: str, problems: list[str]
) -> Rule:
    when = []
    for key, wanted in spec.when.items():
        question = questions.get(key)
        if question is None:
            problems.append(
                f"{place}.when.{key}: no such question (questions: {', '.join(questions)})"
            )
            continue
        if question.kind == "text":
            problems.append(f"{place}.when.{key}: rules can't test a free-text answer")
            continue
        when.append((key, _accepted(question, wanted, f"{place}.when.{key}", problems)))
    return Rule(tuple(when), spec.grade, spec.because)


def _checklist(name: str, spec: _ChecklistSpec, problems: list[str]) -> Checklist:
    questions: dict[str, Question] = {}
    for index, question_spec in enumerate(spec.questions):
        place = f"{name}.questions[{index + 1}]"
        if question_spec.key in questions:
            problems.append(f"{place}.key: {question_spec.key} is asked twice")
        questions[question_spec.key] = _question(question_spec, place, problems)
    rules = tuple(
        _rule(rule, questions, f"{name}.rules[{index + 1}]", problems)
        for index, rule in enumerate(spec.rules)
    )
    return Checklist(
        name, spec.title, spec.categories, tuple(questions.values()), rules, spec.otherwise
    )


def parse_checklists(text: str, source: str) -> Checklists:
    specs = terms_file.parse(text, source, _ChecklistsFile).root
    problems: list[str] = []
    checklists = {name: _checklist(name, spec, problems) for name, spec in specs.items()}
    if FALLBACK not in checklists:
        problems.append(f"(top level): a [{FALLBACK}] checklist is needed for other categories")
    owner: dict[str, str] = {}
    for checklist in checklists.values():
        for category in checklist.categories:
            if category in owner:
                problems.append(
                    f"{checklist.name}.categories: {category} is already on {owner[category]}"
                )
            owner[category] = checklist.name
    if problems:
        raise terms_file.refuse(source, problems)
    return Checklists(checklists, source)


@cache
def _built_in() -> Checklists:
    return parse_checklists(*terms_file.read_text(None, BUILT_IN))


def load_checklists(path: Path | None = None) -> Checklists:
    """The merchant's checklists file, or the built-in one when none is configured."""
    if path is None:
        return _built_in()
    return parse_checklists(*terms_file.read_text(path, BUILT_IN))


# --- grading -----------------------------------------------------------------------------------


def check_answers(checklist: Checklist, answers: Mapping[str, str | bool]) -> dict[str, str]:
    """The answers as the checklist spells them; refuses, naming every question, an answer
    that is missing (only free text may be left out), not allowed, or to no question here."""
    problems: dict[str, str] = {}
    checked: dict[str, str] = {}
    for key in answers:
        if checklist.question(key) is None:
            problems[key] = f"{key!r} is not a question on the {checklist.title} checklist."
    for question in checklist.questions:
        given = answers.get(question.key)
        canonical = None if given is None else _canonical(question, given)
        if question.kind == "text":
            if given is not None and canonical is None:
                problems[question.key] = f"The answer to “{question.text}” must be text."
            elif canonical and len(canonical) > MAX_TEXT:
                problems[question.key] = (
                    f"The answer to “{question.text}” is longer than {MAX_TEXT} characters."
                )
            elif canonical:
                checked[question.key] = canonical
        elif given is None or (isinstance(given, str) and not given.strip()):
            problems[question.key] = f"Answer “{question.text}” ({_allowed(question)})."
        elif canonical is None:
            problems[question.key] = (
                f"{given!r} is not an answer to “{question.text}”: {_allowed(question)}."
            )
        else:
            checked[question.key] = canonical
    if problems:
        raise ValidationFailed(
            " ".join(problems.values()), checklist=checklist.name, problems=problems
        )
    return checked


def suggest_grade(checklist: Checklist, answers: Mapping[str, str | bool]) -> Suggestion:
    checked = check_answers(checklist, answers)
    grade = Grade.NEW
    reasons = []
    for rule in checklist.rules:
        if rule.fires(checked):
            grade = worse(grade, rule.grade)
            reasons.append(rule.because)
    flags = tuple(q.flag for q in checklist.questions if q.flag is not None and q.raises(checked))
    return Suggestion(grade, tuple(reasons) or (checklist.otherwise,), flags)


def check_grade_choice(suggested: Grade | None, chosen: Grade, reason: str | None) -> None:
    """A grade other than the checklist's suggestion needs the inspector's reason."""
    if chosen == suggested or (reason and reason.strip()):
        return
    if suggested is None:
        raise ValidationFailed(
            f"Say why you grade it {grade_words(chosen)} without the checklist's suggestion."
        )
    raise ValidationFailed(
        f"Say why you grade it {grade_words(chosen)}: the checklist suggests "
        f"{grade_words(suggested)}.",
        suggested=suggested.value,
        chosen=chosen.value,
    )
