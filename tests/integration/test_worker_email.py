"""The worker delivering e-mail to a real SMTP server (aiosmtpd), on SQLite and PostgreSQL.

The server is real and so is the worker; only time is frozen where a retry schedule is checked,
and the crash test kills a real worker process in the middle of an SMTP conversation.
"""

from __future__ import annotations

import asyncio
import io
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pypdf
import pypdfium2
import pytest
import zxingcpp
from aiosmtpd.controller import Controller
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.config import Settings
from reclaim.db import create_engine, session_factory, transaction
from reclaim.files.storage import LocalStorage
from reclaim.kit.clock import utcnow
from reclaim.notifications.email_channel import EmailChannel
from reclaim.notifications.models import WebhookEndpoint
from reclaim.notifications.outbox import enqueue
from reclaim.notifications.signing import new_secret
from reclaim.returns import service as returns
from reclaim.returns.schemas import DispositionIn, InspectIn, ReceiveIn
from reclaim.worker.channels import default_channels
from reclaim.worker.dispatcher import Dispatcher, Tally, WorkerConfig
from tests.factories import actor, seed_order, seed_return
from tests.integration.helpers import rows, run_cli, scalar, table_rows

Sessions = async_sessionmaker[AsyncSession]
PUBLIC_URL = "https://shop.example"
CUSTOMER = "ann@example.com"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Inbox:
    """An SMTP server's handler that keeps what it accepts, and can refuse or hold messages."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[EmailMessage] = []
        # Address -> the reply to its RCPT TO, e.g. "550 5.1.1 No such user".
        self.refuse_rcpt: dict[str, str] = {}
        # The reply to every DATA while set, e.g. "451 4.3.0 Try again later".
        self.refuse_data: str | None = None
        # Hold the hold_at-th DATA (1 = the first) until released, then answer release_reply.
        self.hold_at: int | None = None
        self.held = threading.Event()
        self.release = threading.Event()
        self.release_reply = "451 4.3.0 Not accepted, send it again"
        # Keep the held message, as a server that had queued it before its answer was lost.
        self.keep_held = False
        self.data_seen = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        refusal = self.refuse_rcpt.get(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.data_seen += 1
            seen = self.data_seen
        if seen == self.hold_at:
            if self.keep_held:
                self._keep(envelope)
            self.held.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
            return self.release_reply
        if self.refuse_data:
            return self.refuse_data
        self._keep(envelope)
        return "250 Message accepted for delivery"

    def _keep(self, envelope: Any) -> None:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(message)

    def message_ids(self) -> Counter[str]:
        with self.lock:
            return Counter(str(message["Message-ID"]) for message in self.messages)


@pytest.fixture(autouse=True)
def files_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where this test's labels and QR codes are kept, for its settings and its worker processes."""
    monkeypatch.setenv("RECLAIM_FILES_DIR", str(tmp_path / "files"))
    return tmp_path / "files"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        handler.release.set()
        controller.stop()


class FrozenClock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance_to(self, moment: datetime) -> None:
        self.now = max(self.now, moment)


def _settings(db_url: str, port: int, **overrides: Any) -> Settings:
    return Settings(
        database_url=db_url,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_timeout_seconds=10,
        public_url=PUBLIC_URL,
        merchant_name="Northwind Outfitters",
        mail_from="Returns <returns@shop.example>",
        webhook_allow_private=True,
        webhook_timeout_seconds=2,
        **overrides,
    )


def _dispatcher(
    sessions: Sessions, settings: Settings, clock: FrozenClock, **kwargs: Any
) -> Dispatcher:
    return Dispatcher(
        sessions,
        kwargs.pop("channels", None) or [EmailChannel(settings)],
        WorkerConfig.from_settings(settings),
        clock=clock,
        rng=random.Random(4),
        **kwargs,
    )


async def _drain(dispatcher: Dispatcher) -> Tally:
    """Cycle until a cycle finds nothing to do; the totals of every cycle."""
    total = Tally()
    while True:
        tally = await dispatcher.run_once()
        if not tally.messages and not tally.claimed:
            return total
        for name in ("messages", "queued", "claimed", "delivered", "retrying", "dead", "lost"):
            setattr(total, name, getattr(total, name) + getattr(tally, name))


