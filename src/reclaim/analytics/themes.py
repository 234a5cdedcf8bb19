"""Recurring themes in shoppers' free-text return comments.

Words and two-word phrases, counted by the distinct returns that use them (a shopper who writes
"too small, really too small" says it once). A phrase is a theme when enough returns use it,
both in number and as a share of the returns that have a comment; a word is dropped when a kept
phrase holding it has the same support, since it adds nothing ("runs" beside "runs small").

Pure and deterministic: the same comments always give the same themes in the same order.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

MIN_RETURNS = 3
MIN_SHARE = 0.02
MAX_THEMES = 10
# Words that carry no theme by themselves. Negations are kept out of this list: "not working"
# is a theme, so they may start a phrase, but a lone "not" never is one.
_STOP = """
a about after again all also am an and any are as at be because been before being bit but by can
could did do does doing for from get got had has have having he her here hers him his how i if im
in into is it item its itself ive just me more most much my myself of off on once one only or
other our ours out over own product quite really same she should so some such than that the their
theirs them then there these they this those through to too under until up very was we were what
when where which while who whom why will with would you your yours yourself
"""
STOP_WORDS = frozenset(_STOP.split())
_NEGATIONS = "no not never nothing doesnt didnt dont isnt wasnt wont cant arent"
NEGATIONS = frozenset(_NEGATIONS.split())
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_CLAUSE = re.compile(r"[.,;:!?()\[\]\"/\n]+|\s-\s")


@dataclass(frozen=True, slots=True)
class Comment:
    """One return line's comment, and what it was about."""

    return_key: str  # the return it belongs to: counts are by distinct return
    sku: str
    name: str
    category: str
    reason: str
    text: str
    value_minor: int  # the returned units' price


@dataclass(frozen=True, slots=True)
class Share:
    key: str
    label: str
    returns: int


@dataclass(frozen=True, slots=True)
class Theme:
    phrase: str  # as shoppers most often wrote it
    returns: int
    share: float  # of the returns with a comment
    skus: tuple[Share, ...]  # most returns first
    categories: tuple[Share, ...]
    reasons: tuple[Share, ...]
    value_minor: int  # price of the units on the returns that use it


def stem(word: str) -> str:
    """Plurals to singular, lightly: "boxes" → "box", "sizes" → "size", "glass" stays."""
    if len(word) <= 3 or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes", "zzes")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


def phrases(text: str) -> dict[tuple[str, ...], str]:
    """Every word and two-word phrase of a comment, keyed by their normal form, each with the
    words as written. A stop word or punctuation ends a phrase: words either side of one are
    not a phrase together."""
    found: dict[tuple[str, ...], str] = {}
    for clause in _CLAUSE.split(text.lower()):
        run: list[tuple[str, str]] = []
        for match in _TOKEN.finditer(clause):
            written = match.group()
            word = written.replace("'", "")
            key = stem(word)
            if key in STOP_WORDS or word in STOP_WORDS or word.isdigit() or len(word) < 2:
                _collect(run, found)
                run = []
                continue
            run.append((key, written))
        _collect(run, found)
    return found


def _collect(run: list[tuple[str, str]], found: dict[tuple[str, ...], str]) -> None:
    for index, (key, written) in enumerate(run):
        if key not in NEGATIONS:
            found.setdefault((key,), written)
        if index + 1 < len(run):
            following_key, following = run[index + 1]
            if following_key not in NEGATIONS:
                found.setdefault((key, following_key), f"{written} {following}")


def themes(comments: Iterable[Comment]) -> list[Theme]:
    """The recurring phrases, most used first, at most ``MAX_THEMES``."""
    returns_of: dict[tuple[str, ...], set[str]] = defaultdict(set)
    written_as: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
    lines_of: dict[tuple[str, ...], dict[tuple[str, str], Comment]] = defaultdict(dict)
    commented: set[str] = set()
    for comment in comments:
        if not comment.text.strip():
            continue
        commented.add(comment.return_key)
        for key, written in phrases(comment.text).items():
            returns_of[key].add(comment.return_key)
            written_as[key][written] += 1
            lines_of[key].setdefault((comment.return_key, comment.sku), comment)
    floor = max(MIN_RETURNS, MIN_SHARE * len(commented))
    kept = {key: len(keys) for key, keys in returns_of.items() if len(keys) >= floor}
    distinct = [
        key
        for key, support in kept.items()
        if not any(
            len(longer) > len(key) and _within(key, longer) and kept[longer] == support
            for longer in kept
        )
    ]
    distinct.sort(key=lambda key: (-kept[key], _shown(written_as[key])))
    return [
        _theme(_shown(written_as[key]), kept[key], len(commented), list(lines_of[key].values()))
        for key in distinct[:MAX_THEMES]
    ]


def _within(short: tuple[str, ...], long: tuple[str, ...]) -> bool:
    return any(long[i : i + len(short)] == short for i in range(len(long) - len(short) + 1))


def _shown(written: Counter[str]) -> str:
    """The spelling most shoppers used; the first alphabetically among equals."""
    return min(written.items(), key=lambda item: (-item[1], item[0]))[0]


def _theme(phrase: str, support: int, commented: int, lines: Sequence[Comment]) -> Theme:
    return Theme(
        phrase=phrase,
        returns=support,
        share=support / commented,
        skus=_shares(lines, lambda line: (line.sku, line.name)),
        categories=_shares(lines, lambda line: (line.category, line.category)),
        reasons=_shares(lines, lambda line: (line.reason, line.reason)),
        value_minor=sum(line.value_minor for line in lines),
    )


def _shares(
    lines: Sequence[Comment], of: Callable[[Comment], tuple[str, str]]
) -> tuple[Share, ...]:
    returns: dict[str, set[str]] = defaultdict(set)
    labels: dict[str, str] = {}
    for line in lines:
        key, label = of(line)
        returns[key].add(line.return_key)
        labels[key] = label
    return tuple(
        sorted(
            (Share(key, labels[key], len(keys)) for key, keys in returns.items()),
            key=lambda share: (-share.returns, share.key),
        )
    )
