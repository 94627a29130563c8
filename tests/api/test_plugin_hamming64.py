"""Done-when test of issue 11: a 64-bit Hamming signal type, defined and registered in this
module only (as a third-party plug-in registers), goes from bank (API add) to match (API
lookup) to case (the upload path, and a live push stream's alert) to report (``vangnet
report html``), on SQLite and PostgreSQL, and its index is the generic Hamming index.
Nothing outside this module knows it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from api.conftest import AppFactory, poll, refresh
from vangnet.cli import app as cli_app
from vangnet.config import reset_settings
from vangnet.errors import InvalidHashError
from vangnet.index.conformance import check_plugin
from vangnet.signals.base import HammingBits, ImageHasher, SignalType
from vangnet.signals.conformance import SignalCases
from vangnet.signals.registry import register_signal_type, unregister_signal_type

PHOTO = Path("threatexchange/pdq/data/bridge-mods/aaa-orig.jpg")
OTHER = Path("photos/public-domain/skimage_coffee.png")


class AverageHash64(SignalType, HammingBits, ImageHasher):
    """A 64-bit average hash of an 8 x 8 grey thumbnail."""

    name = "test_ahash64"
    index = "hamming"
    bits = 64
    default_threshold = 10
    description = "64-bit average hash (test plug-in)."

    @classmethod
    def validate(cls, value: str) -> str:
        text = value.strip().lower() if isinstance(value, str) else ""
        if len(text) != 16 or any(c not in "0123456789abcdef" for c in text):
            raise InvalidHashError("not a test_ahash64 value: expected 16 hexadecimal digits")
        return text

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        return (int(a, 16) ^ int(b, 16)).bit_count()

    @classmethod
    def hash_picture(cls, img: Image.Image) -> tuple[str, int | None]:
        pixels = list(img.convert("L").resize((8, 8)).tobytes())
        mean = sum(pixels) / 64
        return f"{sum(1 << i for i, p in enumerate(pixels) if p > mean):016x}", None


@pytest.fixture(autouse=True)
def _plugin() -> Iterator[None]:
    register_signal_type(AverageHash64)
    yield
    unregister_signal_type(AverageHash64.name)


def _recompressed(data: bytes) -> bytes:
    buf = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").resize((300, 300)).save(buf, "JPEG", quality=60)
    return buf.getvalue()


def test_conforms() -> None:
    check_plugin(
        AverageHash64,
        SignalCases(
            valid=["00000000ffffffff", "0f0f0f0f0f0f0f0f", "00000000fffffff0"],
            invalid=["", "xyz", "0" * 15, "0" * 17],
            near=[("00000000ffffffff", "00000000ffffff00")],
            far=[("00000000ffffffff", "ffffffff00000000")],
            canonical=[("00000000FFFFFFFF", "00000000ffffffff")],
        ),
    )


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
    banked = client.post("/v1/hash", content=original).json()[AverageHash64.name]

    # bank: the API adds a value of the plug-in's type, and only that
    assert client.post("/v1/banks", json={"name": "KNOWN", "category_profile": "vics"}).is_success
    item = {"signal_type": AverageHash64.name, "value": banked.upper(), "category": "vics:1"}
    r = client.post("/v1/banks/KNOWN/hashes", json={"items": [item]})
    assert r.status_code == 200, r.text
    bad = {**item, "value": "not hex"}
    assert client.post("/v1/banks/KNOWN/hashes", json={"items": [bad]}).status_code == 400
    refresh(client)
    status = client.get("/v1/index/status").json()
    assert status[AverageHash64.name]["size"] == 1 and status["pdq"]["present"] is True

    # match: a smaller, recompressed copy is found by a hash-only lookup of the API
    copy = _recompressed(original)
    query = client.post("/v1/hash", content=copy).json()[AverageHash64.name]
    assert query != banked
    r = client.post("/v1/lookup", json={"signal_type": AverageHash64.name, "value": query})
    assert r.status_code == 200, r.text
    [match] = r.json()["matches"]
    assert match["bank"] == "KNOWN" and match["signal_type"] == AverageHash64.name
    assert match["distance"] == AverageHash64.distance(query, banked) <= 10
    far = client.post("/v1/hash", content=(shared_data / OTHER).read_bytes()).json()
    lookup = {"signal_type": AverageHash64.name, "value": far[AverageHash64.name]}
    assert client.post("/v1/lookup", json=lookup).json()["matches"] == []

    # case: the upload path files the copy (matched on this type alone) in a review case
    r = client.post("/v1/match?account=acct-1", content=copy)
    assert r.status_code == 200, r.text
    assert [m["signal_type"] for m in r.json()["matches"]] == [AverageHash64.name]
    case_id = r.json()["case_id"]
    doc = client.get(f"/v1/cases/{case_id}").json()
    assert doc["matches"][0]["signal_type"] == AverageHash64.name
    assert doc["items"][0]["signals"][AverageHash64.name] == query  # its own typed row
    assert doc["priority"]["score"] > 0

    # live: frames pushed to a stream are hashed with the plug-in too, and raise an alert
    stream = client.post("/v1/streams", json={"url": None, "fps": 2}).json()["id"]
    for t in (1.0, 2.0, 3.0):
        r = client.post(
            f"/v1/streams/{stream}/frames",
            params={"stream_time": t},
            content=copy,
            headers={"Content-Type": "image/jpeg"},
        )
        assert r.status_code == 202, r.text

    def alerts() -> list[dict[str, object]]:
        found: list[dict[str, object]] = client.get(
            "/v1/alerts", params={"stream_id": stream}
        ).json()["alerts"]
        return found

    assert poll(lambda: bool(alerts()), timeout=30), "no live alert"
    assert alerts()[0]["bank"] == "KNOWN"

    # report: the case report names the type, the distance and the item's value
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    reset_settings()
    out = tmp_path / "case.html"
    result = CliRunner().invoke(cli_app, ["report", "html", str(case_id), "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert AverageHash64.name in html and query in html
