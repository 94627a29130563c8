"""Roles and what they may do (no database needed: the CLI imports this cheaply).

People sign in to the web UI as users (admin, curator, reviewer, analyst); machines use API
keys, which may hold any role, ``matcher`` (match and watch streams, nothing else) included.
"""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    ADMIN = "admin"
    CURATOR = "curator"
    MATCHER = "matcher"
    REVIEWER = "reviewer"
    ANALYST = "analyst"


USER_ROLES = (Role.ADMIN, Role.CURATOR, Role.REVIEWER, Role.ANALYST)


class Permission(enum.StrEnum):
    READ_BANKS = "read_banks"
    WRITE_BANKS = "write_banks"
    MATCH = "match"
    MANAGE_KEYS = "manage_keys"
    MANAGE_USERS = "manage_users"
    REVIEW = "review"  # open cases and their media, reveal previews
    DECIDE = "decide"  # confirm, false positive, escalate, second opinion
    REPORT = "report"  # build and export reports (NCMEC, VICS, HTML/PDF), submit to NCMEC
    AUDIT = "audit"  # read, verify and export the audit log
    STREAMS = "streams"  # start and stop live streams, push frames and hashes
    ALERTS = "alerts"  # read and acknowledge alerts, follow the feed, dead-lettered webhooks


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.CURATOR: frozenset({Permission.READ_BANKS, Permission.WRITE_BANKS, Permission.MATCH}),
    Role.MATCHER: frozenset(
        {Permission.MATCH, Permission.READ_BANKS, Permission.STREAMS, Permission.ALERTS}
    ),
    Role.REVIEWER: frozenset(
        {
            Permission.READ_BANKS,
            Permission.REVIEW,
            Permission.DECIDE,
            Permission.REPORT,
            Permission.ALERTS,
        }
    ),
    # Analysts investigate and report; they read cases but do not decide them.
    Role.ANALYST: frozenset(
        {Permission.READ_BANKS, Permission.REVIEW, Permission.REPORT, Permission.ALERTS}
    ),
}


def has_permission(role: Role | str, permission: Permission) -> bool:
    try:
        return permission in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False
