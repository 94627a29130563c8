"""A registered test classifier whose score is written into the picture: ``stamp`` crops a
benign photo and sets its top-left pixel's red value to ``round(score * 200)``, and the
``test_stamped`` classifier reads it back (``red / 200``), so a test knows each file's score
exactly and can check precision, recall and thresholds by hand. Any picture that is not a
48 x 48 stamp scores 0."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from vangnet.signals.classifiers import base
from vangnet.signals.classifiers.base import Classifier, Evidence, Pixels, Score
from vangnet.signals.classifiers.enabled import forget_instances

NAME = "test_stamped"
SIDE = 48


class Stamped(Classifier):
    name = NAME
    version = "1"
    measures = "sexual_content"
    description = "test: reads the score stamped in the top-left pixel"
    max_side = 4096  # never downsized: the stamp stays exact

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        out = []
        for picture in pictures:
            stamped = picture.shape[:2] == (SIDE, SIDE)
            value = min(1.0, int(picture[0, 0, 0]) / 200) if stamped else 0.0
            out.append(
                Score(self.name, self.version, self.measures, value, (Evidence("stamp", value),))
            )
        return out


@contextmanager
def registered() -> Iterator[None]:
    base.REGISTRY.register(Stamped)
    forget_instances()
    try:
        yield
    finally:
        base.REGISTRY.unregister(NAME)
        forget_instances()


def stamp(photo: Path, score: float, out: Path, *, at: int = 0) -> Path:
    """A 48 x 48 PNG crop of ``photo`` (from ``at`` px in) scoring ``score`` (a multiple of
    0.005)."""
    pixels = np.asarray(Image.open(photo).convert("RGB"))[at : at + SIDE, at : at + SIDE].copy()
    pixels[0, 0, 0] = round(score * 200)
    Image.fromarray(pixels).save(out)
    return out
