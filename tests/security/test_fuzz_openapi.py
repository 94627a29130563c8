"""Issue 10, what-to-build 7: property-based fuzzing of every route in ``/openapi.json``.

Schemathesis generates valid and invalid requests for each operation of the app's own schema;
hypothesis runs them derandomized (the same cases on every run) and a bounded number per
operation. Each case is sent without a key, with low-role keys and with an admin key, and:

- no answer is a 5xx (or an exception in the app);
- no answer is a 2xx unless the key's role may use the operation (`_fuzz.OPERATIONS`).

Every route in the schema must be listed in `_fuzz.OPERATIONS` with its expected auth. The
CI run is fast (a few examples per operation); ``-m slow`` runs a deeper one, and
VANGNET_FUZZ_EXAMPLES sets the examples per operation of either.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings
from sqlalchemy.orm import Session

from conftest import audited
from vangnet.api.app import create_app
from vangnet.auth.keys import create_key
from vangnet.auth.roles import Role
from vangnet.auth.users import create_user
from vangnet.config import Settings
from vangnet.store.db import make_engine

from . import _fuzz

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import schemathesis
    from schemathesis.python import asgi

PHOTO = Path("photos/bsds500/train")


@dataclass
class Target:
    app: Any
    schema: Any
    keys: dict[Role, str]
    reseed: Callable[[], None]


def _keys(db_url: str) -> dict[Role, str]:
    engine = audited(make_engine(db_url))
    try:
        with Session(engine) as session:
            # keys belong to a person (only a person's key may decide cases)
            create_user(
                session, username="fuzz-person", password="a long password", role="admin", actor="t"
            )
            made = {
                role: create_key(session, name=f"fuzz-{role}", role=role, user="fuzz-person")[1]
                for role in Role
            }
            session.commit()
    finally:
        engine.dispose()
    return made


@pytest.fixture
def target(db_url: str, shared_data: Path) -> Iterator[Target]:
    """The app on ``db_url`` (keys required, no file streams, no request rate limit), its
    schema, seeded rows."""
    keys = _keys(db_url)
    cfg = Settings(
        database_url=db_url,
        require_api_keys=True,
        live_api_allow_files=False,
        key_rate_per_second=0,  # a 429 would hide what the route does
        http_unauth_per_minute=1_000_000,  # likewise the per-address limit of refused requests
    )
    app = create_app(cfg, start_background=True)
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)  # starts the app
        with asgi.get_client(app) as client:
            client.headers["X-API-Key"] = keys[Role.ADMIN]
            photo = sorted((shared_data / PHOTO).glob("*.jpg"))[0]
            refresh = app.state.services.indexes.refresh
            _fuzz.seed(client, photo, refresh=refresh)

        pdq = _fuzz.photo_pdq(photo)

        def reseed() -> None:
            with asgi.get_client(app) as client:
                client.headers["X-API-Key"] = keys[Role.ADMIN]
                refresh()
                if not _fuzz.seeded(client, pdq):  # (a batch add costs a staged import)
                    _fuzz.seed_bank(client, photo, refresh=refresh)

        yield Target(app, schema, keys, reseed)
    finally:
        asgi.shutdown_lifespans()


@dataclass(frozen=True)
class Expectation:
    label: str
    key: tuple[str, str]
    may: bool  # the caller's role may use the operation
    headers: dict[str, str]
    timeout: float


def _check(case: Any, expect: Expectation, findings: _fuzz.Findings) -> None:
    reproduce = _fuzz.Reproduce(case, expect.headers)
    try:
        response: requests.Response = case.call(headers=expect.headers, timeout=expect.timeout)
    except Exception as error:  # the app raised: a 500 for a real client
        findings.add(expect.label, f"exception {error!r}", reproduce)
        return
    status = response.status_code
    findings.statuses[status] = findings.statuses.get(status, 0) + 1
    if status < 300 or status in (400, 409, 422):
        findings.remember(expect.label, case, accepted=status < 300)
    if status >= 500 and not (expect.key == ("GET", "/h/hash") and status == 501):
        findings.add(expect.label, f"server error {_fuzz.describe(response)}", reproduce)
    elif 200 <= status < 300 and not expect.may:
        findings.add(expect.label, f"answered {status} without the permission", reproduce)
    elif not expect.may and status not in (400, 401, 403, 404, 405, 413, 415, 422):
        findings.add(expect.label, f"unexpected {_fuzz.describe(response)}", reproduce)


def _fuzz_operation(
    operation: Any, expect: Expectation, per_operation: int, findings: _fuzz.Findings
) -> None:
    @settings(
        max_examples=per_operation,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_fuzz.cases(operation))
    def run(case: Any) -> None:
        _check(case, expect, findings)

    run()


def _fuzz_as(target: Target, role: Role | None, per_operation: int) -> _fuzz.Findings:
    findings = _fuzz.Findings()
    headers = {"X-API-Key": target.keys[role]} if role is not None else {}
    listed = set()
    for operation in _fuzz.operations(target.schema):
        target.reseed()  # the fuzzer may have deleted the seeded bank
        key = (operation.method.upper(), operation.path)
        listed.add(key)
        assert key in _fuzz.OPERATIONS, f"{key}: add its expected auth to _fuzz.OPERATIONS"
        expect = Expectation(
            label=f"{key[0]} {key[1]} as {role or 'no key'}",
            key=key,
            may=_fuzz.allowed(_fuzz.OPERATIONS[key], role),
            headers=headers,
            timeout=_fuzz.FEED_SECONDS if key[1] == "/v1/alerts/feed" else 30.0,
        )
        started = time.monotonic()
        _fuzz_operation(operation, expect, per_operation, findings)
        accepted = findings.base(expect.label)
        if role is Role.ADMIN and accepted is not None:
            for hostile in _fuzz.hostile_variants(accepted):
                _check(hostile, expect, findings)
        findings.timings[expect.label] = time.monotonic() - started
    assert listed == set(_fuzz.OPERATIONS), "operations gone from the API: update OPERATIONS"
    return findings


MODES = [
    pytest.param(None, 4, id="no-key"),
    pytest.param(Role.MATCHER, 6, id="matcher"),
    pytest.param(Role.REVIEWER, 6, id="reviewer"),
    pytest.param(Role.ADMIN, 15, id="admin"),
]


@pytest.mark.parametrize(("role", "per_operation"), MODES)
def test_fuzz_every_route(target: Target, role: Role | None, per_operation: int) -> None:
    findings = _fuzz_as(target, role, _fuzz.examples(per_operation))
    print(findings.summary())  # shown with -s: answers per status, slowest operations
    assert not findings.found, findings.report()
    if role is Role.ADMIN:  # the cases reach the routes, not only their validation
        reached = {tuple(label.split(" ")[:2]) for label in findings.accepted}
        assert set(_fuzz.OPERATIONS) - reached <= {("GET", "/h/hash")}
        assert sum(n for status, n in findings.statuses.items() if status < 300) > 100


@pytest.mark.slow
@pytest.mark.parametrize("role", [None, Role.MATCHER, Role.CURATOR, Role.ANALYST, Role.ADMIN])
def test_fuzz_every_route_deeply(target: Target, role: Role | None) -> None:
    findings = _fuzz_as(target, role, _fuzz.examples(200))
    assert not findings.found, findings.report()
