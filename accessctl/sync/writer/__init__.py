"""Writing what a sync saw into the store: bulk upserts per page, MFA updates, sweeps.

Every function takes a connection inside the caller's transaction.  Rows seen by a run get
``last_seen_at = run.started_at`` (a resumed run keeps its start), so the sweep of a complete full
run ends exactly what that run did not see.

One module a kind of write: :mod:`.accounts` (accounts, managers, MFA), :mod:`.entitlements`,
:mod:`.grants`, :mod:`.held_through` (the groups each entitlement is held through), :mod:`.ending`
(sweeps and other ends), :mod:`.audit_ended` (their audit) and :mod:`.counts`; all are re-exported
here, as ``writer.X``.
"""

from accessctl.sync.writer.accounts import (
    account_id_map,
    mark_unreported_mfa_unknown,
    resolve_managers,
    write_accounts,
    write_mfa,
)
from accessctl.sync.writer.audit_ended import AUDIT_CHUNK, audit_ended
from accessctl.sync.writer.common import ACCOUNTS, ENTITLEMENTS, GRANTS, naive_utc
from accessctl.sync.writer.counts import Counts, count_added_since
from accessctl.sync.writer.ending import Ended, end_accounts, end_grants, end_unseen_grants, sweep
from accessctl.sync.writer.entitlements import entitlement_id_map, is_privileged, write_entitlements
from accessctl.sync.writer.grants import GrantBatch, grant_row, resolve_grants, write_grants
from accessctl.sync.writer.held_through import HeldEntitlement, live_entitlements, record_held_through

__all__ = [
    "ACCOUNTS",
    "AUDIT_CHUNK",
    "ENTITLEMENTS",
    "GRANTS",
    "Counts",
    "Ended",
    "GrantBatch",
    "HeldEntitlement",
    "account_id_map",
    "audit_ended",
    "count_added_since",
    "end_accounts",
    "end_grants",
    "end_unseen_grants",
    "entitlement_id_map",
    "grant_row",
    "is_privileged",
    "live_entitlements",
    "mark_unreported_mfa_unknown",
    "naive_utc",
    "record_held_through",
    "resolve_grants",
    "resolve_managers",
    "sweep",
    "write_accounts",
    "write_entitlements",
    "write_grants",
    "write_mfa",
]
