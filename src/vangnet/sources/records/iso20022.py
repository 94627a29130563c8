"""ISO 20022 credit transfers: ``pacs.008`` (FI to FI customer credit transfer) and
``pain.001`` (customer credit transfer initiation), any version of their namespace.

One `Payment` per ``CdtTrfTxInf``: ``ref`` is ``MsgId/EndToEndId`` (or ``TxId``, or
``InstrId``, when the end-to-end id is missing or ``NOTPROVIDED``), ``at`` the interbank
settlement date (pacs.008) or requested execution date (pain.001) at the time of day of the
message's ``CreDtTm`` (a pacs.008 ``AccptncDtTm`` wins when present), the amount and
currency of ``IntrBkSttlmAmt`` / ``InstdAmt``; sender and beneficiary the debtor's and
creditor's account (IBAN or other id), else their names; countries from the postal address,
else the IBAN's prefix, else characters 5-6 of the agent's BIC; ``narrative`` the
unstructured remittance information; channel ``wire``.

The XML is read with lxml's ``iterparse``, element by element, each transaction dropped once
read: the file is never held whole. The parser resolves no entities, loads no DTD and opens
no network connection; a document with a DTD (the vehicle of entity-expansion bombs) is
refused outright, as ISO 20022 messages never carry one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, BinaryIO, ClassVar

from lxml import etree

from vangnet.sources.records import fields
from vangnet.sources.records.base import (
    Parsed,
    ParseOptions,
    RecordFormat,
    Row,
    RowError,
    check_kind,
)
from vangnet.sources.records.model import Channel, Payment, RecordKind

_NS = "urn:iso:std:iso:20022:tech:xsd:"
_IBAN = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{8,30}")
_BIC = re.compile(r"[A-Z]{4}([A-Z]{2})[A-Z0-9]{2}([A-Z0-9]{3})?")
_MISSING = {"", "NOTPROVIDED"}


class _UndeclaredPrefix(ValueError):
    """An element or attribute name with a prefix no ``xmlns:`` declares (lxml passes it on;
    its `etree.QName` refuses it)."""


def _local(tag: Any) -> str:
    if not isinstance(tag, str):
        return ""
    try:
        return str(etree.QName(tag).localname)
    except ValueError:
        raise _UndeclaredPrefix(f"undeclared namespace prefix in <{tag[:80]}>") from None


def _text(elem: Any, path: str) -> str | None:
    """The stripped text at ``path`` (local names separated by ``/``), any namespace."""
    found = elem.find("/".join(f"{{*}}{p}" for p in path.split("/")))
    if found is None or found.text is None:
        return None
    value = str(found.text).strip()
    return value or None


def iban_country(account: str | None) -> str | None:
    """The country of an IBAN (its first two letters), or None for other account ids."""
    if account and _IBAN.fullmatch(account.replace(" ", "").upper()):
        return account[:2].upper()
    return None


def bic_country(bic: str | None) -> str | None:
    """Characters 5-6 of a BIC (ISO 9362): the country of the institution."""
    if bic:
        m = _BIC.fullmatch(bic.strip().upper())
        if m:
            return m.group(1)
    return None


@dataclass
class _Party:
    """A debtor or creditor: its account id, name, country and agent's BIC."""

    account: str | None = None
    name: str | None = None
    country: str | None = None
    bic: str | None = None

    def ref(self) -> str | None:
        return self.account or self.name

    def where(self) -> str | None:
        return self.country or iban_country(self.account) or bic_country(self.bic)


def _party(scope: Any, role: str) -> _Party:
    """``Dbtr``/``Cdtr`` with their ``...Acct`` and ``...Agt`` under ``scope``."""
    account = _text(scope, f"{role}Acct/Id/IBAN") or _text(scope, f"{role}Acct/Id/Othr/Id")
    bic = _text(scope, f"{role}Agt/FinInstnId/BICFI") or _text(scope, f"{role}Agt/FinInstnId/BIC")
    return _Party(
        account=account.replace(" ", "") if account else None,
        name=_text(scope, f"{role}/Nm"),
        country=_text(scope, f"{role}/PstlAdr/Ctry"),
        bic=bic,
    )


def _drop(elem: Any) -> None:
    """Free a read element and the siblings before it: memory stays bounded."""
    elem.clear()
    parent = elem.getparent()
    while parent is not None and elem.getprevious() is not None:
        del parent[0]


