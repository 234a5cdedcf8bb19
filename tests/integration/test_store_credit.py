"""The store-credit ledger: issuing, spending under races, expiry, and the ``reclaim credit``
commands, on both databases. Balances are checked against the postings read back by SQL."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.db import transaction
from reclaim.errors import (
    Conflict,
    InsufficientCredit,
    NotFound,
    ReclaimError,
    ValidationFailed,
)
from reclaim.kit.clock import utcnow
from reclaim.orders.models import Customer
from reclaim.orders.schemas import CustomerIn
from reclaim.orders.service import upsert_customer
from reclaim.policy.loader import load as load_policy
from reclaim.refunds import credit
from reclaim.returns.models import Return
from reclaim.worker.jobs import default_jobs
from tests.factories import actor, seed_order, seed_return
from tests.integration.helpers import rows, run_cli, scalar, table_rows

Sessions = async_sessionmaker[AsyncSession]
SHOP_ID = "cust-ann@example.com"  # the shop's id of the customer tests.factories orders for
LEDGER_TABLES = ("credit_accounts", "credit_transactions", "credit_postings", "outbox")


async def _customer(sessions: Sessions, who: str = SHOP_ID) -> Customer:
    async with transaction(sessions) as session:
        return await credit.find_customer(session, who)


async def _issue(
    sessions: Sessions,
    principal: int,
    *,
    bonus: int = 0,
    days: int | None = None,
    ago: timedelta = timedelta(0),
    ret: Return | None = None,
    currency: str = "USD",
) -> list[Any]:
    customer = await _customer(sessions)
    async with transaction(sessions) as session:
        return await credit.issue(
            session,
            customer_id=customer.id,
            currency=currency,
            principal_minor=principal,
            bonus_minor=bonus,
            ret=ret,
            actor=actor("agent", utcnow() - ago),
            expires_after_days=days,
        )


async def _spend(
    sessions: Sessions, amount: Any, reference: str = "checkout-1", currency: str = "USD"
) -> credit.Spend:
    customer = await _customer(sessions)
    async with transaction(sessions) as session:
        return await credit.spend(
            session,
            customer=customer,
            amount_minor=amount,
            currency=currency,
            reference=reference,
            actor=actor("api:shop"),
        )


async def _balance(sessions: Sessions, key: str) -> int:
    return int(
        await scalar(sessions, "SELECT balance_minor FROM credit_accounts WHERE key = :k", k=key)
    )


async def _lots(sessions: Sessions) -> list[tuple[str, int, int]]:
    return [
        (kind, int(amount), int(left))
        for kind, amount, left in await rows(
            sessions,
            "SELECT kind, amount_minor, remaining_minor FROM credit_transactions"
            " WHERE remaining_minor IS NOT NULL ORDER BY id",
        )
    ]


async def assert_ledger_balances(sessions: Sessions) -> None:
    """Each account's balance is the sum of its postings, each transaction's postings sum to
    zero, and each customer's balance is what is left of their lots."""
    off = await rows(
        sessions,
        "SELECT a.key, a.balance_minor, coalesce(sum(p.amount_minor), 0) FROM credit_accounts a"
        " LEFT JOIN credit_postings p ON p.account_id = a.id GROUP BY a.key, a.balance_minor"
        " HAVING a.balance_minor != coalesce(sum(p.amount_minor), 0)",
    )
    assert off == []
    unbalanced = await rows(
        sessions,
        "SELECT transaction_id FROM credit_postings GROUP BY transaction_id"
        " HAVING sum(amount_minor) != 0 OR count(*) != 2",
    )
    assert unbalanced == []
    assert await scalar(sessions, "SELECT coalesce(sum(amount_minor), 0) FROM credit_postings") == 0
    lots_off = await rows(
        sessions,
        "SELECT a.key FROM credit_accounts a WHERE a.customer_id IS NOT NULL AND a.balance_minor"
        " != (SELECT coalesce(sum(t.remaining_minor), 0) FROM credit_transactions t"
        " WHERE t.customer_id = a.customer_id AND t.currency = a.currency"
        " AND t.remaining_minor IS NOT NULL)",
    )
    assert lots_off == []


