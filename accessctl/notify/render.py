"""Rendering an email from its templates: ``<name>.subject.txt``, ``<name>.txt`` and ``<name>.html``,
looked up first in the configured folder (``reviews.templates_dir``), then in the built-in ones."""

from __future__ import annotations

import binascii
import secrets
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Any

CRLF = "\r\n"


class Templates:
    def __init__(self, folder: Path | None = None) -> None:
        from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, StrictUndefined

        loaders: list[Any] = [PackageLoader("accessctl.notify", "templates")]
        if folder is not None:
            loaders.insert(0, FileSystemLoader(str(folder)))
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            undefined=StrictUndefined,
            autoescape=lambda name: bool(name and name.endswith(".html")),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    def render(self, name: str, context: dict[str, Any]) -> tuple[str, str, str]:
        """(subject, text, html) of the email ``name``."""
        subject = self.env.get_template(f"{name}.subject.txt").render(context)
        text = self.env.get_template(f"{name}.txt").render(context)
        html = self.env.get_template(f"{name}.html").render(context)
        return " ".join(subject.split()), text, html


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message ready for the wire: its envelope and its bytes (headers and MIME parts, CRLF)."""

    sender: str
    to: str
    data: bytes


def _header(name: str, value: str) -> bytes:
    value = " ".join(value.split())  # no line breaks in a header
    if value.isascii():
        return f"{name}: {value}\r\n".encode()
    return f"{name}: {Header(value, 'utf-8', header_name=name).encode(linesep=CRLF)}\r\n".encode()


@lru_cache(maxsize=64)
def _envelope(value: str) -> str:
    """The address of ``value`` ("Name <address>" or an address), as the SMTP envelope takes it."""
    return parseaddr(value)[1] or value


def _address(name: str, value: str) -> bytes:
    if value.isascii():
        return _header(name, value)
    display, address = parseaddr(value)
    if not address:
        return _header(name, value)
    return f"{name}: {formataddr((display, address), charset='utf-8')}\r\n".encode()


def _part(subtype: str, body: str) -> bytes:
    # quoted-printable, CRLF line ends: 7-bit safe, readable, and encoded by binascii (C)
    lines = body.replace("\r\n", "\n").replace("\r", "\n").encode()
    encoded = binascii.b2a_qp(lines, istext=True).replace(b"\n", b"\r\n")
    return (
        b"Content-Type: text/" + subtype.encode() + b'; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + encoded
    )


def build_message(*, sender: str, to: str, subject: str, text: str, html: str) -> Outgoing:
    """A multipart/alternative message of ``text`` and ``html``, written straight to bytes (the
    email package's message objects and generator cost more than the rest of a send)."""
    boundary = f"==============={secrets.token_hex(12)}=="
    domain = sender.rpartition("@")[2].rstrip(">") or "localhost"
    head = b"".join(
        (
            _address("From", sender),
            _address("To", to),
            _header("Subject", subject),
            _header("Date", formatdate(localtime=False)),
            _header("Message-ID", make_msgid(domain=domain)),
            b"MIME-Version: 1.0\r\n",
            f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode(),
        )
    )
    mark = f"--{boundary}\r\n".encode()
    data = b"".join(
        (
            head,
            mark,
            _part("plain", text),
            b"\r\n",
            mark,
            _part("html", html),
            b"\r\n",
            f"--{boundary}--\r\n".encode(),
        )
    )
    return Outgoing(_envelope(sender), to, data)
