"""The numbers people read off paperwork: work orders "WO-…", manifests "MF-…", batches "B-…"."""

from __future__ import annotations

import secrets
from datetime import datetime

from reclaim.errors import NotFound

# Crockford's base32: no I, L, O or U, so a number read aloud or typed is hard to get wrong.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# 40 random bits: the unique constraint alone guards the rare clash.
RANDOM_CHARS = 8
WORK_ORDER = "WO-"
MANIFEST = "MF-"


def random_chars(count: int = RANDOM_CHARS) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(count))


def new_work_order_number() -> str:
    return f"{WORK_ORDER}{random_chars()}"


def new_manifest_number() -> str:
    return f"{MANIFEST}{random_chars()}"


def new_batch_id(now: datetime) -> str:
    return f"B-{now:%Y%m%d}-{random_chars(6)}"


def canonical(text: str, prefix: str, what: str) -> str:
    """What a person typed or a scanner read, in stored form (case, spacing, O→0, I/L→1).

    A text that can't be such a number names nothing, like a wrong one: ``NotFound``."""
    cleaned = text.strip().upper().replace(" ", "").replace("-", "")
    letters = prefix.rstrip("-")
    if len(cleaned) == len(letters) + RANDOM_CHARS:
        cleaned = cleaned.removeprefix(letters)
    cleaned = cleaned.translate(str.maketrans("OIL", "011"))
    if len(cleaned) != RANDOM_CHARS or any(char not in ALPHABET for char in cleaned):
        raise NotFound(f"No {what} {text!r}.", number=text)
    return f"{prefix}{cleaned}"
