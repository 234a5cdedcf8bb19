"""E-mails to the shopper: which events they hear about, what each e-mail says, and sending it.

The e-mail is rendered when the outbox message fans out and stored on the delivery, so every
retry sends exactly the same message; its ``Message-ID`` comes from the delivery's id, so a
receiver (or the shopper's mail client) can recognise a resend.

Payloads of the money and exchange events, for the code that emits them (amounts in minor
units, like everywhere else):

- ``refund.issued``: ``{"return", "amount_minor", "currency", "method"?, "last4"?}`` where
  ``method`` is how the money goes back (``card``, ``paypal``, …) and ``last4`` the card's
  last four digits;
- ``credit.issued``: ``{"return", "amount_minor", "currency", "balance_minor"?}``, the balance
  being the shopper's store credit after this one;
- ``exchange.shipped``: ``{"return", "items": [{"sku", "name", "quantity"}], "carrier"?,
  "tracking_number"?}``.

``return.completed`` sends nothing: the refund, credit or exchange e-mail already told the
shopper how it ended, and a returnless approval said so up front.

The approval e-mail carries what the shopper hands over: the label PDF (label and pickup
shipments) or the drop-off QR code PNG, also shown inside the HTML. Both come from file
storage, like the downloads, so the e-mail holds the label the return page offers. If neither
can be had, the e-mail goes without: it still says where to get them.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from reclaim.config import Settings
from reclaim.files.storage import FileStorage, LocalStorage
from reclaim.kit.clock import as_utc
from reclaim.kit.money import Money
from reclaim.logistics.shipments import LABEL_KINDS, dropoff_qr_png, label_pdf, shipment_of
from reclaim.notifications.channels import Recipient, Sent
from reclaim.notifications.mailer import Mailer, MailError, mailer_for
from reclaim.notifications.models import Delivery, OutboxMessage
from reclaim.orders.models import OrderLine
from reclaim.returns.models import Return, ReturnLine

log = logging.getLogger(__name__)

# Every topic the shopper hears about; each has <topic>.txt (with the subject) and .html.
EMAIL_TOPICS = frozenset(
    {
        "return.requested",
        "return.review",
        "return.approved",
        "return.rejected",
        "return.in_transit",
        "return.arrived",
        "return.received",
        "return.expiring",
        "return.expired",
        "refund.issued",
        "credit.issued",
        "exchange.shipped",
    }
)

# Where a QR code is shown, in the shopper's words.
PLACE = {"box_free_dropoff": "drop-off point", "locker": "locker", "in_store": "store"}
# A label is a few kilobytes and a QR code less; anything far bigger is no label of ours, and
# would bloat the delivery row that every retry reads.
MAX_ATTACHMENT_BYTES = 1024 * 1024
PDF, PNG = "application/pdf", "image/png"


def wants_email(topic: str, payload: Mapping[str, Any]) -> bool:
    """Whether this event is worth an e-mail to the shopper."""
    if topic not in EMAIL_TOPICS:
        return False
    if topic == "return.requested":
        # Decided on the spot (approved, sent to review) the next event's e-mail says it all;
        # only a request left for staff needs its own "we've got it".
        return payload.get("outcome") == "manual"
    if topic == "return.in_transit":
        # Later scans of a parcel already travelling are not news.
        return payload.get("from_status") != "in_transit"
    return True


@dataclass(frozen=True, slots=True)
class Item:
    ref: str
    name: str
    quantity: int


@dataclass(frozen=True, slots=True)
class ReturnFacts:
    """What the e-mails say about a return, read once at fan-out."""

    number: str
    email: str
    customer_name: str | None
    method: str
    currency: str
    items: tuple[Item, ...]
    resolutions: frozenset[str] = frozenset()
    kind: str | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    facility_name: str | None = None
    facility_address: str | None = None
    facility_hours: str | None = None
    pickup_start: datetime | None = None
    pickup_end: datetime | None = None
    handover_by: datetime | None = None
    # The shipment is not called off: its label and QR code still work.
    shipment_live: bool = False


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file the e-mail carries; with a ``cid`` the HTML part also shows it (an image)."""

    filename: str
    content_type: str
    data: bytes
    cid: str | None = None

    def stored(self) -> dict[str, str]:
        """As kept in the delivery's content (JSON)."""
        kept = {
            "filename": self.filename,
            "content_type": self.content_type,
            "data_b64": base64.b64encode(self.data).decode("ascii"),
        }
        return kept | ({"cid": self.cid} if self.cid else {})

    @classmethod
    def from_stored(cls, kept: Mapping[str, Any]) -> Attachment:
        return cls(
            filename=str(kept["filename"]),
            content_type=str(kept["content_type"]),
            data=base64.b64decode(str(kept["data_b64"]), validate=True),
            cid=str(kept["cid"]) if kept.get("cid") else None,
        )


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


