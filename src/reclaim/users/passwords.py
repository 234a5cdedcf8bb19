"""Staff passwords: argon2id hashes with the library's recommended costs, never the password."""

from __future__ import annotations

import asyncio
import os
import threading
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from reclaim.errors import ValidationFailed

MIN_LENGTH = 12
# Long enough for any passphrase; longer only makes every guess cost us more.
MAX_LENGTH = 1024

_hasher = PasswordHasher()
# Each hash takes 64 MiB and a CPU for a tenth of a second: a burst of sign-ins waits its turn
# rather than exhausting memory.
_slots = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))


def check_rules(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise ValidationFailed(
            f"A password needs at least {MIN_LENGTH} characters; a few words make a good one."
        )
    if len(password) > MAX_LENGTH:
        raise ValidationFailed(f"A password can have at most {MAX_LENGTH} characters.")


def _hash(password: str) -> str:
    with _slots:
        return _hasher.hash(password)


def _verify(stored: str, password: str) -> bool:
    with _slots:
        try:
            return _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False


async def hash_password(password: str) -> str:
    """The hash to store; ``ValidationFailed`` if the password breaks the rules."""
    check_rules(password)
    # Off the event loop: other requests go on while the hash is worked out.
    return await asyncio.to_thread(_hash, password)


async def rehash(password: str) -> str:
    """A password already in use, hashed at today's costs: the rules it was set under stand."""
    return await asyncio.to_thread(_hash, password)


async def verify(stored: str, password: str) -> bool:
    return await asyncio.to_thread(_verify, stored, password)


def needs_rehash(stored: str) -> bool:
    """True when the hash was made with weaker costs than today's: rehash at the next login."""
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True


@cache
def _dummy_hash() -> str:
    return _hasher.hash("not anyone's password, only something to compare with")


def _verify_dummy(password: str) -> None:
    _verify(_dummy_hash(), password)


async def waste_a_verify(password: str) -> None:
    """Spend as long as checking a real password, so an unknown e-mail answers no faster."""
    await asyncio.to_thread(_verify_dummy, password)
