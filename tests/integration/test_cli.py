"""The ``reclaim`` command line: every command an operator runs, on SQLite and PostgreSQL.

Each test runs the real Typer app against a real database (``cli_env``) and then reads the
database back with plain SQL, so a command that prints the right thing but writes the wrong
thing (or the reverse) fails.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import Result

from reclaim.config import get_settings
from reclaim.db import create_engine, session_factory, transaction
from reclaim.errors import Unauthorized
from reclaim.migrate import alembic_config
from reclaim.models import metadata
from reclaim.returns import service as returns
from reclaim.returns.schemas import ReceiveIn
from reclaim.users.apikeys import ALL_SCOPES, authenticate
from tests.conftest import BACKENDS
from tests.factories import actor, seed_api_key, seed_order, seed_return
from tests.integration.helpers import (
    count,
    rows,
    run_cli,
    scalar,
    table_counts,
    table_rows,
    unmigrated_database,
)

Sessions = async_sessionmaker[AsyncSession]
on_cli_db = pytest.mark.usefixtures("cli_env")
TOKEN = re.compile(r"rk_([0-9a-f]+)_([A-Za-z0-9_-]+)")
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # Rich wraps tables and messages at 80 columns when not on a terminal; a wide one keeps
    # each row on one line so the assertions can read the tables.
    monkeypatch.setenv("COLUMNS", "250")


@pytest.fixture(params=BACKENDS)
async def empty_cli_env(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Sessions]:
    """The CLI pointed at a database no migration has touched, and sessions to read it."""
    with unmigrated_database(request.param, tmp_path) as url:
        monkeypatch.setenv("RECLAIM_DATABASE_URL", url)
        get_settings.cache_clear()
        engine = create_engine(url, pool_size=2)
        yield session_factory(engine)
        await engine.dispose()
        get_settings.cache_clear()


def _flat(text: str) -> str:
    return " ".join(text.split())


async def _schema(sessions: Sessions) -> tuple[list[str], list[tuple[str, ...]]]:
    async with sessions() as session:
        conn = await session.connection()
        tables = await conn.run_sync(lambda sync: sorted(inspect(sync).get_table_names()))
    return tables, await rows(sessions, "SELECT version_num FROM alembic_version")


async def _scopes(sessions: Sessions, token: str) -> list[str] | None:
    """The scopes the token grants, or None if it doesn't authenticate."""
    try:
        async with transaction(sessions) as session:
            return list((await authenticate(session, token)).scopes)
    except Unauthorized:
        return None


def _token(result: Result) -> str:
    """The one API key a command printed (the demo prints it twice: alone and in a curl)."""
    found = set(TOKEN.findall(result.output))
    assert len(found) == 1, result.output
    return "rk_{}_{}".format(*found.pop())


# --- db upgrade ---------------------------------------------------------------------------


async def test_db_upgrade_brings_an_empty_database_to_head_and_then_does_nothing(
    empty_cli_env: Sessions,
) -> None:
    first = await run_cli("db", "upgrade")

    assert first.exit_code == 0, first.output
    assert "Database is up to date." in first.output
    tables, version = await _schema(empty_cli_env)
    assert version == [(HEAD,)]
    assert set(tables) == set(metadata.tables) | {"alembic_version"}

    # Data written in between must survive a second upgrade, which has nothing to do.
    await seed_api_key(empty_cli_env)
    second = await run_cli("db", "upgrade")

    assert second.exit_code == 0, second.output
    assert await _schema(empty_cli_env) == (tables, version)
    assert await count(empty_cli_env, "api_keys") == 1


# --- apikeys ------------------------------------------------------------------------------


@on_cli_db
async def test_apikeys_create_prints_the_token_once_with_exactly_its_scope(
    sessions: Sessions,
) -> None:
    result = await run_cli("apikeys", "create", "--name", "reporting", "--scope", "returns:read")

    assert result.exit_code == 0, result.output
    token = _token(result)
    prefix, secret = TOKEN.fullmatch(token).groups()  # type: ignore[union-attr]
    assert result.output.count(secret) == 1
    assert f"Created API key {prefix} (reporting) with scopes returns:read." in result.output
    assert await _scopes(sessions, token) == ["returns:read"]
    stored = await rows(sessions, "SELECT * FROM api_keys")
    assert len(stored) == 1
    # Only a hash is kept: no column holds the secret or the token.
    assert not any(secret in str(value) for value in stored[0])
    assert await rows(sessions, "SELECT prefix, name FROM api_keys") == [(prefix, "reporting")]