@dataclass(frozen=True, slots=True)
class Brand:
    merchant_name: str
    public_url: str

    @property
    def base(self) -> str:
        return self.public_url.rstrip("/")

    def status_url(self, number: str) -> str:
        return f"{self.base}/returns/r/{number}"


def _money(minor: int | None, currency: str) -> str:
    return Money(int(minor), currency).format() if minor is not None else ""


def _day(moment: datetime | str | None) -> str:
    if moment is None:
        return ""
    moment = as_utc(datetime.fromisoformat(moment) if isinstance(moment, str) else moment)
    return f"{moment:%A} {moment.day} {moment:%B %Y}"


def _time(moment: datetime | None) -> str:
    return f"{as_utc(moment):%H:%M} UTC" if moment else ""


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("reclaim.notifications", "templates/email"),
        # Only the HTML part is escaped; the text part is plain text and must stay as written.
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(money=_money, day=_day, time=_time)
    return env


_ENV = _environment()
_SPACES = re.compile(r"\s+")


# What the shopper gets back, by line resolution; a returnless return refunds.
SETTLEMENT = {
    "refund": "refund",
    "keep_item": "refund",
    "store_credit": "store credit",
    "exchange": "exchange",
}


def _settlement(resolutions: frozenset[str]) -> str:
    words = sorted({SETTLEMENT[r] for r in resolutions if r in SETTLEMENT})
    return " and ".join(words) or "refund"


def _received(facts: ReturnFacts, payload: Mapping[str, Any]) -> list[Item]:
    lines = payload.get("lines")
    if not isinstance(lines, Mapping):
        return list(facts.items)
    names = {item.ref: item.name for item in facts.items}
    return [Item(str(ref), names.get(str(ref), str(ref)), int(qty)) for ref, qty in lines.items()]


def _exchange_items(payload: Mapping[str, Any]) -> list[Item]:
    items = payload.get("items")
    if not isinstance(items, list):
        return []
    return [
        Item(
            str(item.get("sku", "")),
            str(item.get("name") or item.get("sku", "")),
            int(item.get("quantity", 1)),
        )
        for item in items
        if isinstance(item, Mapping)
    ]


def _context(
    topic: str,
    facts: ReturnFacts,
    payload: Mapping[str, Any],
    brand: Brand,
    attachments: Sequence[Attachment],
) -> dict[str, Any]:
    amount = payload.get("amount_minor")
    currency = str(payload.get("currency") or facts.currency)
    files = {attachment.content_type: attachment for attachment in attachments}
    label, qr = files.get(PDF), files.get(PNG)
    return {
        "topic": topic,
        "merchant": brand.merchant_name,
        "number": facts.number,
        "customer_name": facts.customer_name,
        "items": facts.items,
        "status_url": brand.status_url(facts.number),
        "portal_url": f"{brand.base}/returns",
        "method": facts.method,
        "place": PLACE.get(facts.method, "drop-off point"),
        "kind": facts.kind,
        "carrier": facts.carrier,
        "tracking_number": facts.tracking_number or payload.get("tracking_number"),
        "facility_name": facts.facility_name,
        "facility_address": facts.facility_address,
        "facility_hours": facts.facility_hours,
        "pickup_start": facts.pickup_start,
        "pickup_end": facts.pickup_end,
        "handover_by": payload.get("handover_by") or facts.handover_by,
        "returnless": bool(payload.get("returnless")) or facts.method == "keep_item",
        "settlement": _settlement(facts.resolutions),
        "reason": payload.get("reason"),
        "received": _received(facts, payload),
        "amount": _money(amount, currency) if isinstance(amount, int) else None,
        "balance": _money(payload["balance_minor"], currency)
        if isinstance(payload.get("balance_minor"), int)
        else None,
        "refund_method": payload.get("method"),
        "last4": payload.get("last4"),
        "exchange_items": _exchange_items(payload),
        "exchange_carrier": payload.get("carrier"),
        "exchange_tracking": payload.get("tracking_number"),
        "label_file": label.filename if label else None,
        "qr_file": qr.filename if qr else None,
        "qr_cid": qr.cid if qr else None,
    }