async def _move(sessions: Sessions, number: str, change: Any) -> None:
    async with transaction(sessions) as session:
        await change(session, number)


async def _note(sessions: Sessions, number: str, what: returns.Note, data: dict[str, Any]) -> None:
    async with transaction(sessions) as session:
        ret = await returns.load_for_change(session, number)
        returns.note(session, ret, what, actor("test"), data)


async def _enqueue(sessions: Sessions, topic: str, number: str, **payload: Any) -> None:
    async with transaction(sessions) as session:
        enqueue(session, topic, number, {"return": number, **payload}, utcnow())


async def _life_of_returns(sessions: Sessions) -> dict[str, list[str]]:
    """Three returns through every event that e-mails the shopper; the topics, per return."""
    await seed_order(sessions, quantity=2)
    kept = await seed_return(sessions)
    await _move(sessions, kept, lambda s, n: returns.approve(s, n, actor()))
    await _move(sessions, kept, lambda s, n: returns.mark_in_transit(s, n, actor()))
    await _note(sessions, kept, returns.Note.ARRIVED, {})
    receive = ReceiveIn.model_validate({"lines": [{"line_id": "1", "quantity": 1}]})
    await _move(sessions, kept, lambda s, n: returns.receive(s, n, receive, actor()))
    grade = InspectIn.model_validate({"lines": [{"line_id": "1", "grade": "good"}]})
    await _move(sessions, kept, lambda s, n: returns.inspect(s, n, grade, actor()))
    route = DispositionIn.model_validate({"lines": [{"line_id": "1", "disposition": "restock"}]})
    await _move(sessions, kept, lambda s, n: returns.disposition(s, n, route, actor()))
    await _move(sessions, kept, lambda s, n: returns.complete(s, n, actor()))
    await _enqueue(sessions, "refund.issued", kept, amount_minor=2500, currency="USD", last4="4242")
    await _enqueue(sessions, "credit.issued", kept, amount_minor=500, currency="USD")
    await _enqueue(
        sessions,
        "exchange.shipped",
        kept,
        items=[{"sku": "TEE-L", "name": "Tee (L)", "quantity": 1}],
        tracking_number="1Z999",
    )

    refused = await seed_return(sessions, line_id="2")
    await _move(sessions, refused, lambda s, n: returns.send_to_review(s, n, actor(), "Check"))
    await _move(sessions, refused, lambda s, n: returns.reject(s, n, actor(), "Worn and washed"))

    lapsed = await seed_return(sessions, method="box_free_dropoff")
    await _move(sessions, lapsed, lambda s, n: returns.approve(s, n, actor()))
    await _note(sessions, lapsed, returns.Note.EXPIRING, {"handover_by": utcnow().isoformat()})
    await _move(sessions, lapsed, lambda s, n: returns.expire(s, n, actor()))
    return {
        kept: [
            "return.requested",
            "return.approved",
            "return.in_transit",
            "return.arrived",
            "return.received",
            "refund.issued",
            "credit.issued",
            "exchange.shipped",
        ],
        refused: ["return.requested", "return.review", "return.rejected"],
        lapsed: ["return.requested", "return.approved", "return.expiring", "return.expired"],
    }


SUBJECT_START = {
    "return.requested": "We've got your return request",
    "return.review": "We're checking your return request",
    "return.approved": "Return {n} is approved",
    "return.rejected": "We can't accept return",
    "return.in_transit": "Return {n} is on its way to us",
    "return.arrived": "Return {n} has arrived",
    "return.received": "We've received your items",
    "return.expiring": "Reminder: hand over return",
    "return.expired": "Return {n} has expired",
    "refund.issued": "Your refund of 25.00 USD",
    "credit.issued": "5.00 USD store credit",
    "exchange.shipped": "Your exchange for return",
}


async def _email_deliveries(sessions: Sessions) -> list[tuple[Any, ...]]:
    return await rows(
        sessions,
        "SELECT d.id, o.topic, o.aggregate, d.target, d.status, d.attempts FROM deliveries d"
        " JOIN outbox o ON o.id = d.outbox_id WHERE d.channel = 'email' ORDER BY d.id",
    )


