"""Our Standard Webhooks signatures against an independent implementation of the scheme."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from reclaim.notifications import signing
from reclaim.notifications.signing import SignatureError

BODY = (
    b'{"type":"return.approved","timestamp":"2025-03-01T10:00:00+00:00","data":{"return":"RMA-1"}}'
)
Headers = dict[str, str]
Tamper = Callable[[Headers, bytes], tuple[Headers, bytes]]


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def test_our_signature_verifies_with_the_reference_library() -> None:
    secret = signing.new_secret()
    headers = signing.sign([secret], "msg_1", _now(), BODY).headers

    assert Webhook(secret).verify(BODY, headers)["data"] == {"return": "RMA-1"}


def test_the_reference_librarys_signature_verifies_with_ours() -> None:
    secret = signing.new_secret()
    now = _now()
    reference = Webhook(secret).sign("msg_2", now, BODY.decode())
    headers = {
        "webhook-id": "msg_2",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": reference,
    }

    assert signing.verify([secret], headers, BODY, now) == "msg_2"


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda h, b: (h, b.replace(b"RMA-1", b"RMA-2")), id="body"),
        pytest.param(lambda h, b: ({**h, "webhook-id": "msg_other"}, b), id="id"),
        pytest.param(
            lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}, b),
            id="timestamp",
        ),
    ],
)
def test_a_changed_body_id_or_timestamp_fails_both_verifiers(tamper: Tamper) -> None:
    secret = signing.new_secret()
    now = _now()
    headers, body = tamper(signing.sign([secret], "msg_1", now, BODY).headers, BODY)

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)
    with pytest.raises(SignatureError):
        signing.verify([secret], headers, body, now)


def test_a_wrong_secret_fails_both_verifiers() -> None:
    now = _now()
    headers = signing.sign([signing.new_secret()], "msg_1", now, BODY).headers
    other = signing.new_secret()

    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(BODY, headers)
    with pytest.raises(SignatureError):
        signing.verify([other], headers, BODY, now)


def test_a_stale_timestamp_fails_both_verifiers() -> None:
    secret = signing.new_secret()
    then = _now() - timedelta(minutes=6)
    headers = signing.sign([secret], "msg_1", then, BODY).headers

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, headers)
    with pytest.raises(SignatureError):
        signing.verify([secret], headers, BODY, _now())


def test_during_a_rotation_each_secret_verifies_its_own_signature() -> None:
    new, old = signing.new_secret(), signing.new_secret()
    now = _now()
    headers = signing.sign([new, old], "msg_1", now, BODY).headers

    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (new, old):
        Webhook(secret).verify(BODY, headers)
        assert signing.verify([secret], headers, BODY, now) == "msg_1"
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(BODY, headers)


def test_new_secrets_are_valid_and_distinct() -> None:
    first, second = signing.new_secret(), signing.new_secret()

    assert signing.valid_secret(first) and signing.valid_secret(second)
    assert first != second


@pytest.mark.parametrize("given", ["v1,\u00e9", "v1,\u00e9 v1,abc", "v1,\u00c3\u00a9\u00ff"])
def test_a_signature_header_with_non_ascii_characters_is_no_match(given: str) -> None:
    # Web servers read header bytes as latin-1, so any character up to \xff can arrive.
    secret = signing.new_secret()
    now = _now()
    headers = {**signing.sign([secret], "msg_1", now, BODY).headers, "webhook-signature": given}

    with pytest.raises(SignatureError, match="No signature matches"):
        signing.verify([secret], headers, BODY, now)


def test_a_good_signature_beside_a_non_ascii_one_still_verifies() -> None:
    secret = signing.new_secret()
    now = _now()
    headers = signing.sign([secret], "msg_1", now, BODY).headers
    headers["webhook-signature"] = "v1,\u00e9 " + headers["webhook-signature"]

    assert signing.verify([secret], headers, BODY, now) == "msg_1"
