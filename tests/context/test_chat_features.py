"""Conversation features (PAN 2012: who starts, message share, response times, night in the
sender's own zone, questions, stages in order), the transparent conversation score (a
child's age counts only together with solicitation) and the chats evaluator's reasons and
roles, through a `Population` as every evaluator gets it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from vangnet.config import Settings
from vangnet.context.chats.analysis import ChatModel
from vangnet.context.chats.evaluator import ChatsEvaluator, roles_in
from vangnet.context.chats.features import zones_of
from vangnet.context.chats.lexicon import Category, load_lexicon
from vangnet.context.chats.rules import load_rules, parse_rules
from vangnet.context.findings import Role, assess_all
from vangnet.context.population import Population, evaluators
from vangnet.errors import ValidationError
from vangnet.sources.records.model import Account, Message, RecordKind

MODEL = ChatModel(load_lexicon(), load_rules())
T0 = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)  # 22:00 in Manila, 15:00 in Amsterdam


def chat(conversation: str, lines: list[tuple[str, str, int]]) -> list[Message]:
    """Messages (sender, text, seconds after T0)."""
    return [
        Message(
            ref=f"{conversation}-{i}",
            conversation=conversation,
            at=T0 + timedelta(seconds=s),
            sender=who,
            text=text,
        )
        for i, (who, text, s) in enumerate(lines)
    ]


ARRANGING = chat(
    "deal",
    [
        ("viewer", "hi, can you do a live show tonight?", 0),
        ("facil", "yes. how much you pay?", 60),
        ("viewer", "25 eur ok?", 300),
        ("facil", "ok send first to gcash 09171234567", 360),
        ("viewer", "sent. she is 9? show me now", 900),
    ],
)
BIRTHDAY = chat(
    "birthday",
    [
        ("mom", "she turned 9 today!", 0),
        ("aunt", "happy birthday! how much was the cake?", 120),
        ("mom", "about 20 eur, worth it", 180),
    ],
)
FAMILY = chat(
    "family",
    [
        ("lola", "kumain ka na ba?", 0),
        ("apo", "oo po, salamat", 30),
        ("lola", "video call tayo sa linggo?", 90),
    ],
)


def test_features_of_a_conversation() -> None:
    a = MODEL.analyse("deal", ARRANGING)
    f = a.features
    assert f.initiator == "viewer"
    assert f.messages == 5 and f.duration_seconds == 900
    assert f.share == {"viewer": 0.6, "facil": 0.4}
    # facil answered after 60 s and 60 s; viewer after 240 s and 540 s
    assert f.median_response_seconds == {"facil": 60.0, "viewer": 390.0}
    assert f.question_rate == pytest.approx(4 / 5)
    assert f.first_seen[:3] == (Category.LIVE_SHOW, Category.PRICE, Category.PAYMENT_HANDLE)
    assert f.stages_in_order == 4  # arranging -> price -> payment -> show (directing)
    assert f.night_share == 0.0  # 14:00 UTC and no zone known: day


def test_night_is_the_senders_own_night() -> None:
    accounts = {"viewer": "Europe/Amsterdam", "facil": "Asia/Manila", "x": "Not/AZone"}
    zones = zones_of(accounts)
    assert set(zones) == {"viewer", "facil"}  # an unknown zone is UTC
    f = MODEL.analyse("deal", ARRANGING, zones=zones).features
    assert f.night_share == pytest.approx(2 / 5)  # facil's two messages at 22:00 in Manila


def test_stages_out_of_order_count_the_longest_ordered_run() -> None:
    messages = chat(
        "backwards",
        [
            ("f", "gcash 09171234567", 0),
            ("v", "how much", 10),
            ("v", "live show?", 20),
        ],
    )
    assert MODEL.analyse("backwards", messages).features.stages_in_order == 1


def test_the_score_names_its_factors() -> None:
    score = MODEL.analyse("deal", ARRANGING).score
    names = {f.name for f in score.factors}
    assert {"live_show", "price", "payment_handle", "directing", "child_age", "stages"} <= names
    assert score.counts and score.score >= MODEL.rules.threshold
    text = score.explain()
    assert text.startswith(f"score {score.score:.2f} = ") and "child_age 0.45" in text
    age = next(f for f in score.factors if f.name == "child_age")
    assert "live_show" in age.why


def test_a_birthday_with_an_age_and_a_price_question_is_not_scored_high() -> None:
    a = MODEL.analyse("birthday", BIRTHDAY)
    assert Category.CHILD_AGE in a.features.category_counts  # the phrase is found ...
    assert a.score.age_ignored and Category.CHILD_AGE not in a.score.categories  # ... not counted
    assert not a.score.counts
    assert a.score.score < MODEL.rules.threshold
    assert "not counted" in a.score.explain()


def test_an_age_counts_only_with_solicitation() -> None:
    with_price_only = chat(
        "p",
        [("a", "she is 9 now", 0), ("b", "how much was school?", 5), ("a", "add me on viber", 9)],
    )
    score = MODEL.analyse("p", with_price_only).score
    assert score.counts  # price and platform_hop
    assert score.age_ignored  # price is not solicitation: the age is left out
    with_show = chat("s", [("a", "she is 9", 0), ("b", "how much for a live show?", 5)])
    assert Category.CHILD_AGE in MODEL.analyse("s", with_show).score.categories


def test_reasons_roles_and_rows_through_a_population() -> None:
    evaluator = ChatsEvaluator()
    reasons = evaluator.evaluate(Population(messages=[*ARRANGING, *BIRTHDAY, *FAMILY]))
    assert {r.details["conversation"] for r in reasons} == {"deal"}  # only the arranging one
    indicators = {r.indicator for r in reasons}
    assert indicators == {
        "chat_solicitation",
        "chat_negotiation",
        "chat_payment_handle",
        "chat_child_age",
        "chat_stages",
    }
    roles = {r.account: r.role for r in reasons}
    assert roles == {"viewer": Role.VIEWER, "facil": Role.FACILITATOR}
    payment = next(r for r in reasons if r.indicator == "chat_payment_handle")
    assert [(x.kind, x.ref) for x in payment.rows] == [(RecordKind.MESSAGES, "deal-3")]
    assert "09171234567" in payment.summary and "payment_handle in 1 message(s)" in payment.summary
    assert payment.at == ARRANGING[3].at
    solicitation = next(r for r in reasons if r.indicator == "chat_solicitation")
    assert {x.ref for x in solicitation.rows} == {"deal-0", "deal-4"}
    risks = {k.account: k for k in assess_all(reasons)}
    assert risks["viewer"].role is Role.VIEWER and risks["viewer"].score > 0.8


def test_roles_follow_whichever_side_shows() -> None:
    only_directing = chat("d", [("v", "show me now", 0), ("f", "ok", 1), ("v", "how much", 2)])
    roles = roles_in(MODEL.analyse("d", only_directing))
    assert roles == {"v": Role.VIEWER, "f": Role.FACILITATOR}
    neither = chat("n", [("a", "how much for a live show", 0), ("b", "20 usd", 1)])
    assert roles_in(MODEL.analyse("n", neither)) == {}


def test_the_evaluator_is_registered_and_reads_the_account_zones(tmp_path: Path) -> None:
    assert evaluators()["chats"] is ChatsEvaluator
    evaluator = ChatsEvaluator.from_settings(Settings())
    accounts = {"facil": Account(ref="facil", timezone="Asia/Manila")}
    lines = [(m.sender, m.text, int((m.at - T0).total_seconds())) for m in ARRANGING]
    night = chat("deal", [(w, t, s) for w, t, s in lines if w == "facil"] + [("v", "show me", 5)])
    reasons = evaluator.evaluate(Population(messages=night, accounts=accounts))
    assert any(r.indicator == "chat_night" for r in reasons)


def test_rules_are_data_and_bad_rules_are_refused(tmp_path: Path) -> None:
    import tomllib
    from importlib.resources import files

    data = tomllib.loads(
        (files("vangnet.context.chats") / "lexicon/rules.toml").read_text(encoding="utf-8")
    )
    data["weights"]["price"] = 0.9
    rules = parse_rules(data, "test")
    priced = chat("x", [("a", "how much", 0), ("b", "add me on telegram", 1)])
    assert ChatModel(load_lexicon(), rules).analyse("x", priced).score.score > 0.9
    data["weights"]["price"] = 2
    with pytest.raises(ValidationError, match="0-1"):
        parse_rules(data, "test")
    del data["weights"]["price"]
    with pytest.raises(ValidationError, match="no weight for price"):
        parse_rules(data, "test")
    bad = tmp_path / "rules.toml"
    bad.write_text("[rules]\nversion = 1\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="missing entry"):
        load_rules(bad)


def test_stored_messages_are_evaluated_as_loaded(db_session: Session) -> None:
    from vangnet.context import stored

    db_session.add_all([stored.message_row(m) for m in [*ARRANGING, *BIRTHDAY]])
    db_session.add(stored.account_row(Account(ref="facil", timezone="Asia/Manila")))
    db_session.commit()
    population = Population.load(db_session)
    reasons = ChatsEvaluator.from_settings(Settings()).evaluate(population)
    assert {r.details["conversation"] for r in reasons} == {"deal"}
    assert {r.account: r.role for r in reasons} == {
        "viewer": Role.VIEWER,
        "facil": Role.FACILITATOR,
    }
    solicitation = next(r for r in reasons if r.indicator == "chat_solicitation")
    assert {x.ref for x in solicitation.rows} == {"deal-0", "deal-4"}
    assert solicitation.details["night_share"] == pytest.approx(2 / 5)  # facil's zone, stored


def test_a_family_remittance_is_not_flagged() -> None:
    remittance = chat(
        "r",
        [
            ("son", "ma, I sent 50 usd for the school fees", 0),
            ("ma", "salamat anak, send to my gcash 09171234567 next time", 60),
        ],
    )
    score = MODEL.analyse("r", remittance).score
    assert score.counts  # price and a payment handle: two indicators ...
    assert "stages" not in {f.name for f in score.factors}  # ... but no solicitation
    assert score.score == pytest.approx(1 - 0.75 * 0.7)
    assert score.score < MODEL.rules.threshold


def test_a_message_at_the_start_of_the_calendar_has_a_local_hour() -> None:
    # 0001-01-01 01:00 UTC is year 0 in Manila's old offset (-15:56): the hour of UTC then,
    # not an OverflowError that stops the chat evaluator for every conversation
    at = datetime(1, 1, 1, 1, tzinfo=UTC)
    early = [Message(ref="e-1", conversation="e", at=at, sender="a", text="hi")]
    f = MODEL.analyse("e", early, zones=zones_of({"a": "Asia/Manila"})).features
    assert f.messages == 1 and f.night_share == 1.0  # 01:00, UTC's hour: night
