"""HR intake benchmark (issue 11): signed terminations posted by concurrent clients to a real
`accessctl serve`, then a count that every accepted event is stored with its job.

    python bench/intake/bench_intake.py                          # SQLite, 10,000 people, 32 clients
    python bench/intake/bench_intake.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
    python bench/intake/bench_intake.py --people 500 --clients 8  # a quick run
    python bench/intake/bench_intake.py --rate 1000               # 1,000 events/s offered

How it is built, at run time: the emulators' generator makes the org, the emulators serve it,
`accessctl db upgrade` and `accessctl sync` (child processes) fill the store, and the emulators stop.
Then `accessctl serve --workers 0` runs the service as the HR system meets it: the API alone, so the
leaver jobs the events create wait in the queue (run by `accessctl worker` elsewhere) and the number
is the intake's, not the providers'.  Each person with an account gets one `employee.terminated`
event (immediate), signed per Standard Webhooks before the clock starts; ``--clients`` tasks in this
process post them over keep-alive connections (a lean HTTP/1.1 client: the requests built before
the clock starts, the answers read by hand, so the client's CPU does not crowd out the service's),
each waiting for its answer before the next.  Reported: accepted events per second (202s over the
wall time from the first send to the last answer), p50 / p99 / max latency, the answers by status,
each second's p99 (by when the request was sent: slow answers spread, or bunched), the CPU
seconds of the service (its HTTP process and its HR writer process) and of this client while
posting, and the store's count afterwards: every accepted event must be there with a job, and no
job without its event.

With ``--database-url postgresql://…/DB`` the store is a fresh database ``accessctl_bench_intake``
created (and dropped) on that server; the URL's own database is only used to create it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from accessctl.emulation import emulator_config, write_config  # noqa: E402
from accessctl.hr.signature import WebhookSecret, sign_headers  # noqa: E402
from connectors.emulators.generate import generate_org  # noqa: E402
from connectors.emulators.runner import start_emulators  # noqa: E402

SOURCE = "bench"
SECRET_ENV = "ACCESSCTL_BENCH_HR_SECRET"
PG_DATABASE = "accessctl_bench_intake"


def _cli(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "accessctl.cli", "--config", str(config), *args]


def _env(secret_text: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCESSCTL_")}
    env.update({"PYTHONPATH": str(ROOT), SECRET_ENV: secret_text})
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _postgres_store(url: str) -> str:
    """A fresh database on the server of ``url``; returns its URL."""
    import psycopg

    base = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_DATABASE}")
    return base.rsplit("/", 1)[0] + f"/{PG_DATABASE}"


def _drop_postgres(url: str) -> None:
    import psycopg

    base = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")


def build_store(people: int, workdir: Path, database_url: str, env: dict[str, str]) -> tuple[Path, float]:
    started = time.perf_counter()
    with start_emulators(generate_org(people, seed=11), workdir=workdir / "emu") as running:
        config = emulator_config(running, database_url=database_url)
        config["hr"]["sources"] = {SOURCE: {"secret_env": SECRET_ENV}}
        # the guard would rightly quarantine a mass leaver; an intake benchmark measures the intake
        config["lifecycle"] = {"guard": {"max_per_hour": 10_000_000, "max_share": 1.0}}
        path = write_config(config, workdir / "accessctl.toml")
        for args in (("db", "upgrade"), ("sync",)):
            subprocess.run(_cli(path, *args), env=env, check=True, stdout=subprocess.DEVNULL, cwd=workdir)
    return path, time.perf_counter() - started


def cached_store(people: int, cache: Path, workdir: Path, env: dict[str, str]) -> tuple[Path, float]:
    """A SQLite store synced once into ``cache`` (kept between runs) and copied fresh for this run:
    for measuring again and again without the sync.  The config's secret is read from the
    environment, so the copy serves this run's secret."""
    pristine = cache / f"store-{people}.db"
    started = time.perf_counter()
    if not pristine.exists():
        cache.mkdir(parents=True, exist_ok=True)
        build_store(people, cache / "build", f"sqlite:///{cache / 'build' / 'store.db'}", env)
        shutil.copyfile(cache / "build" / "store.db", pristine)
        shutil.copyfile(cache / "build" / "accessctl.toml", cache / f"accessctl-{people}.toml")
    shutil.copyfile(pristine, workdir / "store.db")
    built = str(cache / "build" / "store.db")
    config_text = (cache / f"accessctl-{people}.toml").read_text().replace(built, str(workdir / "store.db"))
    config = workdir / "accessctl.toml"
    config.write_text(config_text)
    return config, time.perf_counter() - started


def leavers(database_url: str) -> list[tuple[str, str]]:
    """(employee id, email) of every person with a live account."""
    import sqlalchemy as sa

    from accessctl.store.engine import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT DISTINCT p.employee_id, p.email FROM person p JOIN account a"
                    " ON a.person_id = p.id WHERE a.ended_at IS NULL ORDER BY p.employee_id"
                )
            ).all()
    finally:
        engine.dispose()
    return [(str(r[0]), str(r[1])) for r in rows]


