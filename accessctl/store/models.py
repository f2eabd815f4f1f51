"""The store's tables (SQLModel).  The Alembic migrations under ``migrations/`` create exactly these.

Access is ended, never deleted: accounts, entitlements and grants carry ``ended_at`` /
``ended_reason``; the audit log is the history.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# the value types' enums are the connectors'; the store speaks the same words
from connectors.base import AccountStatus, EntitlementKind, MfaState  # noqa: F401 - re-exported


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(nullable: bool = True, index: bool = False) -> Any:
    return Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=nullable, index=index)
    )


def _now() -> Any:
    """A timestamp column that defaults to the time the row is made."""
    return Field(default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


def _json(default: Any) -> Any:
    # the Core-level default serves bulk inserts that leave the column out
    return Field(
        default_factory=default, sa_column=sa.Column(sa.JSON, nullable=False, default=lambda: default())
    )


class Provider(StrEnum):
    OKTA = "okta"
    ENTRA = "entra"
    GOOGLE = "google"


class Person(SQLModel, table=True):
    """An HR identity: who works (or worked) here."""

    id: int | None = Field(default=None, primary_key=True)
    employee_id: str = Field(max_length=128, unique=True, index=True)
    email: str = Field(max_length=320, index=True)
    first_name: str = Field(default="", max_length=200)
    last_name: str = Field(default="", max_length=200)
    department: str | None = Field(default=None, max_length=200)
    title: str | None = Field(default=None, max_length=200)
    manager_employee_id: str | None = Field(default=None, max_length=128, index=True)
    employment_type: str = Field(default="employee", max_length=32)
    status: str = Field(default="active", max_length=32, index=True)
    hire_date: date | None = None
    termination_date: date | None = None
    location: str | None = Field(default=None, max_length=200)
    updated_at: datetime = _now()


class Account(SQLModel, table=True):
    """One account in one provider, with its MFA state and its link to a person."""

    __table_args__ = (sa.UniqueConstraint("provider", "external_id", name="uq_account_provider_external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=16, index=True)
    external_id: str = Field(max_length=255)
    login: str = Field(max_length=320, index=True)
    email: str | None = Field(default=None, max_length=320, index=True)
    aliases: list[str] = _json(list)
    display_name: str = Field(default="", max_length=400)
    status: str = Field(default=AccountStatus.ACTIVE, max_length=16, index=True)
    employee_id: str | None = Field(default=None, max_length=128, index=True)
    manager_external_id: str | None = Field(default=None, max_length=255)
    department: str | None = Field(default=None, max_length=200)
    title: str | None = Field(default=None, max_length=200)
    created_at: datetime | None = _ts()
    last_login_at: datetime | None = _ts()
    mfa_state: str = Field(default=MfaState.UNKNOWN, max_length=16, index=True)
    mfa_methods: list[str] = _json(list)
    mfa_checked_at: datetime | None = _ts()
    #: whether the provider requires MFA of this account (Google's 2SV enforcement); None where the
    #: provider does not say per account, or the MFA lookup failed
    mfa_enforced: bool | None = None
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    #: how the person link was made (employee_id, email, alias), or "conflict" when candidates disagree
    link_method: str | None = Field(default=None, max_length=16, index=True)
    link_note: str | None = Field(default=None, max_length=1000)
    is_shared: bool = False
    is_service: bool = False
    protected: bool = False
    first_seen_at: datetime | None = _ts()
    last_seen_at: datetime | None = _ts()
    ended_at: datetime | None = _ts()
    ended_reason: str | None = Field(default=None, max_length=400)


class Entitlement(SQLModel, table=True):
    """Something an account can hold: a group, an app assignment or an admin role."""

    __table_args__ = (
        sa.UniqueConstraint(
            "provider", "kind", "external_id", name="uq_entitlement_provider_kind_external_id"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=16, index=True)
    kind: str = Field(max_length=16)
    external_id: str = Field(max_length=255)
    name: str = Field(max_length=400)
    description: str | None = Field(default=None, max_length=2000)
    privileged: bool = Field(default=False, index=True)
    owner: str | None = Field(default=None, max_length=320)
    #: the groups it is held through directly (nested in it, assigned to it), as its last complete
    #: listing reported them; None until one did (then its inherited grants are re-listed, not derived)
    held_through: list[str] | None = Field(
        default=None, sa_column=sa.Column(sa.JSON(none_as_null=True), nullable=True)
    )
    first_seen_at: datetime | None = _ts()
    last_seen_at: datetime | None = _ts()
    ended_at: datetime | None = _ts()
    ended_reason: str | None = Field(default=None, max_length=400)


class Grant(SQLModel, table=True):
    """An account holding an entitlement, directly or inherited (nested group, group-assigned app)."""

    __tablename__ = "access_grant"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "entitlement_id", name="uq_grant_account_entitlement"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # the unique (account_id, entitlement_id) index serves lookups by account; most grants are
    # live, so an index on ended_at would only mislead SQLite's planner into scanning them all
    account_id: int = Field(foreign_key="account.id")
    entitlement_id: int = Field(foreign_key="entitlement.id", index=True)
    inherited: bool = False
    via: str | None = Field(default=None, max_length=255)
    #: what the account holds it over, where the provider binds it to part of the org: the resource
    #: sets of an Okta custom admin role (GrantRecord.scope of each assignment); None: the whole org
    scopes: list[str] | None = Field(
        default=None, sa_column=sa.Column(sa.JSON(none_as_null=True), nullable=True)
    )
    first_seen_at: datetime | None = _ts()
    last_seen_at: datetime | None = _ts()
    ended_at: datetime | None = _ts()
    ended_by: str | None = Field(default=None, max_length=320)
    ended_reason: str | None = Field(default=None, max_length=400)


class SyncRun(SQLModel, table=True):
    """One sync pass of one provider: what it saw, what it changed, and whether it was complete."""

    __tablename__ = "sync_run"

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=16, index=True)
    mode: str = Field(default="full", max_length=16)  # full | incremental
    started_at: datetime = _now()
    finished_at: datetime | None = _ts()
    complete: bool = False
    incomplete_reason: str | None = Field(default=None, max_length=2000)
    added: int = 0
    changed: int = 0
    ended: int = 0
    requests: int = 0
    throttled: int = 0
    cursor: dict[str, Any] = _json(dict)


class SyncCheckpoint(SQLModel, table=True):
    """Where an interrupted listing resumes: one cursor per provider stream."""

    __tablename__ = "sync_checkpoint"
    __table_args__ = (sa.UniqueConstraint("provider", "stream", name="uq_checkpoint_provider_stream"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=16)
    stream: str = Field(max_length=200)
    cursor: dict[str, Any] = _json(dict)
    updated_at: datetime = _now()


class StoreLockRow(SQLModel, table=True):
    """A named lock in the store (``accessctl.store.locks``): one sync per provider, later job workers.

    On SQLite the row is the lock: its holder renews ``expires_at`` while it runs, and a row whose
    lease expired or whose holder's process is gone (same host) can be taken over.  On PostgreSQL a
    session-level advisory lock is the lock and the row only says who holds it.
    """

    __tablename__ = "store_lock"

    name: str = Field(primary_key=True, max_length=200)
    holder_pid: int
    holder_host: str = Field(max_length=255)
    #: tells this holder from a later one with the same pid and host
    token: str = Field(max_length=64)
    acquired_at: datetime = _now()
    heartbeat_at: datetime = _now()
    expires_at: datetime = _now()


class HrEvent(SQLModel, table=True):
    """An event from an HR system (termination, move, rehire), stored before it is acted on.

    Deduplicated on (source, source_event_id) and on (source, webhook_id); rows are never deleted, so
    the keys outlive any sender's retry window.  ``status``: received, matched, unmatched, scheduled,
    applied, cancelled, superseded (``accessctl.hr.store``)."""

    __tablename__ = "hr_event"
    __table_args__ = (
        sa.UniqueConstraint("source", "source_event_id", name="uq_hr_event_source_id"),
        sa.UniqueConstraint("source", "webhook_id", name="uq_hr_event_source_webhook_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=100)
    source_event_id: str = Field(max_length=255)
    webhook_id: str | None = Field(default=None, max_length=255)
    event_type: str = Field(max_length=50)
    employee_id: str | None = Field(default=None, max_length=128, index=True)
    email: str | None = Field(default=None, max_length=320)
    manager_employee_id: str | None = Field(default=None, max_length=128)
    department: str | None = Field(default=None, max_length=200)
    title: str | None = Field(default=None, max_length=200)
    occurred_at: datetime | None = _ts()
    effective_at: datetime | None = _ts()
    effective_date: date | None = None
    timezone: str | None = Field(default=None, max_length=64)
    immediate: bool = False
    payload_digest: str = Field(max_length=64)
    received_at: datetime = _now()
    status: str = Field(default="received", max_length=32, index=True)
    #: why the status is what it is (superseded by which event, awaiting an admin, ...)
    note: str | None = Field(default=None, max_length=1000)
    #: a restore that waits for an admin (hr.rehire = "review")
    needs_admin: bool = Field(default=False, index=True)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    #: the job this event started (job.hr_event_id points back)
    job_id: int | None = None
    updated_at: datetime = _now()


class HrSchedule(SQLModel, table=True):
    """A future-dated termination: the leaver that fires at ``fire_at`` if HR still says so then."""

    __tablename__ = "hr_schedule"

    id: int | None = Field(default=None, primary_key=True)
    hr_event_id: int = Field(foreign_key="hr_event.id", unique=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    fire_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, index=True))
    #: the effective time as HR gave it (a date and time zone, or an instant)
    effective_local: str = Field(max_length=120)
    state: str = Field(default="scheduled", max_length=32, index=True)  # scheduled|fired|cancelled|superseded
    closed_reason: str | None = Field(default=None, max_length=1000)
    job_id: int | None = None
    created_at: datetime = _now()
    updated_at: datetime = _now()


class ScimUser(SQLModel, table=True):
    """A SCIM 2.0 User an HR system provisioned (``accessctl.hr.scim``): the resource as it was sent
    (never a password), linked to the person its events are about.  A DELETE terminates the person
    and marks the row deleted (``deleted_at``); nothing is purged."""

    __tablename__ = "scim_user"

    id: str = Field(primary_key=True, max_length=36)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    #: the HR key its events carry (enterprise employeeNumber), fixed at creation
    employee_id: str = Field(max_length=128, index=True)
    user_name: str = Field(max_length=320)
    #: userName as compared (case-folded), while the User is live; NULL once deleted, so the name
    #: can be provisioned again
    live_user_name: str | None = Field(default=None, max_length=320, unique=True, index=True)
    external_id: str | None = Field(default=None, max_length=255, index=True)
    resource: dict[str, Any] = _json(dict)
    version: int = 1
    created_at: datetime = _now()
    updated_at: datetime = _now()
    deleted_at: datetime | None = _ts()


class PersonMove(SQLModel, table=True):
    """A mover: a person's new manager or department, as HR reported it (``source`` hr: a
    ``person.moved`` event) or as the reviews saw it change in the store after a roster import or a
    sync (``source`` sync: no HR event).  Each is reviewed by the new manager in a one-person
    campaign of the person's privileged access (``accessctl.reviews.movers``)."""

    __tablename__ = "person_move"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    hr_event_id: int | None = Field(default=None, foreign_key="hr_event.id", unique=True)
    source: str = Field(default="hr", sa_column=sa.Column(sa.String(16), nullable=False, server_default="hr"))
    old_manager_employee_id: str | None = Field(default=None, max_length=128)
    new_manager_employee_id: str | None = Field(default=None, max_length=128)
    old_department: str | None = Field(default=None, max_length=200)
    new_department: str | None = Field(default=None, max_length=200)
    moved_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    recorded_at: datetime = _now()
    #: set when a review of their access was started for it (until then `accessctl hr movers` lists it)
    reviewed_at: datetime | None = _ts()
    #: the one-person campaign that reviews it (None: reviewed_at set with nothing to review)
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id")


