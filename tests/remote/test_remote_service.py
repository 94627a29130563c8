"""The pieces every remote classifier shares: Retry-After read as seconds or an HTTP date,
the token bucket's turns (read from its bookkeeping, not from a clock), the Safer answer in
Hive's envelope, pictures encoded in memory."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import numpy as np
import pytest
from PIL import Image

from vangnet.remote.safer import read_prediction
from vangnet.remote.service import RemoteClassifierError, TokenBucket, encode, retry_after


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)
    assert retry_after("3") == 3.0
    assert retry_after("Mon, 07 Dec 2026 12:00:30 GMT", now=now) == 30.0
    assert retry_after("Mon, 07 Dec 2026 11:00:00 GMT", now=now) == 0.0  # in the past
    assert retry_after(None) is None and retry_after("soon") is None and retry_after("") is None


def test_the_bucket_spaces_turns_and_a_hold_delays_everyone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fake clock: the waits the bucket asks for are its rule, exactly."""
    clock = [100.0]
    waits: list[float] = []
    monkeypatch.setattr("vangnet.remote.service.time.monotonic", lambda: clock[0])
    monkeypatch.setattr("vangnet.remote.service.time.sleep", waits.append)
    bucket = TokenBucket(4.0)
    for _ in range(3):
        bucket.take()
    assert waits == [0.25, 0.5]  # the first is free; then a quarter second apart
    clock[0] += 10.0  # long idle: one token saved up, never more (no burst)
    waits.clear()
    bucket.take()
    bucket.take()
    assert waits == [0.25]
    waits.clear()
    clock[0] += 10.0
    bucket.hold(2.0)  # a Retry-After of 2 s
    bucket.take()
    assert waits == [2.0]
    with pytest.raises(ValueError):
        TokenBucket(0)


def test_a_safer_answer_in_hives_envelope_is_read() -> None:
    classes = {"csam": 0.98, "pornography": 0.01, "other": 0.01}
    inner = {"output": {"file": {"classifierPrediction": {"csam_classifier": classes}}}}
    assert read_prediction(inner) == classes
    assert read_prediction({"status": [{"response": inner}]}) == classes
    with pytest.raises(RemoteClassifierError, match="not a confidence in 0-1"):
        read_prediction(
            {
                "output": {
                    "file": {"classifierPrediction": {"csam_classifier": {**classes, "csam": 2}}}
                }
            }
        )
    with pytest.raises(RemoteClassifierError, match="the answer has no output"):
        read_prediction([1, 2])


def test_pictures_are_encoded_in_memory() -> None:
    picture = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    jpeg, png = encode(picture), encode(picture, image_format="PNG")
    assert jpeg[:3] == b"\xff\xd8\xff" and png[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), picture)
    assert Image.open(io.BytesIO(jpeg)).size == (30, 20)
