"""Checking a shopper's photo before it is kept: a real image of an accepted type and size."""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass

from reclaim.errors import ValidationFailed

MAX_PHOTOS_PER_LINE = 3
# Told by the file's first bytes, never by its name or the browser's claim.
SIGNATURES: tuple[tuple[bytes, int, str, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", "png"),
    (b"WEBP", 8, "image/webp", "webp"),
    (b"ftypheic", 4, "image/heic", "heic"),
    (b"ftypheix", 4, "image/heic", "heic"),
    (b"ftypmif1", 4, "image/heic", "heic"),
)


@dataclass(frozen=True, slots=True)
class Photo:
    storage_key: str
    content_type: str
    size_bytes: int
    sha256: str


def sniff(data: bytes) -> tuple[str, str] | None:
    for magic, offset, content_type, ext in SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            if content_type == "image/webp" and not data.startswith(b"RIFF"):
                continue
            return content_type, ext
    return None


def file_size(size: int, *, up: bool = False) -> str:
    """A size in words a shopper can compare: 8 MB, 1.5 MB, 900 KB (never "0 MB").

    A file over a limit is rounded up, so it never reads as the limit itself."""
    value, unit = (size / 1_048_576, "MB") if size >= 1_048_576 else (size / 1024, "KB")
    tenths = math.ceil(value * 10) if up else math.floor(value * 10)
    return f"{tenths / 10:.1f}".removesuffix(".0") + f" {unit}"


def check_photo(
    filename: str, data: bytes, max_bytes: int, *, size: int | None = None
) -> tuple[str, str]:
    """The photo's content type and extension, or a message saying what is wrong with it.

    ``size`` is the whole file's size when only its first ``max_bytes + 1`` bytes were read."""
    name = filename or "The file"
    if not data:
        raise ValidationFailed(f"{name} is empty.")
    if len(data) > max_bytes:
        raise ValidationFailed(
            f"{name} is {file_size(max(size or 0, len(data)), up=True)}; photos can be up to "
            f"{file_size(max_bytes)}."
        )
    kind = sniff(data)
    if kind is None:
        raise ValidationFailed(f"{name} isn't a photo we can use: send a JPEG, PNG, WebP or HEIC.")
    return kind


def new_photo(data: bytes, content_type: str, ext: str) -> Photo:
    """A checked photo under a storage key nobody can guess."""
    return Photo(
        storage_key=f"photos/{secrets.token_urlsafe(18)}.{ext}",
        content_type=content_type,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
