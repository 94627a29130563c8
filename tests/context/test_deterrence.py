"""The search-deterrence check: obfuscated queries (spacing, separators, leetspeak,
homoglyphs, fullwidth letters, zero-width characters, accents, repeated letters) caught,
near misses (a term inside a longer word, a plural) not; term and help files as data and
refused when bad; counts aggregated exactly under concurrent checks on SQLite and PostgreSQL;
the CLI's check and stats. Only the bundled placeholder test list is used."""

from __future__ import annotations

import threading
from datetime import date
from importlib.resources import files
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cli_invoke import invoke, json_lines
from vangnet.config import Settings
from vangnet.context.deterrence.check import OTHER, UNSPECIFIED, Deterrence
from vangnet.context.deterrence.counts import day_counts, record_check
from vangnet.context.deterrence.help import load_help
from vangnet.context.deterrence.normalize import key, tokens
from vangnet.context.deterrence.terms import Match, TermLists, load_term_lists, parse_term_file
from vangnet.errors import ExitCode, ValidationError
from vangnet.store.db import writer
from vangnet.store.models import DeterrenceCount

TEST_TERMS = Path(str(files("vangnet.context.deterrence") / "data/test-terms.txt"))


@pytest.fixture(scope="module")
def checker() -> Deterrence:
    return Deterrence(load_term_lists([TEST_TERMS]), load_help(), max_chars=512)


@pytest.mark.parametrize(
    "query",
    [
        "vangnet test term",
        "VANGNET-TEST-TERM",
        "vangnet_test.term",
        "v a n g n e t t e s t t e r m",  # spacing
        "vangnettestterm",  # no separators
        "v4ngn3t t3st t3rm",  # leetspeak
        "v@ngnet te$t term",
        "v\u0430ngn\u0435t t\u0435st t\u0435rm",  # Cyrillic a and e
        "\uff56\uff41\uff4e\uff47\uff4e\uff45\uff54 test term",  # fullwidth
        "vang\u200dnet te\u200bst term",  # zero-width joiner and space
        "vängnet tést térm",  # accents
        "\u24e5\u24d0\u24dd\u24d6\u24dd\u24d4\u24e3 test term",  # circled letters
        "\U0001d42f\U0001d41a\U0001d427\U0001d420\U0001d427\U0001d41e\U0001d42d test term",  # bold
        "\U0001f600vangnet\U0001f600test term",  # emoji as separators
        "\u202evangnet test term",  # a direction override
        "vaaangnet teeest term",  # repeated letters
        "where to find testterm alpha now",  # inside a longer query
        "TestTermAlpha",
        "placeholder query bravo",
    ],
)
def test_obfuscated_queries_are_caught(checker: Deterrence, query: str) -> None:
    answer = checker.check(query, "nl")
    assert answer.warn and answer.list_name == "vangnet-test"


@pytest.mark.parametrize(
    "query",
    [
        "mytesttermalpha",  # inside a longer word
        "testterm alphabet",  # the last word is longer
        "vangnet test terms",  # a plural is another word
        "vangnet test",  # part of a term
        "alpha testterm",  # other order
        "how to bake bread",
    ],
)
def test_near_misses_are_not(checker: Deterrence, query: str) -> None:
    answer = checker.check(query, "nl")
    assert answer.enabled and not answer.warn and answer.message is None


def test_the_query_and_terms_fold_alike() -> None:
    assert tokens("\uff364ng-Net\u200b  TEST") == ("vang", "net", "test")
    assert key(["pp", "tthh", "c"]) == key(["pthc"]) == "pthc"


def test_the_answer_speaks_the_searchers_language(checker: Deterrence) -> None:
    nl = checker.check("vangnet test term", "nl")
    assert nl.help is not None and nl.help.name == "Stop it Now! Nederland"
    assert nl.message is not None and nl.message.startswith("Zoeken naar")
    assert nl.language == "nl"
    us = checker.check("vangnet test term", "en-US")
    assert us.help is not None and us.help.phone == "1-888-773-8368" and us.language == "en-us"
    uk = checker.check("vangnet test term", "en-gb")  # base language
    assert uk.help is not None and uk.help.phone == "0808 1000 900" and uk.language == "en"
    other = checker.check("vangnet test term", "sw")
    assert other.help is not None and "troubled-desire" in other.help.url
    assert other.language == OTHER
    assert checker.check("vangnet test term").language == UNSPECIFIED
    assert set(nl.as_json()) == {"enabled", "warn", "message", "help", "list"}
    assert "vangnet" not in str(nl.as_json()["message"])  # the query is never echoed


@pytest.mark.parametrize(
    ("query", "language", "why"),
    [
        ("", None, "empty"),
        ("   ", None, "empty"),
        ("x" * 513, None, "longer than 512"),
        ("ok", "not a language", "ISO 639"),
    ],
)
def test_bad_queries_are_refused(
    checker: Deterrence, query: str, language: str | None, why: str
) -> None:
    with pytest.raises(ValidationError, match=why):
        checker.check(query, language)


def test_no_list_means_disabled() -> None:
    answer = Deterrence.from_settings(Settings()).check("vangnet test term", "nl")
    assert not answer.enabled and not answer.warn and answer.help is None


