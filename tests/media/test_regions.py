"""Regions of a picture from its pixels (`vangnet.media.regions`): the main picture and
insets of a screenshot, uniform borders, grid tiles and framed pasted pictures.

Pictures are the benign sample screenshots and BSDS500 photos of ``../shared/data``,
composed in memory."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from vangnet.media.image import decode_image
from vangnet.media.regions.edges import (
    GAP_PENALTY,
    Box,
    EdgeMap,
    _boundary_steps,
    luma,
    natural_map,
    rectangles,
    transposed,
)
from vangnet.media.regions.find import find_regions
from vangnet.media.regions.insets import find_framed
from vangnet.media.regions.layout import (
    UNIFORM_SHARE,
    UNIFORM_TOLERANCE,
    Lines,
    _row_medians,
    tiles,
    trim,
    uniform_lines,
)

SCREENSHOTS = "threatexchange/video/sample-videos/screenshots"


def _rgb(data: bytes) -> np.ndarray:
    return np.asarray(decode_image(data, fast=False)[0], dtype=np.uint8)


def _photos(shared_data: Path) -> list[Image.Image]:
    paths = sorted((shared_data / "photos" / "bsds500" / "test").glob("*.jpg"))[:6]
    return [Image.open(io.BytesIO(p.read_bytes())).convert("RGB") for p in paths]


def _near(box: Box, want: Box, slack: int = 3) -> bool:
    return (
        abs(box.x - want.x) <= slack
        and abs(box.y - want.y) <= slack
        and abs(box.x + box.w - want.x - want.w) <= slack
        and abs(box.y + box.h - want.y - want.h) <= slack
    )


def test_finds_the_video_region_of_a_player_window(shared_data: Path) -> None:
    # the chrome-less window of chair-22-with-large-logo-bar: the video (bars excluded) is
    # columns 176-1007, rows 76-1515 (the 480x720 video at 2x, 32-pixel bars each side)
    rgb = _rgb((shared_data / SCREENSHOTS / "screenshot_20190730_PM_80534.png").read_bytes())
    main = find_regions(rgb)[0]
    assert main.kind == "main"
    assert abs(main.x - 176) <= 3 and abs(main.x + main.w - 1008) <= 3
    assert abs(main.y - 76) <= 3 and abs(main.y + main.h - 1516) <= 3
    # with the title bar drawn over the top, both readings are kept (with and without it)
    rgb = _rgb((shared_data / SCREENSHOTS / "screenshot_20190730_PM_80559.png").read_bytes())
    main = find_regions(rgb)[0]
    tops = {main.y, *(a.y for a in main.alternatives)}
    assert any(abs(t - 78) <= 3 for t in tops) and any(abs(t - 118) <= 3 for t in tops)


def test_blank_picture_has_no_regions() -> None:
    flat = np.full((400, 600, 3), 40, np.uint8)
    assert find_regions(flat) == []
    values = luma(flat)
    assert trim(values) is None
    assert tiles(values, natural_map(flat), 32) == []
    assert find_framed(values, natural_map(flat), min_side=32) == []


def test_trim_removes_padding_and_bars_of_any_colour(shared_data: Path) -> None:
    photo = _photos(shared_data)[0]
    for colour, (dx, dy) in (((255, 255, 255), (96, 64)), ((0, 0, 0), (120, 0))):
        canvas = Image.new("RGB", (photo.width + 2 * dx, photo.height + 2 * dy), colour)
        canvas.paste(photo, (dx, dy))
        box = trim(luma(np.asarray(canvas)))
        assert box is not None
        assert _near(box, Box(dx, dy, photo.width, photo.height), 6), box
    # a photo without borders is left whole (or nearly: its own uniform edge rows)
    whole = trim(luma(np.asarray(photo)))
    assert whole is not None and whole.area >= 0.9 * photo.width * photo.height


def test_tiles_of_a_video_call_grid(shared_data: Path) -> None:
    photos = _photos(shared_data)
    tile_w, tile_h, gap = 400, 268, 10
    canvas = Image.new("RGB", (3 * tile_w + 4 * gap, tile_h + 2 * gap + 60), (30, 30, 34))
    want = []
    for i, photo in enumerate(photos[:3]):
        x, y = gap + i * (tile_w + gap), gap
        canvas.paste(photo.resize((tile_w, tile_h)), (x, y))
        want.append(Box(x, y, tile_w, tile_h))
    rgb = np.asarray(canvas)
    found = tiles(luma(rgb), natural_map(rgb), 48)
    assert len(found) == 3
    assert all(_near(f, w, 6) for f, w in zip(found, want, strict=True)), found
    # one photo alone is one piece: no tiles
    alone = np.asarray(photos[0])
    assert tiles(luma(alone), natural_map(alone), 48) == []


def test_framed_finds_a_picture_pasted_on_a_photo(shared_data: Path) -> None:
    photos = _photos(shared_data)
    found_count = 0
    for background, pasted in zip(photos[:3], photos[3:], strict=True):
        canvas = background.resize((960, 640))
        small = pasted.resize((240, 160))
        x, y = 960 - 240 - 24, 640 - 160 - 24
        canvas.paste(small, (x, y))
        rgb = np.asarray(canvas)
        framed = find_framed(luma(rgb), natural_map(rgb), min_side=48)
        found_count += any(_near(f.box, Box(x, y, 240, 160)) for f in framed)
    assert found_count >= 2, found_count


def _kadane(gains: list[float]) -> float:
    """The best stretch's score of one line, the plain loop the vectorised one replaces."""
    best = current = 0.0
    for gain in gains:
        current = max(0.0, current + gain)
        best = max(best, current)
    return best


