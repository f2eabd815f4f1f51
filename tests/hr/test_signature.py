"""Standard Webhooks verification: the spec's test vector, rotation, tampering, the window, headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from accessctl.hr.rejections import Rejected
from accessctl.hr.signature import SecretError, WebhookSecret, verify
from tests.hr.helpers import NEW_SECRET, NOW, SECRET, signed

BODY = b'{"id": "evt_1"}'
SOURCES = {"workday": [SECRET]}


def _reason(headers: dict[str, str], body: bytes = BODY, sources=None, now: datetime = NOW) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(Rejected) as caught:
        verify(headers, body, SOURCES if sources is None else sources, now=now)
    assert 400 <= caught.value.status < 500
    return caught.value.reason


def test_the_specs_test_vector_verifies() -> None:
    secret = WebhookSecret.parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    at = datetime.fromtimestamp(1614265330, UTC)
    verified = verify(headers, b'{"test": 2432232314}', {"s": [secret]}, now=at)
    assert (verified.source, verified.webhook_id) == ("s", "msg_p5jXN8AQM9LWM0D4loKWxJek")


def test_a_valid_signature_names_its_source() -> None:
    other = {"bamboo": [NEW_SECRET], "workday": [SECRET]}
    assert verify(signed(BODY), BODY, other, now=NOW).source == "workday"


def test_two_active_secrets_accept_either_during_rotation() -> None:
    rotating = {"workday": [SECRET, NEW_SECRET]}
    assert verify(signed(BODY, secret=SECRET), BODY, rotating, now=NOW).source == "workday"
    assert verify(signed(BODY, secret=NEW_SECRET), BODY, rotating, now=NOW).source == "workday"


def test_a_header_with_several_signatures_passes_when_one_matches() -> None:
    headers = signed(BODY, secret=NEW_SECRET)
    old = signed(BODY, secret=SECRET)["webhook-signature"]
    headers["webhook-signature"] = f"v1,AAAA {old} v1a,ignored"
    assert verify(headers, BODY, SOURCES, now=NOW).webhook_id == "msg_1"


def test_the_retired_secret_no_longer_verifies_after_rotation() -> None:
    assert _reason(signed(BODY, secret=SECRET), sources={"workday": [NEW_SECRET]}) == "signature_mismatch"


def test_a_body_changed_after_signing_is_refused() -> None:
    assert _reason(signed(BODY), body=b'{"id": "evt_2"}') == "signature_mismatch"


def test_a_changed_webhook_id_or_timestamp_is_refused() -> None:
    headers = signed(BODY)
    assert _reason({**headers, "webhook-id": "msg_2"}) == "signature_mismatch"
    later = str(int(NOW.timestamp()) + 1)
    assert _reason({**headers, "webhook-timestamp": later}) == "signature_mismatch"


@pytest.mark.parametrize(
    ("offset", "reason"),
    [
        (timedelta(minutes=-5, seconds=-1), "stale_timestamp"),
        (timedelta(minutes=5, seconds=1), "future_timestamp"),
    ],
)
def test_outside_the_five_minute_window_is_refused(offset: timedelta, reason: str) -> None:
    assert _reason(signed(BODY, at=NOW + offset)) == reason


def test_inside_the_window_either_way_passes() -> None:
    for offset in (timedelta(minutes=-5), timedelta(minutes=5)):
        assert verify(signed(BODY, at=NOW + offset), BODY, SOURCES, now=NOW)


@pytest.mark.parametrize("name", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_named(name: str) -> None:
    headers = {k: v for k, v in signed(BODY).items() if k != name}
    with pytest.raises(Rejected) as caught:
        verify(headers, BODY, SOURCES, now=NOW)
    assert caught.value.reason == "missing_signature_header"
    assert name in caught.value.message


@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        ("webhook-timestamp", "1764676800.5", "bad_timestamp"),
        ("webhook-timestamp", "-1", "bad_timestamp"),
        ("webhook-signature", "v1,not base64!", "bad_signature"),
        ("webhook-signature", "sha256=abcdef", "bad_signature"),
        ("webhook-id", "msg 1", "bad_webhook_id"),
        ("webhook-signature", " ".join(["v1,AAAA"] * 9), "bad_signature"),
    ],
)
def test_malformed_headers_are_refused(header: str, value: str, reason: str) -> None:
    assert _reason({**signed(BODY), header: value}) == reason


def test_a_secret_shared_by_two_sources_is_refused_as_ambiguous() -> None:
    assert _reason(signed(BODY), sources={"a": [SECRET], "b": [SECRET]}) == "ambiguous_source"


def test_no_configured_source_refuses_everything() -> None:
    assert _reason(signed(BODY), sources={}) == "no_source"


@pytest.mark.parametrize(
    "text", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not*base64", "whsec_" + "QUFB", ""]
)
def test_secrets_that_are_not_standard_webhooks_secrets_are_refused(text: str) -> None:
    with pytest.raises(SecretError):
        WebhookSecret.parse(text)


def test_a_secret_never_shows_its_key() -> None:
    assert "k" * 8 not in repr(SECRET) and "****" in repr(SECRET)