async def test_every_e_mail_event_of_a_return_reaches_the_shopper_once(
    sessions: Sessions, db_url: str, inbox: tuple[Inbox, int]
) -> None:
    server, port = inbox
    expected = await _life_of_returns(sessions)
    clock = FrozenClock()
    dispatcher = _dispatcher(sessions, _settings(db_url, port), clock)

    await _drain(dispatcher)
    assert (await _drain(dispatcher)).claimed == 0  # nothing left, nothing sent twice

    deliveries = await _email_deliveries(sessions)
    got = sorted((number, topic) for _, topic, number, *_ in deliveries)
    assert got == sorted((n, topic) for n, topics in expected.items() for topic in topics)
    assert {(target, status, attempts) for *_, target, status, attempts in deliveries} == {
        (CUSTOMER, "delivered", 1)
    }
    by_id = {str(m["Message-ID"]): m for m in server.messages}
    assert server.message_ids() == Counter(
        {f"<delivery-{d[0]}@shop.example>": 1 for d in deliveries}
    )
    for delivery_id, topic, number, *_ in deliveries:
        message = by_id[f"<delivery-{delivery_id}@shop.example>"]
        assert message["To"] == f"Ann Example <{CUSTOMER}>"
        assert message["From"] == "Northwind Outfitters <returns@shop.example>"
        # Python's header folding (policy.SMTP, which aiosmtplib sends with) puts a subject of
        # 70-77 characters on a line of its own, so it reads back with a leading space: a long
        # weekday in a reminder's date is enough. Mail readers trim it.
        subject = str(message["Subject"]).lstrip()
        assert subject.startswith(SUBJECT_START[topic].format(n=number))
        assert number in subject
        text = message.get_body(("plain",))
        assert text is not None and "What to do next:" in text.get_content()
    # Steps inside the warehouse, and the completion, are not e-mailed.
    silent = await scalar(
        sessions,
        "SELECT count(*) FROM outbox WHERE topic IN"
        " ('return.inspected', 'return.dispositioned', 'return.completed')",
    )
    assert silent == 3


async def test_a_temporary_refusal_is_retried_on_schedule_then_delivered(
    sessions: Sessions, db_url: str, inbox: tuple[Inbox, int]
) -> None:
    server, port = inbox
    await seed_order(sessions)
    await seed_return(sessions)
    server.refuse_data = "451 4.3.0 Mailbox busy, try again later"
    clock = FrozenClock()
    settings = _settings(db_url, port, retry_base_seconds=10, retry_max_seconds=3600)
    dispatcher = _dispatcher(sessions, settings, clock)

    for attempt, backoff in ((1, 10), (2, 20), (3, 40)):
        tally = await dispatcher.run_once()
        assert (tally.claimed, tally.retrying) == (1, 1)
        ((_, _, _, _, status, attempts),) = await _email_deliveries(sessions)
        assert (status, attempts) == ("pending", attempt)
        due = await scalar(sessions, "SELECT next_attempt_at FROM deliveries")
        due = due if isinstance(due, datetime) else datetime.fromisoformat(due)
        wait = (due.replace(tzinfo=clock.now.tzinfo) - clock.now).total_seconds()
        assert backoff / 2 <= wait <= backoff
        # Not a moment early: the same instant finds nothing due.
        assert (await dispatcher.run_once()).claimed == 0
        clock.advance_to(clock.now + timedelta(seconds=wait))

    server.refuse_data = None
    assert (await dispatcher.run_once()).delivered == 1
    attempts = await rows(
        sessions, "SELECT number, ok, status_code, error FROM delivery_attempts ORDER BY number"
    )
    assert [(n, bool(ok), code) for n, ok, code, _ in attempts] == [
        (1, False, 451),
        (2, False, 451),
        (3, False, 451),
        (4, True, None),
    ]
    assert all("Mailbox busy" in error for *_, error in attempts[:3])
    assert len(server.messages) == 1


