"""Money is an integer amount of minor units plus an ISO 4217 currency; never a float."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext

from reclaim.errors import CurrencyMismatch, ValidationFailed

# Currencies whose minor unit is not 1/100. Everything else ISO lists uses two decimals.
_MINOR_DIGITS = {
    "BHD": 3,
    "CLP": 0,
    "IQD": 3,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "PYG": 0,
    "TND": 3,
    "UGX": 0,
    "VND": 0,
    "XAF": 0,
    "XOF": 0,
}
KNOWN_CURRENCIES = frozenset(
    {
        "AED",
        "AUD",
        "BRL",
        "CAD",
        "CHF",
        "CNY",
        "CZK",
        "DKK",
        "EUR",
        "GBP",
        "HKD",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "MXN",
        "MYR",
        "NOK",
        "NZD",
        "PHP",
        "PLN",
        "RON",
        "SAR",
        "SEK",
        "SGD",
        "THB",
        "TRY",
        "TWD",
        "USD",
        "ZAR",
    }
    | set(_MINOR_DIGITS)
)
MAX_MINOR = 10**13  # a hundred billion in a two-decimal currency: larger is a typo, not an order
# Decimal exponents beyond these can't be an amount; refusing them early keeps arithmetic exact.
_MAX_INTEGER_DIGITS = 16
_MAX_FRACTION_DIGITS = 40


def minor_digits(currency: str) -> int:
    return _MINOR_DIGITS.get(currency, 2)


def check_currency(code: str) -> str:
    code = code.strip().upper()
    if code not in KNOWN_CURRENCIES:
        raise ValidationFailed(f"Unknown currency {code!r}: use an ISO 4217 code such as USD.")
    return code


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError("Money.amount is an int of minor units")

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(
                f"Cannot combine {self.currency} with {other.currency}.",
                expected=self.currency,
                got=other.currency,
            )

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def times(self, quantity: int) -> Money:
        return Money(self.amount * quantity, self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def from_decimal(cls, value: Decimal | str, currency: str) -> Money:
        """Parse a major-unit amount such as ``"12.99"``; refuse more precision than exists."""
        try:
            dec = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise ValidationFailed(f"{value!r} is not an amount.") from exc
        if not dec.is_finite():
            raise ValidationFailed(f"{value!r} is not an amount.")
        digits = minor_digits(currency)
        if dec and dec.adjusted() >= _MAX_INTEGER_DIGITS:
            raise ValidationFailed(f"{value} is too large to be an amount.")
        exponent = dec.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -_MAX_FRACTION_DIGITS:
            raise ValidationFailed(f"{value} has more decimals than {currency} allows ({digits}).")
        # Wide enough that scaling is exact: the default 28 digits would round silently.
        with localcontext() as ctx:
            ctx.prec = _MAX_INTEGER_DIGITS + _MAX_FRACTION_DIGITS + 4
            scaled = dec.scaleb(digits)
            if scaled != scaled.to_integral_value():
                raise ValidationFailed(
                    f"{value} has more decimals than {currency} allows ({digits})."
                )
            return cls(int(scaled), currency)

    def to_decimal(self) -> Decimal:
        return Decimal(self.amount).scaleb(-minor_digits(self.currency))

    def format(self) -> str:
        digits = minor_digits(self.currency)
        return f"{self.to_decimal():,.{digits}f} {self.currency}"


def allocate(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` minor units in proportion to ``weights`` so the parts add up exactly.

    Largest-remainder method: every part is floor-rounded, then the units left over go to the
    parts with the largest remainders (earliest first on ties), so nothing is lost or invented.
    """
    if not weights:
        if total:
            raise ValueError(f"cannot allocate {total} over no parts")
        return []
    weight_sum = sum(weights)
    if weight_sum == 0:
        if total:
            raise ValueError(f"cannot allocate {total} over parts that all weigh zero")
        return [0] * len(weights)
    parts = [total * w // weight_sum for w in weights]
    remainders = [(total * w % weight_sum, -i) for i, w in enumerate(weights)]
    for _, neg_index in sorted(remainders, reverse=True)[: total - sum(parts)]:
        parts[-neg_index] += 1
    return parts
