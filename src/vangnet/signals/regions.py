"""Query-side regions of a photo: where a banked picture may sit inside it, hashed with PDQ.

A banked photo reposted cropped, padded, letterboxed, pasted as a picture-in-picture inset,
shown in a player window or as one tile of a video call has a whole-picture PDQ far from
the banked one. `region_hashes` proposes the rectangles that may hold it, from the pixels
alone (`vangnet.media.regions`), in this order of preference:

1. ``trimmed``: the photo without uniform borders (padding, letterbox / pillarbox bars);
2. ``tile``: the pieces of the photo split at uniform gutters (a video call's tiles, a
   player's picture between its title bar and controls), pixel-exact where the gutters are;
3. ``main``: the main natural picture (a player's viewport, a window's content);
4. ``inset``: pictures pasted onto the photo, found by their frame (`find_framed`; the
   tracer's own inset search, `find_insets`, costs twice as much and found fewer of the
   test's insets);
5. the main picture's near-equal readings (with and without a bar drawn over its edge).

Before them all comes ``deskewed``: a picture rotated by a small angle (0.3 to 20 degrees
either way) inside flat corner wedges (`vangnet.media.regions.deskew`), turned back
upright and cut to its own rectangle; its `Proposal.skewed` and `RegionHash.angle` say by
how much, its box is the rotated picture's bounding box. Most photos have no flat corners
of one colour and stop at that test; when one is found, the main picture is not searched
(the rotated picture holds all there is, and no axis-aligned rectangle fits it).

A rectangle whose sides are not at least ``min_side`` pixels, or which is nearly the whole
photo or another proposal (IoU `SAME_IOU`), is dropped (a deskewed picture only for its
size: its pixels differ from every box's); at most ``most`` are kept. Each is hashed as a
whole picture is (`hash_image`: fitted to 512x512 as Meta's reference does), with its 8
dihedral variants when asked. The matcher looks them all up in one
batched query with the whole photo (`vangnet.match.service.Matcher.lookup_hashes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

from vangnet.media.image import RgbArray
from vangnet.media.regions.deskew import Skewed, find_skewed, upright
from vangnet.media.regions.edges import Box, Cues
from vangnet.media.regions.find import Region, find_regions, work_picture
from vangnet.media.regions.insets import find_framed
from vangnet.media.regions.layout import Lines, tiles, trim
from vangnet.signals.pdq import TRANSFORMS, dihedral_hashes, hash_image

ProposalKind = Literal["deskewed", "trimmed", "main", "tile", "inset", "alternative"]

#: A proposal overlapping the whole photo or a kept proposal this much (IoU) is the same.
SAME_IOU = 0.95
#: Layout (borders, gutters) is read on the photo shrunk to fit within this side ...
LAYOUT_MAX_SIDE = 1024
#: ... the main picture (`find_regions`) within this one, searched only when the photo
#: without its borders is less than this share natural (a plain photo is one picture).
REGIONS_MAX_SIDE = 800
MAIN_NATURAL = 0.9


@dataclass(frozen=True, slots=True)
class Proposal:
    """A rectangle of the decoded picture that may hold a banked picture; ``skewed``: for
    a ``deskewed`` one, the rotated picture inside ``box`` (its bounding box)."""

    box: Box
    kind: ProposalKind
    skewed: Skewed | None = None


@dataclass(frozen=True, slots=True)
class RegionHash:
    """A region's PDQ: ``box`` in the query photo's own pixels (as stored, before any
    reduced-size decode), ``variants`` its 8 dihedral PDQs (`DIHEDRAL_NAMES` order) or
    empty; ``angle``: degrees (counter-clockwise) the picture in ``box`` is rotated by, 0.0
    unless ``deskewed`` (hashed turned back by ``-angle``)."""

    box: Box
    kind: ProposalKind
    pdq: str
    quality: int
    variants: tuple[str, ...] = ()
    angle: float = 0.0

    def transform(self, variant: str | None = None) -> str:
        """How the region was turned to match (`vangnet.match.results.Match.transform`):
        the dihedral ``variant``'s name (`TRANSFORMS`; ``identity`` when None), after
        ``rotate(A)`` when deskewed, ``A`` the degrees counter-clockwise (one decimal) it
        was turned by: ``rotate(-4.0)`` for a picture rotated 4 degrees counter-clockwise,
        ``rotate(7.0)+mirror`` for a mirrored one rotated 7 degrees clockwise."""
        name = variant or TRANSFORMS[0]
        if not self.angle:
            return name
        turn = f"rotate({-self.angle:.1f})"
        return turn if name == TRANSFORMS[0] else f"{turn}+{name}"


@dataclass(frozen=True, slots=True)
class _Layout:
    """What `_layout` reads, in the photo's pixels, and the cues of its working picture."""

    trimmed: Box | None
    grid: list[Box]
    framed: list[Box]
    natural: float  # share of the trimmed box
    cues: Cues
    scale: float
    skewed: Skewed | None


