"""``reclaim policy``: check a policy file, show the live one, and see what a draft would change."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.cli.common import console, err_console, live_policy, run
from reclaim.config import get_settings
from reclaim.db import create_engine, session_factory, transaction
from reclaim.errors import ReclaimError, ValidationFailed
from reclaim.kit.clock import utcnow
from reclaim.kit.money import Money
from reclaim.policy import service
from reclaim.policy.loader import LoadedPolicy, load
from reclaim.policy.schema import Policy
from reclaim.policy.whatif import Comparison, Tally

policy_app = typer.Typer(
    help="The returns policy: check a draft, show the live one, see what a draft would change.",
    no_args_is_help=True,
)


def _load(path: Path) -> LoadedPolicy:
    try:
        return load(path)
    except ReclaimError as exc:
        err_console.print(f"[bold red]Error:[/] {escape(exc.message)}")
        raise typer.Exit(1) from exc


# Summary -----------------------------------------------------------------------------------


def _words(values: Iterable[str]) -> str:
    # Enum members are str subclasses here; str() of a StrEnum is its value.
    return ", ".join(sorted(str(value).replace("_", " ") for value in values))


def _percent(value: Decimal) -> str:
    return f"{value.normalize():f}%"


def _amount(value: Decimal) -> str:
    # Policy amounts apply in each order's currency, so they are shown without one.
    return f"{value:f}"


def summary_rows(policy: Policy) -> list[tuple[str, str]]:
    """The rules a merchant checks first, one line each, in their words."""
    window = policy.window
    days = f"{window.days} days from delivery"
    exceptions = [f"{name} {n}" for name, n in sorted({**window.categories, **window.skus}.items())]
    if exceptions:
        days += f"; {', '.join(exceptions)}"
    if window.tier_extra_days:
        extra = ", ".join(f"{tier} +{n}" for tier, n in sorted(window.tier_extra_days.items()))
        days += f"; extra days: {extra}"
    for holiday in policy.holidays:
        days += (
            f"; {holiday.name}: delivered {holiday.delivered_from:%d %b}–"
            f"{holiday.delivered_until:%d %b %Y}, back by {holiday.return_by:%d %b %Y}"
        )
    fees = policy.fees
    fee_parts = []
    if fees.restocking_percent:
        where = _words(fees.restocking_categories) if fees.restocking_categories else "any item"
        fee_parts.append(
            f"restocking {_percent(fees.restocking_percent)} ({where}, opened, refunded, "
            "change of mind)"
        )
    if fees.label_fee:
        fee_parts.append(
            f"label {_amount(fees.label_fee)} per return ({_words(fees.label_fee_methods)})"
        )
    credit = policy.store_credit
    bonus = "none"
    if credit.bonus_percent:
        bonus = _percent(credit.bonus_percent)
        if credit.bonus_cap is not None:
            bonus += f", at most {_amount(credit.bonus_cap)}"
    kept = policy.returnless
    keep_parts = []
    if kept.categories:
        keep_parts.append(_words(kept.categories))
    if kept.when_uneconomic:
        keep_parts.append(
            f"when uneconomic (shipping {_amount(kept.shipping_cost)} + "
            f"{_amount(kept.shipping_cost_per_kg)}/kg, handling "
            f"{_amount(kept.handling_cost_per_unit)}/unit, recovery "
            f"{_percent(kept.recovery_percent)})"
        )
    returnless = "; ".join(keep_parts) or "never"
    if keep_parts and kept.max_value is not None:
        returnless += f"; up to {_amount(kept.max_value)}"
    timing = policy.refund_timing
    refund = timing.default.value.replace("_", " ")
    if timing.tiers:
        refund += "; " + ", ".join(
            f"{tier}: {when.value.replace('_', ' ')}" for tier, when in sorted(timing.tiers.items())
        )
    review = policy.review
    triggers = []
    if review.min_return_value is not None:
        triggers.append(f"value from {_amount(review.min_return_value)}")
    if review.max_recent_returns is not None:
        triggers.append(f"{review.max_recent_returns}+ other returns in {review.recent_days} days")
    if review.reasons:
        triggers.append(f"reasons: {_words(review.reasons)}")
    return [
        ("Approval", "automatic" if policy.auto_approve else "staff approve every return"),
        ("Window", days),
        ("Fees", "; ".join(fee_parts) or "none"),
        ("Store-credit bonus", bonus),
        ("Returnless", returnless),
        ("Refund timing", refund),
        ("Review", "; ".join(triggers) or "never"),
    ]


def print_summary(loaded: LoadedPolicy) -> None:
    console.print(f"[bold]{escape(loaded.policy.name)}[/]  version {loaded.version}")
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column()
    for label, text in summary_rows(loaded.policy):
        table.add_row(label, escape(text))
    console.print(table)


@policy_app.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="The policy file (TOML)", show_default=False)],
) -> None:
    """Check a policy file: every bad rule is named, or its summary is shown."""
    loaded = _load(file)
    console.print(f"[green]{escape(str(file))} is a valid policy.[/]")
    print_summary(loaded)


@policy_app.command("show")
def show(
    text: Annotated[
        bool, typer.Option("--text", help="Print the policy file itself (e.g. to start a draft)")
    ] = False,
) -> None:
    """The policy in force (RECLAIM_POLICY_FILE, or the built-in one) and its version."""
    loaded = live_policy()
    if text:
        typer.echo(loaded.text, nl=not loaded.text.endswith("\n"))
        return
    console.print(f"Live policy from {escape(loaded.source)}")
    print_summary(loaded)


# What if -----------------------------------------------------------------------------------


@asynccontextmanager
async def _read_only() -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions that never write: no migration, and on SQLite no write lock held by the replay.

    Unlike the other commands this one doesn't migrate, so pointing it at a production
    database never changes it."""
    settings = get_settings()
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        yield session_factory(engine, read_only=True)
    finally:
        await engine.dispose()


