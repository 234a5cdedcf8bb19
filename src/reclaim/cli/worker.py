"""``reclaim worker`` delivers e-mails and webhooks; ``reclaim outbox`` shows and replays them."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated

import typer
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.cli.common import console, err_console, live_policy, run, with_database
from reclaim.config import Settings, get_settings
from reclaim.db import create_engine, session_factory, transaction
from reclaim.errors import ValidationFailed
from reclaim.kit.clock import utcnow
from reclaim.migrate import upgrade_to_head
from reclaim.notifications import deliveries
from reclaim.notifications.deliveries import DeliveryFilter, DeliveryStatus
from reclaim.policy.loader import LoadedPolicy
from reclaim.worker.channels import default_channels
from reclaim.worker.dispatcher import Dispatcher, Outcome, Tally, WorkerConfig
from reclaim.worker.jobs import default_jobs
from reclaim.worker.status import OutboxStatus, outbox_status

outbox_app = typer.Typer(help="Messages waiting to be delivered.", no_args_is_help=True)
Sessions = async_sessionmaker[AsyncSession]


def _span(delta: timedelta) -> str:
    """A duration the way people say it: 30 s, 5 min, 3 h, 2 days."""
    seconds = max(0, round(delta.total_seconds()))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    if seconds < 36 * 3600:
        return f"{round(seconds / 3600)} h"
    return f"{round(seconds / 86400)} days"


def _due(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return ""
    return "due now" if moment <= now else f"next due in {_span(moment - now)}"


def _print_outcome(outcome: Outcome) -> None:
    what = (
        f"{outcome.channel} {escape(outcome.target)} {outcome.topic}"
        f" (delivery {outcome.delivery_id})"
    )
    error = escape(outcome.error or "")
    if outcome.status == DeliveryStatus.DELIVERED:
        console.print(f"[green]delivered[/] {what}")
    elif outcome.status == DeliveryStatus.PENDING:
        when = f"{outcome.next_attempt_at:%H:%M:%S}" if outcome.next_attempt_at else "later"
        console.print(
            f"[yellow]failed[/] {what}, attempt {outcome.attempt}: {error}; trying again at {when}"
        )
    elif outcome.status == DeliveryStatus.DEAD:
        console.print(
            f"[red]dead[/] {what} after {outcome.attempt} attempts: {error}; "
            f"'reclaim outbox replay {outcome.delivery_id}' sends it again"
        )
    else:
        console.print(f"[dim]skipped[/] {what}: another worker took it over")


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _summary(tally: Tally) -> str:
    if not tally.messages and not tally.claimed:
        return "Nothing to deliver."
    return (
        f"Fanned out {_count(tally.messages, 'message', 'messages')} into "
        f"{_count(tally.queued, 'delivery', 'deliveries')}; delivered {tally.delivered}, "
        f"{tally.retrying} to retry, {tally.dead} dead."
    )


def _mail_route(settings: Settings) -> str:
    if settings.smtp_host:
        return f"SMTP {settings.smtp_host}:{settings.smtp_port}"
    return f"files in {settings.mail_dir} (no RECLAIM_SMTP_HOST set)"


async def _work(
    settings: Settings, config: WorkerConfig, policy: LoadedPolicy, *, once: bool, poll: float
) -> None:
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    try:
        await upgrade_to_head(engine)
        sessions = session_factory(engine)
        channels = default_channels(settings, session_factory(engine, read_only=True))
        dispatcher = Dispatcher(
            sessions,
            channels,
            config,
            report=_print_outcome,
            announce=lambda said: console.print(escape(said)),
        )
        jobs = default_jobs(sessions, policy)
        slowest = max(settings.smtp_timeout_seconds, settings.webhook_timeout_seconds)
        if slowest >= config.lease_seconds:
            err_console.print(
                f"[yellow]Warning:[/] the worker's lease ({config.lease_seconds:g} s) is no "
                f"longer than a send may take ({slowest:g} s): a slow send can outlive it and "
                "another worker send the same message. Make RECLAIM_WORKER_LEASE_SECONDS longer."
            )
        if once:
            tally = await dispatcher.run_once()
            await dispatcher.run_jobs(jobs)
            console.print(_summary(tally))
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        console.print(
            f"Worker {dispatcher.worker_id}: e-mail by {escape(_mail_route(settings))}, "
            f"webhooks; polling every {poll:g} s. Ctrl+C stops it after the current delivery."
        )
        await dispatcher.run_forever(stop, poll_seconds=poll, jobs=jobs)
        console.print("Worker stopped.")
    finally:
        await engine.dispose()


def worker(
    once: Annotated[
        bool, typer.Option("--once", help="One round of deliveries and jobs, then exit")
    ] = False,
    batch: Annotated[
        int | None, typer.Option(min=1, max=1000, help="Deliveries claimed at a time")
    ] = None,
    poll: Annotated[
        float | None, typer.Option(min=0.05, help="Seconds to wait when there is nothing to do")
    ] = None,
) -> None:
    """Deliver e-mails and webhooks, and run scheduled jobs."""
    settings = get_settings()
    config = WorkerConfig.from_settings(settings)
    if batch is not None:
        config = replace(config, batch=batch)
    policy = live_policy()
    # What the worker does is printed; what goes wrong inside it (and where e-mails were
    # written, without a mail server) is logged, to stderr.
    logging.basicConfig(
        level=logging.WARNING,
        handlers=[RichHandler(console=err_console, show_path=False)],
        format="%(message)s",
    )
    logging.getLogger("reclaim").setLevel(logging.INFO)
    run(_work(settings, config, policy, once=once, poll=poll or settings.worker_poll_seconds))


def _status_line(status: OutboxStatus, now: datetime) -> str:
    pending = status.total(DeliveryStatus.PENDING)
    if not pending:
        return "Nothing pending."
    line = f"{pending} pending"
    if status.next_due is not None:
        line += f", {_due(status.next_due, now)}"
    if status.oldest_pending is not None:
        line += f", oldest waiting {_span(now - status.oldest_pending)}"
    return line + "."


@outbox_app.command("status")
def outbox_status_command() -> None:
    """Deliveries per channel and status, and how long the oldest has waited."""

    async def _status(sessions: Sessions) -> None:
        now = utcnow()
        async with transaction(sessions) as session:
            status = await outbox_status(session)
        states = [state.value for state in DeliveryStatus]
        if status.counts:
            table = Table("Channel", *(state.capitalize() for state in states))
            for channel in status.channels:
                table.add_row(channel, *(str(status.counts.get((channel, s), 0)) for s in states))
            console.print(table)
        else:
            console.print("No deliveries yet.")
        if status.undispatched:
            console.print(
                f"{_count(status.undispatched, 'outbox message waits', 'outbox messages wait')}"
                " for the worker to fan out."
            )
        if status.fanout_error:
            message_id, error = status.fanout_error
            console.print(
                f"[red]{_count(status.fanout_failed, 'message', 'messages')} could not be "
                f"fanned out[/] and will be tried again every few minutes; the latest, "
                f"message {message_id}: {escape(error)}"
            )
        console.print(_status_line(status, now))
        dead = status.total(DeliveryStatus.DEAD)
        if dead:
            console.print(
                f"[red]{dead} dead[/]: 'reclaim outbox dead' lists them, "
                "'reclaim outbox replay' sends them again."
            )

    with_database(_status)


@outbox_app.command("dead")
def outbox_dead(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Show at most this many")] = 50,
) -> None:
    """Deliveries that gave up, newest first, with their last error."""

    async def _dead(sessions: Sessions) -> None:
        now = utcnow()
        async with transaction(sessions) as session:
            page, more = await deliveries.list_deliveries(
                session, DeliveryFilter(status=DeliveryStatus.DEAD), limit=limit
            )
            status = await outbox_status(session) if not page else None
        if status is not None:
            console.print(f"Nothing is dead. {_status_line(status, now)}")
            return
        table = Table("Id", "Channel", "Target", "Topic", "Attempts", "Last error")
        for logged in page:
            delivery = logged.delivery
            table.add_row(
                str(delivery.id),
                delivery.channel,
                escape(delivery.target),
                logged.topic,
                str(delivery.attempts),
                escape((delivery.last_error or "")[:100]),
            )
        console.print(table)
        if more:
            console.print(f"Showing the newest {limit}; --limit shows more.")
        console.print(
            "Fix the cause, then 'reclaim outbox replay ID' (or --all-dead) sends them again."
        )

    with_database(_dead)


def _ids(texts: list[str]) -> list[int]:
    ids = []
    for text in texts:
        if not text.isdigit() or len(text) > 18:
            raise ValidationFailed(
                f"{text!r} is not a delivery id: use the numbers 'reclaim outbox dead' shows."
            )
        ids.append(int(text))
    return list(dict.fromkeys(ids))


@outbox_app.command("replay")
def outbox_replay(
    ids: Annotated[list[str] | None, typer.Argument(help="Ids of dead deliveries")] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Every dead delivery")] = False,
) -> None:
    """Send dead deliveries again, due now, with the same content as before.

    Their attempt count is kept, so the log numbers on: a delivery that had used up its tries
    gets one more, and goes back to dead if that fails too."""
    if bool(ids) == all_dead:
        err_console.print(
            "[bold red]Error:[/] Name the deliveries to replay (their ids) or pass --all-dead."
        )
        raise typer.Exit(1)

    async def _replay(sessions: Sessions) -> int:
        now = utcnow()
        async with transaction(sessions) as session:
            if all_dead:
                return await deliveries.replay_dead(session, now)
            chosen = _ids(ids or [])
            # All or nothing: one bad id replays none, so the command can simply be re-run.
            for delivery_id in chosen:
                await deliveries.replay(session, delivery_id, now)
            return len(chosen)

    replayed = with_database(_replay)
    if not replayed:
        console.print("Nothing is dead: nothing to replay.")
        return
    console.print(
        f"Replayed {_count(replayed, 'delivery', 'deliveries')}: due now; "
        "a running worker sends them within its poll interval, or run 'reclaim worker --once'."
    )


@outbox_app.command("show")
def outbox_show(delivery_id: Annotated[str, typer.Argument(help="Delivery id")]) -> None:
    """One delivery and every attempt to send it."""

    async def _show(sessions: Sessions) -> deliveries.LoggedDelivery:
        (number,) = _ids([delivery_id])
        async with transaction(sessions) as session:
            return await deliveries.get_delivery(session, number)

    logged = with_database(_show)
    delivery, now = logged.delivery, utcnow()
    console.print(
        f"[bold]Delivery {delivery.id}[/]  {delivery.channel} → {escape(delivery.target)}"
        f"  {logged.topic}  [cyan]{delivery.status}[/]"
    )
    subject = delivery.content.get("subject") if isinstance(delivery.content, dict) else None
    facts = [
        ("Subject", subject),
        ("Attempts", str(delivery.attempts)),
        ("Created", f"{delivery.created_at:%Y-%m-%d %H:%M:%S}"),
        (
            "Delivered",
            f"{delivery.delivered_at:%Y-%m-%d %H:%M:%S}" if delivery.delivered_at else None,
        ),
        (
            "Next attempt",
            f"{delivery.next_attempt_at:%Y-%m-%d %H:%M:%S} ({_due(delivery.next_attempt_at, now)})"
            if delivery.status == DeliveryStatus.PENDING
            else None,
        ),
        (
            "Claimed by",
            f"{delivery.claimed_by} until {delivery.claimed_until:%H:%M:%S}"
            if delivery.claimed_by and delivery.claimed_until
            else None,
        ),
        ("Last error", delivery.last_error),
    ]
    for label, value in facts:
        if value:
            console.print(f"{label}: {escape(value)}")
    if not logged.attempts:
        console.print("No attempts yet.")
        return
    table = Table("#", "At", "Result", "Code", "Took", "Worker", "Error")
    for attempt in logged.attempts:
        table.add_row(
            str(attempt.number),
            f"{attempt.at:%Y-%m-%d %H:%M:%S}",
            "ok" if attempt.ok else "failed",
            str(attempt.status_code or ""),
            f"{attempt.duration_ms} ms",
            escape(attempt.worker),
            escape((attempt.error or "")[:100]),
        )
    console.print(table)
