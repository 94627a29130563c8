"""Regions of live samples: where a banked picture may sit inside a stream's frame (a
picture-in-picture inset, a tile of a video-call grid, a player's viewport, the picture
without bars), hashed with PDQ for the processor's batched lookup.

Reading a frame's layout (`vangnet.signals.regions.propose`) costs several times a PDQ of
the sample; hashing the regions it found costs about one PDQ each. A stream's layout seldom
changes between samples (a call grid, an inset, a player window stay where they are), so
each stream keeps the regions it last read (`StreamRegions`) and reads them again only
every ``live_regions_every`` samples, or sooner when the sample's coarse picture (a 32x18
grey copy) changed by more than ``live_regions_change`` since; the samples in between hash
the regions last read. A sample whose layout holds no region (one natural picture) then
costs only the coarse copy. The layout is read on the sample, or with
``live_regions_layout_side`` above 512 on the decoded frame scaled to that side (a
picture-in-picture inset a quarter of the frame wide is about 100 pixels wide on the sample,
often too few for its frame to be found; 1024 finds about twice as many, at about four times
the cost per read); the regions are always hashed on the sample.

Each stream has a CPU budget for this work (``live_regions_budget_ms`` per second of stream
time, `vangnet.live.budget.CpuBudget`): a sample that comes while the stream is over
budget is matched on its whole frame only and counted (``regions_skipped``); region work
that fails is logged and counted (``regions_failed``); neither stops the whole frame's
matching.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from vangnet.config import Settings
from vangnet.live.budget import CpuBudget
from vangnet.media.regions.deskew import Skewed, upright
from vangnet.media.regions.edges import Box
from vangnet.signals.pdq import RgbArray, dihedral_hashes, hash_pixels
from vangnet.signals.regions import ProposalKind, RegionHash, propose

#: The coarse copy of a sample that layout changes are measured on (width, height).
COARSE_SIZE = (32, 18)
#: A sample whose sides are within this share of those the layout was read on has the same
#: layout (the black bars cropped from a frame may vary by a pixel or two).
SAME_SHAPE = 0.02

Coarse = npt.NDArray[np.int16]


def coarse(pixels: RgbArray) -> Coarse:
    """The 32x18 grey copy of a sample that layout changes are measured on."""
    grey = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, COARSE_SIZE, interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.int16)


@dataclass
class StreamRegions:
    """What one stream keeps between samples: the regions last read (``boxes``, in the
    sample's pixels), the coarse copy they were read on, samples since, and its budget."""

    boxes: tuple[tuple[Box, ProposalKind, Skewed | None], ...] = ()
    shape: tuple[int, int] | None = None
    coarse: Coarse | None = None
    since: int = 0
    budget: CpuBudget = field(default_factory=CpuBudget)  # live_regions_budget_ms
    layouts_read: int = 0

    def allowed(self, stream_time: float, settings: Settings) -> bool:
        """Whether the stream's budget allows region work on a sample at ``stream_time``
        (`vangnet.live.budget.CpuBudget`)."""
        return self.budget.allowed(stream_time, settings.live_regions_budget_ms)

    def spend(self, seconds: float, settings: Settings) -> None:
        self.budget.spend(seconds, settings.live_regions_budget_ms)

    @staticmethod
    def _read(
        pixels: RgbArray, settings: Settings, larger: Callable[[int], RgbArray] | None
    ) -> tuple[tuple[Box, ProposalKind, Skewed | None], ...]:
        """The regions of the sample (`propose`), in its pixels; a ``deskewed`` one with the
        rotated picture it holds."""
        height, width = pixels.shape[:2]
        side = settings.live_regions_layout_side
        picture = pixels
        if larger is not None and side > max(height, width):
            picture = larger(side)
        factor = width / picture.shape[1] if picture.shape[1] else 1.0
        found = propose(
            picture,
            most=settings.live_regions_max,
            min_side=max(1, round(settings.live_region_min_side / factor)),
        )
        if picture is pixels:
            return tuple((p.box, p.kind, p.skewed) for p in found)
        return tuple(
            (
                p.box.scaled(factor, width, height),
                p.kind,
                p.skewed.scaled(factor) if p.skewed is not None else None,
            )
            for p in found
        )

    def stale(self, pixels: RgbArray, small: Coarse, settings: Settings) -> bool:
        """Whether the layout must be read again for this sample."""
        if self.coarse is None or self.shape is None:
            return True
        height, width = pixels.shape[:2]
        if (
            abs(height - self.shape[0]) > SAME_SHAPE * self.shape[0]
            or abs(width - self.shape[1]) > SAME_SHAPE * self.shape[1]
        ):
            return True  # other bars or another frame size: another layout
        if self.since >= settings.live_regions_every:
            return True
        change = float(np.abs(small - self.coarse).mean())
        return change > settings.live_regions_change

    def hashes(
        self,
        pixels: RgbArray,
        settings: Settings,
        *,
        dihedral: bool,
        larger: Callable[[int], RgbArray] | None = None,
    ) -> tuple[RegionHash, ...]:
        """PDQ of each region of ``pixels`` (a sample's), the layout read again when
        `stale` (on ``larger(live_regions_layout_side)``, the same picture scaled from the
        decoded frame, when given: small insets are found there); boxes in the sample's
        pixels."""
        small = coarse(pixels)
        if self.stale(pixels, small, settings):
            self.boxes = self._read(pixels, settings, larger)
            self.shape = (int(pixels.shape[0]), int(pixels.shape[1]))
            self.coarse = small
            self.since = 0
            self.layouts_read += 1
        self.since += 1
        out: list[RegionHash] = []
        for box, kind, skewed in self.boxes:
            # a picture turned by a few degrees is hashed turned back upright, as
            # `vangnet match` does (`vangnet.signals.regions.region_hashes`)
            crop = box.crop(pixels) if skewed is None else upright(pixels, skewed)
            angle = 0.0 if skewed is None else skewed.angle
            if dihedral:
                variants, quality = dihedral_hashes(crop)
                out.append(RegionHash(box, kind, variants[0], quality, tuple(variants), angle))
            else:
                pdq, quality = hash_pixels(crop)
                out.append(RegionHash(box, kind, pdq, quality, (), angle))
        return tuple(out)
