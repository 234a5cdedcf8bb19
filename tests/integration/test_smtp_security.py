"""The worker's e-mail over TLS and with a login, against a real SMTP server (aiosmtpd) holding a
certificate signed by a CA made for the test, on SQLite and PostgreSQL.

The certificates come from the ``openssl`` command line, so the suite needs no crypto package.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from reclaim.config import Settings
from tests.factories import seed_order, seed_return
from tests.integration.helpers import rows
from tests.integration.test_worker_email import (
    CUSTOMER,
    FrozenClock,
    Inbox,
    Sessions,
    _dispatcher,
    _email_deliveries,
    _free_port,
    _settings,
)

USERNAME = "reclaim"
PASSWORD = "s3cret-relay-password"


@dataclass(frozen=True, slots=True)
class Certificates:
    ca: Path
    cert: Path
    key: Path


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A CA, and a certificate it signed for 127.0.0.1, where the test's server listens."""
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is needed to make the test's certificates")
    here = tmp_path_factory.mktemp("tls")
    ca, ca_key = here / "ca.pem", here / "ca.key"
    cert, key, request = here / "server.pem", here / "server.key", here / "server.csr"
    extensions = here / "server.ext"
    extensions.write_text(
        "subjectAltName = IP:127.0.0.1, DNS:localhost\n"
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature\n"
        "extendedKeyUsage = serverAuth\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid\n"
    )
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2",
        "-subj", "/CN=Reclaim test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    _openssl("req", *ec, "-keyout", key, "-out", request, "-subj", "/CN=127.0.0.1")
    _openssl(
        "x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", cert, "-days", "2", "-extfile", extensions,
    )  # fmt: skip
    return Certificates(ca, cert, key)


def _server_tls(certificates: Certificates) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates.cert, certificates.key)
    return context