@pytest.mark.usefixtures("cli_env")
async def test_a_permanent_refusal_is_dead_until_replayed(
    sessions: Sessions, db_url: str, inbox: tuple[Inbox, int]
) -> None:
    server, port = inbox
    await seed_order(sessions)
    number = await seed_return(sessions)
    server.refuse_rcpt[CUSTOMER] = "550 5.1.1 No such user here"
    clock = FrozenClock()
    dispatcher = _dispatcher(sessions, _settings(db_url, port), clock)

    assert (await dispatcher.run_once()).dead == 1
    ((delivery_id, *_, status, attempts),) = await _email_deliveries(sessions)
    assert (status, attempts) == ("dead", 1)
    clock.advance_to(clock.now + timedelta(days=2))
    assert (await dispatcher.run_once()).claimed == 0  # dead stays dead

    dead = await run_cli("outbox", "dead")
    assert dead.exit_code == 0, dead.output
    ((shown_id, channel, target, topic, shown_attempts, error),) = table_rows(dead.output)
    assert (shown_id, channel, target, topic, shown_attempts) == (
        str(delivery_id),
        "email",
        CUSTOMER,
        "return.requested",
        "1",
    )
    assert error.startswith("550 5.1.1 No such user")

    del server.refuse_rcpt[CUSTOMER]
    replay = await run_cli("outbox", "replay", str(delivery_id))
    assert replay.exit_code == 0, replay.output
    assert "Replayed 1 delivery" in replay.output
    clock.advance_to(utcnow() + timedelta(seconds=1))
    assert (await dispatcher.run_once()).delivered == 1
    ((*_, status, attempts),) = await _email_deliveries(sessions)
    assert (status, attempts) == ("delivered", 2)
    (message,) = server.messages
    assert message["Message-ID"] == f"<delivery-{delivery_id}@shop.example>"
    assert number in str(message["Subject"])


async def test_e_mails_go_once_while_webhooks_for_the_same_events_fail_and_retry(
    sessions: Sessions, engine: Any, db_url: str, inbox: tuple[Inbox, int]
) -> None:
    server, port = inbox
    async with transaction(sessions) as session:
        session.add(
            WebhookEndpoint(
                url=f"http://127.0.0.1:{_free_port()}/hooks",  # nothing listens there
                event_types=["*"],
                secret=new_secret(),
                active=True,
            )
        )
    await seed_order(sessions)
    number = await seed_return(sessions)
    await _move(sessions, number, lambda s, n: returns.approve(s, n, actor()))
    settings = _settings(db_url, port, retry_base_seconds=10, retry_max_seconds=60)
    clock = FrozenClock()
    dispatcher = _dispatcher(
        sessions,
        settings,
        clock,
        channels=default_channels(settings, session_factory(engine, read_only=True)),
    )

    for _ in range(5):
        await dispatcher.run_once()
        clock.advance_to(clock.now + timedelta(seconds=61))

    by_channel = await rows(
        sessions,
        "SELECT channel, status, attempts FROM deliveries ORDER BY channel, outbox_id",
    )
    assert by_channel == [
        ("email", "delivered", 1),
        ("email", "delivered", 1),
        ("webhook", "pending", 5),
        ("webhook", "pending", 5),
    ]
    assert len(server.messages) == 2
    assert set(server.message_ids().values()) == {1}
    failures = await scalar(
        sessions,
        "SELECT count(*) FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id"
        " WHERE d.channel = 'webhook' AND NOT a.ok",
    )
    assert failures == 10


async def _approved_mail(
    sessions: Sessions, db_url: str, inbox: tuple[Inbox, int], method: str, **kwargs: Any
) -> tuple[str, str, EmailMessage]:
    """A return approved, the worker run: its number, tracking number and approval e-mail."""
    server, port = inbox
    await seed_order(sessions)
    number = await seed_return(sessions, method=method)
    await _move(sessions, number, lambda s, n: returns.approve(s, n, actor()))
    settings = _settings(db_url, port)
    await _drain(_dispatcher(sessions, settings, FrozenClock(), channels=kwargs.get("channels")))
    tracking = await scalar(sessions, "SELECT tracking_number FROM shipments")
    approved = [m for m in server.messages if "is approved" in str(m["Subject"])]
    assert len(approved) == 1, [str(m["Subject"]) for m in server.messages]
    return number, str(tracking), approved[0]


def _codes(image: Image.Image) -> dict[zxingcpp.BarcodeFormat, str]:
    return {found.format: found.text for found in zxingcpp.read_barcodes(image)}


