"""What a route needs: the database, the settings, and an API key with the right scope."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.config import Settings
from reclaim.db import transaction
from reclaim.errors import Forbidden, Unauthorized
from reclaim.policy.loader import LoadedPolicy
from reclaim.users.apikeys import authenticate
from reclaim.users.models import ApiKey

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer rk_…`")


def get_sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    return sessions


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_read_sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] = request.app.state.read_sessions
    return sessions


Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessions)]
ReadSessions = Annotated[async_sessionmaker[AsyncSession], Depends(get_read_sessions)]
AppSettings = Annotated[Settings, Depends(get_settings)]


def get_policy(request: Request) -> LoadedPolicy:
    policy: LoadedPolicy = request.app.state.policy
    return policy


AppPolicy = Annotated[LoadedPolicy, Depends(get_policy)]


async def read_session(sessions: ReadSessions) -> AsyncIterator[AsyncSession]:
    async with transaction(sessions) as session:
        yield session


ReadSession = Annotated[AsyncSession, Depends(read_session)]


def require(scope: str) -> Callable[..., Awaitable[ApiKey]]:
    async def _principal(
        sessions: ReadSessions,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> ApiKey:
        if credentials is None:
            raise Unauthorized("Send an API key as 'Authorization: Bearer rk_…'.")
        async with transaction(sessions) as session:
            key = await authenticate(session, credentials.credentials)
        if scope not in key.scopes:
            raise Forbidden(f"This API key lacks the {scope!r} scope.", scope=scope)
        return key

    return _principal
