"""A seeded synthetic population of payments, call sessions, chats and accounts, for tests
and the benchmark (issue 14, point 7): ordinary senders and offenders following each
typology of the public guidance, with noise, and the ground truth.

Ordinary senders (in NL, DE, SE, GB, US, CA, AU; each in a local time zone) pay rent and
bills at home, buy things by card (a few buy a VPN or a holiday in Thailand), pay friends
by P2P (small round amounts, at home), and some send family remittances: monthly, larger,
on about the same day of the month, mostly to a relative with the same surname in PH, TH,
CO, DO or MX, with the odd small top-up ("pang load") and family calls and chats. A few
ordinary senders send a small amount or two to PH (a seller, a friend): the noise any
corridor rule meets.

Offenders follow one typology each (`Typology`): AUSTRAC's low-value frequent payer, the
escalating buyer (AIC T&I 589), viewers of a hub facilitator paid by many viewers in
several countries, the young crypto sender (FINTRAC 2025), the structurer, the night-time
payer who bought a VPN, the cover-narrative payer; amounts jittered, fields missing at
random, some with a family flow of their own. Most offenders have calls with the person
they pay around the payment (sometimes from another account in the same country) and
non-explicit chats arranging a time, a price, a payment handle and a platform hop (EN, NL,
TL, CEB). Nothing sexual is written anywhere: the chats are logistics only.

`generate` returns a `SyntheticPopulation` (records plus `truth`); `write_files` writes
the files the ingest reads (common schema) and ``truth.csv``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from vangnet.context.findings import Role
from vangnet.context.population import Population
from vangnet.sources.records.model import Account, CallSession, Channel, Message, Payment


class Typology(StrEnum):
    """The offender typologies the generator plants (and the benchmark scores per)."""

    LOW_VALUE_FREQUENT = "low_value_frequent"  # AUSTRAC 2022
    ESCALATING = "escalating"  # AIC T&I 589
    HUB_VIEWER = "hub_viewer"  # AUSTRAC: many senders to one beneficiary (the senders)
    HUB_FACILITATOR = "hub_facilitator"  # ... (the beneficiary)
    FACILITATOR = "facilitator"  # a beneficiary paid by one offender (not a hub)
    YOUNG_CRYPTO = "young_crypto"  # FINTRAC 2025
    STRUCTURING = "structuring"
    NIGHT_VPN = "night_vpn"  # FATF 2025 night-time + AUSTRAC VPN purchase
    COVER_NARRATIVE = "cover_narrative"  # AUSTRAC / FATF / Egmont narratives


FACILITATORS = (Typology.HUB_FACILITATOR, Typology.FACILITATOR)
SENDER_TYPOLOGIES: tuple[Typology, ...] = tuple(t for t in Typology if t not in FACILITATORS)


@dataclass(frozen=True, slots=True)
class Truth:
    """One planted offender account: its typology and role (a viewer's typology, or
    ``hub_facilitator`` / ``facilitator`` for the beneficiaries they pay)."""

    account: str
    typology: Typology
    role: Role


# country -> (currency, zones, weight among senders)
SENDER_COUNTRIES: dict[str, tuple[str, tuple[str, ...], float]] = {
    "NL": ("EUR", ("Europe/Amsterdam",), 0.22),
    "DE": ("EUR", ("Europe/Berlin",), 0.14),
    "SE": ("SEK", ("Europe/Stockholm",), 0.06),
    "GB": ("GBP", ("Europe/London",), 0.14),
    "US": ("USD", ("America/New_York", "America/Chicago", "America/Los_Angeles"), 0.18),
    "CA": ("CAD", ("America/Toronto", "America/Vancouver"), 0.1),
    "AU": ("AUD", ("Australia/Sydney", "Australia/Perth"), 0.16),
}
# beneficiary country -> (zone, weight)
CORRIDOR_COUNTRIES: dict[str, tuple[str, float]] = {
    "PH": ("Asia/Manila", 0.6),
    "TH": ("Asia/Bangkok", 0.1),
    "CO": ("America/Bogota", 0.08),
    "DO": ("America/Santo_Domingo", 0.07),
    "MX": ("America/Mexico_City", 0.08),
    "VN": ("Asia/Ho_Chi_Minh", 0.07),
}
TO_EUR = {"EUR": 1.0, "SEK": 0.091, "GBP": 1.14, "USD": 0.87, "CAD": 0.62, "AUD": 0.57}

SURNAMES = {
    "NL": ["de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "Mulder", "Bos"],
    "DE": ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Wagner", "Becker"],
    "SE": ["Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson"],
    "GB": ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans"],
    "US": ["Miller", "Davis", "Garcia", "Rodriguez", "Martinez", "Anderson", "Thomas"],
    "CA": ["Tremblay", "Roy", "Gagnon", "Martin", "Lee", "Wilson", "MacDonald"],
    "AU": ["Nguyen", "Kelly", "Ryan", "Walker", "White", "Harris", "Thompson"],
    "PH": ["Santos", "Reyes", "Cruz", "Bautista", "Ocampo", "Garcia", "Mendoza", "Dela Cruz"],
    "TH": ["Saetang", "Srisuk", "Wongsa", "Chaiyaporn", "Boonmee"],
    "CO": ["Rodríguez", "Gómez", "López", "Hernández", "Díaz"],
    "DO": ["Peña", "Reyes", "Jiménez", "Castillo", "Féliz"],
    "MX": ["Hernández", "García", "Martínez", "López", "González"],
    "VN": ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng"],
}
GIVEN = [
    "Alex",
    "Sam",
    "Chris",
    "Robin",
    "Jamie",
    "Kim",
    "Maria",
    "Jose",
    "Ana",
    "Mark",
    "Daan",
    "Lotte",
    "Erik",
    "Anna",
    "John",
    "Linh",
    "Rosa",
    "Joy",
    "Grace",
    "Noel",
]

FAMILY_NARRATIVES = [
    "family support",
    "for mama",
    "padala",
    "monthly allowance",
    "",
    "allowance",
    "household",
    "pang gastos",
    "para sa pamilya",
    "",
]
COVER_NARRATIVES = [
    "school uniform",
    "medical bills",
    "for hospital",
    "tuition fees",
    "pang load",
    "baon",
    "schoolgeld",
    "pang eskwela",
    "gamot",
    "gift",
    "birthday treat",
    "accommodation",
    "expenses",
]
NEUTRAL_NARRATIVES = [
    "",
    "",
    "",
    "thanks",
    "payment",
    "ok",
    "for you",
    "xx",
    "dinner",
    "tickets",
    "order 1182",
    "sent",
]
DOMESTIC_CARD = [
    "grocery",
    "fuel",
    "restaurant",
    "clothing",
    "electronics",
    "pharmacy",
    "streaming_subscription",
    "utilities",
]

OFFENDER_CHATS = {
    "en": [
        "are you free tonight?",
        "how much this time?",
        "ok I will send the money now",
        "send me your gcash number",
        "let's move to the other app",
        "is it the same as last time?",
        "sent, check it",
        "call me in 10 minutes",
    ],
    "nl": [
        "ben je vanavond vrij?",
        "hoeveel deze keer?",
        "ik stuur het geld nu",
        "geef je nummer voor de betaling",
        "we gaan naar de andere app",
        "verstuurd",
    ],
    "tl": [
        "pwede ka mamaya?",
        "magkano po?",
        "padala ko na",
        "ano gcash mo?",
        "lipat tayo sa ibang app",
        "natanggap ko na po",
    ],
    "ceb": [
        "libre ka karong gabii?",
        "pila man?",
        "ipadala nako karon",
        "unsa imong gcash?",
        "balhin ta sa laing app",
        "nadawat na nako",
    ],
}
FAMILY_CHATS = [
    "kumusta ka na?",
    "napadala ko na po",
    "salamat po",
    "how are the kids?",
    "ingat kayo",
    "miss you all",
    "did you receive it?",
    "yes thank you",
]


@dataclass
class SyntheticPopulation:
    """The generated records and the ground truth (offenders only; everyone else is an
    ordinary sender or payee)."""

    payments: list[Payment] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    sessions: list[CallSession] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)
    truth: list[Truth] = field(default_factory=list)
    senders: list[str] = field(default_factory=list)

    def population(self) -> Population:
        return Population(
            payments=sorted(self.payments, key=lambda p: p.at),
            messages=sorted(self.messages, key=lambda m: m.at),
            sessions=sorted(self.sessions, key=lambda s: s.started_at),
            accounts={a.ref: a for a in self.accounts},
        )


@dataclass
class _Person:
    ref: str
    country: str
    zone: str
    currency: str
    surname: str


class _Builder:
    def __init__(self, *, seed: int, start: datetime, months: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.start = start
        self.days = max(1, round(months * 30.44))
        self.out = SyntheticPopulation()
        self.n_pay = 0
        self.n_msg = 0
        self.n_ses = 0
        self.n_acc = 0

    # -- small draws
    def pick(self, items: Sequence[Any]) -> Any:
        return items[int(self.rng.integers(len(items)))]

    def weighted(self, table: dict[str, Any], idx: int) -> str:
        keys = list(table)
        w = np.array([table[k][idx] for k in keys], dtype=float)
        return keys[int(self.rng.choice(len(keys), p=w / w.sum()))]

    def local_time(self, zone: str, day: int, hour_lo: float, hour_hi: float) -> datetime:
        """A time on ``day`` (from the start) at a local hour in [lo, hi) of ``zone``."""
        d = self.start.date() + timedelta(days=day)
        h = float(self.rng.uniform(hour_lo, hour_hi)) % 24
        local = datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(zone)) + timedelta(hours=h)
        return local.astimezone(UTC).replace(microsecond=0)

    def day(self, lo: int = 0, hi: int | None = None) -> int:
        return int(self.rng.integers(lo, hi if hi is not None else self.days))

    # -- records
    def person(
        self,
        country: str,
        *,
        zone: str | None = None,
        surname: str | None = None,
        age: tuple[int, int] = (26, 70),
        sex: str | None = None,
        kind: str = "person",
    ) -> _Person:
        self.n_acc += 1
        ref = f"acct-{self.n_acc:07d}"
        if zone is None:
            zone = (
                self.pick(SENDER_COUNTRIES[country][1])
                if country in SENDER_COUNTRIES
                else CORRIDOR_COUNTRIES[country][0]
            )
        currency = SENDER_COUNTRIES[country][0] if country in SENDER_COUNTRIES else "EUR"
        surname = surname or self.pick(SURNAMES[country])
        r = self.rng.random
        self.out.accounts.append(
            Account(
                ref=ref,
                kind=kind,
                name=f"{self.pick(GIVEN)} {surname}",
                country=country,
                timezone=zone if r() > 0.1 else None,  # missing at random
                birth_year=(
                    self.start.year - int(self.rng.integers(age[0], age[1] + 1))
                    if r() > 0.2
                    else None
                ),
                sex=sex or (self.pick(("m", "f")) if r() > 0.1 else None),
                created_at=self.start - timedelta(days=int(self.rng.integers(30, 3000))),
                handles=(f"h-{ref}",) if r() > 0.5 else (),
                devices=(f"dev-{ref}",) if r() > 0.4 else (),
            )
        )
        return _Person(ref, country, zone, currency, surname)

    def pay(
        self,
        src: _Person,
        dst: _Person | None,
        at: datetime,
        eur: float,
        *,
        channel: Channel,
        narrative: str = "",
        merchant: str | None = None,
        dst_ref: str | None = None,
        dst_country: str | None = None,
        currency: str | None = None,
        exact: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> Payment:
        self.n_pay += 1
        cur = currency or src.currency
        amount = exact if exact is not None else eur / TO_EUR.get(cur, 1.0)
        p = Payment(
            ref=f"pay-{self.n_pay:08d}",
            at=at,
            sender=src.ref,
            beneficiary=dst.ref if dst else (dst_ref or "merchant"),
            amount=Decimal(f"{amount:.2f}"),
            currency=cur,
            channel=channel,
            sender_country=src.country if self.rng.random() > 0.05 else None,
            beneficiary_country=dst.country if dst else dst_country,
            narrative=narrative,
            merchant_category=merchant,
            details=details or {},
        )
        self.out.payments.append(p)
        return p

    def session(
        self, a: _Person, b: _Person, around: datetime, *, platform: str | None = None
    ) -> None:
        self.n_ses += 1
        start = around + timedelta(minutes=float(self.rng.uniform(-120, 90)))
        self.out.sessions.append(
            CallSession(
                ref=f"ses-{self.n_ses:07d}",
                platform=platform or self.pick(("skype", "videocall", "messenger", "zoom")),
                started_at=start,
                participants=(a.ref, b.ref),
                ended_at=start + timedelta(minutes=float(self.rng.uniform(5, 60))),
                countries=(a.country, b.country),
            )
        )

    def chat(self, a: _Person, b: _Person, at: datetime, lines: Sequence[str], lang: str) -> None:
        conv = f"conv-{min(a.ref, b.ref)}-{max(a.ref, b.ref)}"
        for k, text in enumerate(lines):
            self.n_msg += 1
            src, dst = (a, b) if k % 2 == 0 else (b, a)
            self.out.messages.append(
                Message(
                    ref=f"msg-{self.n_msg:08d}",
                    conversation=conv,
                    at=at + timedelta(minutes=2 * k),
                    sender=src.ref,
                    text=text,
                    recipients=(dst.ref,),
                    platform="chat",
                    language=lang,
                )
            )

    # -- ordinary senders
    def ordinary(self, p: _Person) -> None:
        r = self.rng.random
        months = max(1, round(self.days / 30.44))
        landlord = self.person(p.country, kind="business")
        if r() < 0.6:
            for m in range(months):
                day = min(self.days - 1, m * 30 + int(self.rng.integers(0, 3)))
                self.pay(
                    p,
                    landlord,
                    self.local_time(p.zone, day, 8, 18),
                    float(self.rng.uniform(600, 1600)),
                    channel=Channel.WIRE,
                    narrative="rent",
                )
        for _ in range(int(self.rng.poisson(4 * months))):
            merchant = self.pick(DOMESTIC_CARD)
            if r() < 0.01:
                merchant = "vpn"  # ordinary people buy VPNs too
            self.pay(
                p,
                None,
                self.local_time(p.zone, self.day(), 8, 23.5),
                float(self.rng.lognormal(3.3, 0.8)),
                channel=Channel.CARD,
                merchant=merchant,
                dst_ref=f"merchant-{merchant}",
                dst_country=p.country,
            )
        if r() < 0.02:  # a holiday in Thailand
            self.pay(
                p,
                None,
                self.local_time(p.zone, self.day(), 9, 22),
                float(self.rng.uniform(700, 1800)),
                channel=Channel.CARD,
                merchant="travel",
                dst_ref="merchant-travel",
                dst_country=p.country,
                details={"destination": "TH"},
            )
        friends = [self.person(p.country) for _ in range(int(self.rng.integers(0, 3)))]
        for f in friends:
            for _ in range(int(self.rng.poisson(1.5 * months))):
                self.pay(
                    p,
                    f,
                    self.local_time(p.zone, self.day(), 7, 24.5),
                    0.0,
                    exact=float(self.pick((10, 15, 20, 25, 40, 50))),
                    channel=Channel.P2P,
                    narrative=self.pick(NEUTRAL_NARRATIVES),
                )
        if r() < 0.15:
            self.family(p, months)
        if r() < 0.05:  # an occasional small payment to PH: a seller, a friend
            dst = self.person("PH")
            for _ in range(int(self.rng.integers(1, 3))):
                self.pay(
                    p,
                    dst,
                    self.local_time(p.zone, self.day(), 8, 23),
                    float(self.rng.uniform(10, 60)),
                    channel=self.pick((Channel.REMITTANCE, Channel.P2P)),
                    narrative=self.pick([*NEUTRAL_NARRATIVES, "gift", "birthday"]),
                )

    def family(self, p: _Person, months: int) -> None:
        country = self.weighted(CORRIDOR_COUNTRIES, 1)
        same = self.rng.random() < 0.8
        relatives = [
            self.person(country, surname=p.surname if same else None)
            for _ in range(1 if self.rng.random() < 0.7 else 2)
        ]
        base_day = int(self.rng.integers(0, 25))
        for rel in relatives:
            amount = float(self.rng.uniform(150, 450))
            for m in range(months):
                day = min(self.days - 1, m * 30 + base_day + int(self.rng.integers(-1, 2)))
                at = self.local_time(p.zone, max(day, 0), 9, 21)
                self.pay(
                    p,
                    rel,
                    at,
                    amount * float(self.rng.uniform(0.95, 1.05)),
                    channel=self.pick((Channel.REMITTANCE, Channel.WIRE)),
                    narrative=self.pick(FAMILY_NARRATIVES),
                )
                if self.rng.random() < 0.5:
                    self.session(p, rel, at, platform="messenger")
                if self.rng.random() < 0.3:
                    self.chat(p, rel, at, [self.pick(FAMILY_CHATS) for _ in range(3)], "tl")
            if self.rng.random() < 0.3:  # a small top-up
                self.pay(
                    p,
                    rel,
                    self.local_time(p.zone, self.day(), 9, 22),
                    float(self.rng.uniform(10, 25)),
                    channel=Channel.P2P,
                    narrative="pang load",
                )

    # -- offenders
    def facilitator(self, country: str | None = None) -> _Person:
        return self.person(country or self.weighted(CORRIDOR_COUNTRIES, 1), age=(25, 55))

    def offender_payments(
        self,
        p: _Person,
        dst: _Person,
        n: int,
        *,
        eur: tuple[float, float] = (12, 45),
        hours: tuple[float, float] = (17, 26),
        channel: Channel | None = None,
        narratives: Sequence[str] = NEUTRAL_NARRATIVES,
        rising: float = 1.0,
        round_share: float = 0.5,
        calls: float = 0.6,
    ) -> None:
        days = np.sort(self.rng.integers(0, self.days, size=n))
        lang = "nl" if p.country == "NL" else self.pick(("en", "tl", "ceb", "en"))
        for k, day in enumerate(days.tolist()):
            at = self.local_time(p.zone, day, *hours)
            value = float(self.rng.uniform(*eur)) * (rising ** (k / max(n - 1, 1)))
            cur = p.currency
            exact = None
            if self.rng.random() < round_share:
                exact = float(max(5, round(value / TO_EUR[cur] / 5) * 5))
            self.pay(
                p,
                dst,
                at,
                value,
                channel=channel
                or self.pick((Channel.REMITTANCE, Channel.P2P, Channel.P2P, Channel.WIRE)),
                narrative=self.pick(narratives),
                exact=exact,
            )
            if self.rng.random() < calls:
                self.session(p, dst, at)
            if self.rng.random() < 0.3:
                lines = list(self.rng.choice(OFFENDER_CHATS[lang], size=3, replace=False))
                self.chat(p, dst, at - timedelta(hours=1), lines, lang)

    def offender(self, p: _Person, typology: Typology, hubs: list[_Person]) -> None:
        months = max(1, round(self.days / 30.44))
        dst = self.facilitator()
        if typology not in (Typology.HUB_VIEWER, Typology.STRUCTURING):
            self.out.truth.append(Truth(dst.ref, Typology.FACILITATOR, Role.FACILITATOR))
        if typology is Typology.LOW_VALUE_FREQUENT:
            self.offender_payments(p, dst, int(self.rng.integers(6, 15)) * months)
        elif typology is Typology.ESCALATING:
            self.offender_payments(
                p,
                dst,
                int(self.rng.integers(6, 12)) * months,
                eur=(10, 25),
                rising=float(self.rng.uniform(3, 6)),
            )
        elif typology is Typology.HUB_VIEWER:
            hub = self.pick(hubs)
            self.offender_payments(p, hub, int(self.rng.integers(2, 5)) * months, eur=(15, 60))
        elif typology is Typology.YOUNG_CRYPTO:
            self.offender_payments(
                p,
                dst,
                int(self.rng.integers(3, 7)) * months,
                channel=Channel.CRYPTO,
                eur=(15, 50),
                round_share=0.2,
            )
        elif typology is Typology.STRUCTURING:
            threshold = {
                "EUR": 1000,
                "USD": 3000,
                "AUD": 10000,
                "CAD": 10000,
                "GBP": 1000,
                "SEK": 10000,
            }[p.currency]
            day = self.day(0, max(1, self.days - 7))
            split = self.rng.random() < 0.4
            bens = [self.person(self.weighted(CORRIDOR_COUNTRIES, 1)) for _ in range(3)]
            if not split:
                bens = [bens[0]]
            for k in range(int(self.rng.integers(3, 6) if split else self.rng.integers(2, 5))):
                at = self.local_time(p.zone, day + k, 9, 20)
                share = float(
                    self.rng.uniform(0.3, 0.45) if split else self.rng.uniform(0.91, 0.99)
                )
                self.pay(
                    p,
                    bens[k % len(bens)],
                    at,
                    0.0,
                    channel=Channel.WIRE,
                    exact=round(threshold * share, 2),
                    narrative=self.pick(("invoice", "services", "")),
                )
        elif typology is Typology.NIGHT_VPN:
            self.pay(
                p,
                None,
                self.local_time(p.zone, self.day(), 10, 23),
                float(self.rng.uniform(5, 12)),
                channel=Channel.CARD,
                merchant=self.pick(("vpn", "vpn", "video_capture", "webcam_platform")),
                dst_ref="merchant-software",
                dst_country="US",
            )
            self.offender_payments(p, dst, int(self.rng.integers(4, 10)) * months, hours=(0.5, 5.5))
        elif typology is Typology.COVER_NARRATIVE:
            self.offender_payments(
                p,
                dst,
                int(self.rng.integers(3, 8)) * months,
                narratives=COVER_NARRATIVES,
                round_share=0.3,
            )
        if self.rng.random() < 0.1:  # shares a trait with ordinary senders
            self.family(p, months)


def generate(
    *,
    senders: int = 2000,
    months: int = 1,
    seed: int = 0,
    offender_rate: float = 0.01,
    start: date = date(2026, 10, 1),
) -> SyntheticPopulation:
    """A population of ``senders`` senders over ``months`` months from ``start``; about
    ``offender_rate`` of the senders are offenders, spread over the sender typologies, plus
    the hub facilitators their hub viewers pay (about one per 8 hub viewers)."""
    if senders < 1 or months < 1 or not 0 <= offender_rate <= 1:
        raise ValueError("senders and months must be >= 1 and offender_rate in [0, 1]")
    b = _Builder(
        seed=seed, start=datetime(start.year, start.month, start.day, tzinfo=UTC), months=months
    )
    n_off = round(senders * offender_rate)
    kinds = [SENDER_TYPOLOGIES[i % len(SENDER_TYPOLOGIES)] for i in range(n_off)]
    b.rng.shuffle(kinds)
    n_hub_viewers = sum(1 for k in kinds if k is Typology.HUB_VIEWER)
    hubs = [b.facilitator("PH") for _ in range(max(1, (n_hub_viewers + 7) // 8))]
    if n_hub_viewers:
        b.out.truth.extend(Truth(h.ref, Typology.HUB_FACILITATOR, Role.FACILITATOR) for h in hubs)
    offenders = set(b.rng.choice(senders, size=n_off, replace=False).tolist()) if n_off else set()
    it = iter(kinds)
    for i in range(senders):
        country = b.weighted(SENDER_COUNTRIES, 2)
        if i in offenders:
            typology = next(it)
            age = (17, 24) if typology is Typology.YOUNG_CRYPTO else (26, 65)
            p = b.person(country, age=age, sex="m" if b.rng.random() < 0.9 else None)
            b.out.truth.append(Truth(p.ref, typology, Role.VIEWER))
            b.offender(p, typology, hubs)
            if b.rng.random() < 0.7:  # offenders live ordinary lives too
                b.ordinary(p)
        else:
            p = b.person(country)
            b.ordinary(p)
        b.out.senders.append(p.ref)
    return b.out


# -- files (the schema of docs/context-indicators.md and the ingest)

LIST_FIELDS = {"recipients", "participants", "countries", "handles", "devices"}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, tuple):
        return ";".join("" if v is None else str(v) for v in value)
    return str(value)


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _write_csv(path: Path, records: Sequence[Any], kind: type) -> None:
    names = [f.name for f in fields(kind) if f.name != "details"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(names)
        for r in records:
            w.writerow([_cell(getattr(r, n)) for n in names])


def _write_jsonl(path: Path, records: Sequence[Any]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for r in records:
            obj = {k: _json(v) for k, v in asdict(r).items() if v not in (None, (), {}, "")}
            fh.write(json.dumps(obj, ensure_ascii=False) + "\n")


def write_files(pop: SyntheticPopulation, out: Path) -> dict[str, int]:
    """Writes ``payments.csv``, ``messages.jsonl``, ``sessions.jsonl``, ``accounts.csv`` and
    ``truth.csv`` into ``out`` (created); returns rows written per file."""
    out.mkdir(parents=True, exist_ok=True)
    p = pop.population()
    _write_csv(out / "payments.csv", list(p.payments), Payment)
    _write_jsonl(out / "messages.jsonl", list(p.messages))
    _write_jsonl(out / "sessions.jsonl", list(p.sessions))
    _write_csv(out / "accounts.csv", pop.accounts, Account)
    with (out / "truth.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["account", "typology", "role"])
        for t in pop.truth:
            w.writerow([t.account, t.typology.value, t.role.value])
    return {
        "payments.csv": len(p.payments),
        "messages.jsonl": len(p.messages),
        "sessions.jsonl": len(p.sessions),
        "accounts.csv": len(pop.accounts),
        "truth.csv": len(pop.truth),
    }
