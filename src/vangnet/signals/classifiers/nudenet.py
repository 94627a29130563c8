"""NudeNet: exposed body parts found by the detector ``320n.onnx`` that the ``nudenet``
package ships (3.4.2; a YOLOv8 detector of 18 classes: body parts exposed or covered, and
faces), as the optional classifier ``nudenet``.

**Licence: AGPL-3.0.** The package's licence file is the GNU Affero General Public License
v3 (its metadata says MIT; the licence file decides). Vangnet is Apache-2.0, so NudeNet is
only an optional extra (``pip install vangnet[nudenet]``), never a default dependency and
never in the default set of classifiers: a deployment that enables it runs AGPL-3.0 weights
and should read that licence first.

The model file is read from the installed package by path and its SHA-256 checked (a
different file would silently change the scores); the package's Python code is not
imported. The file runs on Vangnet's own onnxruntime (one intra-op thread) with Vangnet's own
pre- and post-processing, written to match the package's 3.4.2 behaviour: the picture padded
to a square with black at its right and bottom, resized to 320 x 320, scaled to 0-1 in
BGR order (what the package's own path from a file hands the model);
detections with a class score of at least 0.2, overlapping boxes (IoU over 0.45) merged
whatever their class (OpenCV's NMS, as the package does).

A picture's ``value`` is the highest score of the sexual exposed parts (`SEXUAL`: genitalia,
female breast, buttocks, anus), 0.0 when there is none. ``evidence``: every exposed part
found (`EXPOSED`), its class, score and box in the pixels given, with ``{"sexual": bool}``.
A covered part, a face, exposed feet, belly or armpits never raise the value. It measures
nudity of anyone; it knows nothing of age (see docs/classifiers.md).
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from vangnet.signals.classifiers.base import (
    Classifier,
    ClassifierError,
    Evidence,
    Pixels,
    Score,
)

MODEL_PACKAGE: Final = "nudenet"
MODEL_FILE: Final = "320n.onnx"
#: SHA-256 of ``320n.onnx`` in nudenet 3.4.2, the file this classifier was measured with.
MODEL_SHA256: Final = "c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f"
#: the model's input side
SIDE: Final = 320
#: detections with a lower class score are dropped; overlapping boxes are merged (the
#: package's values)
MIN_SCORE: Final = 0.2
NMS_SCORE: Final = 0.25
NMS_IOU: Final = 0.45

#: the model's 18 classes, in its output order
CLASSES: Final = (
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)
#: exposed parts that make the value
SEXUAL: Final = frozenset(
    {
        "FEMALE_GENITALIA_EXPOSED",
        "MALE_GENITALIA_EXPOSED",
        "FEMALE_BREAST_EXPOSED",
        "BUTTOCKS_EXPOSED",
        "ANUS_EXPOSED",
    }
)
#: the parts given as evidence
EXPOSED: Final = frozenset(c for c in CLASSES if c.endswith("_EXPOSED"))


def model_path() -> Path:
    """``320n.onnx`` of the installed ``nudenet`` package, found without importing it."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ClassifierError(
            "the nudenet classifier needs the nudenet package (AGPL-3.0): "
            "pip install 'vangnet[nudenet]'"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise ClassifierError(f"nudenet: cannot read {path}: {exc}") from exc
    if digest != MODEL_SHA256:
        raise ClassifierError(
            f"nudenet: {path.name} is not the file this classifier was measured with "
            f"(sha256 {digest[:12]}..., expected {MODEL_SHA256[:12]}...); install nudenet 3.4.2"
        )
    return path


