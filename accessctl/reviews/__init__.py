"""Review campaigns: schedules, scope, reviewers, recommendations, decisions and the emails about them.

The entry points (CLI today, the reviewer pages and remediation later) call the use-case functions in
:mod:`accessctl.reviews.campaigns` (start, list, show, close preview), :mod:`accessctl.reviews.decide`
(decide, reassign), :mod:`accessctl.reviews.tokens` (reviewer links) and
:mod:`accessctl.reviews.mailing` (invitations, reminders, escalations, the owner's summary).
"""
