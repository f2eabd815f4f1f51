"""`accessctl serve` (the API, the job workers and the scheduler in one process) and `accessctl worker`
(the job workers alone).

SIGTERM or Ctrl-C stops gracefully: no new requests or steps, in-flight steps get
``web.shutdown_grace_s`` to finish and then give their lease back.  A second signal exits at once
(the leases of steps still running expire and another worker runs them again).
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from accessctl import exitcodes
from accessctl.commands.common import app_context, fail, handled_errors

if TYPE_CHECKING:
    import asyncio

    from accessctl.web.service import ExecutorFactory, ServiceOptions

HostOption = Annotated[str | None, typer.Option("--host", help="Address to listen on (web.host).")]
PortOption = Annotated[int | None, typer.Option("--port", min=1, max=65535, help="Port (web.port).")]
WorkersOption = Annotated[
    int | None,
    typer.Option("--workers", min=0, max=256, help="Steps run at once (web.workers); 0: no job workers."),
]


def executor_factory() -> ExecutorFactory:
    """What runs the steps: the lifecycle's step executor over the configured connectors."""
    from accessctl.web.service import lifecycle_executor

    return lifecycle_executor


def serve(
    ctx: typer.Context, host: HostOption = None, port: PortOption = None, workers: WorkersOption = None
) -> None:
    """Run the service: the API, the job workers and the scheduler, until SIGTERM or Ctrl-C.

    The admin API (/v1, /docs), /healthz, /readyz, /metrics, the job workers and the scheduler."""
    from accessctl.web.service import ServiceOptions, bind

    with handled_errors():
        settings = app_context(ctx).settings
        options = ServiceOptions.from_settings(settings, host=host, port=port, workers=workers)
        app_context(ctx).engine()  # the schema must be current before anything starts
    try:
        sock = bind(options.host, options.port)
    except OSError as exc:
        where = f"{options.host}:{options.port}"
        if exc.errno == errno.EADDRINUSE:
            raise fail(
                f"cannot listen on {where}: the port is in use (--port, web.port)", exitcodes.BUSY
            ) from None
        raise fail(f"cannot listen on {where}: {exc.strerror or exc}", exitcodes.FAILED) from None
    with sock:
        _run(ctx, options, sock=sock, what=f"accessctl serving on http://{options.host}:{options.port}")


def worker(ctx: typer.Context, workers: WorkersOption = None) -> None:
    """Run job workers alone (several on PostgreSQL share the queue; one per SQLite store)."""
    from accessctl.web.service import ServiceOptions

    with handled_errors():
        settings = app_context(ctx).settings
        options = ServiceOptions.from_settings(settings, workers=workers, http=False)
        app_context(ctx).engine()
    if options.workers == 0:
        raise fail("--workers 0: a worker process needs at least one", exitcodes.USAGE)
    _run(ctx, options, sock=None, what=f"accessctl worker running ({options.workers} steps at once)")


def _run(ctx: typer.Context, options: ServiceOptions, *, sock: object, what: str) -> None:
    import asyncio

    from accessctl.aiorun import fast_loop_factory, run
    from accessctl.heap import settle_the_heap
    from accessctl.jobs import WorkerBusy
    from accessctl.web.service import ServiceStopped, run_service

    context = app_context(ctx)
    settings, engine = context.settings, context.engine()

    def ready() -> None:
        settle_the_heap()
        typer.echo(f"{what}; Ctrl-C or SIGTERM stops it", err=True)

    async def main() -> int:
        stop = asyncio.Event()
        _on_signals(stop)
        return await run_service(
            settings,
            engine,
            executor=executor_factory(),
            options=options,
            stop=stop,
            sock=sock,  # type: ignore[arg-type]
            on_ready=ready,
        )

    with handled_errors():
        try:
            # asyncio.run, on uvloop where installed, with a bounded wait for tasks left at exit
            ran = run(main(), loop_factory=fast_loop_factory())
        except WorkerBusy as busy:
            raise fail(str(busy), exitcodes.BUSY) from None
        except ServiceStopped as stopped:
            cause = f": {stopped.__cause__}" if stopped.__cause__ else ""
            raise fail(f"{stopped}{cause}", exitcodes.FAILED) from None
    typer.echo(f"stopped; {ran} step(s) run", err=True)


def _on_signals(stop: asyncio.Event) -> None:
    """First SIGTERM/SIGINT: stop gracefully.  Second: exit at once."""
    import asyncio

    loop = asyncio.get_running_loop()

    def handle(sig: signal.Signals) -> None:
        if stop.is_set():
            sys.stderr.write(
                f"error: {sig.name} again: exiting at once (steps still running are run again "
                "once their leases expire)\n"
            )
            sys.stderr.flush()
            os._exit(exitcodes.FAILED)
        sys.stderr.write(
            f"{sig.name}: stopping (in-flight steps finish or give their lease back; again to force)\n"
        )
        sys.stderr.flush()
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, handle, sig)
