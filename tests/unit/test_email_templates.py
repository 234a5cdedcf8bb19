"""Every e-mail the shopper can get: it renders, says what to do next, and escapes what we
were given (product names, reasons, names) in its HTML part."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from html import unescape
from typing import Any

import pytest

from reclaim.config import Settings
from reclaim.notifications.channels import Sent
from reclaim.notifications.email_channel import (
    EMAIL_TOPICS,
    Attachment,
    Brand,
    EmailChannel,
    Item,
    ReturnFacts,
    render,
    wants_email,
)
from reclaim.notifications.mailer import MailError
from reclaim.notifications.models import Delivery

BRAND = Brand("Northwind Outfitters", "https://shop.example/")
STATUS_URL = "https://shop.example/returns/r/RMA-7K3M9Q2X4P"
HANDOVER = datetime(2025, 5, 3, 17, 0, tzinfo=UTC)
FACTS = ReturnFacts(
    number="RMA-7K3M9Q2X4P",
    email="ann@example.com",
    customer_name="Ann",
    method="prepaid_label",
    currency="USD",
    items=(Item("1", "Tee (M)", 1), Item("2", "Mug", 2)),
    resolutions=frozenset({"refund"}),
    kind="label",
    carrier="local",
    tracking_number="RC123456789012",
    handover_by=HANDOVER,
)
QR = replace(
    FACTS,
    method="box_free_dropoff",
    kind="qr",
    facility_name="Corner Kiosk",
    facility_address="1 Main St",
    facility_hours="Mon-Sat 9-18",
)
PICKUP = replace(
    FACTS,
    method="scheduled_pickup",
    kind="pickup",
    pickup_start=datetime(2025, 4, 29, 9, 0, tzinfo=UTC),
    pickup_end=datetime(2025, 4, 29, 13, 0, tzinfo=UTC),
)

# A sample payload per topic, as the code that emits each event writes it.
PAYLOADS: dict[str, dict[str, Any]] = {
    "return.requested": {"outcome": "manual"},
    "return.review": {"reason": "High value"},
    "return.approved": {"returnless": False},
    "return.rejected": {"reason": "The item was bought more than 90 days ago."},
    "return.in_transit": {"from_status": "approved", "tracking_number": "RC123456789012"},
    "return.arrived": {"from_status": "in_transit"},
    "return.received": {"lines": {"1": 1}},
    "return.expiring": {"handover_by": HANDOVER.isoformat()},
    "return.expired": {"reason": "Not sent back in time."},
    "refund.issued": {"amount_minor": 2500, "currency": "USD", "method": "card", "last4": "4242"},
    "credit.issued": {"amount_minor": 3000, "currency": "USD", "balance_minor": 4550},
    "exchange.shipped": {
        "items": [{"sku": "TEE-L", "name": "Tee (L)", "quantity": 1}],
        "carrier": "UPS",
        "tracking_number": "1Z999",
    },
}
# Words from each e-mail's "what to do next", which is what the shopper acts on.
NEXT_STEP = {
    "return.requested": "don't send anything before your return is approved",
    "return.review": "keep the items until your return is approved",
    "return.approved": "print the label",
    "return.rejected": "Keep the items",
    "return.in_transit": "Keep your drop-off receipt",
    "return.arrived": "e-mail you when your refund is on its way",
    "return.received": "e-mail you when your refund is on its way",
    "return.expiring": "print the label",
    "return.expired": "start a new return",
    "refund.issued": "a few working days to show on your statement",
    "credit.issued": "Use it at checkout",
    "exchange.shipped": "tracking number 1Z999",
}


def _text(html: str) -> str:
    """What a reader sees of the HTML part."""
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html)))


def test_every_topic_has_a_sample_and_a_next_step() -> None:
    assert set(PAYLOADS) == set(NEXT_STEP) == EMAIL_TOPICS


@pytest.mark.parametrize("topic", sorted(EMAIL_TOPICS))
def test_every_topic_renders_subject_text_and_html(topic: str) -> None:
    rendered = render(topic, FACTS, PAYLOADS[topic], BRAND)

    assert rendered.subject and "\n" not in rendered.subject
    assert FACTS.number in rendered.subject
    for part in (rendered.text, _text(rendered.html)):
        assert FACTS.number in part
        assert "Hi Ann," in part
        assert "Tee (M) × 1" in part and "Mug × 2" in part
        assert "Northwind Outfitters" in part
    assert "What to do next:" in rendered.text
    assert NEXT_STEP[topic].lower() in rendered.text.lower()
    assert NEXT_STEP[topic].lower() in _text(rendered.html).lower()
    assert STATUS_URL in rendered.text
    assert f'href="{STATUS_URL}"' in rendered.html
    # Self-contained: nothing the mail client would fetch from elsewhere.
    assert not re.search(r"<img|<link|@import|url\(", rendered.html)
    assert 'name="viewport"' in rendered.html


@pytest.mark.parametrize(
    ("facts", "payload", "says"),
    [
        (FACTS, {}, ["print the label", "by Saturday 3 May 2025", "RC123456789012"]),
        (
            QR,
            {},
            ["show the QR code", "Corner Kiosk, 1 Main St", "No box or printer", "Mon-Sat 9-18"],
        ),
        (PICKUP, {}, ["Be home on Tuesday 29 April 2025 between 09:00 UTC and 13:00 UTC"]),
        (FACTS, {"returnless": True}, ["don't need to send anything back", "Nothing to send"]),
    ],
    ids=["label", "qr", "pickup", "returnless"],
)
def test_approval_says_what_to_do_for_each_way_back(
    facts: ReturnFacts, payload: dict[str, Any], says: list[str]
) -> None:
    rendered = render("return.approved", facts, payload, BRAND)
    for words in says:
        assert words.lower() in rendered.text.lower()
        assert words.lower() in _text(rendered.html).lower()


LABEL_FILE = Attachment("RMA-7K3M9Q2X4P-label.pdf", "application/pdf", b"%PDF-1.4 label")
QR_CID = "qr-rma-7k3m9q2x4p@shop.example"
QR_FILE = Attachment("RMA-7K3M9Q2X4P-qr.png", "image/png", b"\x89PNG qr", cid=QR_CID)


@pytest.mark.parametrize(
    ("facts", "attached", "says"),
    [
        (
            FACTS,
            LABEL_FILE,
            "Print the label: it's attached to this e-mail as RMA-7K3M9Q2X4P-label.pdf",
        ),
        (PICKUP, LABEL_FILE, "Print the label attached to this e-mail as RMA-7K3M9Q2X4P-label.pdf"),
        (QR, QR_FILE, "attached to this e-mail as RMA-7K3M9Q2X4P-qr.png"),
    ],
    ids=["label", "pickup", "qr"],
)
def test_an_approval_names_the_file_it_carries(
    facts: ReturnFacts, attached: Attachment, says: str
) -> None:
    rendered = render("return.approved", facts, {}, BRAND, [attached])

    assert says in rendered.text
    assert says in _text(rendered.html)
    assert STATUS_URL in rendered.text  # the return page still has it, should the file go astray
    # The only image is the attached QR code, by its content id: nothing fetched from elsewhere.
    images = re.findall(r"<img [^>]*>", rendered.html)
    if attached.cid:
        (image,) = images
        assert f'src="cid:{QR_CID}"' in image and 'alt="QR code of return RMA-7K3M9Q2X4P"' in image
    else:
        assert images == []
    assert not re.search(r"<link|@import|url\(", rendered.html)


def test_without_its_file_an_approval_sends_the_shopper_to_the_return_page() -> None:
    for facts in (FACTS, QR, PICKUP):
        rendered = render("return.approved", facts, {}, BRAND)
        assert "attached" not in rendered.text and "attached" not in rendered.html
        assert STATUS_URL in rendered.text


def test_an_attachment_survives_being_kept_as_json() -> None:
    for attached in (LABEL_FILE, QR_FILE):
        kept = attached.stored()
        assert set(kept) <= {"filename", "content_type", "data_b64", "cid"}
        assert Attachment.from_stored(kept) == attached


def test_a_returnless_approval_says_keep_the_item_in_the_subject() -> None:
    subject = render("return.approved", FACTS, {"returnless": True}, BRAND).subject
    assert subject.startswith("Keep the items: your refund")
    credit = replace(
        FACTS,
        resolutions=frozenset({"store_credit"}),
    )
    assert "store credit" in render("return.approved", credit, {"returnless": True}, BRAND).subject


def test_rejection_gives_the_reason_and_money_e_mails_the_amounts() -> None:
    assert (
        "more than 90 days ago"
        in render("return.rejected", FACTS, PAYLOADS["return.rejected"], BRAND).text
    )
    refund = render("refund.issued", FACTS, PAYLOADS["refund.issued"], BRAND)
    assert "25.00 USD" in refund.subject and "card ending in 4242" in refund.text
    credit = render("credit.issued", FACTS, PAYLOADS["credit.issued"], BRAND)
    assert "30.00 USD" in credit.text and "balance is now 45.50 USD" in credit.text
    exchange = render("exchange.shipped", FACTS, PAYLOADS["exchange.shipped"], BRAND)
    assert "Tee (L) × 1" in exchange.text and "with UPS" in exchange.text


def test_a_receipt_lists_only_what_arrived() -> None:
    text = render("return.received", FACTS, {"lines": {"2": 1}}, BRAND).text
    body = text.split("Items in return")[0]
    assert "Mug × 1" in body and "Tee" not in body


EVIL_NAME = '<script>alert("x")</script> Tee'
EVIL_REASON = '<img src=x onerror="alert(1)"> & "quoted"'


@pytest.mark.parametrize("topic", sorted(EMAIL_TOPICS))
def test_html_escapes_what_shops_and_staff_typed(topic: str) -> None:
    facts = replace(
        FACTS,
        customer_name="<b>Ann</b>",
        items=(Item("1", EVIL_NAME, 1),),
    )
    payload = {**PAYLOADS[topic], "reason": EVIL_REASON}
    rendered = render(topic, facts, payload, BRAND)

    assert "<script>" not in rendered.html and "<b>Ann</b>" not in rendered.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Tee" in rendered.html
    if topic == "return.rejected":
        assert "<img" not in rendered.html
        assert (
            "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; &#34;quoted&#34;" in rendered.html
        )
        assert EVIL_REASON in rendered.text
    # Plain text is not HTML: it shows what was typed, unmangled.
    assert EVIL_NAME in rendered.text


@pytest.mark.parametrize(
    ("topic", "payload", "wanted"),
    [
        ("return.requested", {"outcome": "manual"}, True),
        ("return.requested", {"outcome": "approve"}, False),
        ("return.requested", {"outcome": "review"}, False),
        ("return.in_transit", {"from_status": "approved"}, True),
        ("return.in_transit", {"from_status": "in_transit"}, False),
        ("return.completed", {}, False),
        ("return.inspected", {}, False),
        ("return.cancelled", {}, False),
        ("return.attention", {}, False),
        ("refund.issued", {}, True),
    ],
)
def test_which_events_e_mail_the_shopper(topic: str, payload: dict[str, Any], wanted: bool) -> None:
    assert wants_email(topic, payload) is wanted


class FakeMailer:
    def __init__(self, error: MailError | None = None) -> None:
        self.sent: list[EmailMessage] = []
        self.error = error

    async def send(self, message: EmailMessage) -> None:
        if self.error:
            raise self.error
        self.sent.append(message)


def _delivery(delivery_id: int, **content: str) -> Delivery:
    rendered = render("return.approved", FACTS, {}, BRAND)
    return Delivery(
        id=delivery_id,
        content={
            "from_name": "Northwind Outfitters",
            "from": "returns@shop.example",
            "to_name": "Ann Example",
            "to": "ann@example.com",
            "subject": rendered.subject,
            "date": "Sat, 26 Apr 2025 10:00:00 +0000",
            "text": rendered.text,
            "html": rendered.html,
            **content,
        },
    )


async def test_the_message_id_comes_from_the_delivery_so_a_resend_is_recognisable() -> None:
    mailer = FakeMailer()
    channel = EmailChannel(Settings(public_url="https://shop.example/base"), mailer)

    assert (await channel.send(_delivery(41))).ok
    assert (await channel.send(_delivery(41))).ok
    first, again = mailer.sent
    assert first["Message-ID"] == again["Message-ID"] == "<delivery-41@shop.example>"
    assert first.as_bytes() == again.as_bytes()
    parsed = message_from_bytes(first.as_bytes(), policy=policy.default)
    assert parsed["From"] == "Northwind Outfitters <returns@shop.example>"
    assert parsed["To"] == "Ann Example <ann@example.com>"
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]


async def test_the_label_and_qr_code_go_as_attachments_and_the_qr_code_also_inline() -> None:
    mailer = FakeMailer()
    channel = EmailChannel(Settings(public_url="https://shop.example/"), mailer)
    rendered = render("return.approved", QR, {}, BRAND, [QR_FILE])
    files = [QR_FILE.stored(), LABEL_FILE.stored()]
    qr_mail = _delivery(7, html=rendered.html, text=rendered.text)
    qr_mail.content["attachments"] = files

    assert (await channel.send(qr_mail)).ok
    assert (await channel.send(qr_mail)).ok
    first, again = mailer.sent
    assert first.as_bytes() == again.as_bytes()  # a resend is the same message
    parsed = message_from_bytes(first.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed.get_content_type() == "multipart/mixed"
    attached = [
        (part.get_filename(), part.get_content_type(), part.get_content())
        for part in parsed.iter_attachments()
    ]
    assert attached == [
        ("RMA-7K3M9Q2X4P-qr.png", "image/png", QR_FILE.data),
        ("RMA-7K3M9Q2X4P-label.pdf", "application/pdf", LABEL_FILE.data),
    ]
    html = parsed.get_body(("html",))
    assert html is not None and f'src="cid:{QR_CID}"' in html.get_content()
    inline = [part for part in parsed.walk() if part["Content-ID"] == f"<{QR_CID}>"]
    assert [(p.get_content_type(), p.get_content_disposition()) for p in inline] == [
        ("image/png", "inline")
    ]
    assert inline[0].get_content() == QR_FILE.data
    text = parsed.get_body(("plain",))
    assert text is not None and "RMA-7K3M9Q2X4P-qr.png" in text.get_content()


@pytest.mark.parametrize(
    ("error", "give_up"),
    [
        (MailError("550 No such user", code=550, permanent=True), True),
        (MailError("451 Try later", code=451, permanent=False), False),
        (MailError("Connection refused", permanent=False), False),
    ],
)
async def test_permanent_refusals_give_up_and_temporary_ones_retry(
    error: MailError, give_up: bool
) -> None:
    channel = EmailChannel(Settings(), FakeMailer(error))
    sent = await channel.send(_delivery(1))
    assert sent == Sent(ok=False, status_code=error.code, error=str(error), give_up=give_up)


async def test_an_address_that_cant_be_written_gives_up() -> None:
    sent = await EmailChannel(Settings(), FakeMailer()).send(_delivery(1, to="not an address"))
    assert not sent.ok and sent.give_up
