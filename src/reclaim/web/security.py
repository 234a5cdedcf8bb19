"""The portal's session: a signed, expiring cookie bound to one order, with its CSRF token.

Nothing about the shopper is stored server-side; the cookie is signed (so it can't be forged or
edited) and re-signed on every response, so it expires after a quiet spell, not mid-flow.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.responses import Response

COOKIE = "reclaim_portal"
# Browsers silently drop a cookie whose name and value pass 4096 bytes, and keep the old one.
MAX_COOKIE_BYTES = 4096 - len(COOKIE) - 1


@dataclass
class PortalSession:
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    # The shop's order number this session may see; None before a successful lookup.
    order_id: str | None = None
    # The return being put together, step by step.
    draft: dict[str, Any] = field(default_factory=dict)
    expired: bool = False

    def rotate(self, order_id: str | None) -> None:
        """A new identity at login: a token seen before the lookup is worthless after it."""
        self.csrf = secrets.token_urlsafe(24)
        self.order_id = order_id
        self.draft = {}
        self.expired = False


class SessionCodec:
    def __init__(self, secret: str, max_age_seconds: int, *, secure: bool) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="reclaim.portal.session")
        self.max_age = max_age_seconds
        self.secure = secure

    def load(self, raw: str | None) -> PortalSession:
        if not raw:
            return PortalSession()
        try:
            data = self._serializer.loads(raw, max_age=self.max_age)
        except SignatureExpired:
            return PortalSession(expired=True)
        except BadSignature:
            return PortalSession()
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            return PortalSession()
        return PortalSession(csrf=data["c"], order_id=data.get("o"), draft=data.get("d") or {})

    def encode(self, session: PortalSession) -> str:
        return self._serializer.dumps(
            {"c": session.csrf, "o": session.order_id, "d": session.draft}
        )

    def room(self, session: PortalSession) -> int:
        """Bytes the cookie can still grow by before browsers would refuse it."""
        return MAX_COOKIE_BYTES - len(self.encode(session))

    def save(self, response: Response, session: PortalSession) -> None:
        response.set_cookie(
            COOKIE,
            self.encode(session),
            max_age=self.max_age,
            httponly=True,
            secure=self.secure,
            samesite="lax",
            path="/returns",
        )


def csrf_ok(session: PortalSession, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf.encode(), (sent or "").encode())