async def _counts(sessions: Sessions) -> dict[str, Any]:
    state: dict[str, Any] = {
        table: await scalar(sessions, f"SELECT count(*) FROM {table}") for table in LEDGER_TABLES
    }
    state["balances"] = await rows(
        sessions, "SELECT key, balance_minor FROM credit_accounts ORDER BY key"
    )
    state["lots"] = await _lots(sessions)
    return state


async def _seeded(sessions: Sessions) -> Customer:
    await seed_order(sessions)
    return await _customer(sessions)


# --- issuing -------------------------------------------------------------------------------


async def test_credit_for_a_return_is_a_lot_and_a_bonus_lot_with_balanced_postings(
    sessions: Sessions,
) -> None:
    customer = await _seeded(sessions)
    number = await seed_return(sessions)
    async with transaction(sessions) as session:
        ret = await session.scalar(select(Return).where(Return.number == number))
    made = await _issue(sessions, 2500, bonus=250, days=365, ret=ret)

    assert [(txn.kind, txn.amount_minor, txn.remaining_minor) for txn in made] == [
        ("issue", 2500, 2500),
        ("bonus", 250, 250),
    ]
    assert made[0].expires_at is not None
    assert timedelta(days=364) < made[0].expires_at - utcnow() <= timedelta(days=365)
    assert await _balance(sessions, f"customer:{customer.id}:USD") == 2750
    assert await _balance(sessions, "merchant:returns:USD") == -2500
    assert await _balance(sessions, "merchant:bonus:USD") == -250
    await assert_ledger_balances(sessions)
    ((aggregate, payload),) = await rows(
        sessions, "SELECT aggregate, payload FROM outbox WHERE topic = 'credit.issued'"
    )
    payload = payload if isinstance(payload, dict) else json.loads(payload)
    assert aggregate == number
    assert payload == {
        "return": number,
        "amount_minor": 2750,
        "currency": "USD",
        "balance_minor": 2750,
    }
    async with transaction(sessions) as session:
        assert [txn.kind for txn in await credit.credit_of_return(session, ret.id)] == [
            "issue",
            "bonus",
        ]


async def test_racing_first_credits_share_the_accounts_they_create(sessions: Sessions) -> None:
    customer = await _seeded(sessions)

    async def one(amount: int) -> Any:
        async with transaction(sessions) as session:
            return await credit.issue(
                session,
                customer_id=customer.id,
                currency="USD",
                principal_minor=amount,
                bonus_minor=1,
                ret=None,
                actor=actor("agent"),
                expires_after_days=None,
            )

    results = await asyncio.gather(*(one(100 + i) for i in range(20)), return_exceptions=True)

    assert all(isinstance(r, list) for r in results), results
    assert await rows(sessions, "SELECT key FROM credit_accounts ORDER BY key") == [
        (f"customer:{customer.id}:USD",),
        ("merchant:bonus:USD",),
        ("merchant:returns:USD",),
    ]
    assert await _balance(sessions, f"customer:{customer.id}:USD") == sum(
        101 + i for i in range(20)
    )
    await assert_ledger_balances(sessions)


async def test_issuing_leaves_what_the_order_gave_back_to_the_settlement(
    sessions: Sessions,
) -> None:
    await _seeded(sessions)
    await _issue(sessions, 1000, bonus=100)

    assert await scalar(sessions, "SELECT given_back_minor FROM orders") == 0


@pytest.mark.parametrize(
    ("principal", "bonus", "currency"),
    [(0, 0, "USD"), (-5, 0, "USD"), (100, -1, "USD"), (10**14, 0, "USD"), (100, 0, "XYZ")],
)
async def test_issuing_nothing_negative_huge_or_in_an_unknown_currency_is_refused(
    sessions: Sessions, principal: int, bonus: int, currency: str
) -> None:
    await _seeded(sessions)
    before = await _counts(sessions)

    with pytest.raises(ValidationFailed):
        await _issue(sessions, principal, bonus=bonus, currency=currency)

    assert await _counts(sessions) == before


# --- spending ------------------------------------------------------------------------------


