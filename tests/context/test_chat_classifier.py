"""The trainable chat classifier and its evaluation: scoring after loading equals
scikit-learn's own TF-IDF, the JSON model survives a round trip (and is JSON, not a pickle),
bad model files are refused, the figures are right on a hand-computed example, and the chat
files name every bad line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from context.chat_samples import conversations, write_jsonl
from vangnet.context.chats.analysis import ChatModel, ConversationAnalysis
from vangnet.context.chats.classifier import WORD_TOKENS, TextFeatures, TrainedModel, train
from vangnet.context.chats.evaluation import THRESHOLDS, confusion, evaluate, model_report
from vangnet.context.chats.files import read_chat_file
from vangnet.context.chats.lexicon import load_lexicon
from vangnet.context.chats.rules import load_rules
from vangnet.errors import ImportFormatError, ValidationError

MODEL = ChatModel(load_lexicon(), load_rules())


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("chats") / "labelled.jsonl", conversations(48))


@pytest.fixture(scope="module")
def trained_json(labelled: Path) -> str:
    analyses, labels, _ = _analyses(labelled)
    return json.dumps(train(analyses, labels).as_json())


def _analyses(path: Path) -> tuple[list[ConversationAnalysis], list[int], list[str | None]]:
    chat = read_chat_file(path, labelled=True)
    names = list(chat.labels)
    return (
        [MODEL.analyse(c, chat.conversations[c]) for c in names],
        [chat.labels[c] for c in names],
        [chat.languages.get(c) for c in names],
    )


@pytest.mark.parametrize("analyzer", ["word", "char_wb"])
def test_tfidf_after_loading_is_scikit_learns(analyzer: str) -> None:
    docs = ["magkano po isang show", "how much for one show", "kumain ka na ba", "show show"]
    kwargs = {"token_pattern": WORD_TOKENS} if analyzer == "word" else {}
    fitted = TfidfVectorizer(
        analyzer=analyzer, ngram_range=(1, 3), lowercase=False, sublinear_tf=True, **kwargs
    ).fit(docs)
    ours = TextFeatures.fitted(fitted, analyzer)  # type: ignore[arg-type]
    again = TextFeatures.from_json(json.loads(json.dumps(ours.as_json())))
    new = ["how much po", "show show show", "nothing known"]
    assert np.allclose(again.transform(new).toarray(), fitted.transform(new).toarray())


def test_a_trained_model_round_trips_through_json(labelled: Path, tmp_path: Path) -> None:
    analyses, labels, _ = _analyses(labelled)
    model = train(analyses, labels, seed=3, lexicon_version=MODEL.version, training_sha256="ab")
    probabilities = model.probabilities(analyses)
    assert ((probabilities >= 0.5) == np.asarray(labels, dtype=bool)).mean() >= 0.95
    path = tmp_path / "model.json"
    model.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))  # plain JSON, no pickle
    assert data["format"] == "vangnet-chat-model" and data["unit"] == "conversation"
    assert data["lexicon_version"] == MODEL.version and data["training_sha256"] == "ab"
    assert data["conversations"] == len(labels) and data["seed"] == 3
    loaded = TrainedModel.load(path)
    assert np.allclose(loaded.probabilities(analyses), probabilities)
    assert train(analyses, labels, seed=3).coef.tolist() == model.coef.tolist()  # seeded


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (lambda d: d.update(format="pickle"), "not a vangnet-chat-model"),
        (lambda d: d.update(format_version=9), "format_version"),
        (lambda d: d.update(coef=d["coef"][:-1]), "do not match"),
        (lambda d: d["word"].update(idf=d["word"]["idf"][:-1]), "does not match its IDF"),
        (lambda d: d.pop("intercept"), "intercept"),
        (lambda d: d.update(threshold=3), "threshold"),
    ],
)
def test_a_bad_model_file_is_refused(
    labelled: Path, tmp_path: Path, edit: object, why: str
) -> None:
    analyses, labels, _ = _analyses(labelled)
    data = train(analyses, labels).as_json()
    edit(data)  # type: ignore[operator]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValidationError, match=why):
        TrainedModel.load(path)


def test_training_needs_both_labels(labelled: Path) -> None:
    analyses = _analyses(labelled)[0]
    with pytest.raises(ValidationError, match="at least 2"):
        train(analyses[:5], [1, 1, 1, 1, 0])


def test_figures_on_a_hand_computed_example() -> None:
    labels = [1, 1, 0, 0, 1]
    scores = [0.9, 0.4, 0.6, 0.1, 0.5]
    c = confusion(labels, scores, 0.5)
    assert (c.tp, c.fp, c.fn, c.tn) == (2, 1, 1, 1)  # 0.5 counts as positive
    assert c.precision == pytest.approx(2 / 3) and c.recall == pytest.approx(2 / 3)
    assert c.f1 == pytest.approx(2 / 3)
    report = model_report("m", "test", labels, scores, 0.5, ["en", "en", "nl", "nl", None])
    at = dict(report.curve)
    assert (at[0.1].tp, at[0.1].fp, at[0.1].fn, at[0.1].tn) == (3, 2, 0, 0)
    assert (at[0.9].tp, at[0.9].fp, at[0.9].fn) == (1, 0, 2)
    assert at[0.9].precision == 1.0 and at[0.9].recall == pytest.approx(1 / 3)
    assert [t for t, _ in report.curve] == list(THRESHOLDS)
    en, nl = report.by_language["en"], report.by_language["nl"]
    assert (en.tp, en.fn, nl.fp, nl.tn) == (1, 1, 1, 1)
    assert set(report.by_language) == {"en", "nl"}
    none = confusion([0, 0], [0.1, 0.2], 0.5)
    assert none.precision == 0.0 and none.recall == 0.0 and none.f1 == 0.0
    data = report.as_json()
    assert data["precision"] == 0.6667 and data["tp"] == 2 and len(data["thresholds"]) == 9


def test_evaluation_of_both_models(labelled: Path) -> None:
    analyses, labels, languages = _analyses(labelled)
    lexicon, trained = evaluate(
        analyses,
        labels,
        languages,
        lexicon_threshold=0.5,
        lexicon_version=MODEL.version,
        folds=3,
        seed=1,
    )
    assert lexicon.model == "lexicon" and trained.how == "3-fold cross-validation"
    for report in (lexicon, trained):
        o = report.overall
        assert o.tp + o.fp + o.fn + o.tn == len(labels)
        assert set(report.by_language) == {"en", "nl", "tl", "ceb"}
    assert lexicon.overall.recall >= 0.8 and lexicon.overall.precision >= 0.8
    assert trained.overall.recall >= 0.8
    with pytest.raises(ValidationError, match="fold cross-validation needs more"):
        evaluate(
            analyses[:8],
            labels[:8],
            languages[:8],
            lexicon_threshold=0.5,
            lexicon_version="",
            folds=5,
        )


def test_a_chat_file_names_every_bad_line(tmp_path: Path) -> None:
    good = {"conversation": "c", "sender": "a", "at": "2026-11-03T22:41:05+01:00", "text": "hi"}
    lines = [
        json.dumps({**good, "label": 1}),
        "not json",
        json.dumps({**good, "at": "2026-11-03T22:41:05"}),  # no offset
        json.dumps({**good, "label": 0}),  # contradicts line 1
        json.dumps({**good, "label": 2}),
        json.dumps({k: v for k, v in good.items() if k != "sender"}),
        json.dumps([1, 2]),
        "",
        json.dumps({**good, "recipients": "b"}),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ImportFormatError) as error:
        read_chat_file(path, labelled=True)
    message = error.value.message
    assert "7 bad line(s), nothing used" in message
    for number in (2, 3, 4, 5, 6, 7, 9):
        assert f"line {number}:" in message
    assert "no UTC offset" in message and "contradicts" in message
    assert error.value.exit_code == 6


def test_a_messages_file_needs_refs_and_counts_unlabelled(tmp_path: Path) -> None:
    row = {"conversation": "c", "sender": "a", "at": "2026-11-03T22:41:05Z", "text": "hi"}
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(ImportFormatError, match="line 1: missing 'ref'"):
        read_chat_file(path, labelled=False)
    path.write_text(
        json.dumps({**row, "ref": "r1"}) + "\n" + json.dumps({**row, "ref": "r1"}) + "\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportFormatError, match="line 2: ref 'r1' repeated"):
        read_chat_file(path, labelled=False)
    path.write_text(
        json.dumps({**row, "label": 1}) + "\n" + json.dumps({**row, "conversation": "d"}) + "\n",
        encoding="utf-8",
    )
    chat = read_chat_file(path, labelled=True)
    assert chat.labels == {"c": 1} and chat.unlabelled == ["d"]


def test_a_line_separator_inside_a_message_does_not_split_its_line(tmp_path: Path) -> None:
    # JSON allows U+2028, U+0085 and friends unescaped in a string; only "\n" ends a line
    row = {"ref": "r1", "conversation": "c", "sender": "a", "at": "2026-11-03T22:41:05Z"}
    text = "one\u2028two\x85three\x1cfour\r"
    path = tmp_path / "m.jsonl"
    lines = [
        json.dumps({**row, "text": text}, ensure_ascii=False),
        json.dumps({**row, "ref": "r2", "text": "x"}),
    ]
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8", newline="")
    chat = read_chat_file(path, labelled=False)
    assert [m.text for m in chat.conversations["c"]] == [text, "x"]