def _merge(first: _Party, then: _Party) -> _Party:
    return _Party(
        account=first.account or then.account,
        name=first.name or then.name,
        country=first.country or then.country,
        bic=first.bic or then.bic,
    )


@dataclass
class _Header:
    """What a transaction inherits: the group header's and (pain.001) payment info's."""

    msg_id: str | None = None
    created: str | None = None
    settled: str | None = None  # pacs.008 IntrBkSttlmDt in the group header
    pmt_inf_id: str | None = None
    execution: str | None = None  # pain.001 ReqdExctnDt (a date or a date-time)
    debtor: _Party = field(default_factory=_Party)


class _Iso20022(RecordFormat):
    """The shared reader of both messages; subclasses name the message and its parts."""

    kinds: ClassVar[frozenset[RecordKind]] = frozenset({RecordKind.PAYMENTS})
    message: ClassVar[str]  # "pacs.008.001" / "pain.001.001"
    amount_path: ClassVar[str]

    @classmethod
    def recognises(cls, head: bytes, kind: RecordKind) -> bool:
        return f"{_NS}{cls.message}.".encode() in head

    def parse(
        self, stream: BinaryIO, *, kind: RecordKind, options: ParseOptions
    ) -> Iterator[Parsed]:
        check_kind(self, kind)
        parser = etree.iterparse(
            stream,
            events=("start", "end"),
            resolve_entities=False,
            load_dtd=False,
            no_network=True,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        header = _Header()
        found_document = False
        position = 0
        try:
            for event, elem in parser:
                if event == "start":
                    if not found_document:
                        problem = self._check_start(elem)
                        if problem:
                            yield RowError(elem.sourceline or 1, problem)
                            return
                        found_document = _local(elem.tag) == "Document"
                        if found_document:
                            continue
                    if _local(elem.tag) == "PmtInf":
                        header.pmt_inf_id, header.execution = None, None
                        header.debtor = _Party()
                    continue
                name = _local(elem.tag)
                if name == "GrpHdr":
                    header.msg_id = _text(elem, "MsgId")
                    header.created = _text(elem, "CreDtTm")
                    header.settled = _text(elem, "IntrBkSttlmDt")
                    elem.clear()
                elif name == "PmtInfId":
                    header.pmt_inf_id = (elem.text or "").strip() or None
                elif name == "ReqdExctnDt":
                    header.execution = (
                        _text(elem, "Dt")
                        or _text(elem, "DtTm")
                        or ((elem.text or "").strip() or None)
                    )
                elif name == "DbtrAgt" and _local(elem.getparent().tag) == "PmtInf":
                    header.debtor.bic = _text(elem, "FinInstnId/BICFI") or _text(
                        elem, "FinInstnId/BIC"
                    )
                elif name in ("Dbtr", "DbtrAcct") and _local(elem.getparent().tag) == "PmtInf":
                    holder = elem.getparent()
                    header.debtor = _merge(_party(holder, "Dbtr"), header.debtor)
                elif name == "PmtInf":  # its transactions are read: drop what is left
                    _drop(elem)
                elif name == "CdtTrfTxInf":
                    position += 1
                    line = elem.sourceline or position
                    try:
                        yield Row(line, self._payment(elem, header, position, options))
                    except fields.FieldError as error:
                        yield RowError(line, f"transaction {position}: {error.reason}")
                    _drop(elem)
        except _UndeclaredPrefix as error:
            yield RowError(elem.sourceline or 1, f"malformed XML: {error}")
            return
        except etree.XMLSyntaxError as error:
            line = error.lineno or 1
            reason = str(error.msg or error)
            if "entity" in reason.lower():
                reason = f"entities are not allowed in {self.name} ({reason})"
            yield RowError(line, f"malformed XML: {reason}")
            return
        if not found_document:
            yield RowError(1, f"no ISO 20022 {self.message} Document element")
            return
        docinfo = parser.root.getroottree().docinfo if parser.root is not None else None
        if docinfo is not None and (docinfo.internalDTD or docinfo.externalDTD):
            yield RowError(1, "a DTD is not allowed in an ISO 20022 message")

    def _check_start(self, elem: Any) -> str | None:
        """Refuse a DTD and a document of another message, at the first elements."""
        tree = elem.getroottree()
        if tree.docinfo.doctype:
            return "a DTD is not allowed in an ISO 20022 message (refused: entity expansion)"
        if _local(elem.tag) != "Document":
            return None
        namespace = etree.QName(elem.tag).namespace or ""
        if not namespace.startswith(_NS):
            return f"not an ISO 20022 document (namespace {namespace or 'none'!r})"
        found = namespace.removeprefix(_NS)
        if not re.fullmatch(re.escape(self.message) + r"\.\d{2}", found):
            return f"this is a {found} document, not {self.message}.xx ({self.name})"
        return None

    def _payment(self, tx: Any, header: _Header, position: int, options: ParseOptions) -> Payment:
        amount_elem = tx.find("/".join(f"{{*}}{p}" for p in self.amount_path.split("/")))
        if amount_elem is None:
            raise fields.FieldError(f"no {self.amount_path}")
        own = _text(tx, "PmtId/EndToEndId")
        if own in _MISSING:
            own = _text(tx, "PmtId/TxId") or _text(tx, "PmtId/InstrId")
        if own in _MISSING or own is None:
            own = f"{header.pmt_inf_id or 'tx'}-{position}"
        ref = f"{header.msg_id}/{own}" if header.msg_id else own
        debtor = _merge(_party(tx, "Dbtr"), header.debtor)
        creditor = _party(tx, "Cdtr")
        sender, beneficiary = debtor.ref(), creditor.ref()
        if sender is None:
            raise fields.FieldError("no debtor account or name")
        if beneficiary is None:
            raise fields.FieldError("no creditor account or name")
        narrative = " ".join(
            str(u.text).strip() for u in tx.iterfind("{*}RmtInf/{*}Ustrd") if u.text
        )
        details: dict[str, Any] = {"format": self.name}
        for key, value in (
            ("msg_id", header.msg_id),
            ("end_to_end_id", _text(tx, "PmtId/EndToEndId")),
            ("uetr", _text(tx, "PmtId/UETR")),
            ("debtor_name", debtor.name),
            ("creditor_name", creditor.name),
            ("debtor_bic", debtor.bic),
            ("creditor_bic", creditor.bic),
            ("purpose", _text(tx, "Purp/Cd")),
        ):
            if value:
                details[key] = value
        return Payment(
            ref=fields.needed("ref", ref),
            at=self._at(tx, header, options),
            sender=fields.needed("sender", sender),
            beneficiary=fields.needed("beneficiary", beneficiary),
            amount=fields.amount("amount", (amount_elem.text or "").strip()),
            currency=fields.currency("currency", amount_elem.get("Ccy")),
            channel=Channel.WIRE,
            sender_country=fields.country("sender_country", debtor.where()),
            beneficiary_country=fields.country("beneficiary_country", creditor.where()),
            narrative=fields.text("narrative", narrative, limit=fields.MAX_TEXT) or "",
            details=details,
        )

    def _at(self, tx: Any, header: _Header, options: ParseOptions) -> datetime:
        accepted = _text(tx, "AccptncDtTm")
        if accepted:
            return fields.moment("AccptncDtTm", accepted, zone=options.timezone)
        day_text = _text(tx, "IntrBkSttlmDt") or header.settled or header.execution
        if day_text and "T" in day_text:  # a pain.001 ReqdExctnDt/DtTm
            return fields.moment("ReqdExctnDt", day_text, zone=options.timezone)
        if not header.created:
            raise fields.FieldError("no GrpHdr/CreDtTm")
        created = fields.moment("CreDtTm", header.created, zone=options.timezone)
        if not day_text:
            return created
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            raise fields.FieldError(f"not an ISO date: {day_text!r}") from None
        raw = datetime.fromisoformat(header.created)
        local: time = raw.timetz() if raw.tzinfo else raw.time().replace(tzinfo=options.timezone)
        return fields.moment("at", datetime.combine(day, local), zone=options.timezone)


class Pacs008Format(_Iso20022):
    """ISO 20022 pacs.008 FI-to-FI customer credit transfers."""

    name: ClassVar[str] = "pacs008"
    description: ClassVar[str] = "ISO 20022 pacs.008.001.xx FI-to-FI customer credit transfer XML"
    message: ClassVar[str] = "pacs.008.001"
    amount_path: ClassVar[str] = "IntrBkSttlmAmt"


class Pain001Format(_Iso20022):
    """ISO 20022 pain.001 customer credit transfer initiations."""

    name: ClassVar[str] = "pain001"
    description: ClassVar[str] = "ISO 20022 pain.001.001.xx customer credit transfer initiation XML"
    message: ClassVar[str] = "pain.001.001"
    amount_path: ClassVar[str] = "Amt/InstdAmt"
