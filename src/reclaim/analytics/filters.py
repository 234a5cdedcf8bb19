"""What a dashboard, report or export is looking at: a period and optional slices."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, timedelta

from reclaim.errors import ValidationFailed
from reclaim.kit.clock import utcnow
from reclaim.returns.states import Reason

DEFAULT_DAYS = 90
# Three years of days, leap day included: longer is a typo, and would scan the whole history.
MAX_DAYS = 3 * 366
# Returns before the Unix epoch or in a far future are typos; the bounds also keep the
# period before this one (``previous``) a real date.
EARLIEST = date(1970, 1, 1)
LATEST = date(2999, 12, 31)
_CURRENCY = re.compile(r"[A-Z]{3}")
_LIMITS = {"category": 64, "sku": 64, "facility": 32}


@dataclass(frozen=True)
class Filters:
    """``since`` and ``until`` are inclusive days (UTC). A slice left ``None`` takes them all;
    one that names nothing known (a category nobody sells) simply matches nothing."""

    since: date
    until: date
    category: str | None = None
    sku: str | None = None
    reason: str | None = None
    facility: str | None = None
    currency: str | None = None

    @classmethod
    def parse(
        cls,
        *,
        since: str | date | None = None,
        until: str | date | None = None,
        category: str | None = None,
        sku: str | None = None,
        reason: str | None = None,
        facility: str | None = None,
        currency: str | None = None,
        today: date | None = None,
    ) -> Filters:
        """Filters from what a person typed; blank means "any", and no dates mean the last
        ``DEFAULT_DAYS`` days up to ``today``. Anything else wrong raises ``ValidationFailed``
        naming the field."""
        start = _day("since", since)
        end = _day("until", until)
        if end is None:
            end = (today or utcnow().date()) if start is None else _latest(start, today)
        if start is None:
            start = end - timedelta(days=DEFAULT_DAYS - 1)
        if end < start:
            raise ValidationFailed(
                f"The period ends ({end}) before it starts ({start}).", field="until"
            )
        if (end - start).days + 1 > MAX_DAYS:
            raise ValidationFailed(
                f"The period is {(end - start).days + 1} days long; at most 3 years "
                f"({MAX_DAYS} days) can be looked at once.",
                field="since",
            )
        return cls(
            since=start,
            until=end,
            category=_text("category", category),
            sku=_text("sku", sku),
            reason=_reason(reason),
            facility=_text("facility", facility),
            currency=_currency(currency),
        )

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1

    def previous(self) -> Filters:
        """The same slices over the period of equal length just before this one."""
        return replace(
            self, since=self.since - timedelta(days=self.days), until=self.since - timedelta(1)
        )


def _latest(start: date, today: date | None) -> date:
    # "Since a day" runs to today; a start in the future is a period of that one day.
    return max(start, today or utcnow().date())


def _blank(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _day(field: str, value: str | date | None) -> date | None:
    text = value.isoformat() if isinstance(value, date) else _blank(value)
    if text is None:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(
            f"{field} must be a date as YYYY-MM-DD, not {text!r}.", field=field
        ) from None
    if not EARLIEST <= day <= LATEST:
        raise ValidationFailed(
            f"{field} must be between {EARLIEST} and {LATEST}, not {day}.", field=field
        )
    return day


def _text(field: str, value: str | None) -> str | None:
    text = _blank(value)
    if text is not None and len(text) > _LIMITS[field]:
        raise ValidationFailed(f"{field} is at most {_LIMITS[field]} characters long.", field=field)
    if text is not None and not text.isprintable():
        raise ValidationFailed(f"{field} holds a control character.", field=field)
    return text


def _reason(value: str | None) -> str | None:
    text = _blank(value)
    if text is None:
        return None
    try:
        return Reason(text.lower()).value
    except ValueError:
        known = ", ".join(reason.value for reason in Reason)
        raise ValidationFailed(
            f"Unknown reason {text!r}; it is one of: {known}.", field="reason"
        ) from None


def _currency(value: str | None) -> str | None:
    text = _blank(value)
    if text is None:
        return None
    code = text.upper()
    if not _CURRENCY.fullmatch(code):
        raise ValidationFailed(
            f"currency must be a three-letter ISO 4217 code such as GBP, not {text!r}.",
            field="currency",
        )
    return code
