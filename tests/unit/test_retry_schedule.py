"""The retry schedule under a frozen clock and a seeded random source."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from reclaim.worker.retry import (
    RETRY_AFTER_CAP_SECONDS,
    backoff_seconds,
    next_attempt_at,
    should_give_up,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
BASE, CAP = 10.0, 6 * 3600.0


def _delay(attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
    at = next_attempt_at(attempt, NOW, rng, base=BASE, cap=CAP, retry_after=retry_after)
    return (at - NOW).total_seconds()


def test_expected_delay_doubles_from_the_base_until_the_cap() -> None:
    expected = [backoff_seconds(n, base=BASE, cap=CAP) for n in range(1, 16)]
    assert expected[:5] == [10, 20, 40, 80, 160]
    assert all(a <= b for a, b in zip(expected, expected[1:], strict=False))
    assert max(expected) == CAP
    assert expected[-1] == CAP


@pytest.mark.parametrize("seed", range(20))
def test_jitter_keeps_every_delay_between_half_and_all_of_the_backoff(seed: int) -> None:
    rng = random.Random(seed)
    for attempt in range(1, 20):
        full = backoff_seconds(attempt, base=BASE, cap=CAP)
        assert full / 2 <= _delay(attempt, rng) <= full


def test_jitter_spreads_retries_of_deliveries_that_failed_together() -> None:
    rng = random.Random(7)
    delays = {round(_delay(3, rng), 3) for _ in range(50)}
    assert len(delays) > 40
    assert min(delays) < 25 < max(delays)


def test_the_same_seed_gives_the_same_schedule() -> None:
    first = [_delay(n, random.Random(42)) for n in range(1, 10)]
    again = [_delay(n, random.Random(42)) for n in range(1, 10)]
    assert first == again


def test_a_huge_attempt_number_stays_at_the_cap() -> None:
    assert backoff_seconds(10_000, base=BASE, cap=CAP) == CAP
    assert _delay(10_000, random.Random(1)) <= CAP


def test_attempt_numbers_start_at_one() -> None:
    with pytest.raises(ValueError):
        backoff_seconds(0, base=BASE, cap=CAP)


def test_retry_after_is_a_floor_on_the_delay() -> None:
    rng = random.Random(3)
    assert _delay(1, rng, retry_after=120) == 120
    # A shorter Retry-After than the backoff changes nothing.
    assert 5 <= _delay(1, random.Random(3), retry_after=1) <= 10
    assert _delay(1, random.Random(3), retry_after=1) == _delay(1, random.Random(3))


def test_retry_after_is_capped_at_a_day() -> None:
    at = next_attempt_at(1, NOW, random.Random(0), base=BASE, cap=CAP, retry_after=90 * 86400)
    assert at - NOW == timedelta(seconds=RETRY_AFTER_CAP_SECONDS) == timedelta(days=1)


def test_retry_after_beyond_the_backoff_cap_still_waits() -> None:
    # The backoff cap bounds our own schedule, not how long a receiver may ask us to wait.
    at = next_attempt_at(1, NOW, random.Random(0), base=BASE, cap=60, retry_after=3600)
    assert at - NOW == timedelta(hours=1)


@pytest.mark.parametrize(
    ("attempts", "max_attempts", "give_up"),
    [
        (0, 3, False),
        (1, 3, False),
        (2, 3, False),
        (3, 3, True),
        (4, 3, True),
        (1, 1, True),
    ],
)
def test_give_up_after_the_allowed_number_of_attempts(
    attempts: int, max_attempts: int, give_up: bool
) -> None:
    assert should_give_up(attempts, max_attempts) is give_up


def test_a_whole_schedule_under_a_frozen_clock() -> None:
    """Twelve tries: each waits at least half its backoff, the total stays under the caps."""
    rng, now, waits = random.Random(2025), NOW, []
    attempt = 1
    while not should_give_up(attempt, 12):
        later = next_attempt_at(attempt, now, rng, base=BASE, cap=CAP)
        waits.append((later - now).total_seconds())
        now, attempt = later, attempt + 1
    assert len(waits) == 11
    assert all(w >= backoff_seconds(n, base=BASE, cap=CAP) / 2 for n, w in enumerate(waits, 1))
    assert sum(waits) <= sum(backoff_seconds(n, base=BASE, cap=CAP) for n in range(1, 12))
