"""Behavioural features of one conversation (PAN 2012 sexual-predator identification and the
work after it: who starts, how the talk is shared, how fast people answer, when, how many
questions, and which stages the talk goes through), computed from its messages and the
lexicon hits in each."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vangnet.context.chats.lexicon import Category, Hit
from vangnet.context.chats.rules import Rules
from vangnet.sources.records.model import Message


@dataclass(frozen=True)
class ConversationFeatures:
    """What one conversation looks like, beside the words in it."""

    conversation: str
    participants: tuple[str, ...]  # senders and recipients, senders first by first message
    initiator: str  # the sender of the first message
    messages: int
    duration_seconds: float
    share: Mapping[str, float]  # each sender's share of the messages
    median_response_seconds: Mapping[str, float]  # per sender who ever answered someone else
    night_share: float  # share of messages sent in the sender's local night
    question_rate: float  # share of messages with a question mark
    category_counts: Mapping[Category, int]  # messages in which each category fired
    first_seen: tuple[Category, ...]  # categories in the order they first appeared
    stages_in_order: int  # stages reached in the canonical order (longest such run)


def _local_hour(message: Message, zones: Mapping[str, ZoneInfo]) -> int:
    zone = zones.get(message.sender)
    try:
        return (message.at.astimezone(zone) if zone is not None else message.at).hour
    except OverflowError:  # a time at the calendar's ends, outside it in the zone: UTC's hour
        return message.at.hour


def _is_night(hour: int, start: int, end: int) -> bool:
    return start <= hour or hour < end if start > end else start <= hour < end


def _longest_increasing(values: Sequence[int]) -> int:
    best: list[int] = []  # best[k]: the smallest tail of an increasing run of length k + 1
    for v in values:
        lo, hi = 0, len(best)
        while lo < hi:
            mid = (lo + hi) // 2
            if best[mid] < v:
                lo = mid + 1
            else:
                hi = mid
        if lo == len(best):
            best.append(v)
        else:
            best[lo] = v
    return len(best)


def zones_of(timezones: Mapping[str, str | None]) -> dict[str, ZoneInfo]:
    """Account -> its IANA zone (accounts with no or an unknown zone are left out: UTC)."""
    zones: dict[str, ZoneInfo] = {}
    for account, name in timezones.items():
        if name:
            try:
                zones[account] = ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return zones


def conversation_features(
    conversation: str,
    messages: Sequence[Message],
    hits: Sequence[Sequence[Hit]],
    *,
    rules: Rules,
    zones: Mapping[str, ZoneInfo],
) -> ConversationFeatures:
    """The features of ``messages`` (one conversation, in time order) with ``hits[i]`` the
    lexicon hits of ``messages[i]``; night in each sender's zone (``zones``; UTC if none)."""
    if not messages:
        raise ValueError("a conversation has at least one message")
    senders = Counter(m.sender for m in messages)
    participants = list(dict.fromkeys(m.sender for m in messages))
    for m in messages:
        participants.extend(r for r in m.recipients if r not in participants)
    waits: dict[str, list[float]] = {}
    for before, after in pairwise(messages):
        if after.sender != before.sender:
            waits.setdefault(after.sender, []).append((after.at - before.at).total_seconds())
    night = sum(
        _is_night(_local_hour(m, zones), rules.night_start, rules.night_end) for m in messages
    )
    counts: Counter[Category] = Counter()
    first: list[Category] = []
    for found in hits:
        categories = dict.fromkeys(h.category for h in found)
        counts.update(list(categories))
        first.extend(c for c in categories if c not in first)
    stage_firsts = [s for s in (rules.stage_of(c) for c in first) if s is not None]
    stages = list(dict.fromkeys(stage_firsts))
    return ConversationFeatures(
        conversation=conversation,
        participants=tuple(participants),
        initiator=messages[0].sender,
        messages=len(messages),
        duration_seconds=(messages[-1].at - messages[0].at).total_seconds(),
        share={s: n / len(messages) for s, n in senders.items()},
        median_response_seconds={s: statistics.median(w) for s, w in waits.items()},
        night_share=night / len(messages),
        question_rate=sum("?" in m.text for m in messages) / len(messages),
        category_counts=dict(counts),
        first_seen=tuple(first),
        stages_in_order=_longest_increasing(stages),
    )
