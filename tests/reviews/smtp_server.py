"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, counts connections, and can
refuse a recipient for a while (4xx) or for good (5xx)."""

from __future__ import annotations

import email
import logging
import socket
import ssl
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


@dataclass
class Inbox:
    messages: list[Message] = field(default_factory=list)
    connections: int = 0
    #: address -> how many more times to answer 451
    busy: Counter[str] = field(default_factory=Counter)
    refused: set[str] = field(default_factory=set)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refused:
            return "550 5.1.1 no such mailbox"
        if self.busy[address] > 0:
            self.busy[address] -= 1
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def smtp_server(
    *, tls: ssl.SSLContext | None = None, login: tuple[str, str] | None = None
) -> Iterator[tuple[Inbox, int]]:
    """The server; with ``tls`` it demands STARTTLS, with ``login`` it demands that user and password."""
    inbox = Inbox()
    port = free_port()
    # the server's own chatter (it runs in the test's process) is not the CLI's output
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    extra: dict[str, Any] = {}
    if tls is not None:
        extra.update(tls_context=tls, require_starttls=True)
    if login is not None:

        def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = (data.login.decode(), data.password.decode()) == login
            return AuthResult(success=ok, handled=False)

        extra.update(authenticator=check, auth_required=True, auth_require_tls=tls is not None)
    controller = Controller(inbox, hostname="127.0.0.1", port=port, ready_timeout=10, **extra)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def parts(message: Message) -> dict[str, str]:
    """The text and HTML bodies of a multipart/alternative message."""
    found = {}
    for part in message.walk():
        if part.get_content_type() in ("text/plain", "text/html"):
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            found[part.get_content_type()] = payload.decode(part.get_content_charset() or "utf-8")
    return found