def render(
    topic: str,
    facts: ReturnFacts,
    payload: Mapping[str, Any],
    brand: Brand,
    attachments: Sequence[Attachment] = (),
) -> Rendered:
    """Subject, plain text and HTML of the e-mail for one event; the text names the files
    ``attachments`` carries, and the HTML shows the image that has a ``cid``."""
    context = _context(topic, facts, payload, brand, attachments)
    text_template = _ENV.get_template(f"{topic}.txt")
    subject_block = text_template.blocks["subject"]
    # One line, whatever the template's whitespace: a header can't span lines.
    subject = _SPACES.sub(" ", "".join(subject_block(text_template.new_context(context)))).strip()
    context["subject"] = subject
    return Rendered(
        subject=subject,
        text=text_template.render(context),
        html=_ENV.get_template(f"{topic}.html").render(context),
    )


async def load_facts(session: AsyncSession, number: str) -> ReturnFacts | None:
    ret = await session.scalar(
        select(Return)
        .where(Return.number == number)
        .options(
            joinedload(Return.customer, innerjoin=True),
            selectinload(Return.lines)
            .joinedload(ReturnLine.order_line, innerjoin=True)
            .joinedload(OrderLine.product, innerjoin=True),
            selectinload(Return.facility),
        )
    )
    if ret is None:
        return None
    shipment = await shipment_of(session, ret.id)
    facility = ret.facility
    return ReturnFacts(
        number=ret.number,
        email=ret.customer.email.strip(),
        customer_name=ret.customer.name,
        method=ret.method,
        currency=ret.currency,
        items=tuple(
            Item(line.order_line.line_ref, line.order_line.product.name, line.quantity)
            for line in ret.lines
        ),
        resolutions=frozenset(line.resolution for line in ret.lines),
        kind=shipment.kind if shipment else None,
        carrier=shipment.carrier if shipment else None,
        tracking_number=shipment.tracking_number if shipment else None,
        facility_name=facility.name if facility else None,
        facility_address=facility.address if facility else None,
        facility_hours=facility.opening_hours if facility else None,
        pickup_start=ret.pickup_start,
        pickup_end=ret.pickup_end,
        handover_by=ret.handover_by,
        shipment_live=shipment is not None and shipment.cancelled_at is None,
    )


