"""Leaver benchmarks against the provider emulators (issue 10: the deprovisioning engine).

    python bench/leaver/bench_leaver.py                  # 200 one at a time, then 1,000 at once
    python bench/leaver/bench_leaver.py --quick          # 10 and 20 leavers: about a minute
    python bench/leaver/bench_leaver.py --only revoke --leavers 50

The emulators serve from this process; each measured run is a child process of its own that does
what ``accessctl serve`` does (the use case queues the job, ``run_worker`` with the service's
settings runs it, through ``step_executor``'s connectors) on a store a child sync loaded first.

Time to revoke: emulators answer every call after ``--latency-ms``; leavers one at a time, each
from its job's creation (the child's clock right after the enqueue committed) to its last verify
step finished (the step's ``finished_at``).  The critical path is counted, not guessed: the
emulators' request trace inside that span, per provider, split into waves (a call that arrives
within one latency of the wave's first call ran beside it); the longest provider's waves times the
latency is the least any engine could take.

Mass leavers: the guard released (its limits set high in the bench's config), every leaver queued
at once (as an HR feed would), against rate-limited emulators; the total time beside the least the
budgets allow (each budget bucket's calls ÷ its rate, the slowest bucket), and the 429s (and
Google's 403 rateLimitExceeded) the emulators answered.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from accessctl.emulation import emulator_config, write_config  # noqa: E402
from connectors.emulators.entra.style import GraphStyle  # noqa: E402
from connectors.emulators.generate import generate_org  # noqa: E402
from connectors.emulators.google.style import GoogleStyle  # noqa: E402
from connectors.emulators.okta.style import OktaStyle  # noqa: E402
from connectors.emulators.runner import RunningEmulators, start_emulators  # noqa: E402

PROVIDERS = ("okta", "entra", "google")
STYLES = {"okta": OktaStyle(), "entra": GraphStyle(), "google": GoogleStyle()}

SYNC_CHILD = """
import sys
from pathlib import Path
from accessctl.settings import load_settings
from accessctl.store.engine import make_engine
from accessctl.store.migrate import upgrade
from accessctl.sync.service import run_sync
settings = load_settings(Path(sys.argv[1]), strict=True)
engine = make_engine(settings.database_url)
upgrade(engine)
summary = run_sync(settings, engine, full=True, actor="bench")
assert summary.complete, summary
"""

# What `accessctl serve` runs, in one process: the use case queues, the worker (the service's
# settings: web.workers steps at once, its lease, the default idle poll) runs.
LEAVER_CHILD = """
import asyncio, json, logging, os, socket, sys, time
from pathlib import Path
logging.basicConfig(level=os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s")
logging.getLogger("accessctl.audit").setLevel(logging.WARNING)  # an event per step: the worker logs it
import sqlalchemy as sa
from accessctl.aiorun import run
from accessctl.jobs import get_job, run_worker
from accessctl.lifecycle import deprovision, step_executor
from accessctl.lifecycle.connections import open_connectors
from accessctl.settings import load_settings
from accessctl.store.engine import make_engine
from accessctl.store.models import Account, Person
from accessctl.sync import clock

settings = load_settings(Path(sys.argv[1]), strict=True)
mode, count = sys.argv[2], int(sys.argv[3])
engine = make_engine(settings.database_url)
FINISHED = {"done", "failed", "cancelled", "quarantined"}

def leavers():
    accounts, people = Account.__table__, Person.__table__
    query = (
        sa.select(people.c.email)
        .join(accounts, accounts.c.person_id == people.c.id)
        .where(accounts.c.ended_at.is_(None), accounts.c.status == "active",
               accounts.c.protected.is_(False), people.c.status == "active")
        .group_by(people.c.id, people.c.email)
        .having(sa.func.count(sa.distinct(accounts.c.provider)) >= 3)
        .order_by(people.c.id)
    )
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())[:count]

def status(job_id):
    with engine.connect() as conn:
        return get_job(conn, job_id)

def verified_at(job):
    ends = [s.finished_at for s in job.steps if s.action == "verify"]
    return max(ends).timestamp() if ends and all(ends) else None

