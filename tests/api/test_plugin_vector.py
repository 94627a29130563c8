"""Done-when test of issue 11: a float-vector signal type (an "embedding"), defined and
registered in this module only, goes from bank (``vangnet bank import``, the CLI) to match
(API lookup) to case (the upload path) to report (``vangnet report html``), on SQLite and
PostgreSQL, served by the vector index. Nothing outside this module knows it.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from api.conftest import AppFactory, refresh
from vangnet.cli import app as cli_app
from vangnet.config import reset_settings
from vangnet.errors import InvalidHashError
from vangnet.index.conformance import check_plugin
from vangnet.match.indexes import SignalIndexes
from vangnet.signals.base import ImageHasher, SignalType
from vangnet.signals.conformance import SignalCases
from vangnet.signals.registry import register_signal_type, unregister_signal_type
from vangnet.signals.vectors import FloatVector, Vectors

PHOTO = Path("threatexchange/pdq/data/bridge-mods/aaa-orig.jpg")
OTHER = Path("photos/public-domain/skimage_coffee.png")
BINS = 16


class ColourEmbedding(SignalType, FloatVector, ImageHasher):
    """A 48-float colour histogram (16 bins per RGB channel), compared by cosine distance in
    thousandths: a stand-in for a learned image embedding."""

    name = "test_colour_vec"
    index = "vector"
    dimensions = 3 * BINS
    metric = "cosine"
    scale = 1000
    default_threshold = 50  # cosine distance 0.05
    description = "Colour histogram embedding (test plug-in)."

    @classmethod
    def validate(cls, value: str) -> str:
        parts = value.replace(",", " ").split() if isinstance(value, str) else []
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            numbers = []
        if len(numbers) != cls.dimensions or not all(math.isfinite(n) for n in numbers):
            raise InvalidHashError(f"not a {cls.name} value: expected {cls.dimensions} numbers")
        return " ".join(f"{n:.6f}" for n in numbers)

    @classmethod
    def vector(cls, value: str) -> Vectors:
        return np.array([float(p) for p in value.split()], np.float32)

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        return cls.vector_distance(a, b)

    @classmethod
    def hash_picture(cls, img: Image.Image) -> tuple[str, int | None]:
        rgb = np.asarray(img.convert("RGB").resize((64, 64)), dtype=np.float32)
        hist = np.concatenate(
            [np.histogram(rgb[..., c], bins=BINS, range=(0, 256))[0] for c in range(3)]
        )
        return cls.validate(" ".join(str(x) for x in hist / hist.sum())), None


@pytest.fixture(autouse=True)
def _plugin() -> Iterator[None]:
    register_signal_type(ColourEmbedding)
    yield
    unregister_signal_type(ColourEmbedding.name)


def _vec(*hot: int) -> str:
    return " ".join("1" if i in hot else "0" for i in range(ColourEmbedding.dimensions))


def test_conforms() -> None:
    check_plugin(
        ColourEmbedding,
        SignalCases(
            valid=[_vec(0, 1), _vec(5), _vec(0, 1, 2), _vec(7, 9)],
            invalid=["", "1 2 3", _vec(1).replace("0", "x", 1), _vec(1).replace("1", "nan")],
            near=[(_vec(*range(40)), _vec(*range(41)))],
            far=[(_vec(0), _vec(1))],
            canonical=[(_vec(0).replace(" ", ","), " ".join(["1.000000"] + ["0.000000"] * 47))],
        ),
    )


def _cli(*args: str) -> str:
    result = CliRunner().invoke(cli_app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_bank_match_case_report(
    make_client: AppFactory,
    admin_key: str,
    db_url: str,
    shared_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = make_client()
    client.headers["X-API-Key"] = admin_key
    original = (shared_data / PHOTO).read_bytes()
    banked = client.post("/v1/hash", content=original).json()[ColourEmbedding.name]

    # bank: the CLI creates the bank and imports the embedding (HMA CSV), and only that
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    reset_settings()
    csv = tmp_path / "bank.csv"
    csv.write_text(f'signal_type,signal_value,category\n{ColourEmbedding.name},"{banked}",vics:1\n')
    _cli("bank", "create", "EMBEDDED", "--profile", "vics")
    _cli("bank", "import", "EMBEDDED", str(csv), "--format", "csv")
    refresh(client)
    assert client.get("/v1/index/status").json()[ColourEmbedding.name]["size"] == 1

    # match: a smaller, recompressed copy is found by a hash-only lookup of the API
    buf = io.BytesIO()
    Image.open(io.BytesIO(original)).convert("RGB").resize((300, 300)).save(buf, "JPEG", quality=60)
    copy = buf.getvalue()
    query = client.post("/v1/hash", content=copy).json()[ColourEmbedding.name]
    assert query != banked
    r = client.post("/v1/lookup", json={"signal_type": ColourEmbedding.name, "value": query})
    assert r.status_code == 200, r.text
    [match] = r.json()["matches"]
    assert match["bank"] == "EMBEDDED" and match["distance"] <= 50
    far = client.post("/v1/hash", content=(shared_data / OTHER).read_bytes()).json()
    lookup = {"signal_type": ColourEmbedding.name, "value": far[ColourEmbedding.name]}
    assert client.post("/v1/lookup", json=lookup).json()["matches"] == []
    bad = client.post("/v1/lookup", json={"signal_type": ColourEmbedding.name, "value": "1 2"})
    assert bad.status_code == 400

    # case: the upload path files the copy (matched on this type alone) in a review case
    r = client.post("/v1/match?account=acct-2", content=copy)
    assert r.status_code == 200, r.text
    assert [m["signal_type"] for m in r.json()["matches"]] == [ColourEmbedding.name]
    case_id = r.json()["case_id"]
    doc = client.get(f"/v1/cases/{case_id}").json()
    assert doc["matches"][0]["bank"] == "EMBEDDED"
    assert doc["items"][0]["signals"][ColourEmbedding.name] == query

    # report: the case report names the type and carries the item's embedding
    out = tmp_path / "case.html"
    _cli("report", "html", str(case_id), "--out", str(out))
    html = out.read_text()
    assert ColourEmbedding.name in html and query[:40] in html

    # restart: the vector index is written to and read back from the snapshot folder
    services = client.app.state.services  # type: ignore[attr-defined]
    folder = services.indexes.save_snapshot()
    assert (folder / f"{ColourEmbedding.name}.vector.idx").is_file()
    restarted = SignalIndexes(services.engine, snapshot_dir=folder)
    restarted.load()
    assert len(restarted.indexes[ColourEmbedding.name]) == 1
    assert not restarted.failed
