"""Sync benchmarks against the provider emulators (issue: connectors and sync).

    python bench/sync/bench_sync.py                       # the 10k-person suite
    python bench/sync/bench_sync.py --people 100000 --only full

Each measured sync runs in its own process (``accessctl``'s real sync use case, a fresh SQLite store)
while the emulators serve from this one, so the sync's wall time and peak RSS are its own.  The
fetch-only floor replays exactly the GET requests that sync made (recorded by the emulators'
trace) with plain httpx and parses every body, storing nothing, also in a process of its own at
the sync's concurrency: the sync's cost over the floor is what accessctl adds.  (Until 2026-12-01
the floor ran in this process, beside the emulators, sharing their interpreter: it measured the
emulators' contention more than the fetching, and could come out slower than the sync.)

The Okta shape runs the old per-user role path (the org refusing the role-holder listing, which is
the connector's fallback) and the new one (the listing) in the same run, each in its own process
on a fresh store, alternating which goes first.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import ssl
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from accessctl.emulation import emulator_config, write_config  # noqa: E402
from connectors.emulators.credentials import EmulatorSecrets  # noqa: E402
from connectors.emulators.generate import generate_org, okta_benchmark_directory  # noqa: E402
from connectors.emulators.model import SyntheticOrg  # noqa: E402
from connectors.emulators.okta.style import OktaStyle  # noqa: E402
from connectors.emulators.runner import RunningEmulators, start_emulators  # noqa: E402
from connectors.google.config import SCOPES as GOOGLE_SCOPES  # noqa: E402

SYNC_CHILD = """
import json, os, sys, time
from pathlib import Path
from accessctl.settings import load_settings
from accessctl.store.engine import make_engine
from accessctl.store.migrate import upgrade
from accessctl.sync.service import run_sync
settings = load_settings(Path(sys.argv[1]), strict=True)
engine = make_engine(settings.database_url)
upgrade(engine)
started, cpu_started = time.perf_counter(), os.times()
summary = run_sync(settings, engine, full=sys.argv[2] == "full")
elapsed, cpu = time.perf_counter() - started, os.times()
print(json.dumps({
    "wall_s": elapsed,
    # this process's own CPU (user + sys) during run_sync: less noisy than wall time on a shared machine
    "cpu_s": (cpu.user - cpu_started.user) + (cpu.system - cpu_started.system),
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so it would report this
    # (emulator-laden) benchmark process's size instead of the sync's own
    "peak_rss_mb": int(next(l.split()[1] for l in open("/proc/self/status") if "VmHWM" in l)) / 1024,
    "complete": summary.complete,
    "providers": [r.as_dict() for r in summary.results],
}))
"""


FLOOR_CHILD = """
import asyncio, json, ssl, sys, time
import httpx
plan = json.loads(open(sys.argv[1]).read())
verify = ssl.create_default_context(cafile=plan["ca"]) if plan["ca"] else True
concurrency = plan["concurrency"]

async def provider_floor(provider):
    semaphore = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=provider["url"], headers=provider["headers"], verify=verify, limits=limits
    ) as client:
        async def fetch(path, query):
            async with semaphore:
                response = await client.get(f"{path}?{query}" if query else path)
                response.json()
        await asyncio.gather(*(fetch(p, q) for p, q in provider["requests"]))

async def all_floors():
    await asyncio.gather(*(provider_floor(p) for p in plan["providers"].values()))

