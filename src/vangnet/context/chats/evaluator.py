"""`ChatsEvaluator`: the chat indicators as reasons about accounts.

For every conversation that counts (`vangnet.context.chats.scoring`), one `Reason` per
indicator family that fired (``chat_solicitation``, ``chat_negotiation``,
``chat_payment_handle``, ``chat_platform_hop``, ``chat_child_age``; ``chat_stages`` and
``chat_night`` for the behavioural factors) on each account that wrote in it, with the
family's weight from the rules, the message refs that fired it as rows and a summary that
names each category, the phrases found and the conversation's score with its factors.

Roles, where the messages show them: the account that gives a payment handle is the one
getting paid (``facilitator``); the one giving directions is the ``viewer``; when only one
side shows, the other participants get the other role; otherwise ``unknown``.

With a trained model (setting ``context_chat_model``) the evaluator also scores every
conversation with it and adds ``chat_model`` (weight: the model's probability) where it is
at or above the model's threshold: both models speak, each under its own indicator, and
`vangnet.context.findings.combine` keeps them apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from vangnet.config import Settings
from vangnet.context.chats.analysis import ChatModel, ConversationAnalysis
from vangnet.context.chats.classifier import TrainedModel
from vangnet.context.chats.features import zones_of
from vangnet.context.chats.lexicon import Category, Hit, load_lexicon
from vangnet.context.chats.rules import Rules, load_rules
from vangnet.context.findings import Reason, Role, RowRef
from vangnet.context.population import Evaluator, Population
from vangnet.sources.records.model import Message, RecordKind

#: Rows named by one reason (the graph contract's cap too).
MAX_ROWS = 50
#: Phrases quoted in a summary.
MAX_PHRASES = 5
STAGES = "chat_stages"
NIGHT = "chat_night"
MODEL = "chat_model"


def roles_in(analysis: ConversationAnalysis) -> dict[str, Role]:
    """Who is paid and who directs in one conversation, where its messages show it."""
    paid = {
        m.sender
        for m, hs in zip(analysis.messages, analysis.hits, strict=True)
        if any(h.category is Category.PAYMENT_HANDLE for h in hs)
    }
    directs = {
        m.sender
        for m, hs in zip(analysis.messages, analysis.hits, strict=True)
        if any(h.category is Category.DIRECTING for h in hs)
    } - paid
    everyone = set(analysis.features.participants)
    if paid and not directs:
        directs = everyone - paid
    elif directs and not paid:
        paid = everyone - directs
    return {**{a: Role.FACILITATOR for a in paid}, **{a: Role.VIEWER for a in directs}}


def _rows(messages: Sequence[Message]) -> tuple[RowRef, ...]:
    refs = dict.fromkeys(m.ref for m in messages)
    return tuple(RowRef(RecordKind.MESSAGES, r) for r in list(refs)[:MAX_ROWS])


def conversation_reasons(analysis: ConversationAnalysis, rules: Rules) -> list[Reason]:
    """The reasons one conversation raises (none when it does not count)."""
    score = analysis.score
    if not score.counts:
        return []
    roles = roles_in(analysis)
    senders = list(dict.fromkeys(m.sender for m in analysis.messages))
    fired: dict[str, list[tuple[Message, Hit]]] = {}
    for message, hits in zip(analysis.messages, analysis.hits, strict=True):
        for hit in hits:
            if hit.category in score.categories:
                fired.setdefault(rules.family_of(hit.category), []).append((message, hit))
    explained = score.explain()
    head = (
        f"conversation {analysis.conversation} ({len(senders)} account(s), "
        f"{len(analysis.messages)} messages)"
    )
    found: list[tuple[str, float, str, list[Message], dict[str, object]]] = []
    for family, pairs in fired.items():
        categories = sorted({h.category for _, h in pairs})
        messages = list({m.ref: m for m, _ in pairs}.values())
        per = ", ".join(
            f"{c.value} in {len({m.ref for m, h in pairs if h.category is c})} message(s)"
            for c in categories
        )
        phrases = list(dict.fromkeys(h.text for _, h in pairs))[:MAX_PHRASES]
        quoted = ", ".join(f'"{p}"' for p in phrases)
        found.append(
            (
                family,
                max(rules.weights[c] for c in categories),
                f"{head}: {per} ({quoted}); {explained}",
                messages,
                {"categories": [c.value for c in categories], "phrases": phrases},
            )
        )
    for factor in score.factors:
        if factor.name in ("stages", "night"):
            found.append(
                (
                    STAGES if factor.name == "stages" else NIGHT,
                    factor.weight,
                    f"{head}: {factor.why}; {explained}",
                    list(analysis.messages),
                    {},
                )
            )
    f = analysis.features
    shared = {
        "conversation": analysis.conversation,
        "conversation_score": round(score.score, 4),
        "initiator": f.initiator,
        "night_share": round(f.night_share, 4),
        "question_rate": round(f.question_rate, 4),
        "stages_in_order": f.stages_in_order,
        "first_seen": [c.value for c in f.first_seen],
    }
    reasons = []
    for indicator, weight, summary, messages, details in found:
        rows = _rows(messages)
        at = max(m.at for m in messages)
        for account in senders:
            reasons.append(
                Reason(
                    indicator=indicator,
                    account=account,
                    weight=weight,
                    summary=summary,
                    rows=rows,
                    at=at,
                    role=roles.get(account, Role.UNKNOWN),
                    details={**shared, **details, "share": round(f.share.get(account, 0.0), 4)},
                )
            )
    return reasons


def model_reasons(analyses: Sequence[ConversationAnalysis], model: TrainedModel) -> list[Reason]:
    """``chat_model`` on each writer of a conversation the trained model puts at or above
    its threshold."""
    reasons = []
    for analysis, p in zip(analyses, model.probabilities(analyses), strict=True):
        if p < model.threshold:
            continue
        roles = roles_in(analysis)
        senders = list(dict.fromkeys(m.sender for m in analysis.messages))
        for account in senders:
            reasons.append(
                Reason(
                    indicator=MODEL,
                    account=account,
                    weight=float(p),
                    summary=(
                        f"conversation {analysis.conversation}: the trained chat model gives "
                        f"{p:.2f} (threshold {model.threshold:.2f})"
                    ),
                    rows=_rows(analysis.messages),
                    at=analysis.messages[-1].at,
                    role=roles.get(account, Role.UNKNOWN),
                    details={
                        "conversation": analysis.conversation,
                        "probability": round(float(p), 4),
                    },
                )
            )
    return reasons


class ChatsEvaluator(Evaluator):
    """Chat indicators (issue 14, point 3): the lexicon in English, Dutch, Tagalog and
    Cebuano and the behavioural features, plus a trained model when one is configured."""

    name = "chats"
    version = "1"
    summary = (
        "Chats: live-show solicitation, price negotiation, a minor's age, directing, payment "
        "handles and platform hops (EN/NL/TL/CEB), with PAN 2012 behavioural features"
    )

    def __init__(self, model: ChatModel | None = None, trained: TrainedModel | None = None) -> None:
        self.model = model or ChatModel(load_lexicon(), load_rules())
        self.trained = trained

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        model = ChatModel(
            load_lexicon(settings.context_chat_lexicons), load_rules(settings.context_chat_rules)
        )
        trained = (
            TrainedModel.load(settings.context_chat_model)
            if settings.context_chat_model is not None
            else None
        )
        return cls(model, trained)

    def analyse(self, population: Population) -> list[ConversationAnalysis]:
        zones = zones_of({ref: a.timezone for ref, a in population.accounts.items()})
        return self.model.analyse_all(population.messages, zones=zones)

    def evaluate(self, population: Population) -> list[Reason]:
        analyses = self.analyse(population)
        reasons = [r for a in analyses for r in conversation_reasons(a, self.model.rules)]
        if self.trained is not None:
            reasons.extend(model_reasons(analyses, self.trained))
        return reasons
