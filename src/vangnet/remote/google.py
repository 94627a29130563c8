"""Google's Content Safety API as a classifier plug-in (``google_content_safety``, measures
``abuse_material``): pictures are sent, as JPEGs, in batches of
``google_content_safety_batch_size``, and each comes back with a review priority.

The documented interface, followed here (every name in `SHAPE`): ``POST
/v1beta1/images:classify?key=KEY`` on ``contentsafety.googleapis.com`` with the JSON body
``{"images": ["<base64>", ...]}`` (up to 32 images, BMP/GIF/ICO/JPEG/PNG/PPM/TIFF/WEBP,
at most 10 MB in all; about 640x480 pixels advised, never enlarged; JPEG at quality 90 or
more advised), answered with ``{"reviewPriorities": [...], "modelVersion": "..."}``, one
priority per image, in order, of ``VERY_LOW``, ``LOW``, ``MEDIUM``, ``HIGH``,
``VERY_HIGH``: the higher, the more likely the image is abuse material, an indication for
review, never a confirmation.

The priorities are ordinal: `PRIORITY_VALUES` maps them to the middles of five equal
steps of 0-1 (0.1, 0.3, 0.5, 0.7, 0.9), so that they order the queue with the other
scores; they are not calibrated probabilities. ``HIGH`` and above count as likely
(`GoogleContentSafety.default_threshold` 0.7).
"""

from __future__ import annotations

import base64
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from vangnet.config import Settings
from vangnet.egress.policy import EgressPolicy
from vangnet.remote.service import (
    Endpoint,
    RemoteClassifierError,
    RemoteService,
    encode,
    endpoint_key,
    read_key,
)
from vangnet.signals.classifiers.base import Classifier, Evidence, Pixels, Score
from vangnet.signals.classifiers.fusion import ABUSE_MATERIAL

#: The documented review priorities, lowest first, and the value each one is given.
PRIORITY_VALUES: dict[str, float] = {
    "VERY_LOW": 0.1,
    "LOW": 0.3,
    "MEDIUM": 0.5,
    "HIGH": 0.7,
    "VERY_HIGH": 0.9,
}


@dataclass(frozen=True)
class GoogleShape:
    """Every name the adapter reads or writes, in one place."""

    key_parameter: str = "key"  # the API key, as a query parameter
    images: str = "images"  # request: the list of base64-encoded pictures
    priorities: str = "reviewPriorities"  # answer: one priority per picture, in order
    model_version: str = "modelVersion"  # answer: optional
    max_images: int = 32  # the most pictures one request may carry
    jpeg_quality: int = 90
    values: dict[str, float] = field(default_factory=lambda: dict(PRIORITY_VALUES))


SHAPE = GoogleShape()


def read_priorities(answer: Any, expected: int, shape: GoogleShape = SHAPE) -> list[str]:
    """The priorities of one answer, one per picture sent; `RemoteClassifierError`
    naming what is wrong when the answer is not of the documented shape."""
    found = answer.get(shape.priorities) if isinstance(answer, dict) else None
    if not isinstance(found, list):
        raise RemoteClassifierError(
            f"google_content_safety: the answer has no {shape.priorities} list (wrong shape)"
        )
    if len(found) != expected:
        raise RemoteClassifierError(
            f"google_content_safety: {shape.priorities} holds {len(found)} priorities for "
            f"{expected} pictures (wrong shape)"
        )
    for priority in found:
        if priority not in shape.values:
            known = ", ".join(shape.values)
            raise RemoteClassifierError(
                f"google_content_safety: unknown review priority {priority!r} (known: {known})"
            )
    return list(found)


class GoogleContentSafety(Classifier):
    """Google's Content Safety API, a remote service: see the module."""

    name: ClassVar[str] = "google_content_safety"
    version: ClassVar[str] = "v1beta1"
    measures: ClassVar[str] = ABUSE_MATERIAL
    description: ClassVar[str] = (
        "Google Content Safety API review priority (remote service: pictures are sent to "
        "google_content_safety_url)"
    )
    licence: ClassVar[str] = "LicenseRef-Google-Content-Safety-API"
    default_threshold: ClassVar[float] = PRIORITY_VALUES["HIGH"]
    #: 640 x 480 is about the 300,000 pixels the service advises; smaller is not enlarged
    max_side: ClassVar[int] = 640
    batch_size: ClassVar[int] = 8

    def __init__(self, service: RemoteService, batch_size: int = 8) -> None:
        self._service = service
        # pictures per request: the setting, at most what the service takes
        vars(self)["batch_size"] = max(1, min(batch_size, SHAPE.max_images))

    @classmethod
    def from_settings(cls, settings: Settings) -> Classifier:
        url = settings.google_content_safety_url
        if not url:
            raise RemoteClassifierError("google_content_safety: its URL is not set")
        key = read_key(
            settings.google_content_safety_api_key, settings.google_content_safety_api_key_file
        )
        endpoint = Endpoint(
            name=cls.name,
            url=url,
            key=key,
            timeout=settings.google_content_safety_timeout_seconds,
            per_second=settings.google_content_safety_requests_per_second,
            max_retries=settings.google_content_safety_max_retries,
        )
        service = RemoteService(endpoint, EgressPolicy.from_settings(settings))
        return cls(service, settings.google_content_safety_batch_size)

    @classmethod
    def settings_key(cls, settings: Settings) -> Hashable:
        return endpoint_key(settings, "google_content_safety")

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        scores: list[Score] = []
        step = self.batch_size
        for start in range(0, len(pictures), step):
            scores.extend(self._score_batch(pictures[start : start + step]))
        return scores

    def _score_batch(self, pictures: Sequence[Pixels]) -> list[Score]:
        service = self._service
        images = [
            base64.b64encode(encode(p, quality=SHAPE.jpeg_quality)).decode("ascii")
            for p in pictures
        ]
        answer = service.post(
            params={SHAPE.key_parameter: service.endpoint.key}, json={SHAPE.images: images}
        )
        body = service.answer_json(answer)
        priorities = read_priorities(body, len(pictures))
        model = body.get(SHAPE.model_version)
        detail_extra = {"model_version": model} if isinstance(model, str) and model else {}
        scores = []
        for priority in priorities:
            value = SHAPE.values[priority]
            evidence = Evidence(
                label="review_priority",
                score=value,
                detail={"priority": priority, **detail_extra},
            )
            scores.append(
                Score(
                    classifier=self.name,
                    version=self.version,
                    measures=self.measures,
                    value=value,
                    evidence=(evidence,),
                    summary=f"review priority {priority} (Google Content Safety)",
                )
            )
        return scores
