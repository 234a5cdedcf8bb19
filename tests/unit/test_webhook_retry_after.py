"""Reading a webhook receiver's Retry-After: delay-seconds or an HTTP date."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reclaim.notifications.webhook_channel import parse_retry_after

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Sat, 01 Mar 2025 12:05:00 GMT", 300.0),
        ("Sat, 01 Mar 2025 11:00:00 GMT", 0.0),  # in the past: go ahead now
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
    ],
)
def test_retry_after_is_read_as_seconds_or_a_date(
    header: str | None, seconds: float | None
) -> None:
    assert parse_retry_after(header, NOW) == seconds
