"""What the console's forms share: one-time tokens, so a form is acted on once however often it
is sent, and reading a whole number typed (or put in a URL) without trusting ``str.isdigit``.

A barcode scanner's double Enter, a double click or a resubmitted page posts the same form
twice. Every page that shows a form that changes something renders a fresh token in it
(``{{ once() }}``); the handler claims the token in the same transaction as the change, so the
second post, even one racing the first, finds it taken, changes nothing and is sent where the
first one went.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from markupsafe import Markup
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from reclaim.db import insert_ignoring_conflict
from reclaim.kit import clock
from reclaim.web.console.auth import redirect
from reclaim.web.models import FormSubmission
from reclaim.web.pages import templates

FIELD = "once"
ALREADY = "Already recorded: that form was sent twice, and acted on once."
# token_urlsafe(24) is 32 characters; the column holds 64.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
_LOCATION_CHARS = 300


def issue() -> str:
    """A fresh token, for one form on one page."""
    return secrets.token_urlsafe(24)


def _field() -> Markup:
    return Markup('<input type="hidden" name="{}" value="{}">').format(FIELD, issue())


# Every console template may call once(): the station's, and the warehouse pages' forms.
templates.env.globals["once"] = _field


class AlreadyRecorded(Exception):
    """The form's token was claimed before: the first post did the work."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


@dataclass(frozen=True, slots=True)
class OneTime:
    """A form's one-time token as sent (None when it came without one), and who sent it."""

    token: str | None
    staff_id: int

    async def claim(self, session: AsyncSession, location: str) -> None:
        """Record the token as used, sending any repeat to ``location``; raises
        :class:`AlreadyRecorded` when a post with this token was already acted on.

        Call it first in the transaction that makes the change: a racing repeat then waits on
        the token's row (PostgreSQL) or the write lock (SQLite) and finds it once this commits;
        if this rolls back, the token is free again."""
        if self.token is None:
            return
        fresh = await insert_ignoring_conflict(
            session,
            FormSubmission,
            {
                "token": self.token,
                "staff_user_id": self.staff_id,
                "location": location[:_LOCATION_CHARS],
                "at": clock.utcnow(),
            },
            ["token"],
        )
        if not fresh:
            first = await session.scalar(
                select(FormSubmission.location).where(FormSubmission.token == self.token)
            )
            raise AlreadyRecorded(first or location)

    async def lead_to(self, session: AsyncSession, location: str) -> None:
        """Where the first post went in the end, once the change has shown it."""
        if self.token is None:
            return
        await session.execute(
            update(FormSubmission)
            .where(FormSubmission.token == self.token)
            .values(location=location[:_LOCATION_CHARS])
        )


def one_time(form: Mapping[str, Any], staff_id: int) -> OneTime:
    """The token a form was sent with. A form without one (a script's post) is acted on as
    before: only pages rendered with a token can be recognised when sent again. A token that
    isn't one of ours is no token."""
    sent = form.get(FIELD)
    token = sent if isinstance(sent, str) and _TOKEN.fullmatch(sent) else None
    return OneTime(token, staff_id)


def sent_again(request: Request, repeat: AlreadyRecorded) -> Response:
    """The answer to a repeat: where the first post went, saying nothing more was done."""
    return redirect(request, repeat.location, ALREADY)


async def forget_old_submissions(session: AsyncSession, older_than: datetime) -> int:
    """Forget tokens claimed before ``older_than``; how many went. Keep them at least as long as
    a console session lasts: its forms' CSRF token dies with it, so older ones can't be sent."""
    result = await session.execute(delete(FormSubmission).where(FormSubmission.at < older_than))
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- whole numbers -------------------------------------------------------------------------------


def whole_number(text: str, *, digits: int = 9) -> int | None:
    """The number ``text`` spells in ASCII digits (at most ``digits`` of them), else None.

    ``str.isdigit`` takes "²", which ``int`` then refuses with an error; a sign, spaces or more
    digits than any count we keep aren't numbers here either."""
    return int(text) if re.fullmatch(rf"[0-9]{{1,{digits}}}", text) else None