def stored(database_url: str) -> dict[str, int]:
    """What the store holds after the run: HR events, those with a job, jobs, jobs with no event."""
    import sqlalchemy as sa

    from accessctl.store.engine import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:

            def count(sql: str) -> int:
                return int(conn.execute(sa.text(sql)).scalar_one())

            return {
                "events": count("SELECT count(*) FROM hr_event"),
                "events_with_job": count("SELECT count(*) FROM hr_event WHERE job_id IS NOT NULL"),
                "jobs": count("SELECT count(*) FROM job"),
                "jobs_without_event": count(
                    "SELECT count(*) FROM job WHERE id NOT IN"
                    " (SELECT job_id FROM hr_event WHERE job_id IS NOT NULL)"
                ),
            }
    finally:
        engine.dispose()


def signed_events(people: list[tuple[str, str]], secret: WebhookSecret) -> list[tuple[dict[str, str], bytes]]:
    now = datetime.now(UTC)
    occurred = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = []
    for n, (employee_id, email) in enumerate(people):
        body = {
            "id": f"bench-{n}",
            "type": "employee.terminated",
            "occurred_at": occurred,
            "employee": {"employee_id": employee_id, "email": email},
            "termination": {"immediate": True},
        }
        raw = json.dumps(body).encode()
        headers = sign_headers(secret, f"msg_bench_{n}", int(now.timestamp()), raw)
        out.append(({**headers, "content-type": "application/json"}, raw))
    return out


