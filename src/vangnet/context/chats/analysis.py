"""One pass over a conversation: the lexicon hits of each message, the conversation's
features and its transparent score. The evaluator, the classifier's features, the ``scan``
command and the evaluation all start from a `ConversationAnalysis`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from vangnet.context.chats.features import ConversationFeatures, conversation_features
from vangnet.context.chats.lexicon import Hit, Lexicon
from vangnet.context.chats.rules import Rules
from vangnet.context.chats.scoring import ConversationScore, score_conversation
from vangnet.sources.records.model import Message


@dataclass(frozen=True)
class ConversationAnalysis:
    """A conversation's messages (time order), each message's hits, features and score."""

    conversation: str
    messages: tuple[Message, ...]
    hits: tuple[tuple[Hit, ...], ...]
    score: ConversationScore

    @property
    def features(self) -> ConversationFeatures:
        return self.score.features


@dataclass(frozen=True)
class ChatModel:
    """The lexicon and the rules together: the transparent model."""

    lexicon: Lexicon
    rules: Rules

    @property
    def version(self) -> str:
        return f"lexicon {self.lexicon.version}; rules {self.rules.version}"

    def analyse(
        self,
        conversation: str,
        messages: Sequence[Message],
        *,
        zones: Mapping[str, ZoneInfo] | None = None,
    ) -> ConversationAnalysis:
        ordered = tuple(sorted(messages, key=lambda m: m.at))
        hits = tuple(tuple(self.lexicon.match(m.text)) for m in ordered)
        features = conversation_features(
            conversation, ordered, hits, rules=self.rules, zones=zones or {}
        )
        return ConversationAnalysis(
            conversation, ordered, hits, score_conversation(features, self.rules)
        )

    def analyse_all(
        self,
        messages: Sequence[Message],
        *,
        zones: Mapping[str, ZoneInfo] | None = None,
    ) -> list[ConversationAnalysis]:
        """Every conversation of ``messages``, in order of first message."""
        by_conversation: dict[str, list[Message]] = {}
        for m in sorted(messages, key=lambda m: m.at):
            by_conversation.setdefault(m.conversation, []).append(m)
        return [self.analyse(c, ms, zones=zones) for c, ms in by_conversation.items()]
