"""`PaymentTable`: a population's payments as numpy columns, built once, so every payment
indicator is a handful of vectorised group operations instead of a Python loop per payment.

Accounts (senders and beneficiaries share one vocabulary), countries, currencies, channels,
narratives and merchant categories become integer codes; amounts become float64 in EUR with
the rules' reference rates (NaN where a currency has no rate: those payments are counted in
``unknown_currency`` and left out of every amount band); times become epoch seconds and the
sender's and beneficiary's local hours (``zoneinfo``, DST-correct: see `local_hours`).
Keyword flags are computed once per distinct narrative, not once per payment.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt
from anyascii import anyascii

from vangnet.context.payments.family import family_shaped
from vangnet.context.payments.rules import Rules
from vangnet.context.population import Population
from vangnet.sources.records.model import Account, Channel, Payment

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
BOOL = npt.NDArray[np.bool_]

CHANNELS: tuple[Channel, ...] = tuple(Channel)
NO_ZONE = -1

_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalise(text: str) -> str:
    """Lower case, accents and other scripts folded to ASCII (anyascii), every run of
    punctuation or white space one space, padded with a space each side (so a keyword
    matches as ``" word "``: whole words and phrases only)."""
    return " " + _NON_WORD.sub(" ", anyascii(text).lower()).strip() + " "


def keyword_pattern(words: Sequence[str]) -> re.Pattern[str] | None:
    """One regular expression matching any of ``words`` (normalised) as whole words."""
    terms = sorted({normalise(w).strip() for w in words if normalise(w).strip()}, key=len)
    if not terms:
        return None
    return re.compile(" (?:" + "|".join(re.escape(t) for t in reversed(terms)) + ") ")


def matched_words(text: str, words: Sequence[str]) -> list[str]:
    """The keywords of ``words`` found in ``text`` (for a reason's explanation)."""
    norm = normalise(text)
    return [w for w in words if normalise(w).strip() and normalise(w)[:-1] + " " in norm]


def _codes(values: Sequence[str | None]) -> tuple[I64, list[str | None]]:
    """Integer codes for ``values`` and the vocabulary (first-seen order)."""
    vocab = dict.fromkeys(values)
    for i, key in enumerate(vocab):
        vocab[key] = i
    codes = np.fromiter(map(vocab.__getitem__, values), dtype=np.int64, count=len(values))
    return codes, list(vocab)


_FIRST_SECOND = int(datetime(1, 1, 2, tzinfo=UTC).timestamp())
_LAST_SECOND = int(datetime(9999, 12, 30, tzinfo=UTC).timestamp())


def zone_offsets(zone: ZoneInfo, t: I64) -> I64:
    """Each epoch second's UTC offset in ``zone``, in seconds, DST-correct.

    The offset is read once a day over the span of ``t`` and each change located to the
    second by bisection, so the cost is a few hundred ``utcoffset`` calls per zone however
    many payments there are."""
    if t.size == 0:
        return np.zeros(0, dtype=np.int64)
    day = 86_400
    lo, hi = int(t.min()) // day - 1, int(t.max()) // day + 2

    def off(s: int) -> int:
        # a day inside the calendar's ends: no year 0 or 10000 in UTC or in the zone
        s = min(max(s, _FIRST_SECOND), _LAST_SECOND)
        delta = datetime.fromtimestamp(s, UTC).astimezone(zone).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    starts = [lo * day]
    values = [off(lo * day)]
    for d in range(lo + 1, hi + 1):
        v = off(d * day)
        if v != values[-1]:
            a, b = (d - 1) * day, d * day  # off(a) == values[-1], off(b) == v
            while b - a > 1:
                mid = (a + b) // 2
                if off(mid) == values[-1]:
                    a = mid
                else:
                    b = mid
            starts.append(b)
            values.append(v)
    idx = np.searchsorted(np.asarray(starts, dtype=np.int64), t, side="right") - 1
    return np.asarray(values, dtype=np.int64)[np.clip(idx, 0, None)]


#: Where a payment's ``details`` name its parties, first key found: the documented
#: ``sender_name`` / ``beneficiary_name``, the ISO 20022 parsers' debtor / creditor, the MT103
#: parser's ordering / beneficiary customer (`vangnet.sources.records`).
SENDER_NAME_KEYS = ("sender_name", "debtor_name", "ordering_customer")
BENEFICIARY_NAME_KEYS = ("beneficiary_name", "creditor_name", "beneficiary_customer")


def _first(details: Mapping[str, Any], keys: Sequence[str]) -> str | None:
    for key in keys:
        value = details.get(key)
        if value:
            return str(value)
    return None


def local_hours(t: I64, zone_codes: I64, zones: Sequence[ZoneInfo]) -> I64:
    """The local hour (0-23) of each epoch second in its zone; -1 where the zone is unknown
    (``zone_codes`` == `NO_ZONE`)."""
    hours = np.full(t.shape, -1, dtype=np.int64)
    for code, zone in enumerate(zones):
        mask = zone_codes == code
        if mask.any():
            local = t[mask] + zone_offsets(zone, t[mask])
            hours[mask] = (local // 3600) % 24
    return hours


def surname(name: str | None) -> str | None:
    """The last word of a normalised name (None without one)."""
    if not name:
        return None
    words = normalise(name).split()
    return words[-1] if words else None


@dataclass(frozen=True)
class PaymentTable:
    """The columns of one population's payments, sorted by time (index ``i`` everywhere is
    the same payment in ``payments``)."""

    payments: Sequence[Payment]
    accounts: list[str | None]  # account code -> ref (senders and beneficiaries)
    countries: list[str | None]  # country code -> ISO code (None: unknown)
    sender: I64
    beneficiary: I64
    t: I64  # epoch seconds, UTC
    amount: F64  # in the payment's own currency
    eur: F64  # in EUR at the rules' reference rates (NaN: no rate)
    currency: list[str]  # per payment
    channel: I64  # index into CHANNELS
    sender_country: I64  # country code
    beneficiary_country: I64
    corridor: BOOL  # the beneficiary's country is a high-risk corridor country
    cover: BOOL  # the narrative has a cover-narrative keyword
    egmont_words: BOOL  # the narrative has an Egmont field-70 keyword
    risky_purchase: BOOL  # a merchant category of the rules' "risky" list
    travel: BOOL  # a merchant category of the rules' "travel" list
    sender_hour: I64  # local hour of the sender (-1: zone unknown)
    beneficiary_hour: I64  # local hour of the beneficiary (-1: zone unknown)
    sender_age: I64  # age in the payment's year from the sender's birth_year (-1: unknown)
    family: BOOL  # the payment belongs to a family-shaped sender-beneficiary pair
    named: BOOL  # both sides have a known surname (and, family False, they differ)
    unknown_currency: int

    @property
    def n(self) -> int:
        return len(self.payments)

    def country(self, code: int) -> str:
        return self.countries[code] or "?"

    def account(self, code: int) -> str:
        return self.accounts[code] or "?"

    def in_band(self, rules: Rules, band: str) -> BOOL:
        lo, hi = rules.band_eur(band)
        return (self.eur >= lo) & (self.eur <= hi)

    @classmethod
    def of(cls, population: Population, rules: Rules) -> PaymentTable:
        """The table of ``population`` under ``rules``, built once: the payments and sessions
        evaluators of one assessment share it. Only the last table is kept, and only while
        its population lives (dropped when the population is collected)."""
        global _last
        if _last is not None:
            pop_ref, last_rules, table = _last
            if pop_ref() is population and last_rules is rules:
                return table
        table = cls.build(population.payments, population.accounts, rules)
        _last = (weakref.ref(population, _forget), rules, table)
        return table

    @classmethod
    def build(
        cls, payments: Sequence[Payment], accounts: Mapping[str, Account], rules: Rules
    ) -> PaymentTable:
        """The table of ``payments`` (sorted by time here) with what ``accounts`` knows."""
        n = len(payments)
        stamps = map(datetime.timestamp, map(attrgetter("at"), payments))
        t = np.fromiter(stamps, dtype=np.float64, count=n).astype(np.int64)
        pays: Sequence[Payment] = payments
        if n and not bool(np.all(t[1:] >= t[:-1])):  # a Population is usually in time order
            order = np.argsort(t, kind="stable")
            pays = [payments[i] for i in order.tolist()]
            t = t[order]
        acc_codes, acc_vocab = _codes(
            list(map(attrgetter("sender"), pays)) + list(map(attrgetter("beneficiary"), pays))
        )
        sender, beneficiary = acc_codes[:n], acc_codes[n:]
        amount = np.fromiter(map(float, map(attrgetter("amount"), pays)), np.float64, n)
        currency = list(map(str.upper, map(attrgetter("currency"), pays)))
        cur_codes, cur_vocab = _codes(currency)
        rates = np.array([rules.fx.to_eur.get(c or "", np.nan) for c in cur_vocab])
        eur = amount * rates[cur_codes] if n else np.zeros(0)
        chan_index = {c: i for i, c in enumerate(CHANNELS)}
        channel = np.fromiter(
            map(chan_index.__getitem__, map(attrgetter("channel"), pays)), np.int64, n
        )

        known = [accounts.get(a) if a is not None else None for a in acc_vocab]

        def acc_country(code: int) -> str | None:
            acc = known[code]
            return acc.country.upper() if acc is not None and acc.country else None

        acc_country_list = [acc_country(i) for i in range(len(acc_vocab))]
        raw = (
            list(map(attrgetter("sender_country"), pays))
            + list(map(attrgetter("beneficiary_country"), pays))
            + acc_country_list
        )
        raw_codes, raw_vocab = _codes(raw)
        canon_codes, cty_vocab = _codes([(v or "").upper() or None for v in raw_vocab])
        cty_all = canon_codes[raw_codes] if raw else np.zeros(0, dtype=np.int64)
        none_cty = cty_vocab.index(None) if None in cty_vocab else -1
        acc_cty = cty_all[2 * n :]
        s_country = np.where(cty_all[:n] == none_cty, acc_cty[sender], cty_all[:n])
        b_country = np.where(
            cty_all[n : 2 * n] == none_cty, acc_cty[beneficiary], cty_all[n : 2 * n]
        )
        high = rules.high_risk
        corridor = np.array([c in high for c in cty_vocab], dtype=bool)[b_country]

        narr_codes, narr_vocab = _codes(list(map(attrgetter("narrative"), pays)))
        cover_re = keyword_pattern(rules.cover_words)
        egmont_re = keyword_pattern(rules.keywords.get("egmont", []))
        normed = [normalise(x or "") for x in narr_vocab]
        cover = np.array([bool(cover_re and cover_re.search(x)) for x in normed], dtype=bool)
        egm = np.array([bool(egmont_re and egmont_re.search(x)) for x in normed], dtype=bool)

        mcc_codes, mcc_vocab = _codes(list(map(attrgetter("merchant_category"), pays)))
        risky_set = {m.lower() for m in rules.merchant_categories.risky}
        travel_set = {m.lower() for m in rules.merchant_categories.travel}
        mccs = [(m or "").lower() for m in mcc_vocab]
        risky = np.array([m in risky_set for m in mccs], dtype=bool)[mcc_codes]
        travel = np.array([m in travel_set for m in mccs], dtype=bool)[mcc_codes]
        for i in np.flatnonzero(travel).tolist():  # a trip: its destination, else the merchant's
            dest = str(pays[i].details.get("destination") or "").upper()
            travel[i] = dest in high if dest else bool(corridor[i])

        # Zones: the account's own timezone, else its country's main zone from the rules.
        zone_names: dict[str, int] = {}
        zones: list[ZoneInfo] = []

        def zone_code(name: str | None) -> int:
            if not name:
                return NO_ZONE
            if name not in zone_names:
                try:
                    zones.append(ZoneInfo(name))
                except (ZoneInfoNotFoundError, ValueError):
                    return NO_ZONE
                zone_names[name] = len(zones) - 1
            return zone_names[name]

        acc_zone = np.array(
            [zone_code(a.timezone) if a is not None else NO_ZONE for a in known], dtype=np.int64
        )
        cty_zone = np.array(
            [zone_code(rules.timezones.get(c or "")) for c in cty_vocab] or [NO_ZONE],
            dtype=np.int64,
        )
        s_zone = np.where(acc_zone[sender] >= 0, acc_zone[sender], cty_zone[s_country])
        b_zone = np.where(acc_zone[beneficiary] >= 0, acc_zone[beneficiary], cty_zone[b_country])
        s_hour = local_hours(t, s_zone, zones)
        b_hour = local_hours(t, b_zone, zones)

        birth = np.array(
            [a.birth_year if a is not None and a.birth_year else -1 for a in known] or [-1],
            dtype=np.int64,
        )
        year = (t // 31_557_600 + 1970).astype(np.int64)  # close enough for an age band
        sb = birth[sender]
        age = np.where(sb > 0, year - sb, -1)

        raw_names = [a.name if a is not None else None for a in known]
        raw_codes, raw_vocab = _codes(raw_names)  # surnames once per distinct name
        names_by_code = [surname(x) for x in raw_vocab]
        names = [names_by_code[c] for c in raw_codes.tolist()]
        name_codes, name_vocab = _codes(names)
        none_code = name_vocab.index(None) if None in name_vocab else -1
        s_name = name_codes[sender] if n else np.zeros(0, dtype=np.int64)
        b_name = name_codes[beneficiary] if n else np.zeros(0, dtype=np.int64)
        same = (s_name == b_name) & (s_name != none_code)
        named = (s_name != none_code) & (b_name != none_code)
        for i, details in enumerate(map(attrgetter("details"), pays)):
            if not details:
                continue
            if details.get("at_precision") == "day":  # a date only (MT103): no time of day
                s_hour[i] = b_hour[i] = -1
            # payment-level names: the parties an ISO 20022 or MT103 message names
            sender_name = _first(details, SENDER_NAME_KEYS)
            beneficiary_name = _first(details, BENEFICIARY_NAME_KEYS)
            if sender_name or beneficiary_name:
                a = surname(sender_name or "") or names[sender[i]]
                b = surname(beneficiary_name or "") or names[beneficiary[i]]
                same[i] = a is not None and a == b
                named[i] = a is not None and b is not None
        return cls(
            payments=pays,
            accounts=acc_vocab,
            countries=cty_vocab,
            sender=sender,
            beneficiary=beneficiary,
            t=t,
            amount=amount,
            eur=eur,
            currency=currency,
            channel=channel,
            sender_country=s_country,
            beneficiary_country=b_country,
            corridor=corridor,
            cover=cover[narr_codes],
            egmont_words=egm[narr_codes],
            risky_purchase=risky,
            travel=travel,
            sender_hour=s_hour,
            beneficiary_hour=b_hour,
            sender_age=age,
            family=family_shaped(
                sender, beneficiary, t, eur, same, n_accounts=len(acc_vocab), rules=rules
            ),
            named=named,
            unknown_currency=int(np.isnan(eur).sum()),
        )


_last: tuple[weakref.ref[Population], Rules, PaymentTable] | None = None


def _forget(ref: weakref.ref[Population]) -> None:
    """The cached table's population was collected: drop the table with it."""
    global _last
    if _last is not None and _last[0] is ref:
        _last = None
