"""Passwords are stored as Argon2id with the library's defaults (RFC 9106's second
recommended option: 3 passes over 64 MiB, 4 lanes), through ``vangnet user create``; a hash
made with other parameters is replaced with one made with those at the next sign-in.

The rest of the suite hashes with cheaper parameters (tests/conftest.py,
`_cheap_password_hashing`); these tests put the production hasher back.
"""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cli_invoke import invoke
from conftest import PRODUCTION_HASHER, audited
from vangnet.auth import users
from vangnet.cli import app
from vangnet.config import reset_settings
from vangnet.store.db import make_engine, writer
from vangnet.store.models import User

PASSWORD = "a long enough passphrase"
PRODUCTION_PREFIX = "$argon2id$v=19$m=65536,t=3,p=4$"


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> PasswordHasher:
    monkeypatch.setattr(users, "_HASHER", PRODUCTION_HASHER)
    return PRODUCTION_HASHER


def _stored(db_url: str, name: str) -> str:
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            return session.scalars(select(User.password_hash).where(User.username == name)).one()
    finally:
        engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_user_create_stores_argon2id_with_the_production_parameters(
    db_url: str, production: PasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (production.time_cost, production.memory_cost, production.parallelism) == (3, 65536, 4)
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    reset_settings()
    result = CliRunner().invoke(
        app, ["user", "create", "alice", "--role", "reviewer", "--password-stdin", "--json"],
        input=PASSWORD + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    stored = _stored(db_url, "alice")
    assert stored.startswith(PRODUCTION_PREFIX), stored
    assert PasswordHasher().verify(stored, PASSWORD)
    invoke("user", "list", "--json")  # the account is there and listed


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_cheaper_hash_is_replaced_at_sign_in(db_url: str, production: PasswordHasher) -> None:
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    engine = audited(make_engine(db_url))
    try:
        with Session(writer(engine)) as session:
            users.create_user(
                session, username="bob", password=PASSWORD, role="reviewer", actor="test"
            )
            session.flush()
            row = session.scalars(select(User).where(User.username == "bob")).one()
            row.password_hash = cheap.hash(PASSWORD)
            session.commit()
        with Session(writer(engine)) as session:
            assert users.authenticate(session, "bob", "a wrong passphrase!") is None
            session.commit()
        assert _stored(db_url, "bob").startswith("$argon2id$v=19$m=8,t=1,p=1$")  # unchanged
        with Session(writer(engine)) as session:
            assert users.authenticate(session, "bob", PASSWORD) is not None
            session.commit()
    finally:
        engine.dispose()
    stored = _stored(db_url, "bob")
    assert stored.startswith(PRODUCTION_PREFIX), stored
    assert production.verify(stored, PASSWORD)
