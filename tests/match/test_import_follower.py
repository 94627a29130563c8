"""An index follower adds a published bulk import in one bulk add (`SignalIndex.add_pages`):
what it ends with is exactly what a rebuild from the database gives, for PDQ (hashes turned
into words page by page) and for digests (the protocol's default), whatever the page size.

Imports go through ``vangnet bank import``; lookups through the HTTP API.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.conftest import AppFactory, admin_key, make_client, refresh  # noqa: F401
from vangnet.banks.contents import add_content, delete_content
from vangnet.cli import app as cli_app
from vangnet.config import reset_settings
from vangnet.match.indexes import SignalIndexes
from vangnet.store.db import make_engine

rng = random.Random(11)


def random_hex(bits: int) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def flip(value: str, bits: int) -> str:
    number = int(value, 16)
    for bit in rng.sample(range(256), bits):
        number ^= 1 << bit
    return f"{number:064x}"


@pytest.fixture
def engine(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    reset_settings()
    e = make_engine(db_url)
    yield e
    e.dispose()
    reset_settings()


def cli(*args: str) -> str:
    result = CliRunner().invoke(cli_app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def cli_import(path: Path, values: list[str], signal_type: str) -> None:
    path.write_text("".join(f"{v}\n" for v in values))
    cli("bank", "import", "BIG", str(path), "--format", "plain", "--signal-type", signal_type)


def index_contents(indexes: SignalIndexes, signal_type: str, values: list[str]) -> list[object]:
    """Every id the index holds for ``values`` (threshold 0), and its size."""
    index = indexes.indexes[signal_type]
    return [len(index), index.query_many(values, 0)]


def test_a_follower_adds_a_published_import_as_a_rebuild_would(
    make_client: AppFactory,  # noqa: F811
    admin_key: str,  # noqa: F811
    engine: Engine,
    tmp_path: Path,
) -> None:
    cli("bank", "create", "BIG")
    pdq = [random_hex(256) for _ in range(2_600)]
    sha = [random_hex(256) for _ in range(700)]
    with Session(engine) as s:  # by hand, before the follower starts
        by_hand = add_content(s, bank="BIG", signals={"pdq": pdq[0], "sha256": sha[0]})
        s.commit()
    follower = SignalIndexes(engine)
    follower.import_page = 500  # several pages per import, the last one short
    follower.load()
    assert len(follower.indexes["pdq"]) == 1

    # two imports of each type: the second repeats values of the first and of the hand add
    cli_import(tmp_path / "pdq1.txt", pdq[:1_700], "pdq")
    cli_import(tmp_path / "sha1.txt", sha[:450], "sha256")
    with Session(engine) as s:  # a removal logged between the imports
        delete_content(s, by_hand)
        s.commit()
    cli_import(tmp_path / "pdq2.txt", pdq[1_200:] + pdq[:3], "pdq")
    cli_import(tmp_path / "sha2.txt", sha[400:] + sha[:1], "sha256")
    assert follower.refresh() >= 5

    rebuilt = SignalIndexes(engine)
    rebuilt.load()
    for signal_type, values in (("pdq", pdq), ("sha256", sha)):
        got = index_contents(follower, signal_type, values)
        assert got == index_contents(rebuilt, signal_type, values)
        assert got[0] == len(values)  # value 0: removed by hand, then imported again
        assert all(len(hits) == 1 for hits in got[1])  # type: ignore[attr-defined]
    # hash lists keep no local features: the feature index (the wider net's) takes none
    assert len(follower.featured["pdq"]) == len(rebuilt.featured["pdq"]) == 0
    near = [flip(v, 12) for v in pdq[::97]]
    assert follower.indexes["pdq"].query_many(near, 31) == rebuilt.indexes["pdq"].query_many(
        near, 31
    )

    client = make_client()
    client.headers["X-API-Key"] = admin_key
    refresh(client)
    for value in (pdq[0], pdq[1_699], pdq[-1], flip(pdq[2_000], 10)):
        r = client.post("/v1/lookup", json={"signal_type": "pdq", "value": value})
        assert r.status_code == 200, r.text
        assert [m["bank"] for m in r.json()["matches"]] == ["BIG"]
    r = client.post("/v1/lookup", json={"signal_type": "sha256", "value": sha[-1]})
    assert [m["bank"] for m in r.json()["matches"]] == ["BIG"]
