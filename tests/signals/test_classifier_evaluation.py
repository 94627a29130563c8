"""The figures of `vangnet classifiers evaluate` against their plain definitions: ROC AUC as
the share of (positive, negative) pairs ordered right (a tie half), average precision as the
mean precision at each positive's rank over distinct thresholds, the threshold at a target
precision as the lowest cut that keeps it; ties and edge cases by hand."""

from __future__ import annotations

import random

import pytest

from vangnet.signals.classifiers.evaluation import at_target, average_precision, measure, roc_auc


def _auc_pairs(scores: list[float], truth: list[bool]) -> float:
    pos = [s for s, t in zip(scores, truth, strict=True) if t]
    neg = [s for s, t in zip(scores, truth, strict=True) if not t]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def _ap_plain(scores: list[float], truth: list[bool]) -> float:
    total, last = 0.0, 0.0
    positives = sum(truth)
    for cut in sorted(set(scores), reverse=True):
        tp = sum(t for s, t in zip(scores, truth, strict=True) if s >= cut)
        flagged = sum(s >= cut for s in scores)
        total += (tp / positives - last) * tp / flagged
        last = tp / positives
    return total


def _lowest_cut(scores: list[float], truth: list[bool], target: float) -> float | None:
    found = None
    for cut in sorted(set(scores), reverse=True):
        tp = sum(t for s, t in zip(scores, truth, strict=True) if s >= cut)
        if tp / sum(s >= cut for s in scores) >= target:
            found = cut
    return found


def test_against_the_plain_definitions() -> None:
    rng = random.Random(13)
    for _ in range(200):
        n = rng.randint(2, 30)
        scores = [rng.choice([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0, rng.random()]) for _ in range(n)]
        truth = [rng.random() < 0.4 for _ in range(n)]
        truth[0], truth[1] = True, False
        assert roc_auc(scores, truth) == pytest.approx(_auc_pairs(scores, truth))
        assert average_precision(scores, truth) == pytest.approx(_ap_plain(scores, truth))
        for target in (0.5, 0.8, 0.99):
            reached, best = at_target(scores, truth, target)
            expected = _lowest_cut(scores, truth, target)
            assert (reached and reached["threshold"]) == expected
            assert best is not None and (reached is None) == (best["precision"] < target)


def test_ties_and_edges_by_hand() -> None:
    # a positive and a negative tied at 0.5: half a pair; precision at 0.5 is 1/2
    assert roc_auc([0.5, 0.5], [True, False]) == 0.5
    reached, best = at_target([0.5, 0.5], [True, False], 0.99)
    assert reached is None and best == {
        "threshold": 0.5,
        "precision": 0.5,
        "recall": 1.0,
        "false_positive_rate": 1.0,
    }
    assert roc_auc([0.3], [True]) is None and average_precision([0.3], [False]) is None
    figures = measure("x", "1", "sexual_content", [0.9, 0.2], [True, False], threshold=0.95)
    assert (figures.tp, figures.fp, figures.tn, figures.fn) == (0, 0, 1, 1)
    assert figures.precision is None and figures.recall == 0.0 and figures.f1 == 0.0
    assert figures.as_json()["precision"] is None
