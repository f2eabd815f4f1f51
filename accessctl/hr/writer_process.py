"""The HR intake's group-commit writer in a process of its own, beside `accessctl serve`.

    remote = await WriterProcess.start(settings)          # the child is ready: its store answered
    accepted = await remote.write(request, deadline_s=10)  # once the group holding it committed
    await remote.close()                                   # what it holds is written, then it exits

Why: one interpreter runs one thread at a time.  In one process, the service's event loop (HTTP,
signature, parsing) and the writer thread (matching, decisions, the audit chain, the commit) took
turns on that lock, so an event cost the sum of both and the intake stopped near one core.  Here the
writer (:class:`~accessctl.hr.writer.GroupWriter`, unchanged: groups, savepoints, one commit each)
runs in its own interpreter, fed over a socket pair; the service checks the next requests meanwhile.

Nothing about an event's fate changes: a request is answered only after the commit holding its event
(the child replies after it), a refusal is the same :class:`Rejected`, a store failure the same 503.
The child ignores the terminal's signals and stops when its socket closes: when the service closes it
(stopping), or when the service dies (SIGKILL): it commits what it had taken and exits, and a sender
whose answer was lost delivers again and gets its replay.  A child that dies stops the service
(:class:`WriterGone`), as a dead job worker does: a service that cannot store events must not look
healthy.  The messages are pickles of plain values between two processes of one service over a
private socket pair.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import hashlib
import logging
import pickle
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from accessctl.hr.decide import RehireMode
from accessctl.hr.events import CanonicalEvent, Employee, EventType, Termination
from accessctl.hr.rejections import Rejected
from accessctl.hr.store import Accepted, Lifecycle, record_event

#: by name: run as ``python -m``, this module is ``__main__``
log = logging.getLogger("accessctl.hr.writer_process")

_HEADER = struct.Struct("!I")
#: how long the child may take to start (imports, the store's first connection)
START_DEADLINE_S = 60.0


class WriterGone(Exception):
    """The writer process ended while the service ran (or could not start)."""


class StoreUnavailable(Exception):
    """The writer could not commit the event (the store failed): nothing was stored."""


@dataclass(frozen=True, slots=True)
class RecordRequest:
    """One event for the writer: what :func:`accessctl.hr.store.record_event` is given."""

    source: str
    webhook_id: str | None
    event: CanonicalEvent
    digest: str
    now: datetime

    @classmethod
    def of(
        cls, source: str, webhook_id: str | None, event: CanonicalEvent, raw: bytes, now: datetime
    ) -> RecordRequest:
        """The request for a delivery's verified, parsed event (``raw``: its body, as signed)."""
        return cls(source, webhook_id, event, hashlib.sha256(raw).hexdigest(), now)

    def wire(self) -> tuple[Any, ...]:
        """The request as plain values, for the socket (a pickle of these costs a tenth of one of
        the dataclasses and the enum: each is pickled by the service and unpickled by the writer)."""
        e, t = self.event, self.event.termination
        return (
            self.source,
            self.webhook_id,
            self.digest,
            self.now,
            e.id,
            e.type.value,
            e.occurred_at,
            e.employee.employee_id,
            e.employee.email,
            e.employee.manager_employee_id,
            e.employee.department,
            e.employee.title,
            None if t is None else (t.effective_at, t.effective_date, t.timezone, t.immediate),
        )

    @classmethod
    def from_wire(cls, fields: tuple[Any, ...]) -> RecordRequest:
        """The request :meth:`wire` gave."""
        source, webhook_id, digest, now, event_id, event_type, occurred_at, *employee, termination = fields
        event = CanonicalEvent(
            event_id,
            EventType(event_type),
            occurred_at,
            Employee(*employee),
            None if termination is None else Termination(*termination),
        )
        return cls(source, webhook_id, event, digest, now)

    def record(self, conn: Connection, *, rehire: RehireMode, lifecycle: Lifecycle) -> Accepted:
        """Store the event and do what it means, in ``conn``'s transaction."""
        return record_event(
            conn,
            source=self.source,
            webhook_id=self.webhook_id,
            event=self.event,
            digest=self.digest,
            now=self.now,
            rehire=rehire,
            lifecycle=lifecycle,
        )


def _frame(message: object) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(payload)) + payload


def _frames(buffer: bytearray) -> list[Any]:
    """The whole frames at the start of ``buffer`` (removed from it)."""
    out, at = [], 0
    while len(buffer) - at >= _HEADER.size:
        (size,) = _HEADER.unpack_from(buffer, at)
        if len(buffer) - at - _HEADER.size < size:
            break
        start = at + _HEADER.size
        out.append(pickle.loads(buffer[start : start + size]))
        at = start + size
    del buffer[:at]
    return out


def logging_now() -> tuple[str, str]:
    """The level and format this process logs with (for the child to log the same way)."""
    from accessctl.logs import JsonFormatter, current_handler

    handler = current_handler()
    fmt = "json" if handler is not None and isinstance(handler.formatter, JsonFormatter) else "text"
    return logging.getLevelName(logging.getLogger().getEffectiveLevel()), fmt


