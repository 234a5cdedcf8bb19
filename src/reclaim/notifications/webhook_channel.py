"""Webhooks as a channel: a signed JSON POST to every endpoint subscribed to the event.

The body and the ``webhook-id`` are fixed when the message fans out, so every retry sends the
same bytes under the same id (receivers de-duplicate on it); only the timestamp and signatures
are made afresh at each send, as the scheme's replay window requires.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim import __version__
from reclaim.config import Settings
from reclaim.db import transaction
from reclaim.kit.clock import as_utc, utcnow
from reclaim.notifications.channels import Recipient, Sent
from reclaim.notifications.models import Delivery, OutboxMessage, WebhookEndpoint
from reclaim.notifications.signing import sign
from reclaim.notifications.ssrf import (
    Refused,
    Resolver,
    Target,
    Unresolvable,
    check_url,
    system_resolver,
)
from reclaim.notifications.webhooks import signing_secrets, subscribed

CHANNEL = "webhook"
USER_AGENT = f"Reclaim-Webhooks/{__version__}"
# How much of an answer (or an error) the delivery log keeps: enough to see what went wrong.
SNIPPET_BYTES = 512
RETRY_AFTER_STATUSES = {429, 503}


def body_of(message: OutboxMessage) -> str:
    """The JSON every subscriber gets, in the Standard Webhooks shape."""
    document = {
        "type": message.topic,
        "timestamp": as_utc(message.created_at).isoformat(),
        "data": message.payload,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def webhook_id(message: OutboxMessage) -> str:
    return f"msg_{message.id}"


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _pinned(target: Target) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """The URL to connect to the checked address itself, with the headers and TLS name that
    still make it a request to the registered host.

    Connecting by the address that passed the check closes the DNS-rebinding gap (a name
    answering a public address to the check and a private one to the connection). The Host
    header carries the original name, and for HTTPS the TLS server name (SNI) too, against
    which the certificate is verified as usual.
    """
    if not target.resolved:
        return target.url, {}, {}
    url = target.url.copy_with(host=str(target.address))
    extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
    return url, {"host": target.url.netloc.decode("ascii")}, extensions


async def _snippet(response: httpx.Response) -> str:
    """The start of the answer; the rest is not downloaded."""
    kept = bytearray()
    async for chunk in response.aiter_bytes():
        kept += chunk
        if len(kept) >= SNIPPET_BYTES:
            break
    return kept[:SNIPPET_BYTES].decode("utf-8", errors="replace")


class WebhookChannel:
    name = CHANNEL

    def __init__(
        self,
        settings: Settings,
        read_sessions: async_sessionmaker[AsyncSession],
        *,
        resolver: Resolver = system_resolver,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._settings = settings
        self._read_sessions = read_sessions
        self._resolver = resolver
        self._clock = clock
        # Loading the CA bundle costs tens of milliseconds of CPU: once per channel, not per send.
        self._tls = httpx.create_ssl_context()

    async def recipients(self, session: AsyncSession, message: OutboxMessage) -> list[Recipient]:
        """Every active endpoint subscribed to the topic, each with the same body and id."""
        endpoints = await session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.active.is_(True))
            .order_by(WebhookEndpoint.id)
        )
        content = {"webhook_id": webhook_id(message), "body": body_of(message)}
        return [
            Recipient(str(endpoint.id), content, endpoint.id)
            for endpoint in endpoints
            if subscribed(endpoint, message.topic)
        ]

    async def send(self, delivery: Delivery) -> Sent:
        async with transaction(self._read_sessions) as session:
            endpoint = (
                await session.get(WebhookEndpoint, delivery.endpoint_id)
                if delivery.endpoint_id is not None
                else None
            )
        if endpoint is None:
            return Sent(ok=False, error="The webhook endpoint was deleted.", give_up=True)
        if not endpoint.active:
            reason = endpoint.disabled_reason or "turned off"
            return Sent(ok=False, error=f"The endpoint is off: {reason}", give_up=True)
        # Checked again now, not just at registration: the name may resolve elsewhere today.
        try:
            target = await check_url(
                endpoint.url,
                allow_private=self._settings.webhook_allow_private,
                resolver=self._resolver,
            )
        except Unresolvable as exc:
            return Sent(ok=False, error=exc.message)
        except Refused as exc:
            return Sent(ok=False, error=exc.message, give_up=True)
        now = self._clock()
        body = str(delivery.content["body"]).encode()
        signed = sign(
            signing_secrets(endpoint, now), str(delivery.content["webhook_id"]), now, body
        )
        url, pinning, extensions = _pinned(target)
        headers = {
            **signed.headers,
            **pinning,
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }
        timeout = self._settings.webhook_timeout_seconds
        try:
            # httpx's timeout bounds each read; this bounds the whole exchange, so a receiver
            # that trickles its answer can't hold the worker.
            async with (
                asyncio.timeout(timeout),
                httpx.AsyncClient(
                    timeout=timeout,
                    verify=self._tls,
                    follow_redirects=False,
                    # A proxy from the environment would resolve the name itself, undoing
                    # the check.
                    trust_env=False,
                ) as client,
                client.stream(
                    "POST", url, content=body, headers=headers, extensions=extensions
                ) as response,
            ):
                snippet = await _snippet(response)
        except TimeoutError:
            return Sent(ok=False, error=f"No answer within {timeout:g} seconds.")
        except (httpx.HTTPError, OSError) as exc:
            return Sent(ok=False, error=f"{type(exc).__name__}: {exc}"[:SNIPPET_BYTES])
        return self._outcome(response, snippet)

    def _outcome(self, response: httpx.Response, snippet: str) -> Sent:
        status = response.status_code
        if 200 <= status < 300:
            return Sent(ok=True, status_code=status)
        error = f"HTTP {status}: {snippet}".strip()
        if status == 410:
            return Sent(
                ok=False,
                status_code=status,
                error=f"{error} (the endpoint is gone; it has been turned off)",
                give_up=True,
                disable_endpoint=True,
            )
        if 300 <= status < 400:
            where = response.headers.get("location", "elsewhere")
            error = f"HTTP {status}: redirected to {where}; register the final URL instead."
        wait = None
        if status in RETRY_AFTER_STATUSES:
            # The worker's retry schedule takes it as a floor, within its own cap.
            wait = parse_retry_after(response.headers.get("retry-after"), self._clock())
        return Sent(ok=False, status_code=status, error=error, retry_after=wait)
