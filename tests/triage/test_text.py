"""Text in the picture: OCR, language, leads and video-call screenshots, on the benign player
screenshots and photos of ../shared/data and on pictures and a video drawn here."""

from __future__ import annotations

import csv
import io
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from vangnet.errors import EmptyInputError, MediaError, UnsupportedMediaError
from vangnet.triage.text import (
    FramesText,
    OcrResult,
    TextReader,
    frames_text,
    hints,
    language,
    video_call_likelihood,
)
from vangnet.triage.text_calls import LIKELY, PLAYER_CAP

SAMPLES = Path("threatexchange/video/sample-videos")
PUBLIC = Path("photos/public-domain")
BSDS = Path("photos/bsds500")
# Screen captures taken while the player hid its title bar and controls (checked by eye): no
# file name or timecode is visible in them.
NO_PLAYER_UI = {
    "screenshot_20190730_PM_80513.png",
    "screenshot_20190730_PM_80534.png",
    "screenshot_20190730_PM_80616.png",
    "screenshot_20190730_PM_80622.png",
}


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)  # Pillow >= 10.1: a scalable (Latin) font


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ca != cb))
    return row[-1]


@pytest.fixture(scope="module")
def reader() -> TextReader:
    reader = TextReader()
    reader.warm_up()
    return reader


@pytest.fixture(scope="module")
def screenshots(shared_data: Path, reader: TextReader) -> dict[str, tuple[Image.Image, OcrResult]]:
    found: dict[str, tuple[Image.Image, OcrResult]] = {}
    for path in sorted((shared_data / SAMPLES / "screenshots").glob("*.png")):
        with Image.open(path) as image:
            image.load()
        found[path.name] = (image, reader.read(image))
    assert len(found) == 15
    return found


# -- the player screenshots -----------------------------------------------------------------------


def test_player_screenshots_file_name_and_timecodes(
    shared_data: Path, screenshots: dict[str, tuple[Image.Image, OcrResult]]
) -> None:
    with (shared_data / SAMPLES / "screenshots_name_map.tsv").open() as f:
        shown = {row[0]: row[2] for row in csv.reader(f, delimiter="\t")}
    exact: list[tuple[str, str]] = []
    close: list[tuple[str, str]] = []
    for name, (_, ocr) in screenshots.items():
        found = hints(ocr)
        if name in NO_PLAYER_UI:
            assert found["file_names"] == [] and found["timecodes"] == []
            continue
        assert len(found["file_names"]) == 1, (name, ocr.text)
        read = found["file_names"][0]
        assert "00:00" in found["timecodes"], (name, ocr.text)
        assert any(t != "00:00" for t in found["timecodes"])  # the remaining time
        # the file name is read from the title bar, at the top of the window
        (line,) = [line for line in ocr.lines if line.text == read]
        assert line.box[1] < 0.1 * ocr.size[1] and line.confidence > 0.9
        (exact if read == shown[name] else close).append((read, shown[name]))
    # 11 screenshots show the title bar; 10 read exactly as in the name map. The 11th title
    # bar really says "patttern-sd-with-large-logo-bar.mp4" (a typo in the recording's name
    # as shown on screen), and the OCR reads that faithfully.
    assert len(exact) == 10
    assert close == [("patttern-sd-with-large-logo-bar.mp4", "pattern-sd-with-large-logo-bar.mp4")]
    assert all(edit_distance(a, b) <= 1 for a, b in close)


def test_player_screenshots_are_no_video_calls(
    screenshots: dict[str, tuple[Image.Image, OcrResult]],
) -> None:
    for name, (image, ocr) in screenshots.items():
        score, reasons = video_call_likelihood(image, ocr)
        assert score < LIKELY, (name, reasons)
        if name not in NO_PLAYER_UI:
            assert score <= PLAYER_CAP
            assert any(r.startswith("media player") for r in reasons), (name, reasons)


