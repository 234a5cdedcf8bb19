"""Pure return rules: values in, values out, no I/O."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reclaim.errors import NotReturnable, QuantityExceeded, ValidationFailed
from reclaim.returns.states import Resolution

# Crockford's base32: no I, L, O or U, so a number read aloud or typed is hard to get wrong.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
NUMBER_PREFIX = "RMA-"
# 50 random bits: guessing one live return among millions stays a one-in-a-billion shot.
_NUMBER_CHARS = 10
MAX_LINE_QUANTITY = 10_000


def new_return_number(token: bytes | None = None) -> str:
    raw = int.from_bytes(token if token is not None else secrets.token_bytes(7), "big")
    chars = []
    for _ in range(_NUMBER_CHARS):
        raw, digit = divmod(raw, 32)
        chars.append(_ALPHABET[digit])
    body = "".join(chars)
    return f"{NUMBER_PREFIX}{body[:5]}-{body[5:]}"


def normalise_return_number(text: str) -> str:
    """What a person typed or a scanner read, in the canonical form (case, spacing, O→0)."""
    cleaned = text.strip().upper().replace(" ", "").replace("-", "")
    if len(cleaned) == len(NUMBER_PREFIX) - 1 + _NUMBER_CHARS:
        cleaned = cleaned.removeprefix(NUMBER_PREFIX.rstrip("-"))
    cleaned = cleaned.translate(str.maketrans("OIL", "011"))
    if len(cleaned) != _NUMBER_CHARS or any(c not in _ALPHABET for c in cleaned):
        raise ValidationFailed(f"{text!r} is not a return number (like RMA-7KQ3X-M9P2D).")
    return f"{NUMBER_PREFIX}{cleaned[:5]}-{cleaned[5:]}"


@dataclass(frozen=True, slots=True)
class RequestedLine:
    line_ref: str
    quantity: int
    resolution: Resolution


@dataclass(frozen=True, slots=True)
class LineStock:
    """What the order line allows: bought, and already held by other returns."""

    line_ref: str
    quantity: int
    returned_quantity: int
    returnable: bool = True

    @property
    def returnable_quantity(self) -> int:
        return self.quantity - self.returned_quantity


def check_requested_lines(requested: Sequence[RequestedLine], stock: Iterable[LineStock]) -> None:
    """Refuse an empty request, repeated lines, non-returnable items and over-returns."""
    if not requested:
        raise ValidationFailed("A return needs at least one line.")
    by_ref = {line.line_ref: line for line in stock}
    seen: set[str] = set()
    for line in requested:
        if line.line_ref in seen:
            raise ValidationFailed(
                f"Order line {line.line_ref!r} appears twice; put the whole quantity on one line."
            )
        seen.add(line.line_ref)
        if not 0 < line.quantity <= MAX_LINE_QUANTITY:
            raise ValidationFailed(f"Quantity {line.quantity} is not a quantity one can return.")
        if line.resolution is Resolution.KEEP_ITEM:
            raise ValidationFailed("Keeping the item is offered by the policy, not requested.")
        known = by_ref.get(line.line_ref)
        if known is None:
            raise ValidationFailed(f"The order has no line {line.line_ref!r}.")
        if not known.returnable:
            raise NotReturnable(f"Order line {line.line_ref!r} is not returnable.")
        if line.quantity > known.returnable_quantity:
            raise QuantityExceeded(
                f"Only {max(known.returnable_quantity, 0)} of order line {line.line_ref!r} "
                f"can still be returned; {line.quantity} were asked for.",
                line_ref=line.line_ref,
                returnable=max(known.returnable_quantity, 0),
            )


@dataclass(frozen=True, slots=True)
class LineProgress:
    quantity: int
    received_quantity: int
    graded: bool
    dispositioned: bool


def all_received_graded(lines: Iterable[LineProgress]) -> bool:
    """Inspection is over when every line that arrived has a grade (and something arrived)."""
    arrived = [line for line in lines if line.received_quantity > 0]
    return bool(arrived) and all(line.graded for line in arrived)


def ready_to_complete(lines: Iterable[LineProgress]) -> bool:
    arrived = [line for line in lines if line.received_quantity > 0]
    return bool(arrived) and all(line.dispositioned for line in arrived)
