"""Themes in shoppers' comments: normalised, counted by distinct returns, thresholded, and
attributed to the products they are about."""

from __future__ import annotations

import random

import pytest

from reclaim.analytics.themes import MAX_THEMES, Comment, Share, phrases, stem, themes


def comment(
    text: str,
    key: str,
    *,
    sku: str = "TEE-M",
    category: str = "apparel",
    reason: str = "too_small",
    value: int = 2500,
) -> Comment:
    return Comment(key, sku, f"Name of {sku}", category, reason, text, value)


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("sizes", "size"),
        ("boxes", "box"),
        ("batteries", "battery"),
        ("dresses", "dress"),
        ("glass", "glass"),
        ("runs", "run"),
        ("bus", "bus"),
        ("gas", "gas"),
        ("buzzes", "buzz"),
        ("shoes", "shoe"),
        ("small", "small"),
    ],
)
def test_plurals_are_stemmed_lightly(word: str, expected: str) -> None:
    assert stem(word) == expected


def test_a_comment_gives_its_words_and_two_word_phrases_as_written() -> None:
    assert phrases("Runs SMALL; L would fit.") == {
        ("run",): "runs",
        ("small",): "small",
        ("run", "small"): "runs small",
        ("fit",): "fit",
    }


def test_stop_words_and_punctuation_end_a_phrase() -> None:
    found = phrases("Colour differs from the photos, zip broke")
    assert ("colour", "differ") in found
    assert ("differ", "photo") not in found  # "from the" stands between them
    assert ("photo", "zip") not in found  # a comma stands between them
    assert ("zip", "broke") in found


def test_negations_start_phrases_but_are_never_themes_alone() -> None:
    found = phrases("Does not turn on. Doesn't fit")
    assert found[("not", "turn")] == "not turn"
    assert found[("doesnt", "fit")] == "doesn't fit"
    assert ("not",) not in found
    assert ("doesnt",) not in found


def test_numbers_and_single_letters_carry_no_theme() -> None:
    assert phrases("2 x 3 stars") == {("star",): "stars"}


def test_a_phrase_is_counted_once_per_return_however_often_it_is_written() -> None:
    comments = [
        comment("Runs small, really runs small", "R1"),
        comment("Runs small", "R1", sku="TEE-L"),  # a second line of the same return
        comment("Runs small.", "R2"),
        comment("runs small!", "R3"),
    ]
    (theme,) = themes(comments)
    assert (theme.phrase, theme.returns, theme.share) == ("runs small", 3, 1.0)


def test_a_theme_needs_three_returns() -> None:
    comments = [comment("Runs small", f"R{i}") for i in range(2)]
    assert themes(comments) == []


def test_a_theme_needs_two_percent_of_the_commented_returns() -> None:
    # 3 of 200 commented returns is 1.5%: below the floor; 4 of 200 is 2%.
    filler = [comment(f"filler{i}", f"F{i}") for i in range(197)]
    three = [comment("Zip broke", f"Z{i}") for i in range(3)]
    assert [t.phrase for t in themes(filler + three)] == []
    four = [comment("Zip broke", f"Z{i}") for i in range(4)]
    assert [t.phrase for t in themes(filler[:-1] + four)] == ["zip broke"]


def test_a_word_is_dropped_beside_a_longer_phrase_with_the_same_support() -> None:
    comments = [comment("Runs small", f"R{i}") for i in range(5)]
    comments += [comment("Smaller than pictured, small", f"S{i}") for i in range(3)]
    found = {theme.phrase: theme.returns for theme in themes(comments)}
    # "runs" is in exactly the returns "runs small" is in; "small" is in three more.
    assert found == {"runs small": 5, "small": 8, "smaller": 3, "pictured": 3}


def test_themes_show_the_spelling_most_shoppers_used() -> None:
    comments = [comment("Box crushed", "A"), comment("boxes crushed", "B")]
    comments += [comment("BOXES CRUSHED", "C"), comment("Boxes crushed", "D")]
    assert [t.phrase for t in themes(comments)] == ["boxes crushed"]


def test_a_theme_names_the_products_categories_and_reasons_it_is_about() -> None:
    comments = [comment("Runs small", f"R{i}", sku="TEE-M") for i in range(7)]
    comments += [
        comment("runs small", "S1", sku="DRESS-S", reason="too_small"),
        comment("Runs small", "S2", sku="SHOE-9", category="shoes", reason="style_not_as_expected"),
    ]
    (theme,) = themes(comments)
    assert theme.returns == 9
    assert theme.skus == (
        Share("TEE-M", "Name of TEE-M", 7),
        Share("DRESS-S", "Name of DRESS-S", 1),
        Share("SHOE-9", "Name of SHOE-9", 1),
    )
    assert theme.categories == (Share("apparel", "apparel", 8), Share("shoes", "shoes", 1))
    assert theme.reasons[0] == Share("too_small", "too_small", 8)
    assert theme.value_minor == 9 * 2500


def test_themes_are_the_same_whatever_order_the_comments_come_in() -> None:
    comments = [comment("Runs small", f"R{i}") for i in range(6)]
    comments += [comment("Zip broke after a week", f"Z{i}", sku="BAG") for i in range(4)]
    comments += [comment("Colour differs from photos", f"C{i}", sku="MUG") for i in range(3)]
    expected = themes(comments)
    shuffled = comments[:]
    random.Random(7).shuffle(shuffled)
    assert themes(shuffled) == expected
    assert [t.phrase for t in expected][:3] == ["runs small", "week", "zip broke"]


def test_blank_comments_are_not_counted_as_commented() -> None:
    comments = [comment("Runs small", f"R{i}") for i in range(3)]
    comments += [comment("   ", f"B{i}") for i in range(100)]
    (theme,) = themes(comments)
    assert theme.share == 1.0


def test_at_most_the_ten_most_used_themes_are_kept() -> None:
    words = [f"word{chr(97 + i)}" for i in range(15)]
    comments = [comment(word, f"{word}-{n}") for i, word in enumerate(words) for n in range(3 + i)]
    found = themes(comments)
    assert len(found) == MAX_THEMES
    assert found[0].phrase == words[-1]
