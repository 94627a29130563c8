"""A conversation's score from its lexicon categories and behavioural features, transparently:
a noisy-OR (1 - prod(1 - w)) over named factors, each with its weight from the rules and why
it counts, so a reviewer reads exactly what made the number.

Factors: every category that fired (weight ``weights.<category>``); ``child_age`` only when
the conversation counts (at least ``min_categories`` other categories fired) and one of
``child_age.requires_any`` fired too; ``stages``: each further stage reached in order
(arranging -> price -> payment -> show) adds ``stage_weight``, when one of
``stages.requires_any`` (solicitation) fired; ``night``: most messages in
the senders' night adds ``night_weight``. A conversation with fewer than ``min_categories``
categories other than child_age scores its one category's weight at most and raises no
reasons.
"""

from __future__ import annotations

from dataclasses import dataclass

from vangnet.context.chats.features import ConversationFeatures
from vangnet.context.chats.lexicon import Category
from vangnet.context.chats.rules import Rules


@dataclass(frozen=True, slots=True)
class Factor:
    """One named contribution to a score: its ``weight`` and a short ``why``."""

    name: str
    weight: float
    why: str


@dataclass(frozen=True)
class ConversationScore:
    """A conversation's ``score`` in [0, 1], the factors behind it, and whether it ``counts``
    (enough categories fired to raise reasons)."""

    conversation: str
    score: float
    factors: tuple[Factor, ...]
    counts: bool
    categories: frozenset[Category]  # the categories counted (child_age only when it counts)
    age_ignored: bool  # child_age fired but did not count (documented condition)
    features: ConversationFeatures

    def explain(self) -> str:
        """``score 0.73 = live_show 0.35, price 0.25, ...`` (strongest first)."""
        parts = ", ".join(
            f"{f.name} {f.weight:.2f}" for f in sorted(self.factors, key=lambda f: -f.weight)
        )
        note = "; a child's age was mentioned without solicitation (not counted)" * self.age_ignored
        return f"score {self.score:.2f} = {parts or 'nothing'}{note}"


def noisy_or(weights: list[float]) -> float:
    keep = 1.0
    for w in weights:
        keep *= 1.0 - min(1.0, max(0.0, w))
    return 1.0 - keep


def score_conversation(features: ConversationFeatures, rules: Rules) -> ConversationScore:
    """The transparent lexicon-and-features score of one conversation."""
    fired = {c for c, n in features.category_counts.items() if n > 0}
    others = fired - {Category.CHILD_AGE}
    counts = len(others) >= rules.min_categories
    factors = [
        Factor(c.value, rules.weights[c], f"{features.category_counts[c]} message(s)")
        for c in Category
        if c in others
    ]
    counted = set(others)
    age_ignored = False
    if Category.CHILD_AGE in fired:
        with_it = sorted(c.value for c in others & rules.child_age_requires)
        if counts and with_it:
            counted.add(Category.CHILD_AGE)
            factors.append(
                Factor("child_age", rules.weights[Category.CHILD_AGE], "with " + ", ".join(with_it))
            )
        else:
            age_ignored = True
    if counts and features.stages_in_order >= 2 and others & rules.stages_require:
        steps = features.stages_in_order - 1
        factors.append(
            Factor(
                "stages",
                min(1.0, rules.stage_weight * steps),
                f"{features.stages_in_order} stages in order",
            )
        )
    if counts and features.night_share >= rules.night_share:
        factors.append(
            Factor("night", rules.night_weight, f"{features.night_share:.0%} of messages at night")
        )
    return ConversationScore(
        conversation=features.conversation,
        score=noisy_or([f.weight for f in factors]),
        factors=tuple(factors),
        counts=counts,
        categories=frozenset(counted),
        age_ignored=age_ignored,
        features=features,
    )