class Guarded(Inbox):
    """An inbox that also notes how each message came: over TLS or not, and who logged in."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[bool, str | None]] = []
        self.starttls = 0
        self.logins: list[tuple[str, bool]] = []

    def handle_STARTTLS(self, server: SMTP, session: Session, envelope: Envelope) -> bool:
        self.starttls += 1
        return True

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        with self.lock:
            self.arrivals.append((encrypted, session.auth_data))
        return await super().handle_DATA(server, session, envelope)

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        user, password = data.login.decode(), data.password.decode()
        right = (user, password) == (USERNAME, PASSWORD)
        with self.lock:
            self.logins.append((user, right))
        # Not handled here: aiosmtpd answers a refusal with its own 535.
        return AuthResult(success=right, handled=False, auth_data=user if right else None)


@dataclass
class Server:
    inbox: Guarded
    port: int


def _serve_with(inbox: Guarded, **options: Any) -> Iterator[Server]:
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield Server(inbox, port)
    finally:
        controller.stop()


@pytest.fixture
def starttls_server(certificates: Certificates) -> Iterator[Server]:
    """A relay as a mail provider runs one: STARTTLS before anything else, then a login."""
    inbox = Guarded()
    yield from _serve_with(
        inbox,
        tls_context=_server_tls(certificates),
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=inbox.authenticate,
    )


@pytest.fixture
def implicit_tls_server(certificates: Certificates) -> Iterator[Server]:
    """TLS from the first byte (SMTPS, usually port 465)."""
    yield from _serve_with(Guarded(), ssl_context=_server_tls(certificates))


@pytest.fixture
def offering_server(certificates: Certificates) -> Iterator[Server]:
    """A server that offers STARTTLS but takes mail without it."""
    yield from _serve_with(Guarded(), tls_context=_server_tls(certificates))


def _secure(db_url: str, server: Server, certificates: Certificates, **overrides: Any) -> Settings:
    return _settings(db_url, server.port, smtp_ca_file=certificates.ca, **overrides)


async def _one_e_mail_due(sessions: Sessions) -> None:
    await seed_order(sessions)
    await seed_return(sessions)


async def test_starttls_with_a_login_delivers_over_tls_as_the_configured_user(
    sessions: Sessions, db_url: str, starttls_server: Server, certificates: Certificates
) -> None:
    await _one_e_mail_due(sessions)
    settings = _secure(
        db_url,
        starttls_server,
        certificates,
        smtp_tls="starttls",
        smtp_username=USERNAME,
        smtp_password=PASSWORD,
    )

    tally = await _dispatcher(sessions, settings, FrozenClock()).run_once()

    assert tally.delivered == 1
    server = starttls_server.inbox
    assert server.starttls == 1
    assert server.logins == [(USERNAME, True)]
    assert server.arrivals == [(True, USERNAME)]
    (message,) = server.messages
    assert message["To"] == f"Ann Example <{CUSTOMER}>"


async def test_implicit_tls_delivers(
    sessions: Sessions, db_url: str, implicit_tls_server: Server, certificates: Certificates
) -> None:
    await _one_e_mail_due(sessions)
    settings = _secure(db_url, implicit_tls_server, certificates, smtp_tls="tls")

    tally = await _dispatcher(sessions, settings, FrozenClock()).run_once()

    assert tally.delivered == 1
    assert implicit_tls_server.inbox.arrivals == [(True, None)]
    assert implicit_tls_server.inbox.starttls == 0


async def test_a_wrong_password_keeps_the_e_mail_pending_until_the_settings_are_fixed(
    sessions: Sessions, db_url: str, starttls_server: Server, certificates: Certificates
) -> None:
    await _one_e_mail_due(sessions)
    clock = FrozenClock()

    def login(password: str) -> Settings:
        return _secure(
            db_url,
            starttls_server,
            certificates,
            smtp_tls="starttls",
            smtp_username=USERNAME,
            smtp_password=password,
        )

    tally = await _dispatcher(sessions, login("not-the-password"), clock).run_once()

    assert (tally.claimed, tally.retrying, tally.dead) == (1, 1, 0)
    ((*_, status, attempts),) = await _email_deliveries(sessions)
    assert (status, attempts) == ("pending", 1)
    ((code, error),) = await rows(sessions, "SELECT status_code, error FROM delivery_attempts")
    assert code == 535
    assert "refused our login" in error and "RECLAIM_SMTP_PASSWORD" in error
    assert PASSWORD not in error and "not-the-password" not in error
    assert starttls_server.inbox.messages == []

    clock.advance_to(clock.now + timedelta(hours=1))
    assert (await _dispatcher(sessions, login(PASSWORD), clock).run_once()).delivered == 1
    ((*_, status, attempts),) = await _email_deliveries(sessions)
    assert (status, attempts) == ("delivered", 2)


async def test_a_certificate_from_an_untrusted_ca_is_not_sent_to(
    sessions: Sessions, db_url: str, implicit_tls_server: Server
) -> None:
    await _one_e_mail_due(sessions)
    settings = _settings(db_url, implicit_tls_server.port, smtp_tls="tls")

    tally = await _dispatcher(sessions, settings, FrozenClock()).run_once()

    assert (tally.delivered, tally.retrying) == (0, 1)
    ((*_, status, _),) = await _email_deliveries(sessions)
    assert status == "pending"
    ((error,),) = await rows(sessions, "SELECT error FROM delivery_attempts")
    assert "CERTIFICATE_VERIFY_FAILED" in error
    assert implicit_tls_server.inbox.messages == []


async def test_without_tls_the_mailer_never_asks_for_starttls_even_when_offered(
    sessions: Sessions, db_url: str, offering_server: Server
) -> None:
    await _one_e_mail_due(sessions)
    settings = _settings(db_url, offering_server.port, smtp_tls="none")

    tally = await _dispatcher(sessions, settings, FrozenClock()).run_once()

    assert tally.delivered == 1
    assert offering_server.inbox.starttls == 0
    assert offering_server.inbox.arrivals == [(False, None)]