async def test_hundred_concurrent_spends_never_overdraw_and_the_ledger_sums_to_the_balance(
    sessions: Sessions,
) -> None:
    customer = await _seeded(sessions)
    await _issue(sessions, 600, days=30)
    await _issue(sessions, 400)  # two lots, so spends cross from one to the other
    balance, price, contenders = 1000, 70, 100

    async def one(i: int) -> Any:
        async with transaction(sessions) as session:
            return await credit.spend(
                session,
                customer=customer,
                amount_minor=price,
                currency="USD",
                reference=f"checkout-{i}",
                actor=actor("api:shop"),
            )

    results = await asyncio.gather(*(one(i) for i in range(contenders)), return_exceptions=True)

    outcomes = Counter(type(r).__name__ for r in results)
    assert outcomes == {
        "Spend": balance // price,
        "InsufficientCredit": contenders - balance // price,
    }
    left = balance - price * (balance // price)
    assert await _balance(sessions, f"customer:{customer.id}:USD") == left
    assert await _balance(sessions, "merchant:sales:USD") == price * (balance // price)
    assert await scalar(
        sessions, "SELECT count(*) FROM credit_transactions WHERE kind = 'spend'"
    ) == (balance // price)
    await assert_ledger_balances(sessions)
    refused = [r for r in results if isinstance(r, InsufficientCredit)]
    assert all(r.details["balance_minor"] < price for r in refused)


async def test_spends_take_from_the_credit_that_expires_first_and_never_expiring_last(
    sessions: Sessions,
) -> None:
    await _seeded(sessions)
    await _issue(sessions, 500)  # never expires, oldest
    await _issue(sessions, 300, days=60)
    await _issue(sessions, 200, days=10)
    await _issue(sessions, 100, days=60)  # expires with the 300, but issued later

    await _spend(sessions, 350, "a")
    assert await _lots(sessions) == [
        ("issue", 500, 500),
        ("issue", 300, 150),
        ("issue", 200, 0),
        ("issue", 100, 100),
    ]
    await _spend(sessions, 400, "b")
    assert await _lots(sessions) == [
        ("issue", 500, 350),
        ("issue", 300, 0),
        ("issue", 200, 0),
        ("issue", 100, 0),
    ]
    await assert_ledger_balances(sessions)


async def test_the_same_reference_gets_the_first_spend_back_and_never_spends_twice(
    sessions: Sessions,
) -> None:
    customer = await _seeded(sessions)
    await _issue(sessions, 1000)

    first = await _spend(sessions, 300, "order-77")
    again = await _spend(sessions, 300, "order-77")

    assert (first.repeated, again.repeated) == (False, True)
    assert again.transaction.id == first.transaction.id
    assert first.balance_minor == again.balance_minor == 700
    before = await _counts(sessions)
    with pytest.raises(Conflict, match="already spent 3.00 USD"):
        await _spend(sessions, 500, "order-77")
    assert await _counts(sessions) == before
    assert await _balance(sessions, f"customer:{customer.id}:USD") == 700


async def test_racing_spends_of_one_reference_spend_once(sessions: Sessions) -> None:
    customer = await _seeded(sessions)
    await _issue(sessions, 1000)

    async def one() -> credit.Spend:
        async with transaction(sessions) as session:
            return await credit.spend(
                session,
                customer=customer,
                amount_minor=100,
                currency="USD",
                reference="checkout-9",
                actor=actor("api:shop"),
            )

    results = await asyncio.gather(*(one() for _ in range(20)), return_exceptions=True)

    assert all(isinstance(r, credit.Spend) for r in results), results
    spends = [r for r in results if isinstance(r, credit.Spend)]
    assert sum(not r.repeated for r in spends) == 1
    assert {r.transaction.id for r in spends} == {spends[0].transaction.id}
    assert await _balance(sessions, f"customer:{customer.id}:USD") == 900
    await assert_ledger_balances(sessions)


@pytest.mark.parametrize(
    ("amount", "currency", "reference", "error"),
    [
        (0, "USD", "r", ValidationFailed),
        (-100, "USD", "r", ValidationFailed),
        (10**14, "USD", "r", ValidationFailed),
        (12.5, "USD", "r", ValidationFailed),
        (True, "USD", "r", ValidationFailed),
        ("100", "USD", "r", ValidationFailed),
        (100, "XYZ", "r", ValidationFailed),
        (100, "USD", "", ValidationFailed),
        (100, "USD", "x" * 129, ValidationFailed),
        (100, "EUR", "r", InsufficientCredit),  # no credit in that currency
        (1001, "USD", "r", InsufficientCredit),
    ],
)
async def test_bad_spends_are_refused_and_change_nothing(
    sessions: Sessions, amount: Any, currency: str, reference: str, error: type[ReclaimError]
) -> None:
    await _seeded(sessions)
    await _issue(sessions, 1000)
    before = await _counts(sessions)

    with pytest.raises(error):
        await _spend(sessions, amount, reference, currency)

    assert await _counts(sessions) == before


async def test_a_refusal_names_the_balance(sessions: Sessions) -> None:
    await _seeded(sessions)
    await _issue(sessions, 1200)

    with pytest.raises(InsufficientCredit, match=r"the balance is 12\.00 USD") as refused:
        await _spend(sessions, 1201)

    assert refused.value.details == {"balance_minor": 1200, "currency": "USD"}


async def test_a_customers_balance_can_never_be_written_below_zero(sessions: Sessions) -> None:
    customer = await _seeded(sessions)
    await _issue(sessions, 100)

    with pytest.raises(IntegrityError):
        async with transaction(sessions) as session:
            await session.execute(
                text("UPDATE credit_accounts SET balance_minor = -1 WHERE customer_id = :c"),
                {"c": customer.id},
            )


# --- expiry --------------------------------------------------------------------------------


async def test_the_sweep_expires_what_is_left_of_overdue_credit_into_breakage(
    sessions: Sessions,
) -> None:
    customer = await _seeded(sessions)
    await _issue(sessions, 500, days=30)
    await _issue(sessions, 300)
    await _spend(sessions, 200)

    async with transaction(sessions) as session:
        assert await credit.expire_due(session, utcnow() + timedelta(days=29)) == []
    async with transaction(sessions) as session:
        expired = await credit.expire_due(session, utcnow() + timedelta(days=31))

    assert [(txn.kind, txn.amount_minor) for txn in expired] == [("expire", 300)]
    assert await _balance(sessions, f"customer:{customer.id}:USD") == 300
    assert await _balance(sessions, "merchant:breakage:USD") == 300
    assert await _lots(sessions) == [("issue", 500, 0), ("issue", 300, 300)]
    async with transaction(sessions) as session:
        assert await credit.expire_due(session, utcnow() + timedelta(days=400)) == []
    await assert_ledger_balances(sessions)


async def test_racing_sweeps_expire_each_lot_once(sessions: Sessions) -> None:
    await _seeded(sessions)
    other = "cust-bo@example.com"
    async with transaction(sessions) as session:
        await upsert_customer(session, CustomerIn(id=other, email="bo@example.com"))
    for amount in (100, 200, 300):
        await _issue(sessions, amount, days=1, ago=timedelta(days=2))
    bo = await _customer(sessions, other)
    async with transaction(sessions) as session:
        await credit.issue(
            session,
            customer_id=bo.id,
            currency="EUR",
            principal_minor=400,
            bonus_minor=40,
            ret=None,
            actor=actor("agent", utcnow() - timedelta(days=2)),
            expires_after_days=1,
        )

    async def sweep() -> int:
        async with transaction(sessions) as session:
            return len(await credit.expire_due(session, utcnow()))

    results = await asyncio.gather(*(sweep() for _ in range(10)), return_exceptions=True)

    assert all(isinstance(r, int) for r in results), results
    assert sum(r for r in results if isinstance(r, int)) == 5
    assert (
        await scalar(sessions, "SELECT count(*) FROM credit_transactions WHERE kind = 'expire'")
        == 5
    )
    assert await rows(
        sessions,
        "SELECT DISTINCT balance_minor FROM credit_accounts WHERE customer_id IS NOT NULL",
    ) == [(0,)]
    assert await _balance(sessions, "merchant:breakage:USD") == 600
    assert await _balance(sessions, "merchant:breakage:EUR") == 440
    await assert_ledger_balances(sessions)


async def test_credit_past_its_expiry_cannot_be_spent_even_before_the_sweep(
    sessions: Sessions,
) -> None:
    customer = await _seeded(sessions)
    await _issue(sessions, 800, days=30, ago=timedelta(days=31))
    await _issue(sessions, 300)
    before = await _counts(sessions)

    with pytest.raises(InsufficientCredit, match=r"the balance is 3\.00 USD"):
        await _spend(sessions, 500)
    assert await _counts(sessions) == before

    spent = await _spend(sessions, 250)

    assert spent.balance_minor == 50
    assert await _lots(sessions) == [("issue", 800, 0), ("issue", 300, 50)]
    assert await _balance(sessions, "merchant:breakage:USD") == 800
    assert await _balance(sessions, f"customer:{customer.id}:USD") == 50
    await assert_ledger_balances(sessions)


async def test_the_workers_expiry_job_expires_overdue_credit_and_says_how_much(
    sessions: Sessions,
) -> None:
    await _seeded(sessions)
    await _issue(sessions, 1500, days=10, ago=timedelta(days=11))
    await _issue(sessions, 250, days=10, ago=timedelta(days=11), currency="EUR")
    (job,) = [
        j for j in default_jobs(sessions, load_policy(None)) if j.name == "store credit expiry"
    ]

    assert await job.run(utcnow()) == "expired 2 lots: 2.50 EUR, 15.00 USD"
    assert await job.run(utcnow()) is None
    await assert_ledger_balances(sessions)


# --- looking customers up, statements --------------------------------------------------------


async def test_customers_are_found_by_the_shops_id_or_else_by_email(sessions: Sessions) -> None:
    await _seeded(sessions)
    async with transaction(sessions) as session:
        await upsert_customer(session, CustomerIn(email="Guest@Example.com"))

    async with transaction(sessions) as session:
        by_id = await credit.find_customer(session, SHOP_ID)
        guest = await credit.find_customer(session, "guest@example.COM")
        assert by_id.email == "ann@example.com"
        assert guest.external_id is None and guest.email == "guest@example.com"
        # A customer the shop gave an id is known by that id only.
        for unknown in ("ann@example.com", "nobody", "", "x" * 400):
            with pytest.raises(NotFound):
                await credit.find_customer(session, unknown)


async def test_the_statement_pages_newest_first(sessions: Sessions) -> None:
    customer = await _seeded(sessions)
    for amount in (100, 200, 300):
        await _issue(sessions, amount)
    await _issue(sessions, 900, currency="EUR")
    await _spend(sessions, 50)

    async with transaction(sessions) as session:
        first, cursor = await credit.statement(session, customer.id, None, 2, None)
        second, end = await credit.statement(session, customer.id, None, 10, cursor)
        euros, _ = await credit.statement(session, customer.id, "eur", 10, None)
        totals = await credit.balances(session, customer.id)

    assert [credit.signed(e.transaction) for e in first] == [-50, 900]
    assert [credit.signed(e.transaction) for e in second] == [300, 200, 100]
    assert end is None
    assert [e.transaction.currency for e in euros] == ["EUR"]
    assert totals == {"EUR": 900, "USD": 550}


# --- the commands --------------------------------------------------------------------------


@pytest.mark.usefixtures("cli_env")
async def test_credit_balance_shows_balances_and_the_latest_entries(sessions: Sessions) -> None:
    await _seeded(sessions)
    await _issue(sessions, 2000, bonus=200, days=90)
    await _spend(sessions, 500, "web-123")

    result = await run_cli("credit", "balance", SHOP_ID)

    assert result.exit_code == 0, result.output
    assert "cust-ann@example.com (ann@example.com)" in result.output
    table = table_rows(result.output)
    assert ["USD", "17.00 USD"] in table
    ledger = [row for row in table if len(row) == 6]
    assert [row[1] for row in ledger] == ["spent", "bonus", "issued"]
    assert [row[2] for row in ledger] == ["-5.00 USD", "2.00 USD", "20.00 USD"]
    assert ledger[0][5] == "web-123"


@pytest.mark.usefixtures("cli_env")
async def test_credit_balance_of_an_unknown_customer_fails_clearly(sessions: Sessions) -> None:
    await _seeded(sessions)

    result = await run_cli("credit", "balance", "nobody@example.com")

    assert result.exit_code == 1
    assert "No customer 'nobody@example.com'" in result.output


@pytest.mark.usefixtures("cli_env")
async def test_credit_expire_expires_overdue_credit_and_says_what(sessions: Sessions) -> None:
    await _seeded(sessions)
    await _issue(sessions, 1500, days=10, ago=timedelta(days=11))
    await _issue(sessions, 700)

    result = await run_cli("credit", "expire")
    again = await run_cli("credit", "expire")

    assert result.exit_code == 0, result.output
    expired = table_rows(result.output)[0]
    assert expired[:2] == ["cust-ann@example.com (ann@example.com)", "15.00 USD"]
    assert "Expired 1 lot of store credit." in result.output
    assert "No store credit was due to expire." in again.output
    await assert_ledger_balances(sessions)
