"""``reclaim demo``: a database with a demo merchant in it, ready to explore."""

from __future__ import annotations

import secrets
from typing import Annotated

import typer
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.analytics import rollups
from reclaim.cli.common import console, database, live_policy, run
from reclaim.cli.simulate import print_summary, simulate_with_progress
from reclaim.config import get_settings
from reclaim.db import transaction
from reclaim.errors import NotFound, ValidationFailed
from reclaim.kit.clock import utcnow
from reclaim.notifications.models import OutboxMessage
from reclaim.orders.models import Customer, Order
from reclaim.prediction import service as risk
from reclaim.returns.models import Return
from reclaim.simulation.facilities import seed_facilities
from reclaim.simulation.runner import SimulationConfig
from reclaim.users import staff
from reclaim.users.apikeys import IssuedKey, create_api_key
from reclaim.users.models import ApiKey
from reclaim.users.roles import Role

DEMO_KEY_NAME = "demo"
# One console account per role, each given a fresh password at every demo run.
DEMO_STAFF = (
    ("admin@demo.test", "Ada Admin", Role.ADMIN),
    ("agent@demo.test", "Alex Agent", Role.AGENT),
    ("inspector@demo.test", "Ivy Inspector", Role.INSPECTOR),
    ("analyst@demo.test", "Ana Analyst", Role.ANALYST),
)


def demo(
    days: Annotated[int, typer.Option(min=1, max=365)] = 60,
    orders_per_day: Annotated[int, typer.Option(min=1, max=1000)] = 25,
) -> None:
    """Seed the demo merchant once, and issue a fresh demo API key (older ones are revoked)."""
    settings = get_settings()
    config = SimulationConfig(
        days=days, orders_per_day=orders_per_day, seed=2026, policy=live_policy()
    )

    async def _main() -> tuple[IssuedKey, tuple[str, str] | None, list[tuple[str, Role, str]]]:
        async with database() as sessions:
            async with transaction(sessions) as session:
                orders = await session.scalar(select(func.count()).select_from(Order))
            if orders:
                console.print(f"The database already holds {orders:,} orders; not seeding again.")
            else:
                console.print(f"Seeding the demo merchant: {days} days of orders and returns…")
                async with transaction(sessions) as session:
                    places = await seed_facilities(session)
                console.print(f"{places} drop-off points, lockers, stores and a warehouse.")
                print_summary(await simulate_with_progress(sessions, config), config)
                await _history_is_not_news(sessions)
                built = await rollups.rebuild(sessions)
                console.print(f"Analytics built from {built.returns:,} returns.")
                try:
                    model = await risk.train(sessions)
                    console.print(
                        f"Return-risk model v{model.version} trained on {model.rows:,} order lines."
                    )
                except ValidationFailed as refused:
                    console.print(f"No return-risk model yet: {refused.message}")
            return (
                await _fresh_demo_key(sessions),
                await _demo_shopper(sessions),
                await _demo_staff(sessions),
            )

    key, shopper, logins = run(_main())
    url = f"http://{settings.host}:{settings.port}"
    console.print(f"\n[bold]Reclaim[/] will serve at [bold]{url}[/]")
    console.print(f"  Returns portal: {url}/returns")
    if shopper:
        console.print(f"    try order [bold]{shopper[0]}[/] with e-mail [bold]{shopper[1]}[/]")
    console.print(f"  Staff console: {url}/console")
    for email, role, password in logins:
        console.print(f"    {email:<21} {role.value:<9} password [bold]{password}[/]")
    console.print("    (every demo run gives these accounts new passwords)")
    console.print(f"  API docs:  {url}/docs")
    console.print(f"  API base:  {url}/api/v1")
    console.print(f"  Demo API key (until the next demo run): [bold]{key.token}[/]", soft_wrap=True)
    console.print(
        f"  Try: curl -H 'Authorization: Bearer {key.token}' {url}/api/v1/returns?limit=5",
        soft_wrap=True,
    )


async def _history_is_not_news(sessions: async_sessionmaker[AsyncSession]) -> None:
    """The simulated past has no one to tell: only what happens from now on is e-mailed."""
    async with transaction(sessions) as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.dispatched_at.is_(None))
            .values(dispatched_at=utcnow())
        )


async def _demo_shopper(sessions: async_sessionmaker[AsyncSession]) -> tuple[str, str] | None:
    """A recently delivered order with nothing returned yet, to try the portal with."""
    async with transaction(sessions) as session:
        row = (
            await session.execute(
                select(Order.external_id, Customer.email)
                .join(Customer, Order.customer_id == Customer.id)
                .where(
                    Order.delivered_at <= utcnow(),
                    ~select(Return.id).where(Return.order_id == Order.id).exists(),
                )
                .order_by(Order.delivered_at.desc())
                .limit(1)
            )
        ).first()
    return (row[0], row[1]) if row else None


async def _demo_staff(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, Role, str]]:
    """The demo's console accounts, made once; each run gives them new passwords (ending their
    sessions), so a password printed by an earlier run stops working."""
    logins = []
    async with transaction(sessions) as session:
        for email, name, role in DEMO_STAFF:
            password = secrets.token_hex(8)
            try:
                await staff.set_password(session, email, password, enable=True)
            except NotFound:
                await staff.create_user(
                    session, email=email, name=name, role=role.value, password=password
                )
            logins.append((email, role, password))
    return logins


async def _fresh_demo_key(sessions: async_sessionmaker[AsyncSession]) -> IssuedKey:
    async with transaction(sessions) as session:
        for old in await session.scalars(
            select(ApiKey).where(ApiKey.name == DEMO_KEY_NAME, ApiKey.revoked_at.is_(None))
        ):
            old.revoked_at = utcnow()
        return await create_api_key(session, DEMO_KEY_NAME, [])