def test_player_screenshot_text_has_no_language(
    screenshots: dict[str, tuple[Image.Image, OcrResult]],
) -> None:
    # a file name and timecodes are not language
    _, ocr = screenshots["screenshot_20190730_PM_80504.png"]
    assert language(ocr.text) is None


# -- language of rendered text --------------------------------------------------------------------

SENTENCES = {
    "nl": "We gaan morgen samen met de kinderen naar de markt",
    "de": "Wir gehen morgen zusammen mit den Kindern auf den Markt",
    "fr": "Nous allons demain avec les enfants au grand marché",
    "es": "Mañana vamos todos juntos con los niños al mercado",
    "en": "Tomorrow we are all going to the market with the children",
}


def text_on_photo(photo: Path, lines: list[str], *, size: int = 30) -> Image.Image:
    with Image.open(photo) as opened:
        image = opened.convert("RGB").resize((960, 640))
    draw = ImageDraw.Draw(image)
    y = 380
    for line in lines:
        width = draw.textlength(line, font=font(size))
        draw.rectangle((30, y - 8, 30 + width + 20, y + size + 8), fill=(245, 245, 240))
        draw.text((40, y), line, fill=(20, 20, 20), font=font(size))
        y += size + 24
    return image


@pytest.mark.parametrize("code", sorted(SENTENCES))
def test_language_of_rendered_text(shared_data: Path, reader: TextReader, code: str) -> None:
    words = SENTENCES[code].split()
    photo = shared_data / PUBLIC / "skimage_coffee.png"
    image = text_on_photo(photo, [" ".join(words[:5]), " ".join(words[5:])])
    ocr = reader.read(image)
    assert len(ocr.lines) >= 2
    found = language(ocr.text)
    assert found is not None, ocr.text
    assert found.code == code, (ocr.text, found)
    assert found.countries and 0.5 < found.confidence <= 1.0


def test_language_country_hints_and_short_text() -> None:
    tagalog = language("Pupunta kami sa palengke bukas ng umaga kasama si nanay")
    assert tagalog is not None and tagalog.code == "tl" and tagalog.countries == ("PH",)
    dutch = language("Bel mij vanavond terug als je thuis bent")
    assert dutch is not None and dutch.code == "nl" and dutch.countries == ("NL", "BE", "SR")
    assert dutch.to_dict()["name"] == "Dutch"
    assert language("") is None
    assert language("Mute camera") is None  # fewer than 12 letters
    assert language("www.example.com @someone 12:30 IMG_0042.jpg") is None


def test_short_rendered_text_has_no_language(shared_data: Path, reader: TextReader) -> None:
    ocr = reader.read(text_on_photo(shared_data / PUBLIC / "skimage_coffee.png", ["Hallo"]))
    assert "Hallo" in ocr.text
    assert language(ocr.text) is None


# -- leads ----------------------------------------------------------------------------------------


def test_hints_from_text() -> None:
    found = hints(
        "Zoom Meeting  19:45  30/07/2019\n"
        "user: cam_girl22  @some.one  visit www.example.com or shop.example.nl/x\n"
        "Screen Shot 2019-07-30 at 8.05.04 PM.png\n"
        "WhatsApp video call 00:12 / 03:45  write to a.b@example.org\n"
        "Jul 30, 2019 7:45 pm  VLC media player  -00:19"
    )
    assert found["times"] == ["19:45", "7:45 pm"]
    assert found["dates"][:2] == ["30/07/2019", "2019-07-30"] and "Jul 30, 2019" in found["dates"]
    assert found["timecodes"] == ["00:12", "03:45", "-00:19"]
    assert found["handles"] == ["@some.one", "cam_girl22"]
    assert found["emails"] == ["a.b@example.org"]
    assert found["urls"] == ["www.example.com", "shop.example.nl/x"]
    assert found["file_names"] == ["Screen Shot 2019-07-30 at 8.05.04 PM.png"]
    assert [(a["name"], a["kind"]) for a in found["apps"]] == [
        ("Zoom", "video_call"),
        ("WhatsApp", "messaging"),
        ("VLC", "media_player"),
    ]


