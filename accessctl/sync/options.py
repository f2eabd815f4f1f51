"""What a sync run is asked to do: the options every provider's pass reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from accessctl.store.locks import DEFAULT_LEASE
from accessctl.sync.patterns import PatternSet
from accessctl.sync.retry import RetryPolicy


@dataclass(frozen=True)
class SyncOptions:
    full: bool = False
    max_concurrency: int = 8
    #: per-provider concurrency, overriding max_concurrency
    concurrency: dict[str, int] = field(default_factory=dict)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    privileged_groups: PatternSet = field(default_factory=lambda: PatternSet([]))
    privileged_apps: PatternSet = field(default_factory=lambda: PatternSet([]))
    #: per-account lookups (Okta factors, roles) refreshed per incremental pass beyond the changed ones
    stale_details_per_run: int = 200
    #: an interrupted full pass younger than this resumes; an older one starts over
    resume_within: timedelta = timedelta(hours=24)
    #: an incremental request becomes a full pass when the last complete full pass of the provider
    #: finished longer ago than this (None: only when asked for, or when there is no change cursor)
    full_pass_every: timedelta | None = None
    actor: str = "sync"
    #: how long a provider's pass waits for another sync of that provider to end (None: it does not
    #: wait; the provider is skipped as busy)
    lock_wait_s: float | None = None
    #: how long a sync's claim on its provider's lock lasts without a heartbeat (SQLite)
    lock_lease: timedelta = DEFAULT_LEASE
