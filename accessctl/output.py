"""Rendering lists for the CLI: a plain table fitted to the terminal for people, JSON or CSV for scripts.

Rows arrive as an iterable and are written as they come: the table sizes its columns from the first
rows (and any widths the caller knows up front), so the first screen shows before the whole query is
read.  At the terminal's width the table keeps its most important columns: columns marked ``keep``
(logins, emails, ids) are never cut; the others shrink (cut with "…") or, least important first, are
left out.  ``wide`` shows every column at full width whatever the terminal.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from itertools import islice
from typing import Any, TextIO


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


#: rows read before the table's column widths are fixed
SAMPLE_ROWS = 200
GAP = "  "
INDENT = "  "
ELLIPSIS = "…"


@dataclass(frozen=True)
class Column:
    """One column of a table.  ``priority``: the lower, the longer it stays when the terminal is
    narrow (None: in the order given).  ``keep``: never shortened nor left out.  ``wide_only``: shown
    with ``--wide`` only.  ``min_width``: how far a cell may be shortened before the column is left out."""

    key: str
    header: str | None = None
    keep: bool = False
    priority: int | None = None
    wide_only: bool = False
    min_width: int = 8
    right: bool = False
    fmt: Callable[[Any], str] | None = None

    @property
    def title(self) -> str:
        return self.header if self.header is not None else self.key


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def terminal_width(out: TextIO | None = None) -> int:
    """The width to fit: ``$COLUMNS`` when set, else the terminal's, else 80."""
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    stream = out or sys.stdout
    try:
        if stream.isatty():
            return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        pass
    return shutil.get_terminal_size((80, 24)).columns


def _as_columns(columns: Sequence[str | Column]) -> list[Column]:
    return [c if isinstance(c, Column) else Column(c) for c in columns]


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + ELLIPSIS


@dataclass
class Layout:
    """The columns a table shows and their widths."""

    columns: list[Column]
    widths: list[int]

    def line(self, cells: Sequence[str]) -> str:
        parts = []
        for column, width, text in zip(self.columns, self.widths, cells, strict=True):
            if not column.keep:
                text = _shorten(text, width)
            parts.append(text.rjust(width) if column.right else text.ljust(width))
        return GAP.join(parts).rstrip()


def fit(columns: Sequence[Column], natural: Mapping[str, int], width: int | None) -> Layout:
    """Choose the columns and widths for ``width`` (None: every column at full width).

    The ``keep`` columns are always shown in full; the others are taken most important first, each at
    its full width while it fits, else shortened to the room left when that is at least its
    ``min_width`` (and nothing after it is taken), else left out.  The columns keep their order.
    """
    if width is None:
        return Layout(list(columns), [natural[c.key] for c in columns])
    candidates = [c for c in columns if not c.wide_only]
    chosen = {c.key: natural[c.key] for c in candidates if c.keep}
    room = width - sum(chosen.values()) - len(GAP) * max(len(chosen) - 1, 0)
    position = {c.key: i for i, c in enumerate(candidates)}
    ranked = sorted(
        (c for c in candidates if not c.keep),
        key=lambda c: (c.priority if c.priority is not None else position[c.key], position[c.key]),
    )
    for column in ranked:
        gap = len(GAP) if chosen else 0
        full = natural[column.key]
        if full + gap <= room:
            chosen[column.key] = full
            room -= full + gap
        elif min(column.min_width, full) + gap <= room:
            chosen[column.key] = room - gap
            break
    shown = [c for c in candidates if c.key in chosen]
    return Layout(shown, [chosen[c.key] for c in shown])


def _format(column: Column, value: Any) -> str:
    return column.fmt(value) if column.fmt is not None else _cell(value)


def table_lines(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str | Column],
    *,
    width: int | None,
    title: str | None = None,
    notes: Sequence[str] = (),
    min_widths: Mapping[str, int] | None = None,
    empty: str = "(none)",
) -> Iterator[str]:
    """The table's lines, produced as the rows are read: widths come from the first
    :data:`SAMPLE_ROWS` rows and ``min_widths`` (e.g. the longest login, from the store)."""
    specs = _as_columns(columns)
    source = iter(rows)
    first = [[_format(c, row.get(c.key)) for c in specs] for row in islice(source, SAMPLE_ROWS)]
    natural = {c.key: len(c.title) for c in specs}
    for cells in first:
        for column, text in zip(specs, cells, strict=True):
            natural[column.key] = max(natural[column.key], len(text))
    for key, known in (min_widths or {}).items():
        if key in natural:
            natural[key] = max(natural[key], known)
    layout = fit(specs, natural, width)
    index = [specs.index(c) for c in layout.columns]
    if title:
        yield title
    yield from notes
    if not first:
        yield empty
        return
    yield layout.line([c.title for c in layout.columns])
    for cells in first:
        yield layout.line([cells[i] for i in index])
    for row in source:
        yield layout.line([_format(c, row.get(c.key)) for c in layout.columns])


