"""Staff accounts: argon2 passwords, sessions that end, and the ``reclaim users`` commands, on
SQLite and PostgreSQL. The commands' effects are read back with plain SQL."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner, Result

from reclaim.cli.app import app
from reclaim.db import transaction
from reclaim.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from reclaim.kit.clock import utcnow
from reclaim.users import passwords, staff
from reclaim.users.models import StaffUser
from tests.integration.helpers import rows, scalar, table_rows

Sessions = async_sessionmaker[AsyncSession]
on_cli_db = pytest.mark.usefixtures("cli_env")
PASSWORD = "correct horse battery staple"
TERMS = staff.SessionTerms(idle=timedelta(hours=8), lifetime=timedelta(days=7))


async def run_cli(*args: str, input: str | None = None) -> Result:
    """The ``reclaim`` command with what a person types (or pipes) on standard input."""

    def invoke() -> Result:
        return CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)

    return await asyncio.to_thread(invoke)


async def _user(sessions: Sessions, email: str = "ann@staff.test", role: str = "agent") -> None:
    async with transaction(sessions) as session:
        await staff.create_user(session, email=email, name="Ann", role=role, password=PASSWORD)


async def _sign_in(sessions: Sessions, email: str, password: str) -> StaffUser:
    async with transaction(sessions) as session:
        return await staff.authenticate(session, email, password, utcnow())


async def _signs_in(sessions: Sessions, email: str, password: str) -> bool:
    try:
        await _sign_in(sessions, email, password)
    except Unauthorized:
        return False
    return True


async def _users(sessions: Sessions) -> list[tuple[object, ...]]:
    return await rows(sessions, "SELECT email, name, role, active FROM staff_users ORDER BY id")


# --- passwords --------------------------------------------------------------------------------


async def test_a_password_is_kept_only_as_an_argon2id_hash(sessions: Sessions) -> None:
    await _user(sessions)

    [(stored,)] = await rows(sessions, "SELECT password_hash FROM staff_users")

    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert PasswordHasher().verify(stored, PASSWORD)
    assert not passwords.needs_rehash(stored)


async def test_a_password_shorter_than_twelve_characters_is_refused(sessions: Sessions) -> None:
    with pytest.raises(ValidationFailed, match="at least 12 characters"):
        async with transaction(sessions) as session:
            await staff.create_user(
                session, email="a@staff.test", name="A", role="agent", password="elevenchars"
            )
    assert await _users(sessions) == []


async def test_a_hash_made_with_weaker_costs_is_upgraded_when_its_owner_signs_in(
    sessions: Sessions,
) -> None:
    await _user(sessions)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    async with transaction(sessions) as session:
        await session.execute(text("UPDATE staff_users SET password_hash = :h"), {"h": weak})
    assert passwords.needs_rehash(weak)

    await _sign_in(sessions, "ann@staff.test", PASSWORD)

    [(stored,)] = await rows(sessions, "SELECT password_hash FROM staff_users")
    assert stored != weak and not passwords.needs_rehash(stored)
    assert PasswordHasher().verify(stored, PASSWORD)


async def test_signing_in_records_when(sessions: Sessions) -> None:
    await _user(sessions)
    assert await scalar(sessions, "SELECT last_login_at FROM staff_users") is None

    await _sign_in(sessions, "ANN@staff.test ", PASSWORD)

    assert await scalar(sessions, "SELECT last_login_at FROM staff_users") is not None


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("ann@staff.test", "the wrong password"),
        ("ann@staff.test", PASSWORD * 100),
        ("bob@staff.test", PASSWORD),
        ("not an email", "x"),
    ],
)
async def test_every_failed_sign_in_says_the_same(
    sessions: Sessions, email: str, password: str
) -> None:
    await _user(sessions)
    with pytest.raises(Unauthorized) as refused:
        await _sign_in(sessions, email, password)
    assert refused.value.message == staff.SIGN_IN_REFUSED


async def test_a_disabled_account_cannot_sign_in_even_with_its_password(
    sessions: Sessions,
) -> None:
    await _user(sessions)
    async with transaction(sessions) as session:
        await staff.disable_user(session, "ann@staff.test")
    assert not await _signs_in(sessions, "ann@staff.test", PASSWORD)


async def test_an_email_address_is_used_once_whatever_its_case(sessions: Sessions) -> None:
    await _user(sessions)
    with pytest.raises(Conflict, match="already a staff account for ann@staff.test"):
        await _user(sessions, email="Ann@Staff.Test")
    assert len(await _users(sessions)) == 1


@pytest.mark.parametrize(
    ("email", "role", "problem"),
    [
        ("no-at-sign", "agent", "not an e-mail address"),
        ("a" * 60 + "@staff.test", "agent", "at most 58 characters"),
        ("ann@staff.test", "boss", "Unknown role 'boss'"),
    ],
)
async def test_bad_account_details_are_refused(
    sessions: Sessions, email: str, role: str, problem: str
) -> None:
    with pytest.raises(ValidationFailed, match=problem):
        await _user(sessions, email=email, role=role)
    assert await _users(sessions) == []


# --- sessions ---------------------------------------------------------------------------------


async def _open(
    sessions: Sessions, email: str = "ann@staff.test", terms: staff.SessionTerms = TERMS
) -> staff.OpenedSession:
    async with transaction(sessions) as session:
        user = await staff.get_user(session, email)
        return await staff.open_session(session, user, utcnow(), terms)


async def _resume(
    sessions: Sessions, token: str, at: timedelta, terms: staff.SessionTerms = TERMS
) -> staff.SignedIn | None:
    async with transaction(sessions) as session:
        return await staff.resume_session(session, token, utcnow() + at, terms)


async def test_a_session_slides_while_used_and_ends_when_left_idle(sessions: Sessions) -> None:
    await _user(sessions)
    opened = await _open(sessions)

    for hours in (7, 14, 21):  # each visit within eight hours of the last
        assert await _resume(sessions, opened.token, timedelta(hours=hours)) is not None

    assert await _resume(sessions, opened.token, timedelta(hours=29, minutes=1)) is None
    assert await scalar(sessions, "SELECT count(*) FROM staff_sessions") == 0


async def test_a_short_idle_time_never_ends_a_session_in_use(sessions: Sessions) -> None:
    await _user(sessions)
    short = staff.SessionTerms(idle=timedelta(minutes=1), lifetime=timedelta(days=1))
    opened = await _open(sessions, terms=short)

    for seconds in range(40, 400, 40):  # each visit 40 s after the last, under the idle minute
        assert await _resume(sessions, opened.token, timedelta(seconds=seconds), short), seconds

    assert await _resume(sessions, opened.token, timedelta(seconds=461), short) is None


async def test_reading_pages_moves_the_idle_deadline_at_most_once_a_minute(
    sessions: Sessions,
) -> None:
    await _user(sessions)
    opened = await _open(sessions)
    seen = "SELECT last_seen_at FROM staff_sessions"
    signed_in_at = await scalar(sessions, seen)

    assert await _resume(sessions, opened.token, timedelta(seconds=50)) is not None
    assert await scalar(sessions, seen) == signed_in_at
    assert await _resume(sessions, opened.token, timedelta(seconds=70)) is not None
    assert await scalar(sessions, seen) != signed_in_at


async def test_a_session_ends_after_its_lifetime_however_busy(sessions: Sessions) -> None:
    await _user(sessions)
    opened = await _open(sessions)
    for hours in range(6, 7 * 24, 6):
        assert await _resume(sessions, opened.token, timedelta(hours=hours)) is not None, hours

    assert await _resume(sessions, opened.token, timedelta(days=7, minutes=1)) is None


async def test_signing_out_or_a_new_password_ends_sessions(sessions: Sessions) -> None:
    await _user(sessions)
    first, second = await _open(sessions), await _open(sessions)
    async with transaction(sessions) as session:
        assert await staff.end_session(session, first.token)
    assert await _resume(sessions, first.token, timedelta()) is None
    assert await _resume(sessions, second.token, timedelta()) is not None

    async with transaction(sessions) as session:
        await staff.set_password(session, "ann@staff.test", "a brand new passphrase")

    assert await _resume(sessions, second.token, timedelta()) is None
    assert await _signs_in(sessions, "ann@staff.test", "a brand new passphrase")
    assert not await _signs_in(sessions, "ann@staff.test", PASSWORD)


@pytest.mark.parametrize("token", ["", "x" * 500, "bad\x00token", "ünïcode"])
async def test_a_malformed_token_opens_nothing(sessions: Sessions, token: str) -> None:
    assert await _resume(sessions, token, timedelta()) is None


# --- reclaim users ------------------------------------------------------------------------------


@on_cli_db
async def test_users_create_reads_the_password_from_stdin(sessions: Sessions) -> None:
    result = await run_cli(
        "users",
        "create",
        "--email",
        "Ivy@Staff.test",
        "--name",
        "Ivy Inspector",
        "--role",
        "inspector",
        "--password-stdin",
        input=PASSWORD + "\n",
    )

    assert result.exit_code == 0, result.output
    assert "Created inspector account ivy@staff.test for Ivy Inspector." in result.output
    assert await _users(sessions) == [("ivy@staff.test", "Ivy Inspector", "inspector", True)]
    assert await _signs_in(sessions, "ivy@staff.test", PASSWORD)


@on_cli_db
async def test_users_create_asks_twice_without_showing_the_password(sessions: Sessions) -> None:
    result = await run_cli(
        "users",
        "create",
        "--email",
        "ann@staff.test",
        "--name",
        "Ann",
        "--role",
        "agent",
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )

    assert result.exit_code == 0, result.output
    assert "Repeat the password" in result.output
    assert PASSWORD not in result.output
    assert await _signs_in(sessions, "ann@staff.test", PASSWORD)


@on_cli_db
@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--role", "boss"), "Invalid value for '--role'"),
        (("--role", "agent", "--email", "ann@staff.test"), "already a staff account"),
        (("--role", "agent", "--email", "not-an-address"), "not an e-mail address"),
    ],
)
async def test_users_create_refuses_bad_input_with_exit_code_2_and_changes_nothing(
    sessions: Sessions, args: tuple[str, ...], said: str
) -> None:
    await _user(sessions)
    before = await rows(sessions, "SELECT * FROM staff_users")
    fields = dict(zip(args[::2], args[1::2], strict=True))
    email = fields.get("--email", "new@staff.test")

    result = await run_cli(
        "users",
        "create",
        "--email",
        email,
        "--name",
        "New",
        "--role",
        fields["--role"],
        "--password-stdin",
        input=PASSWORD + "\n",
    )

    assert result.exit_code == 2, result.output
    assert said in " ".join(result.output.split())
    assert await rows(sessions, "SELECT * FROM staff_users") == before


@on_cli_db
async def test_users_create_refuses_a_short_password(sessions: Sessions) -> None:
    result = await run_cli(
        "users",
        "create",
        "--email",
        "ann@staff.test",
        "--name",
        "Ann",
        "--role",
        "agent",
        "--password-stdin",
        input="short\n",
    )
    assert result.exit_code == 2
    assert "at least 12 characters" in result.output
    assert await _users(sessions) == []


@on_cli_db
async def test_users_list_shows_every_account_without_its_password(sessions: Sessions) -> None:
    await _user(sessions, "ann@staff.test", "agent")
    await _user(sessions, "bob@staff.test", "analyst")
    async with transaction(sessions) as session:
        await staff.disable_user(session, "bob@staff.test")

    result = await run_cli("users", "list")

    assert result.exit_code == 0, result.output
    listed = [row[:4] for row in table_rows(result.output)]
    assert listed == [
        ["ann@staff.test", "Ann", "agent", "yes"],
        ["bob@staff.test", "Ann", "analyst", "disabled"],
    ]
    assert "argon2" not in result.output


@on_cli_db
async def test_users_list_on_an_empty_database_says_how_to_create_one() -> None:
    result = await run_cli("users", "list")
    assert result.exit_code == 0
    assert "reclaim users create" in result.output


@on_cli_db
async def test_users_disable_stops_sign_in_and_ends_sessions(sessions: Sessions) -> None:
    await _user(sessions)
    opened = await _open(sessions)

    result = await run_cli("users", "disable", "ANN@staff.test")

    assert result.exit_code == 0, result.output
    assert "Disabled ann@staff.test" in result.output
    assert await _users(sessions) == [("ann@staff.test", "Ann", "agent", False)]
    assert await _resume(sessions, opened.token, timedelta()) is None
    assert not await _signs_in(sessions, "ann@staff.test", PASSWORD)


@on_cli_db
async def test_users_set_password_replaces_it_and_ends_sessions(sessions: Sessions) -> None:
    await _user(sessions)
    opened = await _open(sessions)

    result = await run_cli(
        "users", "set-password", "ann@staff.test", "--password-stdin", input="another passphrase\n"
    )

    assert result.exit_code == 0, result.output
    assert await _signs_in(sessions, "ann@staff.test", "another passphrase")
    assert not await _signs_in(sessions, "ann@staff.test", PASSWORD)
    assert await _resume(sessions, opened.token, timedelta()) is None


@on_cli_db
@pytest.mark.parametrize("command", [("disable",), ("set-password", "--password-stdin")])
async def test_users_commands_on_an_unknown_account_exit_2(
    sessions: Sessions, command: tuple[str, ...]
) -> None:
    result = await run_cli(
        "users", command[0], "nobody@staff.test", *command[1:], input=PASSWORD + "\n"
    )
    assert result.exit_code == 2
    assert "No staff account for nobody@staff.test" in result.output


# --- the demo's accounts ------------------------------------------------------------------------

DEMO_LOGIN = re.compile(r"(\S+@demo\.test)\s+(\w+)\s+password\s+(\S+)")


async def _demo_logins(sessions: Sessions) -> dict[str, tuple[str, str]]:
    result = await run_cli("demo", "--days", "1", "--orders-per-day", "2")
    assert result.exit_code == 0, result.output
    assert "/console" in result.output
    return {email: (role, password) for email, role, password in DEMO_LOGIN.findall(result.output)}


@on_cli_db
async def test_the_demo_makes_one_account_per_role_with_new_passwords_each_run(
    sessions: Sessions,
) -> None:
    first = await _demo_logins(sessions)
    assert {email: role for email, (role, _) in first.items()} == {
        "admin@demo.test": "admin",
        "agent@demo.test": "agent",
        "inspector@demo.test": "inspector",
        "analyst@demo.test": "analyst",
    }
    for email, (_, password) in first.items():
        assert await _signs_in(sessions, email, password), email

    second = await _demo_logins(sessions)

    assert len(await _users(sessions)) == 4
    for email, (_, password) in second.items():
        assert password != first[email][1]
        assert await _signs_in(sessions, email, password), email
        assert not await _signs_in(sessions, email, first[email][1]), email


async def test_get_user_of_an_unknown_address_is_not_found(sessions: Sessions) -> None:
    with pytest.raises(NotFound):
        async with transaction(sessions) as session:
            await staff.get_user(session, "nobody@staff.test")
