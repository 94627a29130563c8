"""Synthetic, non-explicit labelled chats for the chat-indicator tests: conversations that
arrange a paid live show (solicitation, price, payment handle, a minor's age, directing: the
phrasing public guidance describes, nothing descriptive) and ordinary ones (family, a
birthday, a remittance for school fees, shopping), in English, Dutch, Tagalog and Cebuano.
Seeded: the same seed gives the same file."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

LANGUAGES = ("en", "nl", "tl", "ceb")

# Per language, the lines of each stage of arranging a show: (speaker, text); {n} an amount,
# {age} an age under 18, {phone} a wallet number.
ARRANGING: dict[str, list[list[tuple[str, str]]]] = {
    "en": [
        [("v", "hi, can you do a live show tonight?"), ("v", "are you free for a cam show?")],
        [("v", "how much for one show?"), ("f", "price is {n} usd, send first")],
        [("f", "send to gcash {phone}"), ("f", "pay first via remitly then we start")],
        [("f", "she is {age}"), ("v", "how old, {age} years old?")],
        [("v", "show me now"), ("v", "turn the camera, come closer")],
    ],
    "nl": [
        [("v", "hoi, kun je vanavond een live show doen?"), ("v", "webcam show nu?")],
        [("v", "hoeveel kost een show?"), ("f", "{n} euro, eerst betalen")],
        [("f", "stuur naar gcash {phone}"), ("f", "eerst overmaken via western union")],
        [("v", "is ze {age} jaar oud?"), ("f", "ze is {age}")],
        [("v", "laat zien"), ("v", "draai de camera, dichterbij")],
    ],
    "tl": [
        [("v", "pwede ba mag show ngayon?"), ("v", "vc tayo mamaya, live show")],
        [("v", "magkano po isang show?"), ("f", "{n} php, bayad muna")],
        [("f", "padala sa gcash {phone}"), ("f", "send muna sa paymaya {phone}")],
        [("f", "{age} anyos siya"), ("v", "ilang taon? {age} taong gulang?")],
        [("v", "ipakita mo na"), ("v", "ilapit mo sa cam, gawin mo na")],
    ],
    "ceb": [
        [("v", "naay show karon?"), ("v", "vc ta karon, live show")],
        [("v", "pila ang usa ka show?"), ("f", "{n} php, bayad una")],
        [("f", "padala sa gcash {phone}"), ("f", "send una sa coins.ph {phone}")],
        [("f", "{age} ka tuig siya"), ("v", "pila na iyang edad? {age} anyos?")],
        [("v", "ipakita na"), ("v", "iduol sa cam, buhata na")],
    ],
}

ORDINARY: dict[str, list[list[tuple[str, str]]]] = {
    "en": [
        [("a", "happy birthday to your girl!"), ("b", "thanks! she turned {age} today")],
        [("a", "how much was the rice at the market?"), ("b", "{n} php, cheaper now")],
        [("b", "can you send {n} usd for school fees?"), ("a", "ok i will send it tomorrow")],
        [("a", "did you watch the game last night?"), ("b", "yes what a match")],
        [("a", "video call with lola on sunday?"), ("b", "yes after church")],
    ],
    "nl": [
        [("a", "gefeliciteerd met je dochter!"), ("b", "dank je, ze werd {age} vandaag")],
        [("a", "wat kost de huur nu?"), ("b", "{n} euro per maand")],
        [("a", "zullen we zondag eten bij oma?"), ("b", "goed idee, ik neem taart mee")],
        [("a", "heb je de trein gehaald?"), ("b", "net op tijd")],
    ],
    "tl": [
        [("a", "happy birthday sa anak mo!"), ("b", "salamat, {age} anyos na siya")],
        [("a", "magkano ang bigas ngayon?"), ("b", "{n} php isang kilo")],
        [("b", "padala ka ng pang tuition"), ("a", "sige bukas")],
        [("a", "kumain ka na ba?"), ("b", "oo, adobo ulam namin")],
    ],
    "ceb": [
        [("a", "happy birthday sa imong anak!"), ("b", "salamat, {age} ka tuig na siya")],
        [("a", "tagpila ang bugas karon?"), ("b", "{n} php kada kilo")],
        [("a", "nikaon na ka?"), ("b", "oo, salamat")],
        [("a", "asa ka karon?"), ("b", "naa sa balay")],
    ],
}


def _fill(text: str, rng: random.Random) -> str:
    return text.format(
        n=rng.choice([15, 20, 25, 30, 50, 500, 1000]),
        age=rng.randint(5, 14),
        phone="09" + "".join(str(rng.randint(0, 9)) for _ in range(9)),
    )


def conversations(
    count: int, *, seed: int = 7, start: datetime | None = None
) -> list[dict[str, Any]]:
    """``count`` labelled conversations (about a third positive) as message dicts."""
    rng = random.Random(seed)
    start = start or datetime(2026, 11, 3, 21, 0, tzinfo=UTC)
    rows: list[dict[str, Any]] = []
    for i in range(count):
        language = LANGUAGES[i % len(LANGUAGES)]
        positive = i % 3 == 0
        pool = (ARRANGING if positive else ORDINARY)[language]
        if positive:
            stages = [s for s in pool if rng.random() < 0.8] or pool[:2]
            lines = [rng.choice(s) for s in stages]
        else:
            lines = list(rng.choice(pool)) + list(rng.choice(pool))
        at = start + timedelta(hours=rng.randint(0, 200))
        who = {"v": f"viewer{i}", "f": f"facil{i}", "a": f"fam{i}a", "b": f"fam{i}b"}
        for j, (speaker, text) in enumerate(lines):
            at += timedelta(seconds=rng.randint(20, 600))
            rows.append(
                {
                    "ref": f"c{i}-m{j}",
                    "conversation": f"c{i}",
                    "at": at.isoformat(),
                    "sender": who[speaker],
                    "text": _fill(text, rng),
                    "language": language,
                    "label": int(positive),
                }
            )
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]], *, labels: bool = True) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            row = row if labels else {k: v for k, v in row.items() if k != "label"}
            out.write(json.dumps(row) + "\n")
    return path