class ManagerSeen(SQLModel, table=True):
    """Each person's manager as the reviews last saw it (HR roster first, else a provider's manager
    attribute): a change since is a mover (``accessctl.reviews.movers``)."""

    __tablename__ = "manager_seen"

    person_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("person.id"), primary_key=True, autoincrement=False)
    )
    #: the manager's email address (None: no manager known)
    manager_email: str | None = Field(default=None, max_length=320)
    seen_at: datetime = _now()


class Job(SQLModel, table=True):
    """A durable unit of work (a leaver, a lockout, a revocation), made of idempotent steps
    (``accessctl.jobs``).  ``state`` follows from its steps: pending, running, done, failed, or set by
    an operator: cancelled, quarantined."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=50)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    hr_event_id: int | None = Field(default=None, foreign_key="hr_event.id")
    reason: str = Field(default="", max_length=2000)
    requested_by: str = Field(max_length=320)
    state: str = Field(default="pending", max_length=32, index=True)
    dry_run: bool = False
    created_at: datetime = _now()
    updated_at: datetime = _now()
    finished_at: datetime | None = _ts()


class JobStep(SQLModel, table=True):
    """One idempotent action of a job against one provider, retried until done or given up.

    Steps of one job and provider run in ``seq`` order; providers run in parallel.  A worker holds a
    running step by its lease (``lease_owner`` until ``lease_expires_at``); an expired lease is a
    crashed worker's, and the step runs again.
    """

    __tablename__ = "job_step"
    __table_args__ = (
        sa.UniqueConstraint("job_id", "provider", "seq", name="uq_job_step_provider_seq"),
        # the claim's scan: open steps in due order, stopping at the first runnable one
        sa.Index(
            "ix_job_step_runnable",
            "next_attempt_at",
            "id",
            postgresql_where=sa.text("state IN ('pending', 'running')"),
            sqlite_where=sa.text("state IN ('pending', 'running')"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="job.id", index=True)
    provider: str = Field(max_length=16)
    seq: int
    action: str = Field(max_length=50)
    target: dict[str, Any] = _json(dict)
    expected_effect: str = Field(default="", max_length=1000)
    state: str = Field(default="pending", max_length=32)
    attempts: int = 0
    max_attempts: int = 5
    next_attempt_at: datetime = _now()
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_expires_at: datetime | None = _ts()
    last_answer: str | None = Field(default=None, max_length=2000)
    result: str | None = Field(default=None, max_length=200)
    started_at: datetime | None = _ts()
    finished_at: datetime | None = _ts()
    updated_at: datetime = _now()


class LifecycleSnapshot(SQLModel, table=True):
    """What a person held before a leaver job changed it (``accessctl.lifecycle``): each account's
    status and direct grants, as the providers showed them when the plan was made.  Restore re-enables
    and re-adds from it, and records who approved that."""

    __tablename__ = "lifecycle_snapshot"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    job_id: int | None = Field(default=None, foreign_key="job.id", index=True)
    taken_at: datetime = _now()
    taken_by: str = Field(max_length=320)
    #: [{"provider", "account_id", "login", "status", "grants": [{"kind", "entitlement_id", "name"}]}]
    accounts: list[dict[str, Any]] = _json(list)
    restored_at: datetime | None = _ts()
    restored_by: str | None = Field(default=None, max_length=320)
    restore_job_id: int | None = Field(default=None, foreign_key="job.id")


class Campaign(SQLModel, table=True):
    """A least-privilege review campaign: its settings as started, its items and reviewers."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, index=True)
    status: str = Field(default="open", max_length=32, index=True)  # open | closed
    #: the campaign's settings as they were when it started (scope, policies, owner, fallback)
    config: dict[str, Any] = _json(dict)
    owner: str = Field(max_length=320)
    created_by: str = Field(max_length=320)
    started_at: datetime = _now()
    due_at: datetime = _now()
    closed_at: datetime | None = _ts()
    #: the campaign of the same name whose decisions a ``delta_only`` campaign builds on
    baseline_campaign_id: int | None = Field(default=None, foreign_key="campaign.id")


