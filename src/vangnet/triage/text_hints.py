"""Leads in the text of a picture: on-screen clocks, dates and player timecodes, usernames,
links, app names and file names.

Everything works per OCR line with regular expressions and a small curated list of apps
(`APPS`). It is a lead finder, not a parser: values are returned as they were read, so an
investigator can search for them; nothing is normalised except file names (outer spaces).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypedDict


class AppKind(StrEnum):
    VIDEO_CALL = "video_call"  # one-to-one or group video calls
    STREAMING = "streaming"  # live streaming / random video chat
    MESSAGING = "messaging"  # chat apps (most also do calls)
    SOCIAL = "social"
    MEDIA_PLAYER = "media_player"


@dataclass(frozen=True)
class App:
    """An app, its kind, and the patterns (regular expressions, matched as whole words,
    case-insensitive unless ``case_sensitive``) that name it on screen."""

    name: str
    kind: AppKind
    patterns: tuple[str, ...]
    case_sensitive: bool = False


K = AppKind
#: Apps whose name on screen is a lead. Generic words ("Meet", "Teams", "Line", "Signal") are
#: only matched in a qualified form or the app's own spelling, to keep false hits down.
APPS: tuple[App, ...] = (
    App("Zoom", K.VIDEO_CALL, (r"zoom(?:\.us)?", r"zoom meetings?")),
    App("Skype", K.VIDEO_CALL, (r"skype",)),
    App("Microsoft Teams", K.VIDEO_CALL, (r"microsoft teams", r"teams\.microsoft\.com")),
    App("Google Meet", K.VIDEO_CALL, (r"google meet", r"meet\.google\.com")),
    App("FaceTime", K.VIDEO_CALL, (r"face ?time",)),
    App("Webex", K.VIDEO_CALL, (r"webex",)),
    App("Jitsi", K.VIDEO_CALL, (r"jitsi(?: meet)?",)),
    App("Google Duo", K.VIDEO_CALL, (r"google duo",)),
    App("imo", K.VIDEO_CALL, (r"imo",), case_sensitive=True),
    App("WhatsApp", K.MESSAGING, (r"whats ?app",)),
    App("Telegram", K.MESSAGING, (r"telegram",)),
    App("Signal", K.MESSAGING, (r"Signal",), case_sensitive=True),
    App("Messenger", K.MESSAGING, (r"facebook messenger", r"Messenger"), case_sensitive=True),
    App("Viber", K.MESSAGING, (r"viber",)),
    App("WeChat", K.MESSAGING, (r"we ?chat",)),
    App("LINE", K.MESSAGING, (r"line (?:app|messenger|call|video call)",)),
    App("Kik", K.MESSAGING, (r"Kik",), case_sensitive=True),
    App("Discord", K.MESSAGING, (r"discord",)),
    App("Snapchat", K.SOCIAL, (r"snap ?chat",)),
    App("Instagram", K.SOCIAL, (r"instagram",)),
    App("Facebook", K.SOCIAL, (r"facebook",)),
    App("TikTok", K.SOCIAL, (r"tik ?tok",)),
    App("Omegle", K.STREAMING, (r"omegle",)),
    App("Chatroulette", K.STREAMING, (r"chat ?roulette",)),
    App("OmeTV", K.STREAMING, (r"ome ?tv",)),
    App("Azar", K.STREAMING, (r"azar",)),
    App("Monkey", K.STREAMING, (r"monkey app", r"monkey\.app")),
    App("Yubo", K.STREAMING, (r"yubo",)),
    App("Bigo Live", K.STREAMING, (r"bigo(?: ?live)?",)),
    App("LiveMe", K.STREAMING, (r"live\.?me",)),
    App("Tango", K.STREAMING, (r"Tango",), case_sensitive=True),
    App("Twitch", K.STREAMING, (r"twitch",)),
    App("Camfrog", K.STREAMING, (r"camfrog",)),
    App("Paltalk", K.STREAMING, (r"paltalk",)),
    App("YouTube", K.STREAMING, (r"you ?tube",)),
    App("VLC", K.MEDIA_PLAYER, (r"vlc(?: media player)?",)),
    App("QuickTime Player", K.MEDIA_PLAYER, (r"quick ?time(?: player)?",)),
    App("Windows Media Player", K.MEDIA_PLAYER, (r"windows media player",)),
    App("Movies & TV", K.MEDIA_PLAYER, (r"movies & tv", r"films & tv")),
    App("MPV", K.MEDIA_PLAYER, (r"mpv",)),
    App("Media Player Classic", K.MEDIA_PLAYER, (r"media player classic", r"mpc-hc", r"mpc-be")),
    App("PotPlayer", K.MEDIA_PLAYER, (r"pot ?player",)),
    App("KMPlayer", K.MEDIA_PLAYER, (r"km ?player",)),
    App("GOM Player", K.MEDIA_PLAYER, (r"gom ?player",)),
    App("IINA", K.MEDIA_PLAYER, (r"IINA",), case_sensitive=True),
)


def _app_regex(app: App) -> re.Pattern[str]:
    body = "|".join(app.patterns)
    return re.compile(rf"(?<![\w.])(?:{body})(?![\w])", 0 if app.case_sensitive else re.I)


_APP_RES = tuple((app, _app_regex(app)) for app in APPS)

MEDIA_EXTENSIONS = (
    *("mp4", "m4v", "mov", "avi", "mkv", "wmv", "flv", "webm", "3gp", "3g2", "mpg", "mpeg"),
    *("mts", "m2ts", "ts", "vob", "ogv", "jpg", "jpeg", "png", "gif", "heic", "heif", "webp"),
    *("bmp", "tif", "tiff", "dng"),
)
ARCHIVE_EXTENSIONS = ("zip", "rar", "7z", "tar", "gz")
_EXT = "|".join((*MEDIA_EXTENSIONS, *ARCHIVE_EXTENSIONS))
# A whole line that is a file name (title bars): anything but path separators and quotes.
_FILE_LINE = re.compile(rf"^[^/\\:*?\"<>|]{{1,200}}\.(?:{_EXT})$", re.I)
# A file name inside a longer line: one token.
_FILE_TOKEN = re.compile(rf"(?<![\w.-])[\w()\[\]+~-][\w()\[\]+~.-]{{0,200}}\.(?:{_EXT})\b", re.I)

# Top-level domains that are not also common file extensions (.mov, .zip ...).
_TLDS = (
    *("com", "net", "org", "info", "biz", "edu", "gov", "io", "co", "me", "tv", "app", "live"),
    *("chat", "xyz", "online", "site", "club", "nl", "be", "de", "fr", "es", "it", "pt", "uk"),
    *("ie", "eu", "ru", "ua", "pl", "ro", "cz", "hu", "se", "no", "dk", "fi", "ch", "at", "gr"),
    *("tr", "ph", "id", "my", "th", "vn", "sg", "cn", "jp", "kr", "in", "pk", "au", "nz", "ca"),
    *("us", "mx", "br", "ar", "za", "ng"),
)
_URL = re.compile(
    r"(?:https?://|www\.)[^\s<>\"']+"
    rf"|(?<![\w@.-])(?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+(?:{'|'.join(_TLDS)})"
    r"(?:/[^\s<>\"']*)?(?![\w.-])",
    re.I,
)
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}", re.I)
_HANDLE = re.compile(r"(?<![\w@.])@([A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])?)")
_LABELLED = re.compile(
    r"\b(?:user(?:name)?|gebruiker(?:snaam)?|benutzer(?:name)?|account|login|nick(?:name)?"
    r"|from|van|von)\s*[:=]\s*@?([\w.-]{2,40})",
    re.I,
)

# Clock times with am / pm: 7:45 PM, 7.45 pm, 07:45:12 a.m.
_CLOCK_AMPM = re.compile(
    r"(?<![\w:.-])(?:0?[1-9]|1[0-2])[.:][0-5]\d(?::[0-5]\d)?\s?[ap]\.?m\.?(?![\w])", re.I
)
# 24 h clock times: 7:45, 19:45, 07:45:12.
_CLOCK_24 = re.compile(r"(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?")
# Anything time-like: -00:19, 00:00, 19:45, 1:02:03, 00:00:05.12.
_TIMECODE = re.compile(r"(?<![\w:.])(-?(?:\d{1,2}:)?\d{1,2}:[0-5]\d(?:[.,]\d{1,3})?)(?![\w:])")

_MONTHS = (
    "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|march|april|june"
    "|july|august|september|october|november|december|januari|februari|maart|mei|juni|juli"
    "|augustus|okt|oktober|januar|februar|märz|mai|dezember|dez|janv|févr|fevr|mars|avr|juin"
    "|juil|août|aout|déc|ene|abr|ago|dic|enero|febrero|marzo|abril|mayo|junio|julio|agosto"
    "|septiembre|octubre|noviembre|diciembre|enero|hunyo|hulyo|agosto|setyembre|oktubre"
    "|nobyembre|disyembre"
)
_DATE = re.compile(
    r"(?<![\w/.-])(?:"
    r"(?:19|20)\d\d[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])"  # 2019-07-30
    r"|(?:0?[1-9]|[12]\d|3[01])[-/.](?:0?[1-9]|1[0-2])[-/.](?:19|20)?\d\d"  # 30-07-2019
    r"|(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])/(?:19|20)?\d\d"  # 07/30/2019
    rf"|(?:0?[1-9]|[12]\d|3[01])\.?\s(?:{_MONTHS})\.?,?\s(?:19|20)\d\d"  # 30 jul 2019
    rf"|(?:{_MONTHS})\.?\s(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?,?\s(?:19|20)\d\d"  # Jul 30, 2019
    r")(?![\w/])",
    re.I,
)


class AppHint(TypedDict):
    name: str
    kind: str


class TextHints(TypedDict):
    """Leads found in text, each list in order of appearance without repeats."""

    times: list[str]  # on-screen clock times
    dates: list[str]
    timecodes: list[str]  # player / call positions and durations
    handles: list[str]  # usernames: @name, "user: name"
    emails: list[str]
    urls: list[str]  # links and bare domains
    apps: list[AppHint]
    file_names: list[str]


def _add(found: list[str], value: str) -> None:
    if value and value not in found:
        found.append(value)


def _is_timecode(token: str, tokens: list[str], line: str) -> bool:
    """A time-like token that is a position or duration rather than a clock time: negative,
    with fractions, starting at 00 (minutes:seconds), not a valid 24 h time, or on a line
    with another one and a slash or a negative one ("00:12 / 03:45", "00:00 -00:19")."""
    if token.startswith(("-", "00:")) or re.search(r"[.,]\d", token):
        return True
    if not _CLOCK_24.fullmatch(token):
        return True
    others = [t for t in tokens if t != token]
    return bool(others) and ("/" in line or any(t.startswith("-") for t in others))


def hints_from_lines(lines: Iterable[str]) -> TextHints:
    """`TextHints` for OCR lines (or any text split into lines)."""
    out = TextHints(
        times=[], dates=[], timecodes=[], handles=[], emails=[], urls=[], apps=[], file_names=[]
    )
    app_names: list[str] = []
    for raw in lines:
        line = " ".join(raw.split())
        if not line:
            continue
        for date in _DATE.findall(line):
            _add(out["dates"], date)
        no_dates = _DATE.sub(" ", line)
        for clock in _CLOCK_AMPM.findall(no_dates):
            _add(out["times"], clock)
        rest = _CLOCK_AMPM.sub(" ", no_dates)
        tokens = _TIMECODE.findall(rest)
        for token in tokens:
            _add(out["timecodes" if _is_timecode(token, tokens, rest) else "times"], token)
        if _FILE_LINE.match(line):
            _add(out["file_names"], line.strip())
        else:
            for name in _FILE_TOKEN.findall(line):
                _add(out["file_names"], name)
        for email in _EMAIL.findall(line):
            _add(out["emails"], email)
        no_emails = _EMAIL.sub(" ", line)
        for handle in _HANDLE.findall(no_emails):
            _add(out["handles"], "@" + handle)
        for handle in _LABELLED.findall(no_emails):
            _add(out["handles"], handle)
        without_files = _FILE_TOKEN.sub(" ", no_emails)
        for url in _URL.findall(without_files):
            _add(out["urls"], url.rstrip(".,;:!?)"))
        for app, regex in _APP_RES:
            if app.name not in app_names and regex.search(line):
                app_names.append(app.name)
                out["apps"].append(AppHint(name=app.name, kind=app.kind.value))
    return out


def hints_from_text(text: str) -> TextHints:
    return hints_from_lines(text.splitlines())
