"""The channels a worker delivers through, as the settings configure them."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.config import Settings
from reclaim.notifications.channels import Channel
from reclaim.notifications.email_channel import EmailChannel
from reclaim.notifications.webhook_channel import WebhookChannel


def default_channels(
    settings: Settings, read_sessions: async_sessionmaker[AsyncSession]
) -> list[Channel]:
    """E-mail to shoppers (SMTP, or files when no server is set) and the shop's webhooks."""
    return [EmailChannel(settings), WebhookChannel(settings, read_sessions)]
