"""The store-credit ledger: double entry, with issued credit kept as lots that can expire.

Every transaction posts to the customer's account and to one of the merchant's
counter-accounts (``merchant:returns``, ``merchant:bonus``, ``merchant:sales``,
``merchant:breakage``), and its postings sum to zero. A customer's balance only goes down by a
conditional UPDATE that keeps it at or above zero; the table's CHECK is the backstop.

Locks are taken in one order by every writer, so concurrent ones queue instead of
deadlocking: the customer's account first, then that customer's lots, then the merchant's
counter-accounts in key order. The counter-accounts are shared by every customer, so they
are moved last, at the end of the work.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.db import insert_ignoring_conflict
from reclaim.errors import Conflict, InsufficientCredit, NotFound, ValidationFailed
from reclaim.kit.money import MAX_MINOR, Money, check_currency
from reclaim.notifications.outbox import enqueue
from reclaim.orders.models import Customer
from reclaim.refunds.models import CreditAccount, CreditPosting, CreditTransaction
from reclaim.returns.lifecycle import Actor
from reclaim.returns.models import Return

ISSUE, BONUS, GOODWILL, SPEND, EXPIRE = "issue", "bonus", "goodwill", "spend", "expire"
# Transactions that add credit are lots: spends and expiry take from what remains of them.
LOTS = (ISSUE, BONUS, GOODWILL)
# The merchant's side of each kind of transaction.
COUNTER = {
    ISSUE: "returns",
    BONUS: "bonus",
    GOODWILL: "goodwill",
    SPEND: "sales",
    EXPIRE: "breakage",
}
MAX_REFERENCE = 128
MAX_LOOKUP = 320


def customer_key(customer_id: int, currency: str) -> str:
    return f"customer:{customer_id}:{currency}"


def merchant_key(name: str, currency: str) -> str:
    return f"merchant:{name}:{currency}"


def signed(txn: CreditTransaction) -> int:
    """The transaction's amount as the customer sees it: credit added is positive."""
    return txn.amount_minor if txn.kind in LOTS else -txn.amount_minor


def _amount(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"The {what} must be a whole number of minor units.")
    if not 0 < value <= MAX_MINOR:
        raise ValidationFailed(f"The {what} must be between 1 and {MAX_MINOR} minor units.")
    return value


async def find_customer(session: AsyncSession, customer: str) -> Customer:
    """A customer by the shop's id, or else by the e-mail of a customer the shop gave no id."""
    wanted = customer.strip()
    if not wanted or len(wanted) > MAX_LOOKUP or "\x00" in wanted:
        raise NotFound(f"No customer {customer!r}.")
    found = await session.scalar(select(Customer).where(Customer.external_id == wanted))
    if found is None:
        # The customer the order import would pick for this e-mail: the oldest without an id.
        found = await session.scalar(
            select(Customer)
            .where(Customer.external_id.is_(None), func.lower(Customer.email) == wanted.lower())
            .order_by(Customer.id)
            .limit(1)
        )
    if found is None:
        raise NotFound(f"No customer {customer!r}: use the shop's customer id or e-mail.")
    return found


async def _account_id(
    session: AsyncSession, key: str, currency: str, customer_id: int | None = None
) -> int:
    """The account's id, created on first use; racing creators both get the one row."""
    found = await session.scalar(select(CreditAccount.id).where(CreditAccount.key == key))
    if found is not None:
        return found
    await insert_ignoring_conflict(
        session,
        CreditAccount,
        {"key": key, "customer_id": customer_id, "currency": currency, "balance_minor": 0},
        ["key"],
    )
    created = await session.scalar(select(CreditAccount.id).where(CreditAccount.key == key))
    assert created is not None  # inserted just now, or by the racer we waited for
    return created


async def _customer_balance(
    session: AsyncSession, customer_id: int, currency: str
) -> tuple[int, int] | None:
    """The customer's account (id, balance) in the currency, locked; None if there is none."""
    row = (
        await session.execute(
            select(CreditAccount.id, CreditAccount.balance_minor)
            .where(CreditAccount.key == customer_key(customer_id, currency))
            .with_for_update()
        )
    ).one_or_none()
    return (row[0], row[1]) if row else None


