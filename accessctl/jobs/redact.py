"""What a provider answered, fit to store and audit: secrets masked, length bounded."""

from __future__ import annotations

import re

MAX_ANSWER = 2000

_BEARER = re.compile(r"(?i)\b(bearer|basic|sswss)\s+[^\s\"',;]+")
_SECRET_VALUE = re.compile(
    r"(?i)\b([\w-]*(?:secret|token|password|passwd|assertion|private_key|api_key|authorization)[\w-]*)"
    r"([\"']?\s*[:=]\s*[\"']?)([^\s\"',&;}]+)"
)


def redact_text(text: str | None) -> str | None:
    """Mask credentials in a provider's answer or error (``Bearer …``, ``token=…``) and cut it to
    what the store keeps."""
    if text is None:
        return None
    masked = _BEARER.sub(lambda m: f"{m.group(1)} [redacted]", text)
    masked = _SECRET_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", masked)
    if len(masked) > MAX_ANSWER:
        masked = masked[: MAX_ANSWER - 1] + "…"
    return masked
