"""Domain errors. They carry no HTTP codes: ``api/`` and the CLI translate them."""

from __future__ import annotations

from typing import Any


class ReclaimError(Exception):
    """Base of every error the domain raises on purpose."""

    code = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(ReclaimError):
    code = "not_found"


class ValidationFailed(ReclaimError):
    code = "validation_failed"


class Conflict(ReclaimError):
    """The request is well formed but clashes with the current state."""

    code = "conflict"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class NotReturnable(Conflict):
    code = "not_returnable"


class QuantityExceeded(Conflict):
    code = "quantity_exceeded"


class CurrencyMismatch(ValidationFailed):
    code = "currency_mismatch"


class Unauthorized(ReclaimError):
    code = "unauthorized"


class Forbidden(ReclaimError):
    code = "forbidden"


class AmountExceeded(Conflict):
    """Money asked for is more than is left to give back (or than a payment captured)."""

    code = "amount_exceeded"


class InsufficientCredit(Conflict):
    code = "insufficient_credit"


class NotDue(Conflict):
    """The policy's refund timing hasn't reached this line yet (not scanned, received or
    inspected), or the return is held for a person to look at first."""

    code = "not_due"
