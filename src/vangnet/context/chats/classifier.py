"""The trainable chat classifier: per conversation, TF-IDF of word 1-2-grams and of character
2-4-grams within words (character n-grams carry Tagalog, Cebuano and Dutch spelling variants
and Taglish), plus the lexicon and behavioural features (`DENSE`), into a logistic
regression (scikit-learn).

A trained model is persisted as JSON, never pickle or joblib (loading a pickle runs code):
the vocabularies and IDF weights, the scale of the dense features, the coefficients and
intercept, the threshold, the lexicon and rules versions it was trained with and the training
file's SHA-256. Scoring after loading recomputes exactly what scikit-learn's TfidfVectorizer
and LogisticRegression compute (sublinear TF x IDF, L2-normalised; the logistic of the
linear score), so a model scores the same in the process that trained it and after a round
trip through its file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize

from vangnet.context.chats.analysis import ConversationAnalysis
from vangnet.context.chats.lexicon import Category, full_fold
from vangnet.errors import ValidationError

FORMAT = "vangnet-chat-model"
FORMAT_VERSION = 1
WORD_TOKENS = r"(?u)\b\w+\b"
Analyzer = Literal["word", "char_wb"]

#: The dense features, in the model's order: per category the log of 1 + the messages it
#: fired in, then the behavioural features and the transparent score.
DENSE: tuple[str, ...] = (
    *(f"messages_{c.value}" for c in Category),
    "stages_in_order",
    "night_share",
    "question_rate",
    "initiator_share",
    "log_messages",
    "lexicon_score",
)


def document(analysis: ConversationAnalysis) -> str:
    """The text the vectorisers read: every message's full fold, one a line."""
    return "\n".join(full_fold(m.text) for m in analysis.messages)


def dense_row(analysis: ConversationAnalysis) -> list[float]:
    f = analysis.features
    counts = [math.log1p(f.category_counts.get(c, 0)) for c in Category]
    return [
        *counts,
        float(f.stages_in_order),
        f.night_share,
        f.question_rate,
        f.share.get(f.initiator, 0.0),
        math.log1p(f.messages),
        analysis.score.score,
    ]


@dataclass(frozen=True)
class TextFeatures:
    """One TF-IDF vocabulary: ``analyzer``, ``ngram_range``, term -> column, IDF per column."""

    analyzer: Analyzer
    ngram_range: tuple[int, int]
    vocabulary: dict[str, int]
    idf: NDArray[np.float64]

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        counter = CountVectorizer(
            analyzer=self.analyzer,
            ngram_range=self.ngram_range,
            vocabulary=self.vocabulary,
            lowercase=False,
            token_pattern=WORD_TOKENS if self.analyzer == "word" else None,
        )
        counts = sp.csr_matrix(counter.transform(list(texts)), dtype=np.float64)
        counts.data = np.log(counts.data) + 1.0  # sublinear TF
        weighted = sp.csr_matrix(counts.multiply(self.idf.reshape(1, -1)))
        return sp.csr_matrix(normalize(weighted, norm="l2"))

    def as_json(self) -> dict[str, Any]:
        return {
            "analyzer": self.analyzer,
            "ngram_range": list(self.ngram_range),
            "vocabulary": self.vocabulary,
            "idf": [float(x) for x in self.idf],
        }

    @classmethod
    def from_json(cls, data: Any) -> TextFeatures:
        analyzer = data["analyzer"]
        if analyzer not in ("word", "char_wb"):
            raise ValueError(f"unknown analyzer {analyzer!r}")
        low, high = (int(x) for x in data["ngram_range"])
        vocabulary = {str(k): int(v) for k, v in data["vocabulary"].items()}
        idf = np.asarray(data["idf"], dtype=np.float64)
        if sorted(vocabulary.values()) != list(range(len(idf))):
            raise ValueError(f"the {analyzer} vocabulary does not match its IDF weights")
        return cls(analyzer, (low, high), vocabulary, idf)

    @classmethod
    def fitted(cls, vectorizer: TfidfVectorizer, analyzer: Analyzer) -> TextFeatures:
        vocabulary = {str(k): int(v) for k, v in vectorizer.vocabulary_.items()}
        low, high = vectorizer.ngram_range
        return cls(analyzer, (low, high), vocabulary, np.asarray(vectorizer.idf_, dtype=float))