def grouped_lines(
    sections: Sequence[tuple[Sequence[str], Sequence[Mapping[str, Any]]]],
    columns: Sequence[str | Column],
    *,
    title: str | None = None,
    notes: Sequence[str] = (),
    wide: bool = False,
    out: TextIO | None = None,
    empty: str = "(nothing)",
) -> Iterator[str]:
    """One table in sections: each section's heading lines, then its rows under the column headers;
    the columns are aligned across sections (sized from every row: for short listings)."""
    specs = _as_columns(columns)
    cells = [[[_format(c, row.get(c.key)) for c in specs] for row in rows] for _, rows in sections]
    natural = {c.key: len(c.title) for c in specs}
    for section in cells:
        for line in section:
            for column, text in zip(specs, line, strict=True):
                natural[column.key] = max(natural[column.key], len(text))
    width = None if wide else terminal_width(out)
    layout = fit(specs, natural, None if width is None else width - len(INDENT))
    index = [specs.index(c) for c in layout.columns]
    if title:
        yield title
    yield from notes
    if not sections:
        yield empty
    for (heading, _), section in zip(sections, cells, strict=True):
        yield ""
        yield from heading
        if not section:
            yield INDENT + empty
            continue
        yield INDENT + layout.line([c.title for c in layout.columns])
        for line in section:
            yield INDENT + layout.line([line[i] for i in index])


def json_chunks(rows: Iterable[Mapping[str, Any]], keys: Sequence[str]) -> Iterator[str]:
    """A JSON array of objects, one object at a time (indented as ``json.dump(indent=2)`` does)."""
    yield "["
    first = True
    for row in rows:
        body = json.dumps({k: row.get(k) for k in keys}, indent=2, default=_json_default)
        yield ("\n" if first else ",\n") + "\n".join("  " + line for line in body.splitlines())
        first = False
    yield "]\n" if first else "\n]\n"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def render(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str | Column],
    fmt: OutputFormat,
    *,
    title: str | None = None,
    notes: Sequence[str] = (),
    out: TextIO | None = None,
    wide: bool = False,
    min_widths: Mapping[str, int] | None = None,
) -> None:
    """Write ``rows`` as a table fitted to the terminal (``wide``: every column), JSON or CSV; JSON and
    CSV carry every column but those marked ``wide_only`` only with ``wide``."""
    out = out or sys.stdout
    specs = _as_columns(columns)
    keys = [c.key for c in specs]
    if fmt is OutputFormat.JSON:
        for chunk in json_chunks(rows, keys):
            out.write(chunk)
    elif fmt is OutputFormat.CSV:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(keys)
        for row in rows:
            writer.writerow([_cell_csv(row.get(k)) for k in keys])
    else:
        width = None if wide else terminal_width(out)
        for line in table_lines(rows, specs, width=width, title=title, notes=notes, min_widths=min_widths):
            out.write(line + "\n")


def _cell_csv(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    return _cell(value)


def pager_command() -> str | None:
    """The pager to use, as git chooses one: ``$ACCESSCTL_PAGER``, else ``$PAGER``, else ``less``;
    None when it is empty or ``cat`` or none is installed."""
    for name in ("ACCESSCTL_PAGER", "PAGER"):
        if name in os.environ:
            command = os.environ[name].strip()
            return None if command in ("", "cat") else command
    return "less" if shutil.which("less") else None


def _silence_stdout() -> None:
    """After the reader went away (``| head``): point stdout at /dev/null so the exit flush is quiet."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


@contextmanager
def paged(enabled: bool = True, out: TextIO | None = None) -> Iterator[TextIO]:
    """Where to write a listing: a pager's input when ``enabled`` and ``out`` (stdout) is a terminal,
    like git (``LESS=FRX`` unless set: one screen quits at once, colours pass, the screen is kept),
    else ``out`` itself.  A reader that goes away (the pager quit, ``| head``) ends the listing quietly."""
    out = out or sys.stdout
    command = pager_command() if enabled and _isatty(out) else None
    if command is None:
        try:
            yield out
            out.flush()
        except BrokenPipeError:
            _silence_stdout()
        return
    env = {**os.environ, "LESS": os.environ.get("LESS", "FRX"), "LV": os.environ.get("LV", "-c")}
    pager = subprocess.Popen(command, shell=True, stdin=subprocess.PIPE, env=env, text=True)
    assert pager.stdin is not None
    try:
        yield pager.stdin
    except BrokenPipeError:
        pass  # the pager quit before the end: the user has seen enough
    finally:
        with suppress(BrokenPipeError):
            pager.stdin.close()
        pager.wait()  # the pager ends when its user quits it


def _isatty(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False