async def test_the_approval_e_mail_carries_the_label_pdf_the_return_page_serves(
    sessions: Sessions, db_url: str, inbox: tuple[Inbox, int], files_dir: Path
) -> None:
    number, tracking, message = await _approved_mail(sessions, db_url, inbox, "prepaid_label")

    (attached,) = message.iter_attachments()
    assert attached.get_content_type() == "application/pdf"
    assert attached.get_filename() == f"{number}-label.pdf"
    pdf = attached.get_content()
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 2  # the label, then the packing slip
    label_text = reader.pages[0].extract_text()
    assert number in label_text and tracking in label_text
    page = pypdfium2.PdfDocument(pdf)[0].render(scale=300 / 72).to_pil()
    codes = _codes(page)
    assert codes[zxingcpp.BarcodeFormat.Code128] == tracking
    assert codes[zxingcpp.BarcodeFormat.QRCode] == number
    # The file kept for downloads is the one sent: a reprint is the label in the e-mail.
    key = await scalar(sessions, "SELECT label_key FROM shipments")
    assert LocalStorage(files_dir).get(key) == pdf
    text = message.get_body(("plain",))
    assert text is not None and f"attached to this e-mail as {number}-label.pdf" in (
        text.get_content()
    )


async def test_a_box_free_approval_carries_the_qr_code_attached_and_shown_inline(
    sessions: Sessions, db_url: str, inbox: tuple[Inbox, int]
) -> None:
    number, tracking, message = await _approved_mail(sessions, db_url, inbox, "box_free_dropoff")

    (attached,) = message.iter_attachments()
    assert attached.get_content_type() == "image/png"
    assert attached.get_filename() == f"{number}-qr.png"
    png = attached.get_content()
    assert _codes(Image.open(io.BytesIO(png))) == {zxingcpp.BarcodeFormat.QRCode: tracking}
    html = message.get_body(("html",))
    assert html is not None
    cid = f"qr-{number.lower()}@shop.example"
    assert f'src="cid:{cid}"' in html.get_content()
    (inline,) = [part for part in message.walk() if part["Content-ID"] == f"<{cid}>"]
    assert inline.get_content() == png


class BrokenStorage:
    """File storage whose disk is gone."""

    def put(self, key: str, data: bytes) -> None:
        raise OSError("No space left on device")

    def get(self, key: str) -> bytes:
        raise FileNotFoundError(key)

    def delete(self, key: str) -> None:
        raise OSError("No space left on device")


