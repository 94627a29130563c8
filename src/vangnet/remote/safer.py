"""Thorn Safer Predict as a classifier plug-in (``safer_predict``, measures
``abuse_material``): each picture is sent, as a JPEG, to the endpoint in
``safer_predict_url`` and scored with the service's probability that it is child sexual
abuse material.

What is publicly documented of the classifier, and followed here: it scores a picture in
three classes, ``csam``, ``pornography`` and ``other``, each a confidence in 0-1 (summing to
1), under ``classifierPrediction.csam_classifier`` of the answer's ``output.file`` (the
Thorn classifier as Hive's CSAM Detection API documents it, the one public reference of its
answer). Thorn's own request format is not public: the request below (one multipart file
part per picture, the key in an ``Authorization: Token`` header, Hive's ``status[0].response``
envelope accepted around ``output``) is an assumption, kept in `SHAPE` so that a deployment's
contract can correct it in one place. docs/classifiers.md says the same.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class SaferShape:
    """Every name the adapter reads or writes, in one place."""

    auth_header: str = "Authorization"
    auth_scheme: str = "Token"  # the header's value: "<scheme> <key>"
    file_field: str = "media"  # the multipart part that carries the picture
    file_name: str = "picture.jpg"
    content_type: str = "image/jpeg"
    #: optional envelope around ``output``: answer["status"][0]["response"]
    envelope: tuple[str | int, ...] = ("status", 0, "response")
    #: where the three class confidences are, from the object that holds ``output``
    prediction: tuple[str, ...] = ("output", "file", "classifierPrediction", "csam_classifier")
    #: the class whose confidence is the value, and every class read as evidence
    abuse_class: str = "csam"
    classes: tuple[str, ...] = ("csam", "pornography", "other")


SHAPE = SaferShape()


def _step(node: Any, key: str | int) -> Any:
    if isinstance(key, int):
        return node[key] if isinstance(node, list) and len(node) > key else None
    return node.get(key) if isinstance(node, dict) else None


def read_prediction(answer: Any, shape: SaferShape = SHAPE) -> dict[str, float]:
    """The class confidences of one answer; `RemoteClassifierError` naming what is missing
    or wrong when the answer is not of the documented shape."""
    node = answer
    inner = answer
    for key in shape.envelope:
        inner = _step(inner, key)
    if isinstance(inner, dict) and "output" in inner:
        node = inner  # Hive's envelope
    path = ""
    for key in shape.prediction:
        node = _step(node, key)
        path = f"{path}.{key}" if path else key
        if node is None:
            raise RemoteClassifierError(f"safer_predict: the answer has no {path} (wrong shape)")
    if not isinstance(node, dict):
        raise RemoteClassifierError(f"safer_predict: {path} is not an object (wrong shape)")
    found: dict[str, float] = {}
    for name in shape.classes:
        value = node.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RemoteClassifierError(
                f"safer_predict: {path}.{name} is {value!r}, not a number (wrong shape)"
            )
        if not 0.0 <= float(value) <= 1.0:
            raise RemoteClassifierError(
                f"safer_predict: {path}.{name} is {value!r}, not a confidence in 0-1"
            )
        found[name] = float(value)
    return found


class SaferPredict(Classifier):
    """Thorn Safer Predict, a remote service: see the module."""

    name: ClassVar[str] = "safer_predict"
    version: ClassVar[str] = "1"
    measures: ClassVar[str] = ABUSE_MATERIAL
    description: ClassVar[str] = (
        "Thorn Safer Predict (remote service: each picture is sent to safer_predict_url)"
    )
    licence: ClassVar[str] = "LicenseRef-Thorn-Safer"
    default_threshold: ClassVar[float] = 0.5
    max_side: ClassVar[int] = 640
    #: one picture per request: a failed request fails only its own picture
    batch_size: ClassVar[int] = 1

    def __init__(self, service: RemoteService) -> None:
        self._service = service

    @classmethod
    def from_settings(cls, settings: Settings) -> Classifier:
        url = settings.safer_predict_url
        if not url:
            raise RemoteClassifierError("safer_predict: safer_predict_url is not set")
        key = read_key(settings.safer_predict_api_key, settings.safer_predict_api_key_file)
        endpoint = Endpoint(
            name=cls.name,
            url=url,
            key=key,
            timeout=settings.safer_predict_timeout_seconds,
            per_second=settings.safer_predict_requests_per_second,
            max_retries=settings.safer_predict_max_retries,
        )
        return cls(RemoteService(endpoint, EgressPolicy.from_settings(settings)))

    @classmethod
    def settings_key(cls, settings: Settings) -> Hashable:
        return endpoint_key(settings, "safer_predict")

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        return [self._score_one(picture) for picture in pictures]

    def _score_one(self, picture: Pixels) -> Score:
        service = self._service
        answer = service.post(
            headers={SHAPE.auth_header: f"{SHAPE.auth_scheme} {service.endpoint.key}"},
            files={SHAPE.file_field: (SHAPE.file_name, encode(picture), SHAPE.content_type)},
        )
        classes = read_prediction(service.answer_json(answer))
        value = classes[SHAPE.abuse_class]
        return Score(
            classifier=self.name,
            version=self.version,
            measures=self.measures,
            value=value,
            evidence=tuple(Evidence(label=n, score=v) for n, v in classes.items()),
            summary=f"abuse material {value:.2f} (Safer Predict)",
        )
