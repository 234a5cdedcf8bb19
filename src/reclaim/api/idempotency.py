"""Idempotency keys for every POST that creates or moves something.

A request with an ``Idempotency-Key`` header claims the key in a short transaction of its own,
then does its work and stores its response in the work's transaction, so the response is kept
exactly when the work is committed. A replay gets the stored bytes; the same key with another
body answers 422; a key whose first request is still running answers 409. A request that fails
frees its key (a failed request leaves nothing behind, and the client may retry or correct it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Request, Response
from pydantic import BaseModel
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.api.models import IdempotencyRecord
from reclaim.db import transaction
from reclaim.errors import Conflict, ValidationFailed
from reclaim.kit.clock import utcnow
from reclaim.users.models import ApiKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
REPLAY_HEADER = "Idempotent-Replayed"

Work = Callable[[AsyncSession], Awaitable[tuple[int, BaseModel]]]


class KeyInFlight(Conflict):
    code = "idempotency_key_in_flight"


class KeyReused(ValidationFailed):
    code = "idempotency_key_reused"


@dataclass(frozen=True, slots=True)
class Claim:
    """A key this request holds; ``lock`` is what proves it still does."""

    record_id: int
    lock: datetime


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"\0".join([method.encode(), path.encode(), body])).hexdigest()


async def _claim(
    sessions: async_sessionmaker[AsyncSession],
    api_key_id: int,
    key: str,
    fingerprint: str,
    lock_seconds: int,
) -> Claim | Response:
    now = utcnow()
    lock = now + timedelta(seconds=lock_seconds)
    try:
        async with transaction(sessions) as session:
            record = IdempotencyRecord(
                api_key_id=api_key_id, key=key, request_hash=fingerprint, locked_until=lock
            )
            session.add(record)
            await session.flush()
            return Claim(record.id, lock)
    except IntegrityError:
        pass
    async with transaction(sessions) as session:
        existing = await session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.api_key_id == api_key_id, IdempotencyRecord.key == key
            )
        )
        if existing is None:  # freed by a failed first request in between: claim it afresh
            return await _claim(sessions, api_key_id, key, fingerprint, lock_seconds)
        if existing.request_hash != fingerprint:
            raise KeyReused(
                "This Idempotency-Key was used with a different request; use a new key.",
            )
        if existing.response_status is not None:
            return Response(
                content=existing.response_body,
                status_code=existing.response_status,
                media_type=existing.response_type,
                headers={REPLAY_HEADER: "true"},
            )
        taken = await session.execute(
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.id == existing.id,
                IdempotencyRecord.response_status.is_(None),
                IdempotencyRecord.locked_until < now,
            )
            .values(locked_until=lock)
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            return Claim(existing.id, lock)
    raise KeyInFlight(
        "A request with this Idempotency-Key is still being processed; retry shortly.",
    )


async def _free(sessions: async_sessionmaker[AsyncSession], claim: Claim) -> None:
    async with transaction(sessions) as session:
        await session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.id == claim.record_id,
                IdempotencyRecord.response_status.is_(None),
                IdempotencyRecord.locked_until == claim.lock,
            )
        )


async def run_idempotent(
    request: Request,
    sessions: async_sessionmaker[AsyncSession],
    api_key: ApiKey,
    work: Work,
    *,
    lock_seconds: int | None = None,
) -> Response:
    """Run ``work`` in one transaction, at most once per idempotency key."""
    if lock_seconds is None:  # the operator's setting, RECLAIM_IDEMPOTENCY_LOCK_SECONDS
        lock_seconds = int(request.app.state.settings.idempotency_lock_seconds)
    key = request.headers.get(HEADER)
    claim: Claim | None = None
    if key is not None:
        if not 0 < len(key) <= MAX_KEY_LENGTH:
            raise ValidationFailed(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters.")
        fingerprint = request_fingerprint(request.method, request.url.path, await request.body())
        claimed = await _claim(sessions, api_key.id, key, fingerprint, lock_seconds)
        if isinstance(claimed, Response):
            return claimed
        claim = claimed
    try:
        async with transaction(sessions) as session:
            status, model = await work(session)
            body = model.model_dump_json().encode()
            if claim is not None:
                stored = await session.execute(
                    update(IdempotencyRecord)
                    .where(
                        IdempotencyRecord.id == claim.record_id,
                        IdempotencyRecord.response_status.is_(None),
                        IdempotencyRecord.locked_until == claim.lock,
                    )
                    .values(
                        response_status=status,
                        response_body=body,
                        response_type="application/json",
                        locked_until=None,
                    )
                )
                if stored.rowcount != 1:  # type: ignore[attr-defined]
                    # We outlived our lock and a retry took the key over: roll our work back
                    # rather than let one key do the work twice.
                    raise KeyInFlight(
                        "This request took longer than its Idempotency-Key lock and a retry "
                        "took the key over; the retry's answer stands.",
                    )
    except BaseException:
        if claim is not None:
            await _free(sessions, claim)
        raise
    return Response(content=body, status_code=status, media_type="application/json")
