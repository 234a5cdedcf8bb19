"""Sending e-mail: over SMTP in production, into ``.eml`` files when no mail server is set.

A mailer either sends the message or raises :class:`MailError` saying whether trying again
can help (a full mailbox, a server restarting) or not (no such address).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import tempfile
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import aiosmtplib

from reclaim.config import Settings

log = logging.getLogger(__name__)


class MailError(Exception):
    """The message was not accepted; ``permanent`` when sending it again can't help."""

    def __init__(self, message: str, *, code: int | None = None, permanent: bool) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


def _refusal(code: int, text: str) -> MailError:
    # SMTP's own split: 5xx says the server will never take this message, 4xx says not now.
    return MailError(f"{code} {text}".strip(), code=code, permanent=500 <= code < 600)


class SmtpMailer:
    """One SMTP session per message: simple, and a broken connection can't poison the next."""

    def __init__(self, settings: Settings) -> None:
        if not settings.smtp_host:
            raise ValueError("SmtpMailer needs smtp_host")
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.tls = settings.smtp_tls
        self.username = settings.smtp_username
        self.password = (
            settings.smtp_password.get_secret_value() if settings.smtp_password else None
        )
        self.timeout = settings.smtp_timeout_seconds
        self.ca_file = str(settings.smtp_ca_file) if settings.smtp_ca_file else None

    async def send(self, message: EmailMessage) -> None:
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.tls == "tls",
                # "none" means none: aiosmtplib would otherwise upgrade whenever offered.
                start_tls=self.tls == "starttls",
                cert_bundle=self.ca_file,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0] if exc.recipients else None
            if refused is None:
                raise MailError("Every recipient was refused.", permanent=True) from exc
            raise _refusal(refused.code, refused.message) from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            # Wrong credentials are the operator's to fix, not the message's fault: keep it
            # pending so it goes out once the settings are right.
            raise MailError(
                f"The mail server refused our login ({exc.code} {exc.message}); "
                "check RECLAIM_SMTP_USERNAME and RECLAIM_SMTP_PASSWORD.",
                code=exc.code,
                permanent=False,
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _refusal(exc.code, exc.message) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Connection refused, reset, timed out: the server may be back in a minute.
            raise MailError(
                f"Could not reach the mail server {self.host}:{self.port}: {exc}",
                permanent=False,
            ) from exc


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class FileMailer:
    """Writes each message to ``<mail_dir>/<message id>.eml``, so Reclaim runs without a mail
    server and a developer can open what would have been sent. A resend replaces the file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, message: EmailMessage) -> None:
        try:
            await asyncio.to_thread(self._write, message)
        except OSError as exc:
            # A full disk or a missing permission: fixable, so worth another try.
            raise MailError(f"Could not write the e-mail: {exc}", permanent=False) from exc

    def _write(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = _UNSAFE.sub("_", str(message["Message-ID"] or "message").strip("<>")) + ".eml"
        target = self.directory / name
        # Written aside and renamed into place: a reader never sees half a message.
        handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".part")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(message.as_bytes())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        log.info("Wrote e-mail to %s as %s", message["To"], target)


def mailer_for(settings: Settings) -> Mailer:
    """SMTP when a host is set, else files under ``mail_dir``."""
    if settings.smtp_host:
        return SmtpMailer(settings)
    return FileMailer(settings.mail_dir)
