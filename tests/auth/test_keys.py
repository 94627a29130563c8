"""API keys: create, verify, revoke, roles and permissions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from vangnet.auth import keys
from vangnet.auth.keys import Permission, Role, has_permission
from vangnet.errors import ConflictError, NotFoundError, ValidationError
from vangnet.store.models import ApiKey


def test_create_and_verify(db_session: Session) -> None:
    view, secret = keys.create_key(db_session, name="ci", role="matcher")
    db_session.commit()
    assert secret.startswith("vn_") and len(secret) == 3 + 43
    assert view.prefix == secret[:8] and view.role is Role.MATCHER
    stored = db_session.scalars(select(ApiKey)).one()
    assert secret not in (stored.key_hash, stored.prefix, stored.name)
    assert stored.key_hash == keys.hash_secret(secret)
    found = keys.verify_key(db_session, secret)
    assert found is not None and found.id == view.id
    assert found.last_used_at is not None
    assert keys.verify_key(db_session, secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert keys.verify_key(db_session, "") is None
    assert keys.verify_key(db_session, "not-a-key") is None


def test_last_used_at_is_coarse(db_session: Session) -> None:
    _view, secret = keys.create_key(db_session, name="k", role=Role.ADMIN)
    first = keys.verify_key(db_session, secret)
    assert first is not None and first.last_used_at is not None
    again = keys.verify_key(db_session, secret)
    assert again is not None and again.last_used_at == first.last_used_at
    row = db_session.scalars(select(ApiKey)).one()
    row.last_used_at = first.last_used_at - timedelta(minutes=2)
    later = keys.verify_key(db_session, secret)
    assert later is not None and later.last_used_at is not None
    assert later.last_used_at > first.last_used_at - timedelta(minutes=2)


def test_revoke_by_id_and_prefix(db_session: Session) -> None:
    a, secret_a = keys.create_key(db_session, name="a", role="curator")
    b, secret_b = keys.create_key(db_session, name="b", role="reviewer")
    db_session.commit()
    assert keys.revoke_key(db_session, a.id).revoked
    assert keys.revoke_key(db_session, b.prefix).revoked_at is not None
    assert keys.revoke_key(db_session, a.id).revoked  # harmless twice
    db_session.commit()
    assert keys.verify_key(db_session, secret_a) is None
    assert keys.verify_key(db_session, secret_b) is None
    assert [k.name for k in keys.list_keys(db_session)] == ["a", "b"]
    assert keys.list_keys(db_session, include_revoked=False) == []
    with pytest.raises(NotFoundError):
        keys.revoke_key(db_session, 9999)
    with pytest.raises(NotFoundError):
        keys.revoke_key(db_session, "vn_nope")


def test_ambiguous_prefix(db_session: Session) -> None:
    a, _ = keys.create_key(db_session, name="a", role="admin")
    b, _ = keys.create_key(db_session, name="b", role="admin")
    db_session.scalars(select(ApiKey).where(ApiKey.id == b.id)).one().prefix = a.prefix
    with pytest.raises(ConflictError):
        keys.revoke_key(db_session, a.prefix)


@pytest.mark.parametrize(("name", "role"), [("", "admin"), ("x" * 256, "admin"), ("k", "root")])
def test_bad_input(db_session: Session, name: str, role: str) -> None:
    with pytest.raises(ValidationError):
        keys.create_key(db_session, name=name, role=role)


GRANTS = {
    Role.ADMIN: set(Permission),
    Role.CURATOR: {Permission.READ_BANKS, Permission.WRITE_BANKS, Permission.MATCH},
    Role.MATCHER: {Permission.READ_BANKS, Permission.MATCH, Permission.STREAMS, Permission.ALERTS},
    Role.REVIEWER: {
        Permission.READ_BANKS,
        Permission.REVIEW,
        Permission.DECIDE,
        Permission.REPORT,
        Permission.ALERTS,
    },
    Role.ANALYST: {Permission.READ_BANKS, Permission.REVIEW, Permission.REPORT, Permission.ALERTS},
}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("permission", list(Permission))
def test_role_permissions(role: Role, permission: Permission) -> None:
    assert has_permission(role, permission) is (permission in GRANTS[role])
    assert has_permission(role.value, permission) is (permission in GRANTS[role])


def test_unknown_role_has_no_permission() -> None:
    assert not has_permission("root", Permission.MATCH)


def test_view_can(db_session: Session) -> None:
    view, _ = keys.create_key(db_session, name="m", role="matcher")
    assert view.can(Permission.MATCH) and not view.can(Permission.MANAGE_KEYS)
    assert not keys.revoke_key(db_session, view.id).can(Permission.MATCH)
