"""Campaign benchmarks (issue 12).

    python bench/campaign/bench_campaign.py                         # 100,000 people, 10,000 emails
    python bench/campaign/bench_campaign.py --people 10000 --emails 1000   # a quick run
    python bench/campaign/bench_campaign.py --only build            # or --only email

**Build.** A campaign over the whole org (scope: every live grant), started by the real use case
(``accessctl.reviews.campaigns.start_campaign``: grants read with their accounts, entitlements and
people, a reviewer resolved and recommendations made for every item, the items, assignments and
audit event written) in a process of its own, so its wall time and peak RSS (VmHWM) are its own.
Its transaction is rolled back at the end, so the same store serves the next run.  Targets: 100,000
people (about 1M items) under 30 s and under 1 GB.

The store is not made by emulators and a sync (a 100k-person sync takes many minutes): it is written
straight into a fresh, migrated SQLite store with the store's own bulk upsert
(``accessctl.store.upsert.bulk_upsert``), seeded so every run builds the same org: a management
tree of about eight reports per manager in 40 departments, one Okta, Entra and Google account per
person (5% without MFA, 10% not signed in for 120 days), 0.5% shared and 0.5% orphan accounts,
600 entitlements (10% privileged) and ten grants per person, mostly their department's.  It is kept in
``--workdir`` (``store-<people>.db``) and reused.

**Email.** ``--emails`` reviewers' invitations sent by the real ``send_invitations`` (per batch of
100: their items read and link tokens committed in one transaction; each message's Jinja2 templates
rendered, its multipart message written and sent over the one SMTP connection; the batch's
``email_send`` rows, assignment marks and audit events committed in one transaction) to a local
aiosmtpd server running in this process, the sending in a process of its own.  Target: over 300
messages per second.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

NOW = datetime(2027, 1, 4, 9, tzinfo=UTC)
DEPARTMENTS = 40
REPORTS = 8
ENTITLEMENTS_PER_PROVIDER = 200
GRANTS_PER_PERSON = 10
PROVIDERS = ("okta", "entra", "google")

BUILD_CHILD = """
import json, os, sys, time
from datetime import datetime
started_child = time.perf_counter()
from accessctl.reviews.campaigns import start_campaign
from accessctl.settings import CampaignSettings
from accessctl.store.engine import make_engine
engine = make_engine(sys.argv[1])
now = datetime.fromisoformat(sys.argv[2])
settings = CampaignSettings(name="bench", owner="owner@example.com")
profile = os.environ.get("BENCH_PROFILE")
if profile:
    import cProfile
    profiler = cProfile.Profile()
    profiler.enable()
with engine.connect() as conn:
    tx = conn.begin()
    started, cpu_started = time.perf_counter(), os.times()
    result = start_campaign(conn, settings, actor="bench", now=now)
    elapsed, cpu = time.perf_counter() - started, os.times()
    tx.rollback()
if profile:
    profiler.disable()
    profiler.dump_stats(profile)
print(json.dumps({
    "wall_s": elapsed,
    "cpu_s": (cpu.user - cpu_started.user) + (cpu.system - cpu_started.system),
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec
    "peak_rss_mb": int(next(l.split()[1] for l in open("/proc/self/status") if "VmHWM" in l)) / 1024,
    "items": result.count,
    "reviewers": len(result.reviewers),
    "flagged": result.flagged,
    "child_wall_s": time.perf_counter() - started_child,
}))
"""

EMAIL_CHILD = """
import json, os, sys, time
from datetime import datetime
from accessctl.notify.render import Templates
from accessctl.notify.smtp import SmtpMailer
from accessctl.reviews.mailing import Mailing, send_invitations
from accessctl.settings import SmtpSettings
from accessctl.store.engine import make_engine
engine = make_engine(sys.argv[1])
campaign_id, port, now = int(sys.argv[2]), int(sys.argv[3]), datetime.fromisoformat(sys.argv[4])
smtp = SmtpSettings(host="127.0.0.1", port=port, retry_delay_s=0, timeout_s=30)
with SmtpMailer(smtp) as mailer:
    mailing = Mailing(mailer.send, Templates(None), "https://access.example.com", "accessctl@example.com")
    profile = os.environ.get("BENCH_PROFILE")
    if profile:
        import cProfile
        profiler = cProfile.Profile()
        profiler.enable()
    started, cpu_started = time.perf_counter(), os.times()
    run = send_invitations(engine, campaign_id, mailing, now=now)
    elapsed, cpu = time.perf_counter() - started, os.times()
    if profile:
        profiler.disable()
        profiler.dump_stats(profile)
    connections = mailer.connections