import os
started, cpu_started = time.perf_counter(), os.times()
asyncio.run(all_floors())
elapsed, cpu = time.perf_counter() - started, os.times()
print(json.dumps({
    "wall_s": elapsed,
    "cpu_s": (cpu.user - cpu_started.user) + (cpu.system - cpu_started.system),
    "requests": sum(len(p["requests"]) for p in plan["providers"].values()),
    "peak_rss_mb": int(next(l.split()[1] for l in open("/proc/self/status") if "VmHWM" in l)) / 1024,
}))
"""


PROFILE: dict[str, Path | None] = {"dir": None}


def _profiled(command: list[str], name: str) -> list[str]:
    """The command, under ``py-spy record`` when --py-spy DIR was given (one speedscope file per
    child process, samples holding the GIL only: where the CPU goes; py-spy must be installed)."""
    directory = PROFILE["dir"]
    if directory is None:
        return command
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%H%M%S")
    out = directory / f"{name}-{stamp}.speedscope.json"
    return [
        "py-spy",
        "record",
        "--gil",
        "--format",
        "speedscope",
        "--rate",
        "50",
        "-o",
        str(out),
        "--",
        *command,
    ]


def _last_json(stdout: str) -> dict[str, Any]:
    """The child's result: its last line that is a JSON object (py-spy may print after it)."""
    return json.loads(next(line for line in reversed(stdout.splitlines()) if line.startswith("{")))


def run_sync_process(config: Path, mode: str) -> dict[str, Any]:
    done = subprocess.run(
        _profiled([sys.executable, "-c", SYNC_CHILD, str(config), mode], f"sync-{mode}"),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"sync failed:\n{done.stderr[-3000:]}")
    result = _last_json(done.stdout)
    result["requests"] = sum(p["requests"] for p in result["providers"])
    result["throttled"] = sum(p["throttled"] for p in result["providers"])
    result["items"] = sum(
        p["accounts_added"] + p["accounts_changed"] + p["entitlements_added"] + p["grants_added"]
        for p in result["providers"]
    )
    return result


def _ssl(running: RunningEmulators) -> Any:
    return ssl.create_default_context(cafile=str(running.tls.ca_path)) if running.tls else True


def auth_headers(secrets: EmulatorSecrets, urls: dict[str, str], verify: Any) -> dict[str, dict[str, str]]:
    """Credentials the floor uses, obtained the plain way (no SDKs)."""
    headers: dict[str, dict[str, str]] = {}
    if "okta" in urls:
        headers["okta"] = {"Authorization": f"SSWS {secrets.okta_api_token}"}
    if "entra" in urls:
        url = urls["entra"]
        token = httpx.post(
            f"{url}/{secrets.entra_tenant_id}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": secrets.entra_client_id,
                "client_secret": secrets.entra_client_secret,
                "scope": "https://graph.microsoft.com/.default",
            },
            verify=verify,
        ).json()["access_token"]
        headers["entra"] = {"Authorization": f"Bearer {token}"}
    if "google" in urls:
        url = urls["google"]
        now = int(time.time())
        assertion = jwt.encode(
            {
                "iss": secrets.google_service_account_email,
                "sub": secrets.google_admin_email,
                "aud": f"{url}/token",
                "iat": now,
                "exp": now + 3600,
                # what the connector asks for: the emulator checks each method's scopes, as Google does
                "scope": " ".join(GOOGLE_SCOPES),
            },
            secrets.google_private_key_pem,
            algorithm="RS256",
        )
        token = httpx.post(
            f"{url}/token",
            data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
            verify=verify,
        ).json()["access_token"]
        headers["google"] = {"Authorization": f"Bearer {token}"}
    return headers


def set_trace(running: RunningEmulators, enabled: bool) -> None:
    for provider in running.providers.values():
        provider.control.trace = [] if enabled else None