def test_term_files_with_headers_and_languages(tmp_path: Path) -> None:
    path = tmp_path / "lists.txt"
    path.write_text(
        "# comment\nloose term one\n\n[alpha:de]\nzeta term\n[beta]\nomega word\n",
        encoding="utf-8",
    )
    lists = parse_term_file(path)
    assert [(x.name, x.language) for x in lists] == [
        ("lists", None),
        ("alpha", "de"),
        ("beta", None),
    ]
    checker = Deterrence(load_term_lists([path]), load_help(), max_chars=100)
    answer = checker.check("zeta-term")  # no language given: the list's language
    assert answer.list_name == "alpha" and answer.help is not None
    assert answer.help.name == "Kein Täter werden"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("[bad name!]\nterm\n", "line 1: a header is"),
        ("[empty]\n[full]\nsome term\n", "line 1: list \\[empty\\] has no terms"),
        ("ok term\nab\n", "line 2: a term must fold to at least 3"),
        ("ok term\n- -\n", "line 2: a term must fold"),
    ],
)
def test_bad_term_files_are_refused(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "terms.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationError, match=why):
        load_term_lists([path])
    with pytest.raises(ValidationError, match="appears twice"):
        load_term_lists([TEST_TERMS, TEST_TERMS])
    with pytest.raises(ValidationError, match="term list"):
        load_term_lists([tmp_path / "missing.txt"])


def test_bad_help_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "help.toml"
    path.write_text('default = "xx"\n[routes.en]\nname = "a"\nurl = "https://a"\nmessage = "m"\n')
    with pytest.raises(ValidationError, match="default"):
        load_help(path)
    path.write_text('default = "en"\n[routes.en]\nname = "a"\nurl = "http://a"\nmessage = "m"\n')
    with pytest.raises(ValidationError, match="https"):
        load_help(path)
    path.write_text('default = "en"\n[routes.en]\nname = "a"\nurl = "https://a"\nmessage = "m"\n')
    assert load_help(path).route("nl").phone is None


def test_counts_aggregate_and_nothing_else(db_engine: Engine) -> None:
    day = date(2026, 12, 7)
    db_session = Session(db_engine)
    for list_name, language, warned in [
        ("vangnet-test", "nl", True),
        ("vangnet-test", "nl", True),
        ("", "nl", False),
        ("", "en", False),
    ]:
        record_check(db_session, day=day, list_name=list_name, language=language, warned=warned)
    db_session.commit()
    got = {(r.list_name, r.language): (r.checks, r.warnings) for r in day_counts(db_session)}
    assert got == {("vangnet-test", "nl"): (2, 2), ("", "nl"): (1, 0), ("", "en"): (1, 0)}
    assert day_counts(db_session, since=date(2026, 12, 8)) == []
    db_session.close()
    columns = set(DeterrenceCount.__table__.columns.keys())
    assert columns == {"id", "day", "list_name", "language", "checks", "warnings"}
    # concurrent checks lose no count
    day = date(2026, 12, 6)
    threads, each = 4, 10
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(each):
                with Session(writer(db_engine)) as s:
                    record_check(s, day=day, list_name="l", language="nl", warned=True)
                    s.commit()
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors
    with Session(db_engine) as s:
        row = s.scalars(select(DeterrenceCount).where(DeterrenceCount.day == day)).one()
        assert (row.checks, row.warnings) == (threads * each, threads * each)
        assert s.scalar(select(func.count()).select_from(DeterrenceCount)) == 4


def test_the_cli_checks_and_shows_the_counts(
    db_url: str, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    result = invoke("deterrence", "check", "vangnet test term", "--language", "nl")
    assert "no term list loaded" in result.stdout
    monkeypatch.setenv("VANGNET_DETERRENCE_TERM_FILES", f'["{TEST_TERMS}"]')
    [answer] = json_lines(
        "deterrence", "check", "v4ngnet t e s t term", "--language", "nl", "--json"
    )
    assert answer["warn"] and answer["help"]["url"] == "https://stopitnow.nl"
    assert "warn (list vangnet-test)" in invoke("deterrence", "check", "testterm alpha").stdout
    assert invoke("deterrence", "check", "bread").stdout.strip() == "no warning"
    invoke("deterrence", "check", "", code=ExitCode.INVALID_DATA)
    assert json_lines("deterrence", "stats", "--json") == []  # trying the lists counts nothing
    record_check(db_session, day=date.today(), list_name="vangnet-test", language="nl", warned=True)
    db_session.commit()
    [row] = json_lines("deterrence", "stats", "--json")
    assert (row["list"], row["language"], row["checks"], row["warnings"]) == (
        "vangnet-test",
        "nl",
        1,
        1,
    )
    assert "vangnet-test" in invoke("deterrence", "stats").stdout


def _match_by_every_run(lists: TermLists, query: str) -> Match | None:
    """The check's meaning, spelled out: every run of whole tokens, folded, looked up."""
    parts = tokens(query)
    for start in range(len(parts)):
        for end in range(start, len(parts)):
            found = lists._owner.get(key(parts[start : end + 1]))
            if found is not None:
                return Match(found.name, found.language)
    return None


def test_matching_agrees_with_every_run_of_tokens(tmp_path: Path) -> None:
    import random

    path = tmp_path / "terms.txt"
    path.write_text("[one]\nacab\nb a c\nabcab\n[two]\ncab ab\nbcb\n", encoding="utf-8")
    lists = load_term_lists([path])
    pick = random.Random(7)
    for _ in range(3000):
        words = ["".join(pick.choices("abcd", k=pick.randint(1, 3))) for _ in range(6)]
        query = " ".join(words)
        assert lists.match(query) == _match_by_every_run(lists, query), query


@pytest.mark.parametrize("query", ["a " * 5000, "ab " + "b " * 4998, "xa a a ya a a " * 714])
def test_a_long_query_of_repeated_letters_is_checked_at_once(query: str) -> None:
    # every run of "a a a ..." folds to "a": the runs must not each be built and folded
    import time

    lists = load_term_lists([TEST_TERMS])
    began = time.perf_counter()
    assert lists.match(query[:10_000]) is None
    assert time.perf_counter() - began < 1.0