def timeline(job, created):
    # per provider: wait before its first step started, gaps between its steps (the worker's
    # claim and record), time inside steps (the provider calls), up to its verify finished
    out = {}
    for provider in sorted({s.provider for s in job.steps}):
        steps = [s for s in job.steps if s.provider == provider and s.started_at and s.finished_at]
        steps.sort(key=lambda s: s.seq)
        ends = [i for i, s in enumerate(steps) if s.action == "verify"]
        steps = steps[: ends[-1] + 1] if ends else steps
        if not steps:
            continue
        inside = sum((s.finished_at - s.started_at).total_seconds() for s in steps)
        gaps = sum((b.started_at - a.finished_at).total_seconds() for a, b in zip(steps, steps[1:]))
        out[provider] = {"first_wait": steps[0].started_at.timestamp() - created, "gaps": gaps,
                         "inside": inside, "steps": len(steps),
                         "verified": steps[-1].finished_at.timestamp()}
    return out

async def until_finished(job_id, poll_s=0.01):
    while True:
        job = await asyncio.to_thread(status, job_id)
        if job.state in FINISHED:
            return job
        await asyncio.sleep(poll_s)

async def main():
    emails = leavers()
    assert len(emails) == count, f"only {len(emails)} people with accounts in all three providers"
    stop = asyncio.Event()
    results = []
    # the steps' connectors, and the plans' (opened once, as a caller queuing many leavers would)
    async with step_executor(settings, engine=engine) as execute, open_connectors(settings) as planning:
        worker = asyncio.create_task(run_worker(
            engine, execute=execute, worker_id=f"{socket.gethostname()}:{os.getpid()}:bench",
            clock=clock.now, stop=stop, concurrency=settings.web.workers,
            lease_s=settings.web.lease_s, step_timeout_s=settings.web.step_timeout_s,
        ))
        started = time.time()
        if mode == "revoke":
            for email in emails:
                submitted = await deprovision(settings, engine, person=email, requested_by="bench",
                                             connectors=planning)
                created = time.time()  # the enqueue committed
                job = await until_finished(submitted.job_id)
                results.append({"job": job.id, "state": job.state, "created": created,
                                "verified": verified_at(job), "steps": len(job.steps),
                                "timeline": timeline(job, created)})
        else:
            jobs = []
            for email in emails:
                submitted = await deprovision(settings, engine, person=email, requested_by="bench",
                                             connectors=planning)
                jobs.append((submitted.job_id, time.time()))
            queued = time.time()
            for job_id, created in jobs:
                job = await until_finished(job_id, poll_s=0.1)
                results.append({"job": job.id, "state": job.state, "created": created,
                                "verified": verified_at(job), "steps": len(job.steps),
                                "attempts": sum(s.attempts for s in job.steps)})
        ended = time.time()
        stop.set()
        stopped, _ = await asyncio.wait({worker}, timeout=60)
        if not stopped:
            raise SystemExit("the worker did not stop within 60 s of being told to")
        worker.result()
    out = {"started": started, "ended": ended, "jobs": results}
    if mode != "revoke":
        out["queued"] = queued
    print(json.dumps(out))

