"""API keys: the database holds only a hash, and only a live, exact token gets in."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.db import transaction
from reclaim.errors import NotFound, Unauthorized, ValidationFailed
from reclaim.users.apikeys import ALL_SCOPES, authenticate, create_api_key, revoke_api_key
from tests.factories import seed_api_key
from tests.integration.helpers import rows

Sessions = async_sessionmaker[AsyncSession]


async def _authenticate(sessions: Sessions, token: str) -> int:
    async with transaction(sessions) as session:
        return (await authenticate(session, token)).id


async def test_created_key_stores_a_hash_and_never_the_secret(sessions: Sessions) -> None:
    issued = await seed_api_key(sessions, ["orders:read"])
    secret = issued.token.split("_", 2)[2]

    stored = await rows(sessions, "SELECT * FROM api_keys")

    assert len(stored) == 1
    # Nothing in the row, in any column, gives the secret away.
    assert not any(secret in str(value) for value in stored[0])
    assert not any(issued.token in str(value) for value in stored[0])
    assert await rows(sessions, "SELECT prefix, name FROM api_keys") == [
        (issued.prefix, "test integration")
    ]
    assert issued.token.startswith(f"rk_{issued.prefix}_")
    assert issued.scopes == ("orders:read",)


async def test_keys_are_unique_and_default_to_every_scope(sessions: Sessions) -> None:
    first = await seed_api_key(sessions)
    second = await seed_api_key(sessions)

    assert first.prefix != second.prefix
    assert first.token != second.token
    assert first.scopes == second.scopes == tuple(str(s) for s in ALL_SCOPES)
    hashes = await rows(sessions, "SELECT secret_hash FROM api_keys")
    assert len({h for (h,) in hashes}) == 2


async def test_issued_token_authenticates_as_its_key(sessions: Sessions) -> None:
    first = await seed_api_key(sessions)
    second = await seed_api_key(sessions)

    assert await _authenticate(sessions, first.token) == first.id
    assert await _authenticate(sessions, second.token) == second.id


async def test_revoked_key_no_longer_authenticates(sessions: Sessions) -> None:
    issued = await seed_api_key(sessions)
    other = await seed_api_key(sessions)
    async with transaction(sessions) as session:
        await revoke_api_key(session, issued.prefix)

    with pytest.raises(Unauthorized):
        await _authenticate(sessions, issued.token)
    # Revoking one key leaves the others working.
    assert await _authenticate(sessions, other.token) == other.id


async def test_revoking_twice_keeps_the_first_revocation_time(sessions: Sessions) -> None:
    issued = await seed_api_key(sessions)
    async with transaction(sessions) as session:
        await revoke_api_key(session, issued.prefix)
    first = await rows(sessions, "SELECT revoked_at FROM api_keys")

    async with transaction(sessions) as session:
        await revoke_api_key(session, issued.prefix)

    assert await rows(sessions, "SELECT revoked_at FROM api_keys") == first
    assert first[0][0] is not None


async def test_revoking_an_unknown_prefix_is_not_found(sessions: Sessions) -> None:
    await seed_api_key(sessions)
    async with transaction(sessions) as session:
        with pytest.raises(NotFound):
            await revoke_api_key(session, "00000000")


@pytest.mark.parametrize(
    "forge",
    [
        "wrong_secret",
        "other_keys_secret",
        "unknown_prefix",
        "wrong_scheme",
        "secret_truncated",
        "secret_extended",
        "prefix_case_changed",
    ],
)
async def test_forged_token_is_unauthorized(sessions: Sessions, forge: str) -> None:
    issued = await seed_api_key(sessions)
    # A hex prefix may be all digits (about 1 in 40), and then has no case to change.
    while forge == "prefix_case_changed" and issued.prefix.upper() == issued.prefix:
        issued = await seed_api_key(sessions)
    other = await seed_api_key(sessions)
    _, prefix, secret = issued.token.split("_", 2)
    token = {
        "wrong_secret": f"rk_{prefix}_{'A' * len(secret)}",
        "other_keys_secret": f"rk_{prefix}_{other.token.split('_', 2)[2]}",
        "unknown_prefix": f"rk_{'f' * len(prefix)}_{secret}",
        "wrong_scheme": f"sk_{prefix}_{secret}",
        "secret_truncated": f"rk_{prefix}_{secret[:-1]}",
        "secret_extended": f"rk_{prefix}_{secret}x",
        "prefix_case_changed": f"rk_{prefix.upper()}_{secret}",
    }[forge]
    assert token != issued.token

    with pytest.raises(Unauthorized):
        await _authenticate(sessions, token)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "rk",
        "rk_",
        "rk__",
        "rk_abcdef12",
        "Bearer rk_x_y",
        "   ",
        "rk_\x00_\x00",
        "rk_ab\x00cd_x",
        "rk_abcd_\ud800",
        "é_ü_ß",
    ],
)
async def test_malformed_token_is_unauthorized(sessions: Sessions, token: str) -> None:
    await seed_api_key(sessions)

    with pytest.raises(Unauthorized):
        await _authenticate(sessions, token)


@pytest.mark.parametrize(("name", "scopes"), [("  ", []), ("shop", ["orders:delete"])])
async def test_key_with_no_name_or_unknown_scope_is_refused(
    sessions: Sessions, name: str, scopes: list[str]
) -> None:
    async with transaction(sessions) as session:
        with pytest.raises(ValidationFailed):
            await create_api_key(session, name, scopes)
    assert await rows(sessions, "SELECT id FROM api_keys") == []