def test_hints_leave_ordinary_text_alone() -> None:
    found = hints("Viking Line ferry to Tallinn\nWe meet the teams at the camera shop\nchair.mp4x")
    assert all(value == [] for value in found.values()), found


# -- video-call screenshots -----------------------------------------------------------------------


def call_screenshot(
    main: Path, inset: Path, *, words: str = "Mute    Camera    End call", phone: bool = False
) -> Image.Image:
    """A video call as many apps show it: the other side's video between a title bar and a
    dark control bar, the caller's own camera as a small inset in a corner."""
    width, height = (480, 800) if phone else (960, 600)
    top, bottom = (0, 80) if phone else (40, 72)
    canvas = Image.new("RGB", (width, height), (32, 33, 36))
    with Image.open(main) as opened:
        canvas.paste(opened.convert("RGB").resize((width, height - top - bottom)), (0, top))
    inset_size = (width // 4, (height - top - bottom) // 4)
    with Image.open(inset) as opened:
        small = opened.convert("RGB").resize(inset_size)
    corner = (12, top + 12) if phone else (width - inset_size[0] - 12, height - bottom - 150)
    canvas.paste(small, corner)
    draw = ImageDraw.Draw(canvas)
    if top:
        draw.text((12, 9), "Meeting", fill=(230, 230, 230), font=font(22))
    if words:
        text_width = draw.textlength(words, font=font(22))
        draw.text(((width - text_width) / 2, height - bottom + 24), words, font=font(22))
    else:  # icon buttons: microphone, camera, a red hang-up button
        for i, colour in enumerate([(230, 230, 230), (230, 230, 230), (220, 50, 50)]):
            x, y = width // 2 + (i - 1) * 80, height - bottom // 2
            draw.ellipse((x - 20, y - 20, x + 20, y + 20), fill=colour)
    return canvas


def test_video_call_composites_score_high(shared_data: Path, reader: TextReader) -> None:
    bsds = sorted((shared_data / BSDS / "test").glob("*.jpg"))
    desktop = call_screenshot(bsds[0], bsds[1])
    score, reasons = video_call_likelihood(desktop, reader.read(desktop))
    assert score >= 0.9, reasons
    assert any(r.startswith("picture-in-picture inset in the bottom-right") for r in reasons)
    assert any(r.startswith("app chrome") for r in reasons)
    assert any('"mute"' in r and '"end call"' in r for r in reasons), reasons
    # without text: the picture alone (chrome + inset) still makes it likely
    for main, inset, phone in ((bsds[2], bsds[3], False), (bsds[4], bsds[5], True)):
        bare = call_screenshot(main, inset, words="", phone=phone)
        score, reasons = video_call_likelihood(bare)
        assert score >= LIKELY, reasons


def test_plain_photos_are_no_video_calls(shared_data: Path, reader: TextReader) -> None:
    public = sorted((shared_data / PUBLIC).iterdir())
    for path in public:  # with OCR
        with Image.open(path) as image:
            score, reasons = video_call_likelihood(image, reader.read(image))
        assert score < LIKELY, (path.name, reasons)
    scores = []
    for path in sorted((shared_data / BSDS / "test").glob("*.jpg"))[:100]:  # pictures only
        score, reasons = video_call_likelihood(path.read_bytes())
        assert score < LIKELY, (path.name, reasons)
        scores.append(score)
    # Straight edges of buildings now and then look like an inset (7 of the 500 photos):
    # that alone stays below "likely".
    assert sum(s > 0 for s in scores) <= 5


# -- video frames ---------------------------------------------------------------------------------


def captioned_video(captions: list[tuple[float, str]], *, seconds: float, fps: int = 10) -> bytes:
    """An H.264 MP4 (320x240) showing each caption from its start second on."""
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.time_base = Fraction(1, fps)
        for number in range(int(seconds * fps)):
            now = number / fps
            text = [c for start, c in captions if start <= now][-1]
            image = Image.new("RGB", (320, 240), (30, 60, 90))
            ImageDraw.Draw(image).text((16, 100), text, fill=(255, 255, 255), font=font(28))
            frame = av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24")
            frame.pts = number
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def test_frames_text_finds_captions_with_their_time(reader: TextReader) -> None:
    video = captioned_video([(0.0, "Hello Vangnet"), (2.0, "Second caption")], seconds=4)
    found = frames_text(video, every_seconds=1, reader=reader)
    assert isinstance(found, FramesText)
    assert found.frames == 4 and found.read == 2  # identical frames are read once
    by_text = {line.text: line for line in found.lines}
    assert set(by_text) == {"Hello Vangnet", "Second caption"}, found.lines
    assert by_text["Hello Vangnet"].first_seconds == 0.0
    assert by_text["Hello Vangnet"].frames == 2
    assert by_text["Second caption"].first_seconds == pytest.approx(2.0)
    assert found.text == "Hello Vangnet\nSecond caption"
    limited = frames_text(video, every_seconds=1, max_frames=1, reader=reader)
    assert limited.frames == 1 and [line.text for line in limited.lines] == ["Hello Vangnet"]


# -- bad input ------------------------------------------------------------------------------------


def test_bad_input(shared_data: Path, reader: TextReader) -> None:
    with pytest.raises(EmptyInputError):
        reader.read(b"")
    with pytest.raises(EmptyInputError):
        reader.read(Image.new("RGB", (0, 0)))
    with pytest.raises(EmptyInputError):
        reader.read(np.zeros((0, 10, 3), np.uint8))
    with pytest.raises(UnsupportedMediaError):
        reader.read(b"this is not an image, just some text bytes")
    png = (shared_data / PUBLIC / "skimage_coffee.png").read_bytes()
    with pytest.raises(MediaError):
        reader.read(png[: len(png) // 3])  # truncated
    with pytest.raises(MediaError):
        reader.read(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(MediaError):
        reader.read(np.zeros((10, 10, 2), np.uint8))
    with pytest.raises(MediaError):
        frames_text(b"\x00\x01 not a video", reader=reader)
    with pytest.raises(UnsupportedMediaError):
        frames_text(png, reader=reader)  # a picture is not a video
    for tiny in (Image.new("RGB", (1, 1)), np.zeros((1, 1), np.uint8)):
        result = reader.read(tiny)
        assert result.lines == () and result.text == "" and result.size == (1, 1)
    assert video_call_likelihood(Image.new("RGB", (1, 1))).score == 0.0


def test_huge_image_is_read_downscaled(reader: TextReader) -> None:
    image = Image.new("L", (8000, 6000), 255)
    ImageDraw.Draw(image).text((3000, 2800), "Evidence 2019", fill=0, font=font(240))
    result = reader.read(image)
    assert result.size == (8000, 6000)
    (line,) = result.lines
    assert line.text == "Evidence 2019"
    x0, y0, x1, y1 = line.box  # in the coordinates of the picture as given
    assert 2900 < x0 < 3100 and 2700 < y0 < 2900 and x1 > 4000 and y1 < 3200


def test_one_engine_shared_by_threads(shared_data: Path, reader: TextReader) -> None:
    image = text_on_photo(shared_data / PUBLIC / "skimage_coffee.png", ["Hallo wereld"])
    with ThreadPoolExecutor(4) as pool:
        texts = list(pool.map(lambda _: TextReader().read(image).text, range(4)))
    assert texts == [reader.read(image).text] * 4
    assert "Hallo wereld" in texts[0]
    assert reader.read(image).to_dict()["lines"][0]["text"] == "Hallo wereld"
