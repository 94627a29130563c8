"""The wider net for a query video over HTTP (issue 12, point 2): ``POST /v1/match`` of a
short video call showing a photo banked through HMA's file upload (which keeps its local
features) as a small tile finds it beyond the PDQ threshold, verified on the frame's pixels
(``inliers``, ``frame_time``, ``region``), as does HMA's ``POST /m/lookup`` of the video
(under ``pdq``); with ``match_verify_max`` 0 neither does (plain matching misses it), and a
call of other people matches nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from region_composites import load, near
from video_composites import call_clips

from .conftest import AppFactory, refresh


#: Both databases are covered by tests/cli/test_match_video_verify.py; the HTTP path does
#: not depend on the database.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_photo_shown_small_in_an_uploaded_video_is_found_by_its_features(
    make_client: AppFactory, admin_key: str, shared_data: Path
) -> None:
    paths = sorted((shared_data / "photos" / "bsds500" / "train").glob("*.jpg"))
    client = make_client()
    client.headers["X-API-Key"] = admin_key
    r = client.post("/c/banks", json={"name": "KNOWN"})
    assert r.status_code == 201, r.text
    r = client.post(
        "/c/bank/KNOWN/content",
        files={"photo": (paths[1].name, paths[1].read_bytes(), "image/jpeg")},
    )
    assert r.status_code == 200, r.text
    banked = r.json()["id"]
    refresh(client)
    pictures = [load(p) for p in paths[:24]]
    call, other, shown = call_clips(pictures[1], [pictures[10], *pictures[20:24]])

    r = client.post("/v1/match?record=false", content=call)
    assert r.status_code == 200, r.text
    body = r.json()
    (match,) = body["matches"]
    assert match["content_id"] == banked and match["distance"] > 31, match
    assert match["inliers"] >= 12 and 2.0 <= match["frame_time"] < 5.0, match
    box = match["region"]
    assert near((box["x"], box["y"], box["w"], box["h"]), shown, 0.15), match
    assert body["unverified"] == 0
    r = client.post("/v1/match?record=false", content=other)
    assert r.status_code == 200 and r.json()["matches"] == [], r.text

    # HMA's lookup of the uploaded video: the banked photo found in a frame, under pdq
    r = client.post("/m/lookup", files={"video": ("call.mp4", call, "video/mp4")})
    assert r.status_code == 200, r.text
    (hit,) = r.json()["pdq"]["KNOWN"]
    assert hit["bank_content_id"] == banked and int(hit["distance"]) > 31, r.json()
    r = client.post("/m/lookup", files={"video": ("other.mp4", other, "video/mp4")})
    assert r.status_code == 200 and "pdq" not in r.json(), r.text

    plain = make_client(match_verify_max=0)
    plain.headers["X-API-Key"] = admin_key
    r = plain.post("/v1/match?record=false", content=call)
    assert r.status_code == 200 and r.json()["matches"] == [], r.text
    r = plain.post("/m/lookup", files={"video": ("call.mp4", call, "video/mp4")})
    assert r.status_code == 200 and "pdq" not in r.json(), r.text
