"""The Standard Webhooks signature scheme (https://www.standardwebhooks.com), both ways.

Outbound webhooks are signed with it, and tracking events posted to Reclaim are checked with
it, so a carrier or drop-off point can use any Standard Webhooks library to sign.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

SECRET_PREFIX = "whsec_"
# A message older or newer than this is refused: a captured request can't be replayed later.
TOLERANCE_SECONDS = 5 * 60


class SignatureError(ValueError):
    """The headers are missing, malformed, too old, or no signature matches."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError:
        raise SignatureError("The secret is not base64 after 'whsec_'.") from None


def valid_secret(secret: str) -> bool:
    try:
        return secret.startswith(SECRET_PREFIX) and len(_key(secret)) >= 24
    except SignatureError:
        return False


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


@dataclass(frozen=True, slots=True)
class Signed:
    headers: dict[str, str]


def sign(secrets_: Iterable[str], message_id: str, at: datetime, body: bytes) -> Signed:
    """Headers for one message; with several secrets (during a rotation) one signature each."""
    timestamp = int(at.timestamp())
    signatures = " ".join(signature(secret, message_id, timestamp, body) for secret in secrets_)
    return Signed(
        {
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signatures,
        }
    )


def verify(secrets_: Iterable[str], headers: Mapping[str, str], body: bytes, now: datetime) -> str:
    """The message id if any signature matches any secret; else :class:`SignatureError`."""
    message_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    given = headers.get("webhook-signature")
    if not message_id or not stamp or not given:
        raise SignatureError("Sign the request: webhook-id, webhook-timestamp, webhook-signature.")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise SignatureError("webhook-timestamp is not a Unix time in seconds.") from None
    if abs(now.timestamp() - timestamp) > TOLERANCE_SECONDS:
        raise SignatureError("webhook-timestamp is too far from now; sign the request again.")
    # A signature is base64, so a non-ASCII part (a header is read as latin-1) can't match;
    # left in, it would make compare_digest raise instead of answer.
    offered = [part for part in given.split(" ") if part.startswith("v1,") and part.isascii()]
    for secret in secrets_:
        expected = signature(secret, message_id, timestamp, body)
        if any(hmac.compare_digest(expected, part) for part in offered):
            return message_id
    raise SignatureError("No signature matches.")
