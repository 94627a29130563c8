"""Roles and what they may do (no database needed: the CLI imports this cheaply)."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    ADMIN = "admin"
    CURATOR = "curator"
    MATCHER = "matcher"
    REVIEWER = "reviewer"


class Permission(enum.StrEnum):
    READ_BANKS = "read_banks"
    WRITE_BANKS = "write_banks"
    MATCH = "match"
    MANAGE_KEYS = "manage_keys"
    REVIEW = "review"
    STREAMS = "streams"  # start and stop live streams, push frames and hashes
    ALERTS = "alerts"  # read and acknowledge alerts, follow the feed, dead-lettered webhooks


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.CURATOR: frozenset({Permission.READ_BANKS, Permission.WRITE_BANKS, Permission.MATCH}),
    Role.MATCHER: frozenset(
        {Permission.MATCH, Permission.READ_BANKS, Permission.STREAMS, Permission.ALERTS}
    ),
    Role.REVIEWER: frozenset({Permission.READ_BANKS, Permission.REVIEW, Permission.ALERTS}),
}


def has_permission(role: Role | str, permission: Permission) -> bool:
    try:
        return permission in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False
