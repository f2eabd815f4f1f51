"""The evidence pack of a campaign, for an auditor: its scope and policy, every item with its reviewer,
decision, justification, who and when, its remediation job, outcome and verification time, the
coverage, the reviewers, and the audit chain's event at close (seq and hash, to check against
`accessctl audit verify`).  Rendered as JSON, CSV (one row per item) or printable HTML; the CLI
prints the SHA-256 of the bytes it wrote."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl.jobs.tables import STEPS
from accessctl.reviews.campaigns import ITEMS, get_campaign, reviewer_progress
from accessctl.store.models import AuditEvent
from accessctl.timestamps import utc

EVENTS: sa.Table = AuditEvent.__table__  # type: ignore[attr-defined]
FORMATS = ("json", "csv", "html")

ITEM_FIELDS = [
    "item",
    "person",
    "person_email",
    "provider",
    "login",
    "entitlement",
    "kind",
    "privileged",
    "flagged",
    "recommendations",
    "reviewer",
    "decision",
    "decided_via",
    "decided_by",
    "decided_at",
    "justification",
    "job",
    "outcome",
    "verified_at",
]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else utc(value).isoformat()


def build_pack(conn: Connection, campaign_id: int) -> dict[str, Any]:
    """Everything the pack says, as plain data."""
    c = get_campaign(conn, campaign_id)
    rows = conn.execute(sa.select(ITEMS).where(ITEMS.c.campaign_id == campaign_id).order_by(ITEMS.c.id)).all()
    jobs = [r.job_id for r in rows if r.job_id is not None]
    verified: dict[int, datetime] = {}
    if jobs:
        for job_id, finished in conn.execute(
            sa.select(STEPS.c.job_id, STEPS.c.finished_at).where(
                STEPS.c.job_id.in_(jobs), STEPS.c.action == "verify", STEPS.c.state == "done"
            )
        ):
            verified[job_id] = finished
    items = [
        {
            "item": r.id,
            "person": r.snapshot.get("person"),
            "person_email": r.snapshot.get("person_email"),
            "provider": r.snapshot.get("provider"),
            "login": r.snapshot.get("login"),
            "entitlement": r.snapshot.get("entitlement"),
            "kind": r.snapshot.get("kind"),
            "privileged": bool(r.privileged),
            "flagged": bool(r.flagged),
            "recommendations": "; ".join(rec["reason"] for rec in r.recommendations),
            "reviewer": r.reviewer_email,
            "decision": r.decision,
            "decided_via": r.decided_via,
            "decided_by": r.decided_by,
            "decided_at": _iso(r.decided_at),
            "justification": r.justification,
            "job": r.job_id,
            "outcome": r.status,
            "verified_at": _iso(verified.get(r.job_id)) if r.job_id else None,
        }
        for r in rows
    ]
    outcomes = Counter(i["outcome"] for i in items)
    progress = reviewer_progress(conn, campaign_id)
    closing = conn.execute(
        sa.select(EVENTS.c.seq, EVENTS.c.hash, EVENTS.c.occurred_at)
        .where(EVENTS.c.action == "campaign.close", EVENTS.c.target_id == str(campaign_id))
        .order_by(EVENTS.c.seq.desc())
        .limit(1)
    ).one_or_none()
    reviewer_decided = sum(1 for i in items if i["decision"] and i["decided_via"] != "policy")
    return {
        "campaign": {
            "id": c.id,
            "name": c.name,
            "status": c.status,
            "owner": c.owner,
            "started_at": _iso(c.started_at),
            "due_at": _iso(c.due_at),
            "closed_at": _iso(c.closed_at),
            "undecided_policy": c.config.get("undecided", "keep"),
            "scope": c.config.get("scope", {}),
        },
        "coverage": {
            "items": len(items),
            "decided_by_reviewers": reviewer_decided,
            "auto_decided": sum(1 for i in items if i["decided_via"] == "policy"),
            "undecided": sum(1 for i in items if i["decision"] is None),
            "revoked": outcomes["revoked, verified"],
            "kept": outcomes["kept"],
            "not_revoked": sum(n for o, n in outcomes.items() if o.startswith(("skipped", "failed", "not"))),
            "overdue_reviewers": sum(
                1 for p in progress if p.escalated_at is not None or (c.status == "open" and p.open)
            ),
        },
        "reviewers": [
            {
                "email": p.email,
                "name": p.name,
                "items": p.items,
                "decided": p.decided,
                "invited_at": _iso(p.invited_at),
                "escalated_at": _iso(p.escalated_at),
            }
            for p in progress
        ],
        "items": items,
        "audit_at_close": None
        if closing is None
        else {"seq": closing.seq, "hash": closing.hash, "at": _iso(closing.occurred_at)},
    }


def render(pack: dict[str, Any], fmt: str) -> bytes:
    if fmt == "json":
        return (json.dumps(pack, indent=2, sort_keys=True) + "\n").encode()
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=ITEM_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(pack["items"])
        return out.getvalue().encode()
    if fmt == "html":
        from jinja2 import Environment

        return Environment(autoescape=True).from_string(HTML).render(pack=pack).encode()
    raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Access review evidence: {{ pack.campaign.name }} ({{ pack.campaign.id }})</title>
<style>
body{font-family:system-ui,sans-serif;color:#111;margin:1.5rem}
table{border-collapse:collapse;width:100%;font-size:.8rem}
th,td{border:1px solid #999;padding:.2rem .35rem;text-align:left;vertical-align:top}
th{background:#eee}
@media print{body{margin:0}tr{page-break-inside:avoid}}
</style></head><body>
<h1>Access review evidence: {{ pack.campaign.name }}</h1>
{% set c = pack.campaign %}
<p>Campaign {{ c.id }}, {{ c.status }}; owner {{ c.owner }}; started {{ c.started_at }}, due {{ c.due_at }},
closed {{ c.closed_at or "not yet" }}; undecided items: {{ c.undecided_policy }}.</p>
<p>Scope: {{ c.scope | tojson }}</p>
{% if pack.audit_at_close %}<p>Audit chain at close: event {{ pack.audit_at_close.seq }},
hash <code>{{ pack.audit_at_close.hash }}</code>
(check with <code>accessctl audit verify</code>).</p>{% endif %}
<h2>Coverage</h2><table><tr>{% for k in pack.coverage %}<th>{{ k | replace("_", " ") }}</th>{% endfor %}</tr>
<tr>{% for v in pack.coverage.values() %}<td>{{ v }}</td>{% endfor %}</tr></table>
<h2>Reviewers</h2><table><tr><th>reviewer</th><th>name</th><th>items</th><th>decided</th><th>invited</th>
<th>escalated</th></tr>{% for r in pack.reviewers %}<tr><td>{{ r.email }}</td><td>{{ r.name }}</td>
<td>{{ r.items }}</td><td>{{ r.decided }}</td><td>{{ r.invited_at or "" }}</td>
<td>{{ r.escalated_at or "" }}</td>
</tr>{% endfor %}</table>
<h2>Items</h2><table><tr><th>item</th><th>person</th><th>account</th><th>entitlement</th><th>reviewer</th>
<th>decision</th><th>by, when</th><th>justification</th><th>job</th><th>outcome</th><th>verified</th></tr>
{% for i in pack["items"] %}<tr><td>{{ i.item }}</td><td>{{ i.person or "(no person)" }}</td>
<td>{{ i.provider }}: {{ i.login }}</td>
<td>{{ i.entitlement }}{% if i.privileged %} (privileged){% endif %}</td>
<td>{{ i.reviewer }}</td>
<td>{{ i.decision or "undecided" }}{% if i.decided_via == "policy" %} (policy){% endif %}</td>
<td>{{ i.decided_by or "" }} {{ i.decided_at or "" }}</td><td>{{ i.justification or "" }}</td>
<td>{{ i.job or "" }}</td>
<td>{{ i.outcome }}</td><td>{{ i.verified_at or "" }}</td></tr>{% endfor %}</table>
</body></html>
"""