class EmailChannel:
    """The shopper's e-mail: one delivery per event that :func:`wants_email`."""

    name = "email"

    def __init__(
        self,
        settings: Settings,
        mailer: Mailer | None = None,
        storage: FileStorage | None = None,
    ) -> None:
        self.settings = settings
        self.mailer = mailer or mailer_for(settings)
        # Where the web app keeps labels and QR codes: the e-mail sends the same files.
        self.storage = storage or LocalStorage(settings.files_dir)

    @property
    def brand(self) -> Brand:
        return Brand(self.settings.merchant_name, self.settings.public_url)

    async def recipients(self, session: AsyncSession, message: OutboxMessage) -> list[Recipient]:
        payload = message.payload or {}
        if not wants_email(message.topic, payload):
            return []
        facts = await load_facts(session, str(payload.get("return") or message.aggregate))
        if facts is None or not facts.email:
            return []
        attachments = await self.attachments(session, message.topic, payload, facts)
        rendered = render(message.topic, facts, payload, self.brand, attachments)
        # The merchant's name is who the shopper knows; the address is the operator's sender.
        _, sender = parseaddr(self.settings.mail_from)
        content = {
            "topic": message.topic,
            "from_name": _SPACES.sub(" ", self.settings.merchant_name).strip(),
            "from": sender,
            "to_name": _SPACES.sub(" ", facts.customer_name or "").strip(),
            "to": facts.email,
            "subject": rendered.subject,
            "date": format_datetime(as_utc(message.created_at)),
            "text": rendered.text,
            "html": rendered.html,
            "attachments": [attachment.stored() for attachment in attachments],
        }
        return [Recipient(target=facts.email.lower(), content=content)]

    async def attachments(
        self, session: AsyncSession, topic: str, payload: Mapping[str, Any], facts: ReturnFacts
    ) -> list[Attachment]:
        """What the shopper hands over, for the approval e-mail: the label, or the QR code."""
        if topic != "return.approved" or payload.get("returnless") or not facts.shipment_live:
            return []
        number = facts.number
        try:
            # A savepoint: a render that fails after writing leaves the fan-out unharmed.
            async with session.begin_nested():
                if facts.kind in LABEL_KINDS:
                    data = await label_pdf(
                        session, self.storage, number, merchant_name=self.settings.merchant_name
                    )
                    found = Attachment(f"{number}-label.pdf", PDF, data)
                else:
                    data = await dropoff_qr_png(session, self.storage, number)
                    found = Attachment(f"{number}-qr.png", PNG, data, cid=self.content_id(number))
        except Exception:
            # Whatever went wrong, the e-mail still says how to get them from the return page.
            log.exception("Return %s: its approval e-mail goes without label or QR code", number)
            return []
        if len(found.data) > MAX_ATTACHMENT_BYTES:
            log.warning(
                "Return %s: %s is %d bytes, too big to attach",
                number,
                found.filename,
                len(found.data),
            )
            return []
        return [found]

    def content_id(self, number: str) -> str:
        """The QR code's id inside the e-mail; fixed, so every resend is the same message."""
        return f"qr-{number.lower()}@{self.host}"

    @property
    def host(self) -> str:
        return urlsplit(self.settings.public_url).hostname or "localhost"

    def message_id(self, delivery_id: int) -> str:
        return f"<delivery-{delivery_id}@{self.host}>"

    def build(self, delivery: Delivery) -> EmailMessage:
        content = delivery.content
        files = [Attachment.from_stored(kept) for kept in content.get("attachments") or []]
        message = EmailMessage()
        message["From"] = Address(content["from_name"], addr_spec=content["from"])
        message["To"] = Address(content["to_name"], addr_spec=content["to"])
        message["Subject"] = content["subject"]
        message["Date"] = content["date"]
        message["Message-ID"] = self.message_id(delivery.id)
        message.set_content(content["text"])
        message.add_alternative(content["html"], subtype="html")
        html = message.get_body(("html",))
        assert html is not None  # just added
        for file in files:
            maintype, subtype = file.content_type.split("/", 1)
            if file.cid:
                # Shown in the HTML, and attached as well for a reader of the plain text.
                html.add_related(
                    file.data, maintype, subtype, cid=f"<{file.cid}>", disposition="inline"
                )
            message.add_attachment(file.data, maintype, subtype, filename=file.filename)
        # Boundaries from the parts themselves, not random ones: every resend is the same
        # bytes, and no part can contain its own digest.
        digest = hashlib.sha256(f"{content['text']}\0{content['html']}".encode())
        for file in files:
            digest.update(file.data)
        multiparts = (part for part in message.walk() if part.is_multipart())
        for index, part in enumerate(multiparts):
            part.set_boundary(f"=_reclaim_{index}_{digest.hexdigest()[:40]}")
        return message

    async def send(self, delivery: Delivery) -> Sent:
        try:
            message = self.build(delivery)
        except (ValueError, HeaderParseError) as exc:
            return Sent(ok=False, error=f"Can't build this e-mail: {exc}", give_up=True)
        try:
            await self.mailer.send(message)
        except MailError as exc:
            return Sent(ok=False, status_code=exc.code, error=str(exc), give_up=exc.permanent)
        return Sent(ok=True)
