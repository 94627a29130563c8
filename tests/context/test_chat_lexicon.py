"""The chat lexicon: for every category in English, Dutch, Tagalog and Cebuano (and the
language-independent handles and links), messages that fire it and ordinary messages that
must not; folding against disguise; extending, replacing and refusing lexicon files."""

from __future__ import annotations

from pathlib import Path

import pytest

from vangnet.context.chats.lexicon import ANY, Category, load_lexicon
from vangnet.errors import ValidationError

LEXICON = load_lexicon()

C = Category
FIRES: dict[tuple[str, Category], list[str]] = {
    ("en", C.LIVE_SHOW): ["can you do a live show tonight?", "cam show now?", "go live baby"],
    ("en", C.PRICE): ["how much?", "25 usd ok", "$30 for one", "ok but send first"],
    ("en", C.CHILD_AGE): ["she is 9", "nine years old", "he is only 12", "12yo"],
    ("en", C.DIRECTING): ["show me", "turn the camera", "come closer now"],
    ("en", C.PLATFORM_HOP): ["add me on telegram", "let's move to whatsapp", "my skype id is"],
    ("nl", C.LIVE_SHOW): ["kun je een live show doen", "webcam show nu", "videobellen?"],
    ("nl", C.PRICE): ["hoeveel?", "wat kost het", "20 euro", "eerst betalen"],
    ("nl", C.CHILD_AGE): ["ze is 9", "negen jaar oud", "zij is pas 11"],
    ("nl", C.DIRECTING): ["laat zien", "draai de camera", "kom dichterbij"],
    ("nl", C.PLATFORM_HOP): ["voeg me toe op telegram", "laten we naar signal gaan"],
    ("tl", C.LIVE_SHOW): ["mag show ka ngayon", "vc tayo", "live show na"],
    ("tl", C.PRICE): ["magkano po?", "500 php", "bayad muna", "pwede tawad"],
    ("tl", C.CHILD_AGE): ["9 anyos", "siyam na taong gulang", "edad niya 10"],
    ("tl", C.DIRECTING): ["ipakita mo", "gawin mo na", "ilapit mo"],
    ("tl", C.PLATFORM_HOP): ["add mo ako sa telegram", "lipat tayo sa whatsapp"],
    ("ceb", C.LIVE_SHOW): ["naay show karon?", "vc ta", "show karon"],
    ("ceb", C.PRICE): ["pila?", "tagpila ang usa", "bayad una", "pahangyo"],
    ("ceb", C.CHILD_AGE): ["9 ka tuig", "siyam ka tuig", "9 anyos na"],
    ("ceb", C.DIRECTING): ["ipakita na", "buhata na", "iduol sa cam"],
    ("ceb", C.PLATFORM_HOP): ["add ko sa telegram", "balhin ta sa signal"],
    (ANY, C.PAYMENT_HANDLE): [
        "gcash 09171234567",
        "send to +63 917 123 4567",
        "paypal.me/someone",
        "mtcn 123-456-7890",
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        "1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
        "0x52908400098527886E0F7030069857D2E4169EE7",
        "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t",
        "NL91ABNA0417164300",
        "remitly ref ABC12345",
    ],
    (ANY, C.PLATFORM_HOP): ["t.me/somechannel", "find me @cool_guy", "wa.me/639171234567"],
}

QUIET: dict[Category, list[str]] = {
    C.LIVE_SHOW: ["where do you live?", "the tv series was great", "I saw a camel"],
    C.PRICE: ["how are you", "the meeting is at 9", "I have 25 apples"],
    C.CHILD_AGE: [
        "she is 45",
        "I have 2 kids",
        "the 9 years I worked there",
        "ze is 30",
        "he is one of the best",  # a number word that is not an age
        "ze is een goede vriendin",  # Dutch "een" is also "a"
        "she is 9 minutes away",
        "someone years older",  # "one" inside a word
    ],
    C.DIRECTING: ["the film was good", "come to dinner on sunday", "kumain ka na"],
    C.PAYMENT_HANDLE: ["call me at 5", "room 1234", "my email is bob@example.com"],
    C.PLATFORM_HOP: ["I will call grandma on sunday", "mail bob@example.com", "see you"],
}


def _fired(text: str) -> set[tuple[str, Category]]:
    return {(h.language, h.category) for h in LEXICON.match(text)}


@pytest.mark.parametrize(
    ("language", "category", "text"),
    [(lang, cat, text) for (lang, cat), texts in FIRES.items() for text in texts],
)
def test_a_message_fires_its_category_in_its_language(
    language: str, category: Category, text: str
) -> None:
    assert (language, category) in _fired(text), LEXICON.match(text)