# --- the service's side -----------------------------------------------------------------------------


class WriterProcess:
    """The service's handle on its writer process (one event loop's: call it from that loop)."""

    def __init__(
        self, proc: subprocess.Popen[bytes], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._proc = proc
        self._reader = reader
        self._writer = writer
        self._pending: dict[int, asyncio.Future[Accepted]] = {}
        self._next = 0
        self._closing = False
        #: done when the child's socket closed (it exited, or is exiting)
        self.ended: asyncio.Task[None] = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def start(cls, settings: Any) -> WriterProcess:
        """Start the child and wait (at most :data:`START_DEADLINE_S`) until its store answered;
        raises :class:`WriterGone` when it could not start."""
        ours, theirs = socket.socketpair()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "accessctl.hr.writer_process", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                # a group of its own: the terminal's Ctrl-C is the service's to handle, not its
                start_new_session=True,
            )
        except OSError as exc:
            ours.close()
            raise WriterGone(f"the HR writer process could not start: {exc}") from None
        finally:
            theirs.close()
        writer = None
        try:
            reader, writer = await asyncio.open_unix_connection(sock=ours)
            level, fmt = logging_now()
            writer.write(_frame((settings, level, fmt)))
            async with asyncio.timeout(START_DEADLINE_S):
                size = _HEADER.unpack(await reader.readexactly(_HEADER.size))[0]
                hello = pickle.loads(await reader.readexactly(size))
            if hello == ("ready",):
                return cls(proc, reader, writer)
            why = f"could not start: {hello[1]}"
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            why = "did not start in time" if isinstance(exc, TimeoutError) else "exited while starting"
            why += " (its log above says why)"
        proc.kill()
        await asyncio.to_thread(proc.wait, 10)
        if writer is not None:
            writer.close()
        else:
            ours.close()
        raise WriterGone(f"the HR writer process {why}")

    async def write(self, request: RecordRequest, *, key: str, deadline_s: float) -> Accepted:
        """``request`` stored by the writer, answered after its commit; :class:`TimeoutError` when
        that did not happen within ``deadline_s`` (then it was not taken, or a retry is its replay)."""
        if self.ended.done() or self._closing:
            raise StoreUnavailable("the HR writer is stopping")
        self._next += 1
        number = self._next
        waiter: asyncio.Future[Accepted] = asyncio.get_running_loop().create_future()
        self._pending[number] = waiter
        # the child skips it once this request gave up (both clocks are the machine's monotonic one)
        self._writer.write(_frame((number, key, time.monotonic() + deadline_s, request.wire())))
        try:
            async with asyncio.timeout(deadline_s):
                return await waiter
        finally:
            self._pending.pop(number, None)

    async def _read(self) -> None:
        buffer = bytearray()
        try:
            while chunk := await self._reader.read(1 << 16):
                buffer += chunk
                for number, outcome, detail in _frames(buffer):
                    waiter = self._pending.pop(number, None)
                    if waiter is not None and not waiter.done():
                        _settle(waiter, outcome, detail)
        except OSError:  # the child's end closed: it exited, or is exiting
            pass
        except Exception as exc:  # a bug: nothing more can be read; the service stops
            log.error("the HR writer process's answers could not be read: %s: %s", type(exc).__name__, exc)
        finally:
            for waiter in self._pending.values():
                if not waiter.done():
                    waiter.set_exception(StoreUnavailable("the HR writer process ended"))
            self._pending.clear()

    async def close(self, timeout_s: float = 30.0) -> None:
        """No more events: the child writes what it holds, answers it, and exits (killed after
        ``timeout_s``)."""
        self._closing = True
        with contextlib.suppress(OSError, RuntimeError):
            self._writer.write_eof()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await asyncio.shield(self.ended)
        try:
            await asyncio.to_thread(self._proc.wait, 5)
        except subprocess.TimeoutExpired:
            log.error("the HR writer process did not stop in time; killed")
            self._proc.kill()
            await asyncio.to_thread(self._proc.wait, 5)
        self._writer.close()

    async def until_gone(
        self, stop: asyncio.Event, http: asyncio.Task[Any] | None, *, http_stop_s: float = 60.0
    ) -> None:
        """For the service's supervisor: returns once ``stop`` is set, the HTTP server has stopped
        (or ``http_stop_s`` passed) and the child has written what it held; raises
        :class:`WriterGone` if the child ends first."""
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait([stopping, self.ended], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not stop.is_set():
            if self._proc.poll() is None:  # its socket failed, not the process: it goes too
                log.error("the HR writer process's socket failed; stopping it")
                self._proc.kill()
            code = await asyncio.to_thread(self._proc.wait, 10)
            raise WriterGone(f"the HR writer process exited ({code})")
        if http is not None:  # its requests in flight are answered first
            await asyncio.wait([http], timeout=http_stop_s)
        await self.close()


def _settle(waiter: asyncio.Future[Accepted], outcome: str, detail: Any) -> None:
    if outcome == "ok":
        waiter.set_result(Accepted(*detail))
    elif outcome == "rejected":
        reason, message, status = detail
        waiter.set_exception(Rejected(reason, message, status=status))
    elif outcome == "unavailable":
        waiter.set_exception(StoreUnavailable(detail))
    else:  # a bug in the writer (its traceback is in the log)
        waiter.set_exception(RuntimeError(f"the HR writer failed: {detail}"))


# --- the child's side -------------------------------------------------------------------------------


def _outcome(future: Any) -> tuple[str, Any]:
    error = future.exception()
    if error is None:
        accepted: Accepted = future.result()
        return "ok", (accepted.event_id, accepted.status, accepted.replay)
    if isinstance(error, Rejected):
        return "rejected", (error.reason, error.message, error.status)
    if isinstance(error, SQLAlchemyError):
        return "unavailable", "the event could not be stored"
    log.error("HR writer: an event failed", exc_info=error)
    return "error", f"{type(error).__name__}: {error}"


class _Replies:
    """The answers of the group being written, sent in one write once it is answered (before
    its log lines): from the writer thread that wrote it."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._held: list[bytes] = []
        self._lock = threading.Lock()

    def callback(self, number: int) -> Callable[[Any], None]:
        def done(future: Any) -> None:
            if not future.cancelled():  # cancelled: its request gave up before it was taken
                with self._lock:
                    self._held.append(_frame((number, *_outcome(future))))

        return done

    def send(self) -> None:
        with self._lock:
            held, self._held = self._held, []
            if held:
                with contextlib.suppress(OSError):  # the service gone: its senders deliver again
                    self._sock.sendall(b"".join(held))


def _received(sock: socket.socket, buffer: bytearray) -> list[Any] | None:
    """Every whole message that has arrived (waiting for the first); None when the socket closed."""
    while True:
        try:
            chunk = sock.recv(1 << 16)
        except OSError:
            return None
        if not chunk:
            return None
        buffer += chunk
        while True:  # and what else is there already, without waiting
            try:
                more = sock.recv(1 << 16, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            except OSError:
                return None
            if not more:
                break
            buffer += more
        if messages := _frames(buffer):
            return messages


def _serve(sock: socket.socket) -> None:
    from accessctl.logs import configure_logging
    from accessctl.store.checkpoint import checkpoints_left_to_the_thread
    from accessctl.store.engine import make_engine

    buffer = bytearray()
    hello = _received(sock, buffer)
    if not hello:
        return
    settings, level, fmt = hello[0]
    configure_logging(level=level, fmt=fmt, secrets=settings.secret_values())
    try:
        engine = make_engine(settings.database_url)
        with engine.connect():
            pass
    except Exception as exc:  # the store unreachable: the service says so and stops
        sock.sendall(_frame(("failed", str(exc) or type(exc).__name__)))
        return
    # the service's thread checkpoints a SQLite store's log, not this process's commits
    with checkpoints_left_to_the_thread(engine):
        _write_events(sock, buffer, settings, engine)


def _write_events(sock: socket.socket, buffer: bytearray, settings: Any, engine: Any) -> None:
    from accessctl.heap import settle_the_heap
    from accessctl.hr.writer import GroupWriter
    from accessctl.lifecycle.hr_jobs import HrLifecycle

    lifecycle = HrLifecycle(settings)
    rehire = settings.hr.rehire
    replies = _Replies(sock)
    writer = GroupWriter(engine, on_answered=replies.send)
    settle_the_heap()
    sock.sendall(_frame(("ready",)))

    def work(request: RecordRequest) -> Callable[[Connection], Accepted]:
        return functools.partial(request.record, rehire=rehire, lifecycle=lifecycle)

    try:
        while (messages := _received(sock, buffer)) is not None:
            if writer.threads > 1:  # PostgreSQL: the writer's threads, each employee's to one
                for number, key, give_up_at, fields in messages:
                    future = writer.submit(
                        work(RecordRequest.from_wire(fields)), key=key, expires_at=give_up_at
                    )
                    future.add_done_callback(replies.callback(number))
                continue
            # SQLite, one writer: this thread writes what arrived while it wrote the last group
            for at in range(0, len(messages), writer.max_batch):
                group = []
                for number, _key, give_up_at, fields in messages[at : at + writer.max_batch]:
                    future: concurrent.futures.Future[Accepted] = concurrent.futures.Future()
                    future.add_done_callback(replies.callback(number))
                    group.append((work(RecordRequest.from_wire(fields)), future, give_up_at))
                writer.write_group(group)
    finally:
        writer.close(timeout_s=30)  # what was taken is committed and answered
        cpu = time.process_time()
        log.info(
            "HR writer process: %d event(s) in %d commit(s), %.1f CPU s", writer.written, writer.commits, cpu
        )


def main(argv: list[str]) -> int:
    # the service handles the terminal's signals; this process ends when its socket closes
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with socket.socket(fileno=int(argv[0])) as sock:
        _serve(sock)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