@on_cli_db
async def test_apikeys_create_with_an_unknown_scope_exits_1_and_writes_nothing(
    sessions: Sessions,
) -> None:
    result = await run_cli("apikeys", "create", "--name", "x", "--scope", "nonsense")

    assert result.exit_code == 1
    assert "Unknown scope 'nonsense'" in result.stderr
    assert "returns:read" in _flat(result.stderr)  # says what would have been accepted
    assert "Traceback" not in result.output
    assert TOKEN.search(result.output) is None
    assert await count(sessions, "api_keys") == 0


@on_cli_db
async def test_apikeys_list_shows_prefix_name_and_scopes_but_never_the_secret(
    sessions: Sessions,
) -> None:
    reporting = await seed_api_key(sessions, ["returns:read", "orders:read"])
    backend = await seed_api_key(sessions)
    hashes = [h for (h,) in await rows(sessions, "SELECT secret_hash FROM api_keys")]

    result = await run_cli("apikeys", "list")

    assert result.exit_code == 0, result.output
    listed = {row[0]: row for row in table_rows(result.output)}
    assert set(listed) == {reporting.prefix, backend.prefix}
    assert listed[reporting.prefix][1:3] == ["test integration", "returns:read, orders:read"]
    assert listed[backend.prefix][2] == ", ".join(ALL_SCOPES)
    for key in (reporting, backend):
        assert key.token.split("_", 2)[2] not in result.output
    assert not any(h in result.output for h in hashes)


@on_cli_db
async def test_apikeys_list_on_an_empty_database_says_how_to_create_one() -> None:
    result = await run_cli("apikeys", "list")

    assert result.exit_code == 0, result.output
    assert "reclaim apikeys create" in result.output


@on_cli_db
async def test_apikeys_revoke_makes_the_token_fail_at_once(sessions: Sessions) -> None:
    kept = await seed_api_key(sessions)
    created = await run_cli("apikeys", "create", "--name", "old backend")
    token = _token(created)
    prefix = TOKEN.fullmatch(token).group(1)  # type: ignore[union-attr]
    assert await _scopes(sessions, token) is not None

    result = await run_cli("apikeys", "revoke", prefix)

    assert result.exit_code == 0, result.output
    assert f"Revoked API key {prefix}." in result.output
    assert await _scopes(sessions, token) is None
    assert await _scopes(sessions, kept.token) is not None  # only that key
    listed = {row[0]: row for row in table_rows((await run_cli("apikeys", "list")).output)}
    assert listed[prefix][4] != "" and listed[kept.prefix][4] == ""


@on_cli_db
async def test_apikeys_revoke_of_an_unknown_prefix_exits_1_and_changes_nothing(
    sessions: Sessions,
) -> None:
    key = await seed_api_key(sessions)
    before = await rows(sessions, "SELECT * FROM api_keys")

    result = await run_cli("apikeys", "revoke", "deadbeef")

    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: No API key with prefix 'deadbeef'."
    assert "Revoked" not in result.output
    assert await rows(sessions, "SELECT * FROM api_keys") == before
    assert await _scopes(sessions, key.token) is not None


# --- returns list / show ------------------------------------------------------------------


@on_cli_db
async def test_returns_list_shows_the_newest_first_and_filters_by_status_and_order(
    sessions: Sessions,
) -> None:
    await seed_order(sessions, order_id="1001")
    await seed_order(sessions, order_id="2002", email="bob@example.com")
    approved = await seed_return(sessions, "1001", quantity=2)
    async with transaction(sessions) as session:
        await returns.approve(session, approved, actor())
    mug = await seed_return(sessions, "1001", line_id="2", method="locker")
    other = await seed_return(sessions, "2002")

    everything = await run_cli("returns", "list")
    by_status = await run_cli("returns", "list", "--status", "approved")
    by_order = await run_cli("returns", "list", "--order", "2002")
    both = await run_cli("returns", "list", "--status", "approved", "--order", "2002")

    assert everything.exit_code == 0, everything.output
    assert [row[:5] for row in table_rows(everything.output)] == [
        [other, "2002", "requested", "prepaid_label", "1"],
        [mug, "1001", "requested", "locker", "1"],
        [approved, "1001", "approved", "prepaid_label", "2"],
    ]
    assert [row[0] for row in table_rows(by_status.output)] == [approved]
    assert [row[0] for row in table_rows(by_order.output)] == [other]
    assert both.exit_code == 0, both.output
    assert table_rows(both.output) == []
    assert "No returns match." in both.output


@on_cli_db
async def test_returns_list_on_an_empty_database_says_no_returns_match() -> None:
    result = await run_cli("returns", "list")

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "No returns match."


