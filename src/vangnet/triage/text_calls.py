"""Is this picture a screenshot of a video call? A simple, explainable score from four clues:

1. **App chrome**: flat UI bars along an edge of the picture (a toolbar with buttons or text,
   not a plain black letterbox bar) around a large natural-image region (the video).
2. **Picture-in-picture**: a smaller rectangle of natural image in a corner, with straight
   edges on its inner sides (the caller's self-view).
3. **Call-control words** read by OCR: "mute", "end call", "camera", "leave", a participant
   count ... (English, Dutch, German, French, Spanish, Tagalog / Filipino).
4. **App names** of video-call, streaming and messaging apps (`text_hints.APPS`).

Each clue adds a weight (`vangnet.triage.tuning.CallScoring`, the settings
``triage_call_*``); the sum is capped at 1. A media-player screenshot (a media file name in a
title bar, playback timecodes, a player's name) is a recording being watched, not a call: its
score is capped at ``CallScoring.player_cap`` and the reason says "media player". The default
weights are hand-set on synthetic composites and the benign photos, not trained.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, NamedTuple

import cv2
import numpy as np
import numpy.typing as npt

from vangnet.triage.text_hints import AppKind, hints_from_lines
from vangnet.triage.text_ocr import RGB, OcrResult, fit
from vangnet.triage.tuning import CallScoring, default

#: Longer side of the picture the image clues are computed on.
ANALYSIS_SIDE = 480

# What each clue adds to the score: `CallScoring` (settings ``triage_call_*``).
DEFAULT_SCORING = CallScoring()
#: Highest score of a picture that shows a media player, by default.
PLAYER_CAP = DEFAULT_SCORING.player_cap
#: Score from which a picture is called a likely video-call screenshot, by default (the
#: setting ``triage_call_likely``; the web workbench passes the value in force).
LIKELY: float = default("triage_call_likely")

# Bars: a row belongs to a bar when this share of its pixels is within `BAR_TOLERANCE` of
# the bar's colour; bars are `BAR_MIN`..`BAR_MAX` of the side; a bar with icons or text has
# `BAR_MARKED_SHARE` of its pixels differing from the bar colour by `BAR_MARK_CONTRAST`.
BAR_UNIFORM = 0.6
BAR_TOLERANCE = 10
BAR_MIN, BAR_MAX = 0.03, 0.3
BAR_MARK_CONTRAST = 80
BAR_MARKED_SHARE = 0.002
#: The remaining (video) region must be at least this share of the picture.
MAIN_MIN_AREA = 0.4

# Insets: width and height between `INSET_MIN` and `INSET_MAX` of the picture's, at most
# `INSET_MARGIN` from its edges. A pixel is on an edge where some colour channel steps by
# `EDGE_STEP` (0-255). Each inner side must be a line of edges: its edge coverage less the
# mean edge density 4-5 pixels beside it at least `EDGE_LINE`, or, in dense texture, at
# least `EDGE_SOLID` coverage and `EDGE_ABOVE_TEXTURE` more than every line beside it. The
# two sides from the inner corner must be `EDGE_START` edge over the smallest inset size.
INSET_MIN, INSET_MAX = 0.12, 0.45
INSET_MARGIN = 0.12
EDGE_STEP = 24
EDGE_LINE = 0.5
EDGE_SOLID = 0.9
EDGE_ABOVE_TEXTURE = 0.25
EDGE_START = 0.6

_CONTROL_WORDS: dict[str, tuple[str, ...]] = {
    "mute": (r"mute", r"unmute", r"dempen", r"stummschalten", r"muet", r"silenciar",
             r"silencio", r"i-mute"),
    "camera": (r"camera", r"kamera", r"caméra", r"cámara", r"stop video", r"start video",
               r"video off", r"video aan", r"video uit"),
    "end call": (r"end call", r"end meeting", r"hang up", r"leave(?: meeting| call)?", r"ophangen",
                 r"verlaten", r"gesprek beëindigen", r"auflegen", r"verlassen", r"raccrocher",
                 r"quitter", r"colgar", r"salir", r"tapusin", r"ibaba"),
    "microphone": (r"mic(?:rophone)?", r"microfoon", r"mikrofon", r"micrófono"),
    "speaker": (r"speaker", r"luidspreker", r"lautsprecher", r"haut-parleur", r"altavoz"),
    "share screen": (r"share screen", r"scherm delen", r"bildschirm teilen",
                     r"partager l'écran", r"compartir pantalla"),
    "participants": (r"participants?", r"deelnemers?", r"teilnehmer(?:in|innen)?",
                     r"participantes?", r"\d+ (?:people|personen|people in call)"),
    "flip camera": (r"flip camera", r"switch camera", r"camera wisselen"),
    "call": (r"video call", r"videocall", r"videogesprek", r"videoanruf", r"appel vidéo",
             r"videollamada", r"calling", r"ringing", r"gaat over", r"connecting"),
}  # fmt: skip
_CONTROL_RES = {
    key: re.compile(rf"(?<![\w])(?:{'|'.join(words)})(?![\w])", re.I)
    for key, words in _CONTROL_WORDS.items()
}
_CALL_APP_KINDS = {AppKind.VIDEO_CALL.value, AppKind.STREAMING.value, AppKind.MESSAGING.value}


class CallLikelihood(NamedTuple):
    """``score`` 0-1 and the clues behind it, in words."""

    score: float
    reasons: list[str]


Side = Literal["top", "bottom", "left", "right"]
_SIDES: tuple[Side, ...] = ("top", "bottom", "left", "right")


@dataclass(frozen=True)
class Bar:
    side: Side
    share: float  # thickness as a share of the picture's side
    marked: bool  # has icons or text (a toolbar), not a plain letterbox bar


# -- image clues ----------------------------------------------------------------------------------


def _oriented(rgb: npt.NDArray[np.int16], side: Side) -> npt.NDArray[np.int16]:
    """The picture turned so ``side`` is on top."""
    if side == "top":
        return rgb
    if side == "bottom":
        return rgb[::-1]
    if side == "left":
        return np.transpose(rgb, (1, 0, 2))
    return np.transpose(rgb, (1, 0, 2))[::-1]


def _bar(rgb: npt.NDArray[np.int16], side: Side) -> Bar | None:
    """The UI bar along ``side``, if any: rows from the edge that are mostly one colour (the
    colour of the edge row), ending at a straight edge against different content."""
    view = _oriented(rgb, side)
    height = view.shape[0]
    colour = np.median(view[0], axis=0)
    rows = 0
    marks = 0
    while rows < int(BAR_MAX * height) + 1 and rows < height:
        difference = np.abs(view[rows] - colour).max(axis=1)
        if float((difference <= BAR_TOLERANCE).mean()) < BAR_UNIFORM:
            break
        marks += int((difference >= BAR_MARK_CONTRAST).sum())
        rows += 1
    if not BAR_MIN * height <= rows <= BAR_MAX * height or rows >= height - 1:
        return None
    # The row after the bar must differ from the bar colour over most of its width.
    after = np.abs(view[rows] - colour).max(axis=1) > BAR_TOLERANCE
    if after.mean() < 0.5:
        return None
    return Bar(side, rows / height, marked=marks >= BAR_MARKED_SHARE * rows * view.shape[1])


def bars(rgb: RGB) -> list[Bar]:
    """UI or letterbox bars along the edges of a picture (see `_bar`)."""
    small = fit(rgb, max_side=ANALYSIS_SIDE)[0].astype(np.int16)
    found = (_bar(small, side) for side in _SIDES)
    return [b for b in found if b is not None]


def is_natural(rgb: RGB) -> bool:
    """Looks like camera content rather than flat UI: many colours, few perfectly flat spots."""
    if rgb.shape[0] < 8 or rgb.shape[1] < 8:
        return False
    quantised = (rgb[::2, ::2] // 16).reshape(-1, 3).astype(np.int32)
    colours = len(np.unique(quantised[:, 0] * 256 + quantised[:, 1] * 16 + quantised[:, 2]))
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.int16)
    flat = (np.abs(np.diff(grey, axis=1))[:-1, :] == 0) & (
        np.abs(np.diff(grey, axis=0))[:, :-1] == 0
    )
    return colours >= 24 and float(flat.mean()) < 0.5


def _edges(rgb: npt.NDArray[np.int16]) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Vertical edges (between columns x-1 and x) and horizontal edges (rows y-1 and y): a
    step of at least `EDGE_STEP` in some colour channel, widened by one pixel across so a
    border off by one still lines up."""
    vertical = np.zeros(rgb.shape[:2], dtype=bool)
    horizontal = np.zeros(rgb.shape[:2], dtype=bool)
    vertical[:, 1:] = np.abs(np.diff(rgb, axis=1)).max(axis=2) >= EDGE_STEP
    horizontal[1:, :] = np.abs(np.diff(rgb, axis=0)).max(axis=2) >= EDGE_STEP
    vertical[:, :-1] |= vertical[:, 1:].copy()
    horizontal[:-1, :] |= horizontal[1:, :].copy()
    return vertical, horizontal


