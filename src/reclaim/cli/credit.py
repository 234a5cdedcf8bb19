"""``reclaim credit``: a customer's store credit, and expiring credit now."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.cli.common import console, with_database
from reclaim.db import transaction
from reclaim.kit.clock import utcnow
from reclaim.kit.money import Money
from reclaim.orders.models import Customer
from reclaim.refunds import credit

credit_app = typer.Typer(help="Store credit.", no_args_is_help=True)

WHAT = {
    credit.ISSUE: "issued",
    credit.BONUS: "bonus",
    credit.GOODWILL: "goodwill",
    credit.SPEND: "spent",
    credit.EXPIRE: "expired",
}


def _who(customer: Customer) -> str:
    return f"{customer.external_id} ({customer.email})" if customer.external_id else customer.email


@credit_app.command("balance")
def balance(
    customer: Annotated[str, typer.Argument(help="The shop's customer id, or the e-mail")],
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many entries to list")] = 10,
) -> None:
    """A customer's store credit per currency, and the latest entries of the ledger."""

    async def _show(sessions: async_sessionmaker[AsyncSession]) -> None:
        async with transaction(sessions) as session:
            found = await credit.find_customer(session, customer)
            totals = await credit.balances(session, found.id)
            entries, _ = await credit.statement(session, found.id, None, limit, None)
        console.print(f"[bold]{_who(found)}[/]")
        if not totals:
            console.print("No store credit yet.")
            return
        summary = Table("Currency", "Balance")
        for currency, minor in totals.items():
            summary.add_row(currency, Money(minor, currency).format())
        console.print(summary)
        ledger = Table("When", "What", "Amount", "Left", "Expires", "Return / reference")
        for entry in entries:
            txn = entry.transaction
            left = txn.remaining_minor
            ledger.add_row(
                f"{txn.at:%Y-%m-%d %H:%M}",
                WHAT.get(txn.kind, txn.kind),
                Money(credit.signed(txn), txn.currency).format(),
                Money(left, txn.currency).format() if left is not None else "",
                f"{txn.expires_at:%Y-%m-%d}" if txn.expires_at else "",
                entry.return_number or txn.reference or "",
            )
        console.print(ledger)

    with_database(_show)


@credit_app.command("expire")
def expire() -> None:
    """Expire the credit past its expiry now (the worker does this every few minutes)."""

    async def _run(sessions: async_sessionmaker[AsyncSession]) -> None:
        async with transaction(sessions) as session:
            expired = await credit.expire_due(session, utcnow())
            rows = [
                (_who(await session.get_one(Customer, txn.customer_id)), txn) for txn in expired
            ]
        if not rows:
            console.print("No store credit was due to expire.")
            return
        table = Table("Customer", "Expired", "Lot")
        for who, txn in rows:
            table.add_row(who, Money(txn.amount_minor, txn.currency).format(), txn.reference or "")
        console.print(table)
        console.print(f"Expired {len(rows)} lot{'s' if len(rows) != 1 else ''} of store credit.")

    with_database(_run)