@dataclass(frozen=True)
class TrainedModel:
    """A trained chat classifier, as its JSON file holds it."""

    word: TextFeatures
    char: TextFeatures
    scale: NDArray[np.float64]  # each dense feature is divided by this
    coef: NDArray[np.float64]
    intercept: float
    threshold: float = 0.5
    meta: dict[str, Any] = field(default_factory=dict)

    def matrix(self, analyses: Sequence[ConversationAnalysis]) -> sp.csr_matrix:
        docs = [document(a) for a in analyses]
        dense = np.asarray([dense_row(a) for a in analyses], dtype=np.float64).reshape(
            -1, len(DENSE)
        )
        return sp.csr_matrix(
            sp.hstack(
                [
                    self.word.transform(docs),
                    self.char.transform(docs),
                    sp.csr_matrix(dense / self.scale),
                ]
            )
        )

    def probabilities(self, analyses: Sequence[ConversationAnalysis]) -> NDArray[np.float64]:
        """The probability each conversation arranges paid abuse, per the model."""
        if not analyses:
            return np.zeros(0)
        z = self.matrix(analyses) @ self.coef + self.intercept
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "unit": "conversation",
            **self.meta,
            "threshold": self.threshold,
            "word": self.word.as_json(),
            "char": self.char.as_json(),
            "dense": {"names": list(DENSE), "scale": [float(x) for x in self.scale]},
            "coef": [float(x) for x in self.coef],
            "intercept": float(self.intercept),
        }

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.as_json(), sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def from_json(cls, data: Any) -> TrainedModel:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file")
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"format_version {data.get('format_version')!r} is not {FORMAT_VERSION}"
            )
        word = TextFeatures.from_json(data["word"])
        char = TextFeatures.from_json(data["char"])
        if list(data["dense"]["names"]) != list(DENSE):
            raise ValueError("its dense features are not this version's")
        scale = np.asarray(data["dense"]["scale"], dtype=np.float64)
        coef = np.asarray(data["coef"], dtype=np.float64)
        if len(scale) != len(DENSE) or len(coef) != len(word.idf) + len(char.idf) + len(DENSE):
            raise ValueError("its coefficients do not match its features")
        threshold = float(data["threshold"])
        if not 0.0 <= threshold <= 1.0:
            raise ValueError("threshold must be in 0-1")
        keys = (
            "trained_at",
            "lexicon_version",
            "training_sha256",
            "conversations",
            "positives",
            "seed",
        )
        meta = {k: data[k] for k in keys if k in data}
        return cls(word, char, scale, coef, float(data["intercept"]), threshold, meta)

    @classmethod
    def load(cls, path: Path) -> TrainedModel:
        """A model file; `ValidationError` (exit 6) when it cannot be read or is not one."""
        try:
            return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except OSError as error:
            raise ValidationError(f"chat model {path}: {error.strerror or error}") from None
        except (ValueError, KeyError, TypeError) as error:
            raise ValidationError(f"chat model {path}: {error}") from None


def train(
    analyses: Sequence[ConversationAnalysis],
    labels: Sequence[int],
    *,
    seed: int = 0,
    lexicon_version: str = "",
    training_sha256: str = "",
) -> TrainedModel:
    """A model fitted to labelled conversations (both labels needed, two of each at least)."""
    positives = sum(1 for y in labels if y == 1)
    if positives < 2 or len(labels) - positives < 2:
        raise ValidationError(
            f"training needs at least 2 conversations labelled 1 and 2 labelled 0 "
            f"(got {positives} and {len(labels) - positives})"
        )
    docs = [document(a) for a in analyses]
    word = TfidfVectorizer(
        analyzer="word",
        ngram_range=(1, 2),
        token_pattern=WORD_TOKENS,
        lowercase=False,
        sublinear_tf=True,
        max_features=20_000,
    )
    char = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=(2, 4),
        lowercase=False,
        sublinear_tf=True,
        max_features=30_000,
    )
    word.fit(docs)
    char.fit(docs)
    dense = np.asarray([dense_row(a) for a in analyses], dtype=np.float64)
    scale = np.abs(dense).max(axis=0)
    scale[scale == 0] = 1.0
    unfitted = TrainedModel(
        TextFeatures.fitted(word, "word"),
        TextFeatures.fitted(char, "char_wb"),
        scale,
        np.zeros(0),
        0.0,
    )
    x = unfitted.matrix(analyses)
    regression = LogisticRegression(
        C=4.0, class_weight="balanced", max_iter=2000, random_state=seed
    )
    regression.fit(x, np.asarray(labels))
    return TrainedModel(
        unfitted.word,
        unfitted.char,
        scale,
        np.asarray(regression.coef_[0], dtype=np.float64),
        float(regression.intercept_[0]),
        0.5,
        {
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "lexicon_version": lexicon_version,
            "training_sha256": training_sha256,
            "conversations": len(labels),
            "positives": positives,
            "seed": seed,
        },
    )