class NudeNet(Classifier):
    """Exposed body parts (NudeNet 3.4.2's ``320n.onnx``); the value is the highest score
    of a sexual exposed part. Evidence: each exposed part with its class and box."""

    name = "nudenet"
    version = "3.4.2+320n.c15d8273"
    measures = "sexual_content"
    description = (
        "NudeNet (AGPL-3.0 optional extra): exposed body parts, the highest score of "
        "genitalia, female breast, buttocks or anus"
    )
    licence = "AGPL-3.0-only"
    #: on the benign sets (benchmarks/bench_classifiers.py) no picture reaches 0.5
    default_threshold = 0.5
    max_side = 640
    batch_size = 8

    def __init__(self) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(model_path()), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name

    def prepare(self, picture: Pixels) -> tuple[npt.NDArray[np.float32], float]:
        """The model's input for ``picture`` (3, 320, 320) and the factor from model
        pixels to the picture's."""
        if picture.dtype != np.uint8 or picture.ndim != 3 or picture.shape[2] != 3:
            raise ValueError(
                f"nudenet: pictures must be RGB uint8 (height, width, 3), "
                f"got {picture.dtype} {picture.shape}"
            )
        height, width = picture.shape[:2]
        side = max(height, width)
        square = np.zeros((side, side, 3), dtype=np.uint8)
        square[:height, :width] = picture
        small = cv2.resize(square, (SIDE, SIDE), interpolation=cv2.INTER_LINEAR)
        # channels in BGR order: what the package's own pipeline hands the model (it
        # reads BGR, swaps to RGB with cvtColor, then swaps back in blobFromImage)
        tensor = np.ascontiguousarray(small[:, :, ::-1].transpose(2, 0, 1), dtype=np.float32)
        tensor /= 255.0
        return tensor.astype(np.float32), side / SIDE

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        if not pictures:
            return []
        prepared = [self.prepare(p) for p in pictures]
        batch = np.stack([t for t, _ in prepared])
        (out,) = self._session.run(None, {self._input: batch})
        rows = np.asarray(out, dtype=np.float32)
        return [
            self._score(self.detections(rows[i], scale, p.shape[1], p.shape[0]))
            for i, ((_, scale), p) in enumerate(zip(prepared, pictures, strict=True))
        ]

    def detections(
        self, output: npt.NDArray[np.float32], scale: float, width: int, height: int
    ) -> list[tuple[str, float, tuple[int, int, int, int]]]:
        """(class, score, box x, y, width, height in the picture) of one picture's raw
        output (22 x anchors: centre x, y, width, height, then 18 class scores)."""
        table = output.T
        classes = table[:, 4:]
        best = classes.argmax(axis=1)
        scores = classes[np.arange(len(best)), best]
        keep = scores >= MIN_SCORE
        if not keep.any():
            return []
        boxes: list[list[float]] = []
        for cx, cy, w, h in table[keep, :4].tolist():
            x = min(max(0.0, (cx - w / 2) * scale), float(width))
            y = min(max(0.0, (cy - h / 2) * scale), float(height))
            boxes.append([x, y, min(w * scale, width - x), min(h * scale, height - y)])
        kept_scores = [float(s) for s in scores[keep]]
        kept_classes = [int(c) for c in best[keep]]
        chosen: Any = cv2.dnn.NMSBoxes(boxes, kept_scores, NMS_SCORE, NMS_IOU)
        found = []
        for index in np.asarray(chosen, dtype=np.int64).reshape(-1).tolist():
            x, y, w, h = boxes[index]
            box = (int(x), int(y), max(1, int(w)), max(1, int(h)))
            found.append((CLASSES[kept_classes[index]], kept_scores[index], box))
        return found

    def _score(self, found: list[tuple[str, float, tuple[int, int, int, int]]]) -> Score:
        exposed = sorted((d for d in found if d[0] in EXPOSED), key=lambda d: -d[1])
        sexual = [d for d in exposed if d[0] in SEXUAL]
        value = min(1.0, max((s for _, s, _ in sexual), default=0.0))
        evidence = tuple(
            Evidence(label.lower(), score, box, {"sexual": label in SEXUAL})
            for label, score, box in exposed
        )
        if sexual:
            part = sexual[0][0].lower().replace("_", " ")
            summary = f"nudity {value:.2f} (NudeNet: {part})"
        else:
            summary = f"nudity {value:.2f} (NudeNet: no exposed part)"
        return Score(self.name, self.version, self.measures, value, evidence, summary)