def _request(host: str, headers: dict[str, str], raw: bytes) -> bytes:
    """One HTTP/1.1 POST, built before the clock starts (keep-alive)."""
    lines = [
        "POST /v1/hr/events HTTP/1.1",
        f"host: {host}",
        f"content-length: {len(raw)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + raw


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response (the service always sends content-length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def post_all(
    url: str, events: list[tuple[dict[str, str], bytes]], clients: int, rate: float | None = None
) -> tuple[float, list[tuple[float, float]], dict[int | str, int], list[int]]:
    """``clients`` keep-alive connections, each sending its next event once the last is answered.
    A lean client (requests pre-built, responses read by hand), so that this process's CPU goes to
    the measurement, not to an HTTP library; a connection the service drops is counted and opened
    again (its event not sent again).  With ``rate``, event ``n`` is due ``n / rate`` seconds after
    the start and is sent then (or as soon as its client is free, if later); its latency counts from
    when it was due, so a service that falls behind shows it (no coordinated omission)."""
    host = url.removeprefix("http://")
    address, port = host.rsplit(":", 1)
    requests = [_request(host, headers, raw) for headers, raw in events]
    requests.reverse()  # popped from the end: sent in order
    latencies: list[tuple[float, float]] = []  # (when sent, after the start; how long it took)
    statuses: dict[int | str, int] = {}
    accepted: list[int] = []
    taken = 0

    started = time.perf_counter()

    async def one_client() -> None:
        nonlocal taken
        reader, writer = await asyncio.open_connection(address, int(port))
        try:
            while requests:
                request = requests.pop()
                sent = time.perf_counter()
                if rate is not None:
                    due = started + taken / rate
                    taken += 1
                    if due > sent:
                        await asyncio.sleep(due - sent)
                    sent = due
                try:
                    writer.write(request)
                    status, body = await asyncio.wait_for(_answer(reader), 60)
                except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                    statuses[type(exc).__name__] = statuses.get(type(exc).__name__, 0) + 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(address, int(port))
                    continue
                latencies.append((sent - started, time.perf_counter() - sent))
                statuses[status] = statuses.get(status, 0) + 1
                if status == 202:
                    accepted.append(int(json.loads(body)["event_id"]))
        finally:
            writer.close()

    await asyncio.wait_for(asyncio.gather(*(one_client() for _ in range(clients))), timeout=3600)
    wall = time.perf_counter() - started
    return wall, latencies, statuses, accepted


def _serve(
    config: Path,
    env: dict[str, str],
    port: int,
    workdir: Path,
    *,
    under: Sequence[str] = (),
    ready_within_s: float = 60,
) -> subprocess.Popen[bytes]:
    """`accessctl serve` (``under`` a tool such as valgrind), once it answers ``/readyz``."""
    log = (workdir / "serve.log").open("wb")
    command = [*under, *_cli(config, "serve", "--port", str(port), "--workers", "0")]
    # not this shell's directory: `python -m` puts it first on sys.path, before PYTHONPATH (a
    # checkout's benchmark run from another checkout would serve that one's code)
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=workdir)
    deadline = time.monotonic() + ready_within_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"accessctl serve exited {proc.returncode}: see {workdir / 'serve.log'}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"accessctl serve did not become ready in {ready_within_s:.0f} s")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started (serve's HR writer process), from Linux /proc."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _service_cpu_s(pid: int) -> tuple[float, float]:
    """CPU seconds so far of serve itself and of the processes it started."""
    return _cpu_s(pid), sum(_cpu_s(child) for child in _children(pid))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    secret_text = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    env = _env(secret_text)
    if args.database_url:
        database_url = _postgres_store(args.database_url)
    else:
        database_url = f"sqlite:///{workdir / 'store.db'}"
    try:
        if args.synced_store and not args.database_url:
            config, built_s = cached_store(args.people, args.synced_store, workdir, env)
        else:
            config, built_s = build_store(args.people, workdir, database_url, env)
        people = leavers(database_url)[: args.events or None]
        events = signed_events(people, WebhookSecret.parse(secret_text))
        before = stored(database_url)
        port = _free_port()
        serve = _serve(config, env, port, workdir)
        spy = None
        if args.py_spy:  # py-spy must be installed: samples of the thread holding the GIL, while posting
            spy = subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "--gil",
                    "--subprocesses",
                    "--rate",
                    "100",
                    "--format",
                    "raw",
                    "--duration",
                    str(args.py_spy_s),
                    "-o",
                    str(args.py_spy),
                    "--pid",
                    str(serve.pid),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        try:
            load_before = os.getloadavg()[0]
            (serve_cpu, writer_cpu), client_cpu = _service_cpu_s(serve.pid), time.process_time()
            wall, timed, statuses, accepted = asyncio.run(
                post_all(f"http://127.0.0.1:{port}", events, args.clients, args.rate)
            )
            serve_after, writer_after = _service_cpu_s(serve.pid)
            serve_cpu, writer_cpu = serve_after - serve_cpu, writer_after - writer_cpu
            client_cpu = time.process_time() - client_cpu
            load_after = os.getloadavg()[0]
            if spy is not None:
                spy.wait(timeout=args.py_spy_s + 60)
        finally:
            serve.send_signal(signal.SIGTERM)
            try:
                serve.wait(timeout=30)
            except subprocess.TimeoutExpired:
                serve.kill()
        after = stored(database_url)
    finally:
        if args.database_url:
            _drop_postgres(args.database_url)
    new = {k: after[k] - before[k] for k in after}
    latencies = [took for _, took in timed]
    by_second: dict[int, list[float]] = {}
    for sent, took in timed:
        by_second.setdefault(int(sent), []).append(took)
    return {
        "store": "postgresql" if args.database_url else "sqlite",
        "people": args.people,
        "events_sent": len(events),
        "clients": args.clients,
        # events offered per second (None: each client sends as soon as its last was answered)
        "offered_per_s": args.rate,
        "store_built_s": round(built_s, 1),
        "wall_s": round(wall, 2),
        "accepted_per_s": round(len(accepted) / wall, 1),
        "latency_ms": {
            "p50": round(1000 * statistics.median(latencies), 1),
            "p99": round(1000 * _pct(latencies, 0.99), 1),
            "max": round(1000 * max(latencies), 1),
        },
        # the slowest answers by the second they were sent in: a tail spread evenly, or bunched
        "p99_ms_by_second": [round(1000 * _pct(v, 0.99), 1) for _, v in sorted(by_second.items())],
        "answers": {str(k): v for k, v in sorted(statuses.items())},
        # CPU seconds while posting: serve's (its HTTP process and its HR writer process) per
        # accepted event, each process's in all, and this client's in all
        "serve_cpu_ms_per_event": round(1000 * (serve_cpu + writer_cpu) / max(1, len(accepted)), 2),
        "serve_cpu_s": round(serve_cpu, 2),
        "writer_cpu_s": round(writer_cpu, 2),
        "client_cpu_s": round(client_cpu, 2),
        "stored": new,
        "nothing_lost": new["events_with_job"] == len(accepted) == new["events"]
        and new["jobs"] == len(accepted)
        and after["jobs_without_event"] == 0,
        "load_average": [round(load_before, 2), round(load_after, 2)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # 10,000 events: about 7 s of steady load (2,000 lasted under 2 s, mostly the first second's)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--events", type=int, help="at most this many terminations (default: one per person)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument(
        "--rate",
        type=float,
        help="offer this many events per second (latency from when each was due); default: as fast"
        " as the clients are answered",
    )
    parser.add_argument("--database-url", help="a PostgreSQL server's URL (default: a SQLite store)")
    parser.add_argument("--py-spy", type=Path, metavar="FILE", help="record serve and its helper with py-spy")
    parser.add_argument("--py-spy-s", type=int, default=20, help="seconds py-spy records (with --py-spy)")
    parser.add_argument("--workdir", type=Path, help="keep the store, config and serve.log here")
    parser.add_argument(
        "--synced-store",
        type=Path,
        metavar="DIR",
        help="SQLite: sync the store once into DIR and start each run from a copy of it",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "intake" / "results.json")
    args = parser.parse_args()
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        result = run(args, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="accessctl-intake-") as tmp:
            result = run(args, Path(tmp))
    result.update(
        {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}",
            "python": platform.python_version(),
        }
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
