"""The HR intake's write path alone: what `accessctl serve`'s helper process spends on each event.

    python bench/intake/bench_writer.py --synced-store /work/bench-cache [--events 3000] [--group 32]

It writes parsed, checked terminations for people of the synced store (a fresh copy of the one
bench_intake.py keeps in ``--synced-store``) as the helper does: ``GroupWriter.write_group`` in
groups, each event recorded with its job and audit events in one commit per group, the audit log
lines written to a file (not the hand-over from serve: the requests are built in this process).
No HTTP and no second process, so the CPU per event it prints moves with
the write path's code only, and runs of two checkouts can alternate a few seconds apart (the
service benchmark's throughput swings by a fifth on this machine from one minute to the next).
For a measure that does not move with the machine, count instructions (about 60 times slower):

    BENCH_CALLGRIND=1 valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=cg.out \
        "$(python -c 'import sys; print(sys.executable)')" bench/intake/bench_writer.py ... --events 500
    grep totals: cg.out      # instructions in the write loop; divide by the events

Run it from outside the checkout (``cd /tmp``): ``python`` puts the script's folder first on
``sys.path``, and this script puts its checkout next.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import functools
import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_intake import SECRET_ENV, cached_store, leavers, signed_events  # noqa: E402


def events(people: list[tuple[str, str]], secret: str, now: datetime) -> list[object]:
    """The requests the service hands its helper: bench_intake.py's signed terminations, each
    body parsed and checked as serve does."""
    from accessctl.hr.events import load_json, parse_event
    from accessctl.hr.signature import WebhookSecret
    from accessctl.hr.writer_process import RecordRequest

    out = []
    for headers, raw in signed_events(people, WebhookSecret.parse(secret)):
        event = parse_event(load_json(raw), now=now)
        out.append(RecordRequest.of("bench", headers["webhook-id"], event, raw, now))
    return out


_profile = None


def _measure_loop(on: bool) -> None:
    """Start (``on``) or stop measuring the write loop alone: with ``BENCH_CPROFILE``, a profile;
    under ``valgrind --tool=callgrind --instr-atstart=no`` with ``BENCH_CALLGRIND``, its
    instructions (a measure this machine's noisy CPU time cannot give)."""
    if os.environ.get("BENCH_CPROFILE"):  # a deterministic profile of the loop, to that file
        import cProfile

        global _profile
        if on:
            _profile = cProfile.Profile()
            _profile.enable()
        else:
            _profile.disable()
            _profile.dump_stats(os.environ["BENCH_CPROFILE"])
    if os.environ.get("BENCH_CALLGRIND"):
        subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synced-store", type=Path, required=True, help="bench_intake.py's cache")
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--group", type=int, default=32, help="events a commit (the service: what arrived)")
    args = parser.parse_args()
    os.environ.setdefault(SECRET_ENV, "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())

    from accessctl.heap import settle_the_heap
    from accessctl.hr.writer import GroupWriter
    from accessctl.lifecycle.hr_jobs import HrLifecycle
    from accessctl.logs import configure_logging
    from accessctl.settings import load_settings
    from accessctl.store.engine import make_engine

    with tempfile.TemporaryDirectory(prefix="accessctl-writer-") as tmp:
        workdir = Path(tmp)
        config, _ = cached_store(args.people, args.synced_store, workdir, dict(os.environ))
        settings = load_settings(config)
        people = leavers(settings.database_url)[: args.events]
        requests = events(people, os.environ[SECRET_ENV], datetime.now(UTC))
        with (workdir / "audit.log").open("w", buffering=1) as log_file:
            level = os.environ.get("BENCH_LOG_LEVEL", "INFO")  # WARNING: without the audit lines
            configure_logging(level=level, fmt="text", secrets=settings.secret_values(), stream=log_file)
            engine = make_engine(settings.database_url)
            lifecycle = HrLifecycle(settings)
            writer = GroupWriter(engine)
            settle_the_heap()
            answered = 0

            def done(future: concurrent.futures.Future[object]) -> None:
                nonlocal answered
                answered += future.exception() is None

            _measure_loop(True)
            times, cpu, wall = os.times(), time.process_time(), time.perf_counter()
            for at in range(0, len(requests), args.group):
                group = []
                for request in requests[at : at + args.group]:
                    future: concurrent.futures.Future[object] = concurrent.futures.Future()
                    future.add_done_callback(done)
                    work = functools.partial(request.record, rehire=settings.hr.rehire, lifecycle=lifecycle)
                    group.append((work, future, None))
                writer.write_group(group)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            user, system = os.times().user - times.user, os.times().system - times.system
            _measure_loop(False)
            engine.dispose()
            logging.getLogger().handlers.clear()
    print(
        json.dumps(
            {
                "checkout": str(ROOT),
                "events": len(requests),
                "stored": answered,
                "group": args.group,
                "cpu_ms_per_event": round(cpu / len(requests) * 1000, 4),
                "user_ms_per_event": round(user / len(requests) * 1000, 4),
                "system_ms_per_event": round(system / len(requests) * 1000, 4),
                "wall_ms_per_event": round(wall / len(requests) * 1000, 4),
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
    )
    return 0 if answered == len(requests) else 1


if __name__ == "__main__":
    sys.exit(main())
