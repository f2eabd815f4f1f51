"""Standard Webhooks signatures (https://www.standardwebhooks.com/, spec 1.0).

The sender signs ``{webhook-id}.{webhook-timestamp}.{raw body}`` with HMAC-SHA256; ``webhook-signature``
holds one or more space-separated ``v1,<base64 signature>``.  A secret is ``whsec_`` followed by the
base64 of the key (24 to 64 bytes).  The timestamp (integer Unix seconds) must be within five minutes of
our clock, either way.  Verification runs on the raw bytes, before anything parses them, and compares
in constant time; any of a source's secrets (two while one is being rotated) may match.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from accessctl.hr.rejections import Rejected

SECRET_PREFIX = "whsec_"
TOLERANCE_S = 5 * 60
#: a webhook-id is an opaque token; the spec's examples are msg_<base62>; we allow what senders use
_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,255}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
#: the most signatures one header may carry (one per active secret of the sender, plus room)
MAX_SIGNATURES = 8


class SecretError(ValueError):
    """A configured secret is not a Standard Webhooks secret."""


@dataclass(frozen=True, slots=True)
class WebhookSecret:
    """A decoded signing key; its repr never shows the key."""

    key: bytes

    def __repr__(self) -> str:
        return "WebhookSecret(****)"

    @classmethod
    def parse(cls, text: str) -> WebhookSecret:
        """``whsec_<base64 key>``; the key is 24 to 64 bytes, as the spec requires."""
        if not text.startswith(SECRET_PREFIX):
            raise SecretError(f"a webhook secret starts with {SECRET_PREFIX}")
        try:
            key = base64.b64decode(text[len(SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            raise SecretError(f"the part after {SECRET_PREFIX} is not base64") from None
        if not 24 <= len(key) <= 64:
            raise SecretError(f"the key is {len(key)} bytes; Standard Webhooks keys are 24 to 64 bytes")
        return cls(key)

    def sign(self, webhook_id: str, timestamp: int, body: bytes) -> str:
        """The ``v1,<base64>`` signature of one message."""
        mac = hmac.new(self.key, _signed_content(webhook_id, timestamp, body), hashlib.sha256)
        return "v1," + base64.b64encode(mac.digest()).decode("ascii")


def _signed_content(webhook_id: str, timestamp: int | str, body: bytes) -> bytes:
    return f"{webhook_id}.{timestamp}.".encode() + body


@dataclass(frozen=True, slots=True)
class Verified:
    """A message whose signature matched: the source whose secret matched, webhook-id, timestamp."""

    source: str
    webhook_id: str
    timestamp: int


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None or not value.strip():
        raise Rejected("missing_signature_header", f"the {name} header is missing", status=401)
    return value.strip()


def verify(
    headers: Mapping[str, str],
    body: bytes,
    sources: Mapping[str, Sequence[WebhookSecret]],
    *,
    now: datetime,
) -> Verified:
    """Check a message's Standard Webhooks signature against each source's secrets; the source is the
    one whose secret signed it.  Raise :class:`Rejected` when none did.

    ``headers`` must look names up case-insensitively (Starlette's and httpx's headers do)."""
    webhook_id = _header(headers, "webhook-id")
    raw_timestamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    if not _ID.fullmatch(webhook_id):
        raise Rejected("bad_webhook_id", "webhook-id must be 1 to 255 letters, digits or _.:-", status=401)
    if not _TIMESTAMP.fullmatch(raw_timestamp):
        raise Rejected("bad_timestamp", "webhook-timestamp must be integer Unix seconds", status=401)
    timestamp = int(raw_timestamp)
    skew = timestamp - now.timestamp()
    if skew < -TOLERANCE_S:
        raise Rejected("stale_timestamp", "webhook-timestamp is more than 5 minutes old", status=401)
    if skew > TOLERANCE_S:
        raise Rejected("future_timestamp", "webhook-timestamp is more than 5 minutes ahead", status=401)
    offered = signatures.split()
    if len(offered) > MAX_SIGNATURES:
        raise Rejected("bad_signature", f"more than {MAX_SIGNATURES} signatures offered", status=401)
    candidates = []
    for item in offered:
        version, _, value = item.partition(",")
        if version != "v1":
            continue  # other schemes (v1a: asymmetric) are not ours; a v1 must still match
        try:
            candidates.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    if not candidates:
        raise Rejected("bad_signature", "webhook-signature holds no v1,<base64> signature", status=401)
    if not any(sources.values()):
        raise Rejected("no_source", "no HR source is configured to accept events", status=401)
    content = _signed_content(webhook_id, raw_timestamp, body)
    matched: list[str] = []
    for name, secrets in sources.items():
        hit = False
        for secret in secrets:
            expected = hmac.digest(secret.key, content, "sha256")  # one call to OpenSSL
            for candidate in candidates:
                # every pair is compared (no early exit): the time taken says nothing of which matched
                hit |= hmac.compare_digest(expected, candidate)
        if hit:
            matched.append(name)
    if not matched:
        raise Rejected("signature_mismatch", "no signature matches a configured secret", status=401)
    if len(matched) > 1:
        raise Rejected("ambiguous_source", "the signature matches more than one source", status=401)
    return Verified(matched[0], webhook_id, timestamp)


def sign_headers(secret: WebhookSecret, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers a Standard Webhooks sender adds (for `send-test-event` and tests)."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": secret.sign(webhook_id, timestamp, body),
    }
