"""When to try a failed delivery again: exponential backoff with jitter, and when to stop.

Pure: the clock and the random source are passed in, so the schedule can be checked exactly.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

# However long a recipient asks us to wait, we come back within a day: a wrong Retry-After
# must not park a delivery for months.
RETRY_AFTER_CAP_SECONDS = 24 * 3600.0
# 2**60 times any base is past every sensible cap; stopping there keeps the float finite.
_MAX_DOUBLINGS = 60


def backoff_seconds(attempt_number: int, *, base: float, cap: float) -> float:
    """The delay before the next try after failed attempt ``attempt_number`` (1 = the first),
    before jitter: ``base``, then doubling, never more than ``cap``."""
    if attempt_number < 1:
        raise ValueError("attempt numbers start at 1")
    return min(cap, base * 2.0 ** min(attempt_number - 1, _MAX_DOUBLINGS))


def next_attempt_at(
    attempt_number: int,
    now: datetime,
    rng: random.Random,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
) -> datetime:
    """When to try again after failed attempt ``attempt_number``.

    "Equal jitter": half the backoff is fixed and half random, so retries of many deliveries
    that failed together (a mail server restart) spread out but never come back too soon.
    A recipient's Retry-After is a floor, capped at a day.
    """
    delay = backoff_seconds(attempt_number, base=base, cap=cap)
    delay = delay / 2 + rng.uniform(0, delay / 2)
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP_SECONDS))
    return now + timedelta(seconds=delay)


def should_give_up(attempts: int, max_attempts: int) -> bool:
    """True once ``attempts`` tries have been made and no more are allowed."""
    return attempts >= max_attempts