async def _move(session: AsyncSession, account_id: int, delta: int) -> int:
    """Move an account's balance; a customer's may not go below zero. The new balance."""
    statement = (
        update(CreditAccount)
        .where(CreditAccount.id == account_id)
        .values(balance_minor=CreditAccount.balance_minor + delta)
        .returning(CreditAccount.balance_minor)
        .execution_options(synchronize_session=False)
    )
    if delta < 0:
        statement = statement.where(
            (CreditAccount.customer_id.is_(None)) | (CreditAccount.balance_minor >= -delta)
        )
    balance = (await session.execute(statement)).scalar_one_or_none()
    if balance is None:
        raise InsufficientCredit("Not enough store credit for this.", balance_minor=0)
    return int(balance)


class _Counters:
    """The merchant's side of the work, moved at its end in key order (see the module doc)."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._deltas: dict[str, int] = defaultdict(int)

    async def take(self, session: AsyncSession, txn: CreditTransaction) -> int:
        """The counter-account of the transaction, which it will move by the opposite amount."""
        key = merchant_key(COUNTER[txn.kind], txn.currency)
        if key not in self._ids:
            self._ids[key] = await _account_id(session, key, txn.currency)
        self._deltas[key] -= signed(txn)
        return self._ids[key]

    async def post(self, session: AsyncSession) -> None:
        for key in sorted(self._deltas):
            if self._deltas[key]:
                await _move(session, self._ids[key], self._deltas[key])


async def _record(
    session: AsyncSession, txn: CreditTransaction, customer_account: int, counters: _Counters
) -> CreditTransaction:
    """Write the transaction and its two postings; the balances are moved by the caller."""
    session.add(txn)
    await session.flush()
    amount = signed(txn)
    merchant_account = await counters.take(session, txn)
    session.add_all(
        [
            CreditPosting(transaction_id=txn.id, account_id=customer_account, amount_minor=amount),
            CreditPosting(transaction_id=txn.id, account_id=merchant_account, amount_minor=-amount),
        ]
    )
    return txn


async def issue(
    session: AsyncSession,
    *,
    customer_id: int,
    currency: str,
    principal_minor: int,
    bonus_minor: int,
    ret: Return | None,
    actor: Actor,
    expires_after_days: int | None,
    memo: str | None = None,
) -> list[CreditTransaction]:
    """Credit a customer: an ``issue`` lot, and a ``bonus`` lot when there is a bonus.

    Only the ledger: what the order gave back is the caller's to count (the principal is;
    the bonus is the merchant's gift and is not)."""
    currency = check_currency(currency)
    _amount(principal_minor, "credit")
    if bonus_minor:
        _amount(bonus_minor, "bonus")
    if ret is not None and ret.customer_id != customer_id:
        raise ValidationFailed(f"Return {ret.number} is not this customer's.")
    expires_at = actor.now + timedelta(days=expires_after_days) if expires_after_days else None
    account = await _account_id(session, customer_key(customer_id, currency), currency, customer_id)
    balance = await _move(session, account, principal_minor + bonus_minor)
    counters = _Counters()
    made = [
        await _record(
            session,
            CreditTransaction(
                customer_id=customer_id,
                kind=kind,
                amount_minor=amount,
                currency=currency,
                return_id=ret.id if ret else None,
                memo=memo,
                actor=actor.name,
                expires_at=expires_at,
                remaining_minor=amount,
                at=actor.now,
            ),
            account,
            counters,
        )
        for kind, amount in ((ISSUE, principal_minor), (BONUS, bonus_minor))
        if amount
    ]
    await counters.post(session)
    enqueue(
        session,
        "credit.issued",
        ret.number if ret else customer_key(customer_id, currency),
        {
            "return": ret.number if ret else None,
            "amount_minor": principal_minor + bonus_minor,
            "currency": currency,
            "balance_minor": balance,
        },
        actor.now,
    )
    return made


@dataclass(frozen=True, slots=True)
class Spend:
    transaction: CreditTransaction
    balance_minor: int  # the customer's balance in that currency after it
    # The reference was spent before: this is that first spend, and nothing moved now.
    repeated: bool


def _reference(reference: str) -> str:
    reference = reference.strip()
    if not reference or len(reference) > MAX_REFERENCE or "\x00" in reference:
        raise ValidationFailed(
            f"The reference (the shop's checkout or order id) must be 1 to {MAX_REFERENCE} "
            "characters."
        )
    return reference