def test_edge_scores_are_the_best_stretch_of_each_line() -> None:
    """`EdgeMap.scores` / `line_scores` (integer prefix sums) give what Kadane's loop gives,
    on luminance steps of random pictures and on random edge maps of every density."""
    rng = np.random.default_rng(12)
    for trial in range(60):
        rows, cols = int(rng.integers(1, 40)), int(rng.integers(1, 300))
        flat = rng.random((rows, cols)) < rng.random()
        values = (rng.random((rows, cols)) * 255 * flat).astype(np.float32)
        edges = EdgeMap(values, isolated=bool(trial % 2))
        if trial % 3 == 0:
            edges.edges = rng.random((rows, cols)) < rng.random()
        expected = [
            _kadane([1.0 if e else -GAP_PENALTY for e in line]) for line in edges.edges.tolist()
        ]
        assert edges.scores.tolist() == expected
        some = np.arange(rows)[::2]
        assert edges.line_scores(some).tolist() == expected[::2]


def test_uniform_lines_use_the_median_of_each_line() -> None:
    """`uniform_lines`'s own median equals numpy's, odd and even line lengths alike."""
    rng = np.random.default_rng(3)
    for _ in range(100):
        values = rng.integers(0, 256, (int(rng.integers(1, 30)), int(rng.integers(1, 200))))
        values = values.astype(np.float32)
        got = _row_medians(values)
        assert got.dtype == np.float32
        assert np.array_equal(got, np.median(values, axis=1, keepdims=True))


