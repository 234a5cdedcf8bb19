"""Store credit over the API: what a spend asks for, and balances and ledger entries shown."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from reclaim.kit.money import MAX_MINOR
from reclaim.orders.schemas import Currency, Strict
from reclaim.refunds import credit
from reclaim.refunds.models import CreditTransaction


class SpendIn(Strict):
    amount_minor: Annotated[int, Field(gt=0, le=MAX_MINOR, strict=True)] = Field(
        description="How much credit to take, in minor units (1999 is 19.99 USD)"
    )
    currency: Currency
    reference: str = Field(
        min_length=1,
        max_length=credit.MAX_REFERENCE,
        description="The shop's checkout or order id: the same reference again gets the first "
        "spend back, never a second one",
    )


class BalanceOut(BaseModel):
    currency: str
    balance_minor: int


class CreditEntryOut(BaseModel):
    id: int
    kind: str = Field(description="issue, bonus, goodwill, spend or expire")
    amount_minor: int = Field(description="As the customer sees it: credit added is positive")
    currency: str
    at: datetime
    return_number: str | None = Field(default=None, description="The RMA it was issued for")
    reference: str | None = None
    memo: str | None = None
    expires_at: datetime | None = None
    remaining_minor: int | None = Field(
        default=None, description="Credit issued: what is left of it to spend"
    )


class StoreCreditOut(BaseModel):
    customer: str = Field(description="The shop's customer id, or the e-mail if it gave none")
    balances: list[BalanceOut]
    entries: list[CreditEntryOut] = Field(description="Newest first")
    next_cursor: int | None = Field(default=None, description="Pass as ?after= for more")


class SpendOut(BaseModel):
    spend: CreditEntryOut
    balance_minor: int = Field(description="The customer's balance in that currency after it")


def entry_out(txn: CreditTransaction, return_number: str | None = None) -> CreditEntryOut:
    return CreditEntryOut(
        id=txn.id,
        kind=txn.kind,
        amount_minor=credit.signed(txn),
        currency=txn.currency,
        at=txn.at,
        return_number=return_number,
        reference=txn.reference,
        memo=txn.memo,
        expires_at=txn.expires_at,
        remaining_minor=txn.remaining_minor,
    )