async def _repeat(
    session: AsyncSession, customer_id: int, reference: str, amount: int, currency: str
) -> Spend | None:
    """The earlier spend of this reference, if there is one and it asked the same."""
    earlier = await session.scalar(
        select(CreditTransaction).where(
            CreditTransaction.customer_id == customer_id,
            CreditTransaction.kind == SPEND,
            CreditTransaction.reference == reference,
        )
    )
    if earlier is None:
        return None
    if (earlier.amount_minor, earlier.currency) != (amount, currency):
        spent = Money(earlier.amount_minor, earlier.currency).format()
        raise Conflict(
            f"Reference {reference!r} already spent {spent}; a different amount needs a new "
            "reference.",
            reference=reference,
        )
    balance = await session.scalar(
        select(CreditAccount.balance_minor).where(
            CreditAccount.key == customer_key(customer_id, currency)
        )
    )
    return Spend(earlier, int(balance or 0), repeated=True)


def _short(balance: int, currency: str) -> InsufficientCredit:
    return InsufficientCredit(
        f"Not enough store credit: the balance is {Money(balance, currency).format()}.",
        balance_minor=balance,
        currency=currency,
    )


async def _lots(
    session: AsyncSession, customer_id: int, currency: str, now: datetime, *, due: bool
) -> list[tuple[int, int]]:
    """(id, remaining) of the customer's lots with credit left, locked: those past their
    expiry (``due``), or else the spendable ones in the order spends take from them."""
    live = CreditTransaction.expires_at.is_(None) | (CreditTransaction.expires_at > now)
    query = (
        select(CreditTransaction.id, CreditTransaction.remaining_minor)
        .where(
            CreditTransaction.customer_id == customer_id,
            CreditTransaction.currency == currency,
            CreditTransaction.kind.in_(LOTS),
            CreditTransaction.remaining_minor > 0,
            ~live if due else live,
        )
        # Soonest to expire first, never-expiring last; oldest first among equals.
        .order_by(
            CreditTransaction.expires_at.is_(None),
            CreditTransaction.expires_at,
            CreditTransaction.id,
        )
        .with_for_update()
    )
    return [(row[0], row[1] or 0) for row in (await session.execute(query)).all()]