def replay_floor(
    running: RunningEmulators,
    traces: dict[str, list[tuple[str, str, str, float]]],
    workdir: Path,
    concurrency: int = 8,
) -> dict[str, Any]:
    """Fetch and parse the same GET pages with plain httpx, per provider concurrently, in a process
    of its own (the emulators stay in this one); its wall time (client set-up included, token
    requests not: they are made here first)."""
    headers = auth_headers(running.secrets, {n: p.url for n, p in running.providers.items()}, _ssl(running))
    plan = {
        "ca": str(running.tls.ca_path) if running.tls else None,
        "concurrency": concurrency,
        "providers": {
            name: {
                "url": running.providers[name].url,
                "headers": headers[name],
                "requests": [[p, q] for m, p, q, _ in requests if m == "GET"],
            }
            for name, requests in traces.items()
        },
    }
    path = workdir / "floor-plan.json"
    path.write_text(json.dumps(plan))
    try:
        done = subprocess.run(
            _profiled([sys.executable, "-c", FLOOR_CHILD, str(path)], "floor"),
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
    finally:
        path.unlink()
    if done.returncode != 0:
        raise SystemExit(f"floor failed:\n{done.stderr[-3000:]}")
    return _last_json(done.stdout)


def prepare(
    org: SyntheticOrg, workdir: Path, providers: tuple[str, ...], **options: Any
) -> tuple[RunningEmulators, Path]:
    running = start_emulators(org, workdir=workdir, providers=providers, **options)
    database = workdir / "bench.db"
    config = write_config(
        emulator_config(running, database_url=f"sqlite:///{database}"), workdir / "accessctl.toml"
    )
    return running, config


def churn(running: RunningEmulators, share: float) -> None:
    verify = _ssl(running)
    for provider in running.providers.values():
        httpx.post(
            f"{provider.url}/_emulator/state/churn", json={"share": share, "seed": 7}, verify=verify
        ).raise_for_status()


def bench_full(
    people: int, seed: int, workdir: Path, incremental: bool, floor: bool = True
) -> dict[str, Any]:
    org = generate_org(people, seed)
    running, config = prepare(org, workdir, ("okta", "entra", "google"))
    try:
        set_trace(running, floor)
        full = run_sync_process(config, "full")
        result: dict[str, Any] = {
            "people": people,
            "accounts": sum(len(org.directory(p).accounts) for p in ("okta", "entra", "google")),
            "full": full,
            "items_per_s": full["items"] / full["wall_s"],
            "time_per_item_us": 1e6 * full["wall_s"] / max(1, full["items"]),
        }
        if floor:
            traces = {n: list(p.control.trace or []) for n, p in running.providers.items()}
            set_trace(running, False)
            floor_run = replay_floor(running, traces, workdir)
            result["floor"] = floor_run
            result["floor_s"] = floor_run["wall_s"]
            result["full_over_floor"] = full["wall_s"] / result["floor_s"]
            result["full_over_floor_cpu"] = full["cpu_s"] / max(1e-9, floor_run["cpu_s"])
        if incremental:
            churn(running, 0.01)
            inc = run_sync_process(config, "incremental")
            result["incremental"] = inc
            result["incremental_over_full"] = inc["wall_s"] / full["wall_s"]
        return result
    finally:
        running.stop()


def budget_use(
    trace: list[tuple[str, str, str, float]], limit: int, window_s: int
) -> dict[str, dict[str, Any]]:
    """Per Okta rate-limit bucket: requests in each window it was used, and the share of the budget
    used in the windows where the bucket was busy from start to end (the first and last window of
    each stretch of use are partly before or after it: a phase that starts mid-window, or ends)."""
    style = OktaStyle()
    per_bucket: dict[str, dict[int, int]] = {}
    for method, path, _, stamp in trace:
        bucket = style.rate_bucket(method, path)
        if bucket is None:
            continue
        windows = per_bucket.setdefault(bucket, {})
        windows[math.floor(stamp / window_s)] = windows.get(math.floor(stamp / window_s), 0) + 1
    result: dict[str, dict[str, Any]] = {}
    for bucket, windows in sorted(per_bucket.items()):
        ordered = sorted(windows)
        inner = [
            w
            for w in ordered
            if w - 1 in windows and w + 1 in windows  # inside a stretch of use
        ]
        result[bucket] = {
            "requests": sum(windows.values()),
            "requests_per_window": [windows[w] for w in ordered],
            "busy_windows": len(inner),
            "share_used_busy_windows": sum(windows[w] for w in inner) / (limit * len(inner))
            if inner
            else None,
        }
    return result


def bench_rate_limited(people: int, workdir: Path, limit: int, window_s: int) -> dict[str, Any]:
    """Okta with a small per-bucket budget: how much of the budget the sync used, and 429s met."""
    org = generate_org(people, 5)
    running, config = prepare(org, workdir, ("okta",), rate_limit=limit, rate_window_s=window_s)
    try:
        set_trace(running, True)
        result = run_sync_process(config, "full")
        control = running.providers["okta"].control
        buckets = budget_use(list(control.trace or []), limit, window_s)
        busy = [b for b in buckets.values() if b["busy_windows"]]
        return {
            "people": people,
            "limit_per_window": limit,
            "window_s": window_s,
            "sync": result,
            "buckets": buckets,
            # over every busy window of every bucket: requests sent / requests the budget allowed
            "budget_share_used": sum(b["share_used_busy_windows"] * b["busy_windows"] for b in busy)
            / sum(b["busy_windows"] for b in busy),
            "throttled_429s": control.budget.throttled,
        }
    finally:
        running.stop()


def okta_request_kinds(trace: list[tuple[str, str, str, float]]) -> dict[str, int]:
    """Requests by kind: per-user roles and factors, the role-holder listing, everything else."""
    kinds = {"users/{id}/roles": 0, "users/{id}/factors": 0, "iam/assignees/users": 0, "other": 0}
    for _, path, _, _ in trace:
        parts = path.strip("/").split("/")
        if len(parts) == 5 and parts[2] == "users" and parts[4] in ("roles", "factors"):
            kinds[f"users/{{id}}/{parts[4]}"] += 1
        elif path == "/api/v1/iam/assignees/users":
            kinds["iam/assignees/users"] += 1
        else:
            kinds["other"] += 1
    return kinds


def bench_okta_shape(
    workdir: Path,
    rounds: int = 2,
    *,
    users: int = 10_000,
    groups: int = 500,
    latency_ms: float = 0.0,
    rate_limit: int = 0,
    rate_window_s: int = 60,
) -> dict[str, Any]:
    """The first load by the old per-user role path (the org refuses the role-holder listing: the
    connector's fallback) and by the new one, each in its own process on a fresh store, against the
    same emulator, alternating which goes first; then an unchanged re-sync by the new path.

    By default the emulator answers at once and without a rate limit; ``latency_ms`` delays every
    response, ``rate_limit`` gives every Okta endpoint family (users, groups, apps, ...) that many
    requests per ``rate_window_s`` (answering 429 with Okta's headers beyond it)."""
    org = okta_benchmark_directory(users=users, groups=groups, group_size=100, seed=1)
    running = start_emulators(
        org,
        workdir=workdir,
        providers=("okta",),
        latency_ms=latency_ms,
        rate_limit=rate_limit,
        rate_window_s=rate_window_s,
    )
    okta = running.providers["okta"]
    verify = _ssl(running)
    try:
        loads: dict[str, list[dict[str, Any]]] = {"per_user": [], "listing": []}
        configs: dict[str, Path] = {}
        for round_ in range(rounds):
            order = ("per_user", "listing") if round_ % 2 == 0 else ("listing", "per_user")
            for path in order:
                answer = "forbidden" if path == "per_user" else "ok"
                httpx.post(
                    f"{okta.url}/_emulator/state/role-listing", json={"answer": answer}, verify=verify
                ).raise_for_status()
                database = workdir / f"okta-{path}-{round_}.db"
                configs[path] = write_config(
                    emulator_config(running, database_url=f"sqlite:///{database}"),
                    workdir / f"accessctl-{path}-{round_}.toml",
                )
                okta.control.trace = []
                load = run_sync_process(configs[path], "full")
                load["request_kinds"] = okta_request_kinds(list(okta.control.trace or []))
                okta.control.trace = None
                loads[path].append(load)
        httpx.post(
            f"{okta.url}/_emulator/state/role-listing", json={"answer": "ok"}, verify=verify
        ).raise_for_status()
        again = run_sync_process(configs["listing"], "incremental")  # a store the listing path loaded
        walls = {path: [run["wall_s"] for run in runs] for path, runs in loads.items()}
        return {
            "users": users,
            "groups": groups + 1,
            "memberships": groups * 100 + users,
            "conditions": {
                "latency_ms": latency_ms,
                "rate_limit_per_family": rate_limit or None,
                "rate_window_s": rate_window_s if rate_limit else None,
            },
            "cpu_s": {path: [run["cpu_s"] for run in runs] for path, runs in loads.items()},
            "per_user_over_listing_cpu": sum(r["cpu_s"] for r in loads["per_user"])
            / sum(r["cpu_s"] for r in loads["listing"]),
            "throttled": {path: [run["throttled"] for run in runs] for path, runs in loads.items()},
            "first_load_per_user_roles": loads["per_user"],
            "first_load_role_listing": loads["listing"],
            "requests": {path: [run["requests"] for run in runs] for path, runs in loads.items()},
            "wall_s": walls,
            # sums over the rounds: each path ran first as often as the other
            "per_user_over_listing_wall": sum(walls["per_user"]) / sum(walls["listing"]),
            "unchanged_resync": again,
        }
    finally:
        running.stop()


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
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=["full", "rate", "okta"], action="append")
    parser.add_argument("--no-floor", action="store_true", help="skip the fetch-only floor (for 100k runs)")
    parser.add_argument("--no-incremental", action="store_true", help="skip the incremental run")
    parser.add_argument("--okta-rounds", type=int, default=2, help="first loads per role path (Okta shape)")
    parser.add_argument("--okta-users", type=int, default=10_000, help="users of the Okta shape")
    parser.add_argument("--okta-groups", type=int, default=500, help="groups of 100 of the Okta shape")
    parser.add_argument("--okta-latency-ms", type=float, default=0.0, help="emulator latency per response")
    parser.add_argument(
        "--okta-rate-limit", type=int, default=0, help="requests per window per Okta endpoint family"
    )
    parser.add_argument("--okta-rate-window", type=int, default=60, help="seconds (with --okta-rate-limit)")
    parser.add_argument(
        "--py-spy", type=Path, metavar="DIR", help="record each child with py-spy (speedscope) into DIR"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "sync" / "results.json")
    args = parser.parse_args()
    only = set(args.only or ["full", "rate", "okta"])
    PROFILE["dir"] = args.py_spy
    results: dict[str, Any] = {"machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        if "full" in only:
            results[f"full_{args.people}"] = bench_full(
                args.people,
                args.seed,
                Path(tmp) / "full",
                incremental=not args.no_incremental,
                floor=not args.no_floor,
            )
            print(json.dumps(results[f"full_{args.people}"], indent=2), flush=True)
        if "rate" in only:
            results["rate_limited"] = bench_rate_limited(1000, Path(tmp) / "rate", limit=300, window_s=2)
            print(json.dumps(results["rate_limited"], indent=2), flush=True)
        if "okta" in only:
            results["okta_shape"] = bench_okta_shape(
                Path(tmp) / "okta",
                rounds=args.okta_rounds,
                users=args.okta_users,
                groups=args.okta_groups,
                latency_ms=args.okta_latency_ms,
                rate_limit=args.okta_rate_limit,
                rate_window_s=args.okta_rate_window,
            )
            print(json.dumps(results["okta_shape"], indent=2), flush=True)
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    previous.update(results)
    args.out.write_text(json.dumps(previous, indent=2) + "\n")


if __name__ == "__main__":
    main()