async def test_without_its_label_the_approval_e_mail_still_goes_and_says_where_to_get_it(
    sessions: Sessions, db_url: str, inbox: tuple[Inbox, int], caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(db_url, inbox[1])
    channel = EmailChannel(settings, storage=BrokenStorage())

    number, _, message = await _approved_mail(
        sessions, db_url, inbox, "prepaid_label", channels=[channel]
    )

    assert list(message.iter_attachments()) == []
    text = message.get_body(("plain",))
    assert text is not None
    assert f"Open your return page and print the label: {PUBLIC_URL}/returns/r/{number}" in (
        text.get_content()
    )
    assert await scalar(sessions, "SELECT label_key FROM shipments") is None
    assert f"Return {number}: its approval e-mail goes without" in caplog.text


async def test_an_approval_e_mail_for_a_return_cancelled_meanwhile_carries_no_void_label(
    sessions: Sessions, db_url: str, inbox: tuple[Inbox, int]
) -> None:
    server, port = inbox
    await seed_order(sessions)
    number = await seed_return(sessions)
    await _move(sessions, number, lambda s, n: returns.approve(s, n, actor()))
    await _move(sessions, number, lambda s, n: returns.cancel(s, n, actor(), "Changed my mind"))

    await _drain(_dispatcher(sessions, _settings(db_url, port), FrozenClock()))

    (approved,) = [m for m in server.messages if "is approved" in str(m["Subject"])]
    assert list(approved.iter_attachments()) == []
    assert await scalar(sessions, "SELECT label_key FROM shipments") is None


def _worker_process(db_url: str, port: int, **overrides: str) -> subprocess.Popen[str]:
    """``python -m reclaim worker`` on the database and SMTP port; ``overrides``: more env."""
    env = {
        **os.environ,
        "RECLAIM_DATABASE_URL": db_url,
        "RECLAIM_DB_POOL_SIZE": "5",
        "RECLAIM_SMTP_HOST": "127.0.0.1",
        "RECLAIM_SMTP_PORT": str(port),
        "RECLAIM_PUBLIC_URL": PUBLIC_URL,
        "RECLAIM_WORKER_LEASE_SECONDS": "1",
        "RECLAIM_WORKER_POLL_SECONDS": "0.1",
        "RECLAIM_WORKER_BATCH": "50",
        **overrides,
    }
    env.pop("RECLAIM_POLICY_FILE", None)
    return subprocess.Popen(
        [sys.executable, "-m", "reclaim", "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


async def _wait_for(sessions: Sessions, sql: str, expected: Any, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while (got := await scalar(sessions, sql)) != expected:
        assert time.monotonic() < deadline, f"{sql} is {got}, still not {expected}"
        await asyncio.sleep(0.1)


async def test_a_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice(
    sessions: Sessions,
    db_url: str,
    inbox: tuple[Inbox, int],
    processes: list[subprocess.Popen[str]],
) -> None:
    server, port = inbox
    await seed_order(sessions, quantity=6)
    for _ in range(6):
        number = await seed_return(sessions)
        await _move(sessions, number, lambda s, n: returns.approve(s, n, actor()))
    server.hold_at = 5

    first = _worker_process(db_url, port)
    processes.append(first)
    assert await asyncio.to_thread(server.held.wait, 60), "the worker never got to the 5th e-mail"
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    # The server never took the fifth message: the worker died waiting for the answer.
    server.release.set()

    state = await rows(sessions, "SELECT status, claimed_by IS NOT NULL FROM deliveries")
    assert Counter(state) == {("delivered", False): 4, ("pending", True): 8}

    second = _worker_process(db_url, port)
    processes.append(second)
    await _wait_for(sessions, "SELECT count(*) FROM deliveries WHERE status = 'delivered'", 12)
    second.send_signal(signal.SIGTERM)
    output, _ = await asyncio.to_thread(second.communicate, timeout=30)
    assert second.returncode == 0, output
    assert "Worker stopped." in output

    ids = [row[0] for row in await rows(sessions, "SELECT id FROM deliveries ORDER BY id")]
    assert server.message_ids() == Counter({f"<delivery-{i}@shop.example>": 1 for i in ids})
    successes = await rows(
        sessions,
        "SELECT delivery_id, count(*) FROM delivery_attempts WHERE ok GROUP BY delivery_id",
    )
    assert sorted(successes) == [(i, 1) for i in ids]
    assert (
        await scalar(sessions, "SELECT count(*) FROM deliveries WHERE claimed_by IS NOT NULL") == 0
    )


async def test_a_worker_killed_after_the_server_took_a_message_resends_it_under_its_message_id(
    sessions: Sessions,
    db_url: str,
    inbox: tuple[Inbox, int],
    processes: list[subprocess.Popen[str]],
) -> None:
    """The one window SMTP leaves open: the server has the message, the worker dies before the
    answer. The next worker sends it again, and it is the same message (the same Message-ID), so
    a mail system that de-duplicates shows it once; nothing else is repeated."""
    server, port = inbox
    await seed_order(sessions, quantity=3)
    for _ in range(3):
        number = await seed_return(sessions)
        await _move(sessions, number, lambda s, n: returns.approve(s, n, actor()))
    server.hold_at, server.keep_held = 2, True

    first = _worker_process(db_url, port)
    processes.append(first)
    assert await asyncio.to_thread(server.held.wait, 60), "the worker never got to the 2nd e-mail"
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    server.release.set()

    second = _worker_process(db_url, port)
    processes.append(second)
    await _wait_for(sessions, "SELECT count(*) FROM deliveries WHERE status = 'delivered'", 6)
    second.send_signal(signal.SIGTERM)
    await asyncio.to_thread(second.communicate, timeout=30)

    counts = server.message_ids()
    assert sorted(counts.values()) == [1, 1, 1, 1, 1, 2]
    (resent,) = [message_id for message_id, n in counts.items() if n == 2]
    copies = [m.as_bytes() for m in server.messages if str(m["Message-ID"]) == resent]
    assert copies[0] == copies[1]  # rendered once: the same bytes, date and all
    successes = await rows(
        sessions, "SELECT count(*) FROM delivery_attempts WHERE ok GROUP BY delivery_id"
    )
    assert sorted(n for (n,) in successes) == [1] * 6


async def test_two_workers_racing_never_deliver_one_row_twice(
    sessions: Sessions, db_url: str, inbox: tuple[Inbox, int]
) -> None:
    server, port = inbox
    await seed_order(sessions)
    number = await seed_return(sessions)
    async with transaction(sessions) as session:
        for i in range(199):
            enqueue(session, "return.received", number, {"return": number, "n": i}, utcnow())
    settings = _settings(db_url, port, worker_batch=20)

    async def worker() -> Tally:
        engine = create_engine(db_url, pool_size=3)
        try:
            return await _drain(
                Dispatcher(
                    session_factory(engine),
                    [EmailChannel(settings)],
                    WorkerConfig.from_settings(settings),
                )
            )
        finally:
            await engine.dispose()

    first, second = await asyncio.gather(worker(), worker())

    assert first.delivered + second.delivered == 200
    assert first.delivered and second.delivered, "the workers did not overlap"
    assert first.lost == second.lost == 0
    assert (
        await scalar(sessions, "SELECT count(*) FROM deliveries WHERE status = 'delivered'") == 200
    )
    assert await scalar(sessions, "SELECT count(*) FROM delivery_attempts") == 200
    assert await scalar(sessions, "SELECT count(*) FROM outbox WHERE dispatched_at IS NULL") == 0
    received = server.message_ids()
    assert len(received) == 200 and set(received.values()) == {1}


class Gate(Inbox):
    """An inbox that takes no message until opened: workers pile up claims behind it."""

    def __init__(self) -> None:
        super().__init__()
        self.opened = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.get_running_loop().run_in_executor(None, self.opened.wait, 60)
        return await super().handle_DATA(server, session, envelope)


async def test_two_worker_processes_on_postgresql_share_a_backlog_and_send_each_once(
    sessions: Sessions, db_url: str, processes: list[subprocess.Popen[str]]
) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("more than one worker process is a PostgreSQL deployment")
    await seed_order(sessions)
    number = await seed_return(sessions)
    async with transaction(sessions) as session:
        for i in range(59):
            enqueue(session, "return.received", number, {"return": number, "n": i}, utcnow())
    server, port = Gate(), _free_port()
    controller = Controller(server, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        # Small batches, and leases far longer than the test: a claim is never taken over, so
        # the only thing keeping a message from going twice is the claim itself.
        for _ in range(2):
            processes.append(
                _worker_process(
                    db_url,
                    port,
                    RECLAIM_WORKER_BATCH="5",
                    RECLAIM_WORKER_LEASE_SECONDS="300",
                    RECLAIM_SMTP_TIMEOUT_SECONDS="60",
                )
            )
        # Both hold a batch before any message goes, so they certainly work side by side.
        await _wait_for(
            sessions,
            "SELECT count(DISTINCT claimed_by) FROM deliveries WHERE claimed_by IS NOT NULL",
            2,
        )
        server.opened.set()
        await _wait_for(sessions, "SELECT count(*) FROM deliveries WHERE status = 'delivered'", 60)
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            output, _ = await asyncio.to_thread(process.communicate, timeout=30)
            assert process.returncode == 0, output
    finally:
        server.opened.set()
        controller.stop()

    ids = [row[0] for row in await rows(sessions, "SELECT id FROM deliveries ORDER BY id")]
    assert len(ids) == 60
    assert server.message_ids() == Counter({f"<delivery-{i}@shop.example>": 1 for i in ids})
    successes = await rows(
        sessions,
        "SELECT delivery_id, count(*) FROM delivery_attempts WHERE ok GROUP BY delivery_id",
    )
    assert sorted(successes) == [(i, 1) for i in ids]
    assert await scalar(sessions, "SELECT count(*) FROM delivery_attempts WHERE NOT ok") == 0
    assert await scalar(sessions, "SELECT count(DISTINCT worker) FROM delivery_attempts") == 2
    assert await scalar(sessions, "SELECT count(*) FROM outbox WHERE dispatched_at IS NULL") == 0