async def _expire_lot(
    session: AsyncSession,
    lot: tuple[int, int],
    customer_id: int,
    currency: str,
    account: int,
    now: datetime,
    counters: _Counters,
) -> CreditTransaction | None:
    """Turn what is left of a lot into an ``expire`` transaction; None if it is gone already.

    The lot's remainder is taken by a conditional update, so of two racing sweeps only one
    expires it; the reference names the lot, so the ledger can't hold its expiry twice."""
    lot_id, remaining = lot
    taken = await session.execute(
        update(CreditTransaction)
        .where(CreditTransaction.id == lot_id, CreditTransaction.remaining_minor == remaining)
        .values(remaining_minor=0)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return None
    await _move(session, account, -remaining)
    return await _record(
        session,
        CreditTransaction(
            customer_id=customer_id,
            kind=EXPIRE,
            amount_minor=remaining,
            currency=currency,
            reference=f"lot:{lot_id}",
            actor="expiry",
            at=now,
        ),
        account,
        counters,
    )


async def spend(
    session: AsyncSession,
    *,
    customer: Customer,
    amount_minor: int,
    currency: str,
    reference: str,
    actor: Actor,
) -> Spend:
    """Spend store credit at the shop's checkout, once per ``reference``.

    The same reference again gets the first spend back (nothing moves); with another amount,
    Conflict. Too little credit: InsufficientCredit, naming the balance. Credit past its
    expiry is expired first and can't be spent."""
    amount = _amount(amount_minor, "amount")
    currency = check_currency(currency)
    reference = _reference(reference)
    repeat = await _repeat(session, customer.id, reference, amount, currency)
    if repeat is not None:
        return repeat
    held = await _customer_balance(session, customer.id, currency)
    if held is None:
        raise _short(0, currency)
    account, balance = held
    # Asked again now that the account is ours: a racing twin may have spent it meanwhile.
    repeat = await _repeat(session, customer.id, reference, amount, currency)
    if repeat is not None:
        return repeat
    expiring = await _lots(session, customer.id, currency, actor.now, due=True)
    spendable = balance - sum(remaining for _, remaining in expiring)
    if amount > spendable:
        raise _short(spendable, currency)
    counters = _Counters()
    for lot in expiring:
        await _expire_lot(session, lot, customer.id, currency, account, actor.now, counters)
    balance = await _move(session, account, -amount)
    left = amount
    for lot_id, remaining in await _lots(session, customer.id, currency, actor.now, due=False):
        take = min(left, remaining)
        await session.execute(
            update(CreditTransaction)
            .where(CreditTransaction.id == lot_id)
            .values(remaining_minor=CreditTransaction.remaining_minor - take)
            .execution_options(synchronize_session=False)
        )
        left -= take
        if not left:
            break
    if left:
        # The balance is the sum of the lots' remainders; a gap is a bug, so nothing is kept.
        raise Conflict("The store-credit ledger is out of step; nothing was spent.")
    txn = await _record(
        session,
        CreditTransaction(
            customer_id=customer.id,
            kind=SPEND,
            amount_minor=amount,
            currency=currency,
            reference=reference,
            actor=actor.name,
            at=actor.now,
        ),
        account,
        counters,
    )
    await counters.post(session)
    return Spend(txn, balance, repeated=False)


async def expire_due(session: AsyncSession, now: datetime) -> list[CreditTransaction]:
    """Expire what is left of every lot past its expiry; the ``expire`` transactions made.

    Accounts are locked in (customer, currency) order, so racing sweeps queue, and a lot a
    racer expired first is skipped."""
    due = (
        await session.execute(
            select(CreditTransaction.customer_id, CreditTransaction.currency)
            .where(
                CreditTransaction.kind.in_(LOTS),
                CreditTransaction.remaining_minor > 0,
                CreditTransaction.expires_at <= now,
            )
            .distinct()
            .order_by(CreditTransaction.customer_id, CreditTransaction.currency)
        )
    ).all()
    counters = _Counters()
    expired: list[CreditTransaction] = []
    for customer_id, currency in due:
        held = await _customer_balance(session, customer_id, currency)
        assert held is not None  # a lot is always posted to its customer's account
        for lot in await _lots(session, customer_id, currency, now, due=True):
            made = await _expire_lot(session, lot, customer_id, currency, held[0], now, counters)
            if made is not None:
                expired.append(made)
    await counters.post(session)
    return expired


async def balances(session: AsyncSession, customer_id: int) -> dict[str, int]:
    """The customer's store credit per currency."""
    rows = await session.execute(
        select(CreditAccount.currency, CreditAccount.balance_minor)
        .where(CreditAccount.customer_id == customer_id)
        .order_by(CreditAccount.currency)
    )
    return {currency: int(balance) for currency, balance in rows.all()}


@dataclass(frozen=True, slots=True)
class Entry:
    """A line of a customer's statement: the transaction, and the return it was issued for."""

    transaction: CreditTransaction
    return_number: str | None


async def statement(
    session: AsyncSession,
    customer_id: int,
    currency: str | None,
    limit: int,
    after: int | None,
) -> tuple[list[Entry], int | None]:
    """The customer's transactions, newest first, and the cursor of the next page (if any)."""
    query = (
        select(CreditTransaction, Return.number)
        .outerjoin(Return, Return.id == CreditTransaction.return_id)
        .where(CreditTransaction.customer_id == customer_id)
        .order_by(CreditTransaction.id.desc())
        .limit(limit + 1)
    )
    if currency is not None:
        query = query.where(CreditTransaction.currency == check_currency(currency))
    if after is not None:
        query = query.where(CreditTransaction.id < after)
    rows = (await session.execute(query)).all()
    entries = [Entry(txn, number) for txn, number in rows[:limit]]
    more = len(rows) > limit
    return entries, entries[-1].transaction.id if more else None


async def credit_of_return(session: AsyncSession, return_id: int) -> list[CreditTransaction]:
    """Credit issued for a return (and its bonus), oldest first."""
    return list(
        await session.scalars(
            select(CreditTransaction)
            .where(CreditTransaction.return_id == return_id)
            .order_by(CreditTransaction.id)
        )
    )