async def replay(
    live: LoadedPolicy,
    draft: LoadedPolicy,
    since: datetime,
    until: datetime,
    *,
    on_start: Callable[[int], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> Comparison:
    comparison = Comparison(live, draft)
    lookback = max(live.policy.review.recent_days, draft.policy.review.recent_days)
    try:
        async with _read_only() as sessions, transaction(sessions) as session:
            await service.read_snapshot(session)
            if on_start:
                on_start(await service.count_returns(session, since, until))
            async for batch in service.whatif_cases(session, since, until, lookback_days=lookback):
                for case in batch:
                    comparison.add(case)
                if on_batch:
                    on_batch(len(batch))
    except DBAPIError as exc:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise ValidationFailed(
            f"Can't read the returns from the database ({first}). "
            "Is RECLAIM_DATABASE_URL right, and has 'reclaim db upgrade' run?"
        ) from None
    return comparison


def _count_change(before: int, after: int) -> str:
    return "—" if before == after else f"{after - before:+,}"


def _money_change(before: int, after: int, currency: str) -> str:
    if before == after:
        return "—"
    text = Money(after - before, currency).format()
    return text if after < before else "+" + text


def comparison_table(comparison: Comparison) -> Table:
    live, draft = comparison.live, comparison.draft
    table = Table(
        "",
        "Live",
        "Draft",
        "Change",
        title=f"What if: {escape(comparison.draft_policy.policy.name)} "
        f"instead of {escape(comparison.live_policy.policy.name)}",
        caption=f"live {comparison.live_policy.version}"
        f"  ·  draft {comparison.draft_policy.version}",
    )
    for column in table.columns[1:]:
        column.justify = "right"

    def counts(label: str, pick: Callable[[Tally], int]) -> None:
        before, after = pick(live), pick(draft)
        table.add_row(label, f"{before:,}", f"{after:,}", _count_change(before, after))

    counts("Returns replayed", lambda t: t.replayed)
    counts("Eligible", lambda t: t.eligible)
    counts("Refused", lambda t: t.refused)
    top = sorted(
        set(live.refusals) | set(draft.refusals),
        key=lambda code: (-max(live.refusals[code], draft.refusals[code]), code),
    )[:3]
    for code in top:
        before, after = live.refusals[code], draft.refusals[code]
        table.add_row(
            f"  refused: {code.replace('_', ' ')}",
            f"{before:,}",
            f"{after:,}",
            _count_change(before, after),
        )
    counts("Approved automatically", lambda t: t.approved)
    counts("  kept by the shopper (returnless)", lambda t: t.kept)
    counts("Sent to review", lambda t: t.review)
    if live.manual or draft.manual:
        counts("Left for staff to approve", lambda t: t.manual)
    counts("Charged a fee", lambda t: t.charged)
    for label, pick in (
        ("Refund total", lambda t: t.refund),
        ("Store credit total (incl. bonus)", lambda t: t.store_credit),
        ("  of which bonus", lambda t: t.bonus),
        ("Fee total", lambda t: t.fees),
    ):
        for currency in comparison.currencies:
            before, after = pick(live)[currency], pick(draft)[currency]
            table.add_row(
                label,
                Money(before, currency).format(),
                Money(after, currency).format(),
                _money_change(before, after, currency),
            )
    return table


def print_comparison(comparison: Comparison) -> None:
    console.print(comparison_table(comparison))
    if comparison.live_policy.version == comparison.draft_policy.version:
        console.print("The draft is the live policy itself (same version).")
    replayed = comparison.live.replayed
    if not replayed:
        console.print("No returns were created in that span.")
        return
    if not comparison.differ:
        console.print(f"The draft decides all {replayed:,} returns as the live policy does.")
    else:
        moves = ", ".join(
            (
                f"{before.value} → {after.value}: {n:,}"
                if before is not after
                else f"{before.value} with other amounts or timing: {n:,}"
            )
            for (before, after), n in sorted(
                comparison.changed.items(), key=lambda item: (-item[1], item[0])
            )
        )
        console.print(
            f"The draft decides {comparison.differ:,} of {replayed:,} returns differently "
            f"({moves})."
        )
    if comparison.other_versions:
        console.print(
            f"[dim]{comparison.other_versions:,} of them were decided under another policy "
            "version; the live column is what today's policy would have said.[/]"
        )


@policy_app.command("whatif")
def whatif(
    draft_file: Annotated[
        Path, typer.Argument(help="The draft policy file (TOML)", show_default=False)
    ],
    days: Annotated[
        int, typer.Option(min=1, max=3650, help="Replay the returns created in these days")
    ] = 90,
    until: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="Last day to replay, included (default: up to now)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Replay past returns under the live policy and a draft, and compare what they decide."""
    live = live_policy()
    draft = _load(draft_file)
    end = (
        datetime.combine(until.date() + timedelta(days=1), datetime.min.time(), UTC)
        if until
        else utcnow()
    )
    since = end - timedelta(days=days)
    console.print(
        f"Replaying the returns created {since:%d %b %Y %H:%M} – {end:%d %b %Y %H:%M} UTC "
        f"under the live policy ({live.version}) and the draft ({draft.version})."
    )
    columns = (
        TextColumn("[bold]Replaying[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("returns"),
        TimeElapsedColumn(),
    )
    started = time.perf_counter()
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("", total=None)
        comparison = run(
            replay(
                live,
                draft,
                since,
                end,
                on_start=lambda total: progress.update(task, total=total),
                on_batch=lambda n: progress.advance(task, n),
            )
        )
    print_comparison(comparison)
    console.print(f"[dim]Replayed in {time.perf_counter() - started:.1f}s.[/]")