def _layout(rgb: RgbArray, min_side: int) -> _Layout:
    """The trimmed box, the grid tiles, the framed insets and a rotated picture, in
    ``rgb``'s pixels, and the natural share of the trimmed box: one `Cues` and one `Lines`
    of the working picture shared by `trim`, `tiles`, `find_framed` and `find_skewed`."""
    height, width = rgb.shape[:2]
    work, scale = work_picture(rgb, LAYOUT_MAX_SIDE)
    cues = Cues.of(work)
    values = cues.values
    small_side = max(8, int(min_side * scale))
    lines = Lines(values, cues.columns)
    trimmed = trim(values, lines=lines)
    grid = tiles(values, cues.natural, small_side, lines=lines, integral=cues.integral)
    framed = [i.box for i in find_framed(values, cues.natural, min_side=small_side, cues=cues)]
    skewed = find_skewed(values, small_side)
    inside = trimmed or Box(0, 0, values.shape[1], values.shape[0])
    window = cues.natural[inside.y : inside.y + inside.h, inside.x : inside.x + inside.w]
    share = float(window.mean()) if inside.area else 0.0
    if scale < 1.0:
        back = 1.0 / scale
        trimmed = trimmed.scaled(back, width, height) if trimmed else None
        grid = [b.scaled(back, width, height) for b in grid]
        framed = [b.scaled(back, width, height) for b in framed]
        skewed = skewed.scaled(back) if skewed else None
    return _Layout(trimmed, grid, framed, share, cues, scale, skewed)


def propose(rgb: RgbArray, *, most: int, min_side: int) -> list[Proposal]:
    """The regions of ``rgb`` (uint8 H x W x 3) worth looking up, best first (module doc)."""
    height, width = rgb.shape[:2]
    if most <= 0 or min(height, width) < min_side:
        return []
    whole = Box(0, 0, width, height)
    layout = _layout(rgb, min_side)
    main: list[Region] = []
    # chrome around a picture (else it is one picture; a rotated picture holds all there is)
    if layout.natural < MAIN_NATURAL and layout.skewed is None:
        # the layout's cues when its working picture is the one `find_regions` reads
        same = max(height, width) <= min(LAYOUT_MAX_SIDE, REGIONS_MAX_SIDE)
        cues = layout.cues if same else None
        main = find_regions(rgb, work_side=REGIONS_MAX_SIDE, insets=False, cues=cues)
    kept: list[Proposal] = []
    if layout.skewed is not None:
        skewed = layout.skewed
        if min(skewed.width, skewed.height) >= min_side:
            kept.append(Proposal(skewed.box(width, height), "deskewed", skewed))
    ordered: list[Proposal] = []
    if layout.trimmed is not None:
        ordered.append(Proposal(layout.trimmed, "trimmed"))
    ordered.extend(Proposal(b, "tile") for b in layout.grid)
    ordered.extend(Proposal(r.box, "main") for r in main)
    ordered.extend(Proposal(b, "inset") for b in layout.framed)
    ordered.extend(Proposal(a, "alternative") for r in main for a in r.alternatives)
    boxes: list[Box] = []  # a deskewed picture's pixels are like no box's
    for p in ordered:
        if len(kept) >= most:
            break
        if min(p.box.w, p.box.h) < min_side:
            continue
        if p.box.iou(whole) >= SAME_IOU or any(p.box.iou(b) >= SAME_IOU for b in boxes):
            continue
        kept.append(p)
        boxes.append(p.box)
    return kept[:most]


def region_hashes(
    picture: Image.Image,
    *,
    most: int,
    min_side: int,
    dihedral: bool = False,
    size: tuple[int, int] | None = None,
) -> tuple[RegionHash, ...]:
    """PDQ of each proposed region of a decoded RGB ``picture``; ``size``: the photo's own
    (width, height) when it was decoded at a reduced size, so boxes are in its pixels."""
    if most <= 0 or min(picture.size) < min_side:
        return ()
    # Proposals are read on a copy reduced by whole pixel blocks to about `LAYOUT_MAX_SIDE`
    # (which `propose` reads on anyway), not on a second full-size array of the picture: a
    # photo at the pixel cap is held once (`vangnet.media.image._upright_rgb`).
    block = max(1, max(picture.size) // LAYOUT_MAX_SIDE)
    rgb = np.asarray(picture.reduce(block) if block > 1 else picture, dtype=np.uint8)
    own_width, own_height = size or picture.size
    factor = own_width / picture.width
    out: list[RegionHash] = []
    for p in propose(rgb, most=most, min_side=max(1, min_side // block)):
        b = p.box if block == 1 else p.box.scaled(block, picture.width, picture.height)
        angle = 0.0
        if p.skewed is not None:  # turned upright from the reduced copy, only its pixels
            if min(p.skewed.width, p.skewed.height) * block < min_side:
                continue
            crop = Image.fromarray(upright(rgb, p.skewed))
            angle = p.skewed.angle
        elif min(b.w, b.h) < min_side:
            continue
        else:
            crop = picture.crop((b.x, b.y, b.x + b.w, b.y + b.h))
        if dihedral:
            variants, quality = dihedral_hashes(crop)
            pdq = variants[0]
        else:
            (pdq, quality), variants = hash_image(crop), []
        shown = b if factor == 1.0 else b.scaled(factor, own_width, own_height)
        out.append(RegionHash(shown, p.kind, pdq, quality, tuple(variants), angle))
    return tuple(out)