run(main())  # asyncio.run, with a bounded wait for tasks left at exit
"""


def machine() -> dict[str, Any]:
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    model = next(
        (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
        platform.processor() or platform.machine(),
    )
    return {
        "python": platform.python_version(),
        "cpu": model,
        "cores": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


#: where the children's logs go (--log FILE); None: kept in memory, the tail shown on failure
LOG: Path | None = None


def _child(code: str, *args: str) -> str:
    command = [sys.executable, "-c", code, *args]
    if LOG is None:
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
        if done.returncode != 0:
            raise SystemExit(f"child failed:\n{done.stderr[-3000:]}")
        return done.stdout
    with LOG.open("a") as log:
        env = {**os.environ, "BENCH_LOG_LEVEL": "INFO"}
        done = subprocess.run(
            command, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT, env=env, check=False
        )
    if done.returncode != 0:
        raise SystemExit(f"child failed (exit {done.returncode}); its log: {LOG}")
    return done.stdout


def prepare(leavers: int, workdir: Path, seed: int, **lifecycle: Any) -> tuple[RunningEmulators, Path]:
    """Emulators for an org with enough people in all three providers, synced into a fresh store."""
    org = generate_org(max(40, int(leavers * 1.6)), seed)
    running = start_emulators(org, workdir=workdir, providers=PROVIDERS)
    config = emulator_config(running, database_url=f"sqlite:///{workdir / 'bench.db'}")
    config["lifecycle"] = {"guard": {"max_per_hour": 1_000_000, "max_share": 1.0}, **lifecycle}
    path = write_config(config, workdir / "accessctl.toml")
    _child(SYNC_CHILD, str(path))
    return running, path


def waves(stamps: list[float], latency_s: float) -> int:
    """Sequential rounds among calls arriving at ``stamps``: one starting within a latency of the
    round's first call ran beside it (it could not have waited for that call's answer)."""
    count, start = 0, None
    for stamp in sorted(stamps):
        if start is None or stamp >= start + latency_s * 0.9:
            count, start = count + 1, stamp
    return count


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def bench_revoke(leavers: int, latency_ms: float, workdir: Path, seed: int) -> dict[str, Any]:
    running, config = prepare(leavers, workdir, seed)
    try:
        for provider in running.providers.values():
            provider.control.latency_ms = latency_ms
            provider.control.trace = []
        run = json.loads(_child(LEAVER_CHILD, str(config), "revoke", str(leavers)))
        traces = {n: list(p.control.trace or []) for n, p in running.providers.items()}
    finally:
        running.stop()
    latency_s = latency_ms / 1000
    rows = []
    for job in run["jobs"]:
        if job["verified"] is None:
            rows.append({**job, "took_s": None})
            continue
        # each provider's calls up to its own verify step's end (its refresh_store reads come after)
        per_provider = {
            name: [t for _, _, _, t in trace if job["created"] <= t <= job["timeline"][name]["verified"]]
            for name, trace in traces.items()
        }
        chain = {name: waves(stamps, latency_s) for name, stamps in per_provider.items()}
        rows.append(
            {
                **job,
                "took_s": job["verified"] - job["created"],
                "calls": {name: len(stamps) for name, stamps in per_provider.items()},
                "chain": chain,
                "critical_path_s": max(chain.values()) * latency_s,
            }
        )
    took = [r["took_s"] for r in rows if r["took_s"] is not None]
    paths = [r["critical_path_s"] for r in rows if r["took_s"] is not None]
    over = [r["took_s"] - r["critical_path_s"] for r in rows if r["took_s"] is not None]
    p99 = percentile(took, 0.99)
    worst_path = max(paths)
    return {
        "leavers": leavers,
        "latency_ms": latency_ms,
        "verified": len(took),
        "not_done": [r for r in rows if r["state"] != "done"][:5],
        "p50_s": percentile(took, 0.5),
        "p99_s": p99,
        "max_s": max(took),
        "critical_path_s": {"min": min(paths), "median": percentile(paths, 0.5), "max": worst_path},
        "over_critical_path_s": {"p50": percentile(over, 0.5), "p99": percentile(over, 0.99)},
        "calls_per_job_median": {
            name: percentile([r["calls"][name] for r in rows if r["took_s"] is not None], 0.5)
            for name in PROVIDERS
        },
        "chain_per_job_median": {
            name: percentile([r["chain"][name] for r in rows if r["took_s"] is not None], 0.5)
            for name in PROVIDERS
        },
        "timeline_median_s": {
            name: {
                part: percentile(
                    [r["timeline"][name][part] for r in rows if name in r.get("timeline", {})], 0.5
                )
                for part in ("first_wait", "gaps", "inside", "steps")
            }
            for name in PROVIDERS
        },
        "target_s": worst_path + 0.3,
        "meets_target": p99 <= worst_path + 0.3,
        "meets_target_per_job_p99": percentile(over, 0.99) <= 0.3,
    }


def bench_mass(
    leavers: int, budgets: dict[str, tuple[int, int]], workdir: Path, seed: int, workers: int
) -> dict[str, Any]:
    running, config = prepare(leavers, workdir, seed)
    text = config.read_text()
    config.write_text(text + f"\n[web]\nworkers = {workers}\n")
    try:
        for name, provider in running.providers.items():
            limit, window_s = budgets[name]
            provider.control.budget.configure(limit, window_s)
            provider.control.budget.throttled = 0
            provider.control.trace = []
        run = json.loads(_child(LEAVER_CHILD, str(config), "mass", str(leavers)))
        traces = {n: list(p.control.trace or []) for n, p in running.providers.items()}
        refused = {n: p.control.budget.throttled for n, p in running.providers.items()}
    finally:
        running.stop()
    total_s = max(j["verified"] or run["ended"] for j in run["jobs"]) - run["started"]
    buckets: dict[str, dict[str, Any]] = {}
    for name, trace in traces.items():
        limit, window_s = budgets[name]
        for method, path, _, stamp in trace:
            if not run["started"] <= stamp <= run["ended"]:
                continue
            bucket = STYLES[name].rate_bucket(method, path)
            if bucket is None:
                continue
            entry = buckets.setdefault(f"{name}:{bucket}", {"calls": 0, "rate_per_s": limit / window_s})
            entry["calls"] += 1
    for entry in buckets.values():
        entry["least_s"] = entry["calls"] / entry["rate_per_s"]
    slowest = max(buckets, key=lambda b: buckets[b]["least_s"])
    least = buckets[slowest]["least_s"]
    return {
        "leavers": leavers,
        "workers": workers,
        "budgets": {n: {"limit": lim, "window_s": w} for n, (lim, w) in budgets.items()},
        "done": sum(1 for j in run["jobs"] if j["state"] == "done"),
        "states": sorted({j["state"] for j in run["jobs"]}),
        "queueing_s": run["queued"] - run["started"],
        "total_s": total_s,
        "buckets": buckets,
        "slowest_bucket": slowest,
        "least_s": least,
        "total_over_least": total_s / least if least else None,
        "refused_over_budget": refused,
        "step_attempts": sum(j["attempts"] for j in run["jobs"]),
        "steps": sum(j["steps"] for j in run["jobs"]),
        "meets_target": least > 0 and total_s <= 1.2 * least,
    }


def _budget(text: str) -> tuple[int, int]:
    limit, _, window = text.partition("/")
    return int(limit), int(window or 60)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--leavers", type=int, help="leavers of the time-to-revoke run (default 200)")
    parser.add_argument("--mass-leavers", type=int, help="leavers of the mass run (default 1000)")
    parser.add_argument("--quick", action="store_true", help="10 and 20 leavers: about a minute")
    parser.add_argument("--only", choices=["revoke", "mass"], action="append")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--workers", type=int, default=16, help="steps at once in the mass run")
    # the published budgets: Okta 600/min for /api/v1/users per read/write family (the org's
    # default tier); Graph and Google's Directory API far larger per minute (the emulators model
    # one fixed window per bucket)
    parser.add_argument("--okta-budget", type=_budget, default=(600, 60), metavar="LIMIT/WINDOW_S")
    parser.add_argument("--entra-budget", type=_budget, default=(2000, 10), metavar="LIMIT/WINDOW_S")
    parser.add_argument("--google-budget", type=_budget, default=(2400, 60), metavar="LIMIT/WINDOW_S")
    parser.add_argument("--log", type=Path, help="append the children's logs (INFO: every step) to FILE")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "leaver" / "results.json")
    args = parser.parse_args()
    global LOG
    LOG = args.log
    only = set(args.only or ["revoke", "mass"])
    revoke_n = args.leavers or (10 if args.quick else 200)
    mass_n = args.mass_leavers or (20 if args.quick else 1000)
    budgets = {"okta": args.okta_budget, "entra": args.entra_budget, "google": args.google_budget}
    results: dict[str, Any] = {"machine": machine(), "command": " ".join(sys.argv)}
    with tempfile.TemporaryDirectory() as tmp:
        if "revoke" in only:
            results["time_to_revoke"] = bench_revoke(revoke_n, args.latency_ms, Path(tmp) / "r", args.seed)
            print(json.dumps(results["time_to_revoke"], indent=2), flush=True)
        if "mass" in only:
            results["mass_leavers"] = bench_mass(mass_n, budgets, Path(tmp) / "m", args.seed, args.workers)
            print(json.dumps(results["mass_leavers"], indent=2), flush=True)
    results["machine"]["load_average_at_end"] = os.getloadavg()
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
