"""A real Reclaim server on a free local port, over real HTTP, for each test's database."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from reclaim.api.app import create_app
from reclaim.config import Settings
from reclaim.users.apikeys import IssuedKey
from tests.factories import MANUAL_POLICY_TEXT, seed_api_key


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    url: str
    settings: Settings


@pytest.fixture
def server_overrides() -> dict[str, Any]:
    """Extra settings for the test server; a test overrides it with
    ``@pytest.mark.parametrize("server_overrides", [{...}])``."""
    return {}


@pytest.fixture
def live_server(
    db_url: str, server_overrides: dict[str, Any], tmp_path: Path
) -> Iterator[LiveServer]:
    policy = tmp_path / "policy.toml"
    policy.write_text(MANUAL_POLICY_TEXT)
    settings = Settings(
        **{
            "database_url": db_url,
            "db_pool_size": 10,
            "policy_file": policy,
            "files_dir": tmp_path / "files",
            "secret_key": "test secret key",
            **server_overrides,
        }
    )
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    yield LiveServer(f"http://127.0.0.1:{port}", settings)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
async def api_key(sessions, live_server: LiveServer) -> IssuedKey:  # type: ignore[no-untyped-def]
    return await seed_api_key(sessions)


@pytest.fixture
async def client(live_server: LiveServer, api_key: IssuedKey) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=live_server.url,
        headers={"Authorization": f"Bearer {api_key.token}"},
        timeout=30,
    ) as http:
        yield http
