"""`accessctl sync`: pull accounts, MFA and entitlements from the providers into the store."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from accessctl import exitcodes
from accessctl.commands.common import app_context, handled_errors
from accessctl.output import OutputFormat, render
from accessctl.sync.progress import INCOMPLETE_LOG_FLAG, Waits

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console
    from rich.progress import Progress, TaskID

    from accessctl.store.locks import LockHolder
    from accessctl.sync.results import ProviderResult


#: connector errors that mean the provider could not be reached (after retries) or refused us: exit 5
PROVIDER_FAILURES = frozenset({"AuthError", "PermissionDeniedError", "TransientError"})


class ProviderName(StrEnum):
    OKTA = "okta"
    ENTRA = "entra"
    GOOGLE = "google"


class RichProgress:
    """One progress bar per provider: phase, items, pages, and the wall time spent throttled by the
    provider and backing off before retries (with a countdown while a wait is under way)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}
        self.waits: dict[str, Waits] = {}
        self.pages: dict[str, int] = {}

    def _task(self, provider: str) -> TaskID:
        if provider not in self.tasks:
            self.tasks[provider] = self.progress.add_task(
                provider, total=None, phase="starting", extra="", resume_at=None
            )
        return self.tasks[provider]

    def _extra(self, provider: str) -> str:
        waits = self.waits.get(provider)
        parts = [f"{self.pages.get(provider, 0)} pages"]
        if waits is not None and waits.throttled_s >= 0.05:
            parts.append(f"throttled {waits.throttled_s:.1f}s")
        if waits is not None and waits.backoff_s >= 0.05:
            parts.append(f"backoff {waits.backoff_s:.1f}s")
        return ", ".join(parts)

    def phase(self, provider: str, name: str, total: int | None = None) -> None:
        self.progress.update(self._task(provider), phase=name, total=total, completed=0)

    def advance(self, provider: str, items: int, pages: int = 1) -> None:
        self.pages[provider] = self.pages.get(provider, 0) + pages
        task = self._task(provider)
        self.progress.update(task, advance=items if self.progress.tasks[task].total is None else pages)
        self.progress.update(task, extra=self._extra(provider))

    def waiting(self, provider: str, waits: Waits) -> None:
        self.waits[provider] = waits
        self.progress.update(self._task(provider), extra=self._extra(provider), resume_at=waits.resume_at)

    def done(self, provider: str, complete: bool, reason: str | None = None) -> None:
        task = self._task(provider)
        status = "[green]complete[/]" if complete else "[red]incomplete[/]"
        self.progress.update(task, phase=status, total=1, completed=1, resume_at=None)


