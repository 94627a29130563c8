"""Local features (`vangnet.signals.features`): what a bank keeps is compact and lossless for
matching, a query picture crosses a process boundary reduced, and the pixels verified for a
dihedral candidate are turned the way PDQ's variant says."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from region_composites import load
from vangnet.config import Settings
from vangnet.media.regions.edges import Box
from vangnet.signals.features import (
    KIND,
    QUERY_SIDE,
    SIDE,
    QueryPicture,
    dihedral_part,
    extract,
    moved_points,
    pack,
    packed_size,
    picture_features,
    turn,
    unpack,
    verify,
)
from vangnet.signals.hashing import hash_bytes
from vangnet.signals.pdq import TRANSFORMS, dihedral_hashes, hash_pixels, pdq_distance


def _photo(shared_data: Path) -> Image.Image:
    return load(sorted((shared_data / "photos" / "bsds500" / "test").glob("*.jpg"))[0])


def test_packed_features_are_compact_and_verify_as_the_originals(shared_data: Path) -> None:
    rgb = np.asarray(_photo(shared_data))
    features = extract(rgb, most=300)
    data = pack(features)
    assert KIND == "sift512-v1" and len(data) == packed_size(len(features)) <= packed_size(300)
    again = unpack(data)
    assert np.allclose(again.points, features.points, atol=0.25)
    assert np.array_equal(again.descriptors, np.rint(features.descriptors))
    query = extract(rgb[40:-40, 60:-60])
    assert verify(query, again).inliers >= 0.9 * verify(query, features).inliers > 50
    with pytest.raises(Exception, match="local features"):
        unpack(data[:-1])


def test_a_pickled_query_picture_is_reduced_and_keeps_its_boxes(shared_data: Path) -> None:
    big = _photo(shared_data).resize((2886, 1926))
    query = QueryPicture(big)
    copy = pickle.loads(pickle.dumps(query))
    assert max(copy.picture.size) <= QueryPicture.KEEP_SIDE and copy.size == big.size
    box = Box(600, 300, 1500, 1200)  # in the photo's own pixels, either way
    assert (
        verify(copy.features(box, None, most=512), query.features(box, None, most=512)).inliers > 50
    )
    wider = pickle.loads(pickle.dumps(QueryPicture(big, side=480)))
    assert wider.side == 480
    wider.features(box, None, most=512)
    assert max(wider._shapes[box]) == 480


def test_the_verify_side_setting_reaches_the_query_picture(shared_data: Path) -> None:
    """``match_verify_side`` is the side `hash_bytes` gives the photo it keeps for the wider
    net (`vangnet match`, `POST /v1/match`, triage)."""
    data = sorted((shared_data / "photos" / "bsds500" / "test").glob("*.jpg"))[0].read_bytes()
    kept = hash_bytes(data, settings=Settings(match_verify_side=200), verify=True).picture
    assert kept is not None and kept.side == 200
    kept.features(None, None, most=64)
    assert max(kept._shapes[None]) == 200
    default = hash_bytes(data, settings=Settings(), verify=True).picture
    assert default is not None and default.side == QUERY_SIDE


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_turned_pixels_hash_as_the_dihedral_variant_says(transform: str, shared_data: Path) -> None:
    """A candidate found by PDQ variant T is verified on the query turned by T: the
    turned picture's PDQ is that variant (within PDQ's own dihedral rounding)."""
    rgb = np.ascontiguousarray(np.asarray(_photo(shared_data)))
    variants, _ = dihedral_hashes(rgb)
    turned, _ = hash_pixels(turn(rgb, transform))
    distance = pdq_distance(turned, variants[TRANSFORMS.index(transform)])
    others = [
        pdq_distance(turned, v)
        for i, v in enumerate(variants)
        if variants[i] != variants[TRANSFORMS.index(transform)]
    ]
    assert distance <= 24 and distance < min(others)


def test_a_deskewed_regions_candidate_is_verified_on_its_dihedral_part(shared_data: Path) -> None:
    """A deskewed region's match says ``rotate(-4.0)`` or ``rotate(-4.0)+mirror``: its
    candidate is verified on the region turned by the dihedral part only (the small rotation
    is within what the fitted similarity accepts), not refused as an unknown transform."""
    assert dihedral_part("rotate(-4.0)") == "identity"
    assert dihedral_part("rotate(7.0)+mirror") == "mirror"
    assert dihedral_part("rot90") == "rot90" and dihedral_part(None) == "identity"
    photo = _photo(shared_data)
    turned = photo.rotate(4, Image.Resampling.BICUBIC, expand=True)
    query = QueryPicture(turned)
    reference = extract(np.asarray(photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)), most=512)
    found = verify(query.features(None, "rotate(-4.0)+mirror", most=512), reference)
    assert found.plausible() and found.inliers >= 12
    assert query.features(None, "rotate(-4.0)+mirror", most=512) is query.features(
        None, "mirror", most=512
    )
    with pytest.raises(ValueError, match="unknown transform"):
        turn(np.asarray(photo), "skew")


def test_quarter_turns_move_points_as_the_pixels_move() -> None:
    """np.rot90 of a W x H picture sends pixel (x, y) to (y, W - 1 - x); a mirror sends it
    to (W - 1 - x, y); from the mirrored picture, a flip is a half turn."""
    points = np.array([[0, 0], [9, 0], [3, 4]], np.float32)
    shape = (5, 10)  # height, width
    rot90 = moved_points(points, shape, "identity", "rot90")
    assert np.allclose(rot90, [[0, 9], [0, 0], [4, 6]])
    assert np.allclose(moved_points(points, shape, "identity", "identity"), points)
    mirrored = moved_points(points, shape, "identity", "mirror")  # not a quarter turn: exact still
    assert np.allclose(mirrored, [[9, 0], [0, 0], [6, 4]])
    flip = moved_points(mirrored, shape, "mirror", "flip")
    assert np.allclose(flip, [[0, 4], [9, 4], [3, 0]])


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_one_extraction_serves_every_dihedral_turn(transform: str, shared_data: Path) -> None:
    """The features a query picture gives for a dihedral turn come from one SIFT extraction
    of the upright picture, points moved (and, for a mirror image, each descriptor
    reordered); they verify against an extraction of the turned pixels themselves as that
    extraction does against itself: nearly every keypoint an inlier, the identity
    similarity (the photo made to fit `QUERY_SIDE` first, so both see the same pixels)."""
    photo = _photo(shared_data)
    photo.thumbnail((QUERY_SIDE, QUERY_SIDE))
    query = QueryPicture(photo)
    derived = query.features(None, transform, most=512)
    direct = extract(turn(np.ascontiguousarray(np.asarray(photo)), transform), most=512)
    found = verify(derived, direct)
    assert found.plausible() and abs(found.rotation) < 1.0 and abs(found.scale - 1.0) < 0.02
    assert found.inliers >= 0.8 * len(direct)
    upright = query.features(None, None, most=512)
    assert len(query._cache) == (1 if transform == "identity" else 2)
    assert query.extractions == 1
    if transform in {"rot90", "rot180", "rot270"}:
        assert derived.descriptors is upright.descriptors


def test_a_query_is_fitted_smaller_than_a_banked_picture(shared_data: Path) -> None:
    """A query's box is fitted within `QUERY_SIDE`, a banked picture within `SIDE`: the
    query of the banked picture itself still verifies with most of its keypoints, at the
    scale between the two sides."""
    photo = _photo(shared_data)
    big = photo.resize((photo.width * 3, photo.height * 3))
    banked = unpack(picture_features(big, most=512))
    query = QueryPicture(big)
    mine = query.features(None, None, most=512)
    assert max(query._shapes[None]) == QUERY_SIDE < SIDE
    found = verify(mine, banked)
    assert found.plausible() and abs(found.rotation) < 1.0
    assert abs(found.scale - SIDE / QUERY_SIDE) < 0.02
    assert found.inliers >= 0.3 * len(mine)
