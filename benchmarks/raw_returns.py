"""Return creation written with the raw driver: the floor the HTTP + ORM path is measured against.

The same rows as ``POST /api/v1/returns`` writes, in one transaction on one pooled asyncpg
connection: the API-key lookup, the conditional hold on the order line, the return, its line,
its first event, the outbox message and the idempotency record with the stored response. What
it leaves out is everything that is not SQL: HTTP, validation, the ORM, the rules' checks.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime

import asyncpg

from benchmarks.common import Options, Result, Skipped, postgres_scratch, skipped
from benchmarks.cpu import CpuSplit
from benchmarks.loadgen import drive, load_result
from benchmarks.seeding import LINE_REF, Workload, return_body, seed, workload
from reclaim.returns.rules import new_return_number

NAME = "raw"
BENCHMARK = "create return (raw asyncpg, same SQL work)"

AUTHENTICATE = "SELECT id, secret_hash, revoked_at FROM api_keys WHERE prefix = $1"
TOKEN_PARTS = 3
# One statement finds the line through the order's external id and holds a unit only if one
# is left: the same guarantee as the service's conditional UPDATE, without reading first.
HOLD = """
UPDATE order_lines AS ol SET returned_quantity = ol.returned_quantity + $3
FROM orders AS o
WHERE o.external_id = $1 AND ol.order_id = o.id AND ol.line_ref = $2
  AND ol.returned_quantity + $3 <= ol.quantity
RETURNING ol.id, ol.sku, o.id, o.customer_id, o.currency
"""
INSERT_RETURN = """
INSERT INTO returns (number, order_id, customer_id, status, method, currency, channel,
                     created_at, updated_at)
VALUES ($1, $2, $3, 'requested', 'prepaid_label', $4, 'api', $5, $5) RETURNING id
"""
INSERT_LINE = """
INSERT INTO return_lines (return_id, order_line_id, quantity, reason, resolution,
                          received_quantity)
VALUES ($1, $2, $3, 'too_small', 'refund', 0)
"""
INSERT_EVENT = """
INSERT INTO return_events (return_id, action, from_status, to_status, actor, at, data)
VALUES ($1, 'create', NULL, 'requested', $2, $3, $4::jsonb)
"""
INSERT_OUTBOX = """
INSERT INTO outbox (topic, aggregate, payload, created_at)
VALUES ('return.requested', $1, $2::jsonb, $3)
"""
STORE_RESPONSE = """
INSERT INTO idempotency_keys (api_key_id, key, request_hash, response_status, response_body,
                              response_type, created_at)
VALUES ($1, $2, $3, 201, $4, 'application/json', $5)
"""


class QuantityExceeded(Exception):
    pass


async def create_return(conn: asyncpg.Connection, token: str, order_id: str) -> None:
    _, prefix, secret = token.split("_", TOKEN_PARTS - 1)
    body = return_body(order_id)
    now = datetime.now(UTC)
    async with conn.transaction():
        key = await conn.fetchrow(AUTHENTICATE, prefix)
        digest = hashlib.sha256(secret.encode()).hexdigest()
        if key is None or key["revoked_at"] is not None or key["secret_hash"] != digest:
            raise PermissionError("invalid API key")
        held = await conn.fetchrow(HOLD, order_id, LINE_REF, 1)
        if held is None:
            raise QuantityExceeded(order_id)
        line_id, sku, order_pk, customer_id, currency = held
        number = new_return_number()
        return_id = await conn.fetchval(INSERT_RETURN, number, order_pk, customer_id, currency, now)
        await conn.execute(INSERT_LINE, return_id, line_id, 1)
        event = json.dumps({"order_id": order_id})
        await conn.execute(INSERT_EVENT, return_id, f"api:{prefix}", now, event)
        payload = {
            "return": number,
            "status": "requested",
            "from_status": None,
            "order_id": order_id,
        }
        await conn.execute(INSERT_OUTBOX, number, json.dumps(payload), now)
        response = {"number": number, "order_id": order_id, "status": "requested", "sku": sku}
        fingerprint = hashlib.sha256(body).hexdigest()
        await conn.execute(
            STORE_RESPONSE,
            key["id"],
            uuid.uuid4().hex,
            fingerprint,
            json.dumps(response).encode(),
            now,
        )


async def measure(url: str, load: Workload, token: str) -> Result:
    # command_timeout: a statement stuck on the server fails instead of hanging the run.
    pool = await asyncpg.create_pool(
        url, min_size=load.concurrency, max_size=load.concurrency, command_timeout=30
    )
    try:

        async def create(_worker: int, index: int) -> str | None:
            async with pool.acquire() as conn:
                try:
                    await create_return(conn, token, load.order_id(index))
                except QuantityExceeded:
                    return "no units left"
            return None

        cpu = CpuSplit()
        measured = await drive(
            create,
            requests=load.requests,
            concurrency=load.concurrency,
            seconds=load.seconds,
            before_timing=lambda: cpu.start(postgres_url=url),
        )
        cpu_note = cpu.stop(measured.done, unit="transaction")
    finally:
        await pool.close()
    notes = [
        f"{measured.done} transactions, asyncpg pool of {load.concurrency}, one transaction "
        "of 7 statements each",
        cpu_note,
    ]
    return load_result(BENCHMARK, measured, "tx/s", notes)


async def run(options: Options) -> list[Result]:
    load = workload(options.quick)
    try:
        async with postgres_scratch(options.postgres_url) as url:
            key = await seed(url, load)
            return [await measure(url, load, key.token)]
    except Skipped as why:
        return [skipped(BENCHMARK, "PostgreSQL", str(why))]