class ReviewItem(SQLModel, table=True):
    """One grant, as it was when the campaign started, that one reviewer must keep or revoke."""

    __tablename__ = "review_item"
    __table_args__ = (sa.UniqueConstraint("campaign_id", "grant_id", name="uq_review_item_campaign_grant"),)

    id: int | None = Field(default=None, primary_key=True)
    # the unique (campaign_id, grant_id) index serves lookups by campaign: no index of its own
    campaign_id: int = Field(foreign_key="campaign.id")
    grant_id: int = Field(foreign_key="access_grant.id")
    account_id: int = Field(foreign_key="account.id")
    entitlement_id: int = Field(foreign_key="entitlement.id")
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    #: the grant, account, entitlement and person as the campaign saw them
    snapshot: dict[str, Any] = _json(dict)
    reviewer_email: str = Field(max_length=320, index=True)
    reviewer_person_id: int | None = Field(default=None, foreign_key="person.id")
    #: why this reviewer (manager, manager's manager, entitlement owner, fallback, reassigned)
    reviewer_reason: str = Field(default="", max_length=200)
    #: [{"code": ..., "reason": ...}] shown with the item
    recommendations: list[dict[str, Any]] = _json(list)
    flagged: bool = Field(default=False)
    privileged: bool = Field(default=False)
    status: str = Field(default="open", max_length=32, index=True)  # open | decided
    decision: str | None = Field(default=None, max_length=16)  # keep | revoke
    justification: str | None = Field(default=None, max_length=2000)
    decided_by: str | None = Field(default=None, max_length=320)
    decided_at: datetime | None = _ts()
    #: how it was decided: reviewer, or the undecided policy at close
    decided_via: str | None = Field(default=None, max_length=32)
    reassigned_from: str | None = Field(default=None, max_length=320)
    reassigned_at: datetime | None = _ts()
    #: the remediation job a revoke became (set at close)
    job_id: int | None = Field(default=None, foreign_key="job.id")


