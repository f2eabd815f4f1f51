"""Rendering an email from its templates: ``<name>.subject.txt``, ``<name>.txt`` and ``<name>.html``,
looked up first in the configured folder (``reviews.templates_dir``), then in the built-in ones."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any


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


def build_message(*, sender: str, to: str, subject: str, text: str, html: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message