def test_uniform_lines_count_the_pixels_near_the_sampled_median() -> None:
    """`uniform_lines` (sorted sample median, pixels counted with OpenCV) says what its
    definition says, computed plainly per line; `Lines` reads a box's columns from the
    transposed picture as they are in the picture."""
    rng = np.random.default_rng(5)
    for _ in range(60):
        h, w = int(rng.integers(1, 20)), int(rng.integers(1, 400))
        base = rng.integers(0, 256, (h, 1))
        noise = rng.integers(-14, 15, (h, w)) * (rng.random((h, w)) < rng.random())
        values = np.clip(base + noise, 0, 255).astype(np.float32)
        step = max(1, w // 128)
        expected = []
        for line in values.tolist():
            median = float(np.median(np.array(line[::step], np.float32)))
            near = sum(abs(v - median) <= UNIFORM_TOLERANCE for v in line)
            expected.append(near / w >= UNIFORM_SHARE)
        assert uniform_lines(values).tolist() == expected
        box = Box(int(rng.integers(0, w)), 0, 0, h)
        box = Box(box.x, 0, int(rng.integers(1, w - box.x + 1)), h)
        view = np.ascontiguousarray(values[:, box.x : box.x + box.w].T)
        assert Lines(values).cols(box).tolist() == uniform_lines(view).tolist()


def test_boundary_steps_and_transposes_are_plain_numpy_s() -> None:
    """The in-place edge steps and `transposed` (OpenCV) give numpy's plain results, on
    pictures of 0 to 6 rows, views and both dtypes the cues use."""
    rng = np.random.default_rng(8)
    for rows in range(7):
        values = rng.integers(0, 256, (rows, 9)).astype(np.float32)
        expected = np.zeros_like(values)
        for t in range(rows):
            if t == 1 or (t == rows - 1 and rows >= 2):
                expected[t] = np.abs(values[t] - values[t - 1])
            elif 2 <= t < rows - 1 and rows >= 4:
                pairs = values[t] + values[t + 1], values[t - 2] + values[t - 1]
                expected[t] = np.abs(pairs[0] - pairs[1]) / 2
        assert np.array_equal(_boundary_steps(values), expected)
    for array in (
        rng.random((37, 53)).astype(np.float32),
        rng.integers(0, 2, (64, 5)).astype(np.uint8),
        rng.random((40, 30)).astype(np.float32)[3:31, 2:19],
        np.zeros((0, 4), np.float32),
        rng.random((5, 6)),
    ):
        got = transposed(array)
        assert got.flags.c_contiguous and got.dtype == array.dtype
        assert np.array_equal(got, array.T)


def test_rectangles_are_every_pair_of_line_pairs_in_order() -> None:
    """`rectangles` keeps the rectangles a plain loop over row pairs, then column pairs,
    keeps (sides long enough, every side's support at least the floor), in that order,
    with their sides' supports; a subset's sides are the same rectangles' sides."""
    rng = np.random.default_rng(21)
    for trial in range(12):
        values = (rng.random((60, 80)) < 0.5).astype(np.float32) * 255
        rows, cols = EdgeMap(values), EdgeMap(np.ascontiguousarray(values.T))
        ys = np.unique(np.concatenate([[0, 60], rng.integers(1, 60, 6)])).astype(np.int64)
        xs = np.unique(np.concatenate([[0, 80], rng.integers(1, 80, 6)])).astype(np.int64)
        floor = (0.0, 0.4, 0.5)[trial % 3]
        expected = []
        for i in range(len(ys)):
            for j in range(i + 1, len(ys)):
                if ys[j] - ys[i] < 8:
                    continue
                for k in range(len(xs)):
                    for m in range(k + 1, len(xs)):
                        if xs[m] - xs[k] < 8:
                            continue
                        one = np.array([0])
                        sides = [
                            float(rows.support(ys[i] + one, xs[k] + one, xs[m] + one)[0]),
                            float(rows.support(ys[j] + one, xs[k] + one, xs[m] + one)[0]),
                            float(cols.support(xs[k] + one, ys[i] + one, ys[j] + one)[0]),
                            float(cols.support(xs[m] + one, ys[i] + one, ys[j] + one)[0]),
                        ]
                        if min(sides) >= floor:
                            expected.append((int(ys[i]), int(ys[j]), int(xs[k]), int(xs[m]), sides))
        got = rectangles(rows, ys, cols, xs, 8, floor)
        assert len(expected) > 0
        assert [
            (int(a), int(b), int(c), int(d), s)
            for a, b, c, d, s in zip(
                got.y0, got.y1, got.x0, got.x1, got.sides.tolist(), strict=True
            )
        ] == expected
        some = np.flatnonzero(rng.random(len(got)) < 0.3)
        assert np.array_equal(got.take(some).sides, got.sides[some])
        if len(got):
            assert got.weakest_side(len(got) - 1) == float(got.sides[-1].min())
