"""``reclaim users``: staff accounts for the console.

Passwords are typed at a hidden prompt (twice) or piped in with ``--password-stdin``; they are
never taken as an argument, where the shell history and ``ps`` would keep them. Input the
command refuses (an unknown role, an e-mail address already in use, a short password) exits
with code 2 and changes nothing.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.cli.common import console, database, err_console
from reclaim.db import transaction
from reclaim.errors import ReclaimError
from reclaim.users import staff
from reclaim.users.passwords import MIN_LENGTH
from reclaim.users.roles import Role

T = TypeVar("T")
REFUSED = 2

users_app = typer.Typer(help="Staff accounts for the console.", no_args_is_help=True)

PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from the first line of standard input instead of asking",
    ),
]


def _refuse(message: str) -> typer.Exit:
    err_console.print(f"[bold red]Error:[/] {escape(message)}", soft_wrap=True)
    return typer.Exit(REFUSED)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    typed: str = typer.prompt(
        f"Password (at least {MIN_LENGTH} characters)",
        hide_input=True,
        confirmation_prompt="Repeat the password",
    )
    return typed


def _run(body: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """One transaction on the configured database; refused input exits 2, writing nothing."""

    async def _main() -> T:
        async with database() as sessions:
            return await _within(sessions, body)

    try:
        return asyncio.run(_main())
    except ReclaimError as exc:
        raise _refuse(exc.message) from exc


async def _within(
    sessions: async_sessionmaker[AsyncSession], body: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    async with transaction(sessions) as session:
        return await body(session)


@users_app.command("create")
def create(
    email: Annotated[str, typer.Option(help="What they sign in with")],
    name: Annotated[str, typer.Option(help="Their name, as the console shows it")],
    role: Annotated[Role, typer.Option(help="What they may do", case_sensitive=False)],
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a staff account."""

    async def _check(session: AsyncSession) -> None:
        await staff.check_new_user(session, email=email, name=name)

    _run(_check)  # before asking for a password that couldn't be used
    password = _password(password_stdin)

    async def _create(session: AsyncSession) -> str:
        user = await staff.create_user(
            session, email=email, name=name, role=role.value, password=password
        )
        return user.email

    created = _run(_create)
    console.print(f"Created {role.value} account [bold]{created}[/] for {name.strip()}.")


@users_app.command("list")
def list_users() -> None:
    """Every staff account, with its role and whether it can sign in."""

    async def _list(session: AsyncSession) -> list[tuple[str, ...]]:
        return [
            (
                user.email,
                user.name,
                user.role,
                "yes" if user.active else "disabled",
                f"{user.created_at:%Y-%m-%d}",
                f"{user.last_login_at:%Y-%m-%d %H:%M}" if user.last_login_at else "never",
            )
            for user in await staff.list_users(session)
        ]

    found = _run(_list)
    if not found:
        console.print("No staff accounts yet: create one with 'reclaim users create'.")
        return
    table = Table("E-mail", "Name", "Role", "Active", "Created", "Last sign-in")
    for row in found:
        table.add_row(*row)
    console.print(table)


@users_app.command("disable")
def disable(email: Annotated[str, typer.Argument(help="The account's e-mail address")]) -> None:
    """Stop an account signing in; it is signed out everywhere at once."""

    async def _disable(session: AsyncSession) -> str:
        return (await staff.disable_user(session, email)).email

    console.print(f"Disabled {_run(_disable)}; every session it had is ended.")


@users_app.command("set-password")
def set_password(
    email: Annotated[str, typer.Argument(help="The account's e-mail address")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Give an account a new password; sessions opened with the old one end."""

    async def _check(session: AsyncSession) -> None:
        await staff.get_user(session, email)

    _run(_check)
    password = _password(password_stdin)

    async def _set(session: AsyncSession) -> str:
        return (await staff.set_password(session, email, password)).email

    console.print(f"New password set for {_run(_set)}; its other sessions are ended.")