def _line_profile(profile: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Edge density along each line less the mean density 4-5 lines to either side."""
    padded = np.pad(profile, 5, mode="edge")
    near = (padded[:-10] + padded[1:-9] + padded[9:-1] + padded[10:]) / 4
    line: npt.NDArray[np.float64] = profile - near
    return line


def _peaks(profile: npt.NDArray[np.float64], low: int, high: int, count: int = 10) -> list[int]:
    """Up to ``count`` positions in [low, high) with the strongest profile, 3+ apart."""
    order = np.argsort(profile[low:high])[::-1] + low
    chosen: list[int] = []
    for pos in order:
        if profile[pos] <= 0 or len(chosen) >= count:
            break
        if all(abs(int(pos) - c) >= 3 for c in chosen):
            chosen.append(int(pos))
    return chosen


def _line_strength(coverage: float, near: list[float]) -> float:
    """How much a line of edges stands out from the parallel lines 4-5 pixels beside it
    (``near``): texture has edges everywhere, a border is a line of them."""
    if not near:
        return coverage
    strength = coverage - sum(near) / len(near)
    if coverage >= EDGE_SOLID and coverage - max(near) >= EDGE_ABOVE_TEXTURE:
        strength = max(strength, EDGE_LINE)
    return min(coverage, strength)


def _bottom_right_inset(
    rgb: npt.NDArray[np.int16],
    vertical: npt.NDArray[np.bool_],
    horizontal: npt.NDArray[np.bool_],
) -> tuple[int, int, int, int] | None:
    """An inset rectangle (x0, y0, x1, y1) near the bottom-right corner, if one stands out:
    a line of edges (`EDGE_LINE`) along every side that is not the picture's border, and
    natural content inside. ``vertical`` / ``horizontal`` are `_edges` of ``rgb``."""
    height, width = rgb.shape[:2]
    v_sum = np.vstack([np.zeros((1, width)), np.cumsum(vertical, axis=0)])  # rows prefix
    h_sum = np.hstack([np.zeros((height, 1)), np.cumsum(horizontal, axis=1)])  # cols prefix

    def column(x: int, y0: int, y1: int) -> float:
        return float(v_sum[y1, x] - v_sum[y0, x]) / max(1, y1 - y0)

    def row(y: int, x0: int, x1: int) -> float:
        return float(h_sum[y, x1] - h_sum[y, x0]) / max(1, x1 - x0)

    def column_line(x: int, y0: int, y1: int) -> float:
        near = [column(n, y0, y1) for n in (x - 5, x - 4, x + 4, x + 5) if 0 <= n < width]
        return _line_strength(column(x, y0, y1), near)

    def row_line(y: int, x0: int, x1: int) -> float:
        near = [row(n, x0, x1) for n in (y - 5, y - 4, y + 4, y + 5) if 0 <= n < height]
        return _line_strength(row(y, x0, x1), near)

    lower = slice(int(height * (1 - INSET_MAX - INSET_MARGIN)), height)
    right = slice(int(width * (1 - INSET_MAX - INSET_MARGIN)), width)
    col_profile = _line_profile(vertical[lower, :].mean(axis=0).astype(np.float64))
    row_profile = _line_profile(horizontal[:, right].mean(axis=1).astype(np.float64))
    lefts = _peaks(col_profile, int(width * (1 - INSET_MAX - INSET_MARGIN)), int(width * 0.9))
    tops = _peaks(row_profile, int(height * (1 - INSET_MAX - INSET_MARGIN)), int(height * 0.9))
    rights = [width, *_peaks(col_profile, int(width * (1 - INSET_MARGIN)), width - 1, 4)]
    bottoms = [height, *_peaks(row_profile, int(height * (1 - INSET_MARGIN)), height - 1, 4)]
    min_w, min_h = int(INSET_MIN * width), int(INSET_MIN * height)
    best: tuple[float, tuple[int, int, int, int]] | None = None
    for x0 in lefts:
        for y0 in tops:
            # Both inner sides must already be mostly edge over the smallest inset size.
            if (
                column(x0, y0, min(height, y0 + min_h)) < EDGE_START
                or row(y0, x0, min(width, x0 + min_w)) < EDGE_START
            ):
                continue
            for x1 in rights:
                if not min_w <= x1 - x0 <= INSET_MAX * width:
                    continue
                for y1 in bottoms:
                    if not min_h <= y1 - y0 <= INSET_MAX * height:
                        continue
                    sides = [column_line(x0, y0, y1), row_line(y0, x0, x1)]
                    if x1 < width:
                        sides.append(column_line(x1, y0, y1))
                    if y1 < height:
                        sides.append(row_line(y1, x0, x1))
                    strength = min(sides)
                    if strength >= EDGE_LINE and (best is None or strength > best[0]):
                        best = (strength, (x0, y0, x1, y1))
    if best is None:
        return None
    x0, y0, x1, y1 = best[1]
    inside = rgb[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2].astype(np.uint8)
    return best[1] if is_natural(inside) else None


def inset(rgb: RGB) -> tuple[str, tuple[int, int, int, int]] | None:
    """A picture-in-picture inset in a corner: the corner ("top-left" ...) and its box in
    the coordinates of ``rgb``, or None."""
    small, scale = fit(rgb, max_side=ANALYSIS_SIDE)
    view = small.astype(np.int16)
    height, width = view.shape[:2]
    vertical, horizontal = _edges(view)
    for corner, flip_y, flip_x in (
        ("bottom-right", False, False),
        ("bottom-left", False, True),
        ("top-right", True, False),
        ("top-left", True, True),
    ):
        flip = (slice(None, None, -1 if flip_y else 1), slice(None, None, -1 if flip_x else 1))
        found = _bottom_right_inset(view[flip], vertical[flip], horizontal[flip])
        if found is None:
            continue
        x0, y0, x1, y1 = found
        if flip_x:
            x0, x1 = width - x1, width - x0
        if flip_y:
            y0, y1 = height - y1, height - y0
        return corner, (round(x0 / scale), round(y0 / scale), round(x1 / scale), round(y1 / scale))
    return None


# -- text clues -----------------------------------------------------------------------------------


def control_words(lines: list[str]) -> list[str]:
    """The kinds of call controls named in ``lines`` ("mute", "end call", ...)."""
    text = "\n".join(lines)
    return [key for key, regex in _CONTROL_RES.items() if regex.search(text)]


def video_call_likelihood(
    rgb: RGB, ocr: OcrResult | None, scoring: CallScoring = DEFAULT_SCORING
) -> CallLikelihood:
    """How likely ``rgb`` (an RGB picture) is a screenshot of a video call; ``ocr`` is its
    OCR result (None: image clues only), ``scoring`` the weight of each clue."""
    score = 0.0
    reasons: list[str] = []
    small = fit(rgb, max_side=ANALYSIS_SIDE)[0]
    height, width = small.shape[:2]
    found_bars = bars(small)
    share = {side: sum(b.share for b in found_bars if b.side == side) for side in _SIDES}
    y0, y1 = int(share["top"] * height), height - int(share["bottom"] * height)
    x0, x1 = int(share["left"] * width), width - int(share["right"] * width)
    main = small[y0:y1, x0:x1]  # the picture inside any bars: the video, if it is a call
    toolbars = [b for b in found_bars if b.marked]
    if toolbars and main.size >= MAIN_MIN_AREA * small.size and is_natural(main):
        score += scoring.chrome
        where = ", ".join(f"{b.side} {b.share:.0%}" for b in toolbars)
        reasons.append(f"app chrome: toolbar ({where}) around a natural-image region")
    pip = inset(main) if main.shape[0] >= 32 and main.shape[1] >= 32 else None
    if pip is not None:
        score += scoring.inset
        corner, (bx0, by0, bx1, by1) = pip
        area = (bx1 - bx0) * (by1 - by0) / (width * height)
        reasons.append(f"picture-in-picture inset in the {corner} corner ({area:.0%} of the area)")
    player: list[str] = []
    if ocr is not None:
        texts = [line.text for line in ocr.lines]
        words = control_words(texts)
        if words:
            score += scoring.control_word * min(len(words), scoring.max_control_words)
            reasons.append("call controls: " + ", ".join(f'"{w}"' for w in words))
        found = hints_from_lines(texts)
        apps = [a["name"] for a in found["apps"] if a["kind"] in _CALL_APP_KINDS]
        if apps:
            score += scoring.call_app
            reasons.append("app: " + ", ".join(apps))
        players = [a["name"] for a in found["apps"] if a["kind"] == AppKind.MEDIA_PLAYER.value]
        player += [f"player {name}" for name in players]
        player += [f'media file "{name}"' for name in found["file_names"][:2]]
        if any(t.startswith("-") for t in found["timecodes"]) or len(found["timecodes"]) >= 2:
            player.append("playback timecodes " + " ".join(found["timecodes"][:3]))
    score = min(1.0, score)
    if player:
        score = min(score, scoring.player_cap)
        reasons.append("media player (a recording being played, not a call): " + "; ".join(player))
    return CallLikelihood(round(score, 3), reasons)