def _wait_column() -> Any:
    """A column counting down the current wait ("waiting 42s"), redrawn with every refresh."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class WaitColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            resume_at = task.fields.get("resume_at")
            if not resume_at or task.finished:
                return Text("")
            return Text(f"waiting {max(0.0, resume_at - time.time()):.0f}s", style="yellow")

    return WaitColumn()


def sync(
    ctx: typer.Context,
    provider: Annotated[
        list[ProviderName] | None, typer.Option("--provider", "-p", help="Only this provider (repeatable).")
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="A full pass even when an incremental one is possible.")
    ] = False,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", help="table, json or csv summary.")
    ] = OutputFormat.TABLE,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait", help="When another sync of a provider is running, wait for it to end, then sync."
        ),
    ] = False,
    wait_timeout: Annotated[
        float,
        typer.Option(
            "--wait-timeout", min=0, metavar="SECONDS", help="With --wait: give up after this long."
        ),
    ] = 3600.0,
) -> None:
    """Sync accounts, MFA and entitlements (incremental when possible).

    One sync per provider at a time: a provider another sync is running is skipped (or, with --wait,
    waited for) and the other providers still sync.  Exit 5 if a provider could not be reached or
    refused (bad credentials, missing permission), else 1 if any pass that ran is incomplete, else 7
    if a provider was skipped because another sync of it was running.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    from accessctl.providers import enabled_providers
    from accessctl.settings import require_a_provider
    from accessctl.sync.service import run_sync

    with handled_errors():
        context = app_context(ctx)
        settings = context.settings
        # nothing enabled, or a chosen provider lacking a setting: refuse (exit 3) before the store is created
        require_a_provider(settings)
        enabled_providers(settings, [p.value for p in provider] if provider else None)
        engine = context.engine()
        console = Console(stderr=True)
        columns = (
            SpinnerColumn(),
            TextColumn("[bold]{task.description:<7}"),
            TextColumn("{task.fields[phase]:<12}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[extra]}"),
            _wait_column(),
            TimeElapsedColumn(),
        )
        with (
            Progress(*columns, console=console, disable=fmt is not OutputFormat.TABLE) as bars,
            _reasons_reported_below(),
        ):
            summary = run_sync(
                settings,
                engine,
                providers=[p.value for p in provider] if provider else None,
                full=full,
                progress=RichProgress(bars),
                actor="cli",
                lock_wait_s=wait_timeout if wait else None,
                on_lock_wait=_announce_wait(console, wait_timeout),
            )
        if summary.results:  # people or accounts may be new: HR events no one matched, matched again
            from accessctl.lifecycle.hr_jobs import rematch_hr_events

            if matched := rematch_hr_events(settings, engine):
                typer.echo(f"{matched} unmatched HR event(s) now match a person", err=True)
    if summary.busy and not summary.results and fmt is OutputFormat.TABLE:
        _say_busy(summary.busy, wait)  # nothing ran: no summary table to show
        raise typer.Exit(exitcodes.BUSY)
    rows = [r.as_dict() for r in summary.results]
    if fmt is OutputFormat.JSON:
        typer.echo(
            json.dumps(
                {
                    "complete": summary.complete,
                    "providers": rows,
                    "correlation": summary.correlation.as_dict(),
                    "busy": [{"provider": r.provider, "reason": r.reason} for r in summary.busy],
                    "roster": vars(summary.roster) if summary.roster else None,
                },
                indent=2,
            )
        )
    else:
        if fmt is OutputFormat.TABLE:
            render([_table_row(r) for r in rows], TABLE_COLUMNS, fmt, title="Sync")
            for result in summary.results:
                if result.throttled_s >= 0.05 or result.backoff_s >= 0.05:
                    typer.echo(
                        f"{result.provider}: waited {result.throttled_s:.1f}s throttled by the provider "
                        f"({result.throttled} throttled responses), {result.backoff_s:.1f}s in retry backoff"
                    )
                # a provider that could not be reached or refused is reported once, by the error below
                if not result.complete and result.failure not in PROVIDER_FAILURES:
                    typer.echo(f"{result.provider}: incomplete: {result.reason}")
        else:
            render(rows, [*CSV_COLUMNS], fmt, title="Sync")
        if fmt is OutputFormat.TABLE:
            c = summary.correlation
            methods = ", ".join(f"{k} {v}" for k, v in c.linked.items())
            typer.echo(f"identities: linked {sum(c.linked.values())} ({methods})")
            typer.echo(f"  orphans {c.orphans}, shared {c.shared}, conflicts {len(c.conflicts)}")
    _say_busy(summary.busy, wait)
    refused = [r for r in summary.results if r.failure in PROVIDER_FAILURES]
    if refused:
        from accessctl.logs import redactor

        for result in refused:
            reason = redactor()(result.reason or "")
            typer.secho(
                f"error: {result.provider} could not be reached or refused: {reason}",
                err=True,
                fg=typer.colors.RED,
            )
        raise typer.Exit(exitcodes.PROVIDER)
    if not summary.complete:
        raise typer.Exit(exitcodes.FAILED)
    if summary.busy:
        raise typer.Exit(exitcodes.BUSY)


def _say_busy(skipped: list[ProviderResult], wait: bool) -> None:
    """One line per provider skipped because another sync of it was running, naming who."""
    for result in skipped:
        hint = "" if wait else "; pass --wait to wait for it"
        typer.secho(f"error: {result.reason}{hint}", err=True, fg=typer.colors.RED)


def _announce_wait(console: Console, timeout: float) -> Callable[[str, LockHolder | None], None]:
    """The visible line a provider's pass prints when it starts waiting for another sync of it."""

    def announce(provider: str, holder: LockHolder | None) -> None:
        who = f" ({holder})" if holder else ""
        console.print(
            f"{provider}: waiting for another sync of {provider}{who} to end (up to {timeout:.0f}s)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

    return announce


@contextlib.contextmanager
def _reasons_reported_below() -> Iterator[None]:
    """Drop the runner's log record of an incomplete pass while the summary reports its reason."""

    def keep(record: logging.LogRecord) -> bool:
        return not getattr(record, INCOMPLETE_LOG_FLAG, False)

    runner_log = logging.getLogger("accessctl.sync.runner")
    runner_log.addFilter(keep)
    try:
        yield
    finally:
        runner_log.removeFilter(keep)


#: the csv summary: one column per count
CSV_COLUMNS = (
    "provider",
    "mode",
    "complete",
    "accounts_added",
    "accounts_changed",
    "accounts_ended",
    "grants_added",
    "grants_ended",
    "requests",
    "throttled",
    "throttled_s",
    "backoff_s",
    "duration_s",
    "reason",
)
#: the table summary fits an 80-column terminal: counts as +added ~changed -ended; reasons below it
TABLE_COLUMNS = ("provider", "mode", "complete", "accounts", "grants", "requests", "429s", "seconds")


def _table_row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "provider": row["provider"],
        "mode": row["mode"],
        "complete": "yes" if row["complete"] else "NO",
        "accounts": f"+{row['accounts_added']} ~{row['accounts_changed']} -{row['accounts_ended']}",
        "grants": f"+{row['grants_added']} -{row['grants_ended']}",
        "requests": row["requests"],
        "429s": row["throttled"],
        "seconds": row["duration_s"],
    }