@on_cli_db
async def test_returns_show_prints_the_lines_and_the_timeline(sessions: Sessions) -> None:
    await seed_order(sessions)
    number = await seed_return(sessions, quantity=2)
    async with transaction(sessions) as session:
        await returns.approve(session, number, actor("agent"))
    async with transaction(sessions) as session:
        data = ReceiveIn.model_validate({"lines": [{"line_id": "1", "quantity": 1}]})
        await returns.receive(session, number, data, actor("dock"))

    # Typed the way a person would: lower case. The number is normalised, not refused.
    result = await run_cli("returns", "show", number.lower())

    assert result.exit_code == 0, result.output
    assert f"{number} order 1001 received method prepaid_label" in _flat(result.output)
    lines, timeline = table_rows(result.output)[:1], table_rows(result.output)[1:]
    assert lines == [["1", "TEE-M", "2", "too_small", "refund", "1", "", ""]]
    assert [row[1:] for row in timeline] == [
        ["create", "→ requested", "test"],
        ["approve", "requested → approved", "agent"],
        ["receive", "approved → received", "dock"],
    ]


@on_cli_db
@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("RMA-AAAAA-AAAAA", "No return 'RMA-AAAAA-AAAAA'."),
        ("1001", "'1001' is not a return number"),
    ],
    ids=["unknown", "malformed"],
)
async def test_returns_show_of_an_unknown_number_exits_1_with_one_clear_line(
    sessions: Sessions, typed: str, message: str
) -> None:
    await seed_order(sessions)
    await seed_return(sessions)

    result = await run_cli("returns", "show", typed)

    assert result.exit_code == 1
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: ") and message in line
    assert "Traceback" not in result.output


# --- demo ---------------------------------------------------------------------------------


@on_cli_db
async def test_demo_seeds_once_and_each_run_replaces_the_demo_key(sessions: Sessions) -> None:
    args = ("demo", "--days", "3", "--orders-per-day", "3")
    tables = ("orders", "order_lines", "returns", "return_events")

    first = await run_cli(*args)

    assert first.exit_code == 0, first.output
    assert "Seeding the demo merchant" in first.output
    settings = get_settings()
    base = f"http://{settings.host}:{settings.port}"
    for url in (f"{base}/docs", f"{base}/api/v1"):
        assert url in first.output
    seeded = await table_counts(sessions, *tables)
    assert seeded["orders"] > 0
    first_key = _token(first)
    assert await _scopes(sessions, first_key) is not None
    shop = await seed_api_key(sessions)  # a key the merchant made, not the demo's

    second = await run_cli(*args)

    assert second.exit_code == 0, second.output
    assert "not seeding again" in second.output
    assert "Seeding" not in second.output
    assert await table_counts(sessions, *tables) == seeded
    second_key = _token(second)
    assert second_key != first_key
    assert await _scopes(sessions, first_key) is None
    assert await _scopes(sessions, second_key) == list(ALL_SCOPES)
    assert await _scopes(sessions, shop.token) is not None
    live = "SELECT count(*) FROM api_keys WHERE name = 'demo' AND revoked_at IS NULL"
    assert await scalar(sessions, live) == 1


# --- the installed entry points -----------------------------------------------------------


def test_python_dash_m_reclaim_help_lists_every_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reclaim", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "120"},
        check=False,
    )

    assert result.returncode == 0, result.stderr
    listed = {m.group(1) for m in re.finditer(r"^│\s+(\w+)\s", result.stdout, re.MULTILINE)}
    assert listed == {
        "serve",
        "db",
        "import",
        "returns",
        "apikeys",
        "policy",
        "facilities",
        "simulate",
        "demo",
        "tracking",
        "outbox",
        "worker",
        "users",
        "warehouse",
        "credit",
        "analytics",
        "report",
        "model",
    }


async def test_serve_migrates_an_empty_database_and_answers_http(
    empty_cli_env: Sessions, tmp_path: Path
) -> None:
    with socket.socket() as sock:  # a free port
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "reclaim", "serve", "--host", "127.0.0.1"),
            *("--port", str(port)),
            env={**os.environ, "RECLAIM_DB_POOL_SIZE": "2"},  # the URL is from empty_cli_env
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        health = None
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            for _ in range(300):  # 30 s to start
                assert proc.returncode is None, log.read_text()
                try:
                    health = await http.get("/api/v1/health")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        assert health is not None and health.status_code == 200, log.read_text()
        assert health.json()["status"] == "ok"
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)

    assert (await _schema(empty_cli_env))[1] == [(HEAD,)]
