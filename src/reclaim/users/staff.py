"""Staff accounts and their console sessions.

A session is a random token in the browser's cookie; only its SHA-256 is stored, so a copy of
the database opens no session, and deleting the row ends it wherever the cookie was copied.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from reclaim.kit.clock import as_utc
from reclaim.users import passwords
from reclaim.users.models import StaffSession, StaffUser
from reclaim.users.roles import Role

# The timeline names who acted as "staff:<e-mail>" in 64 characters.
MAX_EMAIL = 64 - len("staff:")
MAX_NAME = 200
SIGN_IN_REFUSED = "That e-mail address and password don't match an active staff account."
# A session's idle deadline moves on at most this often, so reading pages seldom writes; and
# at least twice per idle time, so a session in use never lapses however short that is.
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class SessionTerms:
    idle: timedelta  # unused this long, a session ends
    lifetime: timedelta  # however busy, it ends this long after sign-in


@dataclass(frozen=True, slots=True)
class OpenedSession:
    token: str  # for the cookie; never stored
    csrf: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: StaffUser
    session: StaffSession


def normalise_email(text: str) -> str:
    email = text.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or any(c.isspace() or c == "@" for c in domain):
        raise ValidationFailed(f"{text.strip()!r} is not an e-mail address.", email=text)
    if len(email) > MAX_EMAIL or any(c.isspace() or ord(c) < 32 for c in email):
        raise ValidationFailed(
            f"A staff e-mail address has at most {MAX_EMAIL} characters and no spaces.",
            email=text,
        )
    return email


def parse_role(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise ValidationFailed(
            f"Unknown role {text!r}; choose one of {', '.join(role.value for role in Role)}.",
            role=text,
        ) from None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def check_new_user(session: AsyncSession, *, email: str, name: str) -> tuple[str, str]:
    """The e-mail address and name a new account would have, or why it can't."""
    address, shown = normalise_email(email), name.strip()
    if not shown or len(shown) > MAX_NAME or not shown.isprintable():
        raise ValidationFailed(f"Give the person's name, in at most {MAX_NAME} characters.")
    if await _find(session, address) is not None:
        raise Conflict(f"There is already a staff account for {address}.", email=address)
    return address, shown


async def create_user(
    session: AsyncSession, *, email: str, name: str, role: str, password: str
) -> StaffUser:
    chosen = parse_role(role)
    address, shown = await check_new_user(session, email=email, name=name)
    hashed = await passwords.hash_password(password)
    user = StaffUser(email=address, name=shown, role=chosen.value, password_hash=hashed)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:  # created by someone else since we looked
        raise Conflict(f"There is already a staff account for {address}.", email=address) from None
    return user


async def list_users(session: AsyncSession) -> list[StaffUser]:
    return list(await session.scalars(select(StaffUser).order_by(StaffUser.email)))


async def _find(session: AsyncSession, email: str) -> StaffUser | None:
    return await session.scalar(select(StaffUser).where(StaffUser.email == email))


async def get_user(session: AsyncSession, email: str) -> StaffUser:
    address = email.strip().lower()
    user = await _find(session, address)
    if user is None:
        raise NotFound(f"No staff account for {address}.", email=address)
    return user


async def end_sessions_of(session: AsyncSession, user: StaffUser) -> None:
    await session.execute(delete(StaffSession).where(StaffSession.user_id == user.id))


async def disable_user(session: AsyncSession, email: str) -> StaffUser:
    """The account can't sign in any more, and every browser it is signed in on is signed out."""
    user = await get_user(session, email)
    user.active = False
    await end_sessions_of(session, user)
    return user


async def set_password(
    session: AsyncSession, email: str, password: str, *, enable: bool = False
) -> StaffUser:
    """A new password; sessions opened with the old one end, as it may have leaked."""
    user = await get_user(session, email)
    user.password_hash = await passwords.hash_password(password)
    if enable:
        user.active = True
    await end_sessions_of(session, user)
    return user


async def authenticate(
    session: AsyncSession, email: str, password: str, now: datetime
) -> StaffUser:
    """The active account the e-mail and password open, or ``Unauthorized``: the same answer,
    after as much work, for an unknown address, a wrong password and a disabled account."""
    try:
        address = normalise_email(email)
    except ValidationFailed:
        address = None
    user = await _find(session, address) if address else None
    # No stored password is longer than the rules allow, so a longer one is wrong as well.
    if user is None or len(password) > passwords.MAX_LENGTH:
        await passwords.waste_a_verify(password[: passwords.MAX_LENGTH])
        raise Unauthorized(SIGN_IN_REFUSED)
    if not await passwords.verify(user.password_hash, password) or not user.active:
        raise Unauthorized(SIGN_IN_REFUSED)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.rehash(password)
    user.last_login_at = now
    return user


async def open_session(
    session: AsyncSession,
    user: StaffUser,
    now: datetime,
    terms: SessionTerms,
    *,
    replacing: str | None = None,
) -> OpenedSession:
    """A new session, with a token never seen before: whatever the browser held is worthless.

    ``replacing`` is the token the browser sent with the sign-in, if any: it ends here. Sessions
    that have lapsed, anyone's, are cleared away at the same time."""
    if replacing:
        await end_session(session, replacing)
    await session.execute(delete(StaffSession).where(StaffSession.expires_at <= now))
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires_at = now + min(terms.idle, terms.lifetime)
    session.add(
        StaffSession(
            token_hash=token_hash(token),
            user_id=user.id,
            csrf=csrf,
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
        )
    )
    await session.flush()
    return OpenedSession(token, csrf, expires_at)


def _usable(token: str) -> bool:
    # Only what we could have issued reaches the database (PostgreSQL refuses a NUL byte).
    return 0 < len(token) <= 128 and token.isascii() and token.isprintable()


async def resume_session(
    session: AsyncSession, token: str, now: datetime, terms: SessionTerms
) -> SignedIn | None:
    """The live session the token belongs to, its idle deadline moved on; None when there is
    none: never issued, signed out, unused too long, too old, or its account disabled."""
    if not _usable(token):
        return None
    row = await session.scalar(
        select(StaffSession).where(StaffSession.token_hash == token_hash(token))
    )
    if row is None:
        return None
    user = await session.get(StaffUser, row.user_id)
    created, seen = as_utc(row.created_at), as_utc(row.last_seen_at)
    over = min(as_utc(row.expires_at), seen + terms.idle, created + terms.lifetime)
    # Statements, not changes to the loaded row: a row that a sign-out in another tab deleted
    # meanwhile is then left alone, rather than failing this request.
    if user is None or not user.active or now >= over:
        await session.execute(delete(StaffSession).where(StaffSession.id == row.id))
        return None
    if now - seen >= min(TOUCH_EVERY, terms.idle / 2):
        await session.execute(
            update(StaffSession)
            .where(StaffSession.id == row.id)
            .values(last_seen_at=now, expires_at=min(now + terms.idle, created + terms.lifetime))
        )
    return SignedIn(user, row)


async def end_session(session: AsyncSession, token: str) -> bool:
    """Sign out: the row goes, so the cookie opens nothing even if it is sent again."""
    if not _usable(token):
        return False
    ended = await session.execute(
        delete(StaffSession).where(StaffSession.token_hash == token_hash(token))
    )
    return bool(ended.rowcount)  # type: ignore[attr-defined]