@pytest.mark.parametrize(
    ("category", "text"), [(cat, text) for cat, texts in QUIET.items() for text in texts]
)
def test_an_ordinary_message_fires_nothing_of_the_category(category: Category, text: str) -> None:
    assert category not in {c for _, c in _fired(text)}, LEXICON.match(text)


def test_every_language_covers_every_category() -> None:
    covered = {(lang, cat) for lang, cat in FIRES}
    for language in ("en", "nl", "tl", "ceb"):
        for category in Category:
            if category is C.PAYMENT_HANDLE:
                continue  # language-independent (any.toml)
            assert (language, category) in covered
    assert set(LEXICON.language_codes) == {ANY, "en", "nl", "tl", "ceb"}


@pytest.mark.parametrize(
    "text",
    [
        "SHOW ME",  # case
        "sh0w me",  # leetspeak between letters
        "shoooow me",  # repeated letters
        "ｓｈｏｗ ｍｅ",  # fullwidth  # noqa: RUF001
        "sh\u200bow me",  # zero-width space
        "shów me",  # accent
    ],
)
def test_disguised_spellings_fold_to_the_phrase(text: str) -> None:
    assert ("en", C.DIRECTING) in _fired(text)


def test_digits_stay_digits_where_they_carry_meaning() -> None:
    hits = LEXICON.match("send 500 php to gcash 09171234567, she is 9")
    texts = {h.text for h in hits}
    assert "09171234567" in texts and "500 php" in texts
    assert any(h.category is C.CHILD_AGE and "9" in h.text for h in hits)


def test_a_phrase_inside_a_longer_word_does_not_fire() -> None:
    assert not _fired("showmexico")  # "show me" is not in it as words
    assert C.PRICE not in {c for _, c in _fired("pilates class")}  # "pila"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_lexicon_file_extends_a_language(tmp_path: Path) -> None:
    extra = _write(
        tmp_path,
        "extra.toml",
        '[lexicon]\nlanguage = "en"\nversion = "x1"\n[price]\nterms = ["what is the damage"]\n',
    )
    lexicon = load_lexicon([extra])
    assert any(h.category is C.PRICE for h in lexicon.match("ok what is the damage"))
    assert any(h.category is C.PRICE for h in lexicon.match("how much"))  # kept
    assert lexicon.version != LEXICON.version
    assert not any(h.category is C.PRICE for h in LEXICON.match("ok what is the damage"))


def test_a_lexicon_file_replaces_a_language_or_adds_one(tmp_path: Path) -> None:
    replace = _write(
        tmp_path,
        "en.toml",
        '[lexicon]\nlanguage = "en"\nmode = "replace"\n[price]\nterms = ["quote please"]\n',
    )
    added = _write(
        tmp_path,
        "de.toml",
        '[lexicon]\nlanguage = "de"\n[price]\nterms = ["wie viel"]\n',
    )
    lexicon = load_lexicon([replace, added])
    assert ("en", C.PRICE) in {(h.language, h.category) for h in lexicon.match("quote please")}
    assert ("en", C.PRICE) not in {(h.language, h.category) for h in lexicon.match("how much")}
    assert ("de", C.PRICE) in {(h.language, h.category) for h in lexicon.match("wie viel")}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not toml [", "chat lexicon"),
        ('[lexicon]\nname = "x"\n', "language"),
        ('[lexicon]\nlanguage = "en"\n[prices]\nterms = ["x"]\n', "unknown section"),
        ('[lexicon]\nlanguage = "en"\n[price]\nterms = "x"\n', "list of non-empty strings"),
        ('[lexicon]\nlanguage = "en"\n[price]\npatterns = ["{NOPE}"]\n', "unknown placeholder"),
        ('[lexicon]\nlanguage = "en"\n[price]\npatterns = ["(unclosed"]\n', "bad pattern"),
        ('[lexicon]\nlanguage = "en"\nmode = "merge"\n', "mode"),
    ],
)
def test_a_bad_lexicon_file_is_refused_with_its_name(tmp_path: Path, text: str, why: str) -> None:
    path = _write(tmp_path, "bad.toml", text)
    with pytest.raises(ValidationError, match=why) as error:
        load_lexicon([path])
    assert "bad.toml" in error.value.message


@pytest.mark.parametrize(
    "text",
    [
        "hoe gaat het met je moeder? we gaan zondag naar oma",  # nl
        "ik heb de boodschappen gedaan, tot straks",  # nl
        "kumusta ka na? miss na kita, ingat palagi",  # tl
        "salamat sa padala, nakabayad na kami ng kuryente",  # tl: thanks for the remittance
        "asa ka karon? naa ko sa balay, nagluto ko",  # ceb
        "salamat kaayo, maayong gabii sa inyong tanan",  # ceb
        "good morning! did you sleep well? see you at church",  # en
    ],
)
def test_ordinary_family_chat_fires_nothing(text: str) -> None:
    assert LEXICON.match(text) == []
