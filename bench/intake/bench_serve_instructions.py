"""Instructions `accessctl serve`'s own process runs for each HR event (not its helper's).

    cd /tmp; python /work/main/bench/intake/bench_serve_instructions.py --synced-store /work/bench-cache

Serve runs under valgrind's callgrind with counting off (its helper process runs natively); once it
is ready, counting is switched on, ``--events`` signed terminations are posted by ``--clients``
keep-alive connections, and counting is switched off.  The count per event moves with serve's
code only, where CPU time on this machine moves by a fifth from one minute to the next: for
comparing two checkouts (run each one's copy of this script).  It takes a minute or two.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_intake import _env, _free_port, _serve, cached_store, leavers, post_all, signed_events  # noqa: E402

from accessctl.hr.signature import WebhookSecret  # noqa: E402


def _instructions(out: Path) -> tuple[int, int]:
    """Instructions counted in serve's main thread (its event loop: HTTP, signatures, parsing,
    the hand-over to the helper) and in its other threads (the store's checkpoints, the scheduler)."""
    counts = []
    for part in sorted(out.parent.glob(out.name + "-*")):  # one file a thread, the main one first
        totals = [line for line in part.read_text().splitlines() if line.startswith("totals:")]
        counts.append(int(totals[0].split()[1]) if totals else 0)
    if not counts:
        raise SystemExit(f"no counts in {out}-*")
    return counts[0], sum(counts[1:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synced-store", type=Path, required=True, help="bench_intake.py's cache")
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--keep", type=Path, help="copy callgrind's files here (for callgrind_annotate)")
    args = parser.parse_args()
    secret_text = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    env = _env(secret_text)
    with tempfile.TemporaryDirectory(prefix="accessctl-serve-cg-") as tmp:
        workdir = Path(tmp)
        config, _ = cached_store(args.people, args.synced_store, workdir, env)
        people = leavers(f"sqlite:///{workdir / 'store.db'}")[: args.events]
        events = signed_events(people, WebhookSecret.parse(secret_text))
        port = _free_port()
        out = workdir / "callgrind.out"
        valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes"]
        proc = _serve(
            config, env, port, workdir, under=[*valgrind, f"--callgrind-out-file={out}"], ready_within_s=600
        )
        try:
            subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], check=True, capture_output=True)
            _, _, statuses, _ = asyncio.run(post_all(f"http://127.0.0.1:{port}", events, args.clients))
            subprocess.run(["callgrind_control", "-i", "off", str(proc.pid)], check=True, capture_output=True)
        finally:
            proc.terminate()
            proc.wait(timeout=300)
        main_thread, other_threads = _instructions(out)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for part in out.parent.glob(out.name + "-*"):
                shutil.copy(part, args.keep / part.name)
    print(
        json.dumps(
            {
                "checkout": str(ROOT),
                "events": len(events),
                "answers": statuses,
                "clients": args.clients,
                "instructions_per_event": round(main_thread / len(events)),
                "other_threads_per_event": round(other_threads / len(events)),
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
    )
    return 0 if statuses.get(202) == len(events) else 1


if __name__ == "__main__":
    sys.exit(main())