print(json.dumps({
    "wall_s": elapsed,
    "cpu_s": (cpu.user - cpu_started.user) + (cpu.system - cpu_started.system),
    "sent": len(run.sent),
    "failed": len(run.failed),
    "connections": connections,
    "messages_per_s": len(run.sent) / elapsed if elapsed else 0.0,
    "peak_rss_mb": int(next(l.split()[1] for l in open("/proc/self/status") if "VmHWM" in l)) / 1024,
}))
"""


# --- the store -------------------------------------------------------------------------------------


def _tables() -> dict[str, sa.Table]:
    from accessctl.store.models import Account, Entitlement, Grant, Person

    return {
        "person": Person.__table__,  # type: ignore[attr-defined]
        "account": Account.__table__,  # type: ignore[attr-defined]
        "entitlement": Entitlement.__table__,  # type: ignore[attr-defined]
        "grant": Grant.__table__,  # type: ignore[attr-defined]
    }


def _chunks(rows: list[dict[str, Any]], size: int = 20_000) -> Any:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def build_store(path: Path, people: int) -> dict[str, int]:
    """A fresh migrated SQLite store at ``path`` with the org described in the module's docstring."""
    from accessctl.store.engine import make_engine
    from accessctl.store.migrate import upgrade
    from accessctl.store.upsert import bulk_upsert

    rng = random.Random(12)
    path.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    t = _tables()
    person_rows = []
    for i in range(1, people + 1):
        manager = (i - 2) // REPORTS + 1 if i > 1 else None  # a tree: person 1 at the top
        person_rows.append(
            {
                "id": i,
                "employee_id": f"E{i:06d}",
                "email": f"p{i}@example.com",
                "first_name": f"First{i}",
                "last_name": "Person",
                "department": f"Dept {i % DEPARTMENTS:02d}",
                "title": None,
                "manager_employee_id": f"E{manager:06d}" if manager else None,
                "employment_type": "employee",
                "status": "terminated" if rng.random() < 0.01 else "active",
                "updated_at": NOW - timedelta(days=30),
            }
        )
    entitlement_rows = []
    for p_index, provider in enumerate(PROVIDERS):
        for j in range(ENTITLEMENTS_PER_PROVIDER):
            eid = p_index * ENTITLEMENTS_PER_PROVIDER + j + 1
            entitlement_rows.append(
                {
                    "id": eid,
                    "provider": provider,
                    "kind": "role" if j < 10 else ("app" if j % 3 == 0 else "group"),
                    "external_id": f"{provider}-e{j}",
                    "name": f"{provider} entitlement {j}",
                    "privileged": j % 10 == 0,
                    "owner": f"p{rng.randint(1, people)}@example.com" if j % 4 == 0 else None,
                }
            )
    account_rows, grant_rows = [], []
    shared_or_orphan = max(1, people // 100)
    account_id = 0
    for i in range(1, people + shared_or_orphan + 1):
        person_id = i if i <= people else None
        shared = person_id is None and i % 2 == 0
        per_account = [4, 3, 3]
        for p_index, provider in enumerate(PROVIDERS):
            account_id += 1
            stale = rng.random() < 0.10
            account_rows.append(
                {
                    "id": account_id,
                    "provider": provider,
                    "external_id": f"{provider}-u{i}",
                    "login": f"p{i}@example.com" if person_id else f"svc{i}@example.com",
                    "email": f"p{i}@example.com" if person_id else None,
                    "aliases": [],
                    "display_name": f"Person {i}",
                    "status": "active",
                    "employee_id": f"E{i:06d}" if person_id and provider != "google" else None,
                    "manager_external_id": None,
                    "department": None,
                    "created_at": NOW - timedelta(days=800),
                    "last_login_at": NOW - timedelta(days=120 if stale else 2),
                    "mfa_state": "NOT_ENROLLED" if rng.random() < 0.05 else "ENROLLED",
                    "mfa_methods": [],
                    "person_id": person_id,
                    "is_shared": shared,
                    "is_service": False,
                    "protected": False,
                    "first_seen_at": NOW - timedelta(days=400),
                    "last_seen_at": NOW - timedelta(hours=1),
                }
            )
            base = p_index * ENTITLEMENTS_PER_PROVIDER
            # most of what people hold, their department holds too (its groups and apps); the rest
            # is scattered (and shows up as "held by few peers")
            department = i % DEPARTMENTS
            common = [11 + (department * 4 + k) % (ENTITLEMENTS_PER_PROVIDER - 11) for k in range(4)]
            held = set(rng.sample(common, per_account[p_index] - 1))
            while len(held) < per_account[p_index]:
                held.add(rng.randint(1, ENTITLEMENTS_PER_PROVIDER))
            for entitlement in sorted(held):
                grant_rows.append(
                    {
                        "account_id": account_id,
                        "entitlement_id": base + entitlement,
                        "inherited": False,
                        "via": None,
                        "first_seen_at": NOW - timedelta(days=rng.randint(1, 400)),
                        "last_seen_at": NOW - timedelta(hours=1),
                    }
                )
    with engine.begin() as conn:
        for rows in _chunks(person_rows):
            bulk_upsert(conn, t["person"], rows, key=["employee_id"])
        bulk_upsert(conn, t["entitlement"], entitlement_rows, key=["provider", "kind", "external_id"])
        for rows in _chunks(account_rows):
            bulk_upsert(conn, t["account"], rows, key=["provider", "external_id"])
        for rows in _chunks(grant_rows):
            bulk_upsert(conn, t["grant"], rows, key=["account_id", "entitlement_id"])
    engine.dispose()
    return {"people": people, "accounts": len(account_rows), "grants": len(grant_rows)}


def store_for(workdir: Path, people: int) -> tuple[Path, dict[str, Any]]:
    path = workdir / f"store-{people}.db"
    info_path = path.with_suffix(".json")
    if path.exists() and info_path.exists():
        return path, {**json.loads(info_path.read_text()), "reused": True}
    started = time.perf_counter()
    info = build_store(path, people)
    info["generated_s"] = round(time.perf_counter() - started, 1)
    info_path.write_text(json.dumps(info))
    return path, {**info, "reused": False}


# --- the measurements ------------------------------------------------------------------------------


def _child(code: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the measured process failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_build(workdir: Path, people: int, profile: Path | None) -> dict[str, Any]:
    path, store = store_for(workdir, people)
    env = {"BENCH_PROFILE": str(profile)} if profile else None
    result = _child(BUILD_CHILD, f"sqlite:///{path}", NOW.isoformat(), env=env)
    result["store"] = store
    result["target"] = "under 30 s and under 1 GB at 100,000 people"
    return result


def bench_email(workdir: Path, emails: int, profile: Path | None = None) -> dict[str, Any]:
    """A store of ``emails`` managers with one report each (one reviewer each), a campaign started
    (not timed), then every invitation sent from a process of its own."""
    from accessctl.reviews.campaigns import start_campaign
    from accessctl.settings import CampaignSettings
    from accessctl.store.engine import make_engine
    from accessctl.store.migrate import upgrade
    from accessctl.store.upsert import bulk_upsert
    from tests.reviews.smtp_server import free_port

    path = workdir / f"email-{emails}.db"
    path.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    t = _tables()
    people, accounts, grants = [], [], []
    for i in range(1, 2 * emails + 1):
        manager = None if i <= emails else i - emails
        people.append(
            {
                "id": i,
                "employee_id": f"E{i}",
                "email": f"p{i}@example.com",
                "first_name": f"First{i}",
                "last_name": "Person",
                "department": "Eng",
                "manager_employee_id": f"E{manager}" if manager else None,
                "employment_type": "employee",
                "status": "active",
                "updated_at": NOW,
            }
        )
        if manager:
            accounts.append(
                {
                    "id": i,
                    "provider": "okta",
                    "external_id": f"u{i}",
                    "login": f"p{i}@example.com",
                    "aliases": [],
                    "display_name": "",
                    "status": "active",
                    "mfa_state": "ENROLLED",
                    "mfa_methods": [],
                    "person_id": i,
                    "is_shared": False,
                    "is_service": False,
                    "protected": False,
                    "last_login_at": NOW,
                }
            )
            for entitlement in (1, 2, 3):
                grants.append({"account_id": i, "entitlement_id": entitlement, "inherited": False})
    with engine.begin() as conn:
        bulk_upsert(conn, t["person"], people, key=["employee_id"])
        bulk_upsert(
            conn,
            t["entitlement"],
            [
                {
                    "id": n,
                    "provider": "okta",
                    "kind": "group",
                    "external_id": f"g{n}",
                    "name": f"Group {n}",
                    "privileged": n == 1,
                }
                for n in (1, 2, 3)
            ],
            key=["provider", "kind", "external_id"],
        )
        bulk_upsert(conn, t["account"], accounts, key=["provider", "external_id"])
        bulk_upsert(conn, t["grant"], grants, key=["account_id", "entitlement_id"])
        campaign_id = start_campaign(
            conn, CampaignSettings(name="mail", owner="owner@example.com"), actor="bench", now=NOW
        ).campaign_id
    engine.dispose()
    assert campaign_id is not None
    from aiosmtpd.controller import Controller

    handler, port = _CountingHandler(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    try:
        env = {"BENCH_PROFILE": str(profile)} if profile else None
        result = _child(
            EMAIL_CHILD, f"sqlite:///{path}", str(campaign_id), str(port), NOW.isoformat(), env=env
        )
        result["received"] = handler.received
    finally:
        controller.stop()
    result["target"] = "over 300 messages per second"
    path.unlink(missing_ok=True)
    return result


class _CountingHandler:
    """The SMTP server's side: accepts every message and counts it (parsing 10,000 messages here
    would measure this process, which shares the machine's two cores with the sender)."""

    def __init__(self) -> None:
        self.received = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received += 1
        return "250 Message accepted"


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=100_000, help="the org's size for the build")
    parser.add_argument("--emails", type=int, default=10_000, help="how many reviewer emails to send")
    parser.add_argument("--only", choices=("build", "email"), help="one of the two benchmarks")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/accessctl-bench-campaign"))
    parser.add_argument(
        "--profile", type=Path, help="write a cProfile of the build here (and of the sending: *.email.prof)"
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"machine": machine()}
    if args.only in (None, "build"):
        out["build"] = bench_build(args.workdir, args.people, args.profile)
        print(json.dumps({"build": out["build"]}), flush=True)
    if args.only in (None, "email"):
        email_profile = args.profile.with_suffix(".email.prof") if args.profile else None
        out["email"] = bench_email(args.workdir, args.emails, email_profile)
        print(json.dumps({"email": out["email"]}), flush=True)
    out["machine"]["load_average_at_end"] = os.getloadavg()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