class ReviewerAssignment(SQLModel, table=True):
    """One reviewer of one campaign: their link's token (hashed) and what they were sent."""

    __tablename__ = "reviewer_assignment"
    __table_args__ = (
        sa.UniqueConstraint("campaign_id", "reviewer_email", name="uq_reviewer_campaign_email"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    reviewer_email: str = Field(max_length=320)
    reviewer_person_id: int | None = Field(default=None, foreign_key="person.id")
    reviewer_name: str = Field(default="", max_length=400)
    #: SHA-256 of the link's token; the token itself is only ever in the email
    token_hash: str | None = Field(default=None, max_length=64, unique=True)
    token_expires_at: datetime | None = _ts()
    token_revoked_at: datetime | None = _ts()
    invited_at: datetime | None = _ts()
    last_reminded_at: datetime | None = _ts()
    escalated_at: datetime | None = _ts()


class EmailSend(SQLModel, table=True):
    """One email of a campaign (invitation, reminder, escalation, summary) and how sending it went."""

    __tablename__ = "email_send"

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    assignment_id: int | None = Field(default=None, foreign_key="reviewer_assignment.id")
    kind: str = Field(max_length=32)  # invitation | reminder | escalation | summary
    recipient: str = Field(max_length=320)
    subject: str = Field(max_length=400)
    status: str = Field(max_length=16)  # sent | failed
    attempts: int = 0
    error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = _now()


class AuditEvent(SQLModel, table=True):
    """One link of the append-only, hash-chained audit log (see ``accessctl.audit``)."""

    __tablename__ = "audit_event"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    occurred_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, index=True))
    actor: str = Field(max_length=320)
    action: str = Field(max_length=100, index=True)
    target_type: str | None = Field(default=None, max_length=50)
    target_id: str | None = Field(default=None, max_length=400)
    provider: str | None = Field(default=None, max_length=16)
    outcome: str = Field(default="success", max_length=32)
    details: dict[str, Any] = _json(dict)
    prev_hash: str = Field(max_length=64, unique=True)
    hash: str = Field(max_length=64, unique=True)


class AuditHead(SQLModel, table=True):
    """The chain's head (one row): the lock appenders take, and the anchor that catches a cut tail."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    last_seq: int = 0
    last_hash: str = Field(max_length=64)


class ApiToken(SQLModel, table=True):
    """A bearer token of the service's API (``accessctl.tokens``): only its secret's SHA-256 is kept;
    the token itself is shown once, when made."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    #: the token's public part (``actk_<key_id>_<secret>``): how a presented token finds its row
    key_id: str = Field(max_length=32, unique=True)
    secret_sha256: str = Field(max_length=64)
    scope: str = Field(max_length=16)
    created_by: str = Field(max_length=320)
    created_at: datetime = _now()
    last_used_at: datetime | None = _ts()
    revoked_at: datetime | None = _ts()
    revoked_by: str | None = Field(default=None, max_length=320)
