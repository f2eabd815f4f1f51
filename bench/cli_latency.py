"""How soon the inventory commands show their first screen on a 10,000-person store, and how soon a
store-touching command is done, each in its own process.

    python bench/cli_latency.py                      # builds the store: emulators + a full sync
    python bench/cli_latency.py --config emu/accessctl.toml   # measures an existing store

The store is built at run time: the emulators' generator makes the org, the emulators serve it,
``accessctl db upgrade`` and ``accessctl sync`` fill a SQLite store (about a minute at 10,000 people).
Each command then runs ``--repeat`` times at ``COLUMNS=80`` with stdout on a pipe (no pager); the
first screen is its first 24 lines.  Bytecode is cached (in a temporary ``PYTHONPYCACHEPREFIX``, after
one warm-up run) as an installed package's is.  Printed: the median wall time to the first screen and
to the end, and the median CPU time (user + system) of the process to its first screen (Linux /proc)
and in all, which the machine's load changes less than wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCREEN = 24  # lines


def _env(pycache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCESSCTL_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update({"PYTHONPATH": str(ROOT), "PYTHONPYCACHEPREFIX": str(pycache), "COLUMNS": "80"})
    return env


def _cli(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "accessctl.cli", "--config", str(config), *args]


def build_store(people: int, workdir: Path, env: dict[str, str]) -> Path:
    from accessctl.emulation import emulator_config, write_config
    from connectors.emulators.generate import generate_org
    from connectors.emulators.runner import start_emulators

    started = time.perf_counter()
    org = generate_org(people, seed=1)
    running = start_emulators(org, workdir=workdir / "emu")
    try:
        config = emulator_config(running, database_url=f"sqlite:///{workdir / 'store.db'}")
        path = write_config(config, workdir / "accessctl.toml")
        subprocess.run(_cli(path, "db", "upgrade"), env=env, check=True, stdout=subprocess.DEVNULL)
        sync = subprocess.run(
            _cli(path, "sync", "--format", "json"), env=env, check=True, capture_output=True, text=True
        )
    finally:
        running.stop()
    summary = json.loads(sync.stdout)
    accounts = sum(p["accounts_added"] for p in summary["providers"])
    grants = sum(p["grants_added"] for p in summary["providers"])
    print(
        f"store: {people} people, {accounts} accounts, {grants} grants, "
        f"built in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return path


def _cpu_of(pid: int) -> float | None:
    """CPU seconds (user + system) the running process ``pid`` has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(command: list[str], env: dict[str, str]) -> tuple[float, float, float, float]:
    """(seconds to the first screen, seconds to the end, CPU seconds to the first screen, CPU seconds
    in all) of one run."""
    before = os.times()
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    first_screen = first_cpu = None
    for lines, _ in enumerate(process.stdout, start=1):
        if lines == SCREEN:
            first_screen = time.perf_counter() - started
            first_cpu = _cpu_of(process.pid)
    process.wait(timeout=600)
    ended = time.perf_counter() - started
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return (
        first_screen if first_screen is not None else ended,
        ended,
        first_cpu if first_cpu is not None else cpu,
        cpu,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--config", type=Path, help="Measure this store instead of building one.")
    parser.add_argument("--workdir", type=Path, help="Build the store here and keep it.")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        env = _env(Path(tmp) / "pycache")
        config = args.config or build_store(args.people, workdir, env)
        people = json.loads(
            subprocess.run(
                _cli(config, "people", "--limit", "50", "--format", "json"),
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        someone = max(people, key=lambda p: p["accounts"])["email"]
        cases = {
            "people": ["people"],
            "accounts": ["accounts"],
            "accounts --privileged --no-mfa": ["accounts", "--privileged", "--no-mfa"],
            f"access {someone}": ["access", someone],
            "report mfa": ["report", "mfa"],
            "startup: access <unknown person> (exit 1)": ["access", "nobody@nowhere.invalid"],
            "startup: --help (no store)": ["--help"],
        }
        print(f"{'command':<44} {'first screen':>12} {'end':>8} {'cpu: first screen':>17} {'all':>7}")
        for name, command in cases.items():
            measure(_cli(config, *command), env)  # warm-up: bytecode cached, the file in the page cache
            runs = [measure(_cli(config, *command), env) for _ in range(args.repeat)]
            first, end, first_cpu, cpu = (statistics.median(r[i] for r in runs) for i in range(4))
            print(f"{name:<44} {first:>10.2f} s {end:>6.2f} s {first_cpu:>15.2f} s {cpu:>5.2f} s")
        load = os.getloadavg()
        print(f"(median of {args.repeat} runs; load average {load[0]:.2f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
