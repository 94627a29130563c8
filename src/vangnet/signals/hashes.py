"""What hashing one file yields: `Hashes`, the typed result passed from hashing to matching,
cases and banks.

`vangnet.signals.hashing.hash_bytes` and `hash_file` return a `Hashes`; the stages read its
attributes (`Hashes.values`, `Hashes.video_frames`, ...), banks store `Hashes.signal_values`,
and the one JSON shape of ``vangnet hash --json``, ``/v1/hash`` and ``/v1/match`` is made by
`Hashes.to_json` (the inverse is `Hashes.from_json`).

The JSON object, key by key and in this order:

- ``path``, ``content_type`` (``"photo"`` or ``"video"``);
- each single-value signal in the order it was computed (the exact digests of every file, then
  a photo's picture hashes such as ``pdq``), each picture hash followed by
  ``<name>_quality`` when it has a quality;
- ``pdq_dihedral``: the 8 rotation / flip variants of a photo's PDQ, when asked for;
- ``frames``: the frames of an animated image (``{frame, pdq, quality}``), when asked for;
- per-frame video signals (``vpdq``, ``vpdq_cropped``, ``vpdq_regions``): lists of
  ``{frame, timestamp, pdq, quality}`` (``region`` too for a half-frame).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from vangnet.errors import ValidationError
from vangnet.signals.base import ContentType, FrameHashes, SignalType
from vangnet.signals.crops import KIND as CROPS_KIND
from vangnet.signals.features import KIND as FEATURES_KIND
from vangnet.signals.features import QueryPicture
from vangnet.signals.regions import RegionHash
from vangnet.signals.registry import signal_types
from vangnet.signals.vpdq import FrameRegions, VpdqFrame, frame_dicts, frames_of

#: JSON keys that are not a signal's value.
_PATH, _TYPE, _DIHEDRAL, _FRAMES = "path", "content_type", "pdq_dihedral", "frames"
_QUALITY = "_quality"


@dataclass(frozen=True, slots=True)
class ImageFrame:
    """One frame of an animated image: its number (0 = the first), PDQ and PDQ quality."""

    frame: int
    pdq: str
    quality: int

    def to_json(self) -> dict[str, Any]:
        return {"frame": self.frame, "pdq": self.pdq, "quality": self.quality}


@dataclass(frozen=True, slots=True)
class Hashes:
    """The hashes of one file or blob.

    ``values`` holds each single-value signal by signal-type name (exact digests, PDQ and any
    installed plug-in's picture hash), in the order computed; ``qualities`` the quality of
    those that have one. ``dihedral`` is empty unless the 8 PDQ variants were asked for;
    ``frames`` is empty unless every frame of an animated image was asked for (and it had
    more than one). ``video_frames`` holds a video's per-frame signals by name. ``regions``
    is empty unless a photo's regions were asked for (`vangnet.signals.regions`): they are
    for matching only, and not part of the JSON object. ``features`` holds a photo hashed for
    a bank's local features (`vangnet.signals.features.pack`, kind
    `vangnet.signals.features.KIND`) when asked for, and with them ``crops``: the PDQs of
    its standard crops (`vangnet.signals.crops`, wider-net candidates only, never the
    photo's own hashes); ``picture`` the decoded photo kept for
    the matcher's verification of wider-net candidates (`QueryPicture`). Neither is part of
    the JSON object. Treat the mappings as read-only.
    """

    path: str
    content_type: ContentType
    values: Mapping[str, str] = field(default_factory=dict)
    qualities: Mapping[str, int] = field(default_factory=dict)
    dihedral: tuple[str, ...] = ()
    frames: tuple[ImageFrame, ...] = ()
    video_frames: Mapping[str, tuple[VpdqFrame, ...]] = field(default_factory=dict)
    regions: tuple[RegionHash, ...] = ()
    features: bytes | None = field(default=None, compare=False, repr=False)
    crops: bytes | None = field(default=None, compare=False, repr=False)
    picture: QueryPicture | None = field(default=None, compare=False, repr=False)
    #: Sampled frames of a video with their regions' PDQs (`match_video_frames`), for
    #: matching against banked photos only; not part of the JSON object either.
    photo_frames: tuple[FrameRegions, ...] = ()

    def value(self, name: str) -> str | None:
        """The value of single-value signal ``name``, or None."""
        return self.values.get(name)

    def kept_features(self) -> dict[str, bytes]:
        """`features` and `crops` by kind, as a bank keeps them (`vangnet.banks.features`);
        empty when they were not computed."""
        kept = {FEATURES_KIND: self.features, CROPS_KIND: self.crops}
        return {kind: data for kind, data in kept.items() if data}

    def quality(self, name: str) -> int | None:
        """The quality of signal ``name``'s value, or None."""
        return self.qualities.get(name)

    def signal_values(
        self, installed: Mapping[str, type[SignalType]] | None = None
    ) -> dict[str, str]:
        """Each installed signal type's value, as banks store it (one string per type, in
        the order of ``installed``, by default the registry's; per-frame signals serialised
        as python-threatexchange does)."""
        out: dict[str, str] = {}
        for name, cls in (signal_types() if installed is None else installed).items():
            if issubclass(cls, FrameHashes):
                frames = self.video_frames.get(name)
                if frames is not None:
                    out[name] = cls.serialize(list(frames))
            elif name in self.values:
                out[name] = self.values[name]
        return out

    def to_json(self) -> dict[str, Any]:
        """The JSON object of ``vangnet hash --json`` and the API (see the module docstring):
        the one place that shape is made."""
        out: dict[str, Any] = {_PATH: self.path, _TYPE: self.content_type.value}
        for name, value in self.values.items():
            out[name] = value
            if name in self.qualities:
                out[f"{name}{_QUALITY}"] = self.qualities[name]
        if self.dihedral:
            out[_DIHEDRAL] = list(self.dihedral)
        if self.frames:
            out[_FRAMES] = [f.to_json() for f in self.frames]
        for name, frames in self.video_frames.items():
            out[name] = frame_dicts(list(frames))
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Hashes:
        """The `Hashes` of a `to_json` object (a line of ``vangnet hash --json``); raises
        `ValidationError` for an object of another shape."""
        try:
            kind = ContentType(data[_TYPE])
            values: dict[str, str] = {}
            qualities: dict[str, int] = {}
            video: dict[str, tuple[VpdqFrame, ...]] = {}
            for key, item in data.items():
                if key in (_PATH, _TYPE, _DIHEDRAL, _FRAMES):
                    continue
                if key.endswith(_QUALITY) and key.removesuffix(_QUALITY) in data:
                    qualities[key.removesuffix(_QUALITY)] = int(item)
                elif isinstance(item, list):
                    video[key] = tuple(frames_of(item))
                elif isinstance(item, str):
                    values[key] = item
                else:
                    raise ValidationError(f"hashes: unexpected value for '{key}'")
            return cls(
                path=str(data[_PATH]),
                content_type=kind,
                values=values,
                qualities=qualities,
                dihedral=tuple(str(v) for v in data.get(_DIHEDRAL) or ()),
                frames=tuple(
                    ImageFrame(int(f["frame"]), str(f["pdq"]), int(f["quality"]))
                    for f in data.get(_FRAMES) or ()
                ),
                video_frames=video,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"not a hashes object: {exc!r}") from None

    # Read-only access by JSON key, for code written against the dict `hash_file` used to
    # return: ``hashes["pdq"]`` is ``hashes.to_json()["pdq"]``. New code reads the attributes.

    def __getitem__(self, key: str) -> object:
        return self.to_json()[key]

    def __contains__(self, key: object) -> bool:
        return key in self.to_json()

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_json())

    def keys(self) -> list[str]:
        return list(self.to_json())

    def get(self, key: str, default: object = None) -> object:
        return self.to_json().get(key, default)
