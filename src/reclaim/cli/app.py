"""The ``reclaim`` command."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.cli.analytics import analytics_app
from reclaim.cli.common import console, with_database
from reclaim.cli.credit import credit_app
from reclaim.cli.demo import demo
from reclaim.cli.facilities import facilities_app
from reclaim.cli.imports import import_app
from reclaim.cli.model import model_app
from reclaim.cli.policy import policy_app
from reclaim.cli.report import report
from reclaim.cli.simulate import simulate
from reclaim.cli.tracking import tracking_app
from reclaim.cli.users import users_app
from reclaim.cli.warehouse import warehouse_app
from reclaim.cli.worker import outbox_app, worker
from reclaim.config import get_settings
from reclaim.db import transaction
from reclaim.returns import service as returns
from reclaim.returns.states import Status
from reclaim.returns.views import return_out
from reclaim.users import apikeys

app = typer.Typer(
    name="reclaim",
    help="Reclaim: returns management and reverse logistics.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
returns_app = typer.Typer(help="Look at returns.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys for the shop's systems.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(returns_app, name="returns")
app.add_typer(keys_app, name="apikeys")
app.add_typer(policy_app, name="policy")
app.add_typer(facilities_app, name="facilities")
app.add_typer(tracking_app, name="tracking")
app.add_typer(outbox_app, name="outbox")
app.add_typer(users_app, name="users")
app.add_typer(warehouse_app, name="warehouse")
app.add_typer(credit_app, name="credit")
app.add_typer(analytics_app, name="analytics")
app.add_typer(model_app, name="model")
app.command("report")(report)
app.command("simulate")(simulate)
app.command("worker")(worker)
app.command("demo")(demo)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    worker: Annotated[
        bool,
        typer.Option(
            "--worker",
            help="Also deliver e-mails and webhooks from this process (else run 'reclaim worker')",
        ),
    ] = False,
) -> None:
    """Serve the API (and pages) over HTTP."""
    import uvicorn

    from reclaim.api.app import create_app

    settings = get_settings()
    if worker:
        settings = settings.model_copy(update={"embedded_worker": True})
    host, port = host or settings.host, port or settings.port
    console.print(f"Reclaim on [bold]http://{host}:{port}[/]  API docs: http://{host}:{port}/docs")
    if settings.embedded_worker:
        where = f"SMTP {settings.smtp_host}" if settings.smtp_host else f"{settings.mail_dir}/"
        console.print(f"Delivering e-mails ({where}) and webhooks from this process.")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database to the newest schema."""

    async def _done(_sessions: async_sessionmaker[AsyncSession]) -> None:
        return None

    with_database(_done)
    console.print("Database is up to date.")


@returns_app.command("list")
def returns_list(
    status: Annotated[Status | None, typer.Option(help="Only returns in this status")] = None,
    order: Annotated[str | None, typer.Option(help="Only returns of this order")] = None,
    attention: Annotated[
        bool,
        typer.Option("--attention", help="Only returns flagged for a person to look at, and why"),
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """The newest returns."""

    async def _list(sessions: async_sessionmaker[AsyncSession]) -> None:
        async with transaction(sessions) as session:
            page, _ = await returns.list_returns(
                session,
                returns.ReturnFilter(status, order, attention or None),
                limit=limit,
            )
        columns = ["Return", "Order", "Status", "Method", "Units", "Created"]
        table = Table(*columns, *(["Flagged", "Why"] if attention else []))
        for ret in page:
            cells = [
                ret.number,
                ret.order.external_id,
                ret.status,
                ret.method,
                str(sum(line.quantity for line in ret.lines)),
                f"{ret.created_at:%Y-%m-%d %H:%M}",
            ]
            if attention:
                flagged = ret.attention_at
                cells += [f"{flagged:%Y-%m-%d %H:%M}" if flagged else "", ret.attention or ""]
            table.add_row(*cells)
        console.print(table if page else "No returns match.")

    with_database(_list)


@returns_app.command("show")
def returns_show(number: Annotated[str, typer.Argument(help="RMA number")]) -> None:
    """One return, its lines and its timeline."""

    async def _show(sessions: async_sessionmaker[AsyncSession]) -> None:
        async with transaction(sessions) as session:
            ret = await returns.get_return(session, number, with_events=True)
            view = return_out(ret, ret.events)
        console.print(
            f"[bold]{view.number}[/]  order {view.order_id}  [cyan]{view.status}[/]"
            f"  method {view.method.value}"
        )
        shipment = view.shipment
        if shipment is None:
            console.print("shipment  none")
        else:
            void = shipment.cancelled_at
            console.print(
                f"shipment  {shipment.carrier} {shipment.kind.value}  tracking "
                f"[bold]{shipment.tracking_number}[/]  stage [cyan]{shipment.stage}[/]"
                + (f"  [red]void since {void:%Y-%m-%d %H:%M}[/]" if void else "")
            )
        lines = Table(
            "Line", "SKU", "Qty", "Reason", "Resolution", "Received", "Grade", "Disposition"
        )
        for line in view.lines:
            lines.add_row(
                line.line_id,
                line.sku,
                str(line.quantity),
                line.reason.value,
                line.resolution.value,
                str(line.received_quantity),
                line.grade or "",
                line.disposition or "",
            )
        console.print(lines)
        timeline = Table("When", "What", "Status", "Who")
        for event in view.events or []:
            timeline.add_row(
                f"{event.at:%Y-%m-%d %H:%M}",
                event.action,
                f"{event.from_status or ''} → {event.to_status}",
                event.actor,
            )
        console.print(timeline)

    with_database(_show)


@keys_app.command("create")
def apikeys_create(
    name: Annotated[str, typer.Option(help="Who uses the key, e.g. 'shop backend'")],
    scope: Annotated[
        list[str] | None,
        typer.Option(help=f"Repeat for several; default all: {', '.join(apikeys.ALL_SCOPES)}"),
    ] = None,
) -> None:
    """Create an API key. The key is shown once; only its hash is kept."""

    async def _create(sessions: async_sessionmaker[AsyncSession]) -> apikeys.IssuedKey:
        async with transaction(sessions) as session:
            return await apikeys.create_api_key(session, name, scope or [])

    issued = with_database(_create)
    console.print(
        f"Created API key [bold]{issued.prefix}[/] ({issued.name}) "
        f"with scopes {', '.join(issued.scopes)}."
    )
    console.print("Store it now; it can't be shown again:")
    print(issued.token)


@keys_app.command("list")
def apikeys_list() -> None:
    """Every API key, without its secret."""

    async def _list(sessions: async_sessionmaker[AsyncSession]) -> None:
        async with transaction(sessions) as session:
            keys = await apikeys.list_api_keys(session)
        table = Table("Prefix", "Name", "Scopes", "Created", "Revoked")
        for key in keys:
            table.add_row(
                key.prefix,
                key.name,
                ", ".join(key.scopes),
                f"{key.created_at:%Y-%m-%d}",
                f"{key.revoked_at:%Y-%m-%d}" if key.revoked_at else "",
            )
        console.print(
            table if keys else "No API keys yet: create one with 'reclaim apikeys create'."
        )

    with_database(_list)


@keys_app.command("revoke")
def apikeys_revoke(prefix: Annotated[str, typer.Argument(help="The key's prefix")]) -> None:
    """Revoke an API key at once."""

    async def _revoke(sessions: async_sessionmaker[AsyncSession]) -> None:
        async with transaction(sessions) as session:
            await apikeys.revoke_api_key(session, prefix)

    with_database(_revoke)
    console.print(f"Revoked API key {prefix}.")


def main() -> None:
    app()
